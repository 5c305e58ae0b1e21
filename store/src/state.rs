//! The in-memory heads: per series the open chunk, closed chunks waiting, open rollup
//! buckets and blocks; their images in the heads file; loading the state on open.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use model::{Labels, Sample};

use crate::codec::{self, decode, BlockEncoder};
use crate::engine::KvEngine;
use crate::index::Index;
use crate::{heads, keys, wal, Bucket, Resolution, StoreError};

pub(crate) const CHUNK_MAX_SAMPLES: usize = 120;
/// Raw chunks never span an aligned window of this size (the first key component).
pub(crate) const CHUNK_WINDOW_MS: i64 = 2 * 3_600_000;

/// The start of the aligned window of size `w` containing `t`.
pub(crate) fn window_of(t: i64, w: i64) -> i64 {
    t.saturating_sub(t.rem_euclid(w))
}
/// Granularity of the window in chunk keys: a chunk is keyed by this window of its first sample
/// (it never crosses a [`CHUNK_WINDOW_MS`] boundary). Measured on the bench (redb, 10k series,
/// 6 h): 2 h windows beat 30 min ones on CPU, wall time and size, so they are equal.
pub(crate) const KEY_WINDOW_MS: i64 = CHUNK_WINDOW_MS;

/// A closed chunk or rollup block not yet written.
#[derive(Debug)]
pub(crate) struct Closed {
    pub(crate) first_t: i64,
    pub(crate) last_t: i64,
    pub(crate) bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct RollupHead {
    pub(crate) open: Option<Bucket>,
    pub(crate) block: BlockEncoder<4>,
    pub(crate) pending: Vec<Closed>,
}

impl RollupHead {
    /// Adds a sample; returns the bytes moved to `pending`.
    pub(crate) fn add(&mut self, res: Resolution, t: i64, v: f64) -> usize {
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

    pub(crate) fn is_empty(&self) -> bool {
        self.open.is_none() && self.block.count() == 0 && self.pending.is_empty()
    }

    /// Buckets held in memory, in time order.
    pub(crate) fn buckets(&self) -> Result<Vec<Bucket>, StoreError> {
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

    pub(crate) fn first_t(&self) -> Option<i64> {
        self.pending
            .first()
            .map(|c| c.first_t)
            .or((self.block.count() > 0).then(|| self.block.first_t()))
            .or(self.open.map(|b| b.t))
    }
}

pub(crate) fn close_block<const N: usize>(
    block: &mut BlockEncoder<N>,
    pending: &mut Vec<Closed>,
) -> usize {
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

pub(crate) fn corrupt(e: codec::CodecError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

pub(crate) fn push_samples(bytes: &[u8], out: &mut Vec<Sample>) -> Result<(), StoreError> {
    for row in decode::<1>(bytes).map_err(corrupt)? {
        let (t, [v]) = row.map_err(corrupt)?;
        out.push(Sample::new(t, f64::from_bits(v)));
    }
    Ok(())
}

pub(crate) fn push_buckets(bytes: &[u8], out: &mut Vec<Bucket>) -> Result<(), StoreError> {
    for row in decode::<4>(bytes).map_err(corrupt)? {
        let (t, r) = row.map_err(corrupt)?;
        out.push(Bucket::from_row(t, r));
    }
    Ok(())
}

#[derive(Debug)]
pub(crate) struct SeriesState {
    pub(crate) labels: Arc<Labels>,
    /// Newest raw sample time (`i64::MIN` when none).
    pub(crate) last_t: i64,
    pub(crate) head: BlockEncoder<1>,
    pub(crate) pending: Vec<Closed>,
    pub(crate) rollups: [RollupHead; 2],
    /// Whether the `S` record is on disk.
    pub(crate) recorded: bool,
    /// Last timestamp of the newest persisted raw chunk and rollup blocks (5 m, 1 h); the
    /// series' `L` record.
    pub(crate) persisted_last: [i64; 3],
    /// Whether the id is in `State::dirty`.
    pub(crate) in_dirty: bool,
}

impl SeriesState {
    pub(crate) fn new(labels: Arc<Labels>) -> Self {
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
    pub(crate) fn push(&mut self, s: Sample) -> usize {
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
                // Buckets of persisted blocks are complete: a sample replayed from the
                // write-ahead log after an early flush must not open them again. (A new
                // sample's bucket is always newer.)
                if window_of(s.t, res.width_ms()) > self.persisted_last[1 + res.idx()] {
                    moved += self.rollups[res.idx()].add(res, s.t, s.v);
                }
            }
        }
        moved
    }

    pub(crate) fn mem_empty(&self) -> bool {
        self.head.count() == 0
            && self.pending.is_empty()
            && self.rollups.iter().all(|r| r.is_empty())
    }

    /// Raw samples held in memory, in time order.
    pub(crate) fn mem_samples(&self) -> Result<Vec<Sample>, StoreError> {
        let mut out = Vec::new();
        for c in &self.pending {
            push_samples(&c.bytes, &mut out)?;
        }
        if self.head.count() > 0 {
            push_samples(&self.head.to_bytes(), &mut out)?;
        }
        Ok(out)
    }

    pub(crate) fn mem_first_t(&self) -> Option<i64> {
        self.pending
            .first()
            .map(|c| c.first_t)
            .or((self.head.count() > 0).then(|| self.head.first_t()))
    }

    /// The series' image in the heads file: everything held in memory, which is everything
    /// not yet written to the engine. Raw data first (the closed chunks waiting, then the open
    /// chunk), then per resolution the open bucket and the blocks (waiting, then open).
    pub(crate) fn encode_image(&self, out: &mut Vec<u8>) {
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
    pub(crate) fn restore_image(&mut self, b: &[u8], legacy: bool) -> Result<usize, StoreError> {
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
pub(crate) fn put_blocks<const N: usize>(
    out: &mut Vec<u8>,
    closed: &[Closed],
    open: &BlockEncoder<N>,
) {
    keys::put_varint(out, closed.len() as u64);
    for c in closed {
        keys::put_block(out, &c.bytes);
    }
    keys::put_block(out, &open.to_bytes());
}

/// Reads what [`put_blocks`] wrote (`legacy`: only the open block), keeping rows after
/// `after`.
pub(crate) fn get_blocks<const N: usize>(
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
pub(crate) struct State {
    pub(crate) index: Index,
    /// Boxed: a `SeriesState` is about 1.2 KB (the encoders' column states), and the table
    /// keeps up to half its slots empty; boxed, an empty slot costs 16 bytes (measured on the
    /// store bench: see the README's Store section).
    pub(crate) series: HashMap<u64, Box<SeriesState>>,
    pub(crate) next_id: u64,
    /// Series changed since they were last written.
    pub(crate) dirty: Vec<u64>,
    /// Bytes of closed chunks and blocks waiting in memory.
    pub(crate) pending_bytes: usize,
    /// Whether the heads file is older than what memory holds.
    pub(crate) heads_stale: bool,
    /// Whether the engine still holds `H` records of store format 1 (deleted once the heads
    /// file replaces them).
    pub(crate) legacy_heads: bool,
    pub(crate) closed: bool,
    /// The write-ahead log record being built by an append (reused).
    pub(crate) wal_batch: wal::Batch,
}

/// What [`State::replay_wal`] restored.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Replay {
    /// Samples appended to memory (newer than what the heads file and engine hold).
    pub(crate) samples: u64,
    /// Bytes of torn or damaged log tails dropped.
    pub(crate) dropped_bytes: u64,
}

impl State {
    /// Appends the samples of the write-ahead log that are newer than their series' newest
    /// (the heads file and the engine hold the rest), creating the series it names. Called
    /// once on open, after the heads file was restored.
    pub(crate) fn replay_wal(&mut self, dir: &Path) -> Result<Replay, StoreError> {
        let mut samples = 0;
        // The log's id of a series whose labels are held under another id here (normally
        // none: ids are the log's own).
        let mut remap: HashMap<u64, u64> = HashMap::new();
        let replayed = wal::replay(dir, |e| match e {
            wal::Entry::Series(id, labels) => {
                if let Some(known) = self.index.get(&labels) {
                    if known != id {
                        remap.insert(id, known);
                    }
                    return;
                }
                let new = if self.series.contains_key(&id) {
                    let new = self.next_id;
                    remap.insert(id, new);
                    new
                } else {
                    remap.remove(&id);
                    id
                };
                self.next_id = self.next_id.max(new + 1);
                let labels = Arc::new(labels);
                self.index.insert(labels.clone(), new);
                self.series.insert(new, Box::new(SeriesState::new(labels)));
            }
            wal::Entry::Sample(id, sample) => {
                let id = remap.get(&id).copied().unwrap_or(id);
                let Some(s) = self.series.get_mut(&id) else {
                    return;
                };
                if sample.t > s.last_t {
                    self.pending_bytes += s.push(sample);
                    self.mark_dirty(id);
                    samples += 1;
                }
            }
        })?;
        if replayed.records > 0 || replayed.dropped_bytes > 0 {
            tracing::info!(
                records = replayed.records,
                samples,
                dropped_bytes = replayed.dropped_bytes,
                "store: write-ahead log replayed"
            );
        }
        Ok(Replay {
            samples,
            dropped_bytes: replayed.dropped_bytes,
        })
    }

    /// Restores series `id` from its image (see [`SeriesState::restore_image`]); restored
    /// waiting blocks make it dirty.
    pub(crate) fn restore(&mut self, id: u64, img: &[u8], legacy: bool) -> Result<(), StoreError> {
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

    pub(crate) fn mark_dirty(&mut self, id: u64) {
        self.heads_stale = true;
        if let Some(s) = self.series.get_mut(&id) {
            if !s.in_dirty {
                s.in_dirty = true;
                self.dirty.push(id);
            }
        }
    }
}

/// The `L` record: last persisted chunk and rollup block times.
pub(crate) fn encode_last(last: [i64; 3]) -> Vec<u8> {
    last.iter().flat_map(|t| t.to_be_bytes()).collect()
}

pub(crate) fn decode_last(b: &[u8]) -> Option<[i64; 3]> {
    let mut pos = 0;
    let mut out = [0i64; 3];
    for t in &mut out {
        *t = keys::get_u64(b, &mut pos)? as i64;
    }
    (pos == b.len()).then_some(out)
}

pub(crate) fn load_state(engine: &dyn KvEngine, dir: &Path) -> Result<State, StoreError> {
    let mut st = State::default();
    let mut err = None;
    engine.scan(&[keys::SERIES], &[keys::SERIES + 1], &mut |k, v| match (
        keys::id_of(k, 1),
        keys::decode_labels(v),
    ) {
        (Some(id), Some(labels)) => {
            let labels = Arc::new(labels);
            st.index.insert(labels.clone(), id);
            let mut s = Box::new(SeriesState::new(labels));
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
