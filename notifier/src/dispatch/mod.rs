//! The dispatcher: alert ingestion, aggregation groups (`group_wait`, `group_interval`,
//! `repeat_interval`), the persistent notification log with Alertmanager's rules for when to
//! send, acknowledgements, escalation tiers, the persisted outbound queue, delivery with retries
//! and rate limits, and the notification history.
//!
//! Everything is driven by the injected clock: [`Notifier::tick`] runs what is due now and
//! [`Notifier::deliver_due`] sends what is queued, so tests step through virtual time. State that
//! must survive a restart (alerts, group timers, escalation progress, notification log, acks,
//! queue, history, silences) is written to the [`KvStore`] before the call that changed it
//! returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use model::storage::{KvBatch, KvStore, StorageError};
use model::{Alert, Clock, Duration, Fingerprint, Labels, Matchers, Timestamp};

use crate::config::{ConfigError, NotifierConfig};
use crate::inhibit::Inhibitor;
use crate::payload::{Notification, NotifiedAlert};
use crate::receivers::{self, BuildError, Integration, SendError};
use crate::route::RouteNode;
use crate::silences::{SilenceError, SilenceLimits, Silences};
use crate::timeinterval::TimeInterval;

const NS_ALERTS: &str = "notifier.alerts";
const NS_GROUPS: &str = "notifier.groups";
const NS_NFLOG: &str = "notifier.nflog";
const NS_ACKS: &str = "notifier.acks";
const NS_ACK_LOG: &str = "notifier.ack_log";
const NS_QUEUE: &str = "notifier.queue";
const NS_HISTORY: &str = "notifier.history";
const NS_THREADS: &str = "notifier.threads";

/// Tunables that are not part of Alertmanager's config sections.
#[derive(Debug, Clone)]
pub struct NotifierOptions {
    /// Limits on silences.
    pub silence_limits: SilenceLimits,
    /// How long expired silences and notification-log entries are kept (Alertmanager: 120h).
    pub retention: Duration,
    /// How long notification history is kept.
    pub history_retention: Duration,
    /// First retry delay after a failed delivery; doubles each attempt.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// A queued notification that keeps failing this long makes alertd raise
    /// `AlertdReceiverFailing` about the receiver.
    pub receiver_failing_after: Duration,
    /// At most this many deliveries in flight at once.
    pub max_concurrent_deliveries: usize,
    /// A delivery attempt gives up (and is retried) after this long.
    pub send_timeout: Duration,
    /// Storm control: when more than this many messages wait for a rate-limited integration,
    /// they are sent as one summary message.
    pub storm_threshold: usize,
    /// At most this many alerts are listed in a storm summary; the rest are counted.
    pub storm_max_alerts: usize,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions {
            silence_limits: SilenceLimits::default(),
            retention: Duration::from_secs(120 * 3600),
            history_retention: Duration::from_secs(7 * 24 * 3600),
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            receiver_failing_after: Duration::from_secs(300),
            max_concurrent_deliveries: 64,
            send_timeout: Duration::from_secs(30),
            storm_threshold: 5,
            storm_max_alerts: 20,
        }
    }
}

/// Why a notifier operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The config has semantic errors.
    #[error("invalid notifier config: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigError>),
    /// A receiver could not be built.
    #[error(transparent)]
    Receiver(#[from] BuildError),
    /// Storage failed; the operation did not happen.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Silence operation failed.
    #[error(transparent)]
    Silence(#[from] SilenceError),
    /// A stored record could not be decoded.
    #[error("corrupt stored {what}: {error}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decoder's message.
        error: String,
    },
    /// An input alert is malformed.
    #[error("invalid alert: {0}")]
    InvalidAlert(String),
    /// Nothing matched an ack selector.
    #[error("no matching firing alert (for unack: none of them is acknowledged)")]
    NothingToAck,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredAlert {
    alert: Alert,
    updated_at: Timestamp,
    /// `endsAt` was set by alertd from `resolve_timeout`.
    timeout: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct GroupState {
    next_flush: Timestamp,
    has_flushed: bool,
    /// The escalation clock: the group's first notification.
    first_notified_at: Option<Timestamp>,
    /// Escalation tiers notified so far.
    tiers_notified: BTreeSet<usize>,
}

#[derive(Debug)]
struct Group {
    route: usize,
    key: String,
    labels: Labels,
    alerts: BTreeSet<Fingerprint>,
    st: GroupState,
    /// Since when the group holds no alert. Alertmanager keeps an empty group (and its timer)
    /// until its dispatcher's next cleanup, every [`CLEANUP_INTERVAL`] since it started: an
    /// alert arriving meanwhile goes out at the group's next tick, not after `group_wait`.
    empty_since: Option<Timestamp>,
}

/// Alertmanager's dispatcher drops empty groups on a ticker of this period (ms).
const CLEANUP_INTERVAL: i64 = 30_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct NflogEntry {
    firing: BTreeSet<u64>,
    resolved: BTreeSet<u64>,
    at: Timestamp,
}

/// An acknowledgement of a firing alert (its wire form lives in `model::api`).
pub use model::api::Ack;

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
    fn slot(&self) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            self.group_id, self.receiver, self.integration
        )
    }
}

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

/// How an alert is seen by the notifier (for the API).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    /// The alert.
    pub alert: Alert,
    /// `active`, `suppressed` (silenced or inhibited) or `resolved`.
    pub state: String,
    /// Ids of the silences muting it.
    pub silenced_by: Vec<String>,
    /// Fingerprints of the alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// Receivers of the routes it goes to.
    pub receivers: Vec<String>,
    /// Its acknowledgement.
    pub ack: Option<Ack>,
    /// Last update (ms).
    pub updated_at: Timestamp,
}

