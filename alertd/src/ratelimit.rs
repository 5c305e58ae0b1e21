//! The per-client rate limit of heartbeat pings (`api.ping_rate_limit`).
//!
//! Every `/ping/...` request is checked here before any heartbeat work (and before its body is
//! read): a client over its quota gets 429 and nothing is written to the store. Clients are
//! keyed by their peer address: an IPv4 address, or the /64 prefix of an IPv6 address (one
//! host usually owns a whole /64, so keying by full address would give it 2^64 buckets).
//!
//! Memory is bounded: the table of tracked clients (governor's keyed GCRA state, one atomic per
//! client in a `DashMap`) holds at most `max_clients` entries. When it is full, pings from
//! clients not in it share one overflow bucket with the same quota, so a flood from many
//! addresses is still limited as a whole. [`PingGuard::housekeep`] (run every
//! [`HOUSEKEEPING_EVERY`] by the daemon) drops clients whose bucket has refilled, which makes
//! room for new ones.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use governor::clock::Clock;
#[cfg(test)]
use governor::clock::FakeRelativeClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

use crate::config::PingRateLimitConfig;

/// How often the daemon drops refilled clients from the table.
pub(crate) const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(10);

/// The limiter's clock: monotonic in the daemon (a wall-clock step must not empty or refill
/// buckets), governor's fake clock in tests.
#[derive(Debug, Clone)]
pub(crate) enum PingClock {
    /// Time since the given instant.
    Monotonic(Instant),
    /// A clock that moves only when told to.
    #[cfg(test)]
    Fake(FakeRelativeClock),
}

impl PingClock {
    /// A monotonic clock starting now.
    pub(crate) fn monotonic() -> Self {
        PingClock::Monotonic(Instant::now())
    }
}

impl Clock for PingClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        match self {
            PingClock::Monotonic(origin) => origin.elapsed().into(),
            #[cfg(test)]
            PingClock::Fake(c) => c.now(),
        }
    }
}

/// A client as the limiter tells clients apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4(Ipv4Addr),
    /// The first 64 bits of an IPv6 address.
    V6Prefix(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(a) => ClientKey::V4(a),
            IpAddr::V6(a) => ClientKey::V6Prefix((a.to_bits() >> 64) as u64),
        }
    }
}

/// The tracked clients plus the overflow bucket, as a governor state store.
#[derive(Debug)]
struct Table {
    clients: DashMapStateStore<ClientKey>,
    overflow: InMemoryState,
    max_clients: usize,
    /// Held while a new client is added, so that the table never grows past `max_clients`.
    admit: Mutex<()>,
    /// Pings decided by the overflow bucket (shared across reloads).
    overflowed: Arc<AtomicU64>,
}

/// A shared handle on a [`Table`] (the rate limiter owns one, the guard reads through another).
#[derive(Debug, Clone)]
struct SharedTable(Arc<Table>);

impl StateStore for SharedTable {
    type Key = ClientKey;

    fn measure_and_replace<T, F, E>(&self, key: &ClientKey, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        let t = &*self.0;
        // A tracked client: its own bucket, no lock but the map shard's.
        if let Some(state) = t.clients.get(key) {
            return StateStore::measure_and_replace(&*state, &NotKeyed::NonKey, f);
        }
        let admit = t.admit.lock().unwrap_or_else(PoisonError::into_inner);
        if t.clients.len() < t.max_clients || t.clients.contains_key(key) {
            let state = t.clients.entry(*key).or_default();
            return StateStore::measure_and_replace(&*state, &NotKeyed::NonKey, f);
        }
        drop(admit);
        t.overflowed.fetch_add(1, Ordering::Relaxed);
        StateStore::measure_and_replace(&t.overflow, &NotKeyed::NonKey, f)
    }
}

impl ShrinkableKeyedStateStore<ClientKey> for SharedTable {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&self.0.clients, drop_below);
    }

    fn shrink_to_fit(&self) {
        self.0.clients.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.0.clients.len()
    }

    fn is_empty(&self) -> bool {
        self.0.clients.is_empty()
    }
}

/// A keyed GCRA limiter over a bounded client table.
#[derive(Debug)]
pub(crate) struct ClientLimiter {
    limiter: RateLimiter<ClientKey, SharedTable, PingClock, NoOpMiddleware<Nanos>>,
    table: SharedTable,
    cfg: PingRateLimitConfig,
}

