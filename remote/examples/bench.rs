//! CPU per 1,000 samples sent: `SERIES` series × `ROUNDS` rounds (15 s apart, ending now) are
//! appended to a fresh store first, then one queue (Prometheus's default `queue_config`) sends
//! them all to a VictoriaMetrics the benchmark starts (`/usr/bin/victoria-metrics`) — the catch-up
//! after an outage. The process's CPU time (user + system, from `/proc/self/stat`) while the
//! queue sends is the figure: reading the log, labels, encoding, snappy, HTTP.
//!
//! `cargo build --release -p remote --example bench && nice target/release/examples/bench`

use std::time::{Duration as StdDuration, Instant};

use model::clock::{Clock, SystemClock};
use model::{Labels, Sample};
use remote::{Queue, RemoteWriteConfig};
use store::{Engine, Store, StoreOptions};

const SERIES: usize = 10_000;
const ROUNDS: i64 = 40;

/// User + system CPU time of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let mut vm = std::process::Command::new("/usr/bin/victoria-metrics")
        .arg(format!(
            "-storageDataPath={}",
            tmp.path().join("vm").display()
        ))
        .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start victoria-metrics");
    std::thread::sleep(StdDuration::from_secs(2));
    let store = Store::open(StoreOptions {
        path: tmp.path().join("store"),
        engine: Engine::Redb,
        checkpoint_interval: model::Duration::ZERO,
        ..StoreOptions::default()
    })
    .expect("open the store");
    let labels: Vec<Labels> = (0..SERIES)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", format!("bench_metric_{}", i % 100)),
                ("instance", format!("host-{}:9100", i / 100)),
                ("job", "node".to_string()),
            ])
        })
        .collect();
    let end = SystemClock.now_ms() / 1000 * 1000;
    for r in 0..ROUNDS {
        let t = end - (ROUNDS - 1 - r) * 15_000;
        let batch: Vec<(Labels, Sample)> = labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    l.clone(),
                    Sample::new(t, (i as i64 * 7 + r * 3) as f64 / 2.0),
                )
            })
            .collect();
        store.append(&batch).expect("append");
    }
    let total = SERIES as u64 * ROUNDS as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let _g = rt.enter();
    let cfg: RemoteWriteConfig =
        serde_saphyr::from_str(&format!("url: http://127.0.0.1:{port}/api/v1/write\n"))
            .expect("config");
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let q = Queue::start(store.clone(), &cfg, &Labels::empty()).expect("queue");
    while q.stats().samples_sent + q.stats().samples_failed < total {
        std::thread::sleep(StdDuration::from_millis(20));
        assert!(
            t0.elapsed() < StdDuration::from_secs(300),
            "{:?}",
            q.stats()
        );
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    let s = q.stats();
    println!(
        "{SERIES} series x {ROUNDS} rounds = {total} samples sent ({} failed) in {wall:.2} s \
         wall ({:.0} samples/s), {cpu:.2} s CPU: {:.3} ms CPU per 1,000 samples, {:.2} bytes \
         per sample on the wire",
        s.samples_failed,
        total as f64 / wall,
        cpu * 1000.0 / (total as f64 / 1000.0),
        s.bytes_sent as f64 / total as f64
    );
    rt.block_on(q.stop());
    let _ = vm.kill();
    let _ = vm.wait();
}
