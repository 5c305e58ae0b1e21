//! Real peers on loopback for the collector's tests: an axum HTTP server, a server that accepts
//! and never answers, TLS servers with rcgen certificates, and a scripted SMTP STARTTLS server.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Path;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use axum::Router;
use collector::config::ProbeConfig;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// 2030-06-01T00:00:00Z in ms: the fake "now" of certificate tests.
pub const NOW_MS: i64 = 1_906_502_400_000;

pub fn probe(yaml: &str) -> ProbeConfig {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad probe yaml: {e}\n{yaml}"))
}

async fn echo(method: Method, headers: HeaderMap, body: String) -> String {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_string()
    };
    format!("{method}|{}|{}|{body}", h("authorization"), h("x-test"))
}

async fn redirect(Path(n): Path<u32>) -> impl IntoResponse {
    let to = if n == 0 {
        "/ok".to_string()
    } else {
        format!("/redirect/{}", n - 1)
    };
    (StatusCode::FOUND, [("location", to)], "")
}

/// An HTTP server on 127.0.0.1 with `/ok`, `/500`, `/slow`, `/redirect/{n}`, `/echo`, `/big`.
pub async fn http_server() -> SocketAddr {
    let app = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "error") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route("/redirect/{n}", get(redirect))
        .route("/echo", any(echo))
        .route("/big", get(|| async { "x".repeat(100_000) }))
        .route("/metrics", get(|| async { "up 1\n" }));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, app).await.unwrap();
    });
    addr
}

/// Accepts connections and never answers.
pub async fn hanging_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

/// A port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    addr
}

pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2035, 1, 1);
        Ca {
            issuer: CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    /// An intermediate CA signed by this one, valid until `not_after` (y, m, d).
    pub fn intermediate(&self, name: &str, not_after: (i32, u8, u8)) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        Ca {
            issuer: CertifiedIssuer::signed_by(p, KeyPair::generate().unwrap(), &self.issuer)
                .unwrap(),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf for `localhost` valid from 2020-01-01 until `not_after`.
    pub fn leaf(
        &self,
        not_after: (i32, u8, u8),
    ) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (
            cert.der().clone(),
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
    }
}

/// Seconds since the epoch of a date at midnight UTC.
pub fn ymd_secs(y: i32, m: u8, d: u8) -> f64 {
    rcgen::date_time_ymd(y, m, d).unix_timestamp() as f64
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> tokio_rustls::TlsAcceptor {
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

/// A TLS server answering every request with `200 ok` over HTTP/1.1.
pub async fn tls_http_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let acc = acceptor(chain, key);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acc = acc.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acc.accept(s).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

/// A scripted SMTP server offering STARTTLS, then a TLS handshake.
pub async fn smtp_starttls_server(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> SocketAddr {
    let acc = acceptor(chain, key);
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acc = acc.clone();
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                r.get_mut()
                    .write_all(b"220 mail.test ESMTP ready\r\n")
                    .await
                    .unwrap();
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                assert!(line.starts_with("EHLO"), "{line}");
                r.get_mut()
                    .write_all(b"250-mail.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
                    .await
                    .unwrap();
                line.clear();
                r.read_line(&mut line).await.unwrap();
                assert_eq!(line.trim_end(), "STARTTLS");
                r.get_mut().write_all(b"220 go ahead\r\n").await.unwrap();
                let Ok(mut tls) = acc.accept(r.into_inner()).await else {
                    return;
                };
                let _ = tls.write_all(b"220 mail.test ESMTP over TLS\r\n").await;
                let mut b = [0u8; 64];
                let _ = tls.read(&mut b).await;
            });
        }
    });
    addr
}

