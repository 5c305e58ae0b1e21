//! Host name lookups for probes and scrapes, through the system resolver (getaddrinfo: so
//! /etc/hosts, nsswitch.conf and resolv.conf apply as for any program on the host).
//!
//! getaddrinfo blocks a thread and cannot be cancelled: a run that gives up at its deadline
//! stops waiting, but the lookup goes on for as long as the resolver's own timeouts say (with
//! a silent DNS server, `timeout × attempts` per server, and more per search domain). Started
//! afresh by every run, hanging lookups would pile up one blocked thread per run of every such
//! probe, filling tokio's blocking pool (which the rest of the daemon shares). So:
//! - a name has at most one lookup in flight; runs that need it meanwhile wait for that one;
//! - at most [`MAX_LOOKUPS`] lookups run at once, over all names;
//! - nothing is cached: every lookup after the last one finished asks the resolver again.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::{watch, Semaphore};

use super::{Failure, FailureKind};

/// Lookups running at once, at most, over all names.
pub(crate) const MAX_LOOKUPS: usize = 64;

/// What a finished lookup found: the addresses, or the resolver's error.
type Found = Result<Arc<[IpAddr]>, String>;

/// Where a lookup's result appears (`None` until it finished).
type Pending = watch::Receiver<Option<Found>>;

struct Lookups {
    /// The lookup in flight for a name: its id and where its result will appear.
    inflight: Mutex<HashMap<String, (u64, Pending)>>,
    next_id: AtomicU64,
    permits: Arc<Semaphore>,
}

static LOOKUPS: LazyLock<Lookups> = LazyLock::new(|| Lookups {
    inflight: Mutex::new(HashMap::new()),
    next_id: AtomicU64::new(0),
    permits: Arc::new(Semaphore::new(MAX_LOOKUPS)),
});

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes a name's entry when its lookup ends, however it ends (also when the runtime that
/// ran it shuts down), unless a newer lookup has taken the entry over.
struct Unregister {
    host: String,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        let mut m = lock(&LOOKUPS.inflight);
        if m.get(&self.host).is_some_and(|(id, _)| *id == self.id) {
            m.remove(&self.host);
        }
    }
}

/// The lookup in flight for `host`, started now if there is none (or its runner is gone).
fn join_or_start(host: &str) -> Pending {
    let mut m = lock(&LOOKUPS.inflight);
    if let Some((_, rx)) = m.get(host) {
        if rx.has_changed().is_ok() {
            return rx.clone();
        }
    }
    let id = LOOKUPS.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = watch::channel(None);
    m.insert(host.to_string(), (id, rx.clone()));
    let host = host.to_string();
    tokio::spawn(async move {
        let unregister = Unregister {
            host: host.clone(),
            id,
        };
        let found = match LOOKUPS.permits.clone().acquire_owned().await {
            Ok(permit) => {
                let h = host.clone();
                let blocking = tokio::task::spawn_blocking(move || {
                    let _permit = permit;
                    (h.as_str(), 0)
                        .to_socket_addrs()
                        .map(|a| a.map(|s| s.ip()).collect::<Vec<_>>().into())
                        .map_err(|e| e.to_string())
                });
                blocking
                    .await
                    .unwrap_or_else(|e| Err(format!("lookup failed: {e}")))
            }
            Err(_) => Err("resolver closed".to_string()),
        };
        // Later runs start a new lookup; the waiting ones get this result.
        drop(unregister);
        let _ = tx.send(Some(found));
    });
    rx
}

/// Looks `host` up, waiting until `deadline` at most.
pub(crate) async fn lookup(
    host: &str,
    deadline: tokio::time::Instant,
) -> Result<Arc<[IpAddr]>, Failure> {
    let mut rx = join_or_start(host);
    let waited = tokio::time::Instant::now();
    let found = tokio::time::timeout_at(deadline, rx.wait_for(Option::is_some))
        .await
        .map_err(|_| {
            Failure::new(
                FailureKind::Dns,
                format!(
                    "resolving {host}: no answer from the resolver within {:.3}s",
                    waited.elapsed().as_secs_f64()
                ),
            )
        })?
        .map_err(|_| Failure::new(FailureKind::Dns, format!("resolving {host}: lookup lost")))?
        .clone();
    match found {
        Some(Ok(a)) => Ok(a),
        Some(Err(e)) => Err(Failure::new(
            FailureKind::Dns,
            format!("resolving {host}: {e}"),
        )),
        None => Err(Failure::new(
            FailureKind::Dns,
            format!("resolving {host}: lookup lost"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Only names that never reach a DNS server here: /etc/hosts ones, and invalid ones.

    #[tokio::test]
    async fn resolves_hosts_file_names_and_fails_with_a_dns_reason() {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let a = lookup("localhost", deadline).await.unwrap();
        assert!(a.iter().any(IpAddr::is_loopback), "{a:?}");
        let e = lookup("bad\0name", deadline).await.unwrap_err();
        assert_eq!(e.kind, FailureKind::Dns);
        assert!(e.message.starts_with("resolving bad\0name: "), "{e:?}");
    }

    #[tokio::test]
    async fn concurrent_lookups_of_a_name_share_one() {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        // Nothing runs between these two calls (current-thread runtime, no await).
        let rx1 = join_or_start("localhost");
        let rx2 = join_or_start("localhost");
        assert!(rx1.same_channel(&rx2), "the second joined the first");
        let (a, b) = tokio::join!(lookup("localhost", deadline), lookup("localhost", deadline));
        assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
        // Finished: the next lookup is a new one.
        let rx3 = join_or_start("localhost");
        assert!(!rx3.same_channel(&rx1));
    }
}
