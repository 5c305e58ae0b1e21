//! Collector benchmark: N HTTP probes against a local server (a separate process, so its CPU
//! is not counted) at a fixed interval for a fixed time; prints CPU per probe run, peak RSS and
//! the p50/p99/max start-time drift (each run's start against its slot on the target's grid).
//!
//! ```text
//! cargo run --release -p collector --example bench -- 2000 120 15s
//! ```
//! Arguments: targets (default 200), seconds (default 120), interval (default 15s).
//! Samples go to a store that only keeps the start times of `probe_success`, so the figures are
//! the collector's own (the on-disk store is measured by the store's benchmarks).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use collector::config::CollectorConfig;
use collector::{Collector, Options};
use model::storage::{SeriesStore, StorageError};
use model::{Labels, Matcher, Sample, SystemClock, Timestamp};

#[derive(Default)]
struct StartTimes {
    by_probe: Mutex<HashMap<String, Vec<Timestamp>>>,
    samples: Mutex<u64>,
}

impl SeriesStore for StartTimes {
    fn append(&self, batch: &[(Labels, Sample)]) -> Result<(), StorageError> {
        let mut m = self.by_probe.lock().unwrap();
        for (l, s) in batch {
            if l.get("__name__") == Some("probe_success") {
                m.entry(l.get("probe").unwrap_or("").to_string())
                    .or_default()
                    .push(s.t);
            }
        }
        *self.samples.lock().unwrap() += batch.len() as u64;
        Ok(())
    }
    fn select(
        &self,
        _: &[Matcher],
        _: Timestamp,
        _: Timestamp,
    ) -> Result<Vec<model::storage::Series>, StorageError> {
        Ok(Vec::new())
    }
}

/// (user, system) CPU seconds of this process.
fn cpu_seconds() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    let tick = |i: usize| f[i].parse::<f64>().unwrap() / 100.0;
    (tick(11), tick(12))
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let app = axum::Router::new().route("/ok", axum::routing::get(|| async { "ok" }));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", l.local_addr().unwrap().port());
        axum::serve(l, app).await.unwrap();
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve();
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let secs: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(120);
    let interval: model::Duration = args
        .get(3)
        .map(|a| a.parse().unwrap())
        .unwrap_or(model::Duration::from_secs(15));

    let mut server = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().unwrap();

    let mut yaml = String::from("probes:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - {{ name: t{i}, http: {{ url: 'http://127.0.0.1:{port}/ok' }}, interval: {interval}, timeout: 10s }}\n"
        ));
    }
    let cfg: CollectorConfig = serde_saphyr::from_str(&yaml).unwrap();
    let store = Arc::new(StartTimes::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rss_before = status_kb("VmRSS:");
    let cpu0 = cpu_seconds();
    rt.block_on(async {
        let c = Collector::start(
            &cfg,
            store.clone(),
            Arc::new(SystemClock),
            Options::default(),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        drop(c);
    });
    let cpu1 = cpu_seconds();
    let (user, sys) = (cpu1.0 - cpu0.0, cpu1.1 - cpu0.1);
    let cpu = user + sys;
    let _ = server.kill();
    let _ = server.wait();

    let by = store.by_probe.lock().unwrap();
    let iv = interval.as_millis_i64();
    let mut runs = 0usize;
    let mut drifts: Vec<i64> = Vec::new();
    for ts in by.values() {
        runs += ts.len();
        for w in ts.iter() {
            let k = ((w - ts[0]) as f64 / iv as f64).round() as i64;
            drifts.push((w - ts[0] - k * iv).abs());
        }
    }
    drifts.sort_unstable();
    let pct = |p: f64| {
        drifts
            .get(((drifts.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "targets={n} interval={interval} duration={secs}s runs={runs} samples={}",
        store.samples.lock().unwrap()
    );
    println!(
        "cpu_total={cpu:.2}s (user {user:.2}s, system {sys:.2}s) cpu_per_probe={:.0}us",
        if runs > 0 {
            cpu / runs as f64 * 1e6
        } else {
            0.0
        }
    );
    println!(
        "rss_peak={:.1}MiB (rss at start {:.1}MiB)",
        status_kb("VmHWM:") as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "start_drift_ms p50={} p99={} max={}",
        pct(0.5),
        pct(0.99),
        drifts.last().copied().unwrap_or(0)
    );
}
