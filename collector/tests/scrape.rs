//! Scrapes against real servers on loopback: the node_exporter fixture served over HTTP,
//! Debian's real `prometheus-node-exporter`, and broken targets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use collector::config::CollectorConfig;
use collector::{Collector, FailureKind, Options, TargetKey};
use model::storage::{MemStorage, Series, SeriesStore};
use model::SystemClock;
use tokio::net::TcpListener;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/node_exporter_metrics.txt"
);

async fn serve(routes: Vec<(&'static str, String)>) -> std::net::SocketAddr {
    let mut app = Router::new();
    for (path, body) in routes {
        app = app.route(path, get(move || async move { body }));
    }
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    a
}

fn select(store: &MemStorage, m: &[&str]) -> Vec<Series> {
    let ms: Vec<model::Matcher> = m.iter().map(|s| s.parse().unwrap()).collect();
    store.select(&ms, 0, i64::MAX).unwrap()
}

async fn scrape_once(yaml: &str) -> (Arc<MemStorage>, Collector) {
    let cfg: CollectorConfig = serde_saphyr::from_str(yaml).unwrap();
    let store = Arc::new(MemStorage::new());
    let c = Collector::start(
        &cfg,
        store.clone(),
        Arc::new(SystemClock),
        Options::default(),
    )
    .unwrap();
    for _ in 0..40 {
        if c.status().iter().all(|s| s.last_run.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // let the writer flush
    (store, c)
}

#[tokio::test]
async fn node_exporter_fixture_with_job_instance_and_synthetic_series() {
    let text = std::fs::read_to_string(FIXTURE).unwrap();
    let expected = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    let a = serve(vec![("/metrics", text)]).await;
    let (store, c) = scrape_once(&format!(
        "scrape_configs:\n  - job_name: node\n    scrape_interval: 1s\n    static_configs: [{{ targets: ['{a}'], labels: {{ env: test }} }}]\n"
    ))
    .await;
    assert_eq!(c.status()[0].success, Some(true), "{:?}", c.status());
    let inst = a.to_string();
    let avail = select(&store, &["__name__=\"node_filesystem_avail_bytes\""]);
    assert_eq!(avail.len(), 1);
    let l = &avail[0].labels;
    assert_eq!(l.get("job"), Some("node"));
    assert_eq!(l.get("instance"), Some(inst.as_str()));
    assert_eq!(l.get("env"), Some("test"));
    assert_eq!(l.get("mountpoint"), Some("/"));
    assert_eq!(avail[0].samples[0].v, 7.959791616e10);
    let up = select(&store, &["__name__=\"up\"", "job=\"node\""]);
    assert_eq!(up[0].samples[0].v, 1.0);
    let n = select(&store, &["__name__=\"scrape_samples_scraped\""]);
    assert_eq!(n[0].samples[0].v, expected as f64);
    assert!(!select(&store, &["__name__=\"scrape_duration_seconds\""]).is_empty());
    // Every sample line became a series (+4 synthetic).
    let all = store.select(&[], 0, i64::MAX).unwrap();
    assert_eq!(all.len(), expected + 4);
}

#[tokio::test]
async fn real_prometheus_node_exporter() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut child = std::process::Command::new("/usr/bin/prometheus-node-exporter")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter is installed");
    for _ in 0..50 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (store, c) = scrape_once(&format!(
        "scrape_configs:\n  - job_name: node\n    scrape_interval: 2s\n    static_configs: [{{ targets: ['127.0.0.1:{port}'] }}]\n"
    ))
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(c.status()[0].success, Some(true), "{:?}", c.status());
    assert_eq!(select(&store, &["__name__=\"up\""])[0].samples[0].v, 1.0);
    let root = select(
        &store,
        &[
            "__name__=\"node_filesystem_avail_bytes\"",
            "mountpoint=\"/\"",
        ],
    );
    assert_eq!(root.len(), 1, "node_exporter reports the root filesystem");
    assert!(!select(&store, &["__name__=\"node_cpu_seconds_total\""]).is_empty());
    assert!(!select(
        &store,
        &["__name__=\"go_gc_duration_seconds\"", "quantile=\"0.5\""]
    )
    .is_empty());
}

#[tokio::test]
async fn garbage_and_failures_give_up_0_with_a_reason() {
    let a = serve(vec![
        ("/garbage", "ok 1\nthis is not { a metric\n".to_string()),
        ("/big", format!("# {}\nx 1\n", "y".repeat(10_000))),
        (
            "/many",
            (0..20).map(|i| format!("m{{i=\"{i}\"}} 1\n")).collect(),
        ),
    ])
    .await;
    let (store, c) = scrape_once(&format!(
        "scrape_configs:\n  - {{ job_name: garbage, metrics_path: /garbage, scrape_interval: 1s, static_configs: [{{ targets: ['{a}'] }}] }}\n  - {{ job_name: big, metrics_path: /big, body_size_limit: 1KiB, scrape_interval: 1s, static_configs: [{{ targets: ['{a}'] }}] }}\n  - {{ job_name: many, metrics_path: /many, sample_limit: 10, scrape_interval: 1s, static_configs: [{{ targets: ['{a}'] }}] }}\n  - {{ job_name: missing, metrics_path: /nope, scrape_interval: 1s, static_configs: [{{ targets: ['{a}'] }}] }}\n"
    ))
    .await;
    let st = c.status();
    let get = |job: &str| {
        st.iter()
            .find(|s| matches!(&s.key, TargetKey::Scrape { job: j, .. } if j == job))
            .unwrap()
            .clone()
    };
    let g = get("garbage");
    assert_eq!(g.failure_kind, Some(FailureKind::Protocol));
    assert!(
        g.last_error.as_deref().unwrap().contains("line 2"),
        "{:?}",
        g.last_error
    );
    assert_eq!(get("big").failure_kind, Some(FailureKind::Body));
    assert!(get("many").last_error.unwrap().contains("sample_limit"));
    assert_eq!(get("missing").failure_kind, Some(FailureKind::Status));
    for job in ["garbage", "big", "many", "missing"] {
        let up = select(&store, &["__name__=\"up\"", &format!("job=\"{job}\"")]);
        assert_eq!(up[0].samples[0].v, 0.0, "{job}");
    }
    // Nothing of a failed scrape is ingested, not even its valid first line.
    assert!(select(&store, &["__name__=\"ok\""]).is_empty());
    assert!(select(&store, &["__name__=\"m\""]).is_empty());
}

#[tokio::test]
async fn honor_labels_params_and_timestamps() {
    let app = Router::new().route(
        "/metrics",
        get(|q: axum::extract::RawQuery| async move {
            format!(
                "a{{job=\"inner\",instance=\"i\"}} 1\nts 5 1700000000000\nq{{query=\"{}\"}} 1\n",
                q.0.unwrap_or_default()
            )
        }),
    );
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let (store, _c) = scrape_once(&format!(
        "scrape_configs:\n  - {{ job_name: j1, scrape_interval: 1s, params: {{ module: [http_2xx] }}, static_configs: [{{ targets: ['{a}'] }}] }}\n  - {{ job_name: j2, honor_labels: true, scrape_interval: 1s, static_configs: [{{ targets: ['{a}'] }}] }}\n"
    ))
    .await;
    let j1 = select(&store, &["__name__=\"a\"", "job=\"j1\""]);
    assert_eq!(j1[0].labels.get("exported_job"), Some("inner"));
    assert_eq!(j1[0].labels.get("exported_instance"), Some("i"));
    let j2 = select(&store, &["__name__=\"a\"", "job=\"inner\""]);
    assert_eq!(j2[0].labels.get("instance"), Some("i"));
    assert!(j2[0].labels.get("exported_job").is_none());
    let q = select(&store, &["__name__=\"q\"", "job=\"j1\""]);
    assert_eq!(q[0].labels.get("query"), Some("module=http_2xx"));
    let ts = select(&store, &["__name__=\"ts\"", "job=\"j1\""]);
    assert_eq!(
        ts[0].samples[0].t, 1_700_000_000_000,
        "explicit timestamps are kept"
    );
}
