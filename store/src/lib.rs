//! The embedded time-series store and key-value state store of alertd.
//!
//! [`Store`] owns everything that must survive a restart: time series (with downsampled
//! rollups) and a namespaced key-value area for state (alert state, silences, acks, the
//! notification log). It implements [`model::storage::SeriesStore`] and
//! [`model::storage::KvStore`]. Underneath is a small ordered key-value engine trait
//! ([`engine::KvEngine`]) with two implementations, picked by [`Engine`]: redb 4.x (the
//! default) and sled 0.34.7. In-memory heads are checkpointed to a file of their own.
//!
//! # Modules
//!
//! `types` (the public types), `state` (the in-memory heads, their images, loading on open),
//! `query` (raw and rollup selects merging memory and disk), `checkpoint` (the background
//! thread, writing closed chunks and the heads file), `blocks` (closed windows moved into block
//! files, the registry of committed blocks), `block` (the block file), `retention`, `upgrade` (format metadata,
//! older formats opened in place), `kv` (the key-value area), `health` (write failures per
//! sink); below them `engine` (redb and sled behind one trait), `keys`, `codec`, `heads` (the
//! heads file) and `index`. `lib.rs` holds [`Store`] itself: open, append, backup, close.
//!
//! # Key layout
//!
//! One ordered keyspace; the first byte says what a key holds. Ids are `u64` big-endian and
//! timestamps are written with their sign bit flipped (big-endian), so keys sort by time.
//!
//! | key | value |
//! | --- | --- |
//! | `M` name | store metadata: `format` = `alertd-store/3`, `engine` = `sled` or `redb` |
//! | `S` id | the series' labels (`count (len name len value)*`, varints) |
//! | `L` id | last time of the series' newest persisted raw chunk, 5 m and 1 h block (3 × i64) |
//! | `H` id | format 1 only: the series' head checkpoint, now in the heads file (read once, then deleted) |
//! | `C` window id last_t | a closed raw chunk; `window`: the aligned 2 h window it lies in |
//! | `R` res window id last_t | a closed rollup block (res 0 = 5 m in 4 h windows, 1 = 1 h in 1 d windows) |
//! | `B` kind window seq | a committed block file (kind 0 raw, 1 5 m, 2 1 h; seq `u32 BE`) → its size |
//! | `K` namespace `0x00` key | the key-value area ([`model::storage::KvStore`]) |
//!
//! Data keys are time-major: the chunks written by one flush all fall in the newest window(s),
//! at the end of the keyspace, instead of one insertion per series spread over the whole tree
//! (measured with redb: that layout rewrote most of the tree on every flush). Closed windows
//! leave the engine for block files (see "Blocks"). A query scans,
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
//! Delta-of-delta timestamps and compressed value columns (see `codec.rs`). Version 3 (written
//! since store format 3): a `u16 BE` header (two version bits, row count), a flags byte, the
//! first timestamp (`i64 BE`); then for a series at a regular interval only the interval (a
//! varint: no bits per sample), else a separate timestamp stream (`0` for an unchanged delta,
//! buckets of 14, 17, 20 or 64 bits); then the value stream: the first row's 64 raw bits, and
//! per later row `0` + a run length (Elias gamma) for rows equal to the previous one, or `1` +
//! the changed value: while the series' values are decimal (`50.37` = 5037 at scale 2, integer
//! counters at scale 0), the delta-of-delta of that integer in an adaptive width (the widest of
//! the last four, with an escape), else the XOR with the previous value in a window whose
//! leading zeros are rounded down to one of eight classes (Chimp's idea: values whose XOR has
//! a few leading zeros fewer still fit it). Every value round-trips bit for bit, so NaN
//! payloads such as the staleness marker ([`model::sample::STALE_NAN_BITS`]) survive. Blocks
//! of versions 1 (Gorilla) and 2 (decimal mode in one interleaved stream) are still read. A
//! chunk closes at 120 samples or when a sample falls in the next aligned 2 h window (so a
//! 15 s series gets four chunks of 120 samples per 2 h, a 60 s series one chunk of 120).
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
//! dropped and counted. Every append also writes the samples it accepted (and the series it
//! created, with their labels) as one record to the write-ahead log `wal/` (see `wal.rs`)
//! before it returns, still under the state lock, so the log's order is the order of the
//! appends. The write goes to the page cache: a killed process loses nothing, and a thread
//! fsyncs the segments written since its last round every `wal_fsync_interval` (default 1 s;
//! zero: every append syncs before it returns), the most a power loss can lose. It costs one
//! `write(2)` per append and about 11 bytes per sample of log (measured on the bench: see
//! the README).
//!
//! A background thread checkpoints every `checkpoint_interval` (default 60 s) in two steps,
//! after cutting the log (under the state lock: later appends go to a new segment):
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
//! with the engine holds every sample appended before the image was taken, so once the heads
//! file is in place the log segments before the cut are deleted. On open, the heads file is
//! restored, then every remaining segment is replayed through the append path: samples not
//! newer than their series' newest (already in the image or the engine) are skipped, so
//! nothing is restored twice, and a rollup bucket of a block already written is not opened
//! again. A record that is short or fails its CRC ends its segment (a write torn by the
//! crash, or damage); the bytes dropped are logged and counted
//! ([`StoreStats::wal_dropped_bytes`]), and later segments are still read. Appends after the
//! open go to a new segment. [`Store::close`] (the daemon's SIGTERM path) checkpoints, which
//! leaves the log empty (but for held segments, below).
//!
//! Readers tail the log ([`Store::wal_reader`], remote_write's queues): a [`WalReader`] reads
//! record by record from a [`WalPosition`] (segment, byte offset), waits at a record that is
//! not whole yet in the newest segment, and skips torn tails of finished segments and
//! segments deleted under it (counted). A reader keeps the segments it still needs with a
//! named hold ([`Store::set_wal_hold`], persisted in `wal/holds/` and loaded on open): a
//! checkpoint then deletes only the segments before both its cut and every hold, and writes
//! `wal/replay_from` (its cut) so a restart does not replay held segments. Held segments
//! beyond [`Store::set_wal_hold_limit`] (1 GiB by default) are deleted anyway, oldest first,
//! logged and counted ([`StoreStats::wal_released_segments`]): a receiver that is down for good
//! cannot fill the disk. Queries merge persisted chunks with the in-memory head:
//! persisted samples are used only up to the first sample still held in memory, so nothing is
//! returned twice.
//!
//! # Blocks
//!
//! The `C` and `R` records are a staging area: when a window has closed (it ended at least one
//! window length before the newest sample of the store, taken no later than an hour past the
//! wall clock so one series stamped in the future cannot close them early),
//! the next flush moves it into one immutable block file in `blocks/`, named
//! `kind_window_seq.blk` (see `block.rs` for the layout): per series, ascending ids, its chunks
//! of the window merged into as few chunks as they fit (one per series for a 2 h window at 15 s:
//! the per-chunk header and first value are paid once), then a series index (id delta, data
//! length, CRC-32 of the data) and a footer with the index's place and a CRC-32 of header and
//! index. A chunk that closes after its window's block was written (a series silent for hours)
//! waits in the engine again and goes into the window's next block (`seq` + 1).
//!
//! The switch is crash-safe without any half state being visible: the block is written to a
//! `.tmp` name, synced, renamed and the directory synced; then one engine batch deletes the
//! window's chunks and records the block (`B` key). On open, the blocks recorded are the blocks;
//! a block file without a record (a crash between the rename and the batch: the engine still
//! holds its chunks) and `.tmp` files are deleted. Queries hold the registry's read lock across
//! their block and engine reads and the switch holds its write lock, so a query sees a window's
//! chunks in the engine or in its block, never in both or neither. A query reads each block's
//! index (checked against its CRC) and the data of the wanted series only (nearby series in
//! one read). A block whose index fails its checksum, or a series whose data does, is logged
//! (`store: block unreadable` / `fails its checksum`) and left out of the result; the rest of
//! the data is served. A recorded block that cannot be opened is logged on open and left out.
//!
//! Rollups go the same way (4 h windows of 5 m buckets, 1 d windows of 1 h buckets): a rollup
//! window of 10,000 series is one file instead of 10,000 records. The key-value area stays in
//! the engine. What remains in the engine of the series data is only the last one or two
//! windows of each kind, so its B-tree stays small.
//!
//! redb reuses the pages a move frees but never shrinks its file below the highest page in
//! use, so the file kept the high-water mark of the staged windows (on the store bench about
//! 24 MB over what it held). After a flush that moved windows, the store therefore asks the
//! engine how much of its file is free (redb's statistics, read in an aborted write
//! transaction) and compacts it when that is at least 8 MiB and a quarter of the file.
//! The compaction is online (see `engine.rs`): the live entries of one snapshot are copied
//! into `store.redb.compact` while queries, appends and key-value writes go on; then the
//! key-value writes made meanwhile (kept in memory) are applied to the copy, which is synced
//! and renamed over `store.redb`. Key-value writes wait only for that last step, queries only
//! for the switch of the handle (redb's own `compact()` needs the database to itself: every
//! query and key-value write waited for all of it, 8–9 s on the bench under load). A crash
//! before the rename leaves the old file, and the copy is deleted on open.
//! [`StoreStats::engine_compactions`] counts them and keeps the longest (measured on the
//! bench: see the README). A failed compaction is logged and tried again after the next move.
//!
//! # Retention
//!
//! [`Store::apply_retention`] deletes every raw window that ended before `now - retention_raw`
//! (default 30 d) and every rollup window that ended before `now - retention_rollups` (default
//! 365 d) — whole block files (their `B` records first, then the files; a file left by a crash
//! in between has no record and goes on the next open) and the chunks still in the engine — so data is kept up to one window (2 h raw, 4 h / 1 d rollups) longer than asked. It
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

