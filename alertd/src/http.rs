//! The HTTP API (axum): `/-/healthy`, `/-/ready`, `/-/reload`, `/metrics`; every other path is
//! a 404 with a JSON `{"error": ...}` body. Each request is counted in the HTTP metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::daemon::App;
use crate::metrics::{to_text_format, wants_openmetrics, CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// The API's router for `app`; request bodies are limited to `max_body_bytes`.
pub fn router(app: Arc<App>, max_body_bytes: u64) -> Router {
    let limit = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .route("/ping/{*rest}", get(ping).post(ping).head(ping))
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
        Some(n) if n > max => json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {n} bytes is larger than api.max_body_bytes ({max})"),
        ),
        _ => next.run(req).await,
    }
}

fn json_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": msg.into() }))).into_response()
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
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode metrics",
        ),
    }
}

/// Query parameters of a heartbeat ping.
#[derive(Debug, serde::Deserialize)]
struct PingQuery {
    /// Pairs a `/start` with its end.
    rid: Option<String>,
}

/// `/ping/<name-or-token>[/start|/fail|/<exit-code>]`: a heartbeat check-in (DESIGN.md).
async fn ping(
    State(app): State<Arc<App>>,
    Path(rest): Path<String>,
    Query(q): Query<PingQuery>,
    body: Bytes,
) -> Response {
    let Some(c) = app.pipeline().collector() else {
        return json_error(StatusCode::SERVICE_UNAVAILABLE, "collector not running");
    };
    let (name, kind) = match collector::heartbeat::parse_ping_path(&rest) {
        Ok(p) => p,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match c.heartbeats().ping(name, kind, q.rid.as_deref(), &body) {
        Ok(_) => (StatusCode::OK, "OK\n").into_response(),
        Err(e @ collector::heartbeat::PingError::NotFound(_)) => {
            json_error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn not_found(uri: Uri) -> Response {
    json_error(StatusCode::NOT_FOUND, format!("not found: {}", uri.path()))
}

async fn method_not_allowed() -> Response {
    json_error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed for this path",
    )
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

    /// Serves the router on a loopback port; returns the port and the app.
    async fn serve(max_body: u64) -> (u16, Arc<App>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertd.yaml");
        std::fs::write(&path, "").unwrap();
        let config = config::load_file(&path).unwrap();
        let readiness = Arc::new(Readiness::new());
        let storage = crate::config::StorageConfig {
            path: dir.path().join("data"),
            ..Config::default().storage
        };
        let pipeline = Pipeline::start(&storage, &readiness).unwrap();
        let app = Arc::new(App::new(
            path,
            config,
            pipeline,
            readiness,
            Arc::new(model::FakeClock::new(0)),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = router(app.clone(), max_body);
        tokio::spawn(async move { axum::serve(listener, r).await });
        (port, app, dir)
    }

    async fn request(port: u16, raw: &str) -> (u16, String) {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status = out[9..12].parse().unwrap();
        let body = out.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    }

    #[tokio::test]
    async fn ready_follows_the_readiness_conditions() {
        let (port, app, _dir) = serve(1024).await;
        // Opening the pipeline opened the store.
        assert!(app.readiness().is_set(Condition::StoreOpen));
        app.readiness().clear(Condition::StoreOpen);
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
