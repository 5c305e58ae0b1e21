//! The scheduler: one tokio task per target, firing at its interval measured start-to-start
//! (a monotonic `tokio::time::interval`, so runs never drift), phase-shifted by a hash of the
//! target's key so that targets with the same interval spread over it; a global semaphore bounds
//! how many runs are in flight; each run has its own timeout, so a hanging target only ever
//! delays itself. Results go through a channel to one writer that appends them in batches.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use model::storage::SeriesStore;
use model::{Clock, Labels, Sample, Timestamp};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::probe::{Failure, FailureKind, Outcome, Task};

/// Identifies a scheduled target: a probe by name, or one scrape target of a job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetKey {
    /// A probe, by its name.
    Probe(String),
    /// A scrape target: job name and `host:port`.
    Scrape {
        /// The job.
        job: String,
        /// The target.
        instance: String,
    },
}

impl std::fmt::Display for TargetKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetKey::Probe(n) => write!(f, "probe {n}"),
            TargetKey::Scrape { job, instance } => write!(f, "scrape {job}/{instance}"),
        }
    }
}

/// What a target's last run found, for the status page and notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetStatus {
    /// The target.
    pub key: TargetKey,
    /// Probe kind (`http`, `tls`, `disk`, `postgres`, `mysql`) or `scrape`.
    pub kind: &'static str,
    /// Start of the last finished run (ms), if any ran yet.
    pub last_run: Option<Timestamp>,
    /// How long the last run took, in seconds.
    pub last_duration_seconds: f64,
    /// Whether the last run succeeded (`None` before the first run).
    pub success: Option<bool>,
    /// Why the last run failed: a short kind (`timeout`, `dns`, `refused`, `tls`, `status`,
    /// `body`, ...).
    pub failure_kind: Option<FailureKind>,
    /// Why the last run failed, in words (never contains a secret).
    pub last_error: Option<String>,
    /// Number of consecutive failed runs.
    pub consecutive_failures: u64,
}

/// Counters of one kind of target's runs (`http`, `tls`, `disk`, `postgres`, `mysql`, `scrape`),
/// for alertd's own metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunStats {
    /// Runs finished.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Runs skipped because no run slot was free for a whole interval.
    pub skipped: u64,
    /// Time spent in runs, summed (seconds).
    pub duration_seconds_total: f64,
}

/// The run counters of every kind of target, shared with the running targets; cloning shares.
#[derive(Debug, Clone, Default)]
pub struct RunCounters(Arc<Mutex<std::collections::BTreeMap<&'static str, RunStats>>>);

impl RunCounters {
    /// The counters by kind, sorted by kind.
    pub fn snapshot(&self) -> Vec<(&'static str, RunStats)> {
        lock(&self.0).iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn update(&self, kind: &'static str, f: impl FnOnce(&mut RunStats)) {
        f(lock(&self.0).entry(kind).or_default());
    }
}

/// Scheduler tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Runs in flight at most, over all targets.
    pub max_concurrency: usize,
    /// Results appended to the store in one call at most.
    pub max_batch: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_concurrency: 512,
            max_batch: 256,
        }
    }
}

/// A scheduled unit of work and how it runs: its spec decides whether a reload restarts it.
pub(crate) struct Spec {
    pub key: TargetKey,
    /// Compared on reload: equal specs keep running untouched.
    pub fingerprint: u64,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub task: Arc<Task>,
}

struct Running {
    fingerprint: u64,
    handle: JoinHandle<()>,
    /// Series the target wrote on its last run, to end them with staleness markers.
    last_series: Arc<Mutex<Vec<Labels>>>,
}

struct Result_ {
    batch: Vec<(Labels, Sample)>,
    /// Answered once this batch (and everything sent before it) is appended: how a shutdown
    /// knows the writer has drained.
    done: Option<oneshot::Sender<()>>,
}