mod block;
mod blocks;
mod checkpoint;
mod codec;
mod heads;
mod health;
mod index;
mod keys;
mod kv;
mod query;
mod retention;
mod state;
mod types;
mod upgrade;
mod wal;

pub use wal::{
    Entry as WalEntry, Position as WalPosition, ReadOutcome as WalRead, Reader as WalReader,
};

pub use types::{
    BackupReport, Bucket, Engine, Resolution, RetentionReport, RollupSeries, StoreError,
    StoreHealth, StoreOptions, StoreStats,
};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;

use model::clock::Timestamp;
use model::storage::{Series, SeriesStore, StorageError};
use model::{Labels, Matcher, Sample};

use checkpoint::{checkpoint_loop, wal_sync_loop, FlushScope};
use engine::open_engine;
use health::{Health, Watched};
use kv::OnFailure;
use state::{load_state, SeriesState, State};
use upgrade::check_meta;

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

/// Closed chunks and blocks waiting in memory beyond this are written without waiting for the
/// next checkpoint.
const PENDING_FLUSH_BYTES: usize = 1 << 20;

#[derive(Debug, Default)]
struct Counters {
    ingested: AtomicU64,
    out_of_order: AtomicU64,
    chunks_written: AtomicU64,
    bytes_written: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_errors: AtomicU64,
    wal_replayed_samples: AtomicU64,
    wal_dropped_bytes: AtomicU64,
    engine_compactions: AtomicU64,
    engine_compaction_max_ms: AtomicU64,
    wal_released_segments: AtomicU64,
}

