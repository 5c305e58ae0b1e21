//! Closed windows moved from the engine into block files: the registry of committed blocks,
//! loading it on open, compaction, reads for queries, retention.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::block::{self, Block, Kind};
use crate::codec::{block_first_t, decode, BlockEncoder, MAX_ROWS};
use crate::engine::{BatchOp, KvEngine};
use crate::state::KEY_WINDOW_MS;
use crate::{keys, Inner, Resolution, StoreError};

/// See [`Inner::reclaim_engine_space`]: the least free space worth a compaction, absolute and
/// as a share of the engine's files.
pub(crate) const RECLAIM_MIN_FREE: u64 = 8 << 20;
pub(crate) const RECLAIM_FREE_PERCENT: u64 = 25;

/// Engine key tag of a committed block: `B kind ord(window) seq` (u32 BE) -> file size.
pub(crate) const BLOCK: u8 = b'B';

impl Kind {
    /// The engine key prefix of this kind's chunks.
    pub(crate) fn prefix(self) -> Vec<u8> {
        match self {
            Kind::Raw => vec![keys::CHUNK],
            Kind::FiveMinutes => vec![keys::ROLLUP, 0],
            Kind::OneHour => vec![keys::ROLLUP, 1],
        }
    }

    /// The window one block covers.
    pub(crate) fn window_ms(self) -> i64 {
        match self {
            Kind::Raw => KEY_WINDOW_MS,
            Kind::FiveMinutes => Resolution::FiveMinutes.window_ms(),
            Kind::OneHour => Resolution::OneHour.window_ms(),
        }
    }

    pub(crate) fn of(res: Resolution) -> Kind {
        match res {
            Resolution::FiveMinutes => Kind::FiveMinutes,
            Resolution::OneHour => Kind::OneHour,
        }
    }
}

fn block_key(kind: Kind, window: i64, seq: u32) -> Vec<u8> {
    let mut k = vec![BLOCK, kind as u8];
    k.extend_from_slice(&keys::ord(window));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Committed blocks and the windows whose chunks wait in the engine.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    /// Per (kind, window), its blocks by ascending seq.
    pub(crate) list: BTreeMap<(Kind, i64), Vec<Block>>,
    /// Windows with chunks in the engine.
    pub(crate) staged: BTreeSet<(Kind, i64)>,
}

/// The registry, read-locked by queries for their whole disk read and write-locked by the
/// switch from chunks in the engine to a block (and by retention), so a query sees a window
/// either in the engine or in its block, never both or neither.
#[derive(Debug, Default)]
pub(crate) struct Registry(RwLock<Blocks>);

