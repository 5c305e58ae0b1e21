//! Whether writes reach the disk: per sink, failing since when, logged once each way.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use model::clock::Timestamp;

use crate::engine::{BatchOp, KvEngine};
use crate::{lock, Store, StoreError, StoreHealth};

impl Store {
    /// Whether writes reach the disk: a full or failing disk shows here (and in the log) while
    /// samples stay in memory and deferred key-value writes wait (see [`StoreHealth`]).
    pub fn health(&self) -> StoreHealth {
        let mut h = self.inner.engine.health();
        h.deferred_entries = lock(&self.inner.unsaved).len();
        h
    }
}

/// What the store writes to. Each is failing or not on its own: a small engine write that
/// fits in the database's free pages must not hide a heads file or a write-ahead log that
/// cannot be written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sink {
    Engine = 0,
    Heads = 1,
    Wal = 2,
}

/// Per [`Sink`]: since when its writes fail and the last error; and all failed writes.
#[derive(Debug, Default)]
pub(crate) struct Health {
    pub(crate) failing: [Option<(Timestamp, String)>; 3],
    pub(crate) write_errors: u64,
}

impl Health {
    pub(crate) fn failing_since(&self) -> Option<Timestamp> {
        self.failing.iter().flatten().map(|(since, _)| *since).min()
    }
}

/// The engine, with the outcome of every write (to it or to the heads file) recorded for
/// [`StoreHealth`] (and the change between working and failing logged once each way).
pub(crate) struct Watched {
    pub(crate) engine: Box<dyn KvEngine>,
    pub(crate) health: Mutex<Health>,
    /// Whether the last write-ahead log write failed.
    pub(crate) wal_failing: AtomicBool,
}

impl Watched {
    pub(crate) fn record<T>(&self, sink: Sink, r: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut h = lock(&self.health);
        let was_failing = h.failing_since();
        match &r {
            Ok(_) => h.failing[sink as usize] = None,
            Err(e) => {
                h.write_errors += 1;
                let since = h.failing[sink as usize]
                    .as_ref()
                    .map_or_else(wall_ms, |f| f.0);
                h.failing[sink as usize] = Some((since, e.to_string()));
            }
        }
        match (was_failing, &r) {
            (Some(since), Ok(_)) if h.failing_since().is_none() => tracing::info!(
                failed_for_ms = wall_ms() - since,
                "store: writes reach the disk again"
            ),
            (None, Err(e)) => tracing::error!(
                error = %e,
                "store: writes fail (disk full?); samples and state stay in memory until the \
                 disk takes them"
            ),
            _ => {}
        }
        r
    }

    /// The health as of now (without the deferred entries, which the store counts).
    pub(crate) fn health(&self) -> StoreHealth {
        let h = lock(&self.health);
        StoreHealth {
            failing_since: h.failing_since(),
            last_error: h.failing.iter().flatten().map(|(_, e)| e.clone()).next(),
            write_errors: h.write_errors,
            deferred_entries: 0,
        }
    }

    /// Records the outcome of a write-ahead log write (every append: the health lock is taken
    /// only on a failure and on the first success after one).
    pub(crate) fn record_wal(&self, r: Result<(), StoreError>) {
        if r.is_err() || self.wal_failing.load(Ordering::Relaxed) {
            self.wal_failing.store(r.is_err(), Ordering::Relaxed);
            let _ = self.record(Sink::Wal, r);
        }
    }

    pub(crate) fn write(&self, ops: &[BatchOp]) -> Result<(), StoreError> {
        self.record(Sink::Engine, self.engine.write(ops))
    }
}

impl std::ops::Deref for Watched {
    type Target = dyn KvEngine;
    fn deref(&self) -> &Self::Target {
        self.engine.as_ref()
    }
}

/// Wall-clock milliseconds since the epoch (for [`StoreHealth`]).
pub(crate) fn wall_ms() -> Timestamp {
    use model::clock::Clock;
    model::clock::SystemClock.now_ms()
}
