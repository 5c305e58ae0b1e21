//! How long the status page takes to build for many probes.
//!
//! `cargo run --release -p alertd --example status_bench [PROBES]` (default 200): a store with
//! 90 days of 5-minute `probe_success` history per probe, the last hour at 15 s, and 24 h of
//! 1-minute `probe_duration_seconds`; the collector runs every probe once (every 2 s, against a closed
//! loopback port, so each has a failure reason and the flapping check reads raw samples).
//! Prints the time to gather and render the full page and the public page (median and max
//! of 20 runs) and the page size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alertd::daemon::{App, Pipeline};
use alertd::readiness::Readiness;
use alertd::status::data;
use alertd_config as config;
use model::{Clock, Labels, Sample, SystemClock};

const MINUTE: i64 = 60_000;
const DAY: i64 = 24 * 60 * MINUTE;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("alertd.yaml");
    let mut yaml = format!(
        "storage: {{ path: {:?} }}\nprobes:\n",
        dir.path().join("data")
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "  - name: service-{i:03}\n    http: {{ url: 'http://127.0.0.1:1/health' }}\n    \
             interval: 2s\n    timeout: 1s\n    labels: {{ team: team-{} }}\n",
            i % 7
        ));
    }
    std::fs::write(&path, yaml)?;
    let cfg = config::load_file(&path)?;
    let readiness = Arc::new(Readiness::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Seeded before the probes run (their first results would make older samples out of
    // order): the pipeline starts without targets and the reload below starts them.
    let mut seeding = cfg.clone();
    seeding.collector = Default::default();
    let pipeline = Pipeline::start(&seeding, None, clock.clone(), &readiness)?;

    let now = SystemClock.now_ms();
    let started = Instant::now();
    let mut samples = 0usize;
    for i in 0..n {
        let probe = format!("service-{i:03}");
        let ok = Labels::from_pairs([
            ("__name__", "probe_success"),
            ("probe", probe.as_str()),
            ("instance", "http://127.0.0.1:1/health"),
        ]);
        let dur = Labels::from_pairs([
            ("__name__", "probe_duration_seconds"),
            ("probe", probe.as_str()),
            ("instance", "http://127.0.0.1:1/health"),
        ]);
        let mut batch = Vec::new();
        let mut t = now - 90 * DAY;
        while t < now - 60_000 {
            let v = if (t / MINUTE + i as i64) % 997 == 0 {
                0.0
            } else {
                1.0
            };
            batch.push((ok.clone(), Sample::new(t, v)));
            t += if t < now - 3_600_000 {
                5 * MINUTE
            } else {
                15_000
            };
        }
        let mut t = now - DAY;
        while t < now - 60_000 {
            batch.push((dur.clone(), Sample::new(t, 0.05 + (t % 7) as f64 / 100.0)));
            t += MINUTE;
        }
        samples += batch.len();
        pipeline.store().append(&batch)?;
    }
    pipeline.store().checkpoint()?;
    println!(
        "seeded {n} probes, {samples} samples in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    pipeline.reload(&cfg, None)?;
    let app = App::new(path, cfg, pipeline, readiness, clock);
    // Wait for every probe's first (failing) check.
    let deadline = Instant::now() + Duration::from_secs(30);
    while app
        .pipeline()
        .collector()
        .status()
        .iter()
        .filter(|s| s.success.is_some())
        .count()
        < n
    {
        anyhow::ensure!(Instant::now() < deadline, "probes did not run in 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for (what, f) in [
        (
            "full page (/)",
            alertd::status::page_html as fn(&App) -> String,
        ),
        ("public page (/status)", alertd::status::public_html),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..20 {
            let t = Instant::now();
            let html = f(&app);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            size = html.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{what}: {n} probes, median {:.1} ms, max {:.1} ms, {} KiB",
            times[times.len() / 2],
            times[times.len() - 1],
            size / 1024
        );
    }
    // Where the time goes.
    let store = app.pipeline().store();
    let names: Vec<String> = (0..n).map(|i| format!("service-{i:03}")).collect();
    let now = SystemClock.now_ms();
    let sel = [data::eq("__name__", "probe_success")];
    let parts: [(&str, &dyn Fn()); 5] = [
        ("uptime, 4 windows, all probes", &|| {
            let _ = data::uptimes(store, now, None);
        }),
        ("  of which 1 h rollups over 90 d", &|| {
            let _ = store.select_rollups(&sel, now - 90 * DAY, now, store::Resolution::OneHour);
        }),
        ("  of which 5 m rollups over 24 h", &|| {
            let _ = store.select_rollups(&sel, now - DAY, now, store::Resolution::FiveMinutes);
        }),
        ("last 10 raw checks, per probe", &|| {
            for p in &names {
                let _ = data::recent_checks(store, p, 2_000, now);
            }
        }),
        ("24 h response history, all probes", &|| {
            let _ = data::history_24h(store, "probe_duration_seconds", now);
        }),
    ];
    for (what, f) in parts {
        let mut times: Vec<f64> = (0..20)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!("  {what}: median {:.1} ms", times[times.len() / 2]);
    }
    app.pipeline().flush()?;
    Ok(())
}
