//! The notifier benchmark from the issue: 10,000 distinct alerts ingested in batches of 100,
//! `group_by: [alertname, instance]`, `group_wait: 0s`, a webhook receiver posting to a sink on
//! loopback (a separate process, so its CPU is not counted). Prints the time until every alert
//! has been delivered, CPU per alert and peak RSS, then runs Alertmanager
//! (`prometheus-alertmanager`, if installed) on the same load through its API v2 and prints the
//! ratios.
//!
//! Run: `cargo run --release -p notifier --example bench` (options: `--alerts N`, `--batch N`,
//! `--engine redb|sled` (default redb, as the daemon), `--mem` to keep state in memory instead,
//! `--no-alertmanager`, `--silences N`: N active silences, none matching the alerts, created
//! before the alerts on both sides, so every alert is checked against all of them).
//!
//! alertd's state goes to the daemon's own store (`store::Store`, whose KV batches are durable
//! before they return); alerts are handed to the notifier in-process (the HTTP route belongs to
//! the `alertd` crate).

#![allow(clippy::print_stdout)]

/// The daemon's allocator (`alertd/src/main.rs`), so the figures are the notifier's as it runs
/// in alertd.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use model::storage::{KvStore, MemStorage};
use model::{Alert, Clock, Labels, SystemClock};
use notifier::config::NotifierConfig;
use notifier::{Notifier, NotifierOptions};

/// CPU time (user + system) of a process in ms, from /proc.
fn cpu_ms(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map(|x| x.1).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name; CLK_TCK = 100.
    (ticks(11) + ticks(12)) * 10.0
}

/// Peak RSS in MiB.
fn peak_rss_mib(pid: &str) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

async fn run_sink(port: u16) {
    let count = Arc::new(AtomicU64::new(0));
    let c1 = count.clone();
    let c2 = count.clone();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let c = c1.clone();
                async move {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    let n = v["alerts"].as_array().map_or(0, |a| a.len());
                    c.fetch_add(n as u64, Ordering::SeqCst);
                    "ok"
                }
            }),
        )
        .route(
            "/count",
            axum::routing::get(move || {
                let c = c2.clone();
                async move { c.load(Ordering::SeqCst).to_string() }
            }),
        );
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!("READY");
    axum::serve(l, app).await.unwrap();
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Figures {
    secs: f64,
    cpu_us_per_alert: f64,
    rss_mib: f64,
}

