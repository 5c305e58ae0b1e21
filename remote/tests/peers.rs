//! remote_write against real receivers the tests start on loopback ports in temporary
//! directories: Debian's `prometheus` 2.42 (`--web.enable-remote-write-receiver`) and
//! `victoria-metrics` 1.79. Samples go through the store (its write-ahead log) and the queue;
//! each receiver is then queried and every series and sample compared with what the store
//! holds. Also: the receiver stopped for a while (no gap after catch-up), and the sender killed
//! with SIGKILL while the receiver is down, then both started (everything arrives).
//!
//! Without the binaries the tests are skipped with a message, except under `CI=true`, where
//! they fail.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use model::clock::{Clock, SystemClock};
use model::{Duration, Labels, MatchOp, Matcher, Sample};
use remote::{Queue, RemoteWriteConfig};
use store::{Engine, Store, StoreOptions};

#[allow(dead_code)]
#[path = "support/peer.rs"]
mod peer;

use peer::{free_port, have, Kind, Peer, PROMETHEUS, VICTORIA};

const SERIES: usize = 20;

fn store_opts(dir: &Path) -> StoreOptions {
    StoreOptions {
        path: dir.to_path_buf(),
        engine: Engine::Redb,
        checkpoint_interval: Duration::ZERO,
        ..StoreOptions::default()
    }
}

fn labels(j: usize) -> Labels {
    let name = if j < SERIES / 2 { "rw_a" } else { "rw_b" };
    Labels::from_pairs([("__name__", name), ("j", &j.to_string())])
}

/// Round `i`: one sample per series at `base + i s` (values exact in decimal).
fn round(base: i64, i: i64) -> Vec<(Labels, Sample)> {
    (0..SERIES)
        .map(|j| {
            let v = (i * SERIES as i64 + j as i64) as f64 / 4.0;
            (labels(j), Sample::new(base + i * 1000, v))
        })
        .collect()
}

/// Ten minutes ago, on a whole second (the receivers take recent samples only).
fn base() -> i64 {
    (SystemClock.now_ms() / 1000 - 600) * 1000
}

fn queue_config(url: &str, name: &str) -> RemoteWriteConfig {
    let yaml = format!(
        "url: {url}\nname: {name}\nremote_timeout: 5s\n\
         queue_config: {{capacity: 700, max_shards: 4, max_samples_per_send: 150, \
         batch_send_deadline: 200ms, min_backoff: 20ms, max_backoff: 200ms}}\n\
         write_relabel_configs:\n- {{source_labels: [j], regex: '19', action: drop}}\n"
    );
    let c: RemoteWriteConfig = serde_saphyr::from_str(&yaml).unwrap();
    assert!(
        remote::validate(std::slice::from_ref(&c), &model::config::ConfigPath::root()).is_empty()
    );
    c
}

fn external() -> Labels {
    Labels::from_pairs([("replica", "a")])
}

/// What the receiver must hold: every `rw_*` sample of the store, with the external label and
/// without the series the relabelling drops.
fn expected(store: &Store) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
    let m = Matcher::new("__name__", MatchOp::Regex, "rw_.+").unwrap();
    let mut out = BTreeMap::new();
    for s in store.select(&[m], i64::MIN, i64::MAX).unwrap() {
        if s.labels.get("j") == Some("19") {
            continue;
        }
        let mut l: BTreeMap<String, String> = s
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        l.insert("replica".into(), "a".into());
        out.insert(l, s.samples.iter().map(|x| (x.t, x.v)).collect());
    }
    out
}

