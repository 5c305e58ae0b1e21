//! The embedded time-series store and key-value state store of alertd.
//!
//! [`Store`] owns everything that must survive a restart: time series (with downsampled
//! rollups) and a namespaced key-value area for state (alert state, silences, acks, the
//! notification log). It implements [`model::storage::SeriesStore`] and
//! [`model::storage::KvStore`]. Underneath is a small ordered key-value engine trait
//! ([`engine::KvEngine`]) with two implementations, picked by [`Engine`]: redb 4.x (the
//! default) and sled 0.34.7. In-memory heads are checkpointed to a file of their own.
//!
//! # Key layout
//!
//! One ordered keyspace; the first byte says what a key holds. Ids are `u64` big-endian and
//! timestamps are written with their sign bit flipped (big-endian), so keys sort by time.
//!
//! | key | value |
//! | --- | --- |
//! | `M` name | store metadata: `format` = `alertd-store/2`, `engine` = `sled` or `redb` |
//! | `S` id | the series' labels (`count (len name len value)*`, varints) |
//! | `L` id | last time of the series' newest persisted raw chunk, 5 m and 1 h block (3 × i64) |
//! | `H` id | format 1 only: the series' head checkpoint, now in the heads file (read once, then deleted) |
//! | `C` window id last_t | a closed raw chunk; `window`: the aligned 2 h window it lies in |
//! | `R` res window id last_t | a closed rollup block (res 0 = 5 m in 4 h windows, 1 = 1 h in 1 d windows) |
//! | `K` namespace `0x00` key | the key-value area ([`model::storage::KvStore`]) |
//!
//! Data keys are time-major: the chunks written by one flush all fall in the newest window(s),
//! at the end of the keyspace, instead of one insertion per series spread over the whole tree
//! (measured with redb: that layout rewrote most of the tree on every flush). Older windows
//! are never rewritten, and retention deletes whole windows with one range scan. A query scans,
//! per window in its range, one key range covering the selected ids when they are dense, else
//! one range per id, and decodes only chunks overlapping the range.
//!
//! The series index (labels → id, and postings name → value → ids) lives in memory and is
//! rebuilt from the `S` records on open; only the `S` records are persisted. Regex and negative
//! matchers scan the postings of their label name; a matcher that accepts `""` also selects
//! series that lack the label.
//!
//! # Chunk format
//!
//! Gorilla compression with a decimal mode (see `codec.rs`): a `u16 BE` header (format bit and
//! row count), then a bit stream with the first timestamp and value as 64 raw bits each, then
//! per sample a delta-of-delta timestamp (`0`, `10`+14, `110`+17, `1110`+20, `1111`+64 bits)
//! and the value: `0` equal to the previous one, `10` + the change of its decimal mantissa
//! (values exporters print with a few decimals, such as `50.37` = 5037 at scale 2, are exact
//! as such), `11` + the XOR with the previous value (Gorilla). Every value round-trips bit for
//! bit, so NaN payloads such as the staleness marker ([`model::sample::STALE_NAN_BITS`])
//! survive. Blocks of format 1 (Gorilla only) are still read. A chunk closes at 120 samples or
//! when a sample falls in the next aligned 2 h window (so a 15 s series gets four chunks of 120
//! samples per 2 h, a 60 s series one chunk of 120).
//!
//! Rollups use the same codec with four columns (count, min, max, sum) per bucket; buckets are
//! aligned to multiples of 5 m and 1 h since the epoch and are updated as samples arrive
//! (staleness markers are not counted; NaN is, so `sum` and `avg` become NaN as in PromQL).
//! A rollup block holds the buckets of one aligned window: 4 h (48 × 5 m) or 1 d (24 × 1 h).
//!
//! # Ingest, checkpointing and crash safety
//!
//! Every series has an in-memory head: the open chunk, closed chunks not yet written, the open
//! rollup blocks and buckets. Out-of-order samples (not newer than the series' newest) are
//! dropped and counted. A background thread checkpoints every `checkpoint_interval` (default
//! 60 s) in two steps:
//!
//! 1. durable engine batches with every closed-but-unwritten chunk and block (and the new
//!    series' `S` records), cut at about 1 MiB (everything of one series in one batch) to
//!    bound the engine's memory per transaction; every batch that writes chunks also updates
//!    the series' `L` record;
//! 2. the heads file `heads` in the store directory (see `heads.rs`): the image of every series
//!    holding data in memory (waiting blocks, open chunk, open buckets and blocks), taken at
//!    one moment under the state lock, checksummed, written to a temporary file, synced and
//!    renamed over the old one. It is rewritten whole: heads change at every checkpoint, and
//!    rewriting them inside the engine left a copy-on-write B-tree at about twice their size
//!    (measured: 10,000 series after 100 s took 10.2 MB as `H` records in redb, 2.9 MB as a
//!    file).
//!
//! Closed chunks and blocks are also written early (step 1 alone) when more than 1 MiB of them
//! wait ([`Store::set_max_pending_bytes`]). An image may therefore hold rows that were written
//! as chunks after it was taken; on open, image rows not newer than the series' `L` record are
//! skipped, so nothing is restored twice, and restored waiting blocks are written by the next
//! checkpoint. Because an image holds everything not yet in the engine, any image together
//! with the engine holds every sample appended before the image was taken: a crash loses at
//! most the samples appended since the last checkpoint. [`Store::close`] (the daemon's
//! SIGTERM path) checkpoints. Queries merge persisted chunks with the in-memory head:
//! persisted samples are used only up to the first sample still held in memory, so nothing is
//! returned twice.
//!
//! # Retention
//!
//! [`Store::apply_retention`] deletes every raw window that ended before `now - retention_raw`
//! (default 30 d) and every rollup window that ended before `now - retention_rollups` (default
//! 365 d), so data is kept up to one window (2 h raw, 4 h / 1 d rollups) longer than asked. It
//! trims the in-memory heads the same way, drops series with nothing left (`S`, `L` and the
//! index entries), then asks the engine to give space back: redb needs `compact()`, which
//! the store calls; sled has no such call and reclaims segments by itself, and its files do not
//! necessarily shrink (measured: they did not in the retention test).
//!
//! # Key-value area
//!
//! [`KvStore::write`] is one atomic engine batch, on disk when it returns (sled: `apply_batch`
//! then `flush`; redb: a commit with immediate durability). Namespaces must not contain NUL.

pub mod engine;

mod codec;
mod heads;
mod index;
mod keys;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;

use model::clock::Timestamp;
use model::storage::{KvBatch, KvOp, KvPairs, KvStore, Series, SeriesStore, StorageError};
use model::{Duration, Labels, Matcher, Sample};

use codec::{block_first_t, decode, BlockEncoder};
use engine::{open_engine, BatchOp, KvEngine};
use index::Index;

/// Which key-value engine holds the data.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// sled 0.34.7.
    Sled,
    /// redb 4.x, the default: on the reference workload (10,000 series, 15 s, 3 days) it
    /// needs 0.84 ms CPU per 1,000 samples, 5.15 bytes/sample and 71 MiB RSS, where sled needs
    /// 1.29 ms, 7.2 bytes/sample and 1.4 GiB (`store/examples/bench.rs`).
    #[default]
    Redb,
}

impl Engine {
    /// The lowercase name (`sled`, `redb`).
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sled => "sled",
            Engine::Redb => "redb",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Engine {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sled" => Ok(Engine::Sled),
            "redb" => Ok(Engine::Redb),
            other => Err(StoreError::UnknownEngine(other.to_string())),
        }
    }
}

/// How to open a [`Store`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The store's directory (created when missing). Default `data`.
    pub path: PathBuf,
    /// The engine. Default redb.
    pub engine: Engine,
    /// How long raw samples are kept. Default 30 d.
    pub retention_raw: Duration,
    /// How long rollups are kept. Default 365 d.
    pub retention_rollups: Duration,
    /// How often in-memory heads are checkpointed to disk (the most a crash can lose).
    /// Default 60 s; zero disables the background thread (checkpoint by hand).
    pub checkpoint_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            path: PathBuf::from("data"),
            engine: Engine::Redb,
            retention_raw: Duration::from_secs(30 * 86_400),
            retention_rollups: Duration::from_secs(365 * 86_400),
            checkpoint_interval: Duration::from_secs(60),
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The engine reported an error.
    #[error("{engine} error: {message}")]
    Engine {
        /// Which engine.
        engine: Engine,
        /// Its message.
        message: String,
    },
    /// The directory holds a store written by the other engine.
    #[error(
        "{} holds a {found} store but storage.engine is {requested}; \
         set storage.engine: {found} or use another directory",
        path.display()
    )]
    WrongEngine {
        /// The store directory.
        path: PathBuf,
        /// The engine that wrote it.
        found: Engine,
        /// The engine asked for.
        requested: Engine,
    },
    /// The store was written in a format this version does not read.
    #[error("{} holds store format {found:?}; this alertd reads {FORMAT:?}", path.display())]
    FormatVersion {
        /// The store directory.
        path: PathBuf,
        /// The format found.
        found: String,
    },
    /// Stored data could not be decoded.
    #[error("corrupt store data: {0}")]
    Corrupt(String),
    /// An engine name other than `sled` or `redb`.
    #[error("unknown storage engine {0:?}: expected sled or redb")]
    UnknownEngine(String),
    /// A key-value namespace containing NUL.
    #[error("invalid key-value namespace {0:?}: must not contain NUL")]
    InvalidNamespace(String),
    /// The store was closed.
    #[error("the store is closed")]
    Closed,
}

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        StorageError(e.to_string())
    }
}

