//! Alerts as the evaluator produces them and the notifier routes them (Alertmanager's model).

use crate::clock::Timestamp;
use crate::labels::{Fingerprint, Labels};

/// The state of an alerting rule's alert (Prometheus semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// Not active (or resolved).
    Inactive,
    /// Active, waiting for its `for:` duration.
    Pending,
    /// Active for at least `for:`.
    Firing,
}

/// An alert: identified by its labels, described by its annotations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// Identifying labels (include `alertname`).
    pub labels: Labels,
    /// Descriptive annotations (summary, description, runbook_url...).
    #[serde(default)]
    pub annotations: Labels,
    /// When the alert started firing (ms).
    pub starts_at: Timestamp,
    /// When the alert resolves or resolved (ms); `None` means "until told otherwise".
    #[serde(default)]
    pub ends_at: Option<Timestamp>,
    /// Link back to the source of the alert.
    #[serde(default)]
    pub generator_url: String,
}

impl Alert {
    /// The alert's fingerprint (that of its labels).
    pub fn fingerprint(&self) -> Fingerprint {
        self.labels.fingerprint()
    }
    /// The `alertname` label, or `""`.
    pub fn name(&self) -> &str {
        self.labels.get_or_empty("alertname")
    }
    /// Whether the alert is resolved at `now`.
    pub fn is_resolved_at(&self, now: Timestamp) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_ends_at() {
        let mut a = Alert {
            labels: Labels::from_pairs([("alertname", "X")]),
            annotations: Labels::empty(),
            starts_at: 0,
            ends_at: None,
            generator_url: String::new(),
        };
        assert_eq!(a.name(), "X");
        assert!(!a.is_resolved_at(10));
        a.ends_at = Some(10);
        assert!(a.is_resolved_at(10));
        assert!(!a.is_resolved_at(9));
    }
}