/// The default of [`Store::set_wal_hold_limit`].
pub const DEFAULT_WAL_HOLD_LIMIT: u64 = 1 << 30;

type StopSignal = Arc<(Mutex<bool>, Condvar)>;

struct Inner {
    engine: Watched,
    /// Key-value writes deferred by [`KvStore::write_eventually`]: key -> value (`None`:
    /// delete), written ahead of the next key-value write.
    unsaved: Mutex<std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    opts: StoreOptions,
    state: Mutex<State>,
    /// The write-ahead log; locked inside `state` by appends, so records are in append order.
    wal: Mutex<wal::Writer>,
    /// Readers' positions the log is kept from ([`Store::set_wal_hold`]), by name.
    holds: Mutex<std::collections::BTreeMap<String, wal::Position>>,
    /// See [`Store::set_wal_hold_limit`].
    hold_limit: AtomicU64,
    /// Serialises writers of series data (checkpoints, early flushes, retention).
    flush_lock: Mutex<()>,
    /// Committed block files and the windows whose chunks wait in the engine.
    blocks: blocks::Registry,
    counters: Counters,
    /// See [`Store::set_max_pending_bytes`].
    max_pending: AtomicUsize,
    /// See [`Store::set_compact_min_free`].
    reclaim_min_free: AtomicU64,
    stop: StopSignal,
    threads: Mutex<Vec<JoinHandle<()>>>,
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

impl Store {
    /// Opens (creating when missing) the store in `opts.path`, restores the heads file and
    /// replays the write-ahead log, and starts the checkpoint and log sync threads.
    pub fn open(opts: StoreOptions) -> Result<Store, StoreError> {
        let engine = open_engine(opts.engine, &opts.path)?;
        check_meta(engine.as_ref(), &opts.path)?;
        let blocks = blocks::load(engine.as_ref(), &opts.path)?;
        let mut state = load_state(engine.as_ref(), &opts.path)?;
        let replayed = state.replay_wal(&opts.path)?;
        let wal = wal::Writer::open(&opts.path)?;
        let holds = wal::load_holds(&opts.path)?;
        let inner = Arc::new(Inner {
            engine: Watched {
                engine,
                health: Mutex::new(Health::default()),
                wal_failing: Default::default(),
            },
            unsaved: Mutex::new(Default::default()),
            opts,
            state: Mutex::new(state),
            flush_lock: Mutex::new(()),
            blocks: blocks::Registry::new(blocks),
            counters: Counters {
                wal_replayed_samples: AtomicU64::new(replayed.samples),
                wal_dropped_bytes: AtomicU64::new(replayed.dropped_bytes),
                ..Counters::default()
            },
            wal: Mutex::new(wal),
            holds: Mutex::new(holds),
            hold_limit: AtomicU64::new(DEFAULT_WAL_HOLD_LIMIT),
            max_pending: AtomicUsize::new(PENDING_FLUSH_BYTES),
            reclaim_min_free: AtomicU64::new(blocks::RECLAIM_MIN_FREE),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            threads: Mutex::new(Vec::new()),
        });
        let spawn = |name: &str, work: fn(Weak<Inner>, StopSignal, std::time::Duration), every| {
            let weak = Arc::downgrade(&inner);
            let stop = inner.stop.clone();
            let handle = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || work(weak, stop, every))
                .map_err(|e| StoreError::Io {
                    path: inner.opts.path.clone(),
                    source: e,
                })?;
            lock(&inner.threads).push(handle);
            Ok::<_, StoreError>(())
        };
        let interval = inner.opts.checkpoint_interval.to_std();
        if !interval.is_zero() {
            spawn("store-checkpoint", checkpoint_loop, interval)?;
        }
        let fsync = inner.opts.wal_fsync_interval.to_std();
        if !fsync.is_zero() {
            spawn("store-wal-sync", wal_sync_loop, fsync)?;
        }
        Ok(Store { inner })
    }