/// A rollup resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// 5-minute buckets.
    FiveMinutes,
    /// 1-hour buckets.
    OneHour,
}

impl Resolution {
    /// Bucket width in milliseconds.
    pub const fn width_ms(self) -> i64 {
        match self {
            Resolution::FiveMinutes => 300_000,
            Resolution::OneHour => 3_600_000,
        }
    }
    const ALL: [Resolution; 2] = [Resolution::FiveMinutes, Resolution::OneHour];
    const fn idx(self) -> usize {
        match self {
            Resolution::FiveMinutes => 0,
            Resolution::OneHour => 1,
        }
    }
    /// The aligned time window one rollup block covers.
    const fn window_ms(self) -> i64 {
        match self {
            Resolution::FiveMinutes => 4 * 3_600_000,
            Resolution::OneHour => 24 * 3_600_000,
        }
    }
}

/// One rollup bucket: aggregates of the samples with `t <= sample time < t + width`
/// (staleness markers excluded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Bucket start (a multiple of the width since the epoch), ms.
    pub t: Timestamp,
    /// Number of samples.
    pub count: u64,
    /// Smallest value (NaN only when every value was NaN).
    pub min: f64,
    /// Largest value (NaN only when every value was NaN).
    pub max: f64,
    /// Sum of the values.
    pub sum: f64,
}

impl Bucket {
    fn new(t: Timestamp, v: f64) -> Self {
        Bucket {
            t,
            count: 1,
            min: v,
            max: v,
            sum: v,
        }
    }
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
    }
    /// `sum / count`.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
    fn to_row(self) -> [u64; 4] {
        [
            (self.count as f64).to_bits(),
            self.min.to_bits(),
            self.max.to_bits(),
            self.sum.to_bits(),
        ]
    }
    fn from_row(t: Timestamp, r: [u64; 4]) -> Self {
        Bucket {
            t,
            count: f64::from_bits(r[0]) as u64,
            min: f64::from_bits(r[1]),
            max: f64::from_bits(r[2]),
            sum: f64::from_bits(r[3]),
        }
    }
}

/// One series' rollup buckets in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct RollupSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Buckets whose start lies in the queried range.
    pub buckets: Vec<Bucket>,
}

/// What [`Store::backup_to`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup's directory (a store directory).
    pub path: PathBuf,
    /// Its engine.
    pub engine: Engine,
    /// Key-value entries copied (series, chunks, heads, state).
    pub entries: u64,
    /// Bytes of the backup's files.
    pub bytes: u64,
}

fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() {
            dir_size(&e.path())?
        } else {
            m.len()
        };
    }
    Ok(total)
}

/// Counters for the daemon's own metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStats {
    /// Series in the index.
    pub series: u64,
    /// Samples accepted since the store was opened.
    pub samples_ingested: u64,
    /// Samples dropped because they were not newer than their series' newest.
    pub out_of_order_dropped: u64,
    /// Raw chunks written to the engine since the store was opened.
    pub chunks_written: u64,
    /// Encoded bytes of the raw chunks and rollup blocks written since the store was opened
    /// (payload only, before the engine's own overhead).
    pub bytes_written: u64,
    /// Checkpoints (of every changed head) that succeeded since the store was opened.
    pub checkpoints: u64,
    /// Checkpoints that failed (the error is logged; the data stays in memory for the next try).
    pub checkpoint_errors: u64,
}

/// Whether the store's writes reach the disk ([`Store::health`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Since when engine writes fail (ms since the epoch); `None` while they succeed.
    pub failing_since: Option<Timestamp>,
    /// The error of the last failed write, while writes fail.
    pub last_error: Option<String>,
    /// Engine writes that failed since the store was opened.
    pub write_errors: u64,
    /// Key-value entries kept in memory by [`KvStore::write_eventually`] until the disk takes
    /// them.
    pub deferred_entries: usize,
}

/// What [`Store::apply_retention`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionReport {
    /// Raw chunks deleted from disk.
    pub chunks_deleted: u64,
    /// Rollup blocks deleted from disk.
    pub rollup_blocks_deleted: u64,
    /// Series removed because nothing was left of them.
    pub series_dropped: u64,
}

const FORMAT: &str = "alertd-store/2";
/// Formats this version opens and upgrades: format 1 kept the heads as `H` records in the
/// engine and wrote only version 1 blocks; both are still read.
const UPGRADABLE: &[&str] = &["alertd-store/1"];
const CHUNK_MAX_SAMPLES: usize = 120;
/// Raw chunks never span an aligned window of this size (the first key component).
const CHUNK_WINDOW_MS: i64 = 2 * 3_600_000;

/// The start of the aligned window of size `w` containing `t`.
fn window_of(t: i64, w: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(w))
}
/// Closed chunks and blocks waiting in memory beyond this are written without waiting for the
/// next checkpoint.
const PENDING_FLUSH_BYTES: usize = 1 << 20;
/// Approximate payload of one engine batch (bounds the engine's memory per transaction).
const WRITE_BATCH_BYTES: usize = 1 << 20;
/// Granularity of the window in chunk keys: a chunk is keyed by this window of its first sample
/// (it never crosses a [`CHUNK_WINDOW_MS`] boundary). Measured on the bench (redb, 10k series,
/// 6 h): 2 h windows beat 30 min ones on CPU, wall time and size, so they are equal.
const KEY_WINDOW_MS: i64 = CHUNK_WINDOW_MS;
/// Series whose images are taken under one hold of the state lock when writing the heads file.
const HEADS_SLICE: usize = 1024;
/// Keys deleted per retention batch.
const DELETE_BATCH: usize = 10_000;

/// A closed chunk or rollup block not yet written.
#[derive(Debug)]
struct Closed {
    first_t: i64,
    last_t: i64,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct RollupHead {
    open: Option<Bucket>,
    block: BlockEncoder<4>,
    pending: Vec<Closed>,
}

impl RollupHead {
    /// Adds a sample; returns the bytes moved to `pending`.
    fn add(&mut self, res: Resolution, t: i64, v: f64) -> usize {
        let start = window_of(t, res.width_ms());
        let mut moved = 0;
        match &mut self.open {
            Some(b) if b.t == start => b.add(v),
            open => {
                if let Some(done) = open.replace(Bucket::new(start, v)) {
                    let w = res.window_ms();
                    if self.block.count() > 0
                        && window_of(self.block.first_t(), w) != window_of(done.t, w)
                    {
                        moved = close_block(&mut self.block, &mut self.pending);
                    }
                    self.block.append(done.t, done.to_row());
                }
            }
        }
        moved
    }

    fn is_empty(&self) -> bool {
        self.open.is_none() && self.block.count() == 0 && self.pending.is_empty()
    }

    /// Buckets held in memory, in time order.
    fn buckets(&self) -> Result<Vec<Bucket>, StoreError> {
        let mut out = Vec::new();
        for c in &self.pending {
            push_buckets(&c.bytes, &mut out)?;
        }
        if self.block.count() > 0 {
            push_buckets(&self.block.to_bytes(), &mut out)?;
        }
        out.extend(self.open);
        Ok(out)
    }

