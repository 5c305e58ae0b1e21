//! History: every delivery attempt, kept for `history_retention`.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One delivery attempt, kept for `history_retention`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
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
            at: now,
            group_key: n.group_key.clone(),
            receiver: integ.receiver.clone(),
            integration: integ.name(),
            status: n.status.clone(),
            alerts: n.alerts.iter().map(|a| a.fingerprint.clone()).collect(),
            alert_labels: n.alerts.iter().map(|a| a.labels.clone()).collect(),
            attempt,
            result: result.into(),
            error,
        };
        let id = st.queue.take_id();
        let mut key = now.to_be_bytes().to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        batch.put(NS_HISTORY, key, json(&h));
    }

    /// Delivery history, oldest first, optionally only for one receiver.
    pub fn history(&self, receiver: Option<&str>) -> Result<Vec<HistoryEntry>, NotifierError> {
        let mut out = Vec::new();
        for (_, v) in self.kv.scan_prefix(NS_HISTORY, b"")? {
            let h: HistoryEntry = decode("history entry", &v)?;
            if receiver.is_none_or(|r| r == h.receiver) {
                out.push(h);
            }
        }
        Ok(out)
    }
}
