//! The rule manager: one tokio task per group evaluating at the group's interval (groups run
//! concurrently; rules within a group in order at one timestamp), time from the injected
//! [`Clock`], firing/resolved alerts sent on a typed channel to the notifier, reload keeping
//! alert state, and a status snapshot for `/api/v1/rules` and `/api/v1/alerts`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use model::{Alert, Clock, Timestamp};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::group::{ActiveAlert, EvalContext, GroupState, RuleHealth};
use crate::rules::{RuleKind, RuleSet};

/// The channel end the notifier consumes: each message is the alerts one rule sends at once.
pub type AlertSender = mpsc::Sender<Vec<Alert>>;

/// A rule as `/api/v1/rules` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RuleStatus {
    /// Alert name or recorded metric name.
    pub name: String,
    /// The expression.
    pub query: String,
    /// `alerting` or `recording`.
    pub kind: &'static str,
    /// Health after the last evaluation.
    pub health: RuleHealth,
    /// The last error, empty if none.
    pub last_error: String,
    /// When it was last evaluated (ms).
    pub last_evaluation: Option<Timestamp>,
    /// Duration of its last evaluation (seconds).
    pub evaluation_seconds: f64,
    /// `for:` in seconds (alerting rules).
    pub duration_seconds: f64,
    /// `keep_firing_for:` in seconds (alerting rules).
    pub keep_firing_for_seconds: f64,
    /// Rule labels (templates, unexpanded).
    pub labels: BTreeMap<String, String>,
    /// Annotation templates (alerting rules).
    pub annotations: BTreeMap<String, String>,
    /// Current alerts (alerting rules).
    pub alerts: Vec<ActiveAlert>,
}

/// A group as `/api/v1/rules` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// File it came from.
    pub file: String,
    /// Interval (seconds).
    pub interval_seconds: f64,
    /// The group's `limit` (0: none).
    pub limit: u64,
    /// Last evaluation time (ms).
    pub last_evaluation: Option<Timestamp>,
    /// Duration of the last evaluation (seconds).
    pub evaluation_seconds: f64,
    /// Iterations skipped because evaluation fell behind.
    pub iterations_missed: u64,
    /// Iterations run.
    pub iterations: u64,
    /// The `source:` URL (without credentials) the group's queries run at (`None`: local).
    pub source: Option<String>,
    /// Rules in order.
    pub rules: Vec<RuleStatus>,
}

/// A group's counters, for alertd's own metrics (cheaper than [`Manager::status`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    /// `<file>;<group>`, Prometheus's `rule_group` label value.
    pub rule_group: String,
    /// Interval (seconds).
    pub interval_seconds: f64,
    /// Rules in the group.
    pub rules: usize,
    /// Last evaluation time (ms).
    pub last_evaluation: Option<Timestamp>,
    /// Duration of the last evaluation (seconds).
    pub last_duration_seconds: f64,
    /// Evaluation time summed over every iteration (seconds).
    pub duration_seconds_total: f64,
    /// Iterations run.
    pub iterations: u64,
    /// Iterations skipped because evaluation fell behind.
    pub iterations_missed: u64,
    /// Rule evaluations run.
    pub rule_evaluations: u64,
    /// Rule evaluations that failed.
    pub rule_failures: u64,
    /// For a group with a `source:`, whether every query of its last iteration was answered
    /// (`None`: a local group, or not evaluated yet).
    pub source_up: Option<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Some rule file is invalid; the old rules keep running.
    #[error("invalid rule files: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Rules(Vec<crate::rules::RuleError>),
    /// Restoring alert state failed.
    #[error(transparent)]
    Storage(model::storage::StorageError),
}

