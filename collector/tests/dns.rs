//! DNS failures, without a packet leaving loopback: http probes of names under a made-up
//! domain, resolved through the system resolver (getaddrinfo, as in production) against a DNS
//! server this test runs on 127.0.0.1:53. The scenario runs in a re-executed copy of this test
//! inside a private mount namespace (`unshare -m`) whose /etc/resolv.conf is bind-mounted to a
//! file naming only that server, so the machine's real resolver is never asked.
//!
//! Needs root (port 53, mount namespaces) and util-linux's `unshare`: fails loudly without them.

mod common;

use std::collections::HashMap;
use std::net::UdpSocket;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use collector::{FailureKind, TargetKey, TargetStatus};
use model::storage::SeriesStore;

/// Set in the re-executed copy that runs inside the namespace.
const INNER: &str = "ALERTD_DNS_TEST_INNER";
/// The resolver configuration inside the namespace. The long timeout makes a lookup of the
/// silent name outlast many probe runs: each run must still end at its own timeout, and later
/// runs must join the lookup in flight instead of starting one more blocked thread each.
const RESOLV_CONF: &str = "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n";
const TEST: &str = "dns_failures_against_a_loopback_dns_server";

#[test]
fn dns_failures_against_a_loopback_dns_server() {
    if std::env::var_os(INNER).is_some() {
        return inner();
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("resolv.conf");
    std::fs::write(&conf, RESOLV_CONF).unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"mount --bind "$0" /etc/resolv.conf && exec "$1" --exact "$2" --nocapture --test-threads=1"#,
        ])
        .arg(&conf)
        .arg(&exe)
        .arg(TEST)
        .env(INNER, "1")
        .output()
        .expect("running unshare (util-linux) failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the scenario in a private mount namespace failed ({}): {stderr}",
        out.status
    );
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the scenario did not run: {stdout}"
    );
}

/// What the DNS server answers for a name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// A 127.0.0.1 (AAAA: no data).
    Good,
    /// NXDOMAIN.
    Nx,
    /// SERVFAIL.
    ServFail,
    /// No answer at all.
    Silent,
}

/// A DNS server on 127.0.0.1:53 answering by a table of names; counts queries per name.
struct Dns {
    modes: Arc<Mutex<HashMap<String, Mode>>>,
    queries: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Dns {
    fn start(modes: &[(&str, Mode)]) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:53")
            .unwrap_or_else(|e| panic!("binding the test's DNS server to 127.0.0.1:53: {e}"));
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let modes = Arc::new(Mutex::new(
            modes
                .iter()
                .map(|(n, m)| (n.to_string(), *m))
                .collect::<HashMap<_, _>>(),
        ));
        let queries: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (m, q, s) = (modes.clone(), queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(Ordering::SeqCst) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Some((name, reply)) = respond(&buf[..n], |name| {
                    m.lock().unwrap().get(name).copied().unwrap_or(Mode::Nx)
                }) else {
                    continue;
                };
                *q.lock().unwrap().entry(name).or_default() += 1;
                if let Some(r) = reply {
                    let _ = sock.send_to(&r, from);
                }
            }
        });
        Dns {
            modes,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    fn set(&self, name: &str, mode: Mode) {
        self.modes.lock().unwrap().insert(name.to_string(), mode);
    }

    fn queries(&self, name: &str) -> usize {
        self.queries.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

impl Drop for Dns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Parses a query (one question) and builds the answer the name's mode calls for: `None` for a
/// packet that is not such a query; `Some((name, None))` when the mode is to stay silent.
fn respond(q: &[u8], mode: impl Fn(&str) -> Mode) -> Option<(String, Option<Vec<u8>>)> {
    if q.len() < 12 || q[2] & 0x80 != 0 || u16::from_be_bytes([q[4], q[5]]) != 1 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        if len & 0xc0 != 0 {
            return None;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = q.get(12..i + 4)?;
    let name = labels.join(".");
    let (rcode, a) = match mode(&name) {
        Mode::Silent => return Some((name, None)),
        Mode::Good => (0u8, qtype == 1),
        Mode::Nx => (3, false),
        Mode::ServFail => (2, false),
    };
    let mut r = Vec::with_capacity(q.len() + 16);
    r.extend_from_slice(&q[0..2]); // ID
    r.push(0x84 | (q[2] & 0x01)); // QR, AA, RD as asked
    r.push(0x80 | rcode); // RA, RCODE
    r.extend_from_slice(&[0, 1, 0, u8::from(a), 0, 0, 0, 0]);
    r.extend_from_slice(question);
    if a {
        // The question's name (pointer), A, IN, TTL 0, 127.0.0.1.
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1]);
    }
    Some((name, Some(r)))
}

fn inner() {
    // Only ever ask the loopback server: refuse to run against any other configuration.
    let conf = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    assert_eq!(
        conf, RESOLV_CONF,
        "/etc/resolv.conf in the namespace is not the test's"
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rt.block_on(scenario())));
    // Lookups of the silent name are still blocked in getaddrinfo: do not wait for them.
    rt.shutdown_background();
    if let Err(p) = res {
        std::panic::resume_unwind(p);
    }
}

