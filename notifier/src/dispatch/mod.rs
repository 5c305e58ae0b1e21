//! The dispatcher: alert ingestion, aggregation groups (`group_wait`, `group_interval`,
//! `repeat_interval`), the persistent notification log with Alertmanager's rules for when to
//! send, acknowledgements, escalation tiers, the persisted outbound queue, delivery with retries
//! and rate limits, and the notification history.
//!
//! One module per stage, in Alertmanager's order, each defining the state it owns (private
//! fields, changed only through the module's methods):
//!
//! | stage | module | state it owns |
//! |---|---|---|
//! | ingest | `ingest` | `Alerts`: the held alerts |
//! | route and group | `group` | `Groups`: groups and their timers, alert → groups, flush schedule, orphaned alerts, the cleanup ticker |
//! | mute | `mute`, `acks` | `Mute`: the inhibitor; `Acks`: acknowledgements (silences are [`Silences`]) |
//! | dedup | `nflog` | `NotificationLog` |
//! | escalation | `escalation` | `Escalation`: the groups with an escalation policy (their clocks are in the group's persisted state) |
//! | queue and retry | `queue` | `Queue`: waiting messages, slots, in-flight set, the id sequence |
//! | receiver | `deliver` | `Senders`: failing receivers, Slack threads; `DeliveryCounts` (own lock) |
//! | history | `history` | none in memory (the store's log) |
//!
//! This module holds the [`Notifier`] itself, what the config makes ([`Routing`], swapped whole
//! on reload), `State` (the stages' parts side by side) and the driver ([`Notifier::tick`],
//! [`Notifier::run`]).
//!
//! Locks. Every stage's part is in `State`, under the one `Notifier::state` mutex: a flush reads
//! alerts, groups, mutes and acks and then writes the notification log and the queue in one
//! store batch, and a delivery's outcome changes the queue, the senders and the history
//! together, so separate locks would be taken together anyway and would only add orders to get
//! wrong. The other locks are leaves taken after `state` (or alone), never the reverse:
//! `routing` (read: the `Arc` is cloned and the lock released at once; written only by
//! [`Notifier::apply`] while it holds `state`), the silences' own lock, the store's, the
//! integrations' rate limiters, and `deliveries` (counters, taken alone). No lock is held across
//! an `.await`: [`Notifier::deliver_due`] takes what is due, releases `state` while sending,
//! and takes it again for the outcomes.
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

mod acks;
mod deliver;
mod escalation;
mod group;
mod history;
mod ingest;
mod mute;
mod nflog;
mod oncall;
mod queue;

use acks::Acks;
pub use acks::{AckEvent, AckTarget};
use deliver::{DeliveryCounts, Senders};
pub use deliver::{DeliveryReport, DeliveryStats};
use escalation::Escalation;
pub use group::GroupView;
use group::{Group, GroupState, Groups};
pub use history::HistoryEntry;
use ingest::Alerts;
use mute::Mute;
use nflog::{nflog_key, NotificationLog};
pub use oncall::ResponseDeadline;
use queue::Queue;
pub use queue::QueuedNotification;

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
    /// On-call overrides could not be loaded.
    #[error(transparent)]
    Oncall(#[from] crate::oncall::OverrideError),
    /// Nothing matched an ack selector.
    #[error("no matching firing alert (for unack: none of them is acknowledged)")]
    NothingToAck,
}

/// An acknowledgement of a firing alert (its wire form lives in `model::api`).
pub use model::api::Ack;

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

/// What a [`Notifier::tick`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Notifications queued.
    pub queued: Vec<Arc<QueuedNotification>>,
}

