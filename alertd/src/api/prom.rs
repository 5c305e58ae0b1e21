//! The Prometheus HTTP API subset that Grafana's Prometheus data source and `promtool query`
//! use: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`,
//! `/api/v1/label/{name}/values`, `/api/v1/rules`, `/api/v1/alerts`,
//! `/api/v1/status/buildinfo` and `/api/v1/metadata`.
//!
//! Shapes follow Prometheus 2.42: the envelope `{"status":"success","data":...}` or
//! `{"status":"error","errorType":"bad_data","error":"..."}` (`bad_data` 400, `execution` 422,
//! `timeout` 503, `not_found` 404, `internal` 500); parameters come from the URL and, for POST,
//! from a form-encoded body (body values first, as Go's `Request.FormValue` reads them); times are
//! RFC 3339 or Unix seconds, durations Prometheus durations or float seconds; sample values are
//! strings formatted as Prometheus formats them (`NaN`, `+Inf`, `1e-07`).

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, MethodRouter};
use axum::Router;
use evaluator::promql::{self, Value};
use model::{Labels, Matcher, Timestamp};
use serde_json::{json, Map, Value as Json};

use crate::daemon::App;

/// The most points a range query may return per series (as Prometheus).
pub(crate) const MAX_POINTS: i64 = 11_000;
/// The query timeout when the request gives none (Prometheus's `--query.timeout` default).
pub(crate) const DEFAULT_TIMEOUT_MS: i64 = 120_000;
/// Earliest time a request may name (Prometheus's `minTime`, in ms).
const MIN_TIME: Timestamp = -9_223_309_901_257_974;
/// Latest time a request may name (Prometheus's `maxTime`, in ms).
const MAX_TIME: Timestamp = 9_223_309_901_257_974;
/// How clients (client_golang) spell the minimum and maximum times.
const MIN_TIME_TEXT: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_TEXT: &str = "292277025-08-18T07:12:54.999999999Z";

/// The routes, to be merged into the daemon's router.
pub(crate) fn router() -> Router<Arc<App>> {
    let read = |m: MethodRouter<Arc<App>>| m.fallback(method_not_allowed);
    Router::new()
        .route("/api/v1/query", read(get(query).post(query)))
        .route(
            "/api/v1/query_range",
            read(get(query_range).post(query_range)),
        )
        .route("/api/v1/series", read(get(series).post(series)))
        .route("/api/v1/labels", read(get(labels).post(labels)))
        .route("/api/v1/label/{name}/values", read(get(label_values)))
        .route("/api/v1/rules", read(get(rules)))
        .route("/api/v1/alerts", read(get(alerts)))
        .route("/api/v1/status/buildinfo", read(get(buildinfo)))
        .route("/api/v1/metadata", read(get(metadata)))
        .route("/api/v1/{*rest}", any(unknown_endpoint))
}

// ---------------------------------------------------------------------------------------------
// Envelope and errors

/// Prometheus's error types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorType {
    /// A parameter is missing or malformed (400).
    BadData,
    /// The query failed while it ran (422).
    Execution,
    /// The query ran longer than its timeout (503).
    Timeout,
    /// No such endpoint (404).
    NotFound,
    /// The store failed (500).
    Internal,
}