/// A group as shown by the API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupView {
    /// Group key.
    pub group_key: String,
    /// Group labels.
    pub labels: Labels,
    /// The route's receiver (or escalation policy name as `escalation:<name>`).
    pub receiver: String,
    /// Fingerprints of its alerts (16 hex digits).
    pub alerts: Vec<String>,
    /// When the escalation clock started.
    pub first_notified_at: Option<Timestamp>,
    /// Escalation tiers notified.
    pub tiers_notified: Vec<usize>,
}

/// What a [`Notifier::tick`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Notifications queued.
    pub queued: Vec<Arc<QueuedNotification>>,
}

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
struct Delivery {
    jobs: Vec<Arc<QueuedNotification>>,
    integ: Arc<Integration>,
    /// A storm summary; otherwise the single job's notification is sent.
    note: Option<Notification>,
    thread: Option<String>,
    tk: String,
}

struct State {
    alerts: HashMap<Fingerprint, StoredAlert>,
    /// Groups each alert belongs to.
    member_of: HashMap<Fingerprint, Vec<String>>,
    groups: HashMap<String, Group>,
    nflog: HashMap<String, NflogEntry>,
    acks: HashMap<Fingerprint, Ack>,
    queue: BTreeMap<u64, Arc<QueuedNotification>>,
    /// Slot -> id of the queued (not in flight) notification for it.
    queue_slots: HashMap<String, u64>,
    in_flight: BTreeSet<u64>,
    next_id: u64,
    inhibitor: Inhibitor,
    /// Receiver -> when its oldest still-failing notification first failed.
    failing_since: HashMap<String, Timestamp>,
    /// Message ids (Slack bot mode) by notification-log key.
    threads: HashMap<String, String>,
    /// (next flush, group id); may hold stale entries, checked against the group when popped.
    schedule: BTreeSet<(Timestamp, String)>,
    /// Groups whose route has an escalation policy.
    escalating: BTreeSet<String>,
    /// Alerts that left their last group (forgotten once resolved).
    orphans: Vec<Fingerprint>,
    last_gc: Timestamp,
    /// The dispatcher's start: cleanups of empty groups happen every [`CLEANUP_INTERVAL`] after.
    started_at: Timestamp,
}

impl State {
    /// Whether the cleanup after a group became empty at `since` has run by `now`.
    fn cleaned_up(&self, since: Timestamp, now: Timestamp) -> bool {
        let k = ((since - self.started_at).max(1) + CLEANUP_INTERVAL - 1) / CLEANUP_INTERVAL;
        now >= self.started_at + k * CLEANUP_INTERVAL
    }
}

/// The notifier: see the module documentation. All methods take `&self`; share it in an `Arc`.
pub struct Notifier {
    kv: Arc<dyn KvStore>,
    clock: Arc<dyn Clock>,
    opts: NotifierOptions,
    /// What the config sections make; swapped whole by [`Notifier::apply`] while `state` is
    /// held, so a holder of `state` sees one routing throughout.
    routing: RwLock<Arc<Routing>>,
    silences: Silences,
    state: Mutex<State>,
    /// When [`Notifier::run`] last finished a pass (ms; `i64::MIN` before the first).
    last_pass: std::sync::atomic::AtomicI64,
    deliveries: Mutex<DeliveryCounts>,
}

