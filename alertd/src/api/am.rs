//! Alertmanager API v2 (the subset `amtool` and Prometheus use): `/api/v2/status`,
//! `/api/v2/alerts` (GET, POST), `/api/v2/alerts/groups`, `/api/v2/silences` (GET, POST),
//! `/api/v2/silence/{id}` (GET, DELETE) and `/api/v2/receivers`, with Alertmanager's JSON
//! shapes ([`model::api`]).
//!
//! Errors follow Alertmanager: a malformed request (a body that is not the expected JSON, a
//! query parameter of the wrong type) gets `{"code":400,"message":"..."}`; the errors
//! Alertmanager's handlers report themselves (a bad matcher, an invalid alert or silence, an
//! unknown silence) are a JSON string, because that is what `amtool` decodes and prints (and
//! `amtool silence import` looks for "not found" in it to re-create a silence under a new id).

// Handlers short-circuit with the ready error `Response` (axum style); it is built once per
// failed request, so its size does not matter.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};

use model::api::{
    api_time, parse_filters, silence_matches_filter, sort_silences, AlertFilter,
    AlertmanagerConfig, AlertmanagerStatus, ClusterStatus, FilterError, GettableSilence,
    PostSilenceResponse, PostableAlert, PostableSilence, ReceiverRef, VersionInfo,
};
use notifier::silences::SilenceError;

use super::limits;
use crate::api::error::ApiError;
use crate::daemon::App;

/// The routes of the Alertmanager API v2.
pub(crate) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            delete(delete_silence).get(get_silence),
        )
        .route("/api/v2/receivers", get(receivers))
}

fn filter_error(e: FilterError) -> Response {
    match e {
        FilterError::Value(m) => ApiError::am_string(StatusCode::BAD_REQUEST, m).into_response(),
    }
}

/// The configuration as Alertmanager shows it in `/api/v2/status`: the notification sections
/// (`global` defaults, `route`, `receivers`, `inhibit_rules`, `time_intervals`, `templates`) as
/// YAML, secrets as `<secret>`, without alertd's own keys (`escalations`, a route's `escalation`, a
/// receiver's `ntfy_configs` and `fallback`) so that `amtool config routes` can parse it.
pub(crate) fn alertmanager_config_yaml(cfg: &notifier::config::NotifierConfig) -> String {
    fn prune_nulls(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.retain(|_, v| !v.is_null());
                m.values_mut().for_each(prune_nulls);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(prune_nulls),
            _ => {}
        }
    }
    /// Drops a route's `escalation` here and in every child route.
    fn prune_route(v: &mut serde_json::Value) {
        if let Some(m) = v.as_object_mut() {
            m.remove("escalation");
            if let Some(serde_json::Value::Array(children)) = m.get_mut("routes") {
                children.iter_mut().for_each(prune_route);
            }
        }
    }
    let mut v = serde_json::to_value(cfg).unwrap_or_default();
    prune_nulls(&mut v);
    if let Some(m) = v.as_object_mut() {
        for k in notifier::config::ALERTD_ONLY_KEYS {
            m.remove(k);
        }
        if let Some(r) = m.get_mut("route") {
            prune_route(r);
        }
        // alertd's own receiver keys are left out, and so are empty integration lists (as
        // Alertmanager prints them): amtool decodes this text strictly and refuses any key its
        // version does not know.
        if let Some(serde_json::Value::Array(receivers)) = m.get_mut("receivers") {
            for r in receivers.iter_mut().filter_map(|r| r.as_object_mut()) {
                r.retain(|k, v| {
                    k != "ntfy_configs"
                        && k != "fallback"
                        && !(k.ends_with("_configs") && v.as_array().is_some_and(|a| a.is_empty()))
                });
            }
        }
    }
    if let Some(g) = v.get_mut("global").and_then(|g| g.as_object_mut()) {
        for k in model::global::PROMETHEUS_ONLY_KEYS {
            g.remove(k);
        }
    }
    if let Some(m) = v.as_object_mut() {
        if m.get("mute_time_intervals")
            .and_then(|x| x.as_array())
            .is_some_and(|a| a.is_empty())
        {
            m.remove("mute_time_intervals");
        }
    }
    serde_saphyr::to_string(&v).unwrap_or_default()
}

