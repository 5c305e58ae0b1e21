//! Retention: whole expired windows deleted, heads trimmed, empty series dropped.

use model::clock::Timestamp;

use crate::block::Kind;
use crate::checkpoint::FlushScope;
use crate::codec::BlockEncoder;
use crate::engine::BatchOp;
use crate::state::{window_of, CHUNK_WINDOW_MS};
use crate::{keys, lock, Inner, Resolution, RetentionReport, Store, StoreError};

/// Keys deleted per retention batch.
pub(crate) const DELETE_BATCH: usize = 10_000;

impl Store {
    /// Deletes raw data older than `now - retention_raw` and rollups older than
    /// `now - retention_rollups`, drops series with nothing left, and returns the space to the
    /// file system where the engine supports it (see the crate docs).
    pub fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport, StoreError> {
        self.inner.apply_retention(now)
    }
}

impl Inner {
    pub(crate) fn apply_retention(&self, now: Timestamp) -> Result<RetentionReport, StoreError> {
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
        // Whole block files of expired windows.
        report.block_files_deleted += self.drop_blocks_before(Kind::Raw, cut_raw)?;
        for res in Resolution::ALL {
            report.block_files_deleted += self.drop_blocks_before(Kind::of(res), cut_roll)?;
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
        // 5. Give space back, when there is enough to be worth a copy of the live data (redb's
        // compaction rewrites the file: not every hour and every start for a few pages).
        self.reclaim_engine_space()?;
        Ok(report)
    }

    pub(crate) fn write_deletes(&self, ops: &mut Vec<BatchOp>) -> Result<(), StoreError> {
        while !ops.is_empty() {
            let n = ops.len().min(DELETE_BATCH);
            let batch: Vec<BatchOp> = ops.drain(..n).collect();
            self.engine.write(&batch)?;
        }
        Ok(())
    }
}
