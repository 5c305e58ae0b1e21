//! Deliver and retry: sending what is due to the receivers (bounded concurrency, rate limits, storm
//! control), retries with backoff, fallbacks, and `AlertdReceiverFailing`.

#[allow(clippy::wildcard_imports)]
use super::*;

/// What a [`Notifier::deliver_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Delivered.
    pub delivered: usize,
    /// Failed and rescheduled.
    pub retrying: usize,
    /// Failed for good.
    pub failed: usize,
    /// Held back by a rate limit.
    pub rate_limited: usize,
    /// Queued messages sent folded into storm summaries.
    pub folded: usize,
}

/// One message to send: a queued notification, or several folded into a summary.
pub(super) struct Delivery {
    pub(super) jobs: Vec<Arc<QueuedNotification>>,
    pub(super) integ: Arc<Integration>,
    /// A storm summary; otherwise the single job's notification is sent.
    pub(super) note: Option<Notification>,
    pub(super) thread: Option<String>,
    pub(super) tk: String,
}

/// (integration type, receiver) -> (attempts, failed attempts).
pub(super) type DeliveryCounts = BTreeMap<(&'static str, String), (u64, u64)>;

/// Delivery attempts of one integration type of one receiver, for alertd's own metrics
/// (Alertmanager's `alertmanager_notifications_total` / `_failed_total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStats {
    /// `webhook`, `slack` or `email`.
    pub integration: &'static str,
    /// The receiver's name.
    pub receiver: String,
    /// Messages sent (successful or not).
    pub attempts: u64,
    /// Attempts that failed (retried or given up).
    pub failed: u64,
}

/// The deliver stage's state: which receivers are failing since when (for
/// `AlertdReceiverFailing`), and the message ids of Slack bot threads by notification-log key
/// (kept in the store's `notifier.threads` area, so replies keep their thread across restarts).
#[derive(Debug, Default)]
pub(super) struct Senders {
    /// Receiver -> when its oldest still-failing notification first failed.
    failing_since: HashMap<String, Timestamp>,
    /// Message ids (Slack bot mode) by notification-log key.
    threads: HashMap<String, String>,
}

impl Senders {
    /// The threads as stored; no receiver is failing yet.
    pub(super) fn load(kv: &dyn KvStore) -> Result<Self, NotifierError> {
        let mut s = Senders::default();
        for (k, v) in kv.scan_prefix(NS_THREADS, b"")? {
            s.threads.insert(
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            );
        }
        Ok(s)
    }

    /// The message id of the thread logged under `tk`.
    fn thread(&self, tk: &str) -> Option<String> {
        self.threads.get(tk).cloned()
    }

    /// A message logged under `tk` was delivered: the group's message id is kept while it fires
    /// (`thread`, when the integration returned one); a resolved group starts afresh.
    fn delivered(
        &mut self,
        tk: String,
        resolved: bool,
        thread: Option<String>,
        batch: &mut KvBatch,
    ) {
        if resolved {
            if self.threads.remove(&tk).is_some() {
                batch.delete(NS_THREADS, tk.as_bytes().to_vec());
            }
        } else if let Some(t) = thread {
            batch.put(NS_THREADS, tk.as_bytes().to_vec(), t.as_bytes().to_vec());
            self.threads.insert(tk, t);
        }
    }

    /// `receiver` delivered: whether it was failing until now.
    fn recovered(&mut self, receiver: &str) -> bool {
        self.failing_since.remove(receiver).is_some()
    }

    /// `receiver` failed at `now`: since when it has been failing.
    fn failing(&mut self, receiver: &str, now: Timestamp) -> Timestamp {
        *self
            .failing_since
            .entry(receiver.to_string())
            .or_insert(now)
    }
}

impl Notifier {
    /// Delivery attempts so far, by integration type and receiver (since this notifier started).
    pub fn delivery_stats(&self) -> Vec<DeliveryStats> {
        self.deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(
                |((integration, receiver), (attempts, failed))| DeliveryStats {
                    integration,
                    receiver: receiver.clone(),
                    attempts: *attempts,
                    failed: *failed,
                },
            )
            .collect()
    }

    /// Sends a test notification to every integration of `receiver` now (not queued, recorded
    /// in the history); returns each integration's result.
    pub async fn test_receiver(
        &self,
        receiver: &str,
    ) -> Result<Vec<(String, Result<(), SendError>)>, NotifierError> {
        let rt = self.routing();
        let integs = rt.integrations.get(receiver).cloned().ok_or_else(|| {
            NotifierError::Config(vec![ConfigError {
                path: "receivers".into(),
                message: format!("unknown receiver {receiver:?}"),
            }])
        })?;
        let now = self.clock.now_ms();
        let a = Alert {
            labels: Labels::from_pairs([
                ("alertname", "AlertdTestNotification"),
                ("receiver", receiver),
            ]),
            annotations: Labels::from_pairs([(
                "summary",
                "Test notification from alertd: this receiver works.",
            )]),
            starts_at: now,
            ends_at: None,
            generator_url: rt.external_url.clone(),
        };
        let key = format!("{{}}:{{alertname=\"AlertdTestNotification\", receiver={receiver:?}}}");
        let n = Notification::new(
            receiver,
            &key,
            a.labels.clone(),
            vec![NotifiedAlert::from_alert(&a, now)],
            &rt.external_url,
        );
        let mut out = Vec::new();
        let mut batch = KvBatch::new();
        for integ in integs {
            let r = integ.send(&n, None).await.map(|_| ());
            let mut st = self.lock();
            self.record(&mut st, &n, &integ, 1, &r, now, &mut batch);
            out.push((integ.name(), r));
        }
        self.write(batch)?;
        Ok(out)
    }