async fn status(State(app): State<Arc<App>>) -> Response {
    let cfg = app.config();
    let body = AlertmanagerStatus {
        cluster: ClusterStatus {
            name: None,
            peers: Vec::new(),
            status: "disabled".into(),
        },
        config: AlertmanagerConfig {
            original: alertmanager_config_yaml(&crate::daemon::effective_notifier_config(
                &cfg.notifier,
            )),
        },
        uptime: api_time(app.started_at()),
        version_info: VersionInfo {
            branch: String::new(),
            build_date: String::new(),
            build_user: "alertd".into(),
            go_version: format!("rust{}", env!("CARGO_PKG_RUST_VERSION")),
            revision: String::new(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
    };
    Json(body).into_response()
}

type Pairs = Query<Vec<(String, String)>>;

fn alert_filter(q: &[(String, String)]) -> Result<AlertFilter, Response> {
    AlertFilter::from_query(q.iter().map(|(k, v)| (k.as_str(), v.as_str()))).map_err(filter_error)
}

async fn get_alerts(State(app): State<Arc<App>>, Query(q): Pairs) -> Result<Response, Response> {
    let n = app.pipeline().notifier();
    let f = alert_filter(&q)?;
    let mut alerts = notifier::api::gettable_alerts(&n.alerts());
    alerts.retain(|a| f.matches(a));
    Ok(Json(alerts).into_response())
}

async fn get_groups(State(app): State<Arc<App>>, Query(q): Pairs) -> Result<Response, Response> {
    let n = app.pipeline().notifier();
    let f = alert_filter(&q)?;
    Ok(Json(notifier::api::alert_groups(n, &f)).into_response())
}

/// `POST /api/v2/alerts`: valid alerts are ingested (on disk before the answer) even when
/// others are refused, as Alertmanager does; any refused alert makes the answer a 400 naming it.
/// A request over `api.limits` is refused whole first ([`limits`]).
async fn post_alerts(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let n = app.pipeline().notifier();
    let parse_error = |e: serde_json::Error| {
        ApiError::am(
            StatusCode::BAD_REQUEST,
            format!("parsing alerts body failed: {e}"),
        )
        .into_response()
    };
    // Each alert separately: one with an invalid label name is refused by itself with a JSON
    // string, as Alertmanager's validation does, not the whole body as malformed.
    let posted: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return parse_error(e),
    };
    let cfg = app.config();
    if let Err(e) = limits::check_count(posted.len(), &cfg.api.limits) {
        return ApiError::am_string(e.status, e.message).into_response();
    }
    let mut errors = Vec::new();
    // The alerts with valid names, and their positions in the request.
    let (mut valid, mut at) = (Vec::with_capacity(posted.len()), Vec::new());
    for (i, v) in posted.into_iter().enumerate() {
        if let Some(e) = invalid_names(&v) {
            errors.push(format!("alert {i}: {e}"));
            continue;
        }
        match serde_json::from_value::<PostableAlert>(v) {
            Ok(p) => {
                valid.push(p);
                at.push(i);
            }
            Err(e) => return parse_error(e),
        }
    }
    if let Err(e) = limits::check_posted(&valid, &cfg.api.limits) {
        return ApiError::am_string(e.status, e.message).into_response();
    }
    let now = app.clock().now_ms();
    let mut alerts = Vec::new();
    for (i, p) in at.into_iter().zip(valid) {
        match p.into_alert(now) {
            Ok(a) => alerts.push(a),
            Err(e) => errors.push(format!("alert {i}: {e}")),
        }
    }
    let resolve_ms = cfg.global.resolve_timeout.as_millis_i64();
    if let Err(e) = app
        .api_alerts()
        .admit(&alerts, now, resolve_ms, cfg.api.limits.api_alerts)
    {
        return ApiError::am_string(e.status, e.message).into_response();
    }
    if !alerts.is_empty() {
        if let Err(e) = n.ingest(alerts) {
            return ApiError::am_string(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing alerts failed: {e}"),
            )
            .into_response();
        }
    }
    if errors.is_empty() {
        StatusCode::OK.into_response()
    } else {
        ApiError::am_string(StatusCode::BAD_REQUEST, errors.join("; ")).into_response()
    }
}

/// Alertmanager's validation message for a posted alert whose label or annotation names are
/// not valid label names (`invalid label set: invalid name "foo-bar"`).
fn invalid_names(v: &serde_json::Value) -> Option<String> {
    for (key, what) in [("labels", "label set"), ("annotations", "annotations")] {
        let bad = v
            .get(key)
            .and_then(|m| m.as_object())
            .and_then(|m| m.keys().find(|k| !model::labels::is_valid_label_name(k)));
        if let Some(name) = bad {
            return Some(format!("invalid {what}: invalid name {name:?}"));
        }
    }
    None
}

/// go-openapi/strfmt's UUID pattern: 32 hex digits in groups of 8-4-4-4-12, the dashes between
/// them optional.
fn is_uuid(id: &str) -> bool {
    let mut rest = id;
    for (i, n) in [8, 4, 4, 4, 12].into_iter().enumerate() {
        if i > 0 {
            rest = rest.strip_prefix('-').unwrap_or(rest);
        }
        match rest.get(..n) {
            Some(g) if g.bytes().all(|b| b.is_ascii_hexdigit()) => rest = &rest[n..],
            _ => return false,
        }
    }
    rest.is_empty()
}

/// The path's silence id is a UUID, as Alertmanager's swagger spec declares it: anything else
/// is refused with 422 and its validation error (code 601) before any lookup.
fn check_silence_id(id: &str) -> Result<(), Response> {
    if is_uuid(id) {
        return Ok(());
    }
    Err(ApiError::am_code(
        StatusCode::UNPROCESSABLE_ENTITY,
        601,
        format!("silenceID in path must be of type uuid: {id:?}"),
    )
    .into_response())
}

async fn get_silences(State(app): State<Arc<App>>, Query(q): Pairs) -> Response {
    let n = app.pipeline().notifier();
    let filter = match parse_filters(
        q.iter()
            .filter(|(k, _)| k == "filter")
            .map(|(_, v)| v.as_str()),
    ) {
        Ok(f) => f,
        Err(e) => return ApiError::am_string(StatusCode::BAD_REQUEST, e.0).into_response(),
    };
    let now = app.clock().now_ms();
    let mut v: Vec<GettableSilence> = n
        .silences()
        .list()
        .iter()
        .map(|s| GettableSilence::new(s, now))
        .filter(|s| silence_matches_filter(s, &filter))
        .collect();
    sort_silences(&mut v);
    Json(v).into_response()
}

/// `POST /api/v2/silences`: creates a silence, or updates the one named by `id` (on disk before
/// the answer).
async fn post_silence(State(app): State<Arc<App>>, body: Bytes) -> Response {
    let n = app.pipeline().notifier();
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return ApiError::am(
                StatusCode::BAD_REQUEST,
                format!("parsing silence body failed: {e}"),
            )
            .into_response()
        }
    };
    if p.matchers.is_empty() {
        return ApiError::am(
            StatusCode::UNPROCESSABLE_ENTITY,
            "matchers in body should have at least 1 items",
        )
        .into_response();
    }
    let s = match p.into_silence() {
        Ok(s) => s,
        Err(e) => return ApiError::am_string(StatusCode::BAD_REQUEST, e.0).into_response(),
    };
    if s.starts_at >= s.ends_at {
        return ApiError::am_string(
            StatusCode::BAD_REQUEST,
            "failed to create silence: start time must be before end time",
        )
        .into_response();
    }
    if s.ends_at < app.clock().now_ms() {
        return ApiError::am_string(
            StatusCode::BAD_REQUEST,
            "failed to create silence: end time can't be in the past",
        )
        .into_response();
    }
    match n.silences().set(s) {
        Ok(id) => Json(PostSilenceResponse { silence_id: id }).into_response(),
        Err(e) => silence_error(e),
    }
}

