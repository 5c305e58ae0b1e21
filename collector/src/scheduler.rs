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
use tokio::sync::{mpsc, Semaphore};
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
    pub fingerprint: String,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
    pub task: Arc<Task>,
}

struct Running {
    fingerprint: String,
    handle: JoinHandle<()>,
    /// Series the target wrote on its last run, to end them with staleness markers.
    last_series: Arc<Mutex<Vec<Labels>>>,
}

struct Result_ {
    batch: Vec<(Labels, Sample)>,
}

pub(crate) struct Scheduler {
    store: Arc<dyn SeriesStore>,
    clock: Arc<dyn Clock>,
    sem: Arc<Semaphore>,
    tx: mpsc::Sender<Result_>,
    running: Mutex<HashMap<TargetKey, Running>>,
    status: Arc<Mutex<HashMap<TargetKey, TargetStatus>>>,
    writer: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
            ) = self.tx.try_send(Result_ { batch })
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
        let fingerprint = spec.fingerprint.clone();
        let ctx = RunCtx {
            clock: self.clock.clone(),
            sem: self.sem.clone(),
            tx: self.tx.clone(),
            status: self.status.clone(),
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

    pub(crate) fn len(&self) -> usize {
        lock(&self.running).len()
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
    last_series: Arc<Mutex<Vec<Labels>>>,
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
                tracing::warn!(target = %spec.key, "collector: no run slot free for a whole interval; run skipped");
                continue;
            }
        };
        let t = ctx.clock.now_ms();
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
        record(&spec, &ctx, t, elapsed, outcome).await;
    }
}

async fn record(spec: &Spec, ctx: &RunCtx, t: Timestamp, elapsed: f64, outcome: Outcome) {
    let Outcome { series, failure } = outcome;
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
    let mut batch: Vec<(Labels, Sample)> = Vec::with_capacity(series.len() + 2);
    let now_labels: HashSet<&Labels> = series.iter().map(|(l, _)| l).collect();
    {
        // Series written last time but not now end with a staleness marker, as in Prometheus.
        let mut last = lock(&ctx.last_series);
        for l in last.iter() {
            if !now_labels.contains(l) {
                batch.push((l.clone(), Sample::stale(t)));
            }
        }
        *last = series.iter().map(|(l, _)| l.clone()).collect();
    }
    batch.extend(series.into_iter().map(|(l, v)| (l, Sample::new(t, v))));
    if ctx.tx.send(Result_ { batch }).await.is_err() {
        tracing::debug!("collector: writer gone, result dropped");
    }
}

async fn writer(store: Arc<dyn SeriesStore>, mut rx: mpsc::Receiver<Result_>, max: usize) {
    let mut buf = Vec::with_capacity(max);
    loop {
        buf.clear();
        if rx.recv_many(&mut buf, max).await == 0 {
            return;
        }
        let batch: Vec<(Labels, Sample)> = buf.drain(..).flat_map(|r| r.batch).collect();
        let store = store.clone();
        let res = tokio::task::spawn_blocking(move || store.append(&batch)).await;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "collector: appending to the store failed"),
            Err(e) => tracing::error!(error = %e, "collector: store writer panicked"),
        }
    }
}