    /// Delivers every queued notification that is due, concurrently (bounded), honouring rate
    /// limits and `Retry-After`; failures are retried with exponential backoff. A notification
    /// leaves the queue only once delivered (or refused for good), so a crash loses nothing
    /// queued and repeats at most the messages that were in flight.
    pub async fn deliver_due(self: &Arc<Self>) -> Result<DeliveryReport, NotifierError> {
        let now = self.clock.now_ms();
        let mut report = DeliveryReport::default();
        let mut deliveries: Vec<Delivery> = Vec::new();
        {
            let mut st = self.lock();
            let rt = self.routing();
            let due = st.queue.due(now);
            let mut batch = KvBatch::new();
            for ((receiver, index), ids) in due {
                let Some(integ) = rt
                    .integrations
                    .get(&receiver)
                    .and_then(|v| v.iter().find(|i| i.index == index))
                    .cloned()
                else {
                    // The receiver is gone from the config: drop its messages.
                    for id in ids {
                        st.queue.discard(id, &mut batch);
                        report.failed += 1;
                    }
                    continue;
                };
                // Storm control: more messages waiting for a rate-limited integration than the
                // threshold are folded into one summary message.
                let fold = integ.is_rate_limited() && ids.len() > self.opts.storm_threshold;
                let groups: Vec<Vec<u64>> = if fold {
                    vec![ids]
                } else {
                    ids.into_iter().map(|i| vec![i]).collect()
                };
                for ids in groups {
                    if let Err(wait) = integ.rate_check() {
                        for id in &ids {
                            st.queue.postpone(*id, now + wait as i64);
                            report.rate_limited += 1;
                        }
                        continue;
                    }
                    let jobs = st.queue.start_sending(&ids);
                    let Some(first) = jobs.first() else { continue };
                    let tk = nflog_key(
                        &first.notification.group_key,
                        &first.receiver,
                        &integ.name(),
                    );
                    let (note, thread) = if jobs.len() == 1 {
                        (None, st.senders.thread(&tk))
                    } else {
                        (Some(self.storm_summary(&jobs)), None)
                    };
                    deliveries.push(Delivery {
                        jobs,
                        integ: integ.clone(),
                        note,
                        thread,
                        tk,
                    });
                }
            }
            self.write(batch)?;
        }
        let mut set = tokio::task::JoinSet::new();
        let mut results = Vec::new();
        let mut finished = Vec::new();
        let limit = self.opts.max_concurrent_deliveries.max(1);
        for d in deliveries {
            // Keep at most `limit` deliveries alive at once (memory stays flat under floods).
            while set.len() >= limit {
                if let Some(Ok(x)) = set.join_next().await {
                    finished.push(x);
                }
            }
            set.spawn(async move {
                let r = match d
                    .note
                    .as_ref()
                    .or_else(|| d.jobs.first().map(|q| &q.notification))
                {
                    Some(note) => d.integ.send(note, d.thread.as_deref()).await,
                    None => Ok(None),
                };
                (d, r)
            });
        }
        while let Some(j) = set.join_next().await {
            if let Ok(x) = j {
                finished.push(x);
            }
        }
        {
            let mut counts = self
                .deliveries
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (d, r) in &finished {
                let c = counts
                    .entry((d.integ.kind_name(), d.integ.receiver.clone()))
                    .or_default();
                c.0 += 1;
                c.1 += u64::from(r.is_err());
            }
        }
        for (d, r) in finished {
            {
                let (r, id) = match r {
                    Ok(id) => (Ok(()), id),
                    Err(e) => (Err(e), None),
                };
                let folded = d.jobs.len() > 1;
                if folded {
                    report.folded += d.jobs.len();
                }
                for q in d.jobs {
                    let thread = if folded { None } else { id.clone() };
                    results.push((q, d.integ.clone(), r.clone(), thread, d.tk.clone()));
                }
            }
        }
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let rt = self.routing();
        let mut batch = KvBatch::new();
        let mut self_alerts = Vec::new();
        for (q, integ, r, thread, tk) in results {
            st.queue.sent(q.id);
            if r.is_ok() {
                let resolved = q.notification.status == "resolved";
                st.senders.delivered(tk, resolved, thread, &mut batch);
            }
            let attempt = q.attempts + 1;
            self.record(
                &mut st,
                &q.notification,
                &integ,
                attempt,
                &r,
                now,
                &mut batch,
            );
            let done = match &r {
                Ok(()) => {
                    report.delivered += 1;
                    if st.senders.recovered(&integ.receiver) {
                        self_alerts.push(self.failing_alert(&integ.receiver, now, Some(now)));
                    }
                    true
                }
                Err(SendError::Permanent(m)) => {
                    report.failed += 1;
                    tracing::warn!(
                        receiver = %integ.receiver,
                        integration = %integ.name(),
                        attempt,
                        error = %m,
                        "notification failed; not retried (the peer refused it)"
                    );
                    true
                }
                Err(SendError::Retryable {
                    retry_after_ms,
                    message,
                }) => {
                    report.retrying += 1;
                    let since = st.senders.failing(&integ.receiver, now);
                    if now - since >= self.opts.receiver_failing_after.as_millis_i64() {
                        let mut a = self.failing_alert(&integ.receiver, since, None);
                        a.annotations.set("error", message.clone());
                        self_alerts.push(a);
                    }
                    // A newer message for the same slot replaces this one.
                    if st.queue.slot_taken(&q.slot()) {
                        tracing::warn!(
                            receiver = %integ.receiver,
                            integration = %integ.name(),
                            attempt,
                            error = %message,
                            "notification failed; a newer one for the same group takes its place"
                        );
                        true
                    } else {
                        let shift = q.attempts.min(20);
                        let backoff = self
                            .opts
                            .retry_initial
                            .as_millis_i64()
                            .saturating_mul(1 << shift)
                            .min(self.opts.retry_max.as_millis_i64());
                        let wait = retry_after_ms.map_or(backoff, |r| r as i64);
                        // Never the URL or a credential: receivers' messages leave them out.
                        tracing::warn!(
                            receiver = %integ.receiver,
                            integration = %integ.name(),
                            attempt,
                            error = %message,
                            next_attempt = %crate::payload::go_time(now + wait),
                            "notification failed; retrying"
                        );
                        let mut nq = (*q).clone();
                        nq.attempts = attempt;
                        nq.next_attempt_at = now + wait;
                        nq.last_error = Some(message.clone());
                        // Still failing after `receiver_failing_after`: a copy goes to the
                        // receiver's fallback (once).
                        if !nq.fell_back
                            && now - q.created_at
                                >= self.opts.receiver_failing_after.as_millis_i64()
                        {
                            if let Some(fb) = rt.fallbacks.get(&q.receiver) {
                                nq.fell_back = true;
                                let integs = rt.integrations.get(fb).cloned().unwrap_or_default();
                                for fi in integs {
                                    let mut note = q.notification.clone();
                                    note.receiver = fb.clone();
                                    let gid = format!("{}#fallback", q.group_id);
                                    st.queue.enqueue(&gid, fb, fi.index, note, now, &mut batch);
                                }
                            }
                        }
                        st.queue.retry(nq, &mut batch);
                        false
                    }
                }
            };
            if done {
                st.queue.remove(q.id, &mut batch);
            }
        }
        self.write(batch)?;
        drop(st);
        if !self_alerts.is_empty() {
            self.ingest_eventually(self_alerts)?;
        }
        Ok(report)
    }

