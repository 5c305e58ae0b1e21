//! A heartbeat ping flood against the real alertd (`api.ping_rate_limit`): 100,000 pings from
//! one address over keep-alive connections with pipelining, while a second address keeps
//! pinging; then pings from 2,000 addresses with a small `max_clients`. Loopback only: every
//! address is in 127.0.0.0/8, which Linux routes to `lo` without configuration.
//!
//! The figures (rate reached, RSS) are printed; run with `--nocapture` to see them. Nothing
//! here asserts on speed: the bounds on accepted pings are computed from the elapsed time.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use e2e::{free_port, metric_value, now_secs, start, Daemon};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PER_SECOND: u64 = 10;
const BURST: u64 = 300;
const MAX_CLIENTS: u64 = 100;
/// Pings in the flood from 127.0.0.1.
const FLOOD: usize = 100_000;
/// Keep-alive connections the flood uses, and requests in flight on each.
const CONNECTIONS: usize = 16;
const DEPTH: usize = 64;
/// Of those connections, how many ping a heartbeat that does not exist.
const UNKNOWN_CONNECTIONS: usize = 2;
/// Addresses in the second phase, and pings from each.
const ADDRESSES: u32 = 2_000;
const PINGS_EACH: usize = 3;
/// How often alertd drops refilled clients from its table (`ratelimit::HOUSEKEEPING_EVERY`).
const HOUSEKEEPING_EVERY_SECS: f64 = 10.0;

fn config(port: u16) -> String {
    format!(
        "api:
  listen: 127.0.0.1:{port}
  ping_rate_limit: {{ per_second: {PER_SECOND}, burst: {BURST}, max_clients: {MAX_CLIENTS} }}
storage:
  path: data
heartbeats:
  - {{ name: flood, period: 1h, grace: 5m }}
"
    )
}

/// Answers counted by status.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ok: u64,
    not_found: u64,
    limited: u64,
    /// 429s without a `Retry-After` of 1..=30 s.
    limited_without_retry_after: u64,
    other: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.ok += o.ok;
        self.not_found += o.not_found;
        self.limited += o.limited;
        self.limited_without_retry_after += o.limited_without_retry_after;
        self.other += o.other;
    }

    fn total(&self) -> u64 {
        self.ok + self.not_found + self.limited + self.other
    }
}