    fn first_t(&self) -> Option<i64> {
        self.pending
            .first()
            .map(|c| c.first_t)
            .or((self.block.count() > 0).then(|| self.block.first_t()))
            .or(self.open.map(|b| b.t))
    }
}

fn close_block<const N: usize>(block: &mut BlockEncoder<N>, pending: &mut Vec<Closed>) -> usize {
    let b = std::mem::take(block);
    let bytes = b.to_bytes();
    let n = bytes.len();
    pending.push(Closed {
        first_t: b.first_t(),
        last_t: b.last_t(),
        bytes,
    });
    n
}

fn corrupt(e: codec::CodecError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn push_samples(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), StoreError> {
    for row in decode::<1>(bytes).map_err(corrupt)? {
        let (t, [v]) = row.map_err(corrupt)?;
        out.push(Sample::new(t, f64::from_bits(v)));
    }
    Ok(())
}

fn push_buckets(bytes: &[u8], out: &mut Vec<Bucket>) -> Result<(), StoreError> {
    for row in decode::<4>(bytes).map_err(corrupt)? {
        let (t, r) = row.map_err(corrupt)?;
        out.push(Bucket::from_row(t, r));
    }
    Ok(())
}

#[derive(Debug)]
struct SeriesState {
    labels: Arc<Labels>,
    /// Newest raw sample time (`i64::MIN` when none).
    last_t: i64,
    head: BlockEncoder<1>,
    pending: Vec<Closed>,
    rollups: [RollupHead; 2],
    /// Whether the `S` record is on disk.
    recorded: bool,
    /// Last timestamp of the newest persisted raw chunk and rollup blocks (5 m, 1 h); the
    /// series' `L` record.
    persisted_last: [i64; 3],
    /// Whether the id is in `State::dirty`.
    in_dirty: bool,
}

impl SeriesState {
    fn new(labels: Arc<Labels>) -> Self {
        SeriesState {
            labels,
            last_t: i64::MIN,
            head: BlockEncoder::new(),
            pending: Vec::new(),
            rollups: Default::default(),
            recorded: false,
            persisted_last: [i64::MIN; 3],
            in_dirty: false,
        }
    }

    /// Appends an in-order sample; returns the bytes moved to `pending`.
    fn push(&mut self, s: Sample) -> usize {
        let mut moved = 0;
        if self.head.count() > 0
            && (self.head.count() >= CHUNK_MAX_SAMPLES
                || window_of(s.t, CHUNK_WINDOW_MS)
                    != window_of(self.head.first_t(), CHUNK_WINDOW_MS))
        {
            moved += close_block(&mut self.head, &mut self.pending);
        }
        self.head.append(s.t, [s.v.to_bits()]);
        self.last_t = s.t;
        if !s.is_stale() {
            for res in Resolution::ALL {
                moved += self.rollups[res.idx()].add(res, s.t, s.v);
            }
        }
        moved
    }

    fn mem_empty(&self) -> bool {
        self.head.count() == 0
            && self.pending.is_empty()
            && self.rollups.iter().all(|r| r.is_empty())
    }

    /// Raw samples held in memory, in time order.
    fn mem_samples(&self) -> Result<Vec<Sample>, StoreError> {
        let mut out = Vec::new();
        for c in &self.pending {
            push_samples(&c.bytes, &mut out)?;
        }
        if self.head.count() > 0 {
            push_samples(&self.head.to_bytes(), &mut out)?;
        }
        Ok(out)
    }

    fn mem_first_t(&self) -> Option<i64> {
        self.pending
            .first()
            .map(|c| c.first_t)
            .or((self.head.count() > 0).then(|| self.head.first_t()))
    }

    /// The series' image in the heads file: everything held in memory, which is everything
    /// not yet written to the engine. Raw data first (the closed chunks waiting, then the open
    /// chunk), then per resolution the open bucket and the blocks (waiting, then open).
    fn encode_image(&self, out: &mut Vec<u8>) {
        put_blocks(out, &self.pending, &self.head);
        for r in &self.rollups {
            match r.open {
                Some(b) => {
                    out.push(1);
                    out.extend_from_slice(&(b.t as u64).to_be_bytes());
                    for c in b.to_row() {
                        out.extend_from_slice(&c.to_be_bytes());
                    }
                }
                None => out.push(0),
            }
            put_blocks(out, &r.pending, &r.block);
        }
    }

    /// Restores the in-memory state from its image ([`SeriesState::encode_image`]), or from a
    /// legacy `H` record of store format 1 (`legacy`: no waiting blocks, the open bucket after
    /// the raw chunk). Rows at or before the series' `L` record are already on disk (written
    /// after the image was taken) and are skipped. Returns the bytes of restored waiting blocks.
    fn restore_image(&mut self, b: &[u8], legacy: bool) -> Result<usize, StoreError> {
        let bad = || StoreError::Corrupt("malformed head checkpoint".into());
        let [chunk_last, r5, r1] = self.persisted_last;
        let mut pos = 0;
        let mut restored = 0;
        let (pending, head) = get_blocks::<1>(b, &mut pos, legacy, chunk_last)?;
        restored += pending.iter().map(|c| c.bytes.len()).sum::<usize>();
        self.pending = pending;
        self.head = head;
        self.last_t = chunk_last;
        if let Some(c) = self.pending.last() {
            self.last_t = self.last_t.max(c.last_t);
        }
        if self.head.count() > 0 {
            self.last_t = self.last_t.max(self.head.last_t());
        }
        for (r, last) in self.rollups.iter_mut().zip([r5, r1]) {
            let has_open = *b.get(pos).ok_or_else(bad)?;
            pos += 1;
            r.open = if has_open == 1 {
                let t = keys::get_u64(b, &mut pos).ok_or_else(bad)? as i64;
                let mut row = [0u64; 4];
                for c in &mut row {
                    *c = keys::get_u64(b, &mut pos).ok_or_else(bad)?;
                }
                (t > last).then(|| Bucket::from_row(t, row))
            } else {
                None
            };
            let (pending, block) = get_blocks::<4>(b, &mut pos, legacy, last)?;
            restored += pending.iter().map(|c| c.bytes.len()).sum::<usize>();
            r.pending = pending;
            r.block = block;
        }
        if pos != b.len() {
            return Err(bad());
        }
        Ok(restored)
    }
}

/// Writes closed blocks and an open one: count (varint), then each as a length-prefixed block.
fn put_blocks<const N: usize>(out: &mut Vec<u8>, closed: &[Closed], open: &BlockEncoder<N>) {
    keys::put_varint(out, closed.len() as u64);
    for c in closed {
        keys::put_block(out, &c.bytes);
    }
    keys::put_block(out, &open.to_bytes());
}

/// Reads what [`put_blocks`] wrote (`legacy`: only the open block), keeping rows after
/// `after`.
fn get_blocks<const N: usize>(
    b: &[u8],
    pos: &mut usize,
    legacy: bool,
    after: i64,
) -> Result<(Vec<Closed>, BlockEncoder<N>), StoreError> {
    let bad = || StoreError::Corrupt("malformed head checkpoint".into());
    let closed = if legacy {
        0
    } else {
        keys::get_varint(b, pos).ok_or_else(bad)?
    };
    let rows_after = |bytes: &[u8]| -> Result<BlockEncoder<N>, StoreError> {
        let mut enc = BlockEncoder::new();
        for row in decode::<N>(bytes).map_err(corrupt)? {
            let (t, v) = row.map_err(corrupt)?;
            if t > after {
                enc.append(t, v);
            }
        }
        Ok(enc)
    };
    let mut pending = Vec::new();
    for _ in 0..closed {
        let block = rows_after(keys::get_block(b, pos).ok_or_else(bad)?)?;
        if block.count() > 0 {
            pending.push(Closed {
                first_t: block.first_t(),
                last_t: block.last_t(),
                bytes: block.to_bytes(),
            });
        }
    }
    let open = rows_after(keys::get_block(b, pos).ok_or_else(bad)?)?;
    Ok((pending, open))
}

#[derive(Debug, Default)]
struct State {
    index: Index,
    series: HashMap<u64, SeriesState>,
    next_id: u64,
    /// Series changed since they were last written.
    dirty: Vec<u64>,
    /// Bytes of closed chunks and blocks waiting in memory.
    pending_bytes: usize,
    /// Whether the heads file is older than what memory holds.
    heads_stale: bool,
    /// Whether the engine still holds `H` records of store format 1 (deleted once the heads
    /// file replaces them).
    legacy_heads: bool,
    closed: bool,
}

impl State {
    /// Restores series `id` from its image (see [`SeriesState::restore_image`]); restored
    /// waiting blocks make it dirty.
    fn restore(&mut self, id: u64, img: &[u8], legacy: bool) -> Result<(), StoreError> {
        let s = self
            .series
            .get_mut(&id)
            .ok_or_else(|| StoreError::Corrupt(format!("head of unknown series {id}")))?;
        let restored = s.restore_image(img, legacy)?;
        self.pending_bytes += restored;
        if restored > 0 {
            self.mark_dirty(id);
        }
        Ok(())
    }

    fn mark_dirty(&mut self, id: u64) {
        self.heads_stale = true;
        if let Some(s) = self.series.get_mut(&id) {
            if !s.in_dirty {
                s.in_dirty = true;
                self.dirty.push(id);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    ingested: AtomicU64,
    out_of_order: AtomicU64,
    chunks_written: AtomicU64,
    bytes_written: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_errors: AtomicU64,
}

type StopSignal = Arc<(Mutex<bool>, Condvar)>;

struct Inner {
    engine: Watched,
    /// Key-value writes deferred by [`KvStore::write_eventually`]: key -> value (`None`:
    /// delete), written ahead of the next key-value write.
    unsaved: Mutex<std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    opts: StoreOptions,
    state: Mutex<State>,
    /// Serialises writers of series data (checkpoints, early flushes, retention).
    flush_lock: Mutex<()>,
    counters: Counters,
    /// See [`Store::set_max_pending_bytes`].
    max_pending: AtomicUsize,
    stop: StopSignal,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The time-series and key-value store. Cheap to clone; all clones share one store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.opts.path)
            .field("engine", &self.inner.opts.engine)
            .finish_non_exhaustive()
    }
}

/// Which series a flush writes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FlushScope {
    /// Every changed series.
    All,
    /// Only series with closed chunks waiting.
    Pending,
}

impl Store {
    /// Opens (creating when missing) the store in `opts.path` and starts the checkpoint thread.
    pub fn open(opts: StoreOptions) -> Result<Store, StoreError> {
        let engine = open_engine(opts.engine, &opts.path)?;
        check_meta(engine.as_ref(), &opts.path)?;
        let state = load_state(engine.as_ref(), &opts.path)?;
        let inner = Arc::new(Inner {
            engine: Watched {
                engine,
                health: Mutex::new(Health::default()),
            },
            unsaved: Mutex::new(Default::default()),
            opts,
            state: Mutex::new(state),
            flush_lock: Mutex::new(()),
            counters: Counters::default(),
            max_pending: AtomicUsize::new(PENDING_FLUSH_BYTES),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            thread: Mutex::new(None),
        });
        let interval = inner.opts.checkpoint_interval.to_std();
        if !interval.is_zero() {
            let weak = Arc::downgrade(&inner);
            let stop = inner.stop.clone();
            let handle = std::thread::Builder::new()
                .name("store-checkpoint".into())
                .spawn(move || checkpoint_loop(weak, stop, interval))
                .map_err(|e| StoreError::Io {
                    path: inner.opts.path.clone(),
                    source: e,
                })?;
            *lock(&inner.thread) = Some(handle);
        }
        Ok(Store { inner })
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.inner.opts.engine
    }

    /// Appends samples; a series is created on its first sample. Samples not newer than their
    /// series' newest are dropped and counted in [`StoreStats::out_of_order_dropped`].
    pub fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StoreError> {
        let flush = {
            let mut st = lock(&self.inner.state);
            if st.closed {
                return Err(StoreError::Closed);
            }
            let (mut accepted, mut dropped) = (0u64, 0u64);
            for (labels, sample) in batch {
                let id = match st.index.get(labels) {
                    Some(id) => id,
                    None => {
                        let id = st.next_id;
                        st.next_id += 1;
                        let l = Arc::new(labels.clone());
                        st.index.insert(l.clone(), id);
                        st.series.insert(id, SeriesState::new(l));
                        id
                    }
                };
                let Some(s) = st.series.get_mut(&id) else {
                    continue;
                };
                if sample.t <= s.last_t {
                    dropped += 1;
                    continue;
                }
                let moved = s.push(*sample);
                accepted += 1;
                st.pending_bytes += moved;
                st.mark_dirty(id);
            }
            self.inner
                .counters
                .ingested
                .fetch_add(accepted, Ordering::Relaxed);
            self.inner
                .counters
                .out_of_order
                .fetch_add(dropped, Ordering::Relaxed);
            st.pending_bytes > self.inner.max_pending.load(Ordering::Relaxed)
        };
        if flush {
            // Skip when another flush runs: it or the next append will catch up.
            if let Ok(_guard) = self.inner.flush_lock.try_lock() {
                self.inner.flush_locked(FlushScope::Pending)?;
            }
        }
        Ok(())
    }

    /// Every series matching all `matchers` with its samples in `[start, end]`, sorted by
    /// labels. Series without samples in the range are omitted.
    pub fn select(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Series>, StoreError> {
        if start > end {
            return Ok(Vec::new());
        }
        // Memory first, then disk: a chunk written in between is seen twice and deduplicated,
        // never missed.
        let snapshot: Vec<(u64, Arc<Labels>, Vec<Sample>, i64)> = {
            let st = lock(&self.inner.state);
            let mut out = Vec::new();
            for id in st.index.select(matchers) {
                let Some(s) = st.series.get(&id) else {
                    continue;
                };
                let mem_first = s.mem_first_t().unwrap_or(i64::MAX);
                let mut mem = Vec::new();
                if mem_first <= end && s.last_t >= start {
                    mem = s.mem_samples()?;
                    mem.retain(|x| x.t >= start && x.t <= end);
                }
                out.push((id, s.labels.clone(), mem, mem_first));
            }
            out
        };
        let merged = self.merge_with_disk(
            snapshot,
            &[keys::CHUNK],
            (CHUNK_WINDOW_MS, KEY_WINDOW_MS),
            (start, end),
            push_samples,
            |x| x.t,
        )?;
        Ok(merged
            .into_iter()
            .map(|(labels, samples)| Series { labels, samples })
            .collect())
    }

    /// Completes a snapshot of in-memory rows — `(id, labels, rows in range, first in-memory
    /// time)` per series — with the persisted blocks under `prefix` (`span`, `window`: see
    /// [`Store::persisted_blocks`]) older than the in-memory rows, keeping rows in
    /// `[start, end]`. Series without rows are dropped; the result is sorted by labels.
    #[allow(clippy::type_complexity)]
    fn merge_with_disk<T>(
        &self,
        snapshot: Vec<(u64, Arc<Labels>, Vec<T>, i64)>,
        prefix: &[u8],
        (span, window): (i64, i64),
        (start, end): (Timestamp, Timestamp),
        decode_block: fn(&[u8], &mut Vec<T>) -> Result<(), StoreError>,
        time_of: fn(&T) -> Timestamp,
    ) -> Result<Vec<(Labels, Vec<T>)>, StoreError> {
        let wanted: Vec<(u64, i64)> = snapshot
            .iter()
            .map(|(id, _, _, mem_first)| (*id, end.min(mem_first.saturating_sub(1))))
            .collect();
        let mut disk = self.persisted_blocks(prefix, span, window, &wanted, start)?;
        let mut result = Vec::new();
        for (id, labels, mem, _) in snapshot {
            let hi = wanted
                .binary_search_by_key(&id, |w| w.0)
                .map_or(end, |i| wanted[i].1);
            let mut rows = Vec::new();
            for block in disk.remove(&id).unwrap_or_default() {
                let mut tmp = Vec::new();
                decode_block(&block, &mut tmp)?;
                rows.extend(tmp.into_iter().filter(|r| {
                    let t = time_of(r);
                    t >= start && t <= hi
                }));
            }
            rows.extend(mem);
            if !rows.is_empty() {
                result.push(((*labels).clone(), rows));
            }
        }
        result.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(result)
    }

    /// Persisted chunks or rollup blocks (`prefix`: `C` or `R res`) of the `wanted` series
    /// (`(id, hi)`, ascending ids) that may hold rows in `[start, hi]`, in time order per series.
    /// Blocks never cross a `span` boundary and are keyed by the `window` of their first row.
    fn persisted_blocks(
        &self,
        prefix: &[u8],
        span: i64,
        window: i64,
        wanted: &[(u64, i64)],
        start: i64,
    ) -> Result<HashMap<u64, Vec<Vec<u8>>>, StoreError> {
        let mut out: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        let wanted: Vec<(u64, i64)> = wanted.iter().copied().filter(|w| w.1 >= start).collect();
        let (Some(min_id), Some(max_id)) = (
            wanted.iter().map(|w| w.0).min(),
            wanted.iter().map(|w| w.0).max(),
        ) else {
            return Ok(out);
        };
        let max_hi = wanted.iter().map(|w| w.1).max().unwrap_or(start);
        let engine = &self.inner.engine;
        let plen = prefix.len();
        // Only windows that exist on disk: clamp the range to the first and last stored ones.
        let Some(end_key) = keys::prefix_end(prefix) else {
            return Ok(out);
        };
        let mut first_w = None;
        engine.scan(prefix, &end_key, &mut |k, _| {
            first_w = keys::parse_block_key(k, plen).map(|x| x.0);
            false
        })?;
        let last_w = engine
            .last(prefix, &end_key)?
            .and_then(|(k, _)| keys::parse_block_key(&k, plen).map(|x| x.0));
        let (Some(first_w), Some(last_w)) = (first_w, last_w) else {
            return Ok(out);
        };
        let mut w = window_of(start, span).max(first_w);
        let w_end = window_of(max_hi, window).min(last_w);
        // Per window: one range over all selected ids when they are dense, else one per id.
        let dense = wanted.len() as u64 * 8 > max_id - min_id;
        let mut err = None;
        while w <= w_end && err.is_none() {
            let ranges: Vec<(Vec<u8>, Vec<u8>)> = if dense {
                vec![(
                    keys::window_id_key(prefix, w, min_id),
                    keys::window_id_key(prefix, w, max_id.saturating_add(1)),
                )]
            } else {
                wanted
                    .iter()
                    .map(|&(id, _)| {
                        (
                            keys::window_id_key(prefix, w, id),
                            keys::window_id_key(prefix, w, id.saturating_add(1)),
                        )
                    })
                    .collect()
            };
            engine.scan_ranges(&ranges, &mut |k, v| {
                if err.is_some() {
                    return false;
                }
                let Some((_, id, last_t)) = keys::parse_block_key(k, plen) else {
                    err = Some(StoreError::Corrupt(format!("bad block key {k:?}")));
                    return false;
                };
                let Ok(i) = wanted.binary_search_by_key(&id, |w| w.0) else {
                    return true;
                };
                if last_t < start {
                    return true;
                }
                match block_first_t(v) {
                    Ok(first) if first <= wanted[i].1 => {
                        out.entry(id).or_default().push(v.to_vec());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        err = Some(corrupt(e));
                        return false;
                    }
                }
                true
            })?;
            w = match w.checked_add(window) {
                Some(n) => n,
                None => break,
            };
        }
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Rollup buckets (start in `[start, end]`) of every series matching all `matchers`, sorted
    /// by labels; series without buckets in the range are omitted.
    pub fn select_rollups(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
        resolution: Resolution,
    ) -> Result<Vec<RollupSeries>, StoreError> {
        if start > end {
            return Ok(Vec::new());
        }
        let res = resolution.idx();
        let snapshot: Vec<(u64, Arc<Labels>, Vec<Bucket>, i64)> = {
            let st = lock(&self.inner.state);
            let mut out = Vec::new();
            for id in st.index.select(matchers) {
                let Some(s) = st.series.get(&id) else {
                    continue;
                };
                let r = &s.rollups[res];
                let mem_first = r.first_t().unwrap_or(i64::MAX);
                let mut mem = Vec::new();
                if mem_first <= end {
                    mem = r.buckets()?;
                    mem.retain(|b| b.t >= start && b.t <= end);
                }
                out.push((id, s.labels.clone(), mem, mem_first));
            }
            out
        };
        let merged = self.merge_with_disk(
            snapshot,
            &[keys::ROLLUP, res as u8],
            (resolution.window_ms(), resolution.window_ms()),
            (start, end),
            push_buckets,
            |b| b.t,
        )?;
        Ok(merged
            .into_iter()
            .map(|(labels, buckets)| RollupSeries { labels, buckets })
            .collect())
    }

    /// Labels of every series matching all `matchers`, sorted.
    pub fn series(&self, matchers: &[Matcher]) -> Vec<Labels> {
        let st = lock(&self.inner.state);
        let mut out: Vec<Labels> = st
            .index
            .select(matchers)
            .into_iter()
            .filter_map(|id| st.series.get(&id).map(|s| (*s.labels).clone()))
            .collect();
        out.sort();
        out
    }

    /// Every label name in use, sorted.
    pub fn label_names(&self) -> Vec<String> {
        lock(&self.inner.state).index.label_names()
    }

    /// Every value of label `name` in use, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        lock(&self.inner.state).index.label_values(name)
    }

    /// Writes every in-memory head to disk now (the background thread does this every
    /// `checkpoint_interval`).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let _guard = lock(&self.inner.flush_lock);
        self.inner.flush_locked(FlushScope::All)
    }

    /// Writes a consistent copy of the store into the new directory `dest` while the store
    /// stays in use, and returns what was copied. `dest` is then a store directory of the same
    /// engine: open it (`storage.path: dest`) to restore.
    ///
    /// The store checkpoints, copies the heads file, then copies every entry as of one moment;
    /// checkpoints wait until the copy is done, so the heads and the entries agree. redb copies
    /// from one read transaction (its MVCC snapshot; appends and key-value writes go on
    /// meanwhile), sled holds key-value writes and flushes back during the copy. Samples
    /// appended after the checkpoint are not in the copy. The copy is built in
    /// `<dest>.partial` and renamed to `dest` when complete, so `dest` never holds half a copy.
    /// Refuses a `dest` that exists.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io { path, source }
        };
        if dest.exists() {
            return Err(StoreError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "backup destination already exists",
                ),
            });
        }
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        if partial.exists() {
            std::fs::remove_dir_all(&partial).map_err(io(&partial))?;
        }
        std::fs::create_dir_all(&partial).map_err(io(&partial))?;
        let entries = {
            // No series data reaches the engine between the checkpoint and the copy, so the
            // heads file and the engine's entries agree.
            let _guard = lock(&self.inner.flush_lock);
            self.inner.flush_locked(FlushScope::All)?;
            heads::copy(&self.inner.opts.path, &partial)?;
            self.inner.engine.backup_to(&partial)?
        };
        std::fs::rename(&partial, dest).map_err(io(dest))?;
        let bytes = dir_size(dest).map_err(io(dest))?;
        Ok(BackupReport {
            path: dest.to_path_buf(),
            engine: self.inner.opts.engine,
            entries,
            bytes,
        })
    }

    /// Deletes raw data older than `now - retention_raw` and rollups older than
    /// `now - retention_rollups`, drops series with nothing left, and returns the space to the
    /// file system where the engine supports it (see the crate docs).
    pub fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport, StoreError> {
        self.inner.apply_retention(now)
    }

    /// Persists every head, stops the checkpoint thread and flushes the engine. Later appends
    /// and key-value writes fail with [`StoreError::Closed`]; reads keep working.
    pub fn close(&self) -> Result<(), StoreError> {
        self.inner.stop_thread();
        {
            let _guard = lock(&self.inner.flush_lock);
            self.inner.flush_locked(FlushScope::All)?;
            self.inner.write_kv(Vec::new(), OnFailure::Fail)?;
            lock(&self.inner.state).closed = true;
        }
        self.inner.engine.flush()
    }

    /// Bounds the memory held by closed chunks and rollup blocks between checkpoints (default
    /// 1 MiB): beyond it, an append writes them out at once (without the heads, which wait for
    /// the next checkpoint).
    pub fn set_max_pending_bytes(&self, bytes: usize) {
        self.inner.max_pending.store(bytes, Ordering::Relaxed);
    }

    /// Counters for metrics.
    pub fn stats(&self) -> StoreStats {
        let series = lock(&self.inner.state).index.len() as u64;
        let c = &self.inner.counters;
        StoreStats {
            series,
            samples_ingested: c.ingested.load(Ordering::Relaxed),
            out_of_order_dropped: c.out_of_order.load(Ordering::Relaxed),
            chunks_written: c.chunks_written.load(Ordering::Relaxed),
            bytes_written: c.bytes_written.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            checkpoint_errors: c.checkpoint_errors.load(Ordering::Relaxed),
        }
    }

    /// Whether writes reach the disk: a full or failing disk shows here (and in the log) while
    /// samples stay in memory and deferred key-value writes wait (see [`StoreHealth`]).
    pub fn health(&self) -> StoreHealth {
        let mut h = self.inner.engine.health();
        h.deferred_entries = lock(&self.inner.unsaved).len();
        h
    }

    /// Writes the key-value entries deferred by [`KvStore::write_eventually`] now, if there are
    /// any (the checkpoint thread also tries every `checkpoint_interval`).
    pub fn retry_deferred(&self) -> Result<(), StoreError> {
        if lock(&self.inner.unsaved).is_empty() {
            return Ok(());
        }
        self.inner.write_kv(Vec::new(), OnFailure::Fail)
    }

    fn check_namespace(namespace: &str) -> Result<(), StoreError> {
        if namespace.contains('\0') {
            return Err(StoreError::InvalidNamespace(namespace.to_string()));
        }
        Ok(())
    }
}