/// One running group: its state, locked by its evaluation (a source group's for as long as
/// its queries take), and what readers see of it.
struct Slot {
    /// The group's file and name (never change).
    key: (std::path::PathBuf, String),
    state: Mutex<GroupState>,
    /// A source group's status and counters as of its last evaluation, published by it (and
    /// when the group starts), so that `/api/v1/rules`, `/api/v1/alerts` and `/metrics` never
    /// wait for its queries. `None` for a local group: its evaluation holds the lock briefly,
    /// so readers take the snapshot themselves and the rule round does no extra work.
    published: Option<Mutex<Arc<(GroupStatus, GroupStats)>>>,
}

impl Slot {
    fn new(gs: GroupState) -> Self {
        let published = gs
            .group
            .source
            .is_some()
            .then(|| Mutex::new(Arc::new(snapshot(&gs))));
        Slot {
            key: (gs.group.file.clone(), gs.group.name.clone()),
            state: Mutex::new(gs),
            published,
        }
    }

    /// Makes `gs` (this slot's state, locked by the caller) what readers of a source group see.
    fn publish(&self, gs: &GroupState) {
        if let Some(p) = &self.published {
            *lock(p) = Arc::new(snapshot(gs));
        }
    }

    fn seen(&self) -> Arc<(GroupStatus, GroupStats)> {
        match &self.published {
            Some(p) => lock(p).clone(),
            None => Arc::new(snapshot(&lock(&self.state))),
        }
    }
}

/// Runs rule groups.
pub struct Manager {
    ctx: EvalContext,
    clock: Arc<dyn Clock>,
    tx: AlertSender,
    groups: Vec<Arc<Slot>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager with no groups yet.
    pub fn new(ctx: EvalContext, clock: Arc<dyn Clock>, tx: AlertSender) -> Self {
        Manager {
            ctx,
            clock,
            tx,
            groups: Vec::new(),
            tasks: Vec::new(),
        }
    }

    /// Replaces the evaluation context (external labels and URL, default interval) that the
    /// groups take from the next [`Manager::apply`] on; returns the one it replaces.
    pub fn set_context(&mut self, ctx: EvalContext) -> EvalContext {
        std::mem::replace(&mut self.ctx, ctx)
    }

    /// Replaces the running groups with `rules` (first start or reload). Alert state of rules
    /// that still exist (same file, group, name and expression) is kept; on first start it is
    /// restored from the KV store. Must be called inside a tokio runtime.
    pub fn apply(&mut self, rules: RuleSet) -> Result<(), model::storage::StorageError> {
        let now = self.clock.now_ms();
        let first_start = self.groups.is_empty() && self.tasks.is_empty();
        let mut new_groups = Vec::with_capacity(rules.groups.len());
        for g in rules.groups {
            let mut gs = GroupState::new(g, self.ctx.clone());
            let old = self
                .groups
                .iter()
                .find(|o| o.key.0 == gs.group.file && o.key.1 == gs.group.name);
            match old {
                // Waits for an evaluation in progress: its result is carried over.
                Some(o) => gs.carry_over(&lock(&o.state)),
                None if first_start => gs.restore(now)?,
                None => {}
            }
            new_groups.push(Arc::new(Slot::new(gs)));
        }
        self.stop();
        self.groups = new_groups;
        for g in &self.groups {
            let task = tokio::spawn(run_group(g.clone(), self.clock.clone(), self.tx.clone()));
            self.tasks.push(task);
        }
        Ok(())
    }

    /// Loads `globs` and applies them only if every file is valid; otherwise the running rules
    /// stay untouched and the errors are returned (SIGHUP / `POST /-/reload`).
    pub fn reload<S: AsRef<str>>(
        &mut self,
        globs: &[S],
        base: Option<&std::path::Path>,
    ) -> Result<(), ReloadError> {
        let set = RuleSet::load_relative(globs, base).map_err(ReloadError::Rules)?;
        self.apply(set).map_err(ReloadError::Storage)
    }

    /// Stops every group's task (their state is kept for [`Manager::status`]).
    pub fn stop(&mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }

