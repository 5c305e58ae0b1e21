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

impl Notifier {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn enqueue(
        &self,
        st: &mut State,
        gid: &str,
        receiver: &str,
        integration: usize,
        n: Notification,
        now: Timestamp,
        batch: &mut KvBatch,
    ) -> Arc<QueuedNotification> {
        let id = st.next_id;
        st.next_id += 1;
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
        // A newer message for the same group and integration replaces one still waiting: it
        // carries the group's whole current state (and keeps the older one's backoff).
        if let Some(old_id) = st.queue_slots.get(&q.slot()).copied() {
            if let Some(old) = st.queue.remove(&old_id) {
                q.attempts = old.attempts;
                q.next_attempt_at = old.next_attempt_at.max(now);
                q.last_error = old.last_error.clone();
                q.fell_back = old.fell_back;
                batch.delete(NS_QUEUE, old_id.to_be_bytes().to_vec());
            }
        }
        batch.put(NS_QUEUE, id.to_be_bytes().to_vec(), json(&q));
        st.queue_slots.insert(q.slot(), id);
        let q = Arc::new(q);
        st.queue.insert(id, q.clone());
        q
    }

    /// How many notifications wait in the outbound queue (including those being sent).
    pub fn queue_len(&self) -> usize {
        self.lock().queue.len()
    }

    /// The outbound queue, oldest first.
    pub fn queued(&self) -> Vec<QueuedNotification> {
        self.lock().queue.values().map(|q| (**q).clone()).collect()
    }
}
