//! Silences: a set of matchers muting matching alerts between `starts_at` and `ends_at`.

use crate::clock::Timestamp;
use crate::labels::Labels;
use crate::matcher::Matchers;

/// Where a silence is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SilenceState {
    /// Starts in the future.
    Pending,
    /// Muting now.
    Active,
    /// Ended.
    Expired,
}

/// A silence (Alertmanager's model).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Silence {
    /// Unique id (a UUID string).
    pub id: String,
    /// All must match for an alert to be silenced.
    pub matchers: Matchers,
    /// Start (ms).
    pub starts_at: Timestamp,
    /// End (ms).
    pub ends_at: Timestamp,
    /// Last change (ms).
    pub updated_at: Timestamp,
    /// Who created it.
    pub created_by: String,
    /// Why.
    pub comment: String,
}

impl Silence {
    /// The state at `now`.
    pub fn state_at(&self, now: Timestamp) -> SilenceState {
        if now < self.starts_at {
            SilenceState::Pending
        } else if now < self.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }
    /// Whether the silence mutes `labels` at `now`.
    pub fn mutes(&self, labels: &Labels, now: Timestamp) -> bool {
        self.state_at(now) == SilenceState::Active && self.matchers.matches(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_muting() {
        let s = Silence {
            id: "x".into(),
            matchers: r#"alertname="Disk""#.parse().unwrap(),
            starts_at: 100,
            ends_at: 200,
            updated_at: 100,
            created_by: "me".into(),
            comment: "maint".into(),
        };
        let l = Labels::from_pairs([("alertname", "Disk")]);
        assert_eq!(s.state_at(99), SilenceState::Pending);
        assert!(!s.mutes(&l, 99));
        assert_eq!(s.state_at(100), SilenceState::Active);
        assert!(s.mutes(&l, 150));
        assert!(!s.mutes(&Labels::from_pairs([("alertname", "Cpu")]), 150));
        assert_eq!(s.state_at(200), SilenceState::Expired);
        let json = serde_json::to_string(&s).unwrap();
        let back: Silence = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