    /// One message standing for several queued ones (storm control): their firing alerts (at
    /// most `storm_max_alerts`, the rest counted in `truncatedAlerts`).
    pub(super) fn storm_summary(&self, jobs: &[Arc<QueuedNotification>]) -> Notification {
        let rt = self.routing();
        let mut seen = BTreeSet::new();
        let mut firing = Vec::new();
        for q in jobs {
            for a in q.notification.firing() {
                if seen.insert(a.fingerprint.clone()) {
                    firing.push(a.clone());
                }
            }
        }
        let receiver = jobs.first().map_or("", |q| q.receiver.as_str());
        let total = firing.len();
        let mut n = Notification::new(
            receiver,
            "{}:{alertname=\"AlertdStormSummary\"}",
            Labels::from_pairs([("alertname", "AlertdStormSummary")]),
            firing,
            &rt.external_url,
        );
        let max = self.opts.storm_max_alerts.max(1);
        if total > max {
            n.alerts.truncate(max);
            n.truncated_alerts = (total - max) as u64;
        }
        n
    }

    pub(super) fn failing_alert(
        &self,
        receiver: &str,
        since: Timestamp,
        ends: Option<Timestamp>,
    ) -> Alert {
        let rt = self.routing();
        Alert {
            labels: Labels::from_pairs([
                ("alertname", "AlertdReceiverFailing"),
                ("receiver", receiver),
                ("severity", "critical"),
            ]),
            annotations: Labels::from_pairs([(
                "summary",
                format!("alertd cannot deliver notifications to receiver {receiver}"),
            )]),
            starts_at: since,
            ends_at: ends,
            generator_url: rt.external_url.clone(),
        }
    }
}
