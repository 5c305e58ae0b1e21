//! Queue: the persisted outbound queue (one waiting message per group and integration; a newer one
//! takes the older one's place and backoff).

#[allow(clippy::wildcard_imports)]
use super::*;

/// A notification waiting in the persisted outbound queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedNotification {
    /// Queue id (increasing).
    pub id: u64,
    /// Internal group id.
    pub group_id: String,
    /// Receiver name.
    pub receiver: String,
    /// Integration index within the receiver.
    pub integration: usize,
    /// The message.
    pub notification: Notification,
    /// When it was queued (ms).
    pub created_at: Timestamp,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// Earliest next attempt (ms).
    pub next_attempt_at: Timestamp,
    /// Last error.
    pub last_error: Option<String>,
    /// Whether a copy went to the receiver's fallback.
    #[serde(default)]
    pub fell_back: bool,
}

impl QueuedNotification {
    pub(super) fn slot(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            self.group_id, self.receiver, self.integration
        )
    }
}

/// The queue stage's state: the waiting messages, which of them is the one waiting for each
/// slot (group and integration), which are being sent, and the id sequence. Entries live in the
/// store's `notifier.queue` area (keyed by big-endian id) from the moment they are queued until
/// they are delivered or given up, so a restart resends at most what was in flight.
#[derive(Debug)]
pub(super) struct Queue {
    entries: BTreeMap<u64, Arc<QueuedNotification>>,
    /// Slot -> id of the queued (not in flight) notification for it.
    slots: HashMap<String, u64>,
    in_flight: BTreeSet<u64>,
    /// Next id: queue ids, and the tie-breakers of the history's and ack log's keys (one
    /// sequence, restarted above the highest queued id).
    next_id: u64,
}

impl Queue {
    /// The queue as stored.
    pub(super) fn load(kv: &dyn KvStore) -> Result<Self, NotifierError> {
        let mut q = Queue {
            entries: BTreeMap::new(),
            slots: HashMap::new(),
            in_flight: BTreeSet::new(),
            next_id: 1,
        };
        for (_, v) in kv.scan_prefix(NS_QUEUE, b"")? {
            let n: QueuedNotification = decode("queued notification", &v)?;
            q.next_id = q.next_id.max(n.id + 1);
            q.slots.insert(n.slot(), n.id);
            q.entries.insert(n.id, Arc::new(n));
        }
        Ok(q)
    }

    /// A fresh id from the sequence (for keys of logs that need one unique per millisecond).
    pub(super) fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Queues a message for `gid`'s integration `integration` of `receiver`. A newer message for
    /// the same group and integration replaces one still waiting: it carries the group's whole
    /// current state (and keeps the older one's backoff).
    pub(super) fn enqueue(
        &mut self,
        gid: &str,
        receiver: &str,
        integration: usize,
        n: Notification,
        now: Timestamp,
        batch: &mut KvBatch,
    ) -> Arc<QueuedNotification> {
        let id = self.take_id();
        let mut q = QueuedNotification {
            id,
            group_id: gid.to_string(),
            receiver: receiver.to_string(),
            integration,
            notification: n,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            fell_back: false,
        };
        if let Some(old_id) = self.slots.get(&q.slot()).copied() {
            if let Some(old) = self.entries.remove(&old_id) {
                q.attempts = old.attempts;
                q.next_attempt_at = old.next_attempt_at.max(now);
                q.last_error = old.last_error.clone();
                q.fell_back = old.fell_back;
                batch.delete(NS_QUEUE, old_id.to_be_bytes().to_vec());
            }
        }
        batch.put(NS_QUEUE, id.to_be_bytes().to_vec(), json(&q));
        self.slots.insert(q.slot(), id);
        let q = Arc::new(q);
        self.entries.insert(id, q.clone());
        q
    }

    /// Number of messages held (including those being sent).
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The messages held, oldest first.
    pub(super) fn list(&self) -> Vec<QueuedNotification> {
        self.entries.values().map(|q| (**q).clone()).collect()
    }

    /// The earliest next attempt of a message not being sent.
    pub(super) fn next_attempt(&self) -> Option<Timestamp> {
        self.entries
            .values()
            .filter(|q| !self.in_flight.contains(&q.id))
            .map(|q| q.next_attempt_at)
            .min()
    }

    /// Ids of the messages due at `now` and not being sent, by receiver and integration index.
    pub(super) fn due(&self, now: Timestamp) -> BTreeMap<(String, usize), Vec<u64>> {
        let mut due: BTreeMap<(String, usize), Vec<u64>> = BTreeMap::new();
        for q in self.entries.values() {
            if q.next_attempt_at <= now && !self.in_flight.contains(&q.id) {
                due.entry((q.receiver.clone(), q.integration))
                    .or_default()
                    .push(q.id);
            }
        }
        due
    }

    /// Drops a waiting message (its receiver is gone from the config).
    pub(super) fn discard(&mut self, id: u64, batch: &mut KvBatch) {
        if let Some(q) = self.entries.remove(&id) {
            self.slots.remove(&q.slot());
        }
        batch.delete(NS_QUEUE, id.to_be_bytes().to_vec());
    }

    /// Holds a waiting message back until `at` (a rate limit; in memory only, as a restart
    /// checks the limit afresh).
    pub(super) fn postpone(&mut self, id: u64, at: Timestamp) {
        if let Some(q) = self.entries.get_mut(&id).map(Arc::make_mut) {
            q.next_attempt_at = at;
        }
    }