pub(crate) struct Scheduler {
    store: Arc<dyn SeriesStore>,
    clock: Arc<dyn Clock>,
    sem: Arc<Semaphore>,
    tx: mpsc::Sender<Result_>,
    running: Mutex<HashMap<TargetKey, Running>>,
    status: Arc<Mutex<HashMap<TargetKey, TargetStatus>>>,
    counters: RunCounters,
    writer: JoinHandle<()>,
}

/// How long the writer waits for more results before appending a batch.
const WRITE_LINGER: std::time::Duration = std::time::Duration::from_millis(20);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stable 64-bit hash of a spec's description (FNV-1a), compared on reload.
pub(crate) fn fingerprint(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The phase of `key` within `interval`: a stable hash, so a target keeps its slot across
/// restarts and reloads.
pub(crate) fn offset_ms(key: &TargetKey, interval_ms: u64) -> u64 {
    // FNV-1a: stable across processes (std's hasher is randomly seeded).
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    key.hash(&mut h);
    h.finish() % interval_ms.max(1)
}

impl Scheduler {
    pub(crate) fn new(store: Arc<dyn SeriesStore>, clock: Arc<dyn Clock>, opts: Options) -> Self {
        let (tx, rx) = mpsc::channel::<Result_>(opts.max_batch.max(1) * 4);
        let writer = tokio::spawn(writer(store.clone(), rx, opts.max_batch.max(1)));
        Scheduler {
            store,
            clock,
            sem: Arc::new(Semaphore::new(opts.max_concurrency.max(1))),
            tx,
            running: Mutex::new(HashMap::new()),
            status: Arc::new(Mutex::new(HashMap::new())),
            counters: RunCounters::default(),
            writer,
        }
    }

    /// Makes the running set equal to `specs`: starts new ones, restarts changed ones, stops
    /// removed ones (ending their series with staleness markers); unchanged ones keep running.
    /// Returns (started, restarted, stopped).
    pub(crate) fn reconcile(&self, specs: Vec<Spec>) -> (usize, usize, usize) {
        let mut running = lock(&self.running);
        let wanted: HashSet<TargetKey> = specs.iter().map(|s| s.key.clone()).collect();
        let mut stopped = 0;
        let removed: Vec<TargetKey> = running
            .keys()
            .filter(|k| !wanted.contains(k))
            .cloned()
            .collect();
        for k in removed {
            if let Some(r) = running.remove(&k) {
                self.stop(r);
                lock(&self.status).remove(&k);
                stopped += 1;
            }
        }
        let (mut started, mut restarted) = (0, 0);
        for spec in specs {
            if let Some(r) = running.get(&spec.key) {
                if r.fingerprint == spec.fingerprint && !r.handle.is_finished() {
                    continue;
                }
                if let Some(old) = running.remove(&spec.key) {
                    old.handle.abort();
                    // The new run takes over the old one's series for staleness tracking.
                    let last = std::mem::take(&mut *lock(&old.last_series));
                    let r = self.spawn(spec, last);
                    running.insert(r.0, r.1);
                    restarted += 1;
                }
            } else {
                let r = self.spawn(spec, Vec::new());
                running.insert(r.0, r.1);
                started += 1;
            }
        }
        (started, restarted, stopped)
    }

    fn stop(&self, r: Running) {
        r.handle.abort();
        let now = self.clock.now_ms();
        let batch: Vec<(Labels, Sample)> = lock(&r.last_series)
            .drain(..)
            .map(|l| (l, Sample::stale(now)))
            .collect();
        if !batch.is_empty() {
            // Best effort: a full channel means the writer is far behind; write directly.
            if let Err(
                mpsc::error::TrySendError::Full(res) | mpsc::error::TrySendError::Closed(res),
            ) = self.tx.try_send(Result_ { batch, done: None })
            {
                if let Err(e) = self.store.append(&res.batch) {
                    tracing::warn!(error = %e, "collector: writing staleness markers failed");
                }
            }
        }
    }

    fn spawn(&self, spec: Spec, last: Vec<Labels>) -> (TargetKey, Running) {
        let last_series = Arc::new(Mutex::new(last));
        let key = spec.key.clone();
        lock(&self.status).insert(
            key.clone(),
            TargetStatus {
                key: key.clone(),
                kind: spec.task.kind_name(),
                last_run: None,
                last_duration_seconds: 0.0,
                success: None,
                failure_kind: None,
                last_error: None,
                consecutive_failures: 0,
            },
        );
        let fingerprint = spec.fingerprint;
        let ctx = RunCtx {
            clock: self.clock.clone(),
            sem: self.sem.clone(),
            tx: self.tx.clone(),
            status: self.status.clone(),
            counters: self.counters.clone(),
            last_series: last_series.clone(),
        };
        let handle = tokio::spawn(run_target(spec, ctx));
        (
            key,
            Running {
                fingerprint,
                handle,
                last_series,
            },
        )
    }

    pub(crate) fn status(&self) -> Vec<TargetStatus> {
        let mut v: Vec<TargetStatus> = lock(&self.status).values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    pub(crate) fn counters(&self) -> &RunCounters {
        &self.counters
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.running).len()
    }

    /// Stops every target (a run in progress is abandoned) and waits until the writer has
    /// appended every result sent before, at most `timeout`. Returns whether it drained.
    pub(crate) async fn shutdown(&self, timeout: std::time::Duration) -> bool {
        let handles: Vec<JoinHandle<()>> = lock(&self.running)
            .drain()
            .map(|(_, r)| {
                r.handle.abort();
                r.handle
            })
            .collect();
        for h in handles {
            let _ = h.await;
        }
        let (done, drained) = oneshot::channel();
        let flush = Result_ {
            batch: Vec::new(),
            done: Some(done),
        };
        tokio::time::timeout(timeout, async {
            self.tx.send(flush).await.is_ok() && drained.await.is_ok()
        })
        .await
        .unwrap_or(false)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        for r in lock(&self.running).values() {
            r.handle.abort();
        }
        self.writer.abort();
    }
}

struct RunCtx {
    clock: Arc<dyn Clock>,
    sem: Arc<Semaphore>,
    tx: mpsc::Sender<Result_>,
    status: Arc<Mutex<HashMap<TargetKey, TargetStatus>>>,
    counters: RunCounters,
    last_series: Arc<Mutex<Vec<Labels>>>,
}

/// Run timestamps within this of the previous one plus the interval are set to exactly that, as
/// Prometheus does since 2.21 (`--scrape.timestamp-tolerance`, 2 ms, at most 1 % of the
/// interval): regular timestamps cost the store one bit per sample instead of about two bytes.
const TIMESTAMP_TOLERANCE_MS: i64 = 2;

/// The timestamp of a run that started at `now`, after a run stamped `prev`.
fn aligned(prev: Option<Timestamp>, now: Timestamp, interval_ms: i64) -> Timestamp {
    let tolerance = TIMESTAMP_TOLERANCE_MS.min(interval_ms / 100);
    match prev {
        Some(p) if now.abs_diff(p.saturating_add(interval_ms)) <= tolerance as u64 => {
            p + interval_ms
        }
        _ => now,
    }
}

async fn run_target(spec: Spec, ctx: RunCtx) {
    let interval_ms = u64::try_from(spec.interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let now = u64::try_from(ctx.clock.now_ms()).unwrap_or(0);
    let phase = offset_ms(&spec.key, interval_ms);
    let delay = (phase + interval_ms - now % interval_ms) % interval_ms;
    let start = tokio::time::Instant::now() + std::time::Duration::from_millis(delay);
    let mut ticker = tokio::time::interval_at(start, spec.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut prev_t = None;
    loop {
        let tick = ticker.tick().await;
        // Waiting for a permit must not push a run past its slot: give up at the next one.
        let permit = match tokio::time::timeout_at(
            tick + spec.interval,
            ctx.sem.clone().acquire_owned(),
        )
        .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(_)) => return, // semaphore closed: shutting down
            Err(_) => {
                ctx.counters
                    .update(spec.task.kind_name(), |c| c.skipped += 1);
                tracing::warn!(target = %spec.key, "collector: no run slot free for a whole interval; run skipped");
                continue;
            }
        };
        let t = aligned(prev_t, ctx.clock.now_ms(), interval_ms as i64);
        prev_t = Some(t);
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + spec.timeout;
        // The task stops itself at the deadline where it can (keeping what it learned); this is
        // the backstop for those that cannot.
        let backstop = deadline + std::time::Duration::from_millis(100);
        let outcome = match tokio::time::timeout_at(backstop, spec.task.run(deadline)).await {
            Ok(o) => o,
            Err(_) => spec.task.failed(
                started.elapsed().as_secs_f64(),
                Failure::new(
                    FailureKind::Timeout,
                    format!("timed out after {:.3}s", spec.timeout.as_secs_f64()),
                ),
            ),
        };
        drop(permit);
        let elapsed = started.elapsed().as_secs_f64();
        let failed = outcome.failure.is_some();
        record(&spec, &ctx, t, elapsed, outcome).await;
        // Counted once its samples are on their way to the store: a run counted as finished
        // is one whose samples a shutdown still writes.
        ctx.counters.update(spec.task.kind_name(), |c| {
            c.runs += 1;
            c.failures += u64::from(failed);
            c.duration_seconds_total += elapsed;
        });
    }
}

async fn record(spec: &Spec, ctx: &RunCtx, t: Timestamp, elapsed: f64, outcome: Outcome) {
    let Outcome {
        series,
        explicit,
        failure,
    } = outcome;
    {
        let mut st = lock(&ctx.status);
        if let Some(s) = st.get_mut(&spec.key) {
            let was_ok = s.success;
            s.last_run = Some(t);
            s.last_duration_seconds = elapsed;
            s.success = Some(failure.is_none());
            match &failure {
                Some(f) => {
                    s.consecutive_failures += 1;
                    s.failure_kind = Some(f.kind);
                    s.last_error = Some(f.message.clone());
                    if was_ok != Some(false) {
                        tracing::warn!(target = %spec.key, reason = f.kind.as_str(), error = %f.message, "collector: target failed");
                    } else {
                        tracing::debug!(target = %spec.key, reason = f.kind.as_str(), error = %f.message, "collector: target still failing");
                    }
                }
                None => {
                    if was_ok == Some(false) {
                        tracing::info!(target = %spec.key, "collector: target recovered");
                    }
                    s.consecutive_failures = 0;
                    s.failure_kind = None;
                    s.last_error = None;
                }
            }
        }
    }
    let mut batch: Vec<(Labels, Sample)> = Vec::with_capacity(series.len() + explicit.len());
    {
        // Series written last time but not now end with a staleness marker, as in Prometheus.
        // Most runs produce the same series in the same order: check that cheaply first.
        let mut last = lock(&ctx.last_series);
        let same = last.len() == series.len() && last.iter().zip(&series).all(|(a, (b, _))| a == b);
        if !same {
            let now_labels: HashSet<&Labels> = series.iter().map(|(l, _)| l).collect();
            for l in last.iter() {
                if !now_labels.contains(l) {
                    batch.push((l.clone(), Sample::stale(t)));
                }
            }
            *last = series.iter().map(|(l, _)| l.clone()).collect();
        }
    }
    batch.extend(series.into_iter().map(|(l, v)| (l, Sample::new(t, v))));
    batch.extend(explicit);
    if ctx.tx.send(Result_ { batch, done: None }).await.is_err() {
        tracing::debug!("collector: writer gone, result dropped");
    }
}

async fn writer(store: Arc<dyn SeriesStore>, mut rx: mpsc::Receiver<Result_>, max: usize) {
    let mut buf = Vec::with_capacity(max);
    let multi_thread = tokio::runtime::Handle::current().runtime_flavor()
        == tokio::runtime::RuntimeFlavor::MultiThread;
    loop {
        buf.clear();
        if rx.recv_many(&mut buf, max).await == 0 {
            return;
        }
        // Linger briefly so that runs finishing close together share one append.
        if buf.len() < max {
            tokio::time::sleep(WRITE_LINGER).await;
            while buf.len() < max {
                match rx.try_recv() {
                    Ok(r) => buf.push(r),
                    Err(_) => break,
                }
            }
        }
        let mut done = Vec::new();
        let batch: Vec<(Labels, Sample)> = buf
            .drain(..)
            .flat_map(|r| {
                done.extend(r.done);
                r.batch
            })
            .collect();
        // The store may touch the disk: keep the runtime's other tasks running meanwhile.
        let res = if batch.is_empty() {
            Ok(())
        } else if multi_thread {
            tokio::task::block_in_place(|| store.append(&batch))
        } else {
            store.append(&batch)
        };
        if let Err(e) = res {
            tracing::error!(error = %e, "collector: appending to the store failed");
        }
        for d in done {
            let _ = d.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::TestTask;
    use model::storage::MemStorage;
    use std::time::Duration;
    use tokio::time::Instant as TInstant;

    type Starts = Arc<Mutex<Vec<TInstant>>>;

    /// Wall time that follows tokio's (paused) clock, so tests run in virtual time.
    #[derive(Debug)]
    struct TokioClock(TInstant);
    impl Clock for TokioClock {
        fn now_ms(&self) -> Timestamp {
            1_700_000_000_000 + i64::try_from(self.0.elapsed().as_millis()).unwrap_or(0)
        }
    }
    fn clock() -> Arc<dyn Clock> {
        Arc::new(TokioClock(TInstant::now()))
    }

    fn spec(name: &str, interval_ms: u64, sleep_ms: u64, starts: &Starts) -> Spec {
        Spec {
            key: TargetKey::Probe(name.to_string()),
            fingerprint: fingerprint(&format!("{name}{interval_ms}{sleep_ms}")),
            interval: Duration::from_millis(interval_ms),
            timeout: Duration::from_millis(interval_ms),
            task: Arc::new(Task::Test(TestTask {
                base: Labels::from_pairs([("probe", name)]),
                starts: starts.clone(),
                sleep: Duration::from_millis(sleep_ms),
            })),
        }
    }

    #[test]
    fn run_timestamps_are_aligned_within_the_tolerance() {
        // 1 s interval: within 2 ms of the expected time, the expected time.
        assert_eq!(aligned(None, 10_003, 1000), 10_003);
        assert_eq!(aligned(Some(10_003), 11_005, 1000), 11_003);
        assert_eq!(aligned(Some(10_003), 11_001, 1000), 11_003);
        assert_eq!(aligned(Some(10_003), 11_006, 1000), 11_006);
        assert_eq!(aligned(Some(10_003), 10_999, 1000), 10_999);
        // A skipped run: no alignment to a slot that did not run.
        assert_eq!(aligned(Some(10_003), 12_003, 1000), 12_003);
        // Short intervals: at most 1 % of the interval.
        assert_eq!(aligned(Some(1000), 1101, 100), 1100);
        assert_eq!(aligned(Some(1000), 1102, 100), 1102);
        assert_eq!(aligned(Some(1000), 1201, 200), 1200);
        assert_eq!(aligned(Some(1000), 1202, 200), 1200);
        assert_eq!(aligned(Some(1000), 1051, 50), 1051);
    }

    #[test]
    fn offsets_are_stable_and_spread() {
        let k = |i: usize| TargetKey::Probe(format!("t{i}"));
        assert_eq!(offset_ms(&k(1), 15_000), offset_ms(&k(1), 15_000));
        let offs: Vec<u64> = (0..1000).map(|i| offset_ms(&k(i), 15_000)).collect();
        assert!(offs.iter().all(|o| *o < 15_000));
        // Spread: every 1.5 s bucket of the interval gets some targets.
        for b in 0..10 {
            let n = offs.iter().filter(|o| **o / 1500 == b).count();
            assert!((50..=150).contains(&n), "bucket {b} has {n}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn runs_start_to_start_without_drift() {
        let store = Arc::new(MemStorage::new());
        let s = Scheduler::new(store, clock(), Options::default());
        let starts: Starts = Arc::default();
        // Each run takes 40 ms of a 100 ms interval: starts must stay on the 100 ms grid.
        s.reconcile(vec![spec("a", 100, 40, &starts)]);
        tokio::time::sleep(Duration::from_millis(1250)).await;
        let v = lock(&starts).clone();
        assert!(v.len() >= 10, "only {} runs", v.len());
        for (i, t) in v.iter().enumerate() {
            let ideal = v[0] + Duration::from_millis(100 * i as u64);
            let drift = if *t > ideal { *t - ideal } else { ideal - *t };
            assert!(
                drift < Duration::from_millis(2),
                "run {i} drifted {drift:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_is_bounded() {
        let store = Arc::new(MemStorage::new());
        let opts = Options {
            max_concurrency: 1,
            ..Options::default()
        };
        let s = Scheduler::new(store, clock(), opts);
        let starts: Starts = Arc::default();
        s.reconcile(vec![
            spec("a", 2000, 200, &starts),
            spec("b", 2000, 200, &starts),
            spec("c", 2000, 200, &starts),
        ]);
        tokio::time::sleep(Duration::from_millis(2700)).await;
        let mut v = lock(&starts).clone();
        v.sort();
        assert!(v.len() >= 3, "{} runs", v.len());
        for w in v.windows(2) {
            assert!(
                w[1] - w[0] >= Duration::from_millis(195),
                "overlapping runs: {:?}",
                w[1] - w[0]
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_writes_every_counted_run() {
        let store = Arc::new(MemStorage::new());
        let s = Scheduler::new(store.clone(), clock(), Options::default());
        let starts: Starts = Arc::default();
        s.reconcile(vec![spec("a", 100, 0, &starts)]);
        // Stop right after the fifth run finished: its result is still in the writer's linger.
        while lock(&starts).len() < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(s.shutdown(Duration::from_secs(1)).await);
        let runs = s.counters().snapshot()[0].1.runs;
        assert_eq!(runs, 5);
        let a = store
            .select(&["probe=\"a\"".parse().unwrap()], 0, i64::MAX)
            .unwrap();
        assert_eq!(
            a[0].samples.len() as u64,
            runs,
            "every counted run is stored"
        );
        // Stopped: no run after the shutdown.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(lock(&starts).len(), 5);
    }

    #[tokio::test(start_paused = true)]
    async fn results_are_written_and_removed_targets_go_stale() {
        let store = Arc::new(MemStorage::new());
        let s = Scheduler::new(store.clone(), clock(), Options::default());
        let starts: Starts = Arc::default();
        assert_eq!(
            s.reconcile(vec![spec("a", 100, 0, &starts), spec("b", 100, 0, &starts)]),
            (2, 0, 0)
        );
        tokio::time::sleep(Duration::from_millis(350)).await;
        // Same specs: nothing restarts.
        assert_eq!(
            s.reconcile(vec![spec("a", 100, 0, &starts), spec("b", 100, 0, &starts)]),
            (0, 0, 0)
        );
        assert_eq!(s.reconcile(vec![spec("a", 100, 0, &starts)]), (0, 0, 1));
        tokio::time::sleep(Duration::from_millis(150)).await;
        let b = store
            .select(&["probe=\"b\"".parse().unwrap()], 0, i64::MAX)
            .unwrap();
        let last = b[0].samples.last().unwrap();
        assert!(
            last.is_stale(),
            "removed target ends with a staleness marker"
        );
        let a = store
            .select(&["probe=\"a\"".parse().unwrap()], 0, i64::MAX)
            .unwrap();
        assert!(a[0].samples.len() >= 3);
        assert!(!a[0].samples.last().unwrap().is_stale());
        assert_eq!(s.status().len(), 1);
        assert_eq!(s.status()[0].success, Some(true));
        // Every run of both targets is counted under their kind.
        let c = s.counters().snapshot();
        assert_eq!(c.len(), 1, "{c:?}");
        assert!(c[0].1.runs as usize > a[0].samples.len(), "{c:?}");
        assert_eq!((c[0].1.failures, c[0].1.skipped), (0, 0));
    }
}
