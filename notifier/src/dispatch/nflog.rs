//! Dedup: the notification log (what each receiver integration last got about a group) and
//! Alertmanager's rule for when a group needs a notification.

#[allow(clippy::wildcard_imports)]
use super::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NflogEntry {
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    at: Timestamp,
}

/// The notification log: for each group, receiver and integration, what was last sent (kept in
/// the store's `notifier.nflog` area).
#[derive(Debug, Default)]
pub(super) struct NotificationLog {
    entries: HashMap<String, NflogEntry>,
}

impl NotificationLog {
    /// The log as stored.
    pub(super) fn load(kv: &dyn KvStore) -> Result<Self, NotifierError> {
        let mut entries = HashMap::new();
        for (k, v) in kv.scan_prefix(NS_NFLOG, b"")? {
            entries.insert(
                String::from_utf8_lossy(&k).into_owned(),
                decode("nflog entry", &v)?,
            );
        }
        Ok(NotificationLog { entries })
    }

    /// Whether the receiver integration logged under `key` ([`nflog_key`]) needs a notification
    /// now ([`needs_update`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn needs_update(
        &self,
        key: &str,
        firing: &BTreeSet<u64>,
        resolved: &BTreeSet<u64>,
        send_resolved: bool,
        repeat: Duration,
        acked: bool,
        now: Timestamp,
    ) -> bool {
        needs_update(
            self.entries.get(key),
            firing,
            resolved,
            send_resolved,
            repeat,
            acked,
            now,
        )
    }

    /// Records what was sent under `key` at `now`.
    pub(super) fn record(
        &mut self,
        key: String,
        firing: &BTreeSet<u64>,
        resolved: &BTreeSet<u64>,
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        let e = NflogEntry {
            firing: firing.clone(),
            resolved: resolved.clone(),
            at: now,
        };
        batch.put(NS_NFLOG, key.as_bytes().to_vec(), json(&e));
        self.entries.insert(key, e);
    }

    /// Forgets entries older than `keep` ms, except those of the `live` group keys (an
    /// acknowledged group sends no repeats, so its entry is not refreshed, and must not be
    /// forgotten while it fires).
    pub(super) fn gc(
        &mut self,
        live: &BTreeSet<&str>,
        keep: i64,
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        let old: Vec<String> = self
            .entries
            .iter()
            .filter(|(k, e)| {
                e.at + keep < now && !live.contains(k.split('\u{0}').next().unwrap_or(""))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            self.entries.remove(&k);
            batch.delete(NS_NFLOG, k.into_bytes());
        }
    }
}

pub(super) fn nflog_key(group_key: &str, receiver: &str, integration: &str) -> String {
    format!("{group_key}\u{0}{receiver}\u{0}{integration}")
}

/// Alertmanager's `DedupStage.needsUpdate`, plus acknowledgements: an acknowledged group gets no
/// repeats.
fn needs_update(
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
