//! The small ordered key-value engine trait the store is built on, and its two implementations:
//! sled 0.34.7 and redb 4.x. Both hold one ordered keyspace of byte strings.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::{Engine, StoreError};

/// One operation of an atomic batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    /// Set a key to a value.
    Put(Vec<u8>, Vec<u8>),
    /// Remove a key (no error when absent).
    Delete(Vec<u8>),
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

/// Called by an online compaction while it copies ([`KvEngine::set_compact_hook`]).
pub type CompactHook = Arc<dyn Fn() + Send + Sync>;

/// What an engine's files hold ([`KvEngine::space`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes of free pages and of fragmentation inside pages.
    pub free: u64,
    /// Bytes of keys, values and the engine's metadata.
    pub used: u64,
}

/// An ordered key-value engine.
pub trait KvEngine: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> Engine;
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Visits entries with `start <= key < end` in ascending key order until `visit` returns
    /// `false`.
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Like [`KvEngine::scan`] over each `(start, end)` range in turn (one read transaction
    /// where the engine has them); `visit` returning `false` ends the current range only.
    fn scan_ranges(
        &self,
        ranges: &[(Vec<u8>, Vec<u8>)],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for (start, end) in ranges {
            self.scan(start, end, visit)?;
        }
        Ok(())
    }
    /// The entry with the greatest key in `start <= key < end`.
    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, StoreError>;
    /// Applies `ops` atomically (all or none); they are on disk when this returns `Ok`.
    fn write(&self, ops: &[BatchOp]) -> Result<(), StoreError>;
    /// Makes every completed write durable (a no-op where writes already are).
    fn flush(&self) -> Result<(), StoreError>;
    /// Returns free space to the file system where the engine needs an explicit step for it;
    /// sled reclaims segments by itself, so this only flushes it. redb: an online compaction
    /// (see `RedbEngine::compact`): reads and writes go on while it runs and wait only for its
    /// last step, which applies the writes made meanwhile to the copy.
    fn compact(&self) -> Result<(), StoreError>;
    /// For tests: `hook` is called by each later compaction while it copies, after the
    /// snapshot it copies was taken and before the writes made meanwhile are applied to the
    /// copy (a hook that blocks holds the compaction there). Engines without an online
    /// compaction never call it.
    fn set_compact_hook(&self, _hook: Option<CompactHook>) {}
    /// Bytes of the engine's files that hold no data (free and fragmented pages) and the bytes
    /// that do (keys, values, metadata), where the engine can tell (redb); `None` elsewhere.
    fn space(&self) -> Result<Option<Space>, StoreError> {
        Ok(None)
    }
    /// Copies every entry, as of one moment, into a new database of the same engine in the
    /// empty directory `dir` (made durable before returning); returns the number of entries.
    /// Reads and writes of this engine go on meanwhile (redb; sled holds writes back).
    fn backup_to(&self, dir: &Path) -> Result<u64, StoreError>;
}

/// Entries copied per write transaction of a backup.
const BACKUP_BATCH_BYTES: usize = 4 << 20;

/// The file redb keeps inside the store directory.
pub const REDB_FILE: &str = "store.redb";
/// A file sled always creates in its directory.
const SLED_MARKER: &str = "conf";

/// Opens (creating when missing) the engine's files in directory `dir`. Refuses a directory that
/// holds the other engine's files.
pub fn open_engine(engine: Engine, dir: &Path) -> Result<Box<dyn KvEngine>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let has_sled = dir.join(SLED_MARKER).exists() || dir.join("db").exists();
    let has_redb = dir.join(REDB_FILE).exists();
    let wrong = |found: Engine| StoreError::WrongEngine {
        path: dir.to_path_buf(),
        found,
        requested: engine,
    };
    match engine {
        Engine::Sled if has_redb => Err(wrong(Engine::Redb)),
        Engine::Redb if has_sled => Err(wrong(Engine::Sled)),
        Engine::Sled => Ok(Box::new(SledEngine::open(dir)?)),
        Engine::Redb => Ok(Box::new(RedbEngine::open(&dir.join(REDB_FILE))?)),
    }
}

fn sled_err(e: sled::Error) -> StoreError {
    StoreError::Engine {
        engine: Engine::Sled,
        message: e.to_string(),
    }
}

fn redb_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine {
        engine: Engine::Redb,
        message: e.to_string(),
    }
}

