//! The key-value area ([`KvStore`]): atomic durable batches, deferred writes.

use model::storage::{KvBatch, KvOp, KvPairs, KvStore, StorageError};

use crate::engine::BatchOp;
use crate::{keys, lock, Inner, Store, StoreError};

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
    /// Writes the key-value entries deferred by [`KvStore::write_eventually`] now, if there are
    /// any (the checkpoint thread also tries every `checkpoint_interval`).
    pub fn retry_deferred(&self) -> Result<(), StoreError> {
        if lock(&self.inner.unsaved).is_empty() {
            return Ok(());
        }
        self.inner.write_kv(Vec::new(), OnFailure::Fail)
    }

    pub(crate) fn check_namespace(namespace: &str) -> Result<(), StoreError> {
        if namespace.contains('\0') {
            return Err(StoreError::InvalidNamespace(namespace.to_string()));
        }
        Ok(())
    }

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
    pub(crate) fn write_kv(
        &self,
        ops: Vec<BatchOp>,
        on_failure: OnFailure,
    ) -> Result<(), StoreError> {
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
pub(crate) enum OnFailure {
    /// Return the error; the batch is dropped ([`KvStore::write`]).
    Fail,
    /// Keep the batch with the deferred entries and return `Ok`
    /// ([`KvStore::write_eventually`]).
    Keep,
    /// Keep the batch and return the error ([`KvStore::write_or_keep`]).
    KeepAndFail,
}
