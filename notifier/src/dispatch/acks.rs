//! Acknowledgements: acks of firing alerts (they stop repeats and escalation), cleared when the
//! alert resolves, and their log.

#[allow(clippy::wildcard_imports)]
use super::*;

/// A recorded ack, un-ack, or automatic clearing on resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckEvent {
    /// `ack`, `unack` or `cleared` (the alert resolved).
    pub action: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's labels.
    pub labels: Labels,
    /// Who (empty for `cleared`).
    pub author: String,
    /// Comment.
    pub comment: String,
    /// When (ms).
    pub at: Timestamp,
}

/// What to acknowledge.
#[derive(Debug, Clone)]
pub enum AckTarget {
    /// Alerts by fingerprint.
    Fingerprints(Vec<Fingerprint>),
    /// Every firing alert matching all these matchers.
    Matchers(Matchers),
    /// Every firing alert of the group with this group key.
    Group(String),
}

/// The acknowledgements in force, by alert (kept in the store's `notifier.acks` area).
#[derive(Debug, Default)]
pub(super) struct Acks {
    by_alert: HashMap<Fingerprint, Ack>,
}

impl Acks {
    /// The acks as stored.
    pub(super) fn load(kv: &dyn KvStore) -> Result<Self, NotifierError> {
        let mut by_alert = HashMap::new();
        for (_, v) in kv.scan_prefix(NS_ACKS, b"")? {
            let a: Ack = decode("ack", &v)?;
            if let Ok(fp) = a.fingerprint.parse() {
                by_alert.insert(fp, a);
            }
        }
        Ok(Acks { by_alert })
    }

    /// Whether the alert `fp` is acknowledged.
    pub(super) fn contains(&self, fp: &Fingerprint) -> bool {
        self.by_alert.contains_key(fp)
    }

    /// The ack of the alert `fp`.
    pub(super) fn get(&self, fp: &Fingerprint) -> Option<&Ack> {
        self.by_alert.get(fp)
    }

    /// The acknowledged alerts.
    pub(super) fn alerts(&self) -> impl Iterator<Item = &Fingerprint> {
        self.by_alert.keys()
    }

    /// Every ack, by fingerprint.
    pub(super) fn list(&self) -> Vec<Ack> {
        let mut v: Vec<Ack> = self.by_alert.values().cloned().collect();
        v.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        v
    }

    fn insert(&mut self, fp: Fingerprint, a: Ack, batch: &mut KvBatch) {
        batch.put(NS_ACKS, fp_key(fp), json(&a));
        self.by_alert.insert(fp, a);
    }

    fn remove(&mut self, fp: Fingerprint, batch: &mut KvBatch) -> Option<Ack> {
        let a = self.by_alert.remove(&fp)?;
        batch.delete(NS_ACKS, fp_key(fp));
        Some(a)
    }
}

impl Notifier {
    pub(super) fn clear_ack(
        st: &mut State,
        fp: Fingerprint,
        labels: &Labels,
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        if let Some(ack) = st.acks.remove(fp, batch) {
            let ev = AckEvent {
                action: "cleared".into(),
                fingerprint: ack.fingerprint,
                labels: labels.clone(),
                author: String::new(),
                comment: "alert resolved".into(),
                at: now,
            };
            Self::log_ack(st, &ev, batch);
        }
    }

    pub(super) fn log_ack(st: &mut State, ev: &AckEvent, batch: &mut KvBatch) {
        let id = st.queue.take_id();
        let mut key = ev.at.to_be_bytes().to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        batch.put(NS_ACK_LOG, key, json(ev));
    }

    /// Acknowledges every firing alert selected by `target`; returns their fingerprints.
    /// The ack holds until the alert resolves, and stops repeats and escalation of its group.
    pub fn ack(
        &self,
        target: &AckTarget,
        author: &str,
        comment: &str,
    ) -> Result<Vec<Fingerprint>, NotifierError> {
        self.ack_or_unack(target, author, comment, true)
    }

    /// Removes acknowledgements selected by `target`; returns the fingerprints un-acked.
    pub fn unack(
        &self,
        target: &AckTarget,
        author: &str,
        comment: &str,
    ) -> Result<Vec<Fingerprint>, NotifierError> {
        self.ack_or_unack(target, author, comment, false)
    }

    pub(super) fn ack_or_unack(
        &self,
        target: &AckTarget,
        author: &str,
        comment: &str,
        ack: bool,
    ) -> Result<Vec<Fingerprint>, NotifierError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let selected: Vec<Fingerprint> = match target {
            AckTarget::Fingerprints(fps) => fps.clone(),
            AckTarget::Matchers(ms) => st
                .alerts
                .iter()
                .filter(|(_, sa)| ms.matches(&sa.alert.labels))
                .map(|(fp, _)| *fp)
                .collect(),
            AckTarget::Group(key) => st
                .groups
                .values()
                .filter(|g| g.key() == key)
                .flat_map(|g| g.alerts().iter().copied())
                .collect(),
        };
        let mut batch = KvBatch::new();
        let mut done = Vec::new();
        for fp in selected {
            let Some(sa) = st.alerts.get(&fp) else {
                continue;
            };
            if sa.alert.is_resolved_at(now) {
                continue;
            }
            let labels = sa.alert.labels.clone();
            if ack {
                let a = Ack {
                    fingerprint: fp.to_string(),
                    author: author.to_string(),
                    comment: comment.to_string(),
                    at: now,
                };
                st.acks.insert(fp, a, &mut batch);
            } else if st.acks.remove(fp, &mut batch).is_none() {
                continue;
            }
            let ev = AckEvent {
                action: if ack { "ack" } else { "unack" }.into(),
                fingerprint: fp.to_string(),
                labels,
                author: author.to_string(),
                comment: comment.to_string(),
                at: now,
            };
            Self::log_ack(&mut st, &ev, &mut batch);
            done.push(fp);
        }
        if done.is_empty() {
            return Err(NotifierError::NothingToAck);
        }
        done.sort();
        done.dedup();
        self.write_durable(batch)?;
        Ok(done)
    }

    /// Current acknowledgements.
    pub fn acks(&self) -> Vec<Ack> {
        self.lock().acks.list()
    }

    /// Recorded acks, un-acks and clearings, oldest first.
    pub fn ack_log(&self) -> Result<Vec<AckEvent>, NotifierError> {
        self.kv
            .scan_prefix(NS_ACK_LOG, b"")?
            .iter()
            .map(|(_, v)| decode("ack event", v))
            .collect()
    }
}