impl Registry {
    pub(crate) fn new(blocks: Blocks) -> Registry {
        Registry(RwLock::new(blocks))
    }

    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Blocks> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Blocks> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Loads the registry on open: the blocks the engine records as committed; block files it does
/// not record (a write interrupted before its commit: the engine still holds their chunks) and
/// temporary files are deleted; a recorded block that cannot be opened is logged and left out.
pub(crate) fn load(engine: &dyn KvEngine, dir: &Path) -> Result<Blocks, StoreError> {
    let mut blocks = Blocks::default();
    let mut recorded = BTreeSet::new();
    engine.scan(&[BLOCK], &[BLOCK + 1], &mut |k, _| {
        let kind = k
            .get(1)
            .and_then(|b| Kind::ALL.get(usize::from(*b)).copied());
        let window = k.get(2..10).and_then(keys::unord);
        let seq = k
            .get(10..14)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes);
        if let (Some(kind), Some(window), Some(seq)) = (kind, window, seq) {
            recorded.insert((kind, window, seq));
        }
        true
    })?;
    let bdir = dir.join(block::DIR);
    if let Ok(entries) = std::fs::read_dir(&bdir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let known = block::parse_name(&name).is_some_and(|b| recorded.contains(&b));
            if !known {
                tracing::info!(file = %name, "store: removing an uncommitted block file (a block write was interrupted; its data is still in the database)");
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    for (kind, window, seq) in recorded {
        let path = bdir.join(block::file_name(kind, window, seq));
        match Block::open(path, kind, window, seq) {
            Ok(b) => blocks.list.entry((kind, window)).or_default().push(b),
            Err(e) => {
                tracing::error!(error = %e, "store: a committed block cannot be opened; its samples are not served")
            }
        }
    }
    for kind in Kind::ALL {
        let prefix = kind.prefix();
        let plen = prefix.len();
        let Some(end) = keys::prefix_end(&prefix) else {
            continue;
        };
        // One key per window: after each, skip to the next window.
        let mut from = prefix.clone();
        loop {
            let mut next = None;
            engine.scan(&from, &end, &mut |k, _| {
                next = keys::parse_block_key(k, plen).map(|x| x.0);
                false
            })?;
            let Some(w) = next else {
                break;
            };
            blocks.staged.insert((kind, w));
            match w.checked_add(1) {
                Some(n) => from = keys::window_key(&prefix, n),
                None => break,
            }
        }
    }
    Ok(blocks)
}

/// The rows of `chunks` (one series, time order) in as few chunks as they fit; the chunks as
/// they are when one does not decode (they are then served, or reported, as before).
fn merge<const N: usize>(chunks: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    if chunks.len() < 2 {
        return chunks;
    }
    let mut out = Vec::new();
    let mut enc = BlockEncoder::<N>::new();
    for c in &chunks {
        let Ok(rows) = decode::<N>(c).and_then(|d| d.collect::<Result<Vec<_>, _>>()) else {
            return chunks;
        };
        for (t, v) in rows {
            if enc.count() >= usize::from(MAX_ROWS) {
                out.push(std::mem::take(&mut enc).to_bytes());
            }
            enc.append(t, v);
        }
    }
    if enc.count() > 0 {
        out.push(enc.to_bytes());
    }
    out
}

impl Inner {
    /// Moves every window that closed (it ended more than one window before the newest sample,
    /// taken no later than an hour past the wall clock) from the engine into a block file. The
    /// caller holds `flush_lock`.
    pub(crate) fn compact_closed(&self) -> Result<(), StoreError> {
        let newest = {
            let st = crate::lock(&self.state);
            st.series.values().map(|s| s.last_t).max()
        };
        let Some(newest) = newest else {
            return Ok(());
        };
        // One series stamped far in the future (a client's clock) must not close the windows
        // every other series is still writing: no later than the wall clock allows.
        let newest = newest.min(crate::health::wall_ms().saturating_add(3_600_000));
        let due: Vec<(Kind, i64)> = self
            .blocks
            .read()
            .staged
            .iter()
            .copied()
            .filter(|(k, w)| w.saturating_add(2 * k.window_ms()) <= newest)
            .collect();
        let moved = !due.is_empty();
        for (kind, w) in due {
            self.compact_window(kind, w)?;
        }
        if moved {
            // Only space is at stake: a failure is logged, not reported as a failing store
            // (an I/O error still makes the engine reopen its file on the next operation).
            if let Err(e) = self.reclaim_engine_space() {
                tracing::warn!(error = %e, "store: compacting the database failed; tried again after the next block");
            }
        }
        Ok(())
    }

    /// After windows left the engine: compacts it when its free pages reach
    /// [`RECLAIM_MIN_FREE`] (see [`crate::Store::set_compact_min_free`]) and
    /// [`RECLAIM_FREE_PERCENT`] of its files. redb reuses free pages but never shrinks its file
    /// below the highest page in use, so without this the file
    /// keeps the high-water mark of the staged windows (measured on the store bench: about
    /// 24 MB over the data it holds). The caller holds `flush_lock`; appends, queries and
    /// key-value writes go on meanwhile (redb's compaction is online: see
    /// [`KvEngine::compact`]).
    pub(crate) fn reclaim_engine_space(&self) -> Result<(), StoreError> {
        let t = std::time::Instant::now();
        let engine: &dyn KvEngine = &*self.engine;
        let Some(space) = engine.space()? else {
            return Ok(());
        };
        let total = space.free + space.used;
        let min_free = self
            .reclaim_min_free
            .load(std::sync::atomic::Ordering::Relaxed);
        if space.free < min_free || space.free * 100 < total * RECLAIM_FREE_PERCENT {
            return Ok(());
        }
        let measured = t.elapsed();
        engine.compact()?;
        let after = engine.space()?.map_or(0, |s| s.free);
        let ms = t.elapsed().as_millis() as u64;
        let c = &self.counters;
        c.engine_compactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        c.engine_compaction_max_ms
            .fetch_max(ms, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            free_before = space.free,
            free_after = after,
            used = space.used,
            stats_ms = measured.as_millis() as u64,
            compact_ms = (t.elapsed() - measured).as_millis() as u64,
            "store: database compacted after closed windows moved to blocks"
        );
        Ok(())
    }

    /// Writes the chunks of `kind`'s window `w` held in the engine as one block (the next seq
    /// when the window has blocks already: chunks that closed late), then, in one engine batch,
    /// deletes them and records the block.
    fn compact_window(&self, kind: Kind, w: i64) -> Result<(), StoreError> {
        let prefix = kind.prefix();
        let plen = prefix.len();
        let from = keys::window_key(&prefix, w);
        let to = match w.checked_add(1) {
            Some(n) => keys::window_key(&prefix, n),
            None => keys::prefix_end(&prefix).unwrap_or_default(),
        };
        let seq = self
            .blocks
            .read()
            .list
            .get(&(kind, w))
            .and_then(|l| l.last())
            .map_or(0, |b| b.seq + 1);
        let mut writer = block::Writer::create(&self.opts.path, kind, w, seq)?;
        let mut ops = Vec::new();
        let mut cur: Option<(u64, Vec<Vec<u8>>)> = None;
        let mut err = None;
        let put = |writer: &mut block::Writer, (id, chunks): (u64, Vec<Vec<u8>>)| {
            let merged = match kind {
                Kind::Raw => merge::<1>(chunks),
                _ => merge::<4>(chunks),
            };
            writer.series(id, &merged)
        };
        self.engine.scan(&from, &to, &mut |k, v| {
            let Some((_, id, _)) = keys::parse_block_key(k, plen) else {
                return true; // not a chunk key; left alone
            };
            ops.push(BatchOp::Delete(k.to_vec()));
            match &mut cur {
                Some((c, chunks)) if *c == id => chunks.push(v.to_vec()),
                _ => {
                    if let Some(done) = cur.replace((id, vec![v.to_vec()])) {
                        if let Err(e) = put(&mut writer, done) {
                            err = Some(e);
                            return false;
                        }
                    }
                }
            }
            true
        })?;
        if let Some(e) = err {
            return Err(e);
        }
        if let Some(done) = cur.take() {
            put(&mut writer, done)?;
        }
        if ops.is_empty() {
            drop(writer);
            self.blocks.write().staged.remove(&(kind, w));
            return Ok(());
        }
        let block = writer.commit()?;
        ops.push(BatchOp::Put(
            block_key(kind, w, seq),
            block.bytes.to_be_bytes().to_vec(),
        ));
        let mut reg = self.blocks.write();
        if let Err(e) = self.engine.write(&ops) {
            // Not recorded: the chunks stay in the engine and the file goes.
            let _ = std::fs::remove_file(&block.path);
            return Err(e);
        }
        reg.list.entry((kind, w)).or_default().push(block);
        reg.staged.remove(&(kind, w));
        Ok(())
    }

    /// Adds to `out` the chunks held in blocks of `kind` for the `wanted` series (`(id, hi)`,
    /// ascending ids) that may hold rows in `[start, hi]`. A block whose index is damaged, or a
    /// series whose data in a block fails its checksum, is logged and left out; the rest is
    /// served.
    pub(crate) fn block_chunks(
        reg: &Blocks,
        kind: Kind,
        wanted: &[(u64, i64)],
        start: i64,
        out: &mut HashMap<u64, Vec<Vec<u8>>>,
    ) {
        let Some(max_hi) = wanted.iter().map(|w| w.1).max() else {
            return;
        };
        let len = kind.window_ms();
        let lo = crate::state::window_of(start, len);
        let hi = crate::state::window_of(max_hi, len);
        if lo > hi {
            return;
        }
        let ids: Vec<u64> = wanted.iter().map(|w| w.0).collect();
        for blocks in reg.list.range((kind, lo)..=(kind, hi)).map(|x| x.1) {
            for b in blocks {
                let mut damaged = Vec::new();
                match b.read(&ids, &mut damaged) {
                    Ok(found) => {
                        for (id, chunks) in found {
                            let Ok(i) = wanted.binary_search_by_key(&id, |w| w.0) else {
                                continue;
                            };
                            for c in chunks {
                                if block_first_t(&c).is_ok_and(|f| f <= wanted[i].1) {
                                    out.entry(id).or_default().push(c);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "store: block unreadable; its samples are left out of the result");
                    }
                }
                if !damaged.is_empty() {
                    tracing::error!(block = %b.path.display(), series = ?damaged, "store: series data in a block fails its checksum; left out of the result");
                }
            }
        }
    }

    /// Retention: deletes the blocks of `kind` whose window ended at or before `cut` (their
    /// records first, then the files); returns how many.
    pub(crate) fn drop_blocks_before(&self, kind: Kind, cut: i64) -> Result<u64, StoreError> {
        let len = kind.window_ms();
        let mut reg = self.blocks.write();
        let expired: Vec<(Kind, i64)> = reg
            .list
            .range((kind, i64::MIN)..=(kind, i64::MAX))
            .map(|x| *x.0)
            .filter(|(_, w)| w.saturating_add(len) <= cut)
            .collect();
        let mut ops = Vec::new();
        let mut files = Vec::new();
        for key in &expired {
            for b in reg.list.get(key).into_iter().flatten() {
                ops.push(BatchOp::Delete(block_key(kind, b.window, b.seq)));
                files.push(b.path.clone());
            }
        }
        // The engine's chunks of these windows are deleted by the caller.
        reg.staged
            .retain(|(k, w)| *k != kind || w.saturating_add(len) > cut);
        if ops.is_empty() {
            return Ok(0);
        }
        self.engine.write(&ops)?;
        for key in expired {
            reg.list.remove(&key);
        }
        drop(reg);
        // A file left by a crash here has no record and is removed on the next open.
        for f in &files {
            if let Err(e) = std::fs::remove_file(f) {
                tracing::warn!(file = %f.display(), error = %e, "store: expired block file not removed");
            }
        }
        Ok(files.len() as u64)
    }

    /// Copies every committed block into `dest`'s block directory (hard links where the file
    /// system allows: blocks never change). The caller holds `flush_lock`.
    pub(crate) fn backup_blocks(&self, dest: &Path) -> Result<(), StoreError> {
        let reg = self.blocks.read();
        let dir = dest.join(block::DIR);
        for b in reg.list.values().flatten() {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                path: dir.clone(),
                source,
            })?;
            let to = dir.join(b.path.file_name().unwrap_or_default());
            if std::fs::hard_link(&b.path, &to).is_err() {
                std::fs::copy(&b.path, &to).map_err(|source| StoreError::Io {
                    path: to.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }
}
