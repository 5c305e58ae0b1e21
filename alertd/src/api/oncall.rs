//! On call under `/api/alertd/v1/`: `GET oncall` (every schedule) and `GET oncall/{schedule}`
//! (who is on call `?at=` an RFC 3339 time, default now, and the next hand-off);
//! `GET`/`POST oncall/overrides` and `DELETE oncall/overrides/{id}` (durable before the answer;
//! writes need a token like every write, see `auth.rs`). Errors are `{"error": "..."}`.

#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};

use model::api::oncall::{OnCallInfo, OverrideRequest};
use model::api::parse_time;
use notifier::oncall::OverrideError;

use crate::api::error::ApiError;
use crate::daemon::App;

/// The on-call routes.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/alertd/v1/oncall", get(all))
        .route(
            "/api/alertd/v1/oncall/overrides",
            get(list_overrides).post(add_override),
        )
        .route(
            "/api/alertd/v1/oncall/overrides/{id}",
            delete(delete_override),
        )
        .route("/api/alertd/v1/oncall/{schedule}", get(one))
}

/// Query of the who-is-on-call routes.
#[derive(Debug, serde::Deserialize)]
struct AtQuery {
    at: Option<String>,
}

/// Query of `GET oncall/overrides`.
#[derive(Debug, serde::Deserialize)]
struct ScheduleQuery {
    schedule: Option<String>,
}

fn bad(message: impl Into<String>) -> Response {
    ApiError::own(StatusCode::BAD_REQUEST, message.into()).into_response()
}

fn instant(app: &App, q: &AtQuery) -> Result<i64, Response> {
    let now = app.pipeline().notifier().clock().now_ms();
    match q.at.as_deref() {
        None | Some("") => Ok(now),
        Some(s) => parse_time(s)
            .map_err(|e| bad(format!("`at`: {e}")))
            .map(|t| t.unwrap_or(now)),
    }
}

async fn all(State(app): State<Arc<App>>, Query(q): Query<AtQuery>) -> Response {
    let at = match instant(&app, &q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let n = app.pipeline().notifier();
    let v: Vec<OnCallInfo> = n
        .oncall_schedules()
        .iter()
        .filter_map(|s| n.on_call(s, at))
        .collect();
    Json(v).into_response()
}

async fn one(
    State(app): State<Arc<App>>,
    Path(schedule): Path<String>,
    Query(q): Query<AtQuery>,
) -> Response {
    let at = match instant(&app, &q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match app.pipeline().notifier().on_call(&schedule, at) {
        Some(v) => Json(v).into_response(),
        None => ApiError::own(
            StatusCode::NOT_FOUND,
            format!("no on-call schedule {schedule:?}"),
        )
        .into_response(),
    }
}

async fn list_overrides(State(app): State<Arc<App>>, Query(q): Query<ScheduleQuery>) -> Response {
    let n = app.pipeline().notifier();
    Json(n.oncall_overrides().list(q.schedule.as_deref())).into_response()
}

fn override_error(e: OverrideError) -> Response {
    let status = match e {
        OverrideError::Invalid(_) => StatusCode::BAD_REQUEST,
        OverrideError::NotFound(_) => StatusCode::NOT_FOUND,
        OverrideError::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        OverrideError::Corrupt(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::own(status, e.to_string()).into_response()
}

/// `POST oncall/overrides`: adds an override (on disk before the answer, 201 with it).
async fn add_override(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let r: OverrideRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return bad(format!("invalid override request: {e}")),
    };
    let limits = app.config().api.limits;
    if let Err(e) = super::limits::check_ack(&r.author, &r.comment, &limits) {
        return ApiError::own(e.status, e.message).into_response();
    }
    match app.pipeline().notifier().add_oncall_override(r) {
        Ok(o) => (StatusCode::CREATED, Json(o)).into_response(),
        Err(e) => override_error(e),
    }
}

/// `DELETE oncall/overrides/{id}`.
async fn delete_override(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match app.pipeline().notifier().oncall_overrides().delete(&id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => override_error(e),
    }
}
