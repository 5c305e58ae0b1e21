//! The `postgres` and `mysql` probes (not built yet).

use model::Labels;

use super::{Failure, FailureKind, Outcome};
use crate::config::DbProbeConfig;

/// A prepared `postgres` probe.
pub(crate) struct PgProbe {
    pub base: Labels,
}
/// A prepared `mysql` probe.
pub(crate) struct MysqlProbe {
    pub base: Labels,
}

impl PgProbe {
    pub(crate) fn new(base: Labels, _cfg: &DbProbeConfig) -> Self {
        PgProbe { base }
    }
    pub(crate) async fn run(&self) -> Outcome {
        Outcome {
            series: Vec::new(),
            failure: Some(Failure::new(
                FailureKind::Local,
                "postgres probe not implemented",
            )),
        }
    }
}
impl MysqlProbe {
    pub(crate) fn new(base: Labels, _cfg: &DbProbeConfig) -> Self {
        MysqlProbe { base }
    }
    pub(crate) async fn run(&self) -> Outcome {
        Outcome {
            series: Vec::new(),
            failure: Some(Failure::new(
                FailureKind::Local,
                "mysql probe not implemented",
            )),
        }
    }
}