/// (integration type, receiver) -> (attempts, failed attempts).
type DeliveryCounts = BTreeMap<(&'static str, String), (u64, u64)>;

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

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

fn fp_key(fp: Fingerprint) -> Vec<u8> {
    fp.to_string().into_bytes()
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(what: &str, v: &[u8]) -> Result<T, NotifierError> {
    serde_json::from_slice(v).map_err(|e| NotifierError::Corrupt {
        what: what.to_string(),
        error: e.to_string(),
    })
}

fn nflog_key(group_key: &str, receiver: &str, integration: &str) -> String {
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

/// What the notifier's config sections make (routes, receivers and their templates, inhibit
/// rules, time intervals, escalations, `global`): built whole from a validated config, before
/// anything running changes, and swapped in one step on reload (see [`Notifier::apply`]).
pub struct Routing {
    resolve_timeout: Duration,
    external_url: String,
    routes: Vec<RouteNode>,
    tree: RouteNode,
    intervals: HashMap<String, Vec<TimeInterval>>,
    escalations: HashMap<String, Vec<(Duration, Vec<String>)>>,
    pub(crate) integrations: HashMap<String, Vec<Arc<Integration>>>,
    fallbacks: HashMap<String, String>,
    inhibit_rules: Vec<crate::config::InhibitRule>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing")
            .field("routes", &self.routes.len())
            .field("receivers", &self.integrations.len())
            .finish_non_exhaustive()
    }
}

impl Routing {
    /// Validates `cfg` and builds every receiver (templates included); nothing runs yet.
    fn build(
        cfg: &NotifierConfig,
        opts: &NotifierOptions,
        clock: &Arc<dyn Clock>,
    ) -> Result<Self, NotifierError> {
        let errs = cfg.validate();
        if !errs.is_empty() {
            return Err(NotifierError::Config(errs));
        }
        let integrations = receivers::build_all(cfg, opts.send_timeout.to_std(), clock.clone())?;
        let tree = RouteNode::new(&cfg.route);
        let routes: Vec<RouteNode> = tree.walk().into_iter().cloned().collect();
        let intervals = cfg
            .all_time_intervals()
            .map(|t| (t.name.clone(), t.time_intervals.clone()))
            .collect();
        let escalations = cfg
            .escalations
            .iter()
            .map(|e| {
                (
                    e.name.clone(),
                    e.tiers
                        .iter()
                        .map(|t| (t.after, t.receivers.clone()))
                        .collect(),
                )
            })
            .collect();
        Ok(Routing {
            resolve_timeout: cfg.global.resolve_timeout,
            external_url: cfg.global.external_url.clone(),
            routes,
            tree,
            intervals,
            escalations,
            integrations,
            fallbacks: cfg
                .receivers
                .iter()
                .filter_map(|r| r.fallback.clone().map(|f| (r.name.clone(), f)))
                .collect(),
            inhibit_rules: cfg.inhibit_rules.clone(),
        })
    }
}

impl Notifier {
    /// Builds the notifier from a validated config and loads its state from `kv` (so a restart
    /// resumes group timers, escalations, the notification log, acks, silences and the queue).
    pub fn new(
        cfg: &NotifierConfig,
        opts: NotifierOptions,
        kv: Arc<dyn KvStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, NotifierError> {
        let routing = Routing::build(cfg, &opts, &clock)?;
        let silences = Silences::open(
            kv.clone(),
            clock.clone(),
            opts.silence_limits,
            opts.retention,
        )?;
        let now = clock.now_ms();
        let mut st = State {
            alerts: HashMap::new(),
            member_of: HashMap::new(),
            groups: HashMap::new(),
            nflog: HashMap::new(),
            acks: HashMap::new(),
            queue: BTreeMap::new(),
            queue_slots: HashMap::new(),
            in_flight: BTreeSet::new(),
            next_id: 1,
            inhibitor: Inhibitor::new(&routing.inhibit_rules),
            failing_since: HashMap::new(),
            threads: HashMap::new(),
            schedule: BTreeSet::new(),
            escalating: BTreeSet::new(),
            orphans: Vec::new(),
            last_gc: now,
            started_at: now,
        };
        for (k, v) in kv.scan_prefix(NS_THREADS, b"")? {
            st.threads.insert(
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            );
        }
        for (k, v) in kv.scan_prefix(NS_NFLOG, b"")? {
            st.nflog.insert(
                String::from_utf8_lossy(&k).into_owned(),
                decode("nflog entry", &v)?,
            );
        }
        for (_, v) in kv.scan_prefix(NS_ACKS, b"")? {
            let a: Ack = decode("ack", &v)?;
            if let Ok(fp) = a.fingerprint.parse() {
                st.acks.insert(fp, a);
            }
        }
        for (_, v) in kv.scan_prefix(NS_QUEUE, b"")? {
            let q: QueuedNotification = decode("queued notification", &v)?;
            st.next_id = st.next_id.max(q.id + 1);
            st.queue_slots.insert(q.slot(), q.id);
            st.queue.insert(q.id, Arc::new(q));
        }
        let mut group_states: HashMap<String, GroupState> = HashMap::new();
        for (k, v) in kv.scan_prefix(NS_GROUPS, b"")? {
            group_states.insert(
                String::from_utf8_lossy(&k).into_owned(),
                decode("group", &v)?,
            );
        }
        let n = Notifier {
            kv,
            clock,
            opts,
            routing: RwLock::new(Arc::new(routing)),
            silences,
            state: Mutex::new(st),
            last_pass: std::sync::atomic::AtomicI64::new(i64::MIN),
            deliveries: Mutex::new(BTreeMap::new()),
        };
        {
            let mut st = n.lock();
            let mut batch = KvBatch::new();
            let stored: Vec<(Vec<u8>, Vec<u8>)> = n.kv.scan_prefix(NS_ALERTS, b"")?;
            for (_, v) in stored {
                let sa: StoredAlert = decode("alert", &v)?;
                st.inhibitor.observe(&sa.alert);
                let fp = sa.alert.fingerprint();
                let a = sa.alert.clone();
                st.alerts.insert(fp, sa);
                n.route_alert(&mut st, &a, now, &mut group_states, &mut batch);
            }
            // Group states of groups that no longer exist (config changed) are dropped.
            for k in group_states.keys() {
                batch.delete(NS_GROUPS, k.as_bytes().to_vec());
            }
            n.write(batch)?;
        }
        Ok(n)
    }

    /// Builds what `cfg` makes (validating it, building every receiver and loading its
    /// templates) without changing the running notifier: the fallible half of a reload.
    pub fn prepare(&self, cfg: &NotifierConfig) -> Result<Routing, NotifierError> {
        Routing::build(cfg, &self.opts, &self.clock)
    }

    /// Applies a prepared config; cannot fail. Everything the notifier holds carries over: the
    /// alerts, the notification log, acks, silences, the queue (a message for a receiver that
    /// is gone is dropped when due, as at startup) and delivery counters. The aggregation
    /// groups are rebuilt from the held alerts under the new routes, as Alertmanager's new
    /// dispatcher does on reload; a group that still exists (same route and group key) keeps
    /// its timers and escalation progress, a new one starts as Alertmanager starts a group (it
    /// flushes at once when its alert is older than `group_wait`) and the notification log
    /// keeps it from repeating what was already sent to the same receiver.
    pub fn apply(&self, routing: Routing) {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        *self.routing.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(routing);
        let mut kept: HashMap<String, GroupState> = st
            .groups
            .drain()
            .filter(|(_, g)| !g.alerts.is_empty())
            .map(|(gid, g)| (gid, g.st))
            .collect();
        st.member_of.clear();
        st.schedule.clear();
        st.escalating.clear();
        st.orphans.clear();
        st.inhibitor = Inhibitor::new(&self.routing().inhibit_rules);
        let mut batch = KvBatch::new();
        let mut alerts: Vec<Alert> = st.alerts.values().map(|sa| sa.alert.clone()).collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        for a in &alerts {
            st.inhibitor.observe(a);
            self.route_alert(&mut st, a, now, &mut kept, &mut batch);
        }
        // Resolved alerts no group holds any more are forgotten at the next tick.
        let orphans: Vec<Fingerprint> = st
            .alerts
            .keys()
            .filter(|fp| !st.member_of.contains_key(fp))
            .copied()
            .collect();
        st.orphans = orphans;
        // Groups that no longer exist are dropped (their notification-log entries stay).
        for gid in kept.keys() {
            batch.delete(NS_GROUPS, gid.as_bytes().to_vec());
        }
        if let Err(e) = self.write(batch) {
            tracing::error!(error = %e, "notifier: writing regrouped state after a reload failed");
        }
    }

    /// [`Notifier::prepare`] then [`Notifier::apply`]: on error nothing changed.
    pub fn reload(&self, cfg: &NotifierConfig) -> Result<(), NotifierError> {
        let routing = self.prepare(cfg)?;
        self.apply(routing);
        Ok(())
    }

    /// The routing in force.
    pub(crate) fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Writes the notifier's own state. When the store cannot take it (a full disk), it waits
    /// in the store's memory and is written with the next write that succeeds: the notifier
    /// keeps routing and delivering from memory meanwhile. An empty batch costs nothing.
    fn write(&self, batch: KvBatch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.kv.write_eventually(batch)
    }

    /// Writes state a client is told is durable (acks, posted alerts). The in-memory state has
    /// changed already; when the store cannot take the batch, it is deferred like
    /// [`Notifier::write`] and the error is returned, so the client hears that it is not on
    /// disk (repeating the request is harmless).
    fn write_durable(&self, batch: KvBatch) -> Result<(), StorageError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.kv.write_or_keep(batch)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The silences.
    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    /// The clock the notifier runs on.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Places an alert in the groups of the routes it matches (creating groups as needed).
    fn route_alert(
        &self,
        st: &mut State,
        a: &Alert,
        now: Timestamp,
        restored: &mut HashMap<String, GroupState>,
        batch: &mut KvBatch,
    ) {
        let rt = self.routing();
        let fp = a.fingerprint();
        let nodes = rt.tree.match_labels(&a.labels);
        for node in nodes {
            let key = node.group_key(&a.labels);
            let gid = format!("{}:{}", node.index, key);
            let wait = node.opts.group_wait.as_millis_i64();
            let cleaned = st.groups.get(&gid).and_then(|g| g.empty_since);
            if cleaned.is_some_and(|t| st.cleaned_up(t, now)) {
                st.groups.remove(&gid);
                st.escalating.remove(&gid);
            }
            let g = st.groups.entry(gid.clone()).or_insert_with(|| {
                let st = restored.remove(&gid).unwrap_or_else(|| {
                    let s = GroupState {
                        next_flush: now + wait,
                        ..GroupState::default()
                    };
                    batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&s));
                    s
                });
                Group {
                    route: node.index,
                    key,
                    labels: node.group_labels(&a.labels),
                    alerts: BTreeSet::new(),
                    st,
                    empty_since: None,
                }
            });
            if g.alerts.insert(fp) {
                g.empty_since = None;
                // Alertmanager: flush at once when the alert's own group_wait is already over.
                if !g.st.has_flushed && a.starts_at + wait < now && g.st.next_flush > now {
                    g.st.next_flush = now;
                    batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&g.st));
                }
                let next = g.st.next_flush;
                st.schedule.insert((next, gid.clone()));
                if node.opts.escalation.is_some() {
                    st.escalating.insert(gid.clone());
                }
                st.member_of.entry(fp).or_default().push(gid);
            }
        }
    }

    /// Ingests alerts (from the evaluator or Alertmanager API v2 clients). An alert without
    /// `ends_at` resolves `resolve_timeout` after this update unless it is sent again; an alert
    /// with `starts_at <= 0` starts at its end, or now (Alertmanager's rules). An update of a known alert keeps the earlier start.
    /// Persisted before returning (the API's promise to Alertmanager clients): when the store
    /// cannot take it, the alerts are still routed and the error is returned.
    pub fn ingest(&self, alerts: Vec<Alert>) -> Result<(), NotifierError> {
        self.ingest_with(alerts, true)
    }

    /// Like [`Notifier::ingest`], for alerts whose source sends them again anyway (the
    /// evaluator, alertd's alerts about itself): on a full disk their state waits in memory
    /// without an error (see [`Notifier::write`]).
    pub fn ingest_eventually(&self, alerts: Vec<Alert>) -> Result<(), NotifierError> {
        self.ingest_with(alerts, false)
    }

    fn ingest_with(&self, alerts: Vec<Alert>, durable: bool) -> Result<(), NotifierError> {
        let now = self.clock.now_ms();
        for a in &alerts {
            if a.labels.is_empty() {
                return Err(NotifierError::InvalidAlert("an alert needs labels".into()));
            }
            if a.ends_at
                .is_some_and(|e| a.starts_at > 0 && e < a.starts_at)
            {
                return Err(NotifierError::InvalidAlert(format!(
                    "{}: endsAt is before startsAt",
                    a.labels
                )));
            }
        }
        let mut st = self.lock();
        let rt = self.routing();
        let mut batch = KvBatch::new();
        let mut no_restore = HashMap::new();
        for mut a in alerts {
            if a.starts_at <= 0 {
                a.starts_at = a.ends_at.unwrap_or(now);
            }
            let timeout = a.ends_at.is_none();
            if timeout {
                a.ends_at = Some(now + rt.resolve_timeout.as_millis_i64());
            }
            let fp = a.fingerprint();
            if let Some(old) = st.alerts.get(&fp) {
                // Merge with the stored alert when they overlap (Alertmanager's provider).
                let old_end = old.alert.ends_at.unwrap_or(i64::MAX);
                if a.starts_at <= old_end && old.alert.starts_at < a.starts_at {
                    a.starts_at = old.alert.starts_at;
                }
            }
            let sa = StoredAlert {
                alert: a.clone(),
                updated_at: now,
                timeout,
            };
            batch.put(NS_ALERTS, fp_key(fp), json(&sa));
            st.inhibitor.observe(&a);
            st.alerts.insert(fp, sa);
            if !st.member_of.contains_key(&fp) {
                self.route_alert(&mut st, &a, now, &mut no_restore, &mut batch);
            }
            if a.is_resolved_at(now) {
                Self::clear_ack(&mut st, fp, &a.labels, now, &mut batch);
            }
        }
        if durable {
            self.write_durable(batch)?;
        } else {
            self.write(batch)?;
        }
        Ok(())
    }

    fn clear_ack(
        st: &mut State,
        fp: Fingerprint,
        labels: &Labels,
        now: Timestamp,
        batch: &mut KvBatch,
    ) {
        if let Some(ack) = st.acks.remove(&fp) {
            batch.delete(NS_ACKS, fp_key(fp));
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

    fn log_ack(st: &mut State, ev: &AckEvent, batch: &mut KvBatch) {
        let id = st.next_id;
        st.next_id += 1;
        let mut key = ev.at.to_be_bytes().to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        batch.put(NS_ACK_LOG, key, json(ev));
    }

    fn muted(&self, st: &State, labels: &Labels, now: Timestamp) -> bool {
        !self.silences.mutes(labels, now).is_empty()
            || st.inhibitor.inhibited_by(labels, now).is_some()
    }

    fn time_muted(&self, node: &RouteNode, now: Timestamp) -> bool {
        let rt = self.routing();
        let inside = |names: &[String]| {
            names.iter().any(|n| {
                rt.intervals
                    .get(n)
                    .is_some_and(|ivs| crate::timeinterval::any_contains(ivs, now))
            })
        };
        inside(&node.opts.mute_time_intervals)
            || (!node.opts.active_time_intervals.is_empty()
                && !inside(&node.opts.active_time_intervals))
    }

    /// Receivers of a group now: the route's receiver, or the receivers of every notified tier.
    fn group_receivers(&self, node: &RouteNode, g: &GroupState) -> Vec<String> {
        let rt = self.routing();
        match node
            .opts
            .escalation
            .as_ref()
            .and_then(|e| rt.escalations.get(e))
        {
            None => vec![node.opts.receiver.clone()],
            Some(tiers) => {
                let mut v: Vec<String> = Vec::new();
                for (i, (_, rs)) in tiers.iter().enumerate() {
                    if g.tiers_notified.contains(&i) {
                        for r in rs {
                            if !v.contains(r) {
                                v.push(r.clone());
                            }
                        }
                    }
                }
                v
            }
        }
    }

    /// Flushes a group: queues a notification for each receiver integration that needs one.
    /// `only` restricts to some receivers (an escalation tier just reached); a full flush also
    /// schedules the next one and drops the resolved alerts from the group.
    fn flush(
        &self,
        st: &mut State,
        gid: &str,
        now: Timestamp,
        only: Option<&[String]>,
        batch: &mut KvBatch,
        report: &mut TickReport,
    ) {
        let rt = self.routing();
        let Some(g) = st.groups.get(gid) else { return };
        let node = &rt.routes[g.route];
        if g.alerts.is_empty() {
            // Alertmanager's flush of an empty group sends nothing; its timer runs on.
            if only.is_none() {
                let next = now + node.opts.group_interval.as_millis_i64();
                if let Some(g) = st.groups.get_mut(gid) {
                    g.st.next_flush = next;
                }
                st.schedule.insert((next, gid.to_string()));
            }
            return;
        }
        let mut firing = BTreeSet::new();
        let mut resolved = BTreeSet::new();
        let mut snaps = Vec::new();
        let mut all_resolved_fps = Vec::new();
        let mut acked = true;
        for fp in &g.alerts {
            let Some(sa) = st.alerts.get(fp) else {
                continue;
            };
            let is_resolved = sa.alert.is_resolved_at(now);
            if is_resolved {
                all_resolved_fps.push(*fp);
            }
            if self.muted(st, &sa.alert.labels, now) {
                continue;
            }
            if is_resolved {
                resolved.insert(fp.0);
            } else {
                firing.insert(fp.0);
                if !st.acks.contains_key(fp) {
                    acked = false;
                }
            }
            snaps.push((is_resolved, NotifiedAlert::from_alert(&sa.alert, now)));
        }
        let acked = acked && !firing.is_empty();
        let group_key = g.key.clone();
        let group_labels = g.labels.clone();
        let mut gst = g.st.clone();
        let time_muted = self.time_muted(node, now);
        if only.is_none() {
            gst.has_flushed = true;
            gst.next_flush = now + node.opts.group_interval.as_millis_i64();
        }
        if !time_muted && !firing.is_empty() && gst.first_notified_at.is_none() {
            gst.first_notified_at = Some(now);
            if let Some(tiers) = node
                .opts
                .escalation
                .as_ref()
                .and_then(|e| rt.escalations.get(e))
            {
                for (i, (after, _)) in tiers.iter().enumerate() {
                    if after.as_millis() == 0 {
                        gst.tiers_notified.insert(i);
                    }
                }
            }
        }
        let receivers = match only {
            Some(o) => o.to_vec(),
            None => self.group_receivers(node, &gst),
        };
        // Alertmanager's pipeline stops when muting leaves no alert: nothing is sent and the
        // notification log keeps what was last sent (so an alert that was silenced the whole
        // time is not sent again when its silence ends).
        if !time_muted && !snaps.is_empty() {
            for r in &receivers {
                let Some(integs) = rt.integrations.get(r) else {
                    continue;
                };
                for integ in integs {
                    let nk = nflog_key(&group_key, r, &integ.name());
                    if !needs_update(
                        st.nflog.get(&nk),
                        &firing,
                        &resolved,
                        integ.send_resolved,
                        node.opts.repeat_interval,
                        acked,
                        now,
                    ) {
                        continue;
                    }
                    let alerts: Vec<NotifiedAlert> = snaps
                        .iter()
                        .filter(|(res, _)| !*res || integ.send_resolved)
                        .map(|(_, a)| a.clone())
                        .collect();
                    if !alerts.is_empty() {
                        let n = Notification::new(
                            r,
                            &group_key,
                            group_labels.clone(),
                            alerts,
                            &rt.external_url,
                        );
                        let q = self.enqueue(st, gid, r, integ.index, n, now, batch);
                        report.queued.push(q);
                    }
                    let e = NflogEntry {
                        firing: firing.clone(),
                        resolved: resolved.clone(),
                        at: now,
                    };
                    batch.put(NS_NFLOG, nk.as_bytes().to_vec(), json(&e));
                    st.nflog.insert(nk, e);
                }
            }
        }
        let Some(g) = st.groups.get_mut(gid) else {
            return;
        };
        g.st = gst;
        if only.is_none() {
            for fp in &all_resolved_fps {
                g.alerts.remove(fp);
            }
        }
        let empty = g.alerts.is_empty();
        if only.is_none() {
            for fp in &all_resolved_fps {
                if let Some(m) = st.member_of.get_mut(fp) {
                    m.retain(|x| x != gid);
                    if m.is_empty() {
                        st.member_of.remove(fp);
                        st.orphans.push(*fp);
                    }
                }
            }
        }
        if empty {
            // Kept (in memory only) until the next cleanup, as Alertmanager does.
            batch.delete(NS_GROUPS, gid.as_bytes().to_vec());
            if let Some(g) = st.groups.get_mut(gid) {
                g.empty_since.get_or_insert(now);
                // A re-fire starts its escalation again.
                g.st.first_notified_at = None;
                g.st.tiers_notified.clear();
                st.schedule.insert((g.st.next_flush, gid.to_string()));
            }
        } else if let Some(g) = st.groups.get(gid) {
            let next = g.st.next_flush;
            batch.put(NS_GROUPS, gid.as_bytes().to_vec(), json(&g.st));
            st.schedule.insert((next, gid.to_string()));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn enqueue(
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

    /// Runs everything due at the clock's current time: group flushes, escalation tiers,
    /// clearing acks of resolved alerts, and garbage collection. Returns what was queued.
    pub fn tick(&self) -> Result<TickReport, NotifierError> {
        let now = self.clock.now_ms();
        let mut st = self.lock();
        let rt = self.routing();
        let mut batch = KvBatch::new();
        let mut report = TickReport::default();

        // Acks hold until the alert resolves.
        let resolved_acks: Vec<(Fingerprint, Labels)> = st
            .acks
            .keys()
            .filter_map(|fp| match st.alerts.get(fp) {
                Some(sa) if !sa.alert.is_resolved_at(now) => None,
                Some(sa) => Some((*fp, sa.alert.labels.clone())),
                None => Some((*fp, Labels::empty())),
            })
            .collect();
        for (fp, l) in resolved_acks {
            Self::clear_ack(&mut st, fp, &l, now, &mut batch);
        }

        let mut due = Vec::new();
        while let Some((t, gid)) = st.schedule.first().cloned() {
            if t > now {
                break;
            }
            st.schedule.pop_first();
            if st.groups.get(&gid).is_some_and(|g| g.st.next_flush == t) {
                due.push(gid);
            }
        }
        for gid in due {
            self.flush(&mut st, &gid, now, None, &mut batch, &mut report);
        }

        // Escalation tiers whose time has come.
        let mut escalate: Vec<(String, usize, Vec<String>)> = Vec::new();
        for gid in &st.escalating {
            let Some(g) = st.groups.get(gid) else {
                continue;
            };
            let node = &rt.routes[g.route];
            let Some(tiers) = node
                .opts
                .escalation
                .as_ref()
                .and_then(|e| rt.escalations.get(e))
            else {
                continue;
            };
            let Some(t0) = g.st.first_notified_at else {
                continue;
            };
            for (i, (after, rs)) in tiers.iter().enumerate() {
                if !g.st.tiers_notified.contains(&i) && now >= t0 + after.as_millis_i64() {
                    escalate.push((gid.clone(), i, rs.clone()));
                }
            }
        }
        escalate.sort();
        for (gid, tier, rs) in escalate {
            let Some(g) = st.groups.get(&gid) else {
                continue;
            };
            // A tier fires only while the group fires, unacknowledged and not muted.
            let mut firing = 0;
            let mut acked = false; // any acknowledged firing alert halts the escalation
            for fp in &g.alerts {
                let Some(sa) = st.alerts.get(fp) else {
                    continue;
                };
                if sa.alert.is_resolved_at(now) || self.muted(&st, &sa.alert.labels, now) {
                    continue;
                }
                firing += 1;
                acked |= st.acks.contains_key(fp);
            }
            if firing == 0 || acked {
                continue;
            }
            if let Some(g) = st.groups.get_mut(&gid) {
                g.st.tiers_notified.insert(tier);
            }
            self.flush(&mut st, &gid, now, Some(&rs), &mut batch, &mut report);
        }

        // Empty groups go at the cleanup after they became empty.
        let empty: Vec<String> = st
            .groups
            .iter()
            .filter(|(_, g)| g.empty_since.is_some_and(|t| st.cleaned_up(t, now)))
            .map(|(gid, _)| gid.clone())
            .collect();
        for gid in empty {
            st.groups.remove(&gid);
            st.escalating.remove(&gid);
        }

        // Resolved alerts that left every group are forgotten.
        let orphans = std::mem::take(&mut st.orphans);
        let gone: Vec<Fingerprint> = orphans
            .into_iter()
            .filter(|fp| {
                !st.member_of.contains_key(fp)
                    && st
                        .alerts
                        .get(fp)
                        .is_some_and(|sa| sa.alert.is_resolved_at(now))
            })
            .collect();
        for fp in gone {
            if let Some(sa) = st.alerts.remove(&fp) {
                st.inhibitor.forget(&sa.alert);
            }
            batch.delete(NS_ALERTS, fp_key(fp));
        }

        if now - st.last_gc >= 60_000 {
            st.last_gc = now;
            self.gc(&mut st, now, &mut batch)?;
        }
        self.write(batch)?;
        Ok(report)
    }

    fn gc(&self, st: &mut State, now: Timestamp, batch: &mut KvBatch) -> Result<(), NotifierError> {
        self.silences.gc(now)?;
        // Entries of live groups are kept (an acknowledged group sends no repeats, so its entry
        // is not refreshed, and must not be forgotten while it fires).
        let keep = self.opts.retention.as_millis_i64();
        let live: BTreeSet<&str> = st.groups.values().map(|g| g.key.as_str()).collect();
        let old: Vec<String> = st
            .nflog
            .iter()
            .filter(|(k, e)| {
                e.at + keep < now && !live.contains(k.split('\u{0}').next().unwrap_or(""))
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in old {
            st.nflog.remove(&k);
            batch.delete(NS_NFLOG, k.into_bytes());
        }
        let horizon = now - self.opts.history_retention.as_millis_i64();
        // Both logs are keyed by their big-endian timestamp first: delete up to the horizon.
        for ns in [NS_HISTORY, NS_ACK_LOG] {
            for (k, _) in self.kv.scan_prefix(ns, b"")? {
                let at = k
                    .get(..8)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(i64::MAX, i64::from_be_bytes);
                if at >= horizon {
                    break;
                }
                batch.delete(ns, k);
            }
        }
        Ok(())
    }

    /// The earliest time something is due (a group flush, an escalation tier, a queued
    /// delivery), if anything is pending.
    pub fn next_due(&self) -> Option<Timestamp> {
        let st = self.lock();
        let rt = self.routing();
        let mut t: Option<Timestamp> = None;
        let mut upd = |x: Timestamp| t = Some(t.map_or(x, |y| y.min(x)));
        for g in st.groups.values() {
            upd(g.st.next_flush);
            let node = &rt.routes[g.route];
            if let (Some(t0), Some(tiers)) = (
                g.st.first_notified_at,
                node.opts
                    .escalation
                    .as_ref()
                    .and_then(|e| rt.escalations.get(e)),
            ) {
                for (i, (after, _)) in tiers.iter().enumerate() {
                    if !g.st.tiers_notified.contains(&i) {
                        upd(t0 + after.as_millis_i64());
                    }
                }
            }
        }
        for q in st.queue.values() {
            if !st.in_flight.contains(&q.id) {
                upd(q.next_attempt_at);
            }
        }
        t
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

    fn ack_or_unack(
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
                .filter(|g| &g.key == key)
                .flat_map(|g| g.alerts.iter().copied())
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
                batch.put(NS_ACKS, fp_key(fp), json(&a));
                st.acks.insert(fp, a);
            } else {
                if st.acks.remove(&fp).is_none() {
                    continue;
                }
                batch.delete(NS_ACKS, fp_key(fp));
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
        let mut v: Vec<Ack> = self.lock().acks.values().cloned().collect();
        v.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        v
    }

    /// Recorded acks, un-acks and clearings, oldest first.
    pub fn ack_log(&self) -> Result<Vec<AckEvent>, NotifierError> {
        self.kv
            .scan_prefix(NS_ACK_LOG, b"")?
            .iter()
            .map(|(_, v)| decode("ack event", v))
            .collect()
    }

    /// Every alert the notifier holds, with its silences, inhibitions, receivers and ack.
    pub fn alerts(&self) -> Vec<AlertView> {
        let now = self.clock.now_ms();
        let st = self.lock();
        let rt = self.routing();
        let mut v: Vec<AlertView> = st
            .alerts
            .values()
            .map(|sa| {
                let l = &sa.alert.labels;
                let silenced_by = self.silences.mutes(l, now);
                let inhibited_by: Vec<String> = st
                    .inhibitor
                    .inhibited_by(l, now)
                    .map(|f| f.to_string())
                    .into_iter()
                    .collect();
                let resolved = sa.alert.is_resolved_at(now);
                let mut receivers: Vec<String> = Vec::new();
                for n in rt.tree.match_labels(l) {
                    let rs = match n
                        .opts
                        .escalation
                        .as_ref()
                        .and_then(|e| rt.escalations.get(e))
                    {
                        Some(t) => t.iter().flat_map(|(_, r)| r.clone()).collect(),
                        None => vec![n.opts.receiver.clone()],
                    };
                    for r in rs {
                        if !receivers.contains(&r) {
                            receivers.push(r);
                        }
                    }
                }
                AlertView {
                    alert: sa.alert.clone(),
                    state: if resolved {
                        "resolved"
                    } else if silenced_by.is_empty() && inhibited_by.is_empty() {
                        "active"
                    } else {
                        "suppressed"
                    }
                    .into(),
                    silenced_by,
                    inhibited_by,
                    receivers,
                    ack: st.acks.get(&sa.alert.fingerprint()).cloned(),
                    updated_at: sa.updated_at,
                }
            })
            .collect();
        v.sort_by(|a, b| a.alert.labels.cmp(&b.alert.labels));
        v
    }

    /// The aggregation groups.
    pub fn groups(&self) -> Vec<GroupView> {
        let st = self.lock();
        let rt = self.routing();
        let mut v: Vec<GroupView> = st
            .groups
            .values()
            .filter(|g| !g.alerts.is_empty())
            .map(|g| {
                let node = &rt.routes[g.route];
                GroupView {
                    group_key: g.key.clone(),
                    labels: g.labels.clone(),
                    receiver: match &node.opts.escalation {
                        Some(e) => format!("escalation:{e}"),
                        None => node.opts.receiver.clone(),
                    },
                    alerts: g.alerts.iter().map(|f| f.to_string()).collect(),
                    first_notified_at: g.st.first_notified_at,
                    tiers_notified: g.st.tiers_notified.iter().copied().collect(),
                }
            })
            .collect();
        v.sort_by(|a, b| a.group_key.cmp(&b.group_key));
        v
    }

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

    /// How many notifications wait in the outbound queue (including those being sent).
    pub fn queue_len(&self) -> usize {
        self.lock().queue.len()
    }

    /// The outbound queue, oldest first.
    pub fn queued(&self) -> Vec<QueuedNotification> {
        self.lock().queue.values().map(|q| (**q).clone()).collect()
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

    /// Names of the configured receivers.
    pub fn receiver_names(&self) -> Vec<String> {
        let rt = self.routing();
        let mut v: Vec<String> = rt.integrations.keys().cloned().collect();
        v.sort();
        v
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

    #[allow(clippy::too_many_arguments)]
    fn record(
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
        let id = st.next_id;
        st.next_id += 1;
        let mut key = now.to_be_bytes().to_vec();
        key.extend_from_slice(&id.to_be_bytes());
        batch.put(NS_HISTORY, key, json(&h));
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
            let mut due: BTreeMap<(String, usize), Vec<u64>> = BTreeMap::new();
            for q in st.queue.values() {
                if q.next_attempt_at <= now && !st.in_flight.contains(&q.id) {
                    due.entry((q.receiver.clone(), q.integration))
                        .or_default()
                        .push(q.id);
                }
            }
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
                        if let Some(q) = st.queue.remove(&id) {
                            st.queue_slots.remove(&q.slot());
                        }
                        batch.delete(NS_QUEUE, id.to_be_bytes().to_vec());
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
                            if let Some(q) = st.queue.get_mut(id).map(Arc::make_mut) {
                                q.next_attempt_at = now + wait as i64;
                            }
                            report.rate_limited += 1;
                        }
                        continue;
                    }
                    let jobs: Vec<Arc<QueuedNotification>> = ids
                        .iter()
                        .filter_map(|id| st.queue.get(id).cloned())
                        .collect();
                    for q in &jobs {
                        st.in_flight.insert(q.id);
                        if st.queue_slots.get(&q.slot()) == Some(&q.id) {
                            st.queue_slots.remove(&q.slot());
                        }
                    }
                    let Some(first) = jobs.first() else { continue };
                    let tk = nflog_key(
                        &first.notification.group_key,
                        &first.receiver,
                        &integ.name(),
                    );
                    let (note, thread) = if jobs.len() == 1 {
                        (None, st.threads.get(&tk).cloned())
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
            st.in_flight.remove(&q.id);
            if r.is_ok() {
                // Keep the group's message id while it fires; a resolved group starts afresh.
                if q.notification.status == "resolved" {
                    if st.threads.remove(&tk).is_some() {
                        batch.delete(NS_THREADS, tk.as_bytes().to_vec());
                    }
                } else if let Some(t) = thread {
                    batch.put(NS_THREADS, tk.as_bytes().to_vec(), t.as_bytes().to_vec());
                    st.threads.insert(tk, t);
                }
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
                    if st.failing_since.remove(&integ.receiver).is_some() {
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
                    let since = *st
                        .failing_since
                        .entry(integ.receiver.clone())
                        .or_insert(now);
                    if now - since >= self.opts.receiver_failing_after.as_millis_i64() {
                        let mut a = self.failing_alert(&integ.receiver, since, None);
                        a.annotations.set("error", message.clone());
                        self_alerts.push(a);
                    }
                    // A newer message for the same slot replaces this one.
                    if st.queue_slots.contains_key(&q.slot()) {
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
                                    self.enqueue(
                                        &mut st, &gid, fb, fi.index, note, now, &mut batch,
                                    );
                                }
                            }
                        }
                        batch.put(NS_QUEUE, q.id.to_be_bytes().to_vec(), json(&nq));
                        st.queue_slots.insert(nq.slot(), nq.id);
                        st.queue.insert(nq.id, Arc::new(nq));
                        false
                    }
                }
            };
            if done {
                st.queue.remove(&q.id);
                batch.delete(NS_QUEUE, q.id.to_be_bytes().to_vec());
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
    fn storm_summary(&self, jobs: &[Arc<QueuedNotification>]) -> Notification {
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

    fn failing_alert(&self, receiver: &str, since: Timestamp, ends: Option<Timestamp>) -> Alert {
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

    /// When [`Notifier::run`] last completed a pass of ticking and delivering (ms), `None`
    /// before the first: a watchdog's sign that the notifier is not stuck.
    pub fn last_pass_at(&self) -> Option<Timestamp> {
        let t = self.last_pass.load(std::sync::atomic::Ordering::Relaxed);
        (t != i64::MIN).then_some(t)
    }

    /// Runs the notifier until `shutdown` turns true (or its sender is dropped): ingests alerts from `alerts` (the
    /// evaluator's channel), ticks and delivers whenever something is due (checked every
    /// `poll`).
    pub async fn run(
        self: Arc<Self>,
        mut alerts: Option<tokio::sync::mpsc::Receiver<Vec<Alert>>>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
        poll: std::time::Duration,
    ) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.tick() {
                tracing::error!(error = %e, "notifier tick failed");
            }
            if let Err(e) = self.deliver_due().await {
                tracing::error!(error = %e, "notifier delivery failed");
            }
            self.last_pass
                .store(self.clock.now_ms(), std::sync::atomic::Ordering::Relaxed);
            let recv = async {
                match alerts.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = shutdown.changed() => {
                    // A dropped sender also means shut down.
                    if r.is_err() {
                        return;
                    }
                }
                _ = tokio::time::sleep(poll) => {}
                batch = recv => match batch {
                    Some(b) => {
                        if let Err(e) = self.ingest_eventually(b) {
                            tracing::error!(error = %e, "ingesting alerts failed");
                        }
                    }
                    None => alerts = None,
                },
            }
        }
    }
}