/// Waits (at most `secs`) until the receiver holds exactly `want`; asserts it does.
fn wait_equal(peer: &Peer, want: &BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>>, secs: u64) {
    let begin = Instant::now();
    loop {
        let got = peer.samples();
        if &got == want || begin.elapsed() > StdDuration::from_secs(secs) {
            let n: usize = want.values().map(Vec::len).sum();
            let m: usize = got.values().map(Vec::len).sum();
            assert_eq!(got.len(), want.len(), "{:?}: series", peer.kind);
            assert_eq!(m, n, "{:?}: samples", peer.kind);
            assert_eq!(&got, want, "{:?}: every series and sample", peer.kind);
            return;
        }
        std::thread::sleep(StdDuration::from_millis(300));
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_sample_arrives_at_prometheus_and_victoriametrics() {
    if !have(PROMETHEUS) || !have(VICTORIA) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let prom = Peer::start(Kind::Prometheus, &tmp.path().join("prom"), free_port());
    let vm = Peer::start(Kind::Victoria, &tmp.path().join("vm"), free_port());
    let store = Store::open(store_opts(&tmp.path().join("store"))).unwrap();
    let rt = rt();
    let _g = rt.enter();
    let qp = Queue::start(
        store.clone(),
        &queue_config(&prom.write_url(), "prom"),
        &external(),
    )
    .unwrap();
    let qv = Queue::start(
        store.clone(),
        &queue_config(&vm.write_url(), "vm"),
        &external(),
    )
    .unwrap();
    let base = base();
    for i in 0..300 {
        store.append(&round(base, i)).unwrap();
        if i % 100 == 99 {
            store.checkpoint().unwrap();
        }
    }
    let want = expected(&store);
    assert_eq!(want.len(), SERIES - 1);
    wait_equal(&prom, &want, 40);
    wait_equal(&vm, &want, 40);
    for q in [&qp, &qv] {
        let s = q.stats();
        assert_eq!(s.samples_sent, 300 * (SERIES as u64 - 1), "{s:?}");
        assert_eq!(s.samples_dropped, 300, "the relabelled series");
        assert_eq!((s.samples_failed, s.samples_pending), (0, 0));
        assert_eq!(s.highest_sent_timestamp_ms, base + 299_000);
    }
    rt.block_on(async {
        qp.stop().await;
        qv.stop().await;
    });
}

#[test]
fn an_outage_of_the_receiver_leaves_no_gap() {
    if !have(PROMETHEUS) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut prom = Peer::start(Kind::Prometheus, &tmp.path().join("prom"), free_port());
    let store = Store::open(store_opts(&tmp.path().join("store"))).unwrap();
    let rt = rt();
    let _g = rt.enter();
    let q = Queue::start(
        store.clone(),
        &queue_config(&prom.write_url(), "prom"),
        &external(),
    )
    .unwrap();
    let base = base();
    for i in 0..100 {
        store.append(&round(base, i)).unwrap();
    }
    wait_equal(&prom, &expected(&store), 30);
    prom.stop();
    // The receiver is down: appends and checkpoints go on; the queue's hold keeps the log.
    for i in 100..250 {
        store.append(&round(base, i)).unwrap();
        if i % 50 == 0 {
            store.checkpoint().unwrap();
        }
        std::thread::sleep(StdDuration::from_millis(4));
    }
    let begin = Instant::now();
    while q.stats().samples_retried == 0 {
        assert!(
            begin.elapsed() < StdDuration::from_secs(20),
            "never retried"
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
    let s = q.stats();
    assert!(s.failing && s.samples_pending > 0, "{s:?}");
    store.checkpoint().unwrap();
    prom.restart();
    wait_equal(&prom, &expected(&store), 40);
    let s = q.stats();
    assert!(!s.failing, "{s:?}");
    assert_eq!(s.samples_sent, 250 * (SERIES as u64 - 1));
    assert_eq!(s.wal_segments_skipped, 0);
    rt.block_on(q.stop());
}

const ENV_DIR: &str = "ALERTD_RW_CHILD_DIR";
const ENV_URL: &str = "ALERTD_RW_CHILD_URL";
const ENV_BASE: &str = "ALERTD_RW_CHILD_BASE";

/// The sender child of `a_sender_killed_while_the_receiver_is_down_loses_nothing`: appends
/// rounds (printing `ACK i` after each) with a queue to the receiver, until it is killed. A
/// no-op unless started by that test.
#[test]
fn sender_child_process() {
    let (Ok(dir), Ok(url), Ok(base)) = (
        std::env::var(ENV_DIR),
        std::env::var(ENV_URL),
        std::env::var(ENV_BASE),
    ) else {
        return;
    };
    use std::io::Write;
    let base: i64 = base.parse().unwrap();
    let store = Store::open(store_opts(Path::new(&dir))).unwrap();
    let rt = rt();
    let _g = rt.enter();
    let q = Queue::start(store.clone(), &queue_config(&url, "vm"), &external()).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        store.append(&round(base, i)).unwrap();
        if i % 50 == 49 {
            store.checkpoint().unwrap();
        }
        let s = q.stats();
        writeln!(out, "ACK {i} SENT {} FAILING {}", s.samples_sent, s.failing).unwrap();
        out.flush().unwrap();
        std::thread::sleep(StdDuration::from_millis(5));
    }
}

#[test]
fn a_sender_killed_while_the_receiver_is_down_loses_nothing() {
    if !have(VICTORIA) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut vm = Peer::start(Kind::Victoria, &tmp.path().join("vm"), free_port());
    let dir = tmp.path().join("store");
    let base = base();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sender_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_DIR, &dir)
        .env(ENV_URL, vm.write_url())
        .env(ENV_BASE, base.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let lines = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        });
    }
    // The last `ACK i SENT n FAILING b` line as (i, n, b).
    let last = || {
        let l = lines.lock().unwrap();
        l.iter().rev().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 6 && f[0] == "ACK").then(|| {
                (
                    f[1].parse::<i64>().unwrap(),
                    f[3].parse::<u64>().unwrap(),
                    f[5] == "true",
                )
            })
        })
    };
    let wait = |what: &str, ok: &dyn Fn((i64, u64, bool)) -> bool| {
        let begin = Instant::now();
        while !last().is_some_and(ok) {
            assert!(
                begin.elapsed() < StdDuration::from_secs(30),
                "child: {what}"
            );
            std::thread::sleep(StdDuration::from_millis(20));
        }
    };
    // Some samples arrive, then the receiver goes down, the sender notices and goes on
    // appending (over checkpoints), then is killed.
    wait("sends", &|(_, sent, _)| sent >= 1000);
    vm.stop();
    wait("fails", &|(_, _, failing)| failing);
    let (at_fail, _, _) = last().unwrap();
    wait("appends on", &|(i, _, _)| i >= at_fail + 120);
    child.kill().unwrap();
    child.wait().unwrap();
    let (acked, sent, _) = last().unwrap();
    // Both start again: the store (with the queue resuming from its persisted place) and the
    // receiver.
    vm.restart();
    let store = Store::open(store_opts(&dir)).unwrap();
    let rt = rt();
    let _g = rt.enter();
    let q = Queue::start(
        store.clone(),
        &queue_config(&vm.write_url(), "vm"),
        &external(),
    )
    .unwrap();
    let want = expected(&store);
    assert!(
        want.values().all(|v| v.len() as i64 > acked),
        "the store holds every acknowledged round"
    );
    wait_equal(&vm, &want, 40);
    let s = q.stats();
    // The new process sent only what the killed one had not (and at most one round again).
    let total = want.values().map(Vec::len).sum::<usize>() as u64;
    assert!(s.samples_sent + sent <= total + 700, "{s:?} after {sent}");
    rt.block_on(q.stop());
}
