//! The daemon's `remote_write:` queues (the `remote` crate): started with the pipeline,
//! restarted whole when their configuration or `global.external_labels` change on reload
//! (each resumes from its place in the write-ahead log), stopped before the store closes.

use std::sync::{Mutex, PoisonError};

use model::Labels;
use remote::{Queue, QueueStats, RemoteError, RemoteWriteConfig};

/// The running queues and the configuration they run.
#[derive(Debug)]
pub(crate) struct RemoteWriters {
    store: store::Store,
    running: Mutex<Running>,
}

#[derive(Debug, Default)]
struct Running {
    configs: Vec<RemoteWriteConfig>,
    external: Labels,
    queues: Vec<Queue>,
}

fn start_all(
    store: &store::Store,
    configs: &[RemoteWriteConfig],
    external: &Labels,
) -> Result<Vec<Queue>, RemoteError> {
    configs
        .iter()
        .map(|c| Queue::start(store.clone(), c, external))
        .collect()
}

/// Removes the write-ahead log holds of queues no longer configured (their segments go at
/// the next checkpoint).
fn release_others(store: &store::Store, configs: &[RemoteWriteConfig]) {
    let keep: Vec<String> = configs
        .iter()
        .flat_map(|c| remote::hold_names(&c.queue_name()))
        .collect();
    for h in store.wal_holds() {
        if !keep.contains(&h) {
            if let Err(e) = store.release_wal_hold(&h) {
                tracing::warn!(error = %e, "remote_write: releasing a removed queue's hold failed");
            }
        }
    }
}

impl RemoteWriters {
    /// Starts a queue per entry on the current tokio runtime.
    pub(crate) fn start(
        store: store::Store,
        configs: &[RemoteWriteConfig],
        external: Labels,
    ) -> Result<Self, RemoteError> {
        release_others(&store, configs);
        let queues = start_all(&store, configs, &external)?;
        Ok(RemoteWriters {
            store,
            running: Mutex::new(Running {
                configs: configs.to_vec(),
                external,
                queues,
            }),
        })
    }

    /// Applies a reloaded configuration: when it differs, the old queues stop and the new ones
    /// start (each resumes from its place in the log); when one cannot start (an unreadable
    /// secret or CA file), the running configuration is started again and the error returned.
    pub(crate) fn apply(
        &self,
        configs: &[RemoteWriteConfig],
        external: Labels,
    ) -> Result<(), RemoteError> {
        let mut r = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if r.configs == configs && r.external == external {
            return Ok(());
        }
        // The old queues stop first, so a queue and its successor never send at once.
        for q in r.queues.drain(..) {
            drop(q);
        }
        let queues = match start_all(&self.store, configs, &external) {
            Ok(q) => q,
            Err(e) => {
                // Put the running configuration back.
                r.queues = start_all(&self.store, &r.configs, &r.external).unwrap_or_default();
                return Err(e);
            }
        };
        release_others(&self.store, configs);
        *r = Running {
            configs: configs.to_vec(),
            external,
            queues,
        };
        Ok(())
    }

    /// Every queue's counters.
    pub(crate) fn stats(&self) -> Vec<QueueStats> {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queues
            .iter()
            .map(Queue::stats)
            .collect()
    }

    /// Stops every queue (at shutdown, before the store closes).
    pub(crate) fn stop(&self) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .queues
            .clear();
    }
}
