//! The storage interfaces the pipeline stages program against, implemented by the `store` crate
//! (sled or redb on disk) and by [`MemStorage`] (in memory: offline rule tests, unit tests).
//!
//! Two areas: time series ([`SeriesStore`]) and a namespaced key-value area for state that must
//! survive a restart ([`KvStore`]: alert state, silences, acks, notification log, queued
//! notifications). A write that returned `Ok` is durable.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use crate::clock::Timestamp;
use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::sample::Sample;

/// Which key-value engine of the `store` crate holds the data (`storage.engine`).
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

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Engine {
    type Err = UnknownEngine;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sled" => Ok(Engine::Sled),
            "redb" => Ok(Engine::Redb),
            other => Err(UnknownEngine(other.to_string())),
        }
    }
}

/// An engine name other than `sled` or `redb`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown storage engine {0:?}: expected sled or redb")]
pub struct UnknownEngine(pub String);

/// Key-value pairs as returned by [`KvStore::scan_prefix`], in key order.
pub type KvPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A storage failure, with the engine's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("storage error: {0}")]
pub struct StorageError(pub String);

/// One series with its samples in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series' labels (including `__name__`).
    pub labels: Labels,
    /// Samples in ascending time order.
    pub samples: Vec<Sample>,
}

/// Time-series access.
pub trait SeriesStore: Send + Sync {
    /// Appends samples; a series is created on its first sample. Samples older than the newest one
    /// already stored for a series are dropped (out of order), as in Prometheus.
    fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StorageError>;
    /// Every series matching all `matchers` with its samples in `[start, end]` (inclusive).
    /// Series without samples in the range are omitted.
    fn select(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Series>, StorageError>;
    /// The series [`SeriesStore::select`] returns, handed to `f` one by one and borrowed
    /// (labels, and the samples in `[start, end]` in time order), so that a caller that needs
    /// only part of them (an instant selector: the latest sample) copies only that part. `f`
    /// must not call back into the store. A store holding its samples in memory overrides this
    /// to copy nothing; the default goes through [`SeriesStore::select`].
    fn select_each(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
        f: &mut dyn FnMut(&Labels, &[Sample]),
    ) -> Result<(), StorageError> {
        for s in self.select(matchers, start, end)? {
            f(&s.labels, &s.samples);
        }
        Ok(())
    }
}

/// One operation of a [`KvBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    /// Set `key` in `namespace` to `value`.
    Put {
        /// The namespace (e.g. `silences`).
        namespace: String,
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// Remove `key` from `namespace`.
    Delete {
        /// The namespace.
        namespace: String,
        /// The key.
        key: Vec<u8>,
    },
}

/// Writes applied atomically: all or none, durable when [`KvStore::write`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvBatch(pub Vec<KvOp>);

impl KvBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a put.
    pub fn put(&mut self, namespace: &str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.0.push(KvOp::Put {
            namespace: namespace.to_string(),
            key: key.into(),
            value: value.into(),
        });
    }
    /// Adds a delete.
    pub fn delete(&mut self, namespace: &str, key: impl Into<Vec<u8>>) {
        self.0.push(KvOp::Delete {
            namespace: namespace.to_string(),
            key: key.into(),
        });
    }
    /// Whether the batch has no operations.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A namespaced, ordered key-value area for state that must survive restarts.
pub trait KvStore: Send + Sync {
    /// The value of `key` in `namespace`.
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// All entries of `namespace` whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, namespace: &str, prefix: &[u8]) -> Result<KvPairs, StorageError>;
    /// Applies `batch` atomically and durably.
    fn write(&self, batch: KvBatch) -> Result<(), StorageError>;
    /// Applies `batch` like [`KvStore::write`] when the storage can take it; when it cannot (a
    /// full disk), a store may instead keep the batch in memory, return `Ok`, and write it
    /// ahead of the next write that succeeds (reads see it meanwhile). For state the process
    /// holds in memory anyway and must not stop working for (the notifier's queue and log, alert
    /// state); never for a write a client is told is durable. The default is [`KvStore::write`].
    fn write_eventually(&self, batch: KvBatch) -> Result<(), StorageError> {
        self.write(batch)
    }
    /// Like [`KvStore::write_eventually`], but a batch the storage cannot take now is also
    /// reported as the error: for state already applied in memory whose writer must tell a
    /// client it is not yet on disk. The default is [`KvStore::write`].
    fn write_or_keep(&self, batch: KvBatch) -> Result<(), StorageError> {
        self.write(batch)
    }
}

type KvMap = BTreeMap<(String, Vec<u8>), Vec<u8>>;

/// In-memory storage: nothing survives the process. For offline rule tests and unit tests.
#[derive(Debug, Default)]
pub struct MemStorage {
    series: Mutex<BTreeMap<Labels, Vec<Sample>>>,
    /// (namespace, key) -> value
    kv: Mutex<KvMap>,
}

impl MemStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }
}

