//! Checkpoints: closed chunks and blocks to the engine, then the heads file; the background
//! thread.

use std::sync::atomic::Ordering;
use std::sync::{PoisonError, Weak};

use crate::block::Kind;
use crate::engine::BatchOp;
use crate::health::Sink;
use crate::kv::OnFailure;
use crate::state::{encode_last, window_of, KEY_WINDOW_MS};
use crate::{heads, keys, lock, wal, Inner, Resolution, StopSignal, Store, StoreError};

/// Approximate payload of one engine batch (bounds the engine's memory per transaction).
pub(crate) const WRITE_BATCH_BYTES: usize = 1 << 20;
/// Series whose images are taken under one hold of the state lock when writing the heads file.
pub(crate) const HEADS_SLICE: usize = 1024;

/// Which series a flush writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushScope {
    /// Every changed series.
    All,
    /// Only series with closed chunks waiting.
    Pending,
}

impl Store {
    /// Writes every in-memory head to disk now (the background thread does this every
    /// `checkpoint_interval`).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let _guard = lock(&self.inner.flush_lock);
        self.inner.flush_locked(FlushScope::All)
    }
}

/// Waits `interval` or until the store stops; `true` when it stopped.
fn wait(stop: &StopSignal, interval: std::time::Duration) -> bool {
    let (flag, cv) = &**stop;
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
    *stopped
}

/// The checkpoint thread: a checkpoint every `interval`, and deferred key-value writes retried.
pub(crate) fn checkpoint_loop(weak: Weak<Inner>, stop: StopSignal, interval: std::time::Duration) {
    loop {
        if wait(&stop, interval) {
            return;
        }
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

/// The write-ahead log's sync thread: every `interval`, `fsync` the segments written since
/// the last round (outside the log's lock, so appends go on meanwhile).
pub(crate) fn wal_sync_loop(weak: Weak<Inner>, stop: StopSignal, interval: std::time::Duration) {
    loop {
        if wait(&stop, interval) {
            return;
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let files = lock(&inner.wal).take_unsynced();
        for f in files {
            let r = f.sync_data().map_err(|source| StoreError::Io {
                path: inner.opts.path.join(wal::DIR),
                source,
            });
            inner.engine.record_wal(r);
        }
    }
}

impl Inner {
    /// Stops the background threads (the checkpoint and log sync threads) and waits for them.
    pub(crate) fn stop_thread(&self) {
        let (flag, cv) = &*self.stop;
        *lock(flag) = true;
        cv.notify_all();
        let handles = std::mem::take(&mut *lock(&self.threads));
        for h in handles {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Writes the chosen series' closed chunks and blocks in atomic batches of about
    /// [`WRITE_BATCH_BYTES`] (everything of one series in one batch), then, for a checkpoint,
    /// the heads file. The caller holds `flush_lock`.
    pub(crate) fn flush_locked(&self, scope: FlushScope) -> Result<(), StoreError> {
        struct Mark {
            id: u64,
            chunks: usize,
            blocks: [usize; 2],
            persisted_last: [i64; 3],
        }
        // A full checkpoint takes every changed series (they become clean); an early flush
        // only writes closed chunks and blocks, and leaves the heads for the checkpoint: rows
        // of an older heads file that such a flush wrote are skipped on restore (`L` records).
        // A checkpoint also cuts the write-ahead log at this moment: its images hold everything
        // appended before, so the segments before the cut go once its heads file is in place.
        let mut wal_cut = None;
        let mut staged = std::collections::BTreeSet::new();
        let mut chosen: std::collections::VecDeque<u64> = {
            let mut st = lock(&self.state);
            match scope {
                FlushScope::All => {
                    wal_cut = Some(lock(&self.wal).cut());
                    std::mem::take(&mut st.dirty).into()
                }
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
                        staged.insert((Kind::Raw, w));
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
                            staged.insert((Kind::of(res), w));
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
            if result.is_ok() {
                self.blocks.write().staged.append(&mut staged);
            }
            staged.clear();
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
            if let Some(cut) = wal_cut {
                let removed = self.release_wal(cut);
                self.engine.record_wal(removed);
            }
        }
        // Closed windows into block files. A failure leaves their chunks in the engine, where
        // queries find them, and is tried again at the next flush.
        if let Err(e) = self.engine.record(Sink::Engine, self.compact_closed()) {
            tracing::error!(error = %e, "store: writing a block failed; its chunks stay in the database");
        }
        Ok(())
    }

    /// Deletes the log segments before `cut` (a checkpoint holds their samples) that no hold
    /// needs ([`Store::set_wal_hold`]); held segments beyond the hold limit go too, oldest
    /// first, logged and counted.
    pub(crate) fn release_wal(&self, cut: u64) -> Result<(), StoreError> {
        let held = lock(&self.holds).values().map(|p| p.segment).min();
        let mut keep = held.unwrap_or(cut).min(cut);
        if keep < cut {
            let limit = self.hold_limit.load(Ordering::Relaxed);
            let held_from = keep;
            let sizes = wal::sizes_before(&self.opts.path, cut)?;
            let sizes: Vec<(u64, u64)> = sizes.into_iter().filter(|s| s.0 >= held_from).collect();
            let mut total: u64 = sizes.iter().map(|s| s.1).sum();
            let mut released = 0u64;
            for (seq, len) in &sizes {
                if total <= limit {
                    break;
                }
                total -= len;
                keep = seq + 1;
                released += 1;
            }
            if released > 0 {
                self.counters
                    .wal_released_segments
                    .fetch_add(released, Ordering::Relaxed);
                tracing::warn!(
                    segments = released,
                    limit_bytes = limit,
                    "store: write-ahead log segments held for a reader (remote_write) went over \
                     the hold limit and were deleted; that reader loses their samples"
                );
            }
            // A restart replays only what the heads file lacks.
            wal::set_replay_from(&self.opts.path, cut)?;
        }
        lock(&self.wal).remove_before(keep)
    }

    /// Rewrites the heads file with the image of every series holding data in memory (when it
    /// changed since the last one), then deletes `H` records left by store format 1. The caller
    /// holds `flush_lock` and has just written the changed series' closed blocks.
    ///
    /// Images are taken a slice of series at a time, each slice under the state lock, and go to
    /// the file between slices: memory stays bounded and appends wait at most one slice. Each
    /// image holds its series' data not yet in the engine at its moment, which is all a
    /// restore needs; series created meanwhile wait for the next checkpoint.
    pub(crate) fn write_heads(&self) -> Result<(), StoreError> {
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
}

pub(crate) fn op_key(op: &BatchOp) -> &[u8] {
    match op {
        BatchOp::Put(k, _) | BatchOp::Delete(k) => k,
    }
}