    /// The engine in use.
    pub fn engine(&self) -> Engine {
        self.inner.opts.engine
    }

    /// Appends samples; a series is created on its first sample. Samples not newer than their
    /// series' newest are dropped and counted in [`StoreStats::out_of_order_dropped`]. The
    /// accepted samples are in the write-ahead log when this returns (see the crate docs); a
    /// log that cannot be written shows in [`Store::health`] while the samples stay in memory.
    pub fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StoreError> {
        let flush = {
            let mut guard = lock(&self.inner.state);
            let st = &mut *guard;
            if st.closed {
                return Err(StoreError::Closed);
            }
            let (mut accepted, mut dropped) = (0u64, 0u64);
            let mut log = std::mem::take(&mut st.wal_batch);
            log.clear();
            for (labels, sample) in batch {
                let id = match st.index.get(labels) {
                    Some(id) => id,
                    None => {
                        let id = st.next_id;
                        st.next_id += 1;
                        let l = Arc::new(labels.clone());
                        st.index.insert(l.clone(), id);
                        st.series.insert(id, Box::new(SeriesState::new(l)));
                        log.series(id, labels);
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
                log.sample(id, *sample);
                accepted += 1;
                st.pending_bytes += moved;
                st.mark_dirty(id);
            }
            // Still under the state lock: the log's order is the order of the appends.
            let sync = self.inner.opts.wal_fsync_interval == model::Duration::ZERO;
            let written = lock(&self.inner.wal).write(&log, sync);
            st.wal_batch = log;
            self.inner.engine.record_wal(written);
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
            self.inner.backup_blocks(&partial)?;
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

    /// Persists every head (emptying the write-ahead log), stops the background threads and flushes the engine. Later appends
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

    /// The least free space in the engine's file (default 8 MiB) for which a flush that moved
    /// closed windows into blocks compacts the engine (when that space is also a quarter of
    /// the file; see the crate docs, "Blocks"). `u64::MAX` never compacts there.
    pub fn set_compact_min_free(&self, bytes: u64) {
        self.inner.reclaim_min_free.store(bytes, Ordering::Relaxed);
    }

    /// For tests: see [`engine::KvEngine::set_compact_hook`] (redb's online compaction calls
    /// `hook` while it copies).
    #[doc(hidden)]
    pub fn set_compact_hook(&self, hook: Option<engine::CompactHook>) {
        self.inner.engine.set_compact_hook(hook);
    }

    /// A reader of the write-ahead log from `from` on (see [`Store::wal_oldest`] and
    /// [`Store::wal_hold`] for where to start). Series are named by id in the log: a record
    /// carries the labels of the series it created, [`Store::series_labels`] those of older
    /// ones.
    pub fn wal_reader(&self, from: WalPosition) -> WalReader {
        WalReader::new(&self.inner.opts.path, from)
    }

    /// The start of the oldest segment of the write-ahead log (of the next one written when
    /// there is none).
    pub fn wal_oldest(&self) -> Result<WalPosition, StoreError> {
        let next = lock(&self.inner.wal).next_segment();
        let first = wal::sizes_before(&self.inner.opts.path, u64::MAX)?
            .first()
            .map_or(next, |s| s.0);
        Ok(WalPosition {
            segment: first,
            offset: 0,
        })
    }

    /// The labels of the series with this id (`None`: unknown, or dropped by retention).
    pub fn series_labels(&self, id: u64) -> Option<Labels> {
        lock(&self.inner.state)
            .series
            .get(&id)
            .map(|s| (*s.labels).clone())
    }

    /// The position of the hold `name`, persisted across restarts (`None`: no such hold).
    pub fn wal_hold(&self, name: &str) -> Option<WalPosition> {
        lock(&self.inner.holds).get(name).copied()
    }

    /// The names of every hold (persisted ones included).
    pub fn wal_holds(&self) -> Vec<String> {
        lock(&self.inner.holds).keys().cloned().collect()
    }

    /// Keeps the write-ahead log's segments from `pos`'s on until the hold moves past them
    /// (a remote_write queue holds what it has not sent). Persisted (without fsync: a kill
    /// loses nothing, a power loss at most resends) and loaded on open, so it covers the time
    /// until its reader starts again. Held segments above [`Store::set_wal_hold_limit`] are
    /// deleted anyway at the next checkpoint.
    pub fn set_wal_hold(&self, name: &str, pos: WalPosition) -> Result<(), StoreError> {
        let mut holds = lock(&self.inner.holds);
        if holds.get(name) == Some(&pos) {
            return Ok(());
        }
        wal::save_hold(&self.inner.opts.path, name, pos)?;
        holds.insert(name.to_string(), pos);
        Ok(())
    }

    /// Removes the hold `name` (its segments go at the next checkpoint).
    pub fn release_wal_hold(&self, name: &str) -> Result<(), StoreError> {
        let mut holds = lock(&self.inner.holds);
        wal::remove_hold(&self.inner.opts.path, name)?;
        holds.remove(name);
        Ok(())
    }

    /// Bounds the bytes of write-ahead log segments kept for holds (default
    /// [`DEFAULT_WAL_HOLD_LIMIT`], 1 GiB), so a receiver that is down for good cannot fill
    /// the disk: beyond it the oldest held segments are deleted at a checkpoint, logged and
    /// counted in [`StoreStats::wal_released_segments`].
    pub fn set_wal_hold_limit(&self, bytes: u64) {
        self.inner.hold_limit.store(bytes, Ordering::Relaxed);
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
            wal_replayed_samples: c.wal_replayed_samples.load(Ordering::Relaxed),
            wal_dropped_bytes: c.wal_dropped_bytes.load(Ordering::Relaxed),
            engine_compactions: c.engine_compactions.load(Ordering::Relaxed),
            engine_compaction_max_ms: c.engine_compaction_max_ms.load(Ordering::Relaxed),
            wal_released_segments: c.wal_released_segments.load(Ordering::Relaxed),
        }
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

    fn select_each(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
        f: &mut dyn FnMut(&Labels, &[Sample]),
    ) -> Result<(), StorageError> {
        Store::select_each(self, matchers, start, end, f).map_err(Into::into)
    }
}
