//! One `remote_write` queue: the log reader thread and the sender task.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use model::Labels;
use store::{Store, WalEntry, WalPosition, WalRead};
use tokio::sync::{mpsc, watch};

use crate::config::RemoteWriteConfig;
use crate::proto;
use crate::relabel::{self, Relabel};

/// Why a queue could not start.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The HTTP client could not be built (a secret or CA file unreadable, a bad proxy URL).
    #[error("remote_write {name}: {message}")]
    Client {
        /// The queue.
        name: String,
        /// What failed.
        message: String,
    },
    /// The store refused the queue's hold.
    #[error("remote_write {name}: {source}")]
    Store {
        /// The queue.
        name: String,
        /// The store's error.
        source: store::StoreError,
    },
    /// The reader thread could not be started.
    #[error("remote_write {name}: starting its thread: {source}")]
    Thread {
        /// The queue.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A queue's counters (Prometheus's `prometheus_remote_storage_*`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    /// The queue's name.
    pub name: String,
    /// The receiver's URL.
    pub url: String,
    /// Samples read from the log and not yet sent (or given up).
    pub samples_pending: u64,
    /// Samples the receiver accepted.
    pub samples_sent: u64,
    /// Samples the receiver refused for good (4xx; 429 without `retry_on_http_429`).
    pub samples_failed: u64,
    /// Samples sent again after a failed request.
    pub samples_retried: u64,
    /// Samples not sent because relabelling dropped their series, or their series was unknown.
    pub samples_dropped: u64,
    /// Compressed request bytes the receiver accepted.
    pub bytes_sent: u64,
    /// The newest sample time (ms) the receiver accepted; 0 before the first.
    pub highest_sent_timestamp_ms: i64,
    /// Log segments deleted before the queue read them (the store's hold limit).
    pub wal_segments_skipped: u64,
    /// Whether the last request failed (the receiver is down or refusing).
    pub failing: bool,
    /// The last request's error, while failing.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    pending: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    dropped: AtomicU64,
    bytes: AtomicU64,
    highest: AtomicI64,
    skipped_segments: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A series as sent: its labels on the wire and a hash for sharding.
#[derive(Debug)]
struct SeriesRef {
    labels: Vec<proto::Label>,
    hash: u64,
}

/// Samples read from the log up to `end`.
struct Round {
    samples: Vec<(Arc<SeriesRef>, i64, f64)>,
    end: WalPosition,
}

/// A running queue. Stop it with [`Queue::stop`].
#[derive(Debug)]
pub struct Queue {
    name: String,
    url: String,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    stop_tx: watch::Sender<bool>,
    reader: Option<std::thread::JoinHandle<()>>,
    sender: Option<tokio::task::JoinHandle<()>>,
}

fn inflight_name(name: &str) -> String {
    format!("{name}\0inflight")
}

/// The names under which a queue called `name` holds the store's log (for removing the holds
/// of queues no longer configured).
pub fn hold_names(name: &str) -> [String; 2] {
    [name.to_string(), inflight_name(name)]
}

/// Checks that a queue of `cfg` can start (its secret, CA and certificate files are readable,
/// its HTTP client builds) without starting it: the reload path checks every stage before it
/// applies any.
pub fn check(cfg: &RemoteWriteConfig) -> Result<(), RemoteError> {
    build_client(cfg)
        .map(|_| ())
        .map_err(|message| RemoteError::Client {
            name: cfg.queue_name(),
            message,
        })
}

impl Queue {
    /// Starts the queue on the current tokio runtime: from its persisted place in the log, or
    /// from the log's oldest segment when it has none. `external_labels` are added to every
    /// series that lacks them, before `write_relabel_configs`.
    pub fn start(
        store: Store,
        cfg: &RemoteWriteConfig,
        external_labels: &Labels,
    ) -> Result<Queue, RemoteError> {
        let name = cfg.queue_name();
        let client = build_client(cfg).map_err(|message| RemoteError::Client {
            name: name.clone(),
            message,
        })?;
        let store_err = |source| RemoteError::Store {
            name: name.clone(),
            source,
        };
        let start = match store.wal_hold(&name) {
            Some(p) => p,
            None => {
                let p = store.wal_oldest().map_err(store_err)?;
                store.set_wal_hold(&name, p).map_err(store_err)?;
                p
            }
        };
        // A round that was in flight when the process stopped is read again exactly as it was
        // (so a receiver that already took part of it sees only repeats in those requests).
        let first_end = store.wal_hold(&inflight_name(&name)).filter(|e| *e > start);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (tx, rx) = mpsc::channel::<Round>(1);
        let q = cfg.queue_config.clone();
        let reader = {
            let store = store.clone();
            let counters = counters.clone();
            let stop = stop.clone();
            let steps = Relabel::compile(&cfg.write_relabel_configs);
            let external = external_labels.clone();
            let deadline = q.batch_send_deadline.to_std();
            std::thread::Builder::new()
                .name(format!("remote-write-{name}"))
                .spawn(move || {
                    read_loop(ReadCtx {
                        store,
                        reader_from: start,
                        first_end,
                        steps,
                        external,
                        capacity: q.capacity,
                        deadline,
                        tx,
                        stop,
                        counters,
                    })
                })
                .map_err(|source| RemoteError::Thread {
                    name: name.clone(),
                    source,
                })?
        };
        let sender = tokio::spawn(send_loop(SendCtx {
            store,
            sender: Sender {
                name: name.clone(),
                client,
                headers: headers(cfg),
                url: cfg.url.clone(),
                queue: cfg.queue_config.clone(),
                counters: counters.clone(),
                stop: stop_rx,
            },
            rx,
        }));
        // Shown in metrics and on the status page: without credentials.
        let shown = reqwest::Url::parse(&cfg.url).map_or_else(
            |_| cfg.url.clone(),
            |mut u| {
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.to_string()
            },
        );
        tracing::info!(queue = %name, url = %shown, from_segment = start.segment, "remote_write queue started");
        Ok(Queue {
            name,
            url: shown,
            counters,
            stop,
            stop_tx,
            reader: Some(reader),
            sender: Some(sender),
        })
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's counters now.
    pub fn stats(&self) -> QueueStats {
        let c = &self.counters;
        let last_error = c
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        QueueStats {
            name: self.name.clone(),
            url: self.url.clone(),
            samples_pending: c.pending.load(Ordering::Relaxed),
            samples_sent: c.sent.load(Ordering::Relaxed),
            samples_failed: c.failed.load(Ordering::Relaxed),
            samples_retried: c.retried.load(Ordering::Relaxed),
            samples_dropped: c.dropped.load(Ordering::Relaxed),
            bytes_sent: c.bytes.load(Ordering::Relaxed),
            highest_sent_timestamp_ms: c.highest.load(Ordering::Relaxed),
            wal_segments_skipped: c.skipped_segments.load(Ordering::Relaxed),
            failing: last_error.is_some(),
            last_error,
        }
    }

    /// Stops the queue: a request in flight is abandoned (its round is sent again after the
    /// next start), the reader thread ends.
    pub async fn stop(mut self) {
        self.halt();
        if let Some(s) = self.sender.take() {
            let _ = s.await;
        }
        if let Some(r) = self.reader.take() {
            let _ = tokio::task::spawn_blocking(move || r.join()).await;
        }
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.halt();
    }
}

struct ReadCtx {
    store: Store,
    reader_from: WalPosition,
    first_end: Option<WalPosition>,
    steps: Vec<Relabel>,
    external: Labels,
    capacity: usize,
    deadline: Duration,
    tx: mpsc::Sender<Round>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
}

/// How long the reader sleeps when the log has nothing new.
const IDLE_POLL: Duration = Duration::from_millis(100);

fn series_ref(labels: &Labels, external: &Labels, steps: &[Relabel]) -> Option<Arc<SeriesRef>> {
    let mut l = labels.clone();
    for e in external.iter() {
        if l.get(&e.name).is_none() {
            l.set(e.name.clone(), e.value.clone());
        }
    }
    let l = relabel::process(&l, steps)?;
    let labels: Vec<proto::Label> = l
        .iter()
        .map(|x| proto::Label {
            name: x.name.clone(),
            value: x.value.clone(),
        })
        .collect();
    Some(Arc::new(SeriesRef {
        labels,
        hash: l.fingerprint().0,
    }))
}

fn read_loop(mut c: ReadCtx) {
    let mut reader = c.store.wal_reader(c.reader_from);
    // Per log id: the series as sent (`None`: relabelling dropped it, or it is unknown).
    let mut cache: HashMap<u64, Option<Arc<SeriesRef>>> = HashMap::new();
    let mut entries = Vec::new();
    let mut round = Vec::new();
    let mut since: Option<Instant> = None;
    let mut unknown_logged = false;
    loop {
        if c.stop.load(Ordering::Relaxed) {
            return;
        }
        let read = reader.next(&mut entries);
        c.counters
            .skipped_segments
            .store(reader.skipped_segments(), Ordering::Relaxed);
        let idle = match read {
            Ok(WalRead::Record) => {
                for e in entries.drain(..) {
                    match e {
                        WalEntry::Series(id, l) => {
                            cache.insert(id, series_ref(&l, &c.external, &c.steps));
                        }
                        WalEntry::Sample(id, s) => {
                            let r = cache.entry(id).or_insert_with(|| {
                                let l = c.store.series_labels(id);
                                if l.is_none() && !unknown_logged {
                                    unknown_logged = true;
                                    tracing::warn!(
                                        series_id = id,
                                        "remote_write: a sample of a series the store no longer \
                                         knows (dropped by retention) is not sent"
                                    );
                                }
                                l.and_then(|l| series_ref(&l, &c.external, &c.steps))
                            });
                            match r {
                                Some(r) => round.push((r.clone(), s.t, s.v)),
                                None => {
                                    c.counters.dropped.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                    }
                }
                if since.is_none() && !round.is_empty() {
                    since = Some(Instant::now());
                }
                false
            }
            Ok(WalRead::Idle) => true,
            Err(e) => {
                tracing::error!(error = %e, "remote_write: reading the write-ahead log failed");
                std::thread::sleep(Duration::from_secs(1));
                true
            }
        };
        let pos = reader.position();
        let at_first_end = c.first_end.is_some_and(|e| pos >= e);
        let due = round.len() >= c.capacity
            || at_first_end
            || (idle && since.is_some_and(|s| s.elapsed() >= c.deadline));
        if due {
            c.first_end = None;
            since = None;
            let n = round.len() as u64;
            c.counters.pending.fetch_add(n, Ordering::Relaxed);
            let r = Round {
                samples: std::mem::take(&mut round),
                end: pos,
            };
            if c.tx.blocking_send(r).is_err() {
                return;
            }
        } else if idle {
            let wait = since.map_or(IDLE_POLL, |s| {
                c.deadline.saturating_sub(s.elapsed()).min(IDLE_POLL)
            });
            std::thread::sleep(wait.max(Duration::from_millis(1)));
        }
    }
}

/// The sender task's state: how to send (cloned into each shard's task), where to record the
/// queue's place, and the rounds to send.
struct SendCtx {
    store: Store,
    sender: Sender,
    rx: mpsc::Receiver<Round>,
}

/// One request: its body, sample count and newest sample time.
struct Request {
    body: Vec<u8>,
    samples: u64,
    newest: i64,
}

/// Splits a round by series over up to `max_shards` shards, each a list of requests of at
/// most `max_samples_per_send` samples (a series' samples stay in one shard, in order).
fn shard(
    samples: Vec<(Arc<SeriesRef>, i64, f64)>,
    q: &crate::config::QueueConfig,
) -> Vec<Vec<Request>> {
    let per = q.max_samples_per_send.max(1);
    let n = samples.len().div_ceil(per).clamp(1, q.max_shards.max(1));
    let mut shards: Vec<Vec<(Arc<SeriesRef>, i64, f64)>> = vec![Vec::new(); n];
    for s in samples {
        shards[(s.0.hash % n as u64) as usize].push(s);
    }
    shards
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.chunks(per)
                .filter_map(|chunk| {
                    let mut index: HashMap<*const SeriesRef, usize> = HashMap::new();
                    let mut req = proto::WriteRequest::default();
                    let mut newest = i64::MIN;
                    for (r, t, v) in chunk {
                        let i = *index.entry(Arc::as_ptr(r)).or_insert_with(|| {
                            req.timeseries.push(proto::TimeSeries {
                                labels: r.labels.clone(),
                                samples: Vec::new(),
                            });
                            req.timeseries.len() - 1
                        });
                        req.timeseries[i].samples.push(proto::Sample {
                            value: *v,
                            timestamp: *t,
                        });
                        newest = newest.max(*t);
                    }
                    match proto::encode(&req) {
                        Ok(body) => Some(Request {
                            body,
                            samples: chunk.len() as u64,
                            newest,
                        }),
                        Err(e) => {
                            tracing::error!(error = %e, "remote_write: snappy refused a request");
                            None
                        }
                    }
                })
                .collect()
        })
        .collect()
}

async fn send_loop(mut c: SendCtx) {
    while let Some(round) = c.rx.recv().await {
        let n = round.samples.len() as u64;
        // The round's end first: after a crash the same round is read again.
        let inflight = inflight_name(&c.sender.name);
        if let Err(e) = c.store.set_wal_hold(&inflight, round.end) {
            tracing::warn!(error = %e, "remote_write: saving the queue's place failed");
        }
        let mut set = tokio::task::JoinSet::new();
        for requests in shard(round.samples, &c.sender.queue) {
            let s = c.sender.clone();
            set.spawn(async move {
                for r in requests {
                    if !s.send(r).await {
                        return false;
                    }
                }
                true
            });
        }
        let mut complete = true;
        while let Some(r) = set.join_next().await {
            complete &= r.unwrap_or(false);
        }
        if !complete {
            // Stopped: the round stays unsent in the log.
            return;
        }
        c.sender.counters.pending.fetch_sub(n, Ordering::Relaxed);
        if let Err(e) = c.store.set_wal_hold(&c.sender.name, round.end) {
            tracing::warn!(error = %e, "remote_write: saving the queue's place failed");
        }
    }
}

#[derive(Clone)]
struct Sender {
    client: reqwest::Client,
    headers: reqwest::header::HeaderMap,
    url: String,
    queue: crate::config::QueueConfig,
    counters: Arc<Counters>,
    stop: watch::Receiver<bool>,
    name: String,
}

impl Sender {
    fn set_error(&self, e: Option<String>) {
        *self
            .counters
            .last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = e;
    }

    /// Sends one request until it is answered for good; `false` when the queue stopped.
    async fn send(&self, r: Request) -> bool {
        let mut backoff = self.queue.min_backoff.to_std();
        let max = self.queue.max_backoff.to_std();
        let mut stop = self.stop.clone();
        let mut failures = 0u64;
        loop {
            if *stop.borrow() {
                return false;
            }
            let req = self
                .client
                .post(&self.url)
                .headers(self.headers.clone())
                .body(r.body.clone())
                .send();
            let res = tokio::select! {
                res = req => res,
                _ = stop.changed() => return false,
            };
            let error = match res {
                Ok(resp) if resp.status().is_success() => {
                    let c = &self.counters;
                    c.sent.fetch_add(r.samples, Ordering::Relaxed);
                    c.bytes.fetch_add(r.body.len() as u64, Ordering::Relaxed);
                    c.highest.fetch_max(r.newest, Ordering::Relaxed);
                    if failures > 0 {
                        tracing::info!(queue = %self.name, "remote_write: the receiver takes samples again");
                    }
                    self.set_error(None);
                    return true;
                }
                Ok(resp) => {
                    let status = resp.status();
                    let body = resp.text().await.unwrap_or_default();
                    let body: String = body.chars().take(512).collect();
                    let retry = status.is_server_error()
                        || (status == reqwest::StatusCode::TOO_MANY_REQUESTS
                            && self.queue.retry_on_http_429);
                    let e = format!("HTTP {status}: {}", body.trim());
                    if !retry {
                        self.counters.failed.fetch_add(r.samples, Ordering::Relaxed);
                        tracing::warn!(
                            queue = %self.name,
                            samples = r.samples,
                            error = %e,
                            "remote_write: the receiver refused samples; they are dropped"
                        );
                        self.set_error(Some(e));
                        return true;
                    }
                    e
                }
                // Without the URL: it may carry credentials.
                Err(e) => e.without_url().to_string(),
            };
            if failures == 0 {
                tracing::warn!(queue = %self.name, error = %error, "remote_write: sending failed; retrying with backoff");
            }
            failures += 1;
            self.counters
                .retried
                .fetch_add(r.samples, Ordering::Relaxed);
            self.set_error(Some(error));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {},
                _ = stop.changed() => return false,
            }
            backoff = (backoff * 2).min(max);
        }
    }
}

fn headers(cfg: &RemoteWriteConfig) -> reqwest::header::HeaderMap {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut h = HeaderMap::new();
    h.insert("content-encoding", HeaderValue::from_static("snappy"));
    h.insert(
        "content-type",
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(
        "user-agent",
        HeaderValue::from_static(concat!("alertd/", env!("CARGO_PKG_VERSION"))),
    );
    h.insert(
        "x-prometheus-remote-write-version",
        HeaderValue::from_static("0.1.0"),
    );
    for (k, v) in &cfg.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    h
}

fn build_client(cfg: &RemoteWriteConfig) -> Result<reqwest::Client, String> {
    httpclient::build_with_auth(
        Some(&cfg.http_config()),
        httpclient::Timeouts::new(cfg.remote_timeout.to_std()),
    )
    .map_err(|e| e.to_string())
}
