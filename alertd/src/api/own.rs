//! alertd's own API under `/api/alertd/v1/`: acknowledgements (`acks`: POST acknowledges,
//! DELETE removes, GET lists; `acks/log`), the notification history, test notifications to a
//! receiver, the alert-fatigue report (`report`), and the current state of heartbeats and
//! probes. Errors are `{"error": "..."}`.

// Handlers short-circuit with the ready error `Response` (axum style); it is built once per
// failed request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use model::api::{
    api_time, parse_filters, AckInfo, AckLogEntry, AckRequest, AckResponse, AlertRef,
    HeartbeatInfo, HistoryItem, IntegrationResult, ProbeInfo, TestReceiverResponse,
};
use model::Fingerprint;
use notifier::{AckTarget, NotifierError};

use crate::api::error::ApiError;
use crate::daemon::App;

/// The routes of alertd's own API.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/api/alertd/v1/acks",
            get(list_acks).post(ack).delete(unack),
        )
        .route("/api/alertd/v1/acks/log", get(ack_log))
        .route("/api/alertd/v1/history", get(history))
        .route("/api/alertd/v1/report", get(report))
        .route("/api/alertd/v1/receivers/{name}/test", post(test_receiver))
        .route("/api/alertd/v1/heartbeats", get(heartbeats))
        .route("/api/alertd/v1/probes", get(probes))
}

fn notifier_error(e: NotifierError) -> Response {
    match e {
        NotifierError::NothingToAck => {
            ApiError::own(StatusCode::NOT_FOUND, e.to_string()).into_response()
        }
        NotifierError::InvalidAlert(_) => {
            ApiError::own(StatusCode::BAD_REQUEST, e.to_string()).into_response()
        }
        other => {
            ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()).into_response()
        }
    }
}

/// The target of an ack request: exactly one kind of selector.
pub(crate) fn ack_target(r: &AckRequest) -> Result<AckTarget, String> {
    let kinds = usize::from(!r.matchers.is_empty())
        + usize::from(!r.fingerprints.is_empty())
        + usize::from(r.group.is_some());
    if kinds != 1 {
        return Err(
            "give exactly one selector: `matchers` (e.g. [\"alertname=X\"]), `fingerprints` or `group`"
                .into(),
        );
    }
    if !r.matchers.is_empty() {
        let ms = parse_filters(r.matchers.iter().map(String::as_str)).map_err(|e| e.0)?;
        if ms.iter().all(|m| m.matches_empty()) {
            return Err(
                "at least one matcher must not match the empty string (it would select every alert)"
                    .into(),
            );
        }
        return Ok(AckTarget::Matchers(ms));
    }
    if let Some(g) = &r.group {
        return Ok(AckTarget::Group(g.clone()));
    }
    let mut fps = Vec::new();
    for f in &r.fingerprints {
        match f.parse::<Fingerprint>() {
            Ok(fp) if f.len() <= 16 => fps.push(fp),
            _ => {
                return Err(format!(
                    "invalid fingerprint {f:?} (expected 16 hex digits)"
                ))
            }
        }
    }
    Ok(AckTarget::Fingerprints(fps))
}

fn parse_ack_request(body: &[u8]) -> Result<(AckRequest, AckTarget), Response> {
    let r: AckRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::own(StatusCode::BAD_REQUEST, format!("invalid ack request: {e}")).into_response()
    })?;
    if r.author.trim().is_empty() {
        return Err(ApiError::own(StatusCode::BAD_REQUEST, "`author` is required").into_response());
    }
    let t =
        ack_target(&r).map_err(|e| ApiError::own(StatusCode::BAD_REQUEST, e).into_response())?;
    Ok((r, t))
}

fn labels_by_fingerprint(n: &notifier::Notifier) -> HashMap<String, model::Labels> {
    n.alerts()
        .into_iter()
        .map(|v| (v.alert.fingerprint().to_string(), v.alert.labels))
        .collect()
}

fn ack_response(n: &notifier::Notifier, fps: Vec<Fingerprint>) -> Response {
    let labels = labels_by_fingerprint(n);
    let alerts = fps
        .into_iter()
        .map(|fp| {
            let fingerprint = fp.to_string();
            AlertRef {
                labels: labels.get(&fingerprint).cloned().unwrap_or_default(),
                fingerprint,
            }
        })
        .collect();
    Json(AckResponse { alerts }).into_response()
}

/// `POST /api/alertd/v1/acks`: acknowledges every firing alert selected (on disk before the
/// answer); 404 when none is.
async fn ack(State(app): State<Arc<App>>, body: Bytes) -> Response {
    ack_or_unack(&app, &body, false).unwrap_or_else(|r| r)
}

/// `DELETE /api/alertd/v1/acks` (same body as POST): removes the acknowledgements selected.
async fn unack(State(app): State<Arc<App>>, body: Bytes) -> Response {
    ack_or_unack(&app, &body, true).unwrap_or_else(|r| r)
}

