//! Scrapes against real servers on loopback: the node_exporter fixture served over HTTP,
//! Debian's real `prometheus-node-exporter`, and broken targets.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use collector::{Collector, FailureKind, TargetKey};
use model::storage::{MemStorage, Series, SeriesStore};
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

async fn scrape_once(yaml: &str) -> (Arc<MemStorage>, Arc<Collector>) {
    let (store, c) = common::start(yaml);
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

/// What a scripted raw-TCP target saw: connections accepted, still open, body bytes written on
/// the first connection.
#[derive(Default)]
struct RawStats {
    accepted: std::sync::atomic::AtomicUsize,
    open: std::sync::atomic::AtomicUsize,
    written: std::sync::atomic::AtomicUsize,
}

/// How a scripted target answers after reading the request head.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Headers, then one byte every 200 ms, forever.
    Drip,
    /// Headers without a length (body ends at close), then 64 KiB blocks as fast as it can.
    Endless,
    /// Headers claiming a terabyte, then 64 KiB blocks as fast as it can.
    Huge,
    /// `Content-Length: 1000`, 10 bytes, close.
    ShortLength,
    /// Chunked: one chunk, then close without the last chunk.
    ShortChunked,
    /// Close right after reading the request.
    CloseBeforeAnswer,
    /// Never answer; wait for the client to close.
    Silent,
}

/// A target speaking raw HTTP/1.1 over TCP, to misbehave in ways a framework will not.
async fn raw_target(b: Behaviour) -> (std::net::SocketAddr, Arc<RawStats>) {
    use std::sync::atomic::Ordering::SeqCst;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = l.local_addr().unwrap();
    let stats = Arc::new(RawStats::default());
    let st = stats.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let st = st.clone();
            let first = st.accepted.fetch_add(1, SeqCst) == 0;
            st.open.fetch_add(1, SeqCst);
            let count = move |st: &RawStats, n: usize| {
                if first {
                    st.written.fetch_add(n, SeqCst);
                }
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => {
                            st.open.fetch_sub(1, SeqCst);
                            return;
                        }
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let ok = "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n";
                let block = "x 1\n".repeat(16 * 1024);
                match b {
                    Behaviour::Drip => {
                        let _ = s
                            .write_all(format!("{ok}connection: close\r\n\r\n").as_bytes())
                            .await;
                        loop {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            if s.write_all(b"#").await.is_err() {
                                break;
                            }
                            count(&st, 1);
                        }
                    }
                    Behaviour::Endless | Behaviour::Huge => {
                        let len = if matches!(b, Behaviour::Huge) {
                            "content-length: 1000000000000\r\n"
                        } else {
                            "connection: close\r\n"
                        };
                        let _ = s.write_all(format!("{ok}{len}\r\n").as_bytes()).await;
                        while s.write_all(block.as_bytes()).await.is_ok() {
                            count(&st, block.len());
                        }
                    }
                    Behaviour::ShortLength => {
                        let _ = s
                            .write_all(
                                format!("{ok}content-length: 1000\r\n\r\na 1\nb 2\nc").as_bytes(),
                            )
                            .await;
                    }
                    Behaviour::ShortChunked => {
                        let _ = s
                            .write_all(
                                format!(
                                    "{ok}transfer-encoding: chunked\r\n\r\n8\r\na 1\nb 2\n\r\n"
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    Behaviour::CloseBeforeAnswer => {}
                    Behaviour::Silent => while let Ok(1..) = s.read(&mut buf).await {},
                }
                drop(s);
                st.open.fetch_sub(1, SeqCst);
            });
        }
    });
    (a, stats)
}

fn scrape_status(c: &Collector, job: &str) -> collector::TargetStatus {
    c.status()
        .into_iter()
        .find(|s| matches!(&s.key, TargetKey::Scrape { job: j, .. } if j == job))
        .unwrap_or_else(|| panic!("no target of job {job}"))
}