/// Page cache given to redb (its default is 1 GiB), read and write buffers together. Since
/// closed windows live in block files, redb holds only the staged windows and the key-value
/// area: 8 MiB instead of 16 took the store bench's peak RSS after ingest from 64.5 to
/// 56.1 MiB with query CPU times within the noise (README, "Store").
const CACHE_BYTES: u64 = 8 << 20;
/// Page cache given to sled (default 1 GiB). sled's memory grows with the data regardless (see
/// the crate docs); a smaller cache lowers it somewhat.
const SLED_CACHE_BYTES: u64 = 4 << 20;

/// sled: one default tree; a batch is `apply_batch` followed by `flush`.
struct SledEngine {
    db: sled::Db,
    /// Writes take it shared; a backup takes it exclusively (sled has no snapshots, so holding
    /// writes back is what makes its copy one moment's state).
    gate: RwLock<()>,
}

impl SledEngine {
    fn open(dir: &Path) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(SLED_CACHE_BYTES)
            // Every write flushes explicitly.
            .flush_every_ms(None);
        // sled's I/O threads may hold the file lock for a moment after the previous `Db` in
        // this process was dropped; retry briefly before reporting the directory as locked.
        let mut tries = 0;
        loop {
            match config.open() {
                Ok(db) => {
                    return Ok(SledEngine {
                        db,
                        gate: RwLock::new(()),
                    })
                }
                // sled reports a held lock as a plain "Other" I/O error.
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && tries < 40 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(sled_err(e)),
            }
        }
    }
}

impl KvEngine for SledEngine {
    fn kind(&self) -> Engine {
        Engine::Sled
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(sled_err)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if start >= end {
            return Ok(());
        }
        for kv in self.db.range(start..end) {
            let (k, v) = kv.map_err(sled_err)?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, StoreError> {
        if start >= end {
            return Ok(None);
        }
        match self.db.range(start..end).next_back() {
            Some(kv) => {
                let (k, v) = kv.map_err(sled_err)?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
            None => Ok(None),
        }
    }

    fn write(&self, ops: &[BatchOp]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                BatchOp::Put(k, v) => batch.insert(k.as_slice(), v.as_slice()),
                BatchOp::Delete(k) => batch.remove(k.as_slice()),
            }
        }
        let _gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        self.db.apply_batch(batch).map_err(sled_err)?;
        self.db.flush().map_err(sled_err)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(sled_err).map(drop)
    }

    fn compact(&self) -> Result<(), StoreError> {
        self.flush()
    }

    fn backup_to(&self, dir: &Path) -> Result<u64, StoreError> {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let out = SledEngine::open(dir)?;
        let (mut n, mut bytes, mut batch) = (0u64, 0usize, sled::Batch::default());
        for kv in self.db.iter() {
            let (k, v) = kv.map_err(sled_err)?;
            bytes += k.len() + v.len();
            batch.insert(k, v);
            n += 1;
            if bytes >= BACKUP_BATCH_BYTES {
                out.db
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(sled_err)?;
                bytes = 0;
            }
        }
        out.db.apply_batch(batch).map_err(sled_err)?;
        out.db.flush().map_err(sled_err)?;
        Ok(n)
    }
}

const TABLE: redb::TableDefinition<'static, &'static [u8], &'static [u8]> =
    redb::TableDefinition::new("alertd");

/// redb: one table; a batch is one write transaction committed with immediate durability.
/// Operations take the handle lock shared; reopening after a failure and the last step of a
/// compaction (switching to the compacted file) take it exclusively.
///
/// After an I/O error (a full disk, say) redb fails every later operation with `PreviousIo`
/// until the database is closed and opened again. The engine therefore remembers the failure
/// and, on its next operation, reopens the file (which repairs it from its last commit), at
/// most once per [`REOPEN_EVERY`] while the cause persists. Until then operations fail with
/// the original error; no commit is lost or torn, as redb's commits are atomic.
struct RedbEngine {
    /// `None` only between closing a failed handle and reopening it.
    db: RwLock<Option<redb::Database>>,
    path: PathBuf,
    /// Set by an I/O error; cleared by a successful reopen.
    failed: AtomicBool,
    /// When the last reopen failed (cleared by a successful one).
    last_reopen: Mutex<Option<Instant>>,
    /// Taken by every write around its commit, and by a compaction to take its snapshot and
    /// for its last step; while a compaction copies it holds the batches committed since its
    /// snapshot, to be applied to the copy.
    writes: Mutex<Option<Vec<BatchOp>>>,
    /// See [`KvEngine::set_compact_hook`].
    hook: Mutex<Option<CompactHook>>,
}

/// The copy a compaction writes next to the database, renamed over it when complete. One left
/// by a crash is deleted on open.
const REDB_COMPACT_SUFFIX: &str = ".compact";

/// How often a failed redb handle is reopened while the cause (a full disk) persists.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

type RedbReadGuard<'a> = RwLockReadGuard<'a, Option<redb::Database>>;

impl RedbEngine {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let copy = Self::copy_path(path);
        if copy.exists() {
            tracing::info!(file = %copy.display(), "store: removing an unfinished compaction's copy (the database itself is complete)");
            std::fs::remove_file(&copy).map_err(|source| StoreError::Io {
                path: copy.clone(),
                source,
            })?;
        }
        Ok(RedbEngine {
            db: RwLock::new(Some(Self::open_db(path)?)),
            path: path.to_path_buf(),
            failed: AtomicBool::new(false),
            last_reopen: Mutex::new(None),
            writes: Mutex::new(None),
            hook: Mutex::new(None),
        })
    }