async fn wait_count(client: &reqwest::Client, port: u16, want: u64, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/count"))
            .send()
            .await
        {
            if let Ok(t) = r.text().await {
                if t.trim().parse::<u64>().unwrap_or(0) >= want {
                    return true;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

fn start_sink() -> (std::process::Child, u16) {
    let port = free_port();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args(["--sink", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, port)
}

/// Silence `i` of the bench: active for a day, on an instance no alert has.
fn silence_matchers(i: usize) -> String {
    format!("{{alertname=\"Bench{}\", instance=\"gone-{i}\"}}", i % 10)
}

fn alerts(n: usize, now: i64) -> Vec<Alert> {
    (0..n)
        .map(|i| Alert {
            labels: Labels::from_pairs([
                ("alertname", format!("Bench{}", i % 10)),
                ("instance", format!("host-{i}")),
                ("severity", "warning".to_string()),
            ]),
            annotations: Labels::from_pairs([("summary", format!("bench alert {i}"))]),
            starts_at: now,
            ends_at: None,
            generator_url: "http://bench/graph".into(),
        })
        .collect()
}

async fn bench_alertd(
    n: usize,
    batch: usize,
    silences: usize,
    engine: Option<store::Engine>,
) -> Figures {
    let (mut sink, port) = start_sink();
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = match engine {
        None => Arc::new(MemStorage::new()),
        Some(engine) => Arc::new(
            store::Store::open(store::StoreOptions {
                path: dir.path().to_path_buf(),
                engine,
                ..store::StoreOptions::default()
            })
            .unwrap(),
        ),
    };
    let cfg = NotifierConfig::from_yaml(&format!(
        r#"
route: {{ receiver: sink, group_by: [alertname, instance], group_wait: 0s, group_interval: 1m }}
receivers:
  - name: sink
    webhook_configs: [{{ url: 'http://127.0.0.1:{port}/hook' }}]
"#
    ))
    .unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let n_ = Arc::new(Notifier::new(&cfg, NotifierOptions::default(), kv, clock.clone()).unwrap());
    let now = clock.now_ms();
    for i in 0..silences {
        n_.silences()
            .set(model::Silence {
                id: String::new(),
                matchers: silence_matchers(i).parse().unwrap(),
                starts_at: now,
                ends_at: now + 86_400_000,
                updated_at: now,
                created_by: "bench".into(),
                comment: "scaling bench".into(),
            })
            .unwrap();
    }
    let all = alerts(n, now);
    let client = reqwest::Client::new();
    let cpu0 = cpu_ms("self");
    let t0 = Instant::now();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let runner = tokio::spawn(n_.clone().run(None, rx, Duration::from_millis(5)));
    for chunk in all.chunks(batch) {
        n_.ingest(chunk.to_vec()).unwrap();
        tokio::task::yield_now().await;
    }
    let ok = wait_count(&client, port, n as u64, Duration::from_secs(120)).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_ms("self") - cpu0;
    let _ = tx.send(true);
    let _ = runner.await;
    assert!(ok, "alertd did not deliver every alert within 120 s");
    let _ = sink.kill();
    let _ = sink.wait();
    Figures {
        secs,
        cpu_us_per_alert: cpu * 1000.0 / n as f64,
        rss_mib: peak_rss_mib("self"),
    }
}

async fn bench_alertmanager(n: usize, batch: usize, silences: usize) -> Option<Figures> {
    let bin = ["prometheus-alertmanager", "alertmanager"]
        .into_iter()
        .find(|b| {
            Command::new("which")
                .arg(b)
                .output()
                .is_ok_and(|o| o.status.success())
        })?;
    let (mut sink, port) = start_sink();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("am.yml");
    std::fs::write(
        &cfg,
        format!(
            "route: {{ receiver: sink, group_by: [alertname, instance], group_wait: 0s, group_interval: 1m }}\n\
             receivers:\n  - name: sink\n    webhook_configs: [{{ url: 'http://127.0.0.1:{port}/hook' }}]\n"
        ),
    )
    .unwrap();
    let am_port = free_port();
    let mut am = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.path().display()))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let pid = am.id().to_string();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{am_port}");
    let start = Instant::now();
    while client
        .get(format!("{base}/-/ready"))
        .send()
        .await
        .map(|r| r.status().is_success())
        .ok()
        != Some(true)
    {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = am.kill();
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now = chrono::Utc::now().to_rfc3339();
    let end = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    for i in 0..silences {
        let matchers: Vec<serde_json::Value> = [
            ("alertname", format!("Bench{}", i % 10)),
            ("instance", format!("gone-{i}")),
        ]
        .into_iter()
        .map(|(k, v)| serde_json::json!({"name": k, "value": v, "isRegex": false, "isEqual": true}))
        .collect();
        let body = serde_json::json!({
            "matchers": matchers, "startsAt": now, "endsAt": end,
            "createdBy": "bench", "comment": "scaling bench",
        });
        let r = client
            .post(format!("{base}/api/v2/silences"))
            .json(&body)
            .send()
            .await
            .ok()?;
        assert!(
            r.status().is_success(),
            "Alertmanager refused a silence: {}",
            r.status()
        );
    }
    let bodies: Vec<String> = alerts(n, 0)
        .chunks(batch)
        .map(|c| {
            serde_json::to_string(
                &c.iter()
                    .map(|a| {
                        serde_json::json!({
                            "labels": a.labels, "annotations": a.annotations,
                            "startsAt": now, "generatorURL": a.generator_url,
                        })
                    })
                    .collect::<Vec<_>>(),
            )
            .unwrap()
        })
        .collect();
    let cpu0 = cpu_ms(&pid);
    let t0 = Instant::now();
    for b in bodies {
        let r = client
            .post(format!("{base}/api/v2/alerts"))
            .header("content-type", "application/json")
            .body(b)
            .send()
            .await
            .ok()?;
        assert!(
            r.status().is_success(),
            "Alertmanager refused the alerts: {}",
            r.status()
        );
    }
    let ok = wait_count(&client, port, n as u64, Duration::from_secs(180)).await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_ms(&pid) - cpu0;
    let rss = peak_rss_mib(&pid);
    let _ = am.kill();
    let _ = am.wait();
    let _ = sink.kill();
    let _ = sink.wait();
    if !ok {
        println!("Alertmanager did not deliver every alert within 180 s");
        return None;
    }
    Some(Figures {
        secs,
        cpu_us_per_alert: cpu * 1000.0 / n as f64,
        rss_mib: rss,
    })
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    if let Some(p) = arg(&args, "--sink") {
        rt.block_on(run_sink(p.parse().unwrap()));
        return;
    }
    let n: usize = arg(&args, "--alerts").map_or(10_000, |v| v.parse().unwrap());
    let batch: usize = arg(&args, "--batch").map_or(100, |v| v.parse().unwrap());
    let silences: usize = arg(&args, "--silences").map_or(0, |v| v.parse().unwrap());
    let engine = match arg(&args, "--engine").as_deref() {
        _ if args.iter().any(|a| a == "--mem") => None,
        None | Some("redb") => Some(store::Engine::Redb),
        Some("sled") => Some(store::Engine::Sled),
        Some(other) => panic!("--engine must be redb or sled, not {other:?}"),
    };
    println!(
        "notifier bench: {n} alerts in batches of {batch}, {silences} silences, group_by [alertname, instance], group_wait 0s, webhook to a loopback sink; state: {}",
        match engine {
            None => "in memory".to_string(),
            Some(e) => format!("store::Store on disk ({e:?}), durable per write"),
        }
    );
    let a = rt.block_on(bench_alertd(n, batch, silences, engine));
    println!(
        "alertd:        {:.3} s until all delivered, {:.1} µs CPU per alert, peak RSS {:.1} MiB",
        a.secs, a.cpu_us_per_alert, a.rss_mib
    );
    if args.iter().any(|a| a == "--no-alertmanager") {
        return;
    }
    match rt.block_on(bench_alertmanager(n, batch, silences)) {
        None => println!("Alertmanager: not installed or did not start; no comparison"),
        Some(m) => {
            println!(
                "Alertmanager:  {:.3} s until all delivered, {:.1} µs CPU per alert, peak RSS {:.1} MiB",
                m.secs, m.cpu_us_per_alert, m.rss_mib
            );
            println!(
                "ratio (Alertmanager / alertd): time {:.1}x, CPU per alert {:.1}x, peak RSS {:.1}x",
                m.secs / a.secs,
                m.cpu_us_per_alert / a.cpu_us_per_alert,
                m.rss_mib / a.rss_mib
            );
        }
    }
}
