//! The public types: engines, options, errors, rollup buckets and reports.

use std::path::PathBuf;

use model::clock::Timestamp;
use model::storage::StorageError;
use model::{Duration, Labels};

use crate::upgrade::FORMAT;

/// Which key-value engine holds the data (defined in `model::storage`, where the
/// configuration loader reads it without linking the engines).
pub use model::storage::Engine;

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
    /// How often in-memory heads are checkpointed to disk (which empties the write-ahead
    /// log). Default 60 s; zero disables the background thread (checkpoint by hand).
    pub checkpoint_interval: Duration,
    /// How often the write-ahead log is fsynced: the most a power loss (not a crash of the
    /// process, which loses nothing) can lose. Default 1 s; zero syncs before every append
    /// returns (one disk flush per append).
    pub wal_fsync_interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            path: PathBuf::from("data"),
            engine: Engine::Redb,
            retention_raw: Duration::from_secs(30 * 86_400),
            retention_rollups: Duration::from_secs(365 * 86_400),
            checkpoint_interval: Duration::from_secs(60),
            wal_fsync_interval: Duration::from_secs(1),
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
    #[error(transparent)]
    UnknownEngine(#[from] model::storage::UnknownEngine),
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
    pub(crate) const ALL: [Resolution; 2] = [Resolution::FiveMinutes, Resolution::OneHour];
    pub(crate) const fn idx(self) -> usize {
        match self {
            Resolution::FiveMinutes => 0,
            Resolution::OneHour => 1,
        }
    }
    /// The aligned time window one rollup block covers.
    pub(crate) const fn window_ms(self) -> i64 {
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
    pub(crate) fn new(t: Timestamp, v: f64) -> Self {
        Bucket {
            t,
            count: 1,
            min: v,
            max: v,
            sum: v,
        }
    }
    pub(crate) fn add(&mut self, v: f64) {
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v;
    }
    /// `sum / count`.
    pub fn avg(&self) -> f64 {
        self.sum / self.count as f64
    }
    pub(crate) fn to_row(self) -> [u64; 4] {
        [
            (self.count as f64).to_bits(),
            self.min.to_bits(),
            self.max.to_bits(),
            self.sum.to_bits(),
        ]
    }
    pub(crate) fn from_row(t: Timestamp, r: [u64; 4]) -> Self {
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
    /// Samples restored from the write-ahead log when the store was opened (appended after
    /// the last checkpoint before a crash; samples already in the heads file not counted).
    pub wal_replayed_samples: u64,
    /// Bytes of torn or damaged write-ahead log tails dropped when the store was opened.
    pub wal_dropped_bytes: u64,
    /// Compactions of the engine's file after closed windows moved to blocks (redb; see the
    /// crate docs, "Blocks") since the store was opened.
    pub engine_compactions: u64,
    /// The longest of them, in ms (queries and key-value writes wait meanwhile).
    pub engine_compaction_max_ms: u64,
    /// Write-ahead log segments held for a reader that were deleted over the hold limit
    /// ([`crate::Store::set_wal_hold_limit`]).
    pub wal_released_segments: u64,
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
    /// Block files deleted (each holds one closed window of every series).
    pub block_files_deleted: u64,
    /// Series removed because nothing was left of them.
    pub series_dropped: u64,
}