fn checkpoint_loop(weak: Weak<Inner>, stop: StopSignal, interval: std::time::Duration) {
    let (flag, cv) = &*stop;
    loop {
        let mut stopped = lock(flag);
        let deadline = std::time::Instant::now() + interval;
        while !*stopped {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            stopped = cv
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if *stopped {
            return;
        }
        drop(stopped);
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let _guard = lock(&inner.flush_lock);
        if let Err(e) = inner.flush_locked(FlushScope::All) {
            tracing::error!(error = %e, "store checkpoint failed");
        }
        if !lock(&inner.unsaved).is_empty() {
            // Failures are logged by the engine wrapper; the entries keep waiting.
            let _ = inner.write_kv(Vec::new(), OnFailure::Fail);
        }
    }
}

impl Inner {
    fn stop_thread(&self) {
        let (flag, cv) = &*self.stop;
        *lock(flag) = true;
        cv.notify_all();
        let handle = lock(&self.thread).take();
        if let Some(h) = handle {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Writes the chosen series' closed chunks and blocks in atomic batches of about
    /// [`WRITE_BATCH_BYTES`] (everything of one series in one batch), then, for a checkpoint,
    /// the heads file. The caller holds `flush_lock`.
    fn flush_locked(&self, scope: FlushScope) -> Result<(), StoreError> {
        struct Mark {
            id: u64,
            chunks: usize,
            blocks: [usize; 2],
            persisted_last: [i64; 3],
        }
        // A full checkpoint takes every changed series (they become clean); an early flush
        // only writes closed chunks and blocks, and leaves the heads for the checkpoint: rows
        // of an older heads file that such a flush wrote are skipped on restore (`L` records).
        let mut chosen: std::collections::VecDeque<u64> = {
            let mut st = lock(&self.state);
            match scope {
                FlushScope::All => std::mem::take(&mut st.dirty).into(),
                FlushScope::Pending => st
                    .dirty
                    .iter()
                    .copied()
                    .filter(|id| {
                        st.series.get(id).is_some_and(|s| {
                            !s.pending.is_empty() || s.rollups.iter().any(|r| !r.pending.is_empty())
                        })
                    })
                    .collect(),
            }
        };
        while !chosen.is_empty() {
            let (ops, marks) = {
                let mut st = lock(&self.state);
                let mut ops = Vec::new();
                let mut marks = Vec::new();
                let mut bytes = 0;
                while bytes < WRITE_BATCH_BYTES {
                    let Some(id) = chosen.pop_front() else {
                        break;
                    };
                    let Some(s) = st.series.get_mut(&id) else {
                        continue;
                    };
                    if !s.recorded {
                        ops.push(BatchOp::Put(
                            keys::id_key(keys::SERIES, id),
                            keys::encode_labels(&s.labels),
                        ));
                    }
                    let mut last = s.persisted_last;
                    for c in &s.pending {
                        let w = window_of(c.first_t, KEY_WINDOW_MS);
                        bytes += c.bytes.len();
                        ops.push(BatchOp::Put(
                            keys::block_key(&[keys::CHUNK], w, id, c.last_t),
                            c.bytes.clone(),
                        ));
                        last[0] = last[0].max(c.last_t);
                    }
                    for (r, res) in s.rollups.iter().zip(Resolution::ALL) {
                        for c in &r.pending {
                            let w = window_of(c.first_t, res.window_ms());
                            bytes += c.bytes.len();
                            ops.push(BatchOp::Put(
                                keys::block_key(&[keys::ROLLUP, res.idx() as u8], w, id, c.last_t),
                                c.bytes.clone(),
                            ));
                            last[1 + res.idx()] = last[1 + res.idx()].max(c.last_t);
                        }
                    }
                    if last != s.persisted_last {
                        ops.push(BatchOp::Put(
                            keys::id_key(keys::LAST, id),
                            encode_last(last),
                        ));
                    }
                    if scope == FlushScope::All {
                        s.in_dirty = false;
                    }
                    marks.push(Mark {
                        id,
                        chunks: s.pending.len(),
                        blocks: [s.rollups[0].pending.len(), s.rollups[1].pending.len()],
                        persisted_last: last,
                    });
                }
                // Key order: the new chunks of a window land next to each other.
                ops.sort_by(|a, b| op_key(a).cmp(op_key(b)));
                (ops, marks)
            };
            if ops.is_empty() {
                continue;
            }
            let result = self.engine.write(&ops);
            let mut st = lock(&self.state);
            if let Err(e) = result {
                for m in marks {
                    st.mark_dirty(m.id);
                }
                if scope == FlushScope::All {
                    // Not attempted: still flagged dirty, so put them back in the list.
                    for id in chosen {
                        if st.series.get(&id).is_some_and(|s| s.in_dirty) {
                            st.dirty.push(id);
                        }
                    }
                }
                self.counters
                    .checkpoint_errors
                    .fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            let mut chunks = 0;
            for m in marks {
                let Some(s) = st.series.get_mut(&m.id) else {
                    continue;
                };
                s.recorded = true;
                s.persisted_last = m.persisted_last;
                let mut freed: usize = s.pending.drain(..m.chunks).map(|c| c.bytes.len()).sum();
                for (r, n) in s.rollups.iter_mut().zip(m.blocks) {
                    freed += r.pending.drain(..n).map(|c| c.bytes.len()).sum::<usize>();
                }
                chunks += m.chunks as u64;
                self.counters
                    .bytes_written
                    .fetch_add(freed as u64, Ordering::Relaxed);
                st.pending_bytes = st.pending_bytes.saturating_sub(freed);
            }
            self.counters
                .chunks_written
                .fetch_add(chunks, Ordering::Relaxed);
        }
        if scope == FlushScope::All {
            if let Err(e) = self.write_heads() {
                self.counters
                    .checkpoint_errors
                    .fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
            self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Rewrites the heads file with the image of every series holding data in memory (when it
    /// changed since the last one), then deletes `H` records left by store format 1. The caller
    /// holds `flush_lock` and has just written the changed series' closed blocks.
    ///
    /// Images are taken a slice of series at a time, each slice under the state lock, and go to
    /// the file between slices: memory stays bounded and appends wait at most one slice. Each
    /// image holds its series' data not yet in the engine at its moment, which is all a
    /// restore needs; series created meanwhile wait for the next checkpoint.
    fn write_heads(&self) -> Result<(), StoreError> {
        let (ids, legacy) = {
            let mut st = lock(&self.state);
            if !st.heads_stale {
                return Ok(());
            }
            st.heads_stale = false;
            let ids: Vec<u64> = st.series.keys().copied().collect();
            (ids, st.legacy_heads)
        };
        let written = (|| {
            let mut file = heads::Writer::create(&self.opts.path)?;
            for slice in ids.chunks(HEADS_SLICE) {
                let st = lock(&self.state);
                // A series without its `S` record on disk is not restorable yet.
                for (id, s) in slice
                    .iter()
                    .filter_map(|id| st.series.get(id).map(|s| (*id, s)))
                    .filter(|(_, s)| s.recorded && !s.mem_empty())
                {
                    file.entry(id, |out| s.encode_image(out))?;
                }
            }
            file.commit()
        })();
        if let Err(e) = self.engine.record(Sink::Heads, written) {
            lock(&self.state).heads_stale = true;
            return Err(e);
        }
        if legacy {
            let mut ops = Vec::new();
            self.engine
                .scan(&[keys::HEAD], &[keys::HEAD + 1], &mut |k, _| {
                    ops.push(BatchOp::Delete(k.to_vec()));
                    true
                })?;
            self.write_deletes(&mut ops)?;
            lock(&self.state).legacy_heads = false;
        }
        Ok(())
    }

    fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport, StoreError> {
        let _guard = lock(&self.flush_lock);
        let cut_raw = now.saturating_sub(self.opts.retention_raw.as_millis_i64());
        let cut_roll = now.saturating_sub(self.opts.retention_rollups.as_millis_i64());
        let mut report = RetentionReport::default();
        // 1. Trim what is in memory.
        {
            let mut st = lock(&self.state);
            let mut freed = 0;
            let mut changed = Vec::new();
            for (id, s) in st.series.iter_mut() {
                let mut touched = false;
                let before = s.pending.len();
                let raw_alive = |t: i64| {
                    window_of(t, CHUNK_WINDOW_MS).saturating_add(CHUNK_WINDOW_MS) > cut_raw
                };
                s.pending.retain(|c| {
                    let keep = raw_alive(c.first_t);
                    if !keep {
                        freed += c.bytes.len();
                    }
                    keep
                });
                touched |= s.pending.len() != before;
                if s.head.count() > 0 && !raw_alive(s.head.first_t()) {
                    s.head = BlockEncoder::new();
                    touched = true;
                }
                for res in Resolution::ALL {
                    let w = res.width_ms();
                    let r = &mut s.rollups[res.idx()];
                    let before = r.pending.len();
                    let rw = res.window_ms();
                    let alive = |t: i64| window_of(t, rw).saturating_add(rw) > cut_roll;
                    r.pending.retain(|c| {
                        let keep = alive(c.first_t);
                        if !keep {
                            freed += c.bytes.len();
                        }
                        keep
                    });
                    touched |= r.pending.len() != before;
                    if r.block.count() > 0 && !alive(r.block.first_t()) {
                        r.block = BlockEncoder::new();
                        touched = true;
                    }
                    if r.open.is_some_and(|b| b.t.saturating_add(w) <= cut_roll) {
                        r.open = None;
                        touched = true;
                    }
                }
                if touched {
                    changed.push(*id);
                }
            }
            st.pending_bytes = st.pending_bytes.saturating_sub(freed);
            for id in changed {
                st.mark_dirty(id);
            }
        }
        // 2. Persist the trimmed heads first, so no older head record can bring deleted
        //    samples back after a crash.
        self.flush_locked(FlushScope::All)?;
        // 3. Delete expired windows on disk: whole windows whose end is before the cutoff.
        let mut ops = Vec::new();
        let raw_prefix = [keys::CHUNK];
        let to = keys::window_key(&raw_prefix, window_of(cut_raw, CHUNK_WINDOW_MS));
        self.engine.scan(&raw_prefix, &to, &mut |k, _| {
            ops.push(BatchOp::Delete(k.to_vec()));
            true
        })?;
        report.chunks_deleted += ops.len() as u64;
        self.write_deletes(&mut ops)?;
        for res in Resolution::ALL {
            let prefix = [keys::ROLLUP, res.idx() as u8];
            let to = keys::window_key(&prefix, window_of(cut_roll, res.window_ms()));
            self.engine.scan(&prefix, &to, &mut |k, _| {
                ops.push(BatchOp::Delete(k.to_vec()));
                true
            })?;
            report.rollup_blocks_deleted += ops.len() as u64;
            self.write_deletes(&mut ops)?;
        }
        // 4. Drop series with nothing left in memory or on disk.
        {
            let mut st = lock(&self.state);
            let expired = |last: i64, w: i64, cut: i64| {
                last == i64::MIN || window_of(last, w).saturating_add(w) <= cut
            };
            let drop_ids: Vec<u64> = st
                .series
                .iter()
                .filter(|(_, s)| {
                    s.mem_empty()
                        && !s.in_dirty
                        && expired(s.persisted_last[0], CHUNK_WINDOW_MS, cut_raw)
                        && Resolution::ALL.iter().all(|r| {
                            expired(s.persisted_last[1 + r.idx()], r.window_ms(), cut_roll)
                        })
                })
                .map(|(id, _)| *id)
                .collect();
            if !drop_ids.is_empty() {
                let mut ops = Vec::new();
                for &id in &drop_ids {
                    for tag in [keys::SERIES, keys::HEAD, keys::LAST] {
                        ops.push(BatchOp::Delete(keys::id_key(tag, id)));
                    }
                }
                self.engine.write(&ops)?;
                for id in drop_ids {
                    if let Some(s) = st.series.remove(&id) {
                        st.index.remove(&s.labels, id);
                        report.series_dropped += 1;
                    }
                }
            }
        }
        // 5. Give space back.
        self.engine.compact()?;
        Ok(report)
    }

    fn write_deletes(&self, ops: &mut Vec<BatchOp>) -> Result<(), StoreError> {
        while !ops.is_empty() {
            let n = ops.len().min(DELETE_BATCH);
            let batch: Vec<BatchOp> = ops.drain(..n).collect();
            self.engine.write(&batch)?;
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_thread();
        if lock(&self.state).closed {
            return;
        }
        let _guard = lock(&self.flush_lock);
        if let Err(e) = self.flush_locked(FlushScope::All) {
            tracing::error!(error = %e, "store: final checkpoint on drop failed");
        }
    }
}

fn op_key(op: &BatchOp) -> &[u8] {
    match op {
        BatchOp::Put(k, _) | BatchOp::Delete(k) => k,
    }
}

/// The `L` record: last persisted chunk and rollup block times.
fn encode_last(last: [i64; 3]) -> Vec<u8> {
    last.iter().flat_map(|t| t.to_be_bytes()).collect()
}

fn decode_last(b: &[u8]) -> Option<[i64; 3]> {
    let mut pos = 0;
    let mut out = [0i64; 3];
    for t in &mut out {
        *t = keys::get_u64(b, &mut pos)? as i64;
    }
    (pos == b.len()).then_some(out)
}

fn check_meta(engine: &dyn KvEngine, path: &Path) -> Result<(), StoreError> {
    let key = |name: &str| {
        let mut k = vec![keys::META];
        k.extend_from_slice(name.as_bytes());
        k
    };
    match engine.get(&key("format"))? {
        None => {
            let mut any = false;
            engine.scan(&[0], &[0xff], &mut |_, _| {
                any = true;
                false
            })?;
            if any {
                return Err(StoreError::Corrupt(format!(
                    "{} holds data but no store metadata",
                    path.display()
                )));
            }
            engine.write(&[
                BatchOp::Put(key("format"), FORMAT.as_bytes().to_vec()),
                BatchOp::Put(key("engine"), engine.kind().as_str().as_bytes().to_vec()),
            ])
        }
        Some(f) if UPGRADABLE.iter().any(|u| u.as_bytes() == f) => {
            // Blocks and heads of the new format are written from now on.
            engine.write(&[BatchOp::Put(key("format"), FORMAT.as_bytes().to_vec())])?;
            check_meta(engine, path)
        }
        Some(f) if f != FORMAT.as_bytes() => Err(StoreError::FormatVersion {
            path: path.to_path_buf(),
            found: String::from_utf8_lossy(&f).into_owned(),
        }),
        Some(_) => {
            let found = engine.get(&key("engine"))?.unwrap_or_default();
            let found: Engine = String::from_utf8_lossy(&found).parse()?;
            if found != engine.kind() {
                return Err(StoreError::WrongEngine {
                    path: path.to_path_buf(),
                    found,
                    requested: engine.kind(),
                });
            }
            Ok(())
        }
    }
}

fn load_state(engine: &dyn KvEngine, dir: &Path) -> Result<State, StoreError> {
    let mut st = State::default();
    let mut err = None;
    engine.scan(&[keys::SERIES], &[keys::SERIES + 1], &mut |k, v| match (
        keys::id_of(k, 1),
        keys::decode_labels(v),
    ) {
        (Some(id), Some(labels)) => {
            let labels = Arc::new(labels);
            st.index.insert(labels.clone(), id);
            let mut s = SeriesState::new(labels);
            s.recorded = true;
            st.series.insert(id, s);
            st.next_id = st.next_id.max(id + 1);
            true
        }
        _ => {
            err = Some(StoreError::Corrupt(format!("bad series record {k:?}")));
            false
        }
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    engine.scan(&[keys::LAST], &[keys::LAST + 1], &mut |k, v| {
        let r = match (keys::id_of(k, 1), decode_last(v)) {
            (Some(id), Some(last)) => match st.series.get_mut(&id) {
                Some(s) => {
                    s.persisted_last = last;
                    s.last_t = last[0];
                    Ok(())
                }
                None => Err(StoreError::Corrupt(format!(
                    "L record of unknown series {id}"
                ))),
            },
            _ => Err(StoreError::Corrupt(format!("bad L record {k:?}"))),
        };
        r.map_err(|e| err = Some(e)).is_ok()
    })?;
    if let Some(e) = err.take() {
        return Err(e);
    }
    // The heads file supersedes `H` records of store format 1; those are read only when there
    // is no heads file yet, and deleted by the next checkpoint either way.
    let file = heads::read(dir)?;
    engine.scan(&[keys::HEAD], &[keys::HEAD + 1], &mut |k, v| {
        st.legacy_heads = true;
        if file.is_some() {
            return false;
        }
        let r = keys::id_of(k, 1)
            .ok_or_else(|| StoreError::Corrupt(format!("bad head key {k:?}")))
            .and_then(|id| st.restore(id, v, true));
        r.map_err(|e| err = Some(e)).is_ok()
    })?;
    if let Some(e) = err {
        return Err(e);
    }
    if let Some(body) = &file {
        for entry in heads::entries(body) {
            let (id, img) = entry?;
            st.restore(id, img, false)?;
        }
    }
    st.heads_stale |= st.legacy_heads;
    Ok(st)
}

impl SeriesStore for Store {
    fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StorageError> {
        Store::append(self, batch).map_err(Into::into)
    }

    fn select(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Series>, StorageError> {
        Store::select(self, matchers, start, end).map_err(Into::into)
    }
}

impl KvStore for Store {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Store::check_namespace(namespace)?;
        let key = keys::kv_key(namespace, key);
        if let Some(v) = lock(&self.inner.unsaved).get(&key) {
            return Ok(v.clone());
        }
        Ok(self.inner.engine.get(&key)?)
    }

    fn scan_prefix(&self, namespace: &str, prefix: &[u8]) -> Result<KvPairs, StorageError> {
        Store::check_namespace(namespace)?;
        let start = keys::kv_key(namespace, prefix);
        let strip = namespace.len() + 2;
        // The namespace's NUL separator keeps the end key inside the namespace.
        let end = keys::prefix_end(&start).unwrap_or_else(|| vec![keys::KV + 1]);
        let mut out = Vec::new();
        self.inner.engine.scan(&start, &end, &mut |k, v| {
            out.push((k[strip..].to_vec(), v.to_vec()));
            true
        })?;
        let unsaved = lock(&self.inner.unsaved);
        let mut pending = unsaved.range(start..end).peekable();
        if pending.peek().is_none() {
            return Ok(out);
        }
        let mut merged: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = out.into_iter().collect();
        for (k, v) in pending {
            let k = k[strip..].to_vec();
            match v {
                Some(v) => merged.insert(k, v.clone()),
                None => merged.remove(&k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    fn write(&self, batch: KvBatch) -> Result<(), StorageError> {
        let ops = self.kv_ops(batch)?;
        Ok(self.inner.write_kv(ops, OnFailure::Fail)?)
    }

    fn write_eventually(&self, batch: KvBatch) -> Result<(), StorageError> {
        let ops = self.kv_ops(batch)?;
        Ok(self.inner.write_kv(ops, OnFailure::Keep)?)
    }

    fn write_or_keep(&self, batch: KvBatch) -> Result<(), StorageError> {
        let ops = self.kv_ops(batch)?;
        Ok(self.inner.write_kv(ops, OnFailure::KeepAndFail)?)
    }
}

impl Store {
    /// The engine operations of a key-value batch; refuses writes to a closed store.
    fn kv_ops(&self, batch: KvBatch) -> Result<Vec<BatchOp>, StoreError> {
        if lock(&self.inner.state).closed {
            return Err(StoreError::Closed);
        }
        let mut ops = Vec::with_capacity(batch.0.len());
        for op in batch.0 {
            match op {
                KvOp::Put {
                    namespace,
                    key,
                    value,
                } => {
                    Store::check_namespace(&namespace)?;
                    ops.push(BatchOp::Put(keys::kv_key(&namespace, &key), value));
                }
                KvOp::Delete { namespace, key } => {
                    Store::check_namespace(&namespace)?;
                    ops.push(BatchOp::Delete(keys::kv_key(&namespace, &key)));
                }
            }
        }
        Ok(ops)
    }
}

impl Inner {
    /// Writes `ops` in one batch behind the deferred entries (which go first, so a newer
    /// write wins). On failure, `on_failure` decides whether `ops` join the deferred entries
    /// and whether the error is returned; the deferred entries stay either way.
    fn write_kv(&self, ops: Vec<BatchOp>, on_failure: OnFailure) -> Result<(), StoreError> {
        let mut unsaved = lock(&self.unsaved);
        if ops.is_empty() && unsaved.is_empty() {
            return Ok(());
        }
        // The usual case (nothing deferred) writes `ops` as they are, without a copy.
        let result = if unsaved.is_empty() {
            self.engine.write(&ops)
        } else {
            let all: Vec<BatchOp> = unsaved
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => BatchOp::Put(k.clone(), v.clone()),
                    None => BatchOp::Delete(k.clone()),
                })
                .chain(ops.iter().cloned())
                .collect();
            self.engine.write(&all)
        };
        match result {
            Ok(()) => {
                unsaved.clear();
                Ok(())
            }
            Err(e) => {
                if on_failure != OnFailure::Fail {
                    for op in ops {
                        match op {
                            BatchOp::Put(k, v) => unsaved.insert(k, Some(v)),
                            BatchOp::Delete(k) => unsaved.insert(k, None),
                        };
                    }
                }
                if on_failure == OnFailure::Keep {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}

/// What [`Inner::write_kv`] does with a batch the engine refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OnFailure {
    /// Return the error; the batch is dropped ([`KvStore::write`]).
    Fail,
    /// Keep the batch with the deferred entries and return `Ok`
    /// ([`KvStore::write_eventually`]).
    Keep,
    /// Keep the batch and return the error ([`KvStore::write_or_keep`]).
    KeepAndFail,
}

/// What the store writes to. Each is failing or not on its own: a small engine write that
/// fits in the database's free pages must not hide a heads file that cannot be written.
#[derive(Debug, Clone, Copy)]
enum Sink {
    Engine = 0,
    Heads = 1,
}

/// Per [`Sink`]: since when its writes fail and the last error; and all failed writes.
#[derive(Debug, Default)]
struct Health {
    failing: [Option<(Timestamp, String)>; 2],
    write_errors: u64,
}

impl Health {
    fn failing_since(&self) -> Option<Timestamp> {
        self.failing.iter().flatten().map(|(since, _)| *since).min()
    }
}

/// The engine, with the outcome of every write (to it or to the heads file) recorded for
/// [`StoreHealth`] (and the change between working and failing logged once each way).
struct Watched {
    engine: Box<dyn KvEngine>,
    health: Mutex<Health>,
}

impl Watched {
    fn record<T>(&self, sink: Sink, r: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut h = lock(&self.health);
        let was_failing = h.failing_since();
        match &r {
            Ok(_) => h.failing[sink as usize] = None,
            Err(e) => {
                h.write_errors += 1;
                let since = h.failing[sink as usize]
                    .as_ref()
                    .map_or_else(wall_ms, |f| f.0);
                h.failing[sink as usize] = Some((since, e.to_string()));
            }
        }
        match (was_failing, &r) {
            (Some(since), Ok(_)) if h.failing_since().is_none() => tracing::info!(
                failed_for_ms = wall_ms() - since,
                "store: writes reach the disk again"
            ),
            (None, Err(e)) => tracing::error!(
                error = %e,
                "store: writes fail (disk full?); samples and state stay in memory until the \
                 disk takes them"
            ),
            _ => {}
        }
        r
    }

    /// The health as of now (without the deferred entries, which the store counts).
    fn health(&self) -> StoreHealth {
        let h = lock(&self.health);
        StoreHealth {
            failing_since: h.failing_since(),
            last_error: h.failing.iter().flatten().map(|(_, e)| e.clone()).next(),
            write_errors: h.write_errors,
            deferred_entries: 0,
        }
    }

    fn write(&self, ops: &[BatchOp]) -> Result<(), StoreError> {
        self.record(Sink::Engine, self.engine.write(ops))
    }

    fn compact(&self) -> Result<(), StoreError> {
        self.record(Sink::Engine, self.engine.compact())
    }
}

impl std::ops::Deref for Watched {
    type Target = dyn KvEngine;
    fn deref(&self) -> &Self::Target {
        self.engine.as_ref()
    }
}

/// Wall-clock milliseconds since the epoch (for [`StoreHealth`]).
fn wall_ms() -> Timestamp {
    use model::clock::Clock;
    model::clock::SystemClock.now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(s: &SeriesState) -> Vec<Vec<Bucket>> {
        s.rollups.iter().map(|r| r.buckets().unwrap()).collect()
    }

    /// The heads file image holds every row in memory, closed blocks waiting included, and a
    /// restore skips rows already on disk (at or before the `L` record).
    #[test]
    fn image_roundtrip_keeps_waiting_blocks_and_skips_persisted_rows() {
        let labels = Arc::new(Labels::from_pairs([("__name__", "x")]));
        let mut s = SeriesState::new(labels.clone());
        // 1,000 samples at 1 s: eight closed chunks, 40 rows open; three closed 5 m buckets.
        for i in 0..1000i64 {
            s.push(Sample::new(i * 1000, i as f64 / 4.0));
        }
        assert_eq!(s.pending.len(), 8);
        let mut img = Vec::new();
        s.encode_image(&mut img);

        let mut all = SeriesState::new(labels.clone());
        let restored = all.restore_image(&img, false).unwrap();
        assert_eq!(
            restored,
            s.pending.iter().map(|c| c.bytes.len()).sum::<usize>()
        );
        assert_eq!(all.mem_samples().unwrap(), s.mem_samples().unwrap());
        assert_eq!(buckets(&all), buckets(&s));
        assert_eq!(all.last_t, 999_000);

        let mut rest = SeriesState::new(labels);
        rest.persisted_last = [s.pending[1].last_t, 299_999, i64::MIN];
        rest.restore_image(&img, false).unwrap();
        assert_eq!(rest.pending.len(), 6);
        assert_eq!(rest.mem_samples().unwrap(), s.mem_samples().unwrap()[240..]);
        let five_min = &buckets(&s)[0];
        assert_eq!(buckets(&rest)[0], five_min[1..]);
    }
}