fn ack_or_unack(app: &App, body: &[u8], remove: bool) -> Result<Response, Response> {
    let n = app.pipeline().notifier();
    let (r, t) = parse_ack_request(body)?;
    let limits = app.config().api.limits;
    if let Err(e) = super::limits::check_ack(&r.author, &r.comment, &limits) {
        return Err(ApiError::own(e.status, e.message).into_response());
    }
    let done = if remove {
        n.unack(&t, &r.author, &r.comment)
    } else {
        n.ack(&t, &r.author, &r.comment)
    };
    Ok(match done {
        Ok(fps) => ack_response(n, fps),
        Err(e) => notifier_error(e),
    })
}

async fn list_acks(State(app): State<Arc<App>>) -> Response {
    let n = app.pipeline().notifier();
    let labels = labels_by_fingerprint(n);
    let v: Vec<AckInfo> = n
        .acks()
        .into_iter()
        .map(|a| AckInfo {
            labels: labels.get(&a.fingerprint).cloned().unwrap_or_default(),
            fingerprint: a.fingerprint,
            author: a.author,
            comment: a.comment,
            at: api_time(a.at),
        })
        .collect();
    Json(v).into_response()
}

async fn ack_log(State(app): State<Arc<App>>) -> Response {
    let n = app.pipeline().notifier();
    match n.ack_log() {
        Ok(log) => {
            let v: Vec<AckLogEntry> = log
                .into_iter()
                .map(|e| AckLogEntry {
                    action: e.action,
                    fingerprint: e.fingerprint,
                    labels: e.labels,
                    author: e.author,
                    comment: e.comment,
                    at: api_time(e.at),
                })
                .collect();
            Json(v).into_response()
        }
        Err(e) => notifier_error(e),
    }
}

/// Query of `GET /api/alertd/v1/history`.
#[derive(Debug, serde::Deserialize)]
struct HistoryQuery {
    receiver: Option<String>,
    limit: Option<String>,
}

/// `GET /api/alertd/v1/history?receiver=&limit=`: delivery attempts, newest first (100 by
/// default).
async fn history(State(app): State<Arc<App>>, Query(q): Query<HistoryQuery>) -> Response {
    let n = app.pipeline().notifier();
    let limit = match q.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 100,
        Some(l) => match l.parse::<usize>() {
            Ok(l) if l > 0 => l,
            _ => {
                return ApiError::own(
                    StatusCode::BAD_REQUEST,
                    format!("`limit` must be a positive integer, got {l:?}"),
                )
                .into_response()
            }
        },
    };
    let receiver = q.receiver.as_deref().filter(|r| !r.is_empty());
    match n.history(receiver) {
        Ok(h) => {
            let v: Vec<HistoryItem> = h
                .into_iter()
                .rev()
                .take(limit)
                .map(|h| HistoryItem {
                    at: api_time(h.at),
                    group_key: h.group_key,
                    receiver: h.receiver,
                    integration: h.integration,
                    status: h.status,
                    alerts: h.alerts,
                    alert_labels: h.alert_labels,
                    attempt: h.attempt,
                    result: h.result,
                    error: h.error,
                })
                .collect();
            Json(v).into_response()
        }
        Err(e) => notifier_error(e),
    }
}

/// Query of `GET /api/alertd/v1/report` and of the `/report` page.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ReportQuery {
    since: Option<String>,
    self_resolved_within: Option<String>,
    tz: Option<String>,
    limit: Option<String>,
}

/// The report's parameters from `q` (defaults: `since=30d`, `self_resolved_within=5m`,
/// `tz=UTC`, `limit=100`), or why they were refused, naming the limit.
pub(crate) fn report_params(
    q: &ReportQuery,
    now: model::Timestamp,
) -> Result<notifier::ReportParams, String> {
    use notifier::report::{DEFAULT_LIMIT, DEFAULT_SELF_RESOLVED_WITHIN};
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let duration = |name: &str, v: Option<&str>, default: model::Duration| match v {
        None => Ok(default),
        Some(v) => v
            .parse::<model::Duration>()
            .map_err(|e| format!("`{name}`: {e}")),
    };
    let window = duration(
        "since",
        given(&q.since),
        model::Duration::from_secs(30 * 24 * 3600),
    )?;
    let within = duration(
        "self_resolved_within",
        given(&q.self_resolved_within),
        DEFAULT_SELF_RESOLVED_WITHIN,
    )?;
    let tz = match given(&q.tz) {
        None => chrono_tz::UTC,
        Some(t) => t.parse::<chrono_tz::Tz>().map_err(|_| {
            format!("`tz`: unknown time zone {t:?} (expected e.g. UTC, Europe/Oslo)")
        })?,
    };
    let limit = match given(&q.limit) {
        None => DEFAULT_LIMIT,
        Some(l) => l.parse::<usize>().map_err(|_| {
            format!(
                "`limit` must be between 1 and {}, got {l:?}",
                notifier::report::MAX_LIMIT
            )
        })?,
    };
    notifier::ReportParams::new(now, window, within, tz, limit).map_err(|e| e.to_string())
}

