//! Queries: raw samples and rollup buckets, merged from memory and disk; the series index.

use std::collections::HashMap;
use std::sync::Arc;

use model::clock::Timestamp;
use model::{Labels, Matcher, Sample};

use crate::block::Kind;
use crate::codec::{block_first_t, block_rows};
use crate::state::{
    corrupt, push_buckets, push_samples, window_of, CHUNK_WINDOW_MS, KEY_WINDOW_MS,
};
use crate::{keys, lock, Bucket, Inner, Resolution, RollupSeries, Store, StoreError};
use model::storage::Series;

impl Store {
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
            Kind::Raw,
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

    /// The series [`Store::select`] returns, in the same order, handed to `f` one by one and
    /// borrowed (see [`model::storage::SeriesStore::select_each`]). When every matching series'
    /// samples in `[start, end]` are still in memory — the usual case of rule evaluation,
    /// which reads the last minutes — each series is decoded and handed over in turn, without
    /// building the whole result first; otherwise this goes through [`Store::select`]. `f`
    /// runs under the store's state lock and must not call back into the store.
    pub fn select_each(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
        f: &mut dyn FnMut(&Labels, &[Sample]),
    ) -> Result<(), StoreError> {
        if start > end {
            return Ok(());
        }
        {
            let st = lock(&self.inner.state);
            let mut in_memory = Vec::new();
            let mut complete = true;
            for id in st.index.select(matchers) {
                let Some(s) = st.series.get(&id) else {
                    continue;
                };
                if s.last_t < start {
                    continue;
                }
                // Rows older than the first in-memory one are on disk.
                if s.mem_first_t().is_none_or(|first| first > start) {
                    complete = false;
                    break;
                }
                in_memory.push(s);
            }
            if complete {
                in_memory.sort_by(|a, b| a.labels.cmp(&b.labels));
                for s in in_memory {
                    let mem = s.mem_samples()?;
                    let lo = mem.partition_point(|x| x.t < start);
                    let n = mem[lo..].partition_point(|x| x.t <= end);
                    if n > 0 {
                        f(&s.labels, &mem[lo..lo + n]);
                    }
                }
                return Ok(());
            }
        }
        for s in self.select(matchers, start, end)? {
            f(&s.labels, &s.samples);
        }
        Ok(())
    }

    /// Completes a snapshot of in-memory rows — `(id, labels, rows in range, first in-memory
    /// time)` per series — with the persisted blocks under `prefix` (`span`, `window`: see
    /// [`Store::persisted_blocks`]) older than the in-memory rows, keeping rows in
    /// `[start, end]`. Series without rows are dropped; the result is sorted by labels.
    #[allow(clippy::type_complexity)]
    pub(crate) fn merge_with_disk<T>(
        &self,
        snapshot: Vec<(u64, Arc<Labels>, Vec<T>, i64)>,
        kind: Kind,
        (span, window): (i64, i64),
        (start, end): (Timestamp, Timestamp),
        decode_block: fn(&[u8], &mut Vec<T>) -> Result<(), StoreError>,
        time_of: fn(&T) -> Timestamp,
    ) -> Result<Vec<(Labels, Vec<T>)>, StoreError> {
        let wanted: Vec<(u64, i64)> = snapshot
            .iter()
            .map(|(id, _, _, mem_first)| (*id, end.min(mem_first.saturating_sub(1))))
            .collect();
        let mut disk = self.persisted_blocks(kind, span, window, &wanted, start)?;
        let mut result = Vec::new();
        for (id, labels, mem, _) in snapshot {
            let hi = wanted
                .binary_search_by_key(&id, |w| w.0)
                .map_or(end, |i| wanted[i].1);
            // Decoded in place and cut to the range once (no vector per block).
            let blocks = disk.remove(&id).unwrap_or_default();
            let n: usize = blocks.iter().map(|b| block_rows(b)).sum();
            let mut rows = Vec::with_capacity(mem.len() + n);
            for block in &blocks {
                decode_block(block, &mut rows)?;
            }
            rows.retain(|r| {
                let t = time_of(r);
                t >= start && t <= hi
            });
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
    pub(crate) fn persisted_blocks(
        &self,
        kind: Kind,
        span: i64,
        window: i64,
        wanted: &[(u64, i64)],
        start: i64,
    ) -> Result<HashMap<u64, Vec<Vec<u8>>>, StoreError> {
        let mut out: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        let wanted: Vec<(u64, i64)> = wanted.iter().copied().filter(|w| w.1 >= start).collect();
        // Held until the engine was read too: a window moving into a block meanwhile is seen
        // in one place, never in both or neither.
        let reg = self.inner.blocks.read();
        Inner::block_chunks(&reg, kind, &wanted, start, &mut out);
        let prefix = &kind.prefix()[..];
        self.engine_chunks(prefix, span, window, &wanted, start, &mut out)?;
        drop(reg);
        for chunks in out.values_mut() {
            chunks.sort_by_key(|c| block_first_t(c).unwrap_or(i64::MIN));
        }
        Ok(out)
    }

    /// The chunks of [`Store::persisted_blocks`] still in the engine.
    fn engine_chunks(
        &self,
        prefix: &[u8],
        span: i64,
        window: i64,
        wanted: &[(u64, i64)],
        start: i64,
        out: &mut HashMap<u64, Vec<Vec<u8>>>,
    ) -> Result<(), StoreError> {
        let (Some(min_id), Some(max_id)) = (
            wanted.iter().map(|w| w.0).min(),
            wanted.iter().map(|w| w.0).max(),
        ) else {
            return Ok(());
        };
        let max_hi = wanted.iter().map(|w| w.1).max().unwrap_or(start);
        let engine = &self.inner.engine;
        let plen = prefix.len();
        // Only windows that exist on disk: clamp the range to the first and last stored ones.
        let Some(end_key) = keys::prefix_end(prefix) else {
            return Ok(());
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
            return Ok(());
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
            None => Ok(()),
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
            Kind::of(resolution),
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
}