    /// Every group's counters as of its last evaluation (never waits for one in progress).
    pub fn stats(&self) -> Vec<GroupStats> {
        self.groups.iter().map(|g| g.seen().1.clone()).collect()
    }

    /// A snapshot of every group, rule and alert as of each group's last evaluation (never
    /// waits for one in progress, such as a source group's waiting for a slow source).
    pub fn status(&self) -> Vec<GroupStatus> {
        self.groups.iter().map(|g| g.seen().0.clone()).collect()
    }
}

/// What readers see of a group: its status and its counters.
fn snapshot(g: &GroupState) -> (GroupStatus, GroupStats) {
    let stats = GroupStats {
        rule_group: format!("{};{}", g.group.file.display(), g.group.name),
        interval_seconds: g.interval_ms() as f64 / 1000.0,
        rules: g.rules.len(),
        last_evaluation: g.last_evaluation,
        last_duration_seconds: g.evaluation_seconds,
        duration_seconds_total: g.evaluation_seconds_total,
        iterations: g.iterations,
        iterations_missed: g.iterations_missed,
        rule_evaluations: g.rule_evaluations,
        rule_failures: g.rule_failures,
        source_up: g.source_up,
    };
    let status = GroupStatus {
        name: g.group.name.clone(),
        file: g.group.file.display().to_string(),
        interval_seconds: g.interval_ms() as f64 / 1000.0,
        limit: g.group.limit,
        last_evaluation: g.last_evaluation,
        evaluation_seconds: g.evaluation_seconds,
        iterations_missed: g.iterations_missed,
        iterations: g.iterations,
        source: g.group.source.as_ref().map(|s| s.shown_url()),
        rules: g
            .rules
            .iter()
            .map(|r| {
                let (kind, dur, kff, ann) = match &r.rule.kind {
                    RuleKind::Alerting {
                        for_,
                        keep_firing_for,
                        annotations,
                    } => (
                        "alerting",
                        for_.as_secs_f64(),
                        keep_firing_for.as_secs_f64(),
                        annotations.clone(),
                    ),
                    RuleKind::Recording => ("recording", 0.0, 0.0, BTreeMap::new()),
                };
                RuleStatus {
                    name: r.rule.name.clone(),
                    query: r.rule.expr_text.clone(),
                    kind,
                    health: r.health,
                    last_error: r.last_error.clone(),
                    last_evaluation: r.last_evaluation,
                    evaluation_seconds: r.evaluation_seconds,
                    duration_seconds: dur,
                    keep_firing_for_seconds: kff,
                    labels: r.rule.labels.clone(),
                    annotations: ann,
                    alerts: r.active.values().cloned().collect(),
                }
            })
            .collect(),
    };
    (status, stats)
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where in its interval a group evaluates (ms after each multiple of the interval), as
/// Prometheus 2.42 places it (`Group.hash`, `Group.EvalTimestamp`): the xxHash64 of the label
/// set `{file="<file>", name="<name>"}` (Prometheus's `Labels.Hash`: each name and value
/// followed by a 0xff byte, names in order) modulo the interval in nanoseconds. Groups with the
/// same interval so start at different instants instead of all at once, and at the same
/// instants as in Prometheus for the same file path and group name.
pub fn group_offset_ms(file: &str, name: &str, interval_ms: i64) -> i64 {
    let Ok(interval_ns) = u64::try_from(interval_ms.saturating_mul(1_000_000)) else {
        return 0;
    };
    if interval_ns == 0 {
        return 0;
    }
    let mut b = Vec::with_capacity(file.len() + name.len() + 12);
    for (n, v) in [("file", file), ("name", name)] {
        b.extend_from_slice(n.as_bytes());
        b.push(0xff);
        b.extend_from_slice(v.as_bytes());
        b.push(0xff);
    }
    let hash = twox_hash::XxHash64::oneshot(0, &b);
    // The interval is whole milliseconds, so the evaluation times in ms are the multiples of
    // the interval plus the offset's whole milliseconds (Prometheus truncates to ms too).
    i64::try_from((hash % interval_ns) / 1_000_000).unwrap_or(0)
}

/// The first evaluation time at or after `now`: a multiple of `interval` plus `offset`.
fn first_slot(now: Timestamp, interval: i64, offset: i64) -> Timestamp {
    let base = (now - offset).div_euclid(interval) * interval + offset;
    if base < now {
        base + interval
    } else {
        base
    }
}

async fn run_group(g: Arc<Slot>, clock: Arc<dyn Clock>, tx: AlertSender) {
    let (interval, offset, remote) = {
        let gs = lock(&g.state);
        let interval = gs.interval_ms().max(1);
        let file = gs.group.file.to_string_lossy();
        let remote = gs.group.source.is_some();
        (
            interval,
            group_offset_ms(&file, &gs.group.name, interval),
            remote,
        )
    };
    let now = clock.now_ms();
    // Evaluate at multiples of the interval plus the group's offset, as Prometheus aligns
    // iterations.
    let mut next = first_slot(now, interval, offset);
    loop {
        let now = clock.now_ms();
        if now < next {
            let wait = u64::try_from(next - now).unwrap_or(0).min(1000);
            tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            continue;
        }
        let missed = (now - next) / interval;
        let ts = next + missed * interval;
        let eval = {
            let g = g.clone();
            move || {
                let mut gs = lock(&g.state);
                if missed > 0 {
                    gs.iterations_missed += missed as u64;
                    tracing::warn!(group = %gs.group.name, missed, "rule group evaluation fell behind");
                }
                let alerts = gs.eval(ts);
                g.publish(&gs);
                alerts
            }
        };
        // A source group waits for answers over the network: on a thread that may block.
        let alerts = if remote {
            match tokio::task::spawn_blocking(eval).await {
                Ok(a) => a,
                Err(_) => return,
            }
        } else {
            eval()
        };
        if !alerts.is_empty() && tx.send(alerts).await.is_err() {
            return;
        }
        next = ts + interval;
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rule_file;
    use model::storage::{KvStore, MemStorage, SeriesStore};
    use model::{FakeClock, Labels, Sample};
    use std::path::Path;

    #[tokio::test(start_paused = true)]
    async fn alerts_flow_on_the_channel_in_virtual_time() {
        let store = Arc::new(MemStorage::new());
        let kv = Arc::new(MemStorage::new());
        // The group evaluates at its offset after each multiple of its interval: start there.
        let off = group_offset_ms("r.yml", "g", 15_000);
        let clock = FakeClock::new(600_000 + off);
        let up = Labels::from_pairs([("__name__", "up"), ("instance", "a")]);
        for t in (0..=900_000).step_by(15_000) {
            store.append(&[(up.clone(), Sample::new(t, 0.0))]).unwrap();
        }
        let text = "groups:\n  - name: g\n    interval: 15s\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 30s\n      - record: r\n        expr: up + 1\n";
        let set = RuleSet {
            groups: parse_rule_file(Path::new("r.yml"), text).unwrap(),
        };
        let mut ctx = EvalContext::new(store.clone());
        ctx.kv = Some(kv.clone() as Arc<dyn KvStore>);
        let (tx, mut rx) = mpsc::channel(16);
        let mut m = Manager::new(ctx, Arc::new(clock.clone()), tx);
        m.apply(set.clone()).unwrap();
        // first eval at 600s (+ the offset): pending only, nothing sent
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert!(rx.try_recv().is_err());
        assert_eq!(
            m.status()[0].rules[0].alerts[0].state,
            model::AlertState::Pending
        );
        // 30s later it fires
        clock.advance_ms(15_000);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        clock.advance_ms(15_000);
        let alerts = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(alerts[0].labels.get("alertname"), Some("Down"));
        assert_eq!(alerts[0].starts_at, 630_000 + off);
        // jump 2 minutes: iterations are counted as missed
        clock.advance_ms(120_000);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let st = m.status();
        assert_eq!(st[0].iterations_missed, 7, "{st:?}");
        let stats = m.stats();
        assert_eq!(stats[0].rule_group, "r.yml;g");
        assert_eq!(stats[0].rules, 2);
        assert_eq!(stats[0].rule_evaluations, 2 * stats[0].iterations);
        assert_eq!(stats[0].rule_failures, 0);
        assert!(stats[0].duration_seconds_total >= stats[0].last_duration_seconds);
        assert_eq!(st[0].rules[1].health, RuleHealth::Ok);
        // reload keeps the firing alert, and the counters
        m.apply(set).unwrap();
        assert_eq!(m.stats()[0].rule_evaluations, stats[0].rule_evaluations);
        let st = m.status();
        assert_eq!(st[0].rules[0].alerts[0].state, model::AlertState::Firing);
        assert_eq!(st[0].rules[0].alerts[0].active_at, 600_000 + off);
        // a reload with an invalid file keeps the running rules
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("bad.yml"),
            "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up ==\n",
        )
        .unwrap();
        let e = m.reload(&["bad.yml"], Some(d.path())).unwrap_err();
        assert!(e.to_string().contains("bad.yml:5:15"), "{e}");
        assert_eq!(m.status()[0].rules[0].name, "Down");
        // recorded series exist
        assert!(!store
            .select(&["__name__=\"r\"".parse().unwrap()], 0, i64::MAX)
            .unwrap()
            .is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn groups_with_the_same_interval_evaluate_at_their_own_offsets() {
        let file = "/etc/alertd/rules.yml";
        let text = "groups:\n  - name: a\n    interval: 1m\n    rules:\n      - record: ra\n        expr: vector(1)\n  - name: b\n    interval: 1m\n    rules:\n      - record: rb\n        expr: vector(1)\n";
        let set = RuleSet {
            groups: parse_rule_file(Path::new(file), text).unwrap(),
        };
        let offsets = [
            group_offset_ms(file, "a", 60_000),
            group_offset_ms(file, "b", 60_000),
        ];
        assert_ne!(offsets[0], offsets[1], "the two groups start apart");
        assert!(offsets.iter().all(|o| (0..60_000).contains(o)));
        // The same group in another file, or with another interval, lands elsewhere.
        assert_ne!(group_offset_ms("/other.yml", "a", 60_000), offsets[0]);
        assert_ne!(group_offset_ms(file, "a", 3_600_000), offsets[0]);

        let store = Arc::new(MemStorage::new());
        let start = 6_000_000; // a multiple of the interval
        let clock = FakeClock::new(start);
        let (tx, _rx) = mpsc::channel(16);
        let mut m = Manager::new(EvalContext::new(store.clone()), Arc::new(clock.clone()), tx);
        m.apply(set).unwrap();
        for _ in 0..150 {
            tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            clock.advance_ms(1000);
        }
        tokio::time::sleep(std::time::Duration::from_millis(3000)).await;
        let end = clock.now_ms();
        for (metric, off) in [("ra", offsets[0]), ("rb", offsets[1])] {
            let got: Vec<i64> = store
                .select(
                    &[format!("__name__=\"{metric}\"").parse().unwrap()],
                    0,
                    i64::MAX,
                )
                .unwrap()
                .remove(0)
                .samples
                .iter()
                .map(|s| s.t)
                .collect();
            let want: Vec<i64> = (0..)
                .map(|k| start + off + k * 60_000)
                .take_while(|t| *t <= end)
                .collect();
            assert!(want.len() >= 2);
            assert_eq!(
                got, want,
                "{metric}: evaluated at the offset in every interval"
            );
        }
        // Started in the middle of an interval, a group waits for its next slot.
        assert_eq!(first_slot(start + 1, 60_000, 0), start + 60_000);
        assert_eq!(first_slot(start + 1, 60_000, 1), start + 1);
        assert_eq!(first_slot(start + 2, 60_000, 1), start + 60_001);
    }

    /// Issue 19: a source group evaluates holding its state while its queries wait for the
    /// source; `/api/v1/rules` (`status`) and `/metrics` (`stats`) read what the last
    /// evaluation published instead, so a source that never answers does not hold them up.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn readers_do_not_wait_for_a_source_group_that_hangs() {
        use crate::source::{QuerySource, SourceConfig, SourceError};
        use std::sync::mpsc as smpsc;
        use std::time::Duration as StdDuration;

        /// Blocks every query until released; says when the first one arrived.
        #[derive(Debug)]
        struct Hanging {
            entered: Mutex<Option<smpsc::Sender<()>>>,
            release: Mutex<smpsc::Receiver<()>>,
        }
        impl QuerySource for Hanging {
            fn instant_query(
                &self,
                _expr: &str,
                _ts: Timestamp,
            ) -> Result<crate::promql::Value, SourceError> {
                if let Some(tx) = lock(&self.entered).take() {
                    let _ = tx.send(());
                }
                let _ = lock(&self.release).recv();
                Err(SourceError::Request {
                    url: "http://vm:8428".into(),
                    message: "timed out".into(),
                })
            }
        }

        let text = "groups:\n  - name: fleet\n    interval: 1m\n    source: { url: 'http://vm:8428' }\n    rules:\n      - alert: Down\n        expr: up == 0\n";
        let set = RuleSet {
            groups: parse_rule_file(Path::new("f.yml"), text).unwrap(),
        };
        let (entered_tx, entered_rx) = smpsc::channel();
        let (release_tx, release_rx) = smpsc::channel();
        let src: Arc<dyn QuerySource> = Arc::new(Hanging {
            entered: Mutex::new(Some(entered_tx)),
            release: Mutex::new(release_rx),
        });
        let mut ctx = EvalContext::new(Arc::new(MemStorage::new()));
        ctx.sources = Some(Arc::new(move |_: &SourceConfig| Ok(src.clone())));
        // Start at the group's slot: it evaluates at once.
        let clock = FakeClock::new(60_000 * 100 + group_offset_ms("f.yml", "fleet", 60_000));
        let (tx, _rx) = mpsc::channel(16);
        let mut m = Manager::new(ctx, Arc::new(clock), tx);
        m.apply(set).unwrap();
        // The group is inside its evaluation, waiting for the source.
        entered_rx
            .recv_timeout(StdDuration::from_secs(30))
            .expect("the group queries its source");
        let (done_tx, done_rx) = smpsc::channel();
        let read = std::thread::scope(|s| {
            let m = &m;
            s.spawn(move || {
                let _ = done_tx.send((m.status(), m.stats()));
            });
            // A bound on failure only: the readers either answer at once or wait for the
            // release below (the state the evaluation holds).
            let read = done_rx.recv_timeout(StdDuration::from_secs(10));
            let _ = release_tx.send(());
            read
        });
        let (status, stats) = read.expect("status and stats answer while the source hangs");
        assert_eq!(status[0].name, "fleet");
        assert_eq!(status[0].source.as_deref(), Some("http://vm:8428"));
        assert_eq!(
            status[0].last_evaluation, None,
            "before the first evaluation"
        );
        assert_eq!(stats[0].source_up, None);
        // Released, the evaluation ends (failed) and is published.
        let mut after = m.stats();
        for _ in 0..300 {
            if after[0].source_up.is_some() {
                break;
            }
            tokio::time::sleep(StdDuration::from_millis(10)).await;
            after = m.stats();
        }
        assert_eq!(after[0].source_up, Some(false));
        assert_eq!(m.status()[0].rules[0].health, RuleHealth::Err);
    }
}
