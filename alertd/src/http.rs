//! The HTTP API (axum): `/-/healthy`, `/-/ready`, `/-/reload`, `/metrics`; every other path is
//! a 404 with a JSON `{"error": ...}` body. Each request is counted in the HTTP metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::daemon::App;
use crate::metrics::CONTENT_TYPE;

/// The API's router for `app`; request bodies are limited to `max_body_bytes`.
pub fn router(app: Arc<App>, max_body_bytes: u64) -> Router {
    let limit = usize::try_from(max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready))
        .route("/-/reload", post(reload).put(reload))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
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

async fn metrics(State(app): State<Arc<App>>) -> Response {
    match app.metrics().encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode metrics",
        ),
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