impl SeriesStore for MemStorage {
    fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StorageError> {
        let mut s = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        for (labels, sample) in batch {
            let v = s.entry(labels.clone()).or_default();
            if v.last().is_none_or(|last| last.t < sample.t) {
                v.push(*sample);
            }
        }
        Ok(())
    }

    fn select(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<Series>, StorageError> {
        let mut out = Vec::new();
        self.select_each(matchers, start, end, &mut |labels, samples| {
            out.push(Series {
                labels: labels.clone(),
                samples: samples.to_vec(),
            });
        })?;
        Ok(out)
    }

    fn select_each(
        &self,
        matchers: &[Matcher],
        start: Timestamp,
        end: Timestamp,
        f: &mut dyn FnMut(&Labels, &[Sample]),
    ) -> Result<(), StorageError> {
        let s = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        for (l, samples) in s.iter() {
            if !matchers.iter().all(|m| m.matches(l)) {
                continue;
            }
            let lo = samples.partition_point(|x| x.t < start);
            let hi = samples.partition_point(|x| x.t <= end);
            if lo < hi {
                f(l, &samples[lo..hi]);
            }
        }
        Ok(())
    }
}

impl KvStore for MemStorage {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let kv = self.kv.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(kv.get(&(namespace.to_string(), key.to_vec())).cloned())
    }

    fn scan_prefix(&self, namespace: &str, prefix: &[u8]) -> Result<KvPairs, StorageError> {
        let kv = self.kv.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(kv
            .range((namespace.to_string(), prefix.to_vec())..)
            .take_while(|((ns, k), _)| ns == namespace && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn write(&self, batch: KvBatch) -> Result<(), StorageError> {
        let mut kv = self.kv.lock().unwrap_or_else(PoisonError::into_inner);
        for op in batch.0 {
            match op {
                KvOp::Put {
                    namespace,
                    key,
                    value,
                } => {
                    kv.insert((namespace, key), value);
                }
                KvOp::Delete { namespace, key } => {
                    kv.remove(&(namespace, key));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_series_select_by_matchers_and_range() {
        let m = MemStorage::new();
        let a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let b = Labels::from_pairs([("__name__", "up"), ("job", "b")]);
        m.append(&[
            (a.clone(), Sample::new(10, 1.0)),
            (b.clone(), Sample::new(10, 0.0)),
        ])
        .unwrap();
        m.append(&[
            (a.clone(), Sample::new(20, 1.0)),
            (a.clone(), Sample::new(15, 9.0)),
        ])
        .unwrap();
        let sel = m.select(&[r#"job="a""#.parse().unwrap()], 0, 100).unwrap();
        assert_eq!(sel.len(), 1);
        assert_eq!(
            sel[0].samples,
            vec![Sample::new(10, 1.0), Sample::new(20, 1.0)]
        );
        assert_eq!(m.select(&[], 11, 19).unwrap().len(), 0);
        assert_eq!(m.select(&[], 10, 10).unwrap().len(), 2);
    }

    #[test]
    fn mem_kv_namespaces_and_prefixes() {
        let m = MemStorage::new();
        let mut b = KvBatch::new();
        b.put("silences", b"a1".to_vec(), b"x".to_vec());
        b.put("silences", b"a2".to_vec(), b"y".to_vec());
        b.put("acks", b"a1".to_vec(), b"z".to_vec());
        m.write(b).unwrap();
        assert_eq!(m.scan_prefix("silences", b"a").unwrap().len(), 2);
        assert_eq!(m.get("acks", b"a1").unwrap().as_deref(), Some(&b"z"[..]));
        let mut d = KvBatch::new();
        d.delete("silences", b"a1".to_vec());
        m.write(d).unwrap();
        assert_eq!(m.scan_prefix("silences", b"").unwrap().len(), 1);
        assert_eq!(m.get("silences", b"a1").unwrap(), None);
    }
}
