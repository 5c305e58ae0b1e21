//! The API's HTTP server: the accept loop and each connection's life, with the limits of
//! `api.connections` ([`ConnectionLimits`]).
//!
//! - **A cap on open connections**: `api.connections.max`, lowered to the open files limit
//!   (`RLIMIT_NOFILE`) minus `api.connections.reserved_fds`, so that the store, probes, scrapes
//!   and notifications always find a file descriptor however many clients connect. The loop
//!   takes a slot before it accepts; at the cap it closes the connection that has been idle
//!   longest (no request in progress) and takes its slot, so new clients (`/-/healthy`, a
//!   Grafana refresh) are answered even when idle connections fill every slot. When no
//!   connection is idle, new ones wait in the kernel's backlog until a request finishes.
//! - **Timeouts**: a request's headers must arrive within `header_read_timeout` (hyper's own
//!   timer, which also runs while a new connection has sent nothing yet); a connection without
//!   a request in progress for `idle_timeout` is closed, as is one still in its TLS handshake
//!   after [`HANDSHAKE_TIMEOUT`].
//! - HTTP/1.1 (as `axum::serve` with axum's default features); each request carries the
//!   peer's address as `ConnectInfo<SocketAddr>` (the ping rate limit is keyed by it).
//! - **Graceful shutdown**: when `shutdown` completes the loop stops accepting, every
//!   connection finishes its request in progress and closes, and [`serve`] returns once all
//!   are closed.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::config::ConnectionLimits;

/// How long a client may take to complete the TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the loop, waiting at the cap for a slot, looks again for an idle connection.
const EVICT_EVERY: Duration = Duration::from_millis(100);

/// The number of connections the listener may hold: `limits.max`, or fewer when the open files
/// limit minus `limits.reserved_fds` is lower (at least 1), with the soft limit it was read from
/// (`None`: unlimited or unreadable).
pub(crate) fn connection_cap(limits: &ConnectionLimits) -> (usize, Option<u64>) {
    let nofile = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    let max = limits.max as usize;
    let cap = match nofile {
        Some(n) => {
            let room = n.saturating_sub(u64::from(limits.reserved_fds));
            max.min(usize::try_from(room).unwrap_or(usize::MAX)).max(1)
        }
        None => max,
    };
    (cap, nofile)
}

/// One open connection, as the accept loop and the connection's task see it.
#[derive(Debug)]
struct Conn {
    /// Requests in progress.
    in_flight: AtomicUsize,
    /// When the last request finished, or the connection was accepted (ms since `epoch`).
    idle_since_ms: AtomicU64,
    /// Set once the connection was asked to close.
    closing: AtomicBool,
    /// Wakes the connection's task to close it.
    close: Notify,
    epoch: Instant,
}

impl Conn {
    fn new(epoch: Instant) -> Self {
        let c = Conn {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close: Notify::new(),
            epoch,
        };
        c.touch();
        c
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.idle_since_ms.store(self.now_ms(), Ordering::SeqCst);
    }

    /// How long the connection has had no request in progress (`None`: one is).
    fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = self.idle_since_ms.load(Ordering::SeqCst);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }

    fn ask_to_close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.close.notify_one();
    }
}

/// Marks a request in progress on its connection while alive.
struct Busy(Arc<Conn>);