impl ClientLimiter {
    /// A limiter for `cfg` (its `enabled` flag is not looked at) counting pings decided by the
    /// overflow bucket in `overflowed`.
    pub(crate) fn new(
        cfg: PingRateLimitConfig,
        clock: PingClock,
        overflowed: Arc<AtomicU64>,
    ) -> Self {
        let table = SharedTable(Arc::new(Table {
            clients: DashMapStateStore::default(),
            overflow: InMemoryState::default(),
            max_clients: usize::try_from(cfg.max_clients.get()).unwrap_or(usize::MAX),
            admit: Mutex::new(()),
            overflowed,
        }));
        let quota = Quota::per_second(cfg.per_second).allow_burst(cfg.burst);
        ClientLimiter {
            limiter: RateLimiter::new(quota, table.clone(), clock),
            table,
            cfg,
        }
    }

    /// Takes one ping from `ip`'s bucket (or the overflow bucket); `Err` carries how long until
    /// the next ping would be accepted.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&ClientKey::from(ip))
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Drops the clients whose bucket has refilled (they are indistinguishable from new ones)
    /// and gives the freed memory back; returns how many were dropped.
    pub(crate) fn housekeep(&self) -> usize {
        let before = self.limiter.len();
        self.limiter.retain_recent();
        let after = self.limiter.len();
        if after < before {
            self.limiter.shrink_to_fit();
        }
        before.saturating_sub(after)
    }

    /// Clients in the table now.
    pub(crate) fn clients(&self) -> usize {
        self.table.0.clients.len()
    }

    /// The settings this limiter enforces.
    pub(crate) fn config(&self) -> PingRateLimitConfig {
        self.cfg
    }
}

/// A ping refused by the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limited {
    /// When the client's next ping would be accepted.
    pub retry_after: Duration,
    /// The limit in force.
    pub limit: PingRateLimitConfig,
}

impl Limited {
    /// `Retry-After` in whole seconds, rounded up (at least 1).
    pub(crate) fn retry_after_secs(&self) -> u64 {
        let d = self.retry_after;
        let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
        secs.max(1)
    }
}

/// Counters and the table size, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PingLimitStats {
    /// Pings refused with 429 since start.
    pub limited: u64,
    /// Pings decided by the overflow bucket since start (the table was full).
    pub overflowed: u64,
    /// Clients in the table now.
    pub clients: u64,
    /// `max_clients` in force (0 when the limit is off).
    pub max_clients: u64,
}

/// The daemon's ping limiter: the [`ClientLimiter`] for the configuration in force (none when
/// the limit is off), swapped on reload, with counters that survive reloads.
#[derive(Debug)]
pub(crate) struct PingGuard {
    clock: Mutex<PingClock>,
    limiter: RwLock<Option<Arc<ClientLimiter>>>,
    limited: AtomicU64,
    overflowed: Arc<AtomicU64>,
}

impl PingGuard {
    /// A guard enforcing `cfg` on the monotonic clock.
    pub(crate) fn new(cfg: &PingRateLimitConfig) -> Self {
        PingGuard::with_clock(cfg, PingClock::monotonic())
    }

    /// A guard enforcing `cfg` on `clock`.
    pub(crate) fn with_clock(cfg: &PingRateLimitConfig, clock: PingClock) -> Self {
        let g = PingGuard {
            clock: Mutex::new(clock),
            limiter: RwLock::new(None),
            limited: AtomicU64::new(0),
            overflowed: Arc::new(AtomicU64::new(0)),
        };
        g.configure(cfg);
        g
    }

    /// Moves the limiter in force onto `clock`, with fresh buckets (for tests of the HTTP
    /// layer, which get their guard from `App`).
    #[cfg(test)]
    pub(crate) fn set_clock(&self, clock: PingClock) {
        *self.clock.lock().unwrap_or_else(PoisonError::into_inner) = clock;
        let cfg = self.current().map(|l| l.config());
        if let Some(cfg) = cfg {
            *self.limiter.write().unwrap_or_else(PoisonError::into_inner) = None;
            self.configure(&cfg);
        }
    }