/// Polls `pred` every 50 ms for up to `secs`; panics with `what` when it never holds.
async fn wait_for(secs: u64, what: &str, mut pred: impl FnMut() -> bool) {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while !pred() {
        assert!(
            std::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn slow_drip_target_times_out_and_other_targets_keep_their_schedule() {
    use std::sync::atomic::Ordering::SeqCst;
    let (drip, stats) = raw_target(Behaviour::Drip).await;
    let (silent, silent_stats) = raw_target(Behaviour::Silent).await;
    let good = serve(vec![("/metrics", "good_metric 1\n".to_string())]).await;
    let (store, c) = common::start(&format!(
        "scrape_configs:\n  - {{ job_name: drip, scrape_interval: 2s, scrape_timeout: 1s, static_configs: [{{ targets: ['{drip}'] }}] }}\n  - {{ job_name: silent, scrape_interval: 2s, scrape_timeout: 1s, static_configs: [{{ targets: ['{silent}'] }}] }}\n  - {{ job_name: good, scrape_interval: 1s, static_configs: [{{ targets: ['{good}'] }}] }}\n"
    ));
    // Three timed-out drips; the connection of each is closed (not left to a task that keeps
    // reading), so at most one is open at any time.
    let (mut max_open, mut max_silent) = (0, 0);
    wait_for(
        30,
        "three timed-out scrapes of the drip and silent targets",
        || {
            max_open = max_open.max(stats.open.load(SeqCst));
            max_silent = max_silent.max(silent_stats.open.load(SeqCst));
            scrape_status(&c, "drip").consecutive_failures >= 3
                && scrape_status(&c, "silent").consecutive_failures >= 3
        },
    )
    .await;
    let d = scrape_status(&c, "drip");
    assert_eq!(d.failure_kind, Some(FailureKind::Timeout), "{d:?}");
    assert!(
        d.last_error.as_deref().unwrap().contains("timed out"),
        "{d:?}"
    );
    assert!(
        (0.9..2.0).contains(&d.last_duration_seconds),
        "the scrape ends at scrape_timeout (1s): {d:?}"
    );
    assert!(stats.written.load(SeqCst) > 0, "the target did drip");
    assert!(max_open <= 1, "{max_open} drip connections open at once");
    assert!(
        max_silent <= 1,
        "{max_silent} silent connections open at once"
    );
    let s = scrape_status(&c, "silent");
    assert_eq!(s.failure_kind, Some(FailureKind::Timeout), "{s:?}");
    // The drip target's up is 0 on every run; the good target's is 1 and it ran every second
    // throughout (start-to-start, unaffected by the hanging one).
    let up = |job: &str| {
        select(&store, &["__name__=\"up\"", &format!("job=\"{job}\"")])[0]
            .samples
            .clone()
    };
    assert!(up("drip").iter().all(|s| s.v == 0.0), "{:?}", up("drip"));
    let g = up("good");
    assert!(g.iter().all(|s| s.v == 1.0), "{g:?}");
    assert!(g.len() >= 5, "good target ran only {} times", g.len());
    for w in g.windows(2) {
        let gap = w[1].t - w[0].t;
        assert!(
            (500..1900).contains(&gap),
            "good target's runs {gap} ms apart: {g:?}"
        );
    }
    assert_eq!(scrape_status(&c, "good").success, Some(true));
    drop(c);
    wait_for(
        10,
        "the connections to be closed after the collector stopped",
        || stats.open.load(SeqCst) == 0 && silent_stats.open.load(SeqCst) == 0,
    )
    .await;
}

#[tokio::test]
async fn endless_body_stops_at_the_default_body_limit() {
    use std::sync::atomic::Ordering::SeqCst;
    let (endless, s1) = raw_target(Behaviour::Endless).await;
    let (huge, s2) = raw_target(Behaviour::Huge).await;
    // No body_size_limit configured: the default limit (10 MiB) applies.
    let (store, c) = common::start(&format!(
        "scrape_configs:\n  - {{ job_name: endless, scrape_interval: 3s, scrape_timeout: 3s, static_configs: [{{ targets: ['{endless}'] }}] }}\n  - {{ job_name: huge, scrape_interval: 3s, scrape_timeout: 3s, static_configs: [{{ targets: ['{huge}'] }}] }}\n"
    ));
    wait_for(30, "both scrapes to finish", || {
        c.status().iter().all(|s| s.last_run.is_some())
    })
    .await;
    for (job, stats) in [("endless", &s1), ("huge", &s2)] {
        let st = scrape_status(&c, job);
        assert_eq!(st.failure_kind, Some(FailureKind::Body), "{job}: {st:?}");
        assert!(
            st.last_error
                .as_deref()
                .unwrap()
                .contains("the default body size limit (10485760 bytes)"),
            "{job}: {st:?}"
        );
        assert!(st.last_duration_seconds < 3.0, "{job}: {st:?}");
        // The scraper stopped reading and closed the connection: the target could write no
        // more than the limit plus what the sockets buffer.
        wait_for(10, "the target to see the connection closed", || {
            stats.open.load(SeqCst) == 0
        })
        .await;
        let w = stats.written.load(SeqCst);
        assert!(
            (10 << 20..(10 << 20) + (16 << 20)).contains(&w),
            "{job}: target wrote {w} bytes"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for job in ["endless", "huge"] {
        let up = select(&store, &["__name__=\"up\"", &format!("job=\"{job}\"")]);
        assert_eq!(up[0].samples[0].v, 0.0, "{job}");
    }
    assert!(
        select(&store, &["__name__=\"x\""]).is_empty(),
        "nothing ingested"
    );
}

#[tokio::test]
async fn connection_closed_mid_body_is_up_0_and_ingests_nothing() {
    let (short_len, _) = raw_target(Behaviour::ShortLength).await;
    let (short_chunked, _) = raw_target(Behaviour::ShortChunked).await;
    let (closed, _) = raw_target(Behaviour::CloseBeforeAnswer).await;
    let (store, c) = scrape_once(&format!(
        "scrape_configs:\n  - {{ job_name: short_len, scrape_interval: 1s, static_configs: [{{ targets: ['{short_len}'] }}] }}\n  - {{ job_name: short_chunked, scrape_interval: 1s, static_configs: [{{ targets: ['{short_chunked}'] }}] }}\n  - {{ job_name: closed, scrape_interval: 1s, static_configs: [{{ targets: ['{closed}'] }}] }}\n"
    ))
    .await;
    for job in ["short_len", "short_chunked", "closed"] {
        let st = scrape_status(&c, job);
        assert_eq!(
            st.failure_kind,
            Some(FailureKind::Protocol),
            "{job}: {st:?}"
        );
        let e = st.last_error.unwrap();
        assert!(
            e.contains("reading body") || e.contains("HTTP request failed"),
            "{job}: {e}"
        );
        let up = select(&store, &["__name__=\"up\"", &format!("job=\"{job}\"")]);
        assert_eq!(up[0].samples[0].v, 0.0, "{job}");
    }
    assert!(select(&store, &["__name__=\"a\""]).is_empty());
    assert!(select(&store, &["__name__=\"b\""]).is_empty());
}