    /// Marks messages as being sent and returns them; their slots are free for newer messages
    /// meanwhile.
    pub(super) fn start_sending(&mut self, ids: &[u64]) -> Vec<Arc<QueuedNotification>> {
        let jobs: Vec<Arc<QueuedNotification>> = ids
            .iter()
            .filter_map(|id| self.entries.get(id).cloned())
            .collect();
        for q in &jobs {
            self.in_flight.insert(q.id);
            if self.slots.get(&q.slot()) == Some(&q.id) {
                self.slots.remove(&q.slot());
            }
        }
        jobs
    }

    /// A send attempt of `id` is over (its outcome is applied with [`Queue::remove`] or
    /// [`Queue::retry`]).
    pub(super) fn sent(&mut self, id: u64) {
        self.in_flight.remove(&id);
    }

    /// Whether a newer message waits in `slot`.
    pub(super) fn slot_taken(&self, slot: &str) -> bool {
        self.slots.contains_key(slot)
    }

    /// Puts a message that failed back, to be retried as its `next_attempt_at` says.
    pub(super) fn retry(&mut self, q: QueuedNotification, batch: &mut KvBatch) {
        batch.put(NS_QUEUE, q.id.to_be_bytes().to_vec(), json(&q));
        self.slots.insert(q.slot(), q.id);
        self.entries.insert(q.id, Arc::new(q));
    }

    /// Removes a message for good (delivered, refused, or replaced by a newer one).
    pub(super) fn remove(&mut self, id: u64, batch: &mut KvBatch) {
        self.entries.remove(&id);
        batch.delete(NS_QUEUE, id.to_be_bytes().to_vec());
    }
}

impl Notifier {
    /// How many notifications wait in the outbound queue (including those being sent).
    pub fn queue_len(&self) -> usize {
        self.lock().queue.len()
    }

    /// The outbound queue, oldest first.
    pub fn queued(&self) -> Vec<QueuedNotification> {
        self.lock().queue.list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::storage::MemStorage;

    fn note(receiver: &str, alertname: &str) -> Notification {
        let a = Alert {
            labels: Labels::from_pairs([("alertname", alertname)]),
            annotations: Labels::empty(),
            starts_at: 1_000,
            ends_at: None,
            generator_url: String::new(),
        };
        Notification::new(
            receiver,
            "{}:{}",
            Labels::empty(),
            vec![NotifiedAlert::from_alert(&a, 1_000)],
            "",
        )
    }

    fn empty() -> Queue {
        Queue::load(&MemStorage::new()).expect("load an empty queue")
    }

    #[test]
    fn a_newer_message_takes_the_waiting_ones_place_and_backoff() {
        let mut q = empty();
        let mut batch = KvBatch::new();
        let first = q.enqueue("g", "team", 0, note("team", "A"), 1_000, &mut batch);
        let mut failed = (*first).clone();
        failed.attempts = 3;
        failed.next_attempt_at = 9_000;
        failed.last_error = Some("503".into());
        q.retry(failed, &mut batch);

        let newer = q.enqueue("g", "team", 0, note("team", "B"), 2_000, &mut batch);
        assert_eq!(q.len(), 1);
        assert_ne!(newer.id, first.id);
        assert_eq!(newer.attempts, 3);
        assert_eq!(newer.next_attempt_at, 9_000);
        assert_eq!(newer.last_error.as_deref(), Some("503"));
        assert_eq!(
            q.list()[0].notification.alerts[0]
                .labels
                .get_or_empty("alertname"),
            "B"
        );
        // Another integration of the receiver has a slot of its own.
        q.enqueue("g", "team", 1, note("team", "C"), 2_000, &mut batch);
        assert_eq!(q.len(), 2);
    }

    #[test]
    fn a_message_being_sent_frees_its_slot_and_is_not_due_again() {
        let mut q = empty();
        let mut batch = KvBatch::new();
        let sending = q.enqueue("g", "team", 0, note("team", "A"), 1_000, &mut batch);
        let due = q.due(1_000);
        assert_eq!(due.get(&("team".to_string(), 0)), Some(&vec![sending.id]));
        let jobs = q.start_sending(&[sending.id]);
        assert_eq!(jobs.len(), 1);
        assert!(q.due(5_000).is_empty());
        assert_eq!(q.next_attempt(), None);
        assert!(!q.slot_taken(&sending.slot()));

        // A newer message for the group waits beside the one in flight, which then goes.
        let newer = q.enqueue("g", "team", 0, note("team", "B"), 2_000, &mut batch);
        assert_eq!(q.len(), 2);
        assert!(q.slot_taken(&sending.slot()));
        assert_eq!(q.next_attempt(), Some(2_000));
        q.sent(sending.id);
        q.remove(sending.id, &mut batch);
        assert_eq!(
            q.list().iter().map(|n| n.id).collect::<Vec<_>>(),
            vec![newer.id]
        );
    }

    #[test]
    fn a_restart_restores_the_queue_and_its_slots_and_ids_continue_above_it() {
        let kv = MemStorage::new();
        let mut q = empty();
        let mut batch = KvBatch::new();
        let a = q.enqueue("g1", "team", 0, note("team", "A"), 1_000, &mut batch);
        let b = q.enqueue("g2", "ops", 0, note("ops", "B"), 1_000, &mut batch);
        let c = q.enqueue("g3", "ops", 0, note("ops", "C"), 1_000, &mut batch);
        q.remove(c.id, &mut batch);
        kv.write(batch).expect("write");

        let mut again = Queue::load(&kv).expect("load");
        assert_eq!(again.list(), vec![(*a).clone(), (*b).clone()]);
        assert!(again.slot_taken(&a.slot()) && again.slot_taken(&b.slot()));
        assert!(again.take_id() > b.id);
        let mut batch = KvBatch::new();
        let newer = again.enqueue("g1", "team", 0, note("team", "D"), 3_000, &mut batch);
        assert_eq!(again.len(), 2, "the restored slot is replaced, not doubled");
        assert!(newer.id > b.id);
    }
}