/// Every finished run of one target, as `Collector::status` shows it (polled every 20 ms), to
/// check what each run reported while a peer was restarted or frozen.
pub struct Runs {
    seen: Arc<std::sync::Mutex<Vec<collector::TargetStatus>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Runs {
    /// Starts recording the runs of `key` in `c`.
    pub fn record(c: Arc<collector::Collector>, key: collector::TargetKey) -> Self {
        let seen: Arc<std::sync::Mutex<Vec<collector::TargetStatus>>> = Arc::default();
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let mut last = None;
            loop {
                if let Some(st) = c.status().into_iter().find(|t| t.key == key) {
                    if st.last_run.is_some() && st.last_run != last {
                        last = st.last_run;
                        s.lock().unwrap().push(st);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Runs { seen, task }
    }

    /// The runs recorded so far.
    pub fn all(&self) -> Vec<collector::TargetStatus> {
        self.seen.lock().unwrap().clone()
    }

    /// How many runs were recorded so far.
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Waits (up to `secs`) until `n` runs recorded after the first `from` satisfy `pred`;
    /// returns the last of them. Panics with `what` and the runs seen when they never come.
    pub async fn wait(
        &self,
        from: usize,
        n: usize,
        secs: u64,
        what: &str,
        pred: impl Fn(&collector::TargetStatus) -> bool,
    ) -> collector::TargetStatus {
        let end = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let all = self.all();
            let hits: Vec<_> = all.iter().skip(from).filter(|r| pred(r)).collect();
            if hits.len() >= n {
                return hits[n - 1].clone();
            }
            assert!(
                std::time::Instant::now() < end,
                "timed out waiting for {what}; runs since: {:#?}",
                &all[from.min(all.len())..]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Client sockets of this machine in ESTABLISHED state towards `127.0.0.1:port` (from
/// `/proc/net/tcp`): connections a probe left open.
pub fn established_to(port: u16) -> usize {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap();
    tcp.lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3
                && f[3] == "01"
                && f[2]
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count()
}

/// Checks every recorded run: it ended within `timeout` seconds (plus slack for a loaded
/// machine), a failed run says why (its message starts with `prefix`), and the stored `up`
/// series (`pg_up`, `mysql_up`) of each run agrees with it.
pub async fn check_runs(
    store: &model::storage::MemStorage,
    runs: &Runs,
    timeout: f64,
    up: &str,
    prefix: &str,
) {
    use model::storage::SeriesStore;
    tokio::time::sleep(Duration::from_millis(300)).await; // the writer's batch
    let series = store
        .select(
            &[format!("__name__=\"{up}\"").parse().unwrap()],
            0,
            i64::MAX,
        )
        .unwrap();
    let all = runs.all();
    assert!(!all.is_empty());
    for r in &all {
        assert!(
            r.last_duration_seconds <= timeout + 1.0,
            "a run took {}s (timeout {timeout}s): {r:?}",
            r.last_duration_seconds
        );
        if r.success == Some(false) {
            let e = r.last_error.as_deref().unwrap_or("");
            assert!(
                e.starts_with(prefix),
                "failure without a clear reason: {r:?}"
            );
        }
        let v = series[0]
            .samples
            .iter()
            .find(|s| Some(s.t) == r.last_run)
            .unwrap_or_else(|| panic!("no {up} sample for {r:?}"))
            .v;
        let want = if r.success == Some(true) { 1.0 } else { 0.0 };
        assert_eq!(v, want, "{up} of {r:?}");
    }
}

/// Starts a collector on `yaml` (a `CollectorConfig`) over a fresh in-memory store, on the
/// system clock with default options.
pub fn start(yaml: &str) -> (Arc<model::storage::MemStorage>, Arc<collector::Collector>) {
    let cfg: collector::config::CollectorConfig = serde_saphyr::from_str(yaml).unwrap();
    let store = Arc::new(model::storage::MemStorage::new());
    let c = collector::Collector::start(
        &cfg,
        store.clone(),
        Arc::new(model::clock::SystemClock),
        collector::Options::default(),
    )
    .unwrap();
    (store, Arc::new(c))
}