impl Busy {
    fn new(conn: Arc<Conn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(conn)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections.
#[derive(Debug, Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
}

impl Registry {
    fn insert(&self, id: u64, c: Arc<Conn>) {
        self.lock().insert(id, c);
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the connection idle longest (and not already closing) to close; false when every
    /// connection has a request in progress.
    fn evict_idlest(&self) -> bool {
        let conns = self.lock();
        let idlest = conns
            .values()
            .filter(|c| !c.closing.load(Ordering::SeqCst))
            .filter_map(|c| c.idle_for().map(|d| (d, c)))
            .max_by_key(|(d, _)| *d);
        match idlest {
            Some((_, c)) => {
                c.ask_to_close();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` (TLS with `tls` when given) within `limits` until `shutdown`
/// completes, then waits for the open connections to finish (see the module's doc).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let (cap, nofile) = connection_cap(&limits);
    info!(
        max_connections = cap,
        open_files_limit = nofile.map_or_else(|| "unlimited".into(), |n| n.to_string()),
        reserved_fds = limits.reserved_fds,
        "API listener ready"
    );
    if cap < limits.max as usize {
        warn!(
            "the open files limit allows only {cap} API connections (api.connections.max is {}, \
             {} descriptors are kept for the pipeline); raise LimitNOFILE to allow more",
            limits.max, limits.reserved_fds
        );
    }
    let slots = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let tls = tls.map(TlsAcceptor::from);
    let epoch = Instant::now();
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = take_slot(&slots, &registry) => s,
            () = &mut shutdown => break,
        };
        let (stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE/ENFILE while the rest of the machine is out of descriptors, or a
                    // connection reset before it was accepted.
                    warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        next_id += 1;
        let conn = Arc::new(Conn::new(epoch));
        registry.insert(next_id, conn.clone());
        let task = Connection {
            id: next_id,
            addr,
            conn,
            registry: registry.clone(),
            router: router.clone(),
            limits,
            stop: stop_rx.clone(),
            _slot: slot,
        };
        tokio::spawn(task.run(stream, tls.clone()));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every slot back: every connection has closed.
    let _ = slots
        .acquire_many(u32::try_from(cap).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// A free slot; at the cap, idle connections are closed until one frees.
async fn take_slot(slots: &Arc<Semaphore>, registry: &Registry) -> OwnedSemaphorePermit {
    loop {
        if let Ok(s) = slots.clone().try_acquire_owned() {
            return s;
        }
        registry.evict_idlest();
        // Wait for the evicted connection's slot, or look again shortly (a connection may have
        // become idle, or the evicted one was already closing).
        if let Ok(Ok(s)) = tokio::time::timeout(EVICT_EVERY, slots.clone().acquire_owned()).await {
            return s;
        }
    }
}

/// One accepted connection's task.
struct Connection {
    id: u64,
    addr: SocketAddr,
    conn: Arc<Conn>,
    registry: Arc<Registry>,
    router: Router,
    limits: ConnectionLimits,
    stop: watch::Receiver<bool>,
    /// Released (with the connection's descriptor) when the task ends.
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let _ = stream.set_nodelay(true);
        match tls {
            None => self.serve(TokioIo::new(stream)).await,
            Some(acceptor) => {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                let idle = self.limits.idle_timeout.to_std();
                let stream = tokio::select! {
                    r = handshake => match r {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            debug!(addr = %self.addr, "TLS handshake failed: {e}");
                            return self.finish();
                        }
                        Err(_) => {
                            debug!(addr = %self.addr, "TLS handshake timed out");
                            return self.finish();
                        }
                    },
                    () = self.conn.close.notified() => return self.finish(),
                    () = tokio::time::sleep(idle) => return self.finish(),
                    _ = self.stop.changed() => return self.finish(),
                };
                self.serve(TokioIo::new(stream)).await;
            }
        }
    }

    fn finish(&self) {
        self.registry.remove(self.id);
    }

    async fn serve<I>(&mut self, io: TokioIo<I>)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (addr, router, conn) = (self.addr, self.router.clone(), self.conn.clone());
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            let busy = Busy::new(conn.clone());
            let answer = router.clone().oneshot(req);
            async move {
                let r = answer.await;
                drop(busy);
                r
            }
        });
        let served = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_read_timeout.to_std())
            .serve_connection(io, service);
        tokio::pin!(served);
        let idle_timeout = self.limits.idle_timeout.to_std();
        let mut closing = false;
        loop {
            // The earliest the connection can have been idle for `idle_timeout`.
            let check_at = tokio::time::Instant::now()
                + idle_timeout.saturating_sub(self.conn.idle_for().unwrap_or_default());
            tokio::select! {
                r = served.as_mut() => {
                    if let Err(e) = r {
                        debug!(addr = %self.addr, "connection ended: {e}");
                    }
                    break;
                }
                () = self.conn.close.notified(), if !closing => {
                    served.as_mut().graceful_shutdown();
                    closing = true;
                }
                _ = self.stop.changed(), if !closing => {
                    served.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = tokio::time::sleep_until(check_at), if !closing => {
                    if self.conn.idle_for().is_some_and(|d| d >= idle_timeout) {
                        debug!(addr = %self.addr, "closing an idle connection");
                        self.conn.closing.store(true, Ordering::SeqCst);
                        served.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_descriptors_in_reserve() {
        let limits = ConnectionLimits::default();
        let (cap, nofile) = connection_cap(&limits);
        match nofile {
            Some(n) if n < 768 => assert_eq!(cap as u64, n.saturating_sub(256).max(1)),
            _ => assert_eq!(cap, 512),
        }
    }

    #[test]
    fn eviction_picks_the_longest_idle_connection_not_a_busy_one() {
        let epoch = Instant::now() - Duration::from_secs(10);
        let r = Registry::default();
        let (old, busy, new) = (
            Arc::new(Conn::new(epoch)),
            Arc::new(Conn::new(epoch)),
            Arc::new(Conn::new(epoch)),
        );
        old.idle_since_ms.store(1_000, Ordering::SeqCst);
        busy.idle_since_ms.store(0, Ordering::SeqCst);
        let _b = Busy::new(busy.clone());
        r.insert(1, old.clone());
        r.insert(2, busy.clone());
        r.insert(3, new.clone());
        assert!(r.evict_idlest());
        assert!(old.closing.load(Ordering::SeqCst));
        assert!(!busy.closing.load(Ordering::SeqCst));
        assert!(r.evict_idlest());
        assert!(new.closing.load(Ordering::SeqCst));
        assert!(!r.evict_idlest(), "only a busy connection is left");
    }
}