impl ErrorType {
    fn name(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::NotFound => "not_found",
            ErrorType::Internal => "internal",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error of the Prometheus API, answered in its envelope by [`super::error::ApiError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    kind: ErrorType,
    status: Option<StatusCode>,
    message: String,
}

impl ApiError {
    fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            status: None,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(ErrorType::BadData, message)
    }

    /// `invalid parameter "name": why`, as Prometheus words a bad parameter.
    fn param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad(format!("invalid parameter {name:?}: {why}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| self.kind.status());
        super::error::ApiError::prometheus(status, self.kind.name(), self.message).into_response()
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `{"status":"success","data":<data>}` around already encoded JSON.
fn success(data: &str) -> Response {
    json_response(
        StatusCode::OK,
        format!("{{\"status\":\"success\",\"data\":{data}}}"),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError {
        status: Some(StatusCode::METHOD_NOT_ALLOWED),
        ..ApiError::bad(format!("method {method} is not allowed for {}", uri.path()))
    }
}

async fn unknown_endpoint(uri: Uri) -> ApiError {
    ApiError::new(
        ErrorType::NotFound,
        format!("unknown API endpoint {}", uri.path()),
    )
}

// ---------------------------------------------------------------------------------------------
// Parameters

/// Request parameters: a POST's form-encoded body first, then the URL's query string.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `query` (a URL query string) and, when `form` is set, a form-encoded body.
    pub fn parse(query: Option<&str>, form: Option<&[u8]>) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(body) = form {
            pairs = serde_urlencoded::from_bytes(body)
                .map_err(|e| ApiError::bad(format!("cannot parse the form body: {e}")))?;
        }
        if let Some(q) = query {
            let url: Vec<(String, String)> = serde_urlencoded::from_str(q)
                .map_err(|e| ApiError::bad(format!("cannot parse the query string: {e}")))?;
            pairs.extend(url);
        }
        Ok(Params(pairs))
    }

    /// The first value of `name`, if given and not empty (as Go's `FormValue`).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every value of `name`.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let query = req.uri().query().map(str::to_string);
        let is_form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| {
                    v.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded")
                });
        let body = if is_form {
            Some(
                Bytes::from_request(req, state)
                    .await
                    .map_err(|e| ApiError::bad(format!("cannot read the request body: {e}")))?,
            )
        } else {
            None
        };
        Params::parse(query.as_deref(), body.as_deref())
    }
}

/// Parses a time as Prometheus does: Unix seconds (fractions rounded to ms) or RFC 3339.
pub(crate) fn parse_time(s: &str) -> Result<Timestamp, String> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            let ms = (f * 1000.0).round();
            if ms >= MIN_TIME as f64 && ms <= MAX_TIME as f64 {
                return Ok(ms as i64);
            }
        }
    }
    if s == MIN_TIME_TEXT {
        return Ok(MIN_TIME);
    }
    if s == MAX_TIME_TEXT {
        return Ok(MAX_TIME);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    Err(format!("cannot parse {s:?} to a valid timestamp"))
}

/// Parses a duration as Prometheus does: float seconds or a Prometheus duration (`5m`, `1h30m`).
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            let ms = f * 1000.0;
            if ms.abs() > (i64::MAX / 1_000_000) as f64 {
                return Err(format!(
                    "cannot parse {s:?} to a valid duration. It overflows int64"
                ));
            }
            return Ok(ms as i64);
        }
    }
    s.parse::<model::Duration>()
        .map(model::Duration::as_millis_i64)
        .map_err(|_| format!("cannot parse {s:?} to a valid duration"))
}

fn time_param(p: &Params, name: &str, default: Timestamp) -> Result<Timestamp, ApiError> {
    match p.get(name) {
        None => Ok(default),
        Some(s) => parse_time(s).map_err(|e| ApiError::param(name, e)),
    }
}

/// The query timeout: `timeout` if given (at most the default), otherwise the default.
fn timeout_param(p: &Params) -> Result<i64, ApiError> {
    match p.get("timeout") {
        None => Ok(DEFAULT_TIMEOUT_MS),
        Some(s) => {
            let ms = parse_duration(s).map_err(|e| ApiError::param("timeout", e))?;
            Ok(ms.min(DEFAULT_TIMEOUT_MS))
        }
    }
}

fn parse_query(p: &Params) -> Result<promql_parser::parser::Expr, ApiError> {
    let text = p.get("query").unwrap_or("");
    promql::parse_expr(text).map_err(|e| match e {
        promql::ParseError::Syntax(m) => ApiError::param("query", format!("parse error: {m}")),
        other => ApiError::param("query", other),
    })
}

/// The matchers of every `match[]` (each a series selector). Like Prometheus, a selector must
/// have at least one matcher that does not match the empty string.
pub fn match_params(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut out = Vec::new();
    for m in p.all("match[]") {
        let ms = promql::parse_series_selector(m).map_err(|e| match e {
            promql::ParseError::Syntax(m) => ApiError::param("match[]", m),
            other => ApiError::param("match[]", other),
        })?;
        if ms.iter().all(Matcher::matches_empty) {
            return Err(ApiError::param(
                "match[]",
                "match[] must contain at least one non-empty matcher",
            ));
        }
        out.push(ms);
    }
    Ok(out)
}

/// Runs `f` on the blocking pool, giving up after `timeout_ms`.
async fn run_blocking<T: Send + 'static>(
    timeout_ms: i64,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let timed_out = || {
        ApiError::new(
            ErrorType::Timeout,
            "query timed out in expression evaluation",
        )
    };
    // As in Prometheus, a zero or negative timeout has expired before the query starts.
    if timeout_ms <= 0 {
        return Err(timed_out());
    }
    let wait = std::time::Duration::from_millis(u64::try_from(timeout_ms).unwrap_or(0));
    match tokio::time::timeout(wait, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ApiError::new(
            ErrorType::Internal,
            format!("query failed: {e}"),
        )),
        Err(_) => Err(timed_out()),
    }
}

fn eval_error(e: promql::EvalError) -> ApiError {
    match e {
        promql::EvalError::Execution(m) => ApiError::new(ErrorType::Execution, m),
        promql::EvalError::Storage(s) => ApiError::new(ErrorType::Internal, s.to_string()),
        u @ promql::EvalError::Unsupported(_) => ApiError::bad(u.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Formatting as Prometheus does

/// A sample value as Prometheus's API writes it (`jsonutil.MarshalValue`): Go's shortest
/// decimal form, exponent form below 1e-6 and from 1e21, `NaN`, `+Inf`, `-Inf`.
pub(crate) fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        model::gofmt::format_e(v, None)
    } else {
        format!("{v}")
    }
}

/// A timestamp in seconds as Prometheus writes sample times (`jsonutil.MarshalTimestamp`):
/// integer seconds, or exactly three decimals.
fn write_timestamp(out: &mut String, t: Timestamp) {
    if t < 0 {
        out.push('-');
    }
    let a = t.unsigned_abs();
    let _ = write!(out, "{}", a / 1000);
    let frac = a % 1000;
    if frac != 0 {
        let _ = write!(out, ".{frac:03}");
    }
}

/// Seconds as Go's `encoding/json` writes a float64 (scalar and string results).
fn seconds_float(t: Timestamp) -> String {
    format!("{}", t as f64 / 1000.0)
}

/// RFC 3339 as Go marshals a `time.Time` (`model::gofmt::rfc3339`); Go's zero time when unset.
fn rfc3339(t: Option<Timestamp>) -> String {
    t.map_or_else(|| model::gofmt::GO_ZERO_TIME.into(), model::gofmt::rfc3339)
}

fn write_labels(out: &mut String, l: &Labels) {
    out.push('{');
    for (i, lb) in l.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Json::from(lb.name.as_str()).to_string());
        out.push(':');
        out.push_str(&Json::from(lb.value.as_str()).to_string());
    }
    out.push('}');
}

fn write_point(out: &mut String, t: Timestamp, v: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push_str(",\"");
    out.push_str(&format_value(v));
    out.push_str("\"]");
}

/// `{"resultType":...,"result":...}` for a query result.
pub(crate) fn encode_result(v: &Value) -> String {
    let mut out = String::with_capacity(256);
    let _ = write!(out, "{{\"resultType\":\"{}\",\"result\":", v.type_name());
    match v {
        Value::Scalar { t, v } => {
            let _ = write!(out, "[{},\"{}\"]", seconds_float(*t), format_value(*v));
        }
        Value::String { t, v } => {
            let _ = write!(out, "[{},{}]", seconds_float(*t), Json::from(v.as_str()));
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"value\":");
                write_point(&mut out, s.t, s.v);
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push('[');
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("{\"metric\":");
                write_labels(&mut out, &s.labels);
                out.push_str(",\"values\":[");
                for (j, p) in s.samples.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    write_point(&mut out, p.t, p.v);
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// A float that is a whole number as a JSON integer (as Go writes `3600`), otherwise a float.
fn num(v: f64) -> Json {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Json::from(v as i64)
    } else {
        Json::from(v)
    }
}

fn labels_json(l: &Labels) -> Json {
    Json::Object(
        l.iter()
            .map(|lb| (lb.name.clone(), Json::from(lb.value.as_str())))
            .collect(),
    )
}

fn map_json(m: &std::collections::BTreeMap<String, String>) -> Json {
    Json::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
            .collect(),
    )
}

fn state_name(s: model::AlertState) -> &'static str {
    match s {
        model::AlertState::Inactive => "inactive",
        model::AlertState::Pending => "pending",
        model::AlertState::Firing => "firing",
    }
}

/// Pending and firing alerts only (resolved ones kept for re-sending are not active).
fn active(alerts: &[evaluator::ActiveAlert]) -> impl Iterator<Item = &evaluator::ActiveAlert> {
    alerts
        .iter()
        .filter(|a| a.state != model::AlertState::Inactive)
}

fn alert_json(a: &evaluator::ActiveAlert) -> Json {
    let mut m = Map::new();
    m.insert("labels".into(), labels_json(&a.labels));
    m.insert("annotations".into(), labels_json(&a.annotations));
    m.insert("state".into(), state_name(a.state).into());
    m.insert("activeAt".into(), rfc3339(Some(a.active_at)).into());
    if let Some(k) = a.keep_firing_since {
        m.insert("keepFiringSince".into(), rfc3339(Some(k)).into());
    }
    m.insert("value".into(), model::gofmt::format_e(a.value, None).into());
    Json::Object(m)
}

fn rule_json(r: &evaluator::RuleStatus) -> Json {
    let mut m = Map::new();
    m.insert("name".into(), r.name.clone().into());
    m.insert("query".into(), r.query.clone().into());
    m.insert(
        "health".into(),
        serde_json::to_value(r.health).unwrap_or_default(),
    );
    if !r.last_error.is_empty() {
        m.insert("lastError".into(), r.last_error.clone().into());
    }
    m.insert("evaluationTime".into(), num(r.evaluation_seconds));
    m.insert("lastEvaluation".into(), rfc3339(r.last_evaluation).into());
    if r.kind == "alerting" {
        let alerts: Vec<&evaluator::ActiveAlert> = active(&r.alerts).collect();
        let state = if alerts.iter().any(|a| a.state == model::AlertState::Firing) {
            "firing"
        } else if alerts.is_empty() {
            "inactive"
        } else {
            "pending"
        };
        m.insert("state".into(), state.into());
        m.insert("duration".into(), num(r.duration_seconds));
        m.insert("keepFiringFor".into(), num(r.keep_firing_for_seconds));
        m.insert("labels".into(), map_json(&r.labels));
        m.insert("annotations".into(), map_json(&r.annotations));
        m.insert(
            "alerts".into(),
            Json::Array(alerts.into_iter().map(alert_json).collect()),
        );
        m.insert("type".into(), "alerting".into());
    } else {
        if !r.labels.is_empty() {
            m.insert("labels".into(), map_json(&r.labels));
        }
        m.insert("type".into(), "recording".into());
    }
    Json::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// An instant query's parameters: the expression, its evaluation time (default `now`) and the
/// timeout (ms).
pub fn instant_params(
    p: &Params,
    now: Timestamp,
) -> Result<(promql_parser::parser::Expr, Timestamp, i64), ApiError> {
    let t = match p.get("time") {
        None => now,
        Some(s) => parse_time(s)
            .map_err(|e| ApiError::param("time", format!("Invalid time value for 'time': {e}")))?,
    };
    let timeout = timeout_param(p)?;
    let expr = parse_query(p)?;
    Ok((expr, t, timeout))
}

/// A range query's parameters (as Prometheus checks them).
#[derive(Debug)]
pub struct RangeParams {
    /// The expression (scalar or instant vector).
    pub expr: promql_parser::parser::Expr,
    /// First evaluation time (ms).
    pub start: Timestamp,
    /// Last evaluation time (ms).
    pub end: Timestamp,
    /// Resolution (ms, positive).
    pub step: i64,
    /// Timeout (ms).
    pub timeout: i64,
}

/// A range query's parameters, checked as Prometheus checks them.
pub fn range_params_of(p: &Params) -> Result<RangeParams, ApiError> {
    let start =
        parse_time(p.get("start").unwrap_or("")).map_err(|e| ApiError::param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or("")).map_err(|e| ApiError::param("end", e))?;
    if end < start {
        return Err(ApiError::param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step =
        parse_duration(p.get("step").unwrap_or("")).map_err(|e| ApiError::param("step", e))?;
    if step <= 0 {
        return Err(ApiError::param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus divides whole seconds here (time.Duration / time.Duration).
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = timeout_param(p)?;
    let expr = parse_query(p)?;
    let vt = expr.value_type();
    if !matches!(
        vt,
        promql_parser::parser::value::ValueType::Scalar
            | promql_parser::parser::value::ValueType::Vector
    ) {
        let name = match vt {
            promql_parser::parser::value::ValueType::Matrix => "range vector",
            _ => "string",
        };
        return Err(ApiError::bad(format!(
            "invalid expression type {name:?} for range query, must be Scalar or instant Vector"
        )));
    }
    Ok(RangeParams {
        expr,
        start,
        end,
        step,
        timeout,
    })
}

/// The query's answer body, `{"status":"success","data":...}` (or its error).
pub fn evaluate_instant(
    store: &dyn model::storage::SeriesStore,
    expr: &promql_parser::parser::Expr,
    t: Timestamp,
    opts: promql::QueryOptions,
) -> Result<String, ApiError> {
    let v = promql::instant_query_with(store, expr, t, opts).map_err(eval_error)?;
    Ok(encode_result(&v))
}

/// The range query's answer data.
pub fn evaluate_range(
    store: &dyn model::storage::SeriesStore,
    r: &RangeParams,
    opts: promql::QueryOptions,
) -> Result<String, ApiError> {
    let v = promql::range_query_with(store, &r.expr, r.start, r.end, r.step, opts)
        .map_err(eval_error)?;
    Ok(encode_result(&v))
}

/// How the API evaluates: subqueries without a step use `global.evaluation_interval`, as in
/// Prometheus.
pub(crate) fn query_options(app: &App) -> promql::QueryOptions {
    promql::QueryOptions {
        subquery_step_ms: app.config().global.evaluation_interval.as_millis_i64(),
    }
}

async fn query(State(app): State<Arc<App>>, p: Params) -> Result<Response, ApiError> {
    let (expr, t, timeout) = instant_params(&p, app.clock().now_ms())?;
    let store = app.pipeline().store().clone();
    let opts = query_options(&app);
    let data = run_blocking(timeout, move || evaluate_instant(&store, &expr, t, opts)).await??;
    Ok(success(&data))
}

async fn query_range(State(app): State<Arc<App>>, p: Params) -> Result<Response, ApiError> {
    let r = range_params_of(&p)?;
    let store = app.pipeline().store().clone();
    let opts = query_options(&app);
    let data = run_blocking(r.timeout, move || evaluate_range(&store, &r, opts)).await??;
    Ok(success(&data))
}

/// Labels of the series matching any of `sets`: from the index, or, when the request limits
/// the time range, the series with samples in `[start, end]`.
fn matching_series(
    store: &store::Store,
    sets: &[Vec<Matcher>],
    range: Option<(Timestamp, Timestamp)>,
) -> Result<Vec<Labels>, ApiError> {
    let mut out = std::collections::BTreeSet::new();
    for ms in sets {
        match range {
            None => out.extend(store.series(ms)),
            Some((start, end)) => {
                let found = model::storage::SeriesStore::select(store, ms, start, end)
                    .map_err(|e| ApiError::new(ErrorType::Internal, e.to_string()))?;
                out.extend(found.into_iter().map(|s| s.labels));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// `start`/`end` when the request gives either (validated), else `None` (the whole store).
fn range_params(p: &Params) -> Result<Option<(Timestamp, Timestamp)>, ApiError> {
    let start = time_param(p, "start", MIN_TIME)?;
    let end = time_param(p, "end", MAX_TIME)?;
    if p.get("start").is_none() && p.get("end").is_none() {
        return Ok(None);
    }
    Ok(Some((start, end)))
}

async fn series(State(app): State<Arc<App>>, p: Params) -> Result<Response, ApiError> {
    if p.all("match[]").is_empty() {
        return Err(ApiError::bad("no match[] parameter provided"));
    }
    let range = range_params(&p)?;
    let sets = match_params(&p)?;
    let store = app.pipeline().store().clone();
    let found = run_blocking(DEFAULT_TIMEOUT_MS, move || {
        matching_series(&store, &sets, range)
    })
    .await??;
    let mut out = String::from("[");
    for (i, l) in found.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_labels(&mut out, l);
    }
    out.push(']');
    Ok(success(&out))
}

async fn labels(State(app): State<Arc<App>>, p: Params) -> Result<Response, ApiError> {
    let range = range_params(&p)?;
    let sets = match_params(&p)?;
    let store = app.pipeline().store().clone();
    let names = run_blocking(DEFAULT_TIMEOUT_MS, move || {
        if sets.is_empty() {
            return Ok(store.label_names());
        }
        let found = matching_series(&store, &sets, range)?;
        let names: std::collections::BTreeSet<String> = found
            .iter()
            .flat_map(|l| l.iter().map(|lb| lb.name.clone()))
            .collect();
        Ok(names.into_iter().collect())
    })
    .await??;
    Ok(success(&Json::from(names).to_string()))
}

async fn label_values(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    if !model::labels::is_valid_label_name(&name) {
        return Err(ApiError::bad(format!("invalid label name: {name:?}")));
    }
    let range = range_params(&p)?;
    let sets = match_params(&p)?;
    let store = app.pipeline().store().clone();
    let values = run_blocking(DEFAULT_TIMEOUT_MS, move || {
        if sets.is_empty() {
            return Ok(store.label_values(&name));
        }
        let found = matching_series(&store, &sets, range)?;
        let values: std::collections::BTreeSet<String> = found
            .iter()
            .filter_map(|l| l.get(&name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    })
    .await??;
    Ok(success(&Json::from(values).to_string()))
}

async fn rules(State(app): State<Arc<App>>, p: Params) -> Result<Response, ApiError> {
    let typ = p.get("type").unwrap_or("").to_ascii_lowercase();
    if !matches!(typ.as_str(), "" | "alert" | "record") {
        return Err(ApiError::param(
            "type",
            format!("not supported value {typ:?}"),
        ));
    }
    let names = p.all("rule_name[]");
    let group_names = p.all("rule_group[]");
    let files = p.all("file[]");
    let mut groups = Vec::new();
    for g in app.pipeline().rule_groups() {
        if (!group_names.is_empty() && !group_names.contains(&g.name.as_str()))
            || (!files.is_empty() && !files.contains(&g.file.as_str()))
        {
            continue;
        }
        let rules: Vec<Json> = g
            .rules
            .iter()
            .filter(|r| match typ.as_str() {
                "alert" => r.kind == "alerting",
                "record" => r.kind == "recording",
                _ => true,
            })
            .filter(|r| names.is_empty() || names.contains(&r.name.as_str()))
            .map(rule_json)
            .collect();
        if rules.is_empty() && !(typ.is_empty() && names.is_empty()) {
            continue;
        }
        groups.push(json!({
            "name": g.name,
            "file": g.file,
            "rules": rules,
            "interval": num(g.interval_seconds),
            "limit": g.limit,
            "evaluationTime": num(g.evaluation_seconds),
            "lastEvaluation": rfc3339(g.last_evaluation),
        }));
    }
    Ok(success(&json!({ "groups": groups }).to_string()))
}

async fn alerts(State(app): State<Arc<App>>) -> Response {
    let list: Vec<Json> = app
        .pipeline()
        .rule_groups()
        .iter()
        .flat_map(|g| g.rules.iter())
        .flat_map(|r| active(&r.alerts))
        .map(alert_json)
        .collect();
    success(&json!({ "alerts": list }).to_string())
}

async fn buildinfo() -> Response {
    let data = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    success(&data.to_string())
}

/// alertd keeps no HELP/TYPE metadata: the answer is always empty (Grafana asks for it).
async fn metadata(_p: Params) -> Response {
    success("{}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_formatted_as_prometheus_does() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (1e-7, "1e-07"),
            (1.2345678901234569e23, "1.2345678901234569e+23"),
            (1e20, "100000000000000000000"),
            (0.000001, "0.000001"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (1_795_418_413.0, "1795418413"),
        ] {
            assert_eq!(format_value(v), want, "{v}");
        }
        assert_eq!(model::gofmt::format_e(0.0, None), "0e+00");
        assert_eq!(model::gofmt::format_e(1500.0, None), "1.5e+03");
        assert_eq!(model::gofmt::format_e(-1e-300, None), "-1e-300");
        assert_eq!(model::gofmt::format_e(f64::INFINITY, None), "+Inf");
    }

    #[test]
    fn timestamps_are_formatted_as_prometheus_does() {
        let mut s = String::new();
        write_timestamp(&mut s, 1_795_418_398_750);
        assert_eq!(s, "1795418398.750");
        s.clear();
        write_timestamp(&mut s, 1_795_418_409_000);
        assert_eq!(s, "1795418409");
        s.clear();
        write_timestamp(&mut s, -1_005);
        assert_eq!(s, "-1.005");
        assert_eq!(seconds_float(1_795_418_400_800), "1795418400.8");
        assert_eq!(seconds_float(1_500), "1.5");
        assert_eq!(rfc3339(Some(1_795_418_396_150)), "2026-11-23T07:19:56.15Z");
        assert_eq!(rfc3339(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn times_and_durations_parse_as_in_prometheus() {
        assert_eq!(parse_time("1.5"), Ok(1_500));
        assert_eq!(parse_time("1795418400.7815"), Ok(1_795_418_400_782));
        assert_eq!(parse_time("2026-11-23T07:00:00Z"), Ok(1_795_417_200_000));
        assert_eq!(
            parse_time("2026-11-23T08:00:00.5+01:00"),
            Ok(1_795_417_200_500)
        );
        assert_eq!(parse_time(MAX_TIME_TEXT), Ok(MAX_TIME));
        assert_eq!(
            parse_time("abc").unwrap_err(),
            "cannot parse \"abc\" to a valid timestamp"
        );
        assert!(parse_time("NaN").is_err());
        assert!(parse_time("").is_err());
        assert_eq!(parse_duration("15"), Ok(15_000));
        assert_eq!(parse_duration("0.5"), Ok(500));
        assert_eq!(parse_duration("1m30s"), Ok(90_000));
        assert_eq!(parse_duration("100ms"), Ok(100));
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            "cannot parse \"abc\" to a valid duration"
        );
        assert!(parse_duration("1e300").unwrap_err().contains("overflows"));
    }

    #[test]
    fn params_take_the_body_first_and_repeat() {
        let p = Params::parse(
            Some("query=url&match[]=a&time="),
            Some(b"query=body&match%5B%5D=b"),
        )
        .unwrap();
        assert_eq!(p.get("query"), Some("body"));
        assert_eq!(p.all("match[]"), ["b", "a"]);
        assert_eq!(p.get("time"), None, "empty values count as absent");
        assert!(Params::parse(Some("a=%zz"), None).is_ok());
    }

    #[test]
    fn results_encode_in_prometheus_shapes() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        let v = Value::Vector(vec![promql::InstantSample {
            labels: l.clone(),
            t: 1_000_500,
            v: 1.0,
        }]);
        assert_eq!(
            encode_result(&v),
            r#"{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1000.500,"1"]}]}"#
        );
        let m = Value::Matrix(vec![promql::RangeSeries {
            labels: l,
            samples: vec![
                model::Sample::new(0, f64::NAN),
                model::Sample::new(15_000, 2.0),
            ],
        }]);
        assert_eq!(
            encode_result(&m),
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"up","job":"a\"b"},"values":[[0,"NaN"],[15,"2"]]}]}"#
        );
        assert_eq!(
            encode_result(&Value::Scalar {
                t: 1_500,
                v: f64::INFINITY
            }),
            r#"{"resultType":"scalar","result":[1.5,"+Inf"]}"#
        );
        assert_eq!(
            encode_result(&Value::String {
                t: 2_000,
                v: "s".into()
            }),
            r#"{"resultType":"string","result":[2,"s"]}"#
        );
        assert_eq!(
            encode_result(&Value::Vector(vec![])),
            r#"{"resultType":"vector","result":[]}"#
        );
    }
}