    fn copy_path(path: &Path) -> PathBuf {
        let mut p = path.as_os_str().to_owned();
        p.push(REDB_COMPACT_SUFFIX);
        PathBuf::from(p)
    }

    fn open_db(path: &Path) -> Result<redb::Database, StoreError> {
        let db = redb::Database::builder()
            .set_cache_size(CACHE_BYTES as usize)
            .create(path)
            .map_err(redb_err)?;
        let tx = db.begin_write().map_err(redb_err)?;
        tx.open_table(TABLE).map_err(redb_err)?;
        tx.commit().map_err(redb_err)?;
        Ok(db)
    }

    /// One write transaction with `ops`, committed durably. The caller holds `writes`.
    fn write_locked(&self, ops: &[BatchOp]) -> Result<(), StoreError> {
        let g = self.handle()?;
        let db = g.as_ref().expect("handle() checked");
        let tx = db.begin_write().map_err(|e| self.check(e))?;
        {
            let mut t = tx.open_table(TABLE).map_err(|e| self.check(e))?;
            for op in ops {
                match op {
                    BatchOp::Put(k, v) => {
                        t.insert(k.as_slice(), v.as_slice())
                            .map_err(|e| self.check(e))?;
                    }
                    BatchOp::Delete(k) => {
                        t.remove(k.as_slice()).map_err(|e| self.check(e))?;
                    }
                }
            }
        }
        // Default durability is Immediate: on disk when commit returns.
        tx.commit().map_err(|e| self.check(e))
    }

    /// The open handle, reopening it first after an I/O error.
    fn handle(&self) -> Result<RedbReadGuard<'_>, StoreError> {
        if self.failed.load(Ordering::Acquire) {
            self.reopen()?;
        }
        let g = self.db.read().map_err(|_| poisoned(&self.path))?;
        if g.is_none() {
            return Err(StoreError::Engine {
                engine: Engine::Redb,
                message: "database closed after an I/O error; it is reopened on the next \
                          operation"
                    .into(),
            });
        }
        Ok(g)
    }

    fn reopen(&self) -> Result<(), StoreError> {
        let mut last = self
            .last_reopen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
            return Err(StoreError::Engine {
                engine: Engine::Redb,
                message: "an earlier I/O error left the database closed; retrying shortly".into(),
            });
        }
        let mut g = self.db.write().map_err(|_| poisoned(&self.path))?;
        if !self.failed.load(Ordering::Acquire) {
            return Ok(()); // another thread reopened it meanwhile
        }
        // The old handle holds the file lock: close it before opening again.
        *g = None;
        let db = Self::open_db(&self.path).inspect_err(|_| *last = Some(Instant::now()))?;
        *g = Some(db);
        *last = None;
        self.failed.store(false, Ordering::Release);
        tracing::info!(path = %self.path.display(), "store: reopened after an I/O error");
        Ok(())
    }

    /// Converts a redb error, remembering I/O failures (see the type's docs).
    fn check<E: Into<redb::Error>>(&self, e: E) -> StoreError {
        let e: redb::Error = e.into();
        if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
            self.failed.store(true, Ordering::Release);
        }
        redb_err(e)
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        use redb::ReadableDatabase;
        let g = self.handle()?;
        let db = g.as_ref().expect("handle() checked");
        let tx = db.begin_read().map_err(|e| self.check(e))?;
        let table = tx.open_table(TABLE).map_err(|e| self.check(e))?;
        f(&table)
    }
}

