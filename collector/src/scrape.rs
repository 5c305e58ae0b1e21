//! Prometheus scrapes (not built yet).

use model::Labels;

use crate::probe::{Failure, Outcome};

/// One scrape target.
pub(crate) struct ScrapeTarget {
    pub base: Labels,
}

impl ScrapeTarget {
    pub(crate) fn new(
        _cfg: &crate::config::ScrapeConfig,
        _target: &str,
        _labels: &std::collections::BTreeMap<String, String>,
        _clock: std::sync::Arc<dyn model::Clock>,
    ) -> Result<Self, String> {
        Err("scrapes are not implemented yet".to_string())
    }
    pub(crate) async fn run(&self, _deadline: tokio::time::Instant) -> Outcome {
        Outcome::default()
    }
    pub(crate) fn failed(&self, _elapsed: f64, failure: Failure) -> Outcome {
        Outcome {
            series: Vec::new(),
            failure: Some(failure),
        }
    }
}