    fn current(&self) -> Option<Arc<ClientLimiter>> {
        self.limiter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Applies `cfg` (on start and reload). Unchanged settings keep the clients' buckets;
    /// changed ones start with empty (full) buckets.
    pub(crate) fn configure(&self, cfg: &PingRateLimitConfig) {
        let mut slot = self.limiter.write().unwrap_or_else(PoisonError::into_inner);
        if !cfg.enabled {
            *slot = None;
            return;
        }
        if slot.as_ref().is_some_and(|l| l.config() == *cfg) {
            return;
        }
        let clock = self
            .clock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        *slot = Some(Arc::new(ClientLimiter::new(
            *cfg,
            clock,
            self.overflowed.clone(),
        )));
    }

    /// Takes one ping from `ip`'s quota; `Err` when it is over the limit (counted).
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), Limited> {
        let Some(l) = self.current() else {
            return Ok(());
        };
        l.check(ip).map_err(|retry_after| {
            self.limited.fetch_add(1, Ordering::Relaxed);
            Limited {
                retry_after,
                limit: l.config(),
            }
        })
    }

    /// Drops refilled clients from the table; returns how many.
    pub(crate) fn housekeep(&self) -> usize {
        self.current().map_or(0, |l| l.housekeep())
    }

    /// The counters and the table size now.
    pub(crate) fn stats(&self) -> PingLimitStats {
        let l = self.current();
        PingLimitStats {
            limited: self.limited.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
            clients: l.as_ref().map_or(0, |l| l.clients() as u64),
            max_clients: l
                .as_ref()
                .map_or(0, |l| u64::from(l.config().max_clients.get())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;
    use std::num::NonZeroU32;

    fn cfg(per_second: u32, burst: u32, max_clients: u32) -> PingRateLimitConfig {
        PingRateLimitConfig {
            enabled: true,
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
            max_clients: NonZeroU32::new(max_clients).unwrap(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Pings from `addr` accepted in a row, at most `n` tried.
    fn accepted(g: &PingGuard, addr: &str, n: usize) -> usize {
        (0..n).take_while(|_| g.check(ip(addr)).is_ok()).count()
    }

    #[test]
    fn each_client_has_its_own_bucket_that_refills_at_the_rate() {
        let clock = FakeRelativeClock::default();
        let g = PingGuard::with_clock(&cfg(2, 5, 100), PingClock::Fake(clock.clone()));
        assert_eq!(accepted(&g, "10.0.0.1", 100), 5);
        let limited = g.check(ip("10.0.0.1")).unwrap_err();
        // 2 per second: the next one is 500 ms away; Retry-After rounds up.
        assert_eq!(limited.retry_after, Duration::from_millis(500));
        assert_eq!(limited.retry_after_secs(), 1);
        // Another client is not affected.
        assert_eq!(accepted(&g, "10.0.0.2", 100), 5);
        clock.advance(Duration::from_millis(499));
        assert!(g.check(ip("10.0.0.1")).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(g.check(ip("10.0.0.1")).is_ok());
        assert!(g.check(ip("10.0.0.1")).is_err());
        // After a full refill period the whole burst is back.
        clock.advance(Duration::from_millis(2500));
        assert_eq!(accepted(&g, "10.0.0.1", 100), 5);
        let s = g.stats();
        assert_eq!((s.limited, s.clients, s.overflowed), (6, 2, 0));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let clock = FakeRelativeClock::default();
        let g = PingGuard::with_clock(&cfg(1, 3, 100), PingClock::Fake(clock));
        assert_eq!(accepted(&g, "2001:db8:1:2::1", 2), 2);
        // Same /64, another address: the same bucket.
        assert_eq!(accepted(&g, "2001:db8:1:2:ffff::9", 10), 1);
        // Next /64: a bucket of its own.
        assert_eq!(accepted(&g, "2001:db8:1:3::1", 10), 3);
        assert_eq!(accepted(&g, "192.0.2.7", 2), 2);
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert!(g.check(mapped).is_ok());
        assert!(g.check(mapped).is_err());
        assert_eq!(
            ClientKey::from(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ClientKey::V6Prefix(0)
        );
        assert_eq!(g.stats().clients, 3);
    }

    #[test]
    fn a_full_table_sends_new_clients_to_one_shared_overflow_bucket() {
        let clock = FakeRelativeClock::default();
        let g = PingGuard::with_clock(&cfg(1, 2, 3), PingClock::Fake(clock.clone()));
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
            assert!(g.check(ip(a)).is_ok());
        }
        assert_eq!(g.stats().clients, 3);
        // Three more addresses, two pings each: together they get the overflow bucket's
        // burst of 2, not 2 each.
        let mut ok = 0;
        for a in ["10.0.1.1", "10.0.1.2", "10.0.1.3"] {
            ok += accepted(&g, a, 2);
        }
        assert_eq!(ok, 2);
        let s = g.stats();
        assert_eq!(s.clients, 3, "the table never grows past max_clients");
        assert_eq!(s.max_clients, 3);
        assert_eq!(s.overflowed, 4, "{s:?}");
        // Tracked clients keep their own buckets meanwhile.
        assert!(g.check(ip("10.0.0.1")).is_ok());
        assert!(g.check(ip("10.0.0.1")).is_err());
        // The overflow bucket refills at the rate like any other.
        clock.advance(Duration::from_secs(1));
        assert!(g.check(ip("10.0.2.1")).is_ok());
        assert!(g.check(ip("10.0.2.2")).is_err());
    }

    #[test]
    fn housekeeping_drops_refilled_clients_and_makes_room() {
        let clock = FakeRelativeClock::default();
        let g = PingGuard::with_clock(&cfg(10, 5, 2), PingClock::Fake(clock.clone()));
        assert_eq!(accepted(&g, "10.0.0.1", 5), 5);
        assert!(g.check(ip("10.0.0.2")).is_ok());
        // 10.0.0.2 used 1 of 5: refilled after 100 ms; 10.0.0.1 (empty) after 500 ms.
        clock.advance(Duration::from_millis(200));
        assert_eq!(g.housekeep(), 1);
        assert_eq!(g.stats().clients, 1);
        // The freed slot goes to a new client, which gets a bucket of its own.
        assert_eq!(accepted(&g, "10.0.0.3", 10), 5);
        assert_eq!(g.stats().overflowed, 0);
        // 10.0.0.1 kept its (still partly empty) bucket: a fresh one would allow 5.
        assert_eq!(accepted(&g, "10.0.0.1", 10), 2);
        clock.advance(Duration::from_secs(1));
        assert_eq!(g.housekeep(), 2);
        assert_eq!(g.stats().clients, 0);
    }

    #[test]
    fn the_table_stays_bounded_under_concurrent_new_clients() {
        let g = Arc::new(PingGuard::with_clock(
            &cfg(1, 1, 50),
            PingClock::Fake(FakeRelativeClock::default()),
        ));
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let g = g.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u32 {
                        let [_, _, b, c] = i.to_be_bytes();
                        let _ = g.check(IpAddr::V4(Ipv4Addr::new(10, t, b, c)));
                        assert!(g.stats().clients <= 50);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let s = g.stats();
        assert_eq!(s.clients, 50);
        assert_eq!(s.overflowed, 8000 - 50);
        // One burst for the whole overflow: every other overflowed ping was refused.
        assert_eq!(s.limited, 8000 - 50 - 1);
    }

    #[test]
    fn reconfiguring_keeps_state_when_unchanged_and_turns_off() {
        let clock = FakeRelativeClock::default();
        let g = PingGuard::with_clock(&cfg(1, 2, 10), PingClock::Fake(clock));
        assert_eq!(accepted(&g, "10.0.0.1", 5), 2);
        g.configure(&cfg(1, 2, 10));
        assert!(
            g.check(ip("10.0.0.1")).is_err(),
            "same settings keep buckets"
        );
        g.configure(&cfg(1, 3, 10));
        assert_eq!(
            accepted(&g, "10.0.0.1", 5),
            3,
            "new settings, fresh buckets"
        );
        g.configure(&PingRateLimitConfig {
            enabled: false,
            ..cfg(1, 3, 10)
        });
        assert_eq!(accepted(&g, "10.0.0.1", 1000), 1000);
        let s = g.stats();
        assert_eq!((s.clients, s.max_clients), (0, 0));
        assert_eq!(s.limited, 3, "counters survive reloads");
    }
}