/// The report for `q`, computed on the blocking pool (it reads the history from the store).
pub(crate) async fn make_report(
    app: Arc<App>,
    q: &ReportQuery,
) -> Result<model::api::FatigueReport, Response> {
    let params = report_params(q, app.clock().now_ms())
        .map_err(|e| ApiError::own(StatusCode::BAD_REQUEST, e).into_response())?;
    match tokio::task::spawn_blocking(move || app.pipeline().notifier().fatigue_report(&params))
        .await
    {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(notifier_error(e)),
        Err(e) => Err(
            ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, format!("report: {e}"))
                .into_response(),
        ),
    }
}

/// `GET /api/alertd/v1/report?since=30d&self_resolved_within=5m&tz=UTC&limit=100`: the
/// alert-fatigue report (`model::api::FatigueReport`).
async fn report(State(app): State<Arc<App>>, Query(q): Query<ReportQuery>) -> Response {
    match make_report(app, &q).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e,
    }
}

/// `POST /api/alertd/v1/receivers/{name}/test`: sends a test notification (alertname
/// `AlertdTestNotification`, summary "Test notification from alertd") through every integration
/// of the receiver now; 200 with each integration's result, 404 for an unknown receiver.
async fn test_receiver(State(app): State<Arc<App>>, Path(name): Path<String>) -> Response {
    let n = app.pipeline().notifier();
    if !n.receiver_names().contains(&name) {
        return ApiError::own(
            StatusCode::NOT_FOUND,
            format!(
                "unknown receiver {name:?} (configured: {})",
                n.receiver_names().join(", ")
            ),
        )
        .into_response();
    }
    match n.test_receiver(&name).await {
        Ok(results) => Json(TestReceiverResponse {
            receiver: name,
            integrations: results
                .into_iter()
                .map(|(name, r)| IntegrationResult {
                    name,
                    ok: r.is_ok(),
                    error: r.err().map(|e| e.to_string()),
                })
                .collect(),
        })
        .into_response(),
        Err(e) => notifier_error(e),
    }
}

async fn heartbeats(State(app): State<Arc<App>>) -> Response {
    let c = app.pipeline().collector();
    let v: Vec<HeartbeatInfo> = c
        .heartbeats()
        .status()
        .into_iter()
        .map(|h| HeartbeatInfo {
            name: h.name,
            state: h.state.as_str().into(),
            last_ping: h.last_ping.map(api_time),
            last_success: h.last_success.map(api_time),
            deadline: h.deadline.map(api_time),
            last_exit_code: h.last_exit_code,
            last_duration_seconds: h.last_duration_seconds,
        })
        .collect();
    Json(v).into_response()
}

async fn probes(State(app): State<Arc<App>>) -> Response {
    let c = app.pipeline().collector();
    let mut v: Vec<ProbeInfo> = c
        .status()
        .into_iter()
        .map(|t| ProbeInfo {
            name: match &t.key {
                collector::TargetKey::Probe(n) => n.clone(),
                collector::TargetKey::Scrape { job, instance } => {
                    format!("{job}/{instance}")
                }
            },
            kind: t.kind.into(),
            state: match t.success {
                Some(true) => "up",
                Some(false) => "down",
                None => "unknown",
            }
            .into(),
            last_run: t.last_run.map(api_time),
            last_duration_seconds: t.last_duration_seconds,
            last_error: t.last_error,
            consecutive_failures: t.consecutive_failures,
        })
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Json(v).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_requests_need_exactly_one_selector() {
        let r = |m: &[&str], f: &[&str], g: Option<&str>| AckRequest {
            matchers: m.iter().map(|s| s.to_string()).collect(),
            fingerprints: f.iter().map(|s| s.to_string()).collect(),
            group: g.map(str::to_string),
            author: "me".into(),
            comment: String::new(),
        };
        assert!(matches!(
            ack_target(&r(&["alertname=X"], &[], None)),
            Ok(AckTarget::Matchers(_))
        ));
        assert!(matches!(
            ack_target(&r(&[], &["5d45c890dc123009"], None)),
            Ok(AckTarget::Fingerprints(f)) if f == vec![Fingerprint(0x5d45c890dc123009)]
        ));
        assert!(matches!(
            ack_target(&r(&[], &[], Some("{}:{}"))),
            Ok(AckTarget::Group(_))
        ));
        assert!(ack_target(&r(&[], &[], None))
            .unwrap_err()
            .contains("exactly one"));
        assert!(ack_target(&r(&["a=b"], &["00"], None)).is_err());
        assert!(ack_target(&r(&[], &["xyz"], None))
            .unwrap_err()
            .contains("invalid fingerprint"));
        assert!(ack_target(&r(&["job=~\".*\""], &[], None))
            .unwrap_err()
            .contains("every alert"));
    }
}
