//! Dedup: the notification log (what each receiver integration last got about a group) and
//! Alertmanager's rule for when a group needs a notification.

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct NflogEntry {
    pub(super) firing: BTreeSet<u64>,
    pub(super) resolved: BTreeSet<u64>,
    pub(super) at: Timestamp,
}

pub(super) fn nflog_key(group_key: &str, receiver: &str, integration: &str) -> String {
    format!("{group_key}\u{0}{receiver}\u{0}{integration}")
}

/// Alertmanager's `DedupStage.needsUpdate`, plus acknowledgements: an acknowledged group gets no
/// repeats.
pub(super) fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    acked: bool,
    now: Timestamp,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    !acked && e.at < now - repeat.as_millis_i64()
}