fn poisoned(path: &Path) -> StoreError {
    StoreError::Corrupt(format!(
        "redb handle for {} poisoned by a panic",
        path.display()
    ))
}

impl KvEngine for RedbEngine {
    fn kind(&self) -> Engine {
        Engine::Redb
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|t| {
            Ok(t.get(key)
                .map_err(|e| self.check(e))?
                .map(|v| v.value().to_vec()))
        })
    }

    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        if start >= end {
            return Ok(());
        }
        self.read(|t| {
            for kv in t.range::<&[u8]>(start..end).map_err(|e| self.check(e))? {
                let (k, v) = kv.map_err(|e| self.check(e))?;
                if !visit(k.value(), v.value()) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn scan_ranges(
        &self,
        ranges: &[(Vec<u8>, Vec<u8>)],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.read(|t| {
            for (start, end) in ranges {
                if start >= end {
                    continue;
                }
                for kv in t
                    .range::<&[u8]>(start.as_slice()..end.as_slice())
                    .map_err(|e| self.check(e))?
                {
                    let (k, v) = kv.map_err(|e| self.check(e))?;
                    if !visit(k.value(), v.value()) {
                        break;
                    }
                }
            }
            Ok(())
        })
    }

    fn last(&self, start: &[u8], end: &[u8]) -> Result<Option<Entry>, StoreError> {
        if start >= end {
            return Ok(None);
        }
        self.read(|t| {
            match t
                .range::<&[u8]>(start..end)
                .map_err(|e| self.check(e))?
                .next_back()
            {
                Some(kv) => {
                    let (k, v) = kv.map_err(|e| self.check(e))?;
                    Ok(Some((k.value().to_vec(), v.value().to_vec())))
                }
                None => Ok(None),
            }
        })
    }

    fn write(&self, ops: &[BatchOp]) -> Result<(), StoreError> {
        let mut log = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
        self.write_locked(ops)?;
        if let Some(log) = log.as_mut() {
            log.extend_from_slice(ops);
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// An online compaction: copies the live entries, as of one snapshot, into a new file
    /// next to the database while reads and writes go on against the old one (writes are
    /// also kept in memory); then, holding writes back, applies the writes kept to the copy,
    /// commits it durably, renames it over the database, syncs the directory and switches the
    /// handle to it. Writes wait only for that last step (the writes of one copy's duration:
    /// the store compacts under its flush lock, so these are key-value writes), reads only for
    /// the switch. redb's own `compact()` needs the database to itself, so every read and
    /// write waited for all of it (8–9 s on the store bench under load; see the README).
    ///
    /// Crash safety: until the rename the database is the old, complete file and the copy is
    /// deleted on the next open; after it, the new one, complete and synced before the rename.
    /// The file system needs room for the live data a second time meanwhile.
    fn compact(&self) -> Result<(), StoreError> {
        use redb::ReadableDatabase;
        let copy = Self::copy_path(&self.path);
        let _ = std::fs::remove_file(&copy);
        let mut out = redb::Database::builder()
            .set_cache_size(CACHE_BYTES as usize)
            .create(&copy)
            .map_err(redb_err)?;
        let result = (|| {
            let g = self.handle()?;
            let db = g.as_ref().expect("handle() checked");
            let rtx = {
                let mut log = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
                let rtx = db.begin_read().map_err(|e| self.check(e))?;
                *log = Some(Vec::new());
                rtx
            };
            let src = rtx.open_table(TABLE).map_err(|e| self.check(e))?;
            copy_table(&src, &out)?;
            drop(src);
            drop(rtx);
            drop(g);
            // The copy's file grew in steps while it was written: give the tail back (nothing
            // waits for this; the copy is private until the rename).
            for _ in 0..8 {
                if !out.compact().map_err(redb_err)? {
                    break;
                }
            }
            let hook = self
                .hook
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(hook) = hook {
                hook();
            }
            // The last step: writes wait from here.
            let mut log = self.writes.lock().unwrap_or_else(PoisonError::into_inner);
            let kept = log.take().unwrap_or_default();
            write_ops(&out, &kept, redb::Durability::Immediate)?;
            std::fs::rename(&copy, &self.path).map_err(|source| StoreError::Io {
                path: self.path.clone(),
                source,
            })?;
            // From the rename on the copy is the database: switch whatever happens next.
            let mut g = self.db.write().unwrap_or_else(PoisonError::into_inner);
            let old = g.replace(out);
            self.failed.store(false, Ordering::Release);
            drop(g);
            drop(log);
            drop(old);
            match self.path.parent() {
                Some(dir) => crate::heads::sync_dir(dir),
                None => Ok(()),
            }
        })();
        if result.is_err() {
            *self.writes.lock().unwrap_or_else(PoisonError::into_inner) = None;
            let _ = std::fs::remove_file(&copy);
        }
        result
    }

    fn set_compact_hook(&self, hook: Option<CompactHook>) {
        *self.hook.lock().unwrap_or_else(PoisonError::into_inner) = hook;
    }

    /// From the statistics of a write transaction that is then aborted (redb walks the tree's
    /// pages for them; the store's compaction log line gives the time it took).
    fn space(&self) -> Result<Option<Space>, StoreError> {
        let g = self.handle()?;
        let db = g.as_ref().expect("handle() checked");
        let tx = db.begin_write().map_err(|e| self.check(e))?;
        let stats = tx.stats().map_err(|e| self.check(e))?;
        tx.abort().map_err(|e| self.check(e))?;
        Ok(Some(Space {
            free: stats.fragmented_bytes(),
            used: stats.stored_bytes() + stats.metadata_bytes(),
        }))
    }

    /// One read transaction is redb's snapshot (MVCC): the copy is the state of its start
    /// while writers commit on.
    fn backup_to(&self, dir: &Path) -> Result<u64, StoreError> {
        use redb::ReadableDatabase;
        let g = self.handle()?;
        let db = g.as_ref().expect("handle() checked");
        let rtx = db.begin_read().map_err(|e| self.check(e))?;
        let src = rtx.open_table(TABLE).map_err(|e| self.check(e))?;
        let out = redb::Database::builder()
            .set_cache_size(CACHE_BYTES as usize)
            .create(dir.join(REDB_FILE))
            .map_err(redb_err)?;
        copy_table(&src, &out)
    }
}

/// Copies every entry of `src` into `out`'s table, in write transactions of about
/// [`BACKUP_BATCH_BYTES`]; only the last one is durable (it makes the earlier ones durable
/// too); returns the number of entries.
fn copy_table(
    src: &redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    out: &redb::Database,
) -> Result<u64, StoreError> {
    use redb::ReadableTable;
    let mut entries = src.iter().map_err(redb_err)?.peekable();
    let mut n = 0u64;
    loop {
        let mut wtx = out.begin_write().map_err(redb_err)?;
        {
            let mut t = wtx.open_table(TABLE).map_err(redb_err)?;
            let mut bytes = 0;
            while bytes < BACKUP_BATCH_BYTES {
                let Some(kv) = entries.next() else { break };
                let (k, v) = kv.map_err(redb_err)?;
                bytes += k.value().len() + v.value().len();
                t.insert(k.value(), v.value()).map_err(redb_err)?;
                n += 1;
            }
        }
        let done = entries.peek().is_none();
        let durability = if done {
            redb::Durability::Immediate
        } else {
            redb::Durability::None
        };
        wtx.set_durability(durability).map_err(redb_err)?;
        wtx.commit().map_err(redb_err)?;
        if done {
            return Ok(n);
        }
    }
}

/// Applies `ops` to `out`'s table in one write transaction of `durability`.
fn write_ops(
    out: &redb::Database,
    ops: &[BatchOp],
    durability: redb::Durability,
) -> Result<(), StoreError> {
    let mut wtx = out.begin_write().map_err(redb_err)?;
    {
        let mut t = wtx.open_table(TABLE).map_err(redb_err)?;
        for op in ops {
            match op {
                BatchOp::Put(k, v) => {
                    t.insert(k.as_slice(), v.as_slice()).map_err(redb_err)?;
                }
                BatchOp::Delete(k) => {
                    t.remove(k.as_slice()).map_err(redb_err)?;
                }
            }
        }
    }
    wtx.set_durability(durability).map_err(redb_err)?;
    wtx.commit().map_err(redb_err)
}
