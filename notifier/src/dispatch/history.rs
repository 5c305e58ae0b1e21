//! History: every delivery attempt, and when a notified alert resolved (whether or not a
//! resolved notification went out), kept for `history_retention`; the alert-fatigue report
//! reads it with the ack log.

#[allow(clippy::wildcard_imports)]
use super::*;

use crate::report::{AlertTimes, HistoryKind};

fn times_of(a: &Alert, now: Timestamp) -> AlertTimes {
    let resolved = a.is_resolved_at(now);
    AlertTimes {
        firing: !resolved,
        starts_at: a.starts_at,
        ends_at: if resolved { a.ends_at } else { None },
    }
}

fn times_of_notified(a: &NotifiedAlert) -> AlertTimes {
    let t = |s: &str| model::api::parse_time(s).ok().flatten();
    let firing = a.status == "firing";
    AlertTimes {
        firing,
        starts_at: t(&a.starts_at).unwrap_or(0),
        ends_at: if firing { None } else { t(&a.ends_at) },
    }
}

/// One delivery attempt (or a resolution, see [`HistoryKind`]), kept for `history_retention`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// What this records (a delivery in entries written before this was kept).
    #[serde(default)]
    pub kind: HistoryKind,
    /// When (ms).
    pub at: Timestamp,
    /// Group key.
    pub group_key: String,
    /// Receiver.
    pub receiver: String,
    /// Integration (`webhook[0]`).
    pub integration: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Fingerprints of the alerts sent.
    pub alerts: Vec<String>,
    /// Their labels, in the same order (empty in entries written before this was kept).
    #[serde(default)]
    pub alert_labels: Vec<Labels>,
    /// Their status and times, in the same order (empty in entries written before this was
    /// kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alert_times: Vec<AlertTimes>,
    /// Attempt number (1 for the first).
    pub attempt: u32,
    /// `success`, `retrying` or `failed`.
    pub result: String,
    /// The error, if any.
    pub error: Option<String>,
}

impl Notifier {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        st: &mut State,
        n: &Notification,
        integ: &Integration,
        attempt: u32,
        r: &Result<(), SendError>,
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        let (result, error) = match r {
            Ok(()) => ("success", None),
            Err(SendError::Retryable { message, .. }) => ("retrying", Some(message.clone())),
            Err(SendError::Permanent(m)) => ("failed", Some(m.clone())),
        };
        let h = HistoryEntry {
            kind: HistoryKind::Delivery,
            at: now,
            group_key: n.group_key.clone(),
            receiver: integ.receiver.clone(),
            integration: integ.name(),
            status: n.status.clone(),
            alerts: n.alerts.iter().map(|a| a.fingerprint.clone()).collect(),
            alert_labels: n.alerts.iter().map(|a| a.labels.clone()).collect(),
            alert_times: n.alerts.iter().map(times_of_notified).collect(),
            attempt,
            result: result.into(),
            error,
        };
        Self::put_history(st, &h, batch);
    }

    /// Records that `resolved` alerts left the group `group_key` of `receiver` (a group that
    /// had notified) at `now`.
    pub(super) fn record_resolved(
        st: &mut State,
        group_key: &str,
        receiver: &str,
        resolved: &[&Alert],
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        if resolved.is_empty() {
            return;
        }
        let h = HistoryEntry {
            kind: HistoryKind::Resolved,
            at: now,
            group_key: group_key.to_string(),
            receiver: receiver.to_string(),
            integration: String::new(),
            status: "resolved".into(),
            alerts: resolved
                .iter()
                .map(|a| a.fingerprint().to_string())
                .collect(),
            alert_labels: resolved.iter().map(|a| a.labels.clone()).collect(),
            alert_times: resolved.iter().map(|a| times_of(a, now)).collect(),
            attempt: 0,
            result: "recorded".into(),
            error: None,
        };
        Self::put_history(st, &h, batch);
    }

    fn put_history(st: &mut State, h: &HistoryEntry, batch: &mut KvBatch) {
        let id = st.queue.take_id();
        let mut key = h.at.to_be_bytes().to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        batch.put(NS_HISTORY, key, json(h));
    }

    /// Delivery history, oldest first, optionally only for one receiver.
    pub fn history(&self, receiver: Option<&str>) -> Result<Vec<HistoryEntry>, NotifierError> {
        let mut out = Vec::new();
        for h in self.history_records(0)? {
            if h.kind == HistoryKind::Delivery && receiver.is_none_or(|r| r == h.receiver) {
                out.push(h);
            }
        }
        Ok(out)
    }

    /// Every history record (deliveries and resolutions) from `since` (ms) on, oldest first.
    pub fn history_records(&self, since: Timestamp) -> Result<Vec<HistoryEntry>, NotifierError> {
        let mut out = Vec::new();
        for (k, v) in self.kv.scan_prefix(NS_HISTORY, b"")? {
            let at = k
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(i64::MAX, i64::from_be_bytes);
            if at < since {
                continue;
            }
            out.push(decode("history entry", &v)?);
        }
        Ok(out)
    }

    /// How long history and the ack log are kept.
    pub fn history_retention(&self) -> Duration {
        self.opts.history_retention
    }

    /// The alert-fatigue report over the history and the ack log (see [`crate::report`]).
    pub fn fatigue_report(
        &self,
        params: &crate::report::ReportParams,
    ) -> Result<model::api::FatigueReport, NotifierError> {
        let retention = self.opts.history_retention;
        let from = crate::report::covered_from(params, retention);
        let history = self.history_records(from)?;
        let acks = self.ack_log()?;
        Ok(crate::report::compute(&history, &acks, params, retention))
    }
}
