//! The `disk` probe (not built yet).

use model::Labels;

use super::{Failure, FailureKind, Outcome};
use crate::config::DiskProbeConfig;

/// A prepared `disk` probe.
pub(crate) struct DiskProbe {
    pub base: Labels,
}

impl DiskProbe {
    pub(crate) fn new(base: Labels, _cfg: &DiskProbeConfig) -> Self {
        DiskProbe { base }
    }
    pub(crate) async fn run(&self) -> Outcome {
        Outcome {
            series: Vec::new(),
            failure: Some(Failure::new(
                FailureKind::Local,
                "disk probe not implemented",
            )),
        }
    }
}