fn silence_error(e: SilenceError) -> Response {
    let status = match &e {
        SilenceError::NotFound(_) => StatusCode::NOT_FOUND,
        SilenceError::AlreadyExpired(_) | SilenceError::Invalid(_) | SilenceError::Limit(_) => {
            StatusCode::BAD_REQUEST
        }
        SilenceError::Storage(_) | SilenceError::Corrupt(..) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::am_string(status, e.to_string()).into_response()
}

async fn get_silence(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let n = app.pipeline().notifier();
    if let Err(r) = check_silence_id(&id) {
        return r;
    }
    match n.silences().get(&id) {
        Some(s) => Json(GettableSilence::new(&s, app.clock().now_ms())).into_response(),
        None => silence_error(SilenceError::NotFound(id)),
    }
}

/// `DELETE /api/v2/silence/{id}`: expires the silence (kept in the list as expired); 404 for
/// an unknown id.
async fn delete_silence(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let n = app.pipeline().notifier();
    if let Err(r) = check_silence_id(&id) {
        return r;
    }
    match n.silences().expire(&id) {
        // Expiring an expired silence succeeds, as in Alertmanager 0.25.
        Ok(()) | Err(SilenceError::AlreadyExpired(_)) => StatusCode::OK.into_response(),
        Err(e) => silence_error(e),
    }
}

async fn receivers(State(app): State<Arc<App>>) -> Response {
    let n = app.pipeline().notifier();
    let v: Vec<ReceiverRef> = n
        .receiver_names()
        .into_iter()
        .map(|name| ReceiverRef { name })
        .collect();
    Json(v).into_response()
}