/// The dispatcher's state: one part per stage, each defined by and only changed through its
/// stage's module (the fields of each part are private to it). All parts sit under the one
/// `Notifier::state` lock: a flush reads the alerts, groups, mutes and acks and writes the
/// notification log and the queue as one step, in one store batch, so no reader ever sees a
/// message queued without its log entry or the reverse.
struct State {
    /// ingest: the held alerts.
    alerts: Alerts,
    /// route and group: groups, membership, flush schedule, orphans.
    groups: Groups,
    /// mute: the inhibitor.
    mute: Mute,
    /// mute: acknowledgements.
    acks: Acks,
    /// dedup: the notification log.
    nflog: NotificationLog,
    /// escalation: the groups with an escalation policy.
    escalation: Escalation,
    /// queue: the outbound queue and the id sequence.
    queue: Queue,
    /// deliver: failing receivers, Slack threads.
    senders: Senders,
    /// The driver's last garbage collection.
    last_gc: Timestamp,
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
    overrides: crate::oncall::OverrideStore,
    state: Mutex<State>,
    /// When [`Notifier::run`] last finished a pass (ms; `i64::MIN` before the first).
    last_pass: std::sync::atomic::AtomicI64,
    deliveries: Mutex<DeliveryCounts>,
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

/// What the notifier's config sections make (routes, receivers and their templates, inhibit
/// rules, time intervals, escalations, `global`): built whole from a validated config, before
/// anything running changes, and swapped in one step on reload (see [`Notifier::apply`]).
pub struct Routing {
    resolve_timeout: Duration,
    external_url: String,
    routes: Vec<RouteNode>,
    tree: RouteNode,
    intervals: HashMap<String, Vec<TimeInterval>>,
    escalations: HashMap<String, Vec<crate::oncall::Tier>>,
    oncall: crate::oncall::OncallRouting,
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
                        .map(|t| crate::oncall::Tier {
                            after: t.after,
                            receivers: t.receivers.clone(),
                            oncall: t.oncall.clone(),
                        })
                        .collect(),
                )
            })
            .collect();
        Ok(Routing {
            resolve_timeout: cfg.global.resolve_timeout,
            external_url: cfg.global.external_url.clone().unwrap_or_default(),
            routes,
            tree,
            intervals,
            escalations,
            oncall: crate::oncall::OncallRouting::build(cfg),
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
        let st = State {
            alerts: Alerts::default(),
            groups: Groups::new(now),
            mute: Mute::new(&routing.inhibit_rules),
            acks: Acks::load(kv.as_ref())?,
            nflog: NotificationLog::load(kv.as_ref())?,
            escalation: Escalation::default(),
            queue: Queue::load(kv.as_ref())?,
            senders: Senders::load(kv.as_ref())?,
            last_gc: now,
        };
        let mut group_states: HashMap<String, GroupState> = HashMap::new();
        for (k, v) in kv.scan_prefix(NS_GROUPS, b"")? {
            group_states.insert(
                String::from_utf8_lossy(&k).into_owned(),
                decode("group", &v)?,
            );
        }
        let overrides = crate::oncall::OverrideStore::open(kv.clone())?;
        let n = Notifier {
            kv,
            clock,
            opts,
            routing: RwLock::new(Arc::new(routing)),
            silences,
            overrides,
            state: Mutex::new(st),
            last_pass: std::sync::atomic::AtomicI64::new(i64::MIN),
            deliveries: Mutex::new(BTreeMap::new()),
        };
        {
            let mut st = n.lock();
            let mut batch = KvBatch::new();
            for sa in Alerts::stored(n.kv.as_ref())? {
                st.mute.observe(&sa.alert);
                let a = sa.alert.clone();
                st.alerts.restore(sa);
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
        let mut guard = self.lock();
        let st = &mut *guard;
        *self.routing.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(routing);
        let mut kept: HashMap<String, GroupState> = st.groups.regroup();
        st.escalation.clear();
        st.mute = Mute::new(&self.routing().inhibit_rules);
        let mut batch = KvBatch::new();
        let mut alerts: Vec<Alert> = st.alerts.values().map(|sa| sa.alert.clone()).collect();
        alerts.sort_by(|a, b| a.labels.cmp(&b.labels));
        for a in &alerts {
            st.mute.observe(a);
            self.route_alert(st, a, now, &mut kept, &mut batch);
        }
        // Resolved alerts no group holds any more are forgotten at the next tick.
        st.groups.orphan_unplaced(st.alerts.fingerprints());
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

    /// Runs everything due at the clock's current time: group flushes, escalation tiers,
    /// clearing acks of resolved alerts, and garbage collection. Returns what was queued.
    pub fn tick(&self) -> Result<TickReport, NotifierError> {
        let now = self.clock.now_ms();
        let mut guard = self.lock();
        let st = &mut *guard;
        let mut batch = KvBatch::new();
        let mut report = TickReport::default();

        // Acks hold until the alert resolves.
        let resolved_acks: Vec<(Fingerprint, Labels)> = st
            .acks
            .alerts()
            .filter_map(|fp| match st.alerts.get(fp) {
                Some(sa) if !sa.alert.is_resolved_at(now) => None,
                Some(sa) => Some((*fp, sa.alert.labels.clone())),
                None => Some((*fp, Labels::empty())),
            })
            .collect();
        for (fp, l) in resolved_acks {
            Self::clear_ack(st, fp, &l, now, &mut batch);
        }

        for gid in st.groups.pop_due(now) {
            self.flush(st, &gid, now, None, &mut batch, &mut report);
        }

        self.escalate_due(st, now, &mut batch, &mut report);

        // Empty groups go at the cleanup after they became empty.
        for gid in st.groups.drop_cleaned(now) {
            st.escalation.forget(&gid);
        }

        // Resolved alerts that left every group are forgotten.
        let gone: Vec<Fingerprint> = st
            .groups
            .take_orphans()
            .into_iter()
            .filter(|fp| {
                !st.groups.is_member(fp)
                    && st
                        .alerts
                        .get(fp)
                        .is_some_and(|sa| sa.alert.is_resolved_at(now))
            })
            .collect();
        for fp in gone {
            if let Some(sa) = st.alerts.forget(fp, &mut batch) {
                st.mute.forget(&sa.alert);
            }
        }

        if now - st.last_gc >= 60_000 {
            st.last_gc = now;
            self.gc(st, now, &mut batch)?;
        }
        self.write(batch)?;
        Ok(report)
    }

    fn gc(&self, st: &mut State, now: Timestamp, batch: &mut KvBatch) -> Result<(), NotifierError> {
        self.silences.gc(now)?;
        let live: BTreeSet<&str> = st.groups.values().map(Group::key).collect();
        st.nflog
            .gc(&live, self.opts.retention.as_millis_i64(), now, batch);
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
            let gst = g.state();
            upd(gst.next_flush);
            let node = &rt.routes[g.route()];
            if let (Some(t0), Some(tiers)) = (
                gst.first_notified_at,
                node.opts
                    .escalation
                    .as_ref()
                    .and_then(|e| rt.escalations.get(e)),
            ) {
                for (i, tier) in tiers.iter().enumerate() {
                    let delay = self.tier_delay(&rt, &st, g, tier);
                    if let (false, Some(d)) = (gst.tiers_notified.contains(&i), delay) {
                        upd(t0 + d);
                    }
                }
            }
        }
        if let Some(q) = st.queue.next_attempt() {
            upd(q);
        }
        t
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
                    .mute
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
                        Some(t) => t
                            .iter()
                            .flat_map(|t| self.tier_receivers(&rt, t, now))
                            .collect(),
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

    /// Names of the configured receivers.
    pub fn receiver_names(&self) -> Vec<String> {
        let rt = self.routing();
        let mut v: Vec<String> = rt.integrations.keys().cloned().collect();
        v.sort();
        v
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
