//! Backup and restore of the data directory: `POST /api/alertd/v1/snapshot` on a running alertd
//! under write load (1 s scrapes and probes, heartbeat pings in a loop), then a second alertd
//! started on the snapshot; the snapshot holds the samples and the silence written before it.
//! `alertd snapshot --out DIR` refuses while the daemon holds the store and works after it
//! stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{bin, free_port, http, metric_value, start, wait_for, Signal};
use model::storage::KvStore;
use model::{Matcher, Silence};

const SILENCE_COMMENT: &str = "maintenance window kept across backups";

fn config(port: u16, data: &Path, load: bool) -> String {
    let mut c = format!(
        "api:\n  listen: 127.0.0.1:{port}\nstorage:\n  path: {:?}\n  checkpoint_interval: 1s\n",
        data.display().to_string()
    );
    if load {
        c.push_str(&format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: self\n    static_configs: [{{ targets: [\"127.0.0.1:{port}\"] }}]\n\
             probes:\n  - name: api\n    http: {{ url: \"http://127.0.0.1:{port}/-/healthy\" }}\n    interval: 1s\n    timeout: 1s\n\
             heartbeats:\n  - name: backup-job\n    period: 1h\n    grace: 5m\n"
        ));
    }
    c
}

fn store_opts(path: &Path) -> store::StoreOptions {
    store::StoreOptions {
        path: path.to_path_buf(),
        checkpoint_interval: model::Duration::ZERO,
        ..store::StoreOptions::default()
    }
}

/// Silences as the notifier stored them (the `notifier.silences` key-value namespace).
fn silences(s: &store::Store) -> Vec<Silence> {
    s.scan_prefix("notifier.silences", b"")
        .unwrap()
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).unwrap())
        .collect()
}

/// Samples of `up{job="self"}` in a store directory: (count, newest timestamp).
fn up_samples(s: &store::Store) -> (usize, i64) {
    let m: Matcher = "job=\"self\"".parse().unwrap();
    let n: Matcher = "__name__=\"up\"".parse().unwrap();
    let series = s.select(&[n, m], 0, i64::MAX).unwrap();
    assert_eq!(series.len(), 1, "{series:?}");
    let samples = &series[0].samples;
    (samples.len(), samples.last().map_or(0, |x| x.t))
}

fn run_snapshot_cmd(config: &Path, out: &Path) -> (i32, String) {
    let o = std::process::Command::new(bin("alertd"))
        .arg("snapshot")
        .arg("--config")
        .arg(config)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn snapshot_of_a_running_daemon_under_load_restores_samples_and_silences() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    // A silence written before the daemon starts, as the notifier stores it.
    let silence_id = {
        let s = store::Store::open(store_opts(&data)).unwrap();
        let now = model::Clock::now_ms(&model::SystemClock);
        let sil = Silence {
            id: "7c6c3c4e-0000-4000-8000-000000000001".into(),
            matchers: "{alertname=\"DiskFull\"}".parse().unwrap(),
            starts_at: now,
            ends_at: now + 86_400_000,
            updated_at: now,
            created_by: "e2e".into(),
            comment: SILENCE_COMMENT.into(),
        };
        let mut b = model::storage::KvBatch::new();
        b.put(
            "notifier.silences",
            sil.id.clone(),
            serde_json::to_vec(&sil).unwrap(),
        );
        s.write(b).unwrap();
        s.close().unwrap();
        sil.id
    };

    let port = free_port();
    let mut d = start(port, &config(port, &data, true), &[]).unwrap();
    // Data flows: scrapes of itself are stored.
    let ingested = wait_for(Duration::from_secs(20), || {
        let m = d.metrics();
        metric_value(&m, "alertd_store_samples_ingested_total")
            .or_else(|| metric_value(&m, "alertd_store_samples_ingested"))
            .filter(|n| *n > 200.0)
    });
    assert!(ingested.is_some(), "no samples ingested:\n{}", d.log());

    // The store is held: the offline command refuses with a clear message.
    let (code, out) = run_snapshot_cmd(&d.config_path(), &tmp.path().join("offline"));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is alertd running?"), "{out}");
    assert!(!tmp.path().join("offline").exists());

    // Write load during the snapshot: heartbeat pings as fast as they are answered.
    let stop = Arc::new(AtomicBool::new(false));
    let pings = Arc::new(AtomicU64::new(0));
    let pinger = {
        let (stop, pings) = (stop.clone(), pings.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(r) = http(port, "POST", "/ping/backup-job") {
                    assert_eq!(r.status, 200, "{r:?}");
                    pings.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    wait_for(Duration::from_secs(10), || {
        (pings.load(Ordering::Relaxed) > 20).then_some(())
    })
    .expect("pings flow");
    let scrapes = |d: &e2e::Daemon| {
        metric_value(&d.metrics(), "alertd_probe_runs_total{kind=\"scrape\"}").unwrap_or(0.0)
    };
    let r = d.http("POST", "/api/alertd/v1/snapshot").unwrap();
    let scrapes_at_snapshot = scrapes(&d);
    let pings_at_snapshot = pings.load(Ordering::Relaxed);
    assert_eq!(r.status, 200, "{r:?}\n{}", d.log());
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let snap = PathBuf::from(v["path"].as_str().unwrap());
    assert!(
        snap.starts_with(data.join("snapshots")),
        "{} is not under the data directory",
        snap.display()
    );
    assert_eq!(v["engine"], "redb");
    assert!(v["entries"].as_u64().unwrap() > 10, "{v}");
    assert!(v["bytes"].as_u64().unwrap() > 0, "{v}");
    // A second snapshot right after gets its own directory.
    let r2 = d.http("POST", "/api/alertd/v1/snapshot").unwrap();
    assert_eq!(r2.status, 200, "{r2:?}");
    let v2: serde_json::Value = serde_json::from_str(&r2.body).unwrap();
    assert_ne!(v2["path"], v["path"]);
    // The load went on during and after the snapshots.
    wait_for(Duration::from_secs(10), || {
        (pings.load(Ordering::Relaxed) > pings_at_snapshot + 20).then_some(())
    })
    .expect("pings go on after the snapshot");
    stop.store(true, Ordering::Relaxed);
    pinger.join().unwrap();

    // Restore: a second alertd on a copy of the snapshot (the first one keeps running).
    let restored = tmp.path().join("restored");
    std::fs::rename(&snap, &restored).unwrap();
    let port2 = free_port();
    let mut d2 = start(port2, &config(port2, &restored, false), &[]).unwrap();
    let ready = wait_for(Duration::from_secs(20), || {
        (d2.http("GET", "/-/ready").ok()?.status == 200).then_some(())
    });
    assert!(ready.is_some(), "restored alertd not ready:\n{}", d2.log());
    let m = d2.metrics();
    let series = metric_value(&m, "alertd_store_series").unwrap_or(0.0);
    assert!(series >= 5.0, "restored store has {series} series\n{m}");
    d2.signal(Signal::SIGTERM);
    let status = d2
        .wait_exit(Duration::from_secs(20))
        .expect("restored alertd exits");
    assert!(status.success(), "{status:?}\n{}", d2.log());

    // The restored data: the silence and a run of scraped samples, none newer than the snapshot.
    let s = store::Store::open(store_opts(&restored)).unwrap();
    let sil = silences(&s);
    assert!(
        sil.iter()
            .any(|x| x.id == silence_id && x.comment == SILENCE_COMMENT),
        "{sil:?}"
    );
    let (n, newest) = up_samples(&s);
    assert!(n >= 3, "only {n} up samples restored");
    drop(s);

    // The live daemon's store has more than the snapshot: it went on writing (wait for two
    // more scrapes of `up` to be sure, however fast the steps above ran).
    let more = wait_for(Duration::from_secs(20), || {
        (scrapes(&d) >= scrapes_at_snapshot + 2.0).then_some(())
    });
    assert!(more.is_some(), "no scrape after the snapshot\n{}", d.log());
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(20)).expect("alertd exits");
    assert!(status.success(), "{status:?}\n{}", d.log());
    let live = store::Store::open(store_opts(&data)).unwrap();
    let (n_live, newest_live) = up_samples(&live);
    assert!(n_live > n && newest_live > newest, "{n_live}/{n}");
    drop(live);

    // With the daemon stopped, the offline snapshot works.
    let (code, out) = run_snapshot_cmd(&d.config_path(), &tmp.path().join("offline"));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("snapshot written to"), "{out}");
    let s = store::Store::open(store_opts(&tmp.path().join("offline"))).unwrap();
    assert_eq!(up_samples(&s), (n_live, newest_live));
    assert!(silences(&s).iter().any(|x| x.id == silence_id));
}
