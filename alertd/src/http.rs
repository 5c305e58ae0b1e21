//! The HTTP API (axum): `/-/healthy`, `/-/ready`, `/-/reload`, `/metrics`; every other path is
//! a 404 with a JSON `{"error": ...}` body. Each request is counted in the HTTP metrics.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use tower_http::catch_panic::CatchPanicLayer;

use crate::api::error::ApiError;
use crate::daemon::App;
use crate::metrics::{to_text_format, wants_openmetrics, CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// The API's router for `app`; request bodies are limited to `max_body_bytes`.
pub(crate) fn router(app: Arc<App>, max_body_bytes: u64) -> Router {
    let limit = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .route(
            "/ping/{*rest}",
            get(ping)
                .post(ping)
                .head(ping)
                .route_layer(middleware::from_fn_with_state(app.clone(), limit_pings)),
        )
        .merge(crate::slack::router())
        .merge(crate::api::routes())
        .merge(crate::status::routes())
        .merge(crate::admin::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            app.clone(),
            crate::api::auth::require_token,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(max_body_bytes, limit_body))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// Refuses a request whose declared body is larger than `api.max_body_bytes` before it is read
/// (bodies without a length are limited by `DefaultBodyLimit` where a handler reads them).
async fn limit_body(State(max): State<u64>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max => ApiError::own(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {n} bytes is larger than api.max_body_bytes ({max})"),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}

/// A handler that panicked: logged, and answered 500 with a JSON error (the connection and
/// the process carry on).
fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let why = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    tracing::error!("a request handler panicked: {why}");
    ApiError::own(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error: the request handler failed (see alertd's log)",
    )
    .into_response()
}

async fn healthy() -> &'static str {
    "alertd is Healthy.\n"
}

async fn ready(State(app): State<Arc<App>>) -> Response {
    let pending = app.readiness().pending();
    if pending.is_empty() {
        (StatusCode::OK, "alertd is Ready.\n").into_response()
    } else {
        let names: Vec<&str> = pending.iter().map(|c| c.name()).collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("alertd is not ready: waiting for {}\n", names.join(", ")),
        )
            .into_response()
    }
}

async fn reload(State(app): State<Arc<App>>) -> Response {
    match app.reload().await {
        Ok(()) => (StatusCode::OK, "configuration reloaded\n").into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match app.metrics().encode() {
        Ok(text) if wants_openmetrics(accept) => {
            ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
        }
        Ok(text) => (
            [(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)],
            to_text_format(&text),
        )
            .into_response(),
        Err(_) => ApiError::own(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode metrics",
        )
        .into_response(),
    }
}

/// Query parameters of a heartbeat ping.
#[derive(Debug, serde::Deserialize)]
struct PingQuery {
    /// Pairs a `/start` with its end.
    rid: Option<String>,
}

/// `api.ping_rate_limit` on `/ping/...`, keyed by the peer's address: runs before the body is
/// read and before any heartbeat work, for known and unknown names alike. Over the limit: 429
/// with `Retry-After` (whole seconds, rounded up) and a JSON error; nothing is recorded.
async fn limit_pings(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    // Both listeners provide the peer's address (daemon.rs); a router served without it (only
    // possible in tests) puts every client in one bucket rather than none.
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    match app.pings().check(ip) {
        Ok(()) => next.run(req).await,
        Err(limited) => {
            let secs = limited.retry_after_secs();
            let l = limited.limit;
            let mut resp = ApiError::own(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "too many pings from this address: api.ping_rate_limit allows a burst of {} \
                     and then {} per second; retry after {secs}s",
                    l.burst, l.per_second
                ),
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
            resp
        }
    }
}

/// Heartbeat check-ins being written at once: they wait for the disk, one after the other (the
/// tracker writes under its lock), so more would only park more threads of the blocking pool.
static PING_WRITERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// `/ping/<name-or-token>[/start|/fail|/<exit-code>]`: a heartbeat check-in (docs/design.md "Heartbeats"). The
/// check-in is written durably to the store on the blocking pool (it waits for the disk), so
/// the async workers keep answering meanwhile.
async fn ping(
    State(app): State<Arc<App>>,
    Path(rest): Path<String>,
    Query(q): Query<PingQuery>,
    body: Bytes,
) -> Response {
    let c = app.pipeline().collector();
    let (name, kind) = match collector::heartbeat::parse_ping_path(&rest) {
        Ok(p) => p,
        Err(e) => return ApiError::own(StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let (name, heartbeats) = (name.to_string(), c.heartbeats().clone());
    // The semaphore is never closed. The permit goes with the write, which finishes even if
    // the client has gone.
    let Ok(writing) = PING_WRITERS.acquire().await else {
        return ApiError::own(
            StatusCode::INTERNAL_SERVER_ERROR,
            "recording the ping failed",
        )
        .into_response();
    };
    let done = tokio::task::spawn_blocking(move || {
        let _writing = writing;
        heartbeats.ping(&name, kind, q.rid.as_deref(), &body)
    })
    .await;
    let Ok(result) = done else {
        return ApiError::own(
            StatusCode::INTERNAL_SERVER_ERROR,
            "recording the ping failed",
        )
        .into_response();
    };
    match result {
        Ok(_) => (StatusCode::OK, "OK\n").into_response(),
        Err(e @ collector::heartbeat::PingError::NotFound(_)) => {
            ApiError::own(StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        Err(e) => ApiError::own(StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn not_found(uri: Uri) -> Response {
    ApiError::own(StatusCode::NOT_FOUND, format!("not found: {}", uri.path())).into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::own(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed for this path",
    )
    .into_response()
}

async fn track(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let handler = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let start = Instant::now();
    let resp = next.run(req).await;
    app.metrics().record_request(
        &handler,
        resp.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Config};
    use crate::daemon::Pipeline;
    use crate::readiness::{Condition, Readiness};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves the router on a loopback port (with the peers' addresses, as the daemon does);
    /// returns the port and the app.
    async fn serve(max_body: u64) -> (u16, Arc<App>, tempfile::TempDir) {
        let (listener, app, dir) = app_with("").await;
        let port = listener.local_addr().unwrap().port();
        let r = router(app.clone(), max_body);
        let limits = crate::config::ConnectionLimits::default();
        tokio::spawn(crate::server::serve(
            listener,
            None,
            r,
            limits,
            std::future::pending(),
        ));
        (port, app, dir)
    }

    #[tokio::test]
    async fn a_panicking_handler_is_a_500_json_error() {
        use tower::ServiceExt;
        let r: Router = Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    let v: Vec<u8> = Vec::new();
                    v[usize::from(v.is_empty())].to_string()
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response));
        let req = axum::http::Request::get("/boom")
            .body(axum::body::Body::empty())
            .unwrap();
        let resp = r.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains("internal error"),
            "{v}"
        );
    }

    /// An app for `yaml` with the collector running (for heartbeats), and a loopback listener.
    async fn app_with(yaml: &str) -> (tokio::net::TcpListener, Arc<App>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertd.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config = config::load_file(&path).unwrap();
        let readiness = Arc::new(Readiness::new());
        let mut running = config.clone();
        running.storage = crate::config::StorageConfig {
            path: dir.path().join("data"),
            ..Config::default().storage
        };
        let clock: Arc<dyn model::Clock> = Arc::new(model::FakeClock::new(1_000_000));
        let pipeline = Pipeline::start(&running, None, clock.clone(), &readiness).unwrap();
        let app = Arc::new(App::new(path, config, pipeline, readiness, clock));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (listener, app, dir)
    }

    async fn request(port: u16, raw: &str) -> (u16, String) {
        let (status, _, body) = request_from([127, 0, 0, 1], port, raw).await;
        (status, body)
    }

    /// A TCP connection to the loopback `port` from the local address `from`.
    async fn connect_from(from: [u8; 4], port: u16) -> tokio::net::TcpStream {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind(SocketAddr::from((from, 0))).unwrap();
        s.connect(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .unwrap()
    }

    /// Status, head and body of a whole response.
    fn split_response(out: &str) -> (u16, String, String) {
        let status = out[9..12].parse().unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    /// One request from the local address `from`: status, head (lower case) and body.
    async fn request_from(from: [u8; 4], port: u16, raw: &str) -> (u16, String, String) {
        let mut s = connect_from(from, port).await;
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        split_response(&out)
    }

    fn post(path: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    const LIMITED: &str = "api:\n  ping_rate_limit: { per_second: 1, burst: 2 }\n\
                           heartbeats:\n  - { name: job, period: 1h }\n";

    fn last_body(app: &App) -> Option<String> {
        let c = app.pipeline().collector();
        c.heartbeats().status()[0].last_body.clone()
    }

    #[tokio::test]
    async fn pings_over_the_limit_get_429_with_retry_after_and_record_nothing() {
        let (listener, app, _dir) = app_with(LIMITED).await;
        let clock = governor::clock::FakeRelativeClock::default();
        app.pings()
            .set_clock(crate::ratelimit::PingClock::Fake(clock.clone()));
        let port = listener.local_addr().unwrap().port();
        let svc = router(app.clone(), 1024).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, svc).await });

        let me = [127, 0, 0, 1];
        assert_eq!(
            request_from(me, port, &post("/ping/job", "one")).await.0,
            200
        );
        assert_eq!(
            request_from(me, port, &post("/ping/job", "two")).await.0,
            200
        );
        assert_eq!(last_body(&app).as_deref(), Some("two"));
        let (status, head, body) = request_from(me, port, &post("/ping/job", "three")).await;
        assert_eq!(status, 429, "{head}{body}");
        assert!(head.contains("\r\nretry-after: 1\r\n"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["error"],
            "too many pings from this address: api.ping_rate_limit allows a burst of 2 and then \
             1 per second; retry after 1s"
        );
        // Nothing was recorded, and unknown names and bad paths are limited as well.
        assert_eq!(last_body(&app).as_deref(), Some("two"));
        assert_eq!(request_from(me, port, &get("/ping/nope")).await.0, 429);
        assert_eq!(
            request_from(me, port, &get("/ping/job/notacode")).await.0,
            429
        );
        // The limit answers before the body is read: a body that never comes does not hold
        // the answer up.
        let unsent = "POST /ping/job HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n";
        let mut s = connect_from(me, port).await;
        s.write_all(unsent.as_bytes()).await.unwrap();
        let mut buf = vec![0; 4096];
        let n = tokio::time::timeout(std::time::Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("429 without the body")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 429 "));
        // Another address has its own bucket.
        let other = [127, 0, 0, 2];
        let (status, _, _) = request_from(other, port, &post("/ping/job", "other")).await;
        assert_eq!(status, 200);
        assert_eq!(last_body(&app).as_deref(), Some("other"));
        // One second later, one more ping from the first address is accepted.
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(
            request_from(me, port, &post("/ping/job", "four")).await.0,
            200
        );
        assert_eq!(
            request_from(me, port, &post("/ping/job", "five")).await.0,
            429
        );
        assert_eq!(last_body(&app).as_deref(), Some("four"));

        let text = app.metrics().encode().unwrap();
        for line in [
            "alertd_ping_rate_limited_total 5\n",
            "alertd_ping_rate_limit_clients 2\n",
            "alertd_ping_rate_limit_max_clients 10000\n",
            "alertd_ping_rate_limit_overflow_total 0\n",
            "alertd_http_requests_total{handler=\"/ping/{*rest}\",code=\"429\"} 5\n",
        ] {
            assert!(text.contains(line), "{line}{text}");
        }
    }

    #[tokio::test]
    async fn reload_applies_a_new_ping_rate_limit_and_can_turn_it_off() {
        let (port, app, _dir) = serve(1024).await;
        std::fs::write(app.config_path(), LIMITED).unwrap();
        app.reload().await.unwrap();
        let (me, ping) = ([127, 0, 0, 1], get("/ping/job"));
        let codes = |n| {
            let ping = ping.clone();
            async move {
                let mut got = Vec::new();
                for _ in 0..n {
                    got.push(request_from(me, port, &ping).await.0);
                }
                got
            }
        };
        // The monotonic clock: at 1 per second, a third ping within moments is refused
        // (unless the machine stalled for a second; then a fourth is).
        let got = codes(4).await;
        assert_eq!(&got[..2], &[200, 200], "{got:?}");
        assert!(got.contains(&429), "{got:?}");
        let off = LIMITED.replace("per_second: 1, burst: 2", "enabled: false");
        std::fs::write(app.config_path(), off).unwrap();
        app.reload().await.unwrap();
        assert!(!app.config().api.ping_rate_limit.enabled);
        assert_eq!(codes(20).await, vec![200; 20]);
    }

    /// A TLS client for `cert` (trusted as its own root).
    fn tls_connector(cert: &rcgen::Certificate) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    }

    #[tokio::test]
    async fn the_tls_listener_keys_the_limit_by_peer_address_too() {
        let (listener, app, dir) = app_with(LIMITED).await;
        app.pings()
            .set_clock(crate::ratelimit::PingClock::Fake(Default::default()));
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        let tls = crate::config::tls::server_config(&cert, &key).unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = router(app.clone(), 1024);
        let limits = crate::config::ConnectionLimits::default();
        tokio::spawn(crate::server::serve(
            listener,
            Some(tls),
            r,
            limits,
            std::future::pending(),
        ));
        let connector = tls_connector(&ck.cert);
        let ping = |from: [u8; 4]| {
            let connector = connector.clone();
            async move {
                let tcp = connect_from(from, port).await;
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                let mut s = connector.connect(name, tcp).await.unwrap();
                s.write_all(get("/ping/job").as_bytes()).await.unwrap();
                let mut out = Vec::new();
                // The server may close without close_notify; the response is complete then.
                let _ = s.read_to_end(&mut out).await;
                split_response(&String::from_utf8_lossy(&out)).0
            }
        };
        let me = [127, 0, 0, 1];
        assert_eq!(
            [ping(me).await, ping(me).await, ping(me).await],
            [200, 200, 429]
        );
        assert_eq!(ping([127, 0, 0, 3]).await, 200);
        assert_eq!(app.pings().stats().clients, 2);
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    }

    #[tokio::test]
    async fn ready_follows_the_readiness_conditions() {
        let (port, app, _dir) = serve(1024).await;
        // Starting the pipeline opened the store and loaded the rules.
        assert!(app.readiness().is_set(Condition::StoreOpen));
        assert!(app.readiness().is_set(Condition::RulesLoaded));
        app.readiness().clear(Condition::StoreOpen);
        app.readiness().clear(Condition::RulesLoaded);
        let (status, body) = request(port, &get("/-/ready")).await;
        assert_eq!(status, 503);
        assert_eq!(
            body,
            "alertd is not ready: waiting for store_open, rules_loaded, first_eval_done\n"
        );
        app.readiness().set(Condition::StoreOpen);
        app.readiness().set(Condition::RulesLoaded);
        let (_, body) = request(port, &get("/-/ready")).await;
        assert_eq!(body, "alertd is not ready: waiting for first_eval_done\n");
        app.readiness().set(Condition::FirstEvalDone);
        assert_eq!(
            request(port, &get("/-/ready")).await,
            (200, "alertd is Ready.\n".into())
        );
        assert_eq!(request(port, &get("/-/healthy")).await.0, 200);
    }

    #[tokio::test]
    async fn oversized_bodies_unknown_paths_and_wrong_methods_get_json_errors() {
        let (port, app, _dir) = serve(10).await;
        let big = "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello world";
        let (status, body) = request(port, big).await;
        assert_eq!(status, 413);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            v["error"],
            "request body of 11 bytes is larger than api.max_body_bytes (10)"
        );
        let (status, body) = request(port, &get("/api/v9/nothing")).await;
        assert_eq!(status, 404);
        assert_eq!(body, r#"{"error":"not found: /api/v9/nothing"}"#);
        let (status, body) = request(port, &get("/-/reload")).await;
        assert_eq!(status, 405);
        assert!(body.contains("\"error\""), "{body}");
        let text = app.metrics().encode().unwrap();
        assert!(
            text.contains("alertd_http_requests_total{handler=\"unmatched\",code=\"404\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("alertd_http_requests_total{handler=\"/-/reload\",code=\"413\"} 1"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn reload_endpoint_reports_errors_with_500() {
        let (port, app, _dir) = serve(1024).await;
        std::fs::write(app.config_path(), "api:\n  listen: nowhere\n").unwrap();
        let post =
            "POST /-/reload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (status, body) = request(port, post).await;
        assert_eq!(status, 500);
        assert!(body.starts_with("failed to reload config: "), "{body}");
        assert!(body.contains("alertd.yaml:2:11: `api.listen`"), "{body}");
        std::fs::write(app.config_path(), "global:\n  scrape_interval: 1s\n").unwrap();
        assert_eq!(
            request(port, post).await,
            (200, "configuration reloaded\n".into())
        );
        assert_eq!(app.config().global.scrape_interval, "1s".parse().unwrap());
    }
}