/// A connection to alertd from the local address `from`.
async fn connect_from(from: Ipv4Addr, port: u16) -> Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::from((from, 0)))
        .with_context(|| format!("bind {from}"))?;
    let s = s
        .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// One HTTP/1.1 connection that sends pipelined requests and parses the answers.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Reads one whole response: its status and its `Retry-After` (whole seconds), if any.
    async fn response(&mut self) -> Result<(u16, Option<u64>)> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buf[..end])?.to_ascii_lowercase();
                let mut lines = head.split("\r\n");
                let status: u16 = lines
                    .next()
                    .and_then(|l| l.split(' ').nth(1))
                    .and_then(|c| c.parse().ok())
                    .context("status line")?;
                let mut len = 0;
                let mut retry_after = None;
                for l in lines {
                    let (name, value) = l.split_once(':').context("header line")?;
                    match name.trim() {
                        "content-length" => len = value.trim().parse()?,
                        "retry-after" => retry_after = value.trim().parse().ok(),
                        "transfer-encoding" => bail!("unexpected transfer-encoding: {value}"),
                        _ => {}
                    }
                }
                let total = end + 4 + len;
                if self.buf.len() >= total {
                    self.buf.drain(..total);
                    return Ok((status, retry_after));
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.s.read(&mut chunk).await?;
            if n == 0 {
                bail!("connection closed with {} bytes unparsed", self.buf.len());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Sends `n` `GET path` requests over one keep-alive connection from `from`, `depth` at a
/// time, and counts the answers.
async fn pinger(from: Ipv4Addr, port: u16, path: &str, n: usize, depth: usize) -> Result<Counts> {
    let mut c = Conn {
        s: connect_from(from, port).await?,
        buf: Vec::new(),
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let mut counts = Counts::default();
    let mut done = 0;
    while done < n {
        let batch = depth.min(n - done);
        c.s.write_all(req.repeat(batch).as_bytes()).await?;
        for _ in 0..batch {
            let (status, retry_after) = c.response().await?;
            match status {
                200 => counts.ok += 1,
                404 => counts.not_found += 1,
                429 => {
                    counts.limited += 1;
                    if !retry_after.is_some_and(|s| (1..=30).contains(&s)) {
                        counts.limited_without_retry_after += 1;
                    }
                }
                _ => counts.other += 1,
            }
        }
        done += batch;
    }
    Ok(counts)
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn metric(d: &Daemon, name: &str) -> f64 {
    metric_value(&d.metrics(), name).unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// Samples written to the store so far (accepted and dropped as duplicates): each heartbeat
/// export adds one per heartbeat series, whether or not its timestamp was new.
fn store_samples(d: &Daemon) -> f64 {
    metric(d, "alertd_store_samples_ingested_total")
        + metric(d, "alertd_store_out_of_order_samples_dropped_total")
}

/// The value of an instant query with one result.
fn query_one(d: &Daemon, q: &str) -> f64 {
    let r = d.http("GET", &format!("/api/v1/query?query={q}")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let result = v["data"]["result"].as_array().expect("result");
    assert_eq!(result.len(), 1, "{q}: {v}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[test]
fn a_ping_flood_is_limited_per_client_in_bounded_memory() {
    let port = free_port();
    let d = start(port, &config(port), &[]).unwrap();
    let pid = d.pid();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    // A first ping from a third address: the heartbeat's series exist, so the number of
    // samples one export writes is known.
    let first = rt
        .block_on(pinger(
            Ipv4Addr::new(127, 0, 0, 3),
            port,
            "/ping/flood",
            1,
            1,
        ))
        .unwrap();
    assert_eq!(first.ok, 1, "{first:?}");
    let series = metric(&d, "alertd_store_series");
    assert!((1.0..=10.0).contains(&series), "{series} series");
    let samples_before = store_samples(&d);
    let (rss_before, _) = rss_kib(pid);
    let started_at = now_secs();

    // Phase 1: the flood from 127.0.0.1, and a bystander from 127.0.0.2 meanwhile.
    let flooding = Arc::new(AtomicBool::new(true));
    let bystander = {
        let flooding = flooding.clone();
        rt.spawn(async move {
            let mut c = Conn {
                s: connect_from(Ipv4Addr::new(127, 0, 0, 2), port).await?,
                buf: Vec::new(),
            };
            let req = format!("GET /ping/flood HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
            let mut answers = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                let sent = Instant::now();
                c.s.write_all(req.as_bytes()).await?;
                let (status, _) = c.response().await?;
                answers.push((status, sent.elapsed()));
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            anyhow::Ok(answers)
        })
    };
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let path = if i < UNKNOWN_CONNECTIONS {
                "/ping/no-such-heartbeat"
            } else {
                "/ping/flood"
            };
            rt.spawn(pinger(
                Ipv4Addr::LOCALHOST,
                port,
                path,
                FLOOD / CONNECTIONS,
                DEPTH,
            ))
        })
        .collect();
    let mut flood = Counts::default();
    for t in tasks {
        flood.add(rt.block_on(t).unwrap().unwrap());
    }
    let elapsed = t0.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    let bystander = rt.block_on(bystander).unwrap().unwrap();
    let (rss_flood, hwm_flood) = rss_kib(pid);
    println!(
        "flood: {} pings from 127.0.0.1 in {elapsed:.2}s = {:.0}/s over {CONNECTIONS} \
         connections ({DEPTH} in flight each): {flood:?}",
        flood.total(),
        flood.total() as f64 / elapsed,
    );
    let slowest = bystander.iter().map(|(_, t)| *t).max().unwrap_or_default();
    println!(
        "bystander 127.0.0.2: {} pings during the flood, statuses {:?}, slowest answer {slowest:?}",
        bystander.len(),
        bystander
            .iter()
            .map(|(s, _)| *s)
            .collect::<std::collections::BTreeSet<_>>()
    );
    println!(
        "alertd RSS: {:.1} MiB before, {:.1} MiB after the flood, peak {:.1} MiB",
        mib(rss_before),
        mib(rss_flood),
        mib(hwm_flood)
    );

    // Every ping was answered: accepted (200, or 404 for the unknown name: the limit applies
    // to unknown names as well) within the quota, the rest 429 with Retry-After.
    assert_eq!(flood.total(), FLOOD as u64, "{flood:?}");
    assert_eq!(flood.other, 0, "{flood:?}");
    assert_eq!(flood.limited_without_retry_after, 0, "{flood:?}");
    let accepted = flood.ok + flood.not_found;
    let bound = BURST + (PER_SECOND as f64 * elapsed).ceil() as u64 + 2;
    assert!(accepted >= BURST, "{accepted} accepted, burst is {BURST}");
    assert!(
        accepted <= bound,
        "{accepted} accepted in {elapsed:.2}s, at most {bound} allowed"
    );
    assert!(flood.not_found > 0 && flood.ok > 0, "{flood:?}");
    assert_eq!(
        metric(&d, "alertd_ping_rate_limited_total"),
        flood.limited as f64
    );
    // The other address was not starved: every one of its pings was recorded.
    assert!(!bystander.is_empty());
    assert!(
        bystander.iter().all(|(s, _)| *s == 200),
        "bystander answers: {bystander:?}"
    );
    // Refused pings wrote nothing: the store got one export per accepted ping and per
    // periodic export (every 5 s), not one per ping.
    let exports = flood.ok + bystander.len() as u64 + (elapsed / 5.0).ceil() as u64 + 3;
    let written = store_samples(&d) - samples_before;
    assert!(
        written <= series * exports as f64,
        "{written} samples written for {exports} exports of {series} series"
    );
    // The heartbeat is up, with a ping recorded during the flood.
    assert_eq!(query_one(&d, "heartbeat_up"), 1.0);
    let last = query_one(&d, "heartbeat_last_ping_timestamp_seconds");
    assert!(
        last >= started_at as f64,
        "last ping {last}, flood at {started_at}"
    );
    let r = d.http("GET", "/api/alertd/v1/heartbeats").unwrap();
    let hb: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(hb[0]["name"], "flood", "{hb}");
    assert_eq!(hb[0]["state"], "up", "{hb}");
    // Memory stayed bounded.
    assert!(
        hwm_flood < rss_before + 32 * 1024,
        "peak RSS {:.1} MiB, {:.1} MiB before the flood",
        mib(hwm_flood),
        mib(rss_before)
    );

    // Phase 2: many addresses, few pings each; at most MAX_CLIENTS are tracked, the rest share
    // the overflow bucket.
    let limited_before = metric(&d, "alertd_ping_rate_limited_total");
    let overflow_before = metric(&d, "alertd_ping_rate_limit_overflow_total");
    let sampling = Arc::new(AtomicBool::new(true));
    let max_seen = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (sampling, max_seen) = (sampling.clone(), max_seen.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while sampling.load(Ordering::Relaxed) {
                let r = e2e::http(port, "GET", "/metrics").expect("GET /metrics");
                let n =
                    metric_value(&r.body, "alertd_ping_rate_limit_clients").expect("clients gauge");
                max_seen.fetch_max(n as u64, Ordering::Relaxed);
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            samples
        })
    };
    let t1 = Instant::now();
    let many = rt.block_on(async move {
        let slots = Arc::new(tokio::sync::Semaphore::new(200));
        let tasks: Vec<_> = (0..ADDRESSES)
            .map(|i| {
                let slots = slots.clone();
                let from = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
                tokio::spawn(async move {
                    let _slot = slots.acquire_owned().await?;
                    pinger(from, port, "/ping/flood", PINGS_EACH, PINGS_EACH).await
                })
            })
            .collect();
        let mut c = Counts::default();
        for t in tasks {
            c.add(t.await??);
        }
        anyhow::Ok(c)
    });
    let many = many.unwrap();
    let elapsed2 = t1.elapsed().as_secs_f64();
    let clients_after = metric(&d, "alertd_ping_rate_limit_clients") as u64;
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.join().unwrap();
    let max_seen = max_seen.load(Ordering::Relaxed).max(clients_after);
    let overflowed = (metric(&d, "alertd_ping_rate_limit_overflow_total") - overflow_before) as u64;
    let limited2 = (metric(&d, "alertd_ping_rate_limited_total") - limited_before) as u64;
    let (rss_end, hwm_end) = rss_kib(pid);
    println!(
        "many: {} pings from {ADDRESSES} addresses in {elapsed2:.2}s: {many:?}; {overflowed} \
         through the overflow bucket; tracked clients at most {max_seen} over {samples} \
         samples (max_clients {MAX_CLIENTS})",
        many.total()
    );
    println!(
        "alertd RSS at the end: {:.1} MiB, peak {:.1} MiB",
        mib(rss_end),
        mib(hwm_end)
    );

    let pings = u64::from(ADDRESSES) * PINGS_EACH as u64;
    assert_eq!(many.total(), pings, "{many:?}");
    assert_eq!((many.other, many.not_found), (0, 0), "{many:?}");
    assert_eq!(many.limited_without_retry_after, 0, "{many:?}");
    assert_eq!(many.limited, limited2);
    // The table never held more than max_clients, and was full.
    assert_eq!(max_seen, MAX_CLIENTS, "{samples} samples");
    // Each housekeeping round can free every slot; the other addresses overflowed.
    let rounds = (elapsed2 / HOUSEKEEPING_EVERY_SECS).ceil() as u64 + 1;
    let admitted_at_most = MAX_CLIENTS * rounds;
    assert!(
        overflowed >= (u64::from(ADDRESSES) - admitted_at_most) * PINGS_EACH as u64,
        "{overflowed} overflowed"
    );
    // A tracked client's 3 pings fit its burst: every 429 came from the overflow bucket, which
    // let through its burst and its rate, not 3 pings per address.
    let through = overflowed - limited2;
    let bound2 = BURST + (PER_SECOND as f64 * elapsed2).ceil() as u64 + 2;
    assert!(
        (BURST..=bound2).contains(&through),
        "{through} overflowed pings accepted in {elapsed2:.2}s (burst {BURST}, bound {bound2})"
    );
    assert!(
        hwm_end < rss_before + 32 * 1024,
        "peak RSS {:.1} MiB, {:.1} MiB at the start",
        mib(hwm_end),
        mib(rss_before)
    );
}