const GOOD: &str = "good.alertd.test";

async fn scenario() {
    let dns = Dns::start(&[
        (GOOD, Mode::Good),
        ("nx.alertd.test", Mode::Nx),
        ("servfail.alertd.test", Mode::ServFail),
        ("silent.alertd.test", Mode::Silent),
    ]);
    let app = Router::new().route("/ok", get(|| async { "ok" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });

    let probe = |name: &str, host: &str| {
        format!(
            "  - {{ name: {name}, http: {{ url: 'http://{host}:{port}/ok' }}, interval: 1s, timeout: 1s }}\n"
        )
    };
    let yaml = format!(
        "probes:\n{}{}{}{}",
        probe("good", GOOD),
        probe("nx", "nx.alertd.test"),
        probe("servfail", "servfail.alertd.test"),
        probe("silent", "silent.alertd.test"),
    );
    let started = Instant::now();
    let (store, c) = common::start(&yaml);
    let runs: HashMap<&str, common::Runs> = ["good", "nx", "servfail", "silent"]
        .into_iter()
        .map(|n| {
            (
                n,
                common::Runs::record(c.clone(), TargetKey::Probe(n.into())),
            )
        })
        .collect();

    // The good name resolves through the loopback server (proof the resolver is the one in
    // use) and the probe succeeds; the others fail with a DNS reason.
    let ok = |r: &TargetStatus| r.success == Some(true);
    runs["good"]
        .wait(0, 1, 30, "the good probe to succeed", ok)
        .await;
    assert!(
        dns.queries(GOOD) > 0,
        "the good name was not asked of the test's server"
    );
    let dns_failure = |r: &TargetStatus| r.failure_kind == Some(FailureKind::Dns);
    for (name, host) in [
        ("nx", "nx.alertd.test"),
        ("servfail", "servfail.alertd.test"),
        ("silent", "silent.alertd.test"),
    ] {
        let r = runs[name]
            .wait(0, 4, 30, &format!("DNS failures of {name}"), dns_failure)
            .await;
        let e = r.last_error.as_deref().unwrap();
        assert!(e.contains(&format!("resolving {host}")), "{name}: {e}");
    }

    // Every run of every probe ended within its timeout (1 s, plus slack for a loaded machine),
    // each failed run with a DNS reason; the good probe kept its schedule all along.
    for (name, r) in &runs {
        for run in r.all() {
            assert!(
                run.last_duration_seconds < 1.6,
                "{name}: a run took {}s: {run:?}",
                run.last_duration_seconds
            );
            if *name == "good" {
                assert_eq!(run.success, Some(true), "{run:?}");
            } else {
                assert_eq!(run.failure_kind, Some(FailureKind::Dns), "{run:?}");
            }
        }
    }
    let good = store
        .select(
            &[
                "__name__=\"probe_success\"".parse().unwrap(),
                "probe=\"good\"".parse().unwrap(),
            ],
            0,
            i64::MAX,
        )
        .unwrap();
    let g = &good[0].samples;
    assert!(g.len() >= 4, "{g:?}");
    for w in g.windows(2) {
        let gap = w[1].t - w[0].t;
        assert!(
            (500..1900).contains(&gap),
            "the good probe's runs were {gap} ms apart: {g:?}"
        );
    }
    for name in ["nx", "servfail", "silent"] {
        let s = store
            .select(
                &[
                    "__name__=\"probe_success\"".parse().unwrap(),
                    format!("probe=\"{name}\"").parse().unwrap(),
                ],
                0,
                i64::MAX,
            )
            .unwrap();
        assert!(s[0].samples.iter().all(|s| s.v == 0.0), "{name}: {s:?}");
    }

    // The silent name's lookup blocks a thread in getaddrinfo for 30 s. The probe gave up on
    // it at every run, but did not start a new lookup each time: every run joined the one in
    // flight (one lookup asks for A and AAAA), so blocked threads cannot pile up.
    let silent_runs = runs["silent"].len();
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(29), "took {elapsed:?}");
    assert!(silent_runs >= 4, "{silent_runs} runs");
    let q = dns.queries("silent.alertd.test");
    println!("silent name: {q} queries in {silent_runs} runs over {elapsed:?}");
    assert!(
        (1..=2).contains(&q),
        "{q} queries for the silent name in {silent_runs} runs: lookups pile up"
    );

    // The good name starts failing (NXDOMAIN) and comes back: the probe follows at once.
    dns.set(GOOD, Mode::Nx);
    let n = runs["good"].len();
    let r = runs["good"]
        .wait(n, 1, 30, "the good name to fail", dns_failure)
        .await;
    assert!(r.last_error.unwrap().contains("resolving good.alertd.test"));
    dns.set(GOOD, Mode::Good);
    let n = runs["good"].len();
    runs["good"]
        .wait(n, 1, 30, "the good name to resolve again", ok)
        .await;
}
