//! The HTTP API's wire format, shared by `alertd` (server) and `alertctl` (client): the
//! Alertmanager API v2 shapes (so `amtool` and Prometheus work against alertd), the filters of
//! its list endpoints, and the DTOs of alertd's own API under `/api/alertd/v1/`. Serde only, no
//! IO.

use serde::{Deserialize, Serialize};

pub mod oncall;

use crate::{Alert, Labels, MatchOp, Matcher, Matchers, Silence, Timestamp};

mod report;
pub use report::{
    fmt_num, AlertFatigue, FatigueReport, HourNoise, ReceiverNoise, CSV_HEADER as REPORT_CSV_HEADER,
};

/// Why an API input was refused (the message names the problem).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub String);

/// Go's zero time as Alertmanager prints it for unset times.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Parses an RFC 3339 time to ms; Go's zero time (and the empty string) mean unset.
pub fn parse_time(s: &str) -> Result<Option<Timestamp>, ApiError> {
    if s.is_empty() || s.starts_with("0001-01-01") {
        return Ok(None);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|e| ApiError(format!("invalid time {s:?}: {e}")))
}

/// Alertmanager's API prints times with milliseconds (`2026-11-22T11:15:45.000Z`).
pub fn api_time(ms: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || GO_ZERO_TIME.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

// ---------------------------------------------------------------------------------------------
// Alertmanager API v2
// ---------------------------------------------------------------------------------------------

/// An alert as posted to `POST /api/v2/alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostableAlert {
    /// Identifying labels.
    pub labels: Labels,
    /// Annotations.
    #[serde(default)]
    pub annotations: Labels,
    /// Start (RFC 3339); defaults as in Alertmanager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// End (RFC 3339); unset means "resolve after resolve_timeout unless sent again".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Source link.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
}

impl PostableAlert {
    /// The alert to ingest, with Alertmanager's defaults: no start means the end (if given) or
    /// now. Refuses alerts without labels or with the end before the start.
    pub fn into_alert(self, now: Timestamp) -> Result<Alert, ApiError> {
        if self.labels.is_empty() {
            return Err(ApiError("at least one label pair required".into()));
        }
        let ends_at = parse_time(self.ends_at.as_deref().unwrap_or(""))?;
        let starts_at = parse_time(self.starts_at.as_deref().unwrap_or(""))?
            .or(ends_at)
            .unwrap_or(now);
        if ends_at.is_some_and(|e| e < starts_at) {
            return Err(ApiError("start time must be before end time".into()));
        }
        Ok(Alert {
            labels: self.labels,
            annotations: self.annotations,
            starts_at,
            ends_at,
            generator_url: self.generator_url,
        })
    }
}

/// A receiver reference in API output (also an item of `GET /api/v2/receivers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverRef {
    /// Receiver name.
    pub name: String,
}

/// An alert's status in API output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertStatus {
    /// Fingerprints of inhibiting alerts.
    pub inhibited_by: Vec<String>,
    /// Ids of muting silences.
    pub silenced_by: Vec<String>,
    /// `active`, `suppressed` or `unprocessed`.
    pub state: String,
}

/// An acknowledgement of a firing alert (alertd's extension; persisted by the notifier in this
/// form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The alert's fingerprint (16 hex digits).
    pub fingerprint: String,
    /// Who acknowledged.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When (ms).
    pub at: Timestamp,
}

/// An alert as `GET /api/v2/alerts` returns it (plus alertd's `ack`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableAlert {
    /// Annotations.
    pub annotations: Labels,
    /// End (RFC 3339 with milliseconds).
    pub ends_at: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Receivers.
    pub receivers: Vec<ReceiverRef>,
    /// Start.
    pub starts_at: String,
    /// Status.
    pub status: AlertStatus,
    /// Last update.
    pub updated_at: String,
    /// Source link.
    #[serde(rename = "generatorURL", default)]
    pub generator_url: String,
    /// Labels.
    pub labels: Labels,
    /// alertd's acknowledgement, when acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<Ack>,
}

/// An alert group as `GET /api/v2/alerts/groups` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertGroup {
    /// Its alerts (Alertmanager's order: by `job`, `instance`, then labels).
    pub alerts: Vec<GettableAlert>,
    /// Group labels.
    pub labels: Labels,
    /// The route's receiver.
    pub receiver: ReceiverRef,
}

/// A matcher in Alertmanager's API form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiMatcher {
    /// `=`/`=~` when true, `!=`/`!~` when false (default true).
    #[serde(default = "yes")]
    pub is_equal: bool,
    /// Regex operator.
    pub is_regex: bool,
    /// Label name.
    pub name: String,
    /// Value or regex.
    pub value: String,
}

fn yes() -> bool {
    true
}

impl From<&Matcher> for ApiMatcher {
    fn from(m: &Matcher) -> Self {
        ApiMatcher {
            is_equal: m.op.is_equal(),
            is_regex: m.op.is_regex(),
            name: m.name.clone(),
            value: m.value.clone(),
        }
    }
}

impl ApiMatcher {
    /// The matcher (the regex compiled).
    pub fn to_matcher(&self) -> Result<Matcher, ApiError> {
        let op = MatchOp::from_flags(self.is_regex, self.is_equal);
        Matcher::new(self.name.clone(), op, self.value.clone()).map_err(|e| ApiError(e.to_string()))
    }
}

/// A silence as `GET /api/v2/silences` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GettableSilence {
    /// Id.
    pub id: String,
    /// `{ "state": "active" }`.
    pub status: SilenceStatus,
    /// Last update.
    pub updated_at: String,
    /// Comment.
    pub comment: String,
    /// Author.
    pub created_by: String,
    /// End.
    pub ends_at: String,
    /// Matchers.
    pub matchers: Vec<ApiMatcher>,
    /// Start.
    pub starts_at: String,
}

/// A silence's state in API output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceStatus {
    /// `pending`, `active` or `expired`.
    pub state: String,
}

impl GettableSilence {
    /// The API form of `s` at `now`.
    pub fn new(s: &Silence, now: Timestamp) -> Self {
        GettableSilence {
            id: s.id.clone(),
            status: SilenceStatus {
                state: match s.state_at(now) {
                    crate::SilenceState::Pending => "pending",
                    crate::SilenceState::Active => "active",
                    crate::SilenceState::Expired => "expired",
                }
                .into(),
            },
            updated_at: api_time(s.updated_at),
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            ends_at: api_time(s.ends_at),
            matchers: s.matchers.iter().map(ApiMatcher::from).collect(),
            starts_at: api_time(s.starts_at),
        }
    }

    /// The matchers in amtool's form: `alertname="X" instance=~"a|b"`.
    pub fn matchers_text(&self) -> String {
        self.matchers
            .iter()
            .map(|m| match m.to_matcher() {
                Ok(m) => m.to_string(),
                Err(_) => format!("{}?{:?}", m.name, m.value),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Orders silences as Alertmanager lists them: active ones first (ending soonest first), then
/// pending ones (starting soonest first), then expired ones (ended most recently first).
pub fn sort_silences(v: &mut [GettableSilence]) {
    fn rank(s: &GettableSilence) -> u8 {
        match s.status.state.as_str() {
            "active" => 0,
            "pending" => 1,
            _ => 2,
        }
    }
    // The times are all printed by `api_time`, so they compare as strings.
    v.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| match rank(a) {
            0 => a.ends_at.cmp(&b.ends_at),
            1 => a.starts_at.cmp(&b.starts_at),
            _ => b.ends_at.cmp(&a.ends_at),
        })
    });
}

/// A silence as posted to `POST /api/v2/silences` (with `id` to edit one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostableSilence {
    /// Id of the silence to edit; absent to create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Matchers.
    pub matchers: Vec<ApiMatcher>,
    /// Start.
    pub starts_at: String,
    /// End.
    pub ends_at: String,
    /// Author.
    pub created_by: String,
    /// Comment.
    pub comment: String,
}

impl PostableSilence {
    /// The silence to store (the id empty when creating).
    pub fn into_silence(self) -> Result<Silence, ApiError> {
        let mut ms = Vec::new();
        for m in &self.matchers {
            ms.push(m.to_matcher()?);
        }
        let t = |s: &str| -> Result<Timestamp, ApiError> {
            parse_time(s)?.ok_or_else(|| ApiError(format!("missing time {s:?}")))
        };
        Ok(Silence {
            id: self.id.unwrap_or_default(),
            matchers: Matchers(ms),
            starts_at: t(&self.starts_at)?,
            ends_at: t(&self.ends_at)?,
            updated_at: 0,
            created_by: self.created_by,
            comment: self.comment,
        })
    }
}

/// The answer to `POST /api/v2/silences`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostSilenceResponse {
    /// The silence's id.
    #[serde(rename = "silenceID")]
    pub silence_id: String,
}

/// `GET /api/v2/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerStatus {
    /// Cluster state (alertd runs alone: `disabled`).
    pub cluster: ClusterStatus,
    /// The configuration, secrets shown as `<secret>`.
    pub config: AlertmanagerConfig,
    /// When the process started (RFC 3339).
    pub uptime: String,
    /// Build information.
    pub version_info: VersionInfo,
}

/// The cluster part of [`AlertmanagerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// This peer's name (absent without clustering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Peers.
    #[serde(default)]
    pub peers: Vec<serde_json::Value>,
    /// `ready`, `settling` or `disabled`.
    pub status: String,
}

/// The config part of [`AlertmanagerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertmanagerConfig {
    /// The configuration as YAML.
    pub original: String,
}

/// Build information in [`AlertmanagerStatus`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Source branch.
    pub branch: String,
    /// Build date.
    pub build_date: String,
    /// Builder.
    pub build_user: String,
    /// Compiler version (alertd: the Rust version it needs).
    pub go_version: String,
    /// Revision.
    pub revision: String,
    /// Version.
    pub version: String,
}

/// Alertmanager's error object for malformed requests (`{"code":400,"message":"..."}`); its
/// handlers answer other errors with a JSON string, which is what `amtool` decodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct V2Error {
    /// The HTTP status code.
    pub code: u16,
    /// What is wrong.
    pub message: String,
}

/// The filters of `GET /api/v2/alerts` and `/api/v2/alerts/groups`, with Alertmanager's
/// defaults (every state shown, no matchers, any receiver).
#[derive(Debug, Clone)]
pub struct AlertFilter {
    /// Every matcher must match the alert's labels.
    pub matchers: Matchers,
    /// Show active alerts.
    pub active: bool,
    /// Show silenced alerts.
    pub silenced: bool,
    /// Show inhibited alerts.
    pub inhibited: bool,
    /// Show unprocessed alerts.
    pub unprocessed: bool,
    /// Only alerts (or groups) with a receiver matching this anchored regex.
    pub receiver: Option<regex::Regex>,
}

impl Default for AlertFilter {
    fn default() -> Self {
        AlertFilter {
            matchers: Matchers::default(),
            active: true,
            silenced: true,
            inhibited: true,
            unprocessed: true,
            receiver: None,
        }
    }
}

/// Parses one boolean query parameter as Alertmanager 0.25's swagger runtime does
/// (`swag.ConvertBool`): true for these words in any case, false for anything else — so
/// `active=maybe` is false, not an error.
fn parse_bool(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "ok" | "y" | "on" | "selected" | "checked" | "t" | "enabled"
    )
}

/// Parses the `filter` parameters (each an amtool-style matcher, `name=value`, or a braced
/// list) into one conjunction.
pub fn parse_filters<'a>(filters: impl IntoIterator<Item = &'a str>) -> Result<Matchers, ApiError> {
    let mut out = Vec::new();
    for f in filters {
        let ms: Matchers = f
            .parse()
            .map_err(|_| ApiError(format!("bad matcher format: {f}")))?;
        if ms.is_empty() {
            return Err(ApiError(format!("bad matcher format: {f}")));
        }
        out.extend(ms.0);
    }
    Ok(Matchers(out))
}

/// A malformed filter query: which kind of error Alertmanager gives it (the boolean
/// parameters cannot be malformed: Alertmanager reads any word there).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A bad matcher or receiver regex (Alertmanager: a JSON string).
    #[error("{0}")]
    Value(String),
}

impl AlertFilter {
    /// The filter from query pairs (`filter` repeatable, `active`, `silenced`, `inhibited`,
    /// `unprocessed`, `receiver`); unknown parameters are ignored, as Alertmanager does.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, FilterError> {
        let mut f = AlertFilter::default();
        let mut filters = Vec::new();
        for (k, v) in pairs {
            match k {
                "filter" => filters.push(v),
                "active" if !v.is_empty() => f.active = parse_bool(v),
                "silenced" if !v.is_empty() => f.silenced = parse_bool(v),
                "inhibited" if !v.is_empty() => f.inhibited = parse_bool(v),
                "unprocessed" if !v.is_empty() => f.unprocessed = parse_bool(v),
                "receiver" if !v.is_empty() => {
                    let re = regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| {
                        FilterError::Value(format!("failed to parse receiver param: {e}"))
                    })?;
                    f.receiver = Some(re);
                }
                _ => {}
            }
        }
        f.matchers = parse_filters(filters).map_err(|e| FilterError::Value(e.0))?;
        Ok(f)
    }

    /// Whether `a` passes the state and label filters (not the receiver filter).
    pub fn matches_state_and_labels(&self, a: &GettableAlert) -> bool {
        let st = &a.status;
        if !self.active && st.state == "active" {
            return false;
        }
        if !self.unprocessed && st.state == "unprocessed" {
            return false;
        }
        if !self.silenced && !st.silenced_by.is_empty() {
            return false;
        }
        if !self.inhibited && !st.inhibited_by.is_empty() {
            return false;
        }
        self.matchers.matches(&a.labels)
    }

    /// Whether `receiver` passes the receiver filter.
    pub fn matches_receiver(&self, receiver: &str) -> bool {
        self.receiver
            .as_ref()
            .is_none_or(|re| re.is_match(receiver))
    }

    /// Whether `a` passes every filter (receiver: any of its receivers).
    pub fn matches(&self, a: &GettableAlert) -> bool {
        self.matches_state_and_labels(a)
            && (self.receiver.is_none()
                || a.receivers.iter().any(|r| self.matches_receiver(&r.name)))
    }
}

/// Whether silence `s` passes the `filter` matchers of `GET /api/v2/silences` (Alertmanager's
/// rule: each filter is checked against the silence's matcher of the same name, its pattern
/// taken as the value; an empty filter value accepts a missing/present matcher as in
/// Alertmanager).
pub fn silence_matches_filter(s: &GettableSilence, filter: &Matchers) -> bool {
    filter.iter().all(|m| {
        let v = s
            .matchers
            .iter()
            .find(|sm| sm.name == m.name)
            .map(|sm| sm.value.as_str());
        let negative = !m.op.is_equal();
        if m.value.is_empty() && (if negative { v.is_some() } else { v.is_none() }) {
            return true;
        }
        m.matches_value(v.unwrap_or(""))
    })
}

// ---------------------------------------------------------------------------------------------
// alertd's own API (/api/alertd/v1/)
// ---------------------------------------------------------------------------------------------

/// The error body of alertd's own endpoints: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What is wrong.
    pub error: String,
}

/// `POST /api/alertd/v1/acks` and `DELETE /api/alertd/v1/acks`: which firing alerts to
/// (un)acknowledge. Exactly one kind of selector: matchers (all must match), fingerprints, or a
/// group key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// Matchers in amtool/PromQL syntax (`alertname=X`, `severity="critical"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matchers: Vec<String>,
    /// Alert fingerprints (16 hex digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fingerprints: Vec<String>,
    /// A group key (as `GET /api/alertd/v1/history` shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Who acknowledges.
    pub author: String,
    /// Why (optional).
    #[serde(default)]
    pub comment: String,
}

/// An alert an ack operation touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRef {
    /// Fingerprint.
    pub fingerprint: String,
    /// Labels.
    pub labels: Labels,
}

/// The answer to an ack or unack: the alerts it changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckResponse {
    /// The alerts (un)acknowledged.
    pub alerts: Vec<AlertRef>,
}

/// A current acknowledgement (`GET /api/alertd/v1/acks`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckInfo {
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's labels (empty if the alert is no longer known).
    pub labels: Labels,
    /// Who.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One entry of the ack log (`GET /api/alertd/v1/acks/log`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckLogEntry {
    /// `ack`, `unack` or `cleared` (the alert resolved).
    pub action: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's labels.
    pub labels: Labels,
    /// Who (empty for `cleared`).
    pub author: String,
    /// Comment.
    pub comment: String,
    /// When (RFC 3339).
    pub at: String,
}

/// One delivery attempt (`GET /api/alertd/v1/history`), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    /// When (RFC 3339).
    pub at: String,
    /// Group key.
    pub group_key: String,
    /// Receiver.
    pub receiver: String,
    /// Integration (`webhook[0]`).
    pub integration: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// Fingerprints of the alerts sent.
    pub alerts: Vec<String>,
    /// Their labels, in the same order.
    #[serde(default)]
    pub alert_labels: Vec<Labels>,
    /// Attempt number (1 for the first).
    pub attempt: u32,
    /// `success`, `retrying` or `failed`.
    pub result: String,
    /// The error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HistoryItem {
    /// Which alerts the notification carried, short: each alert's name with the labels that
    /// tell it from the others (`DiskFull{instance="a"}, DiskFull{instance="b"}`); the
    /// fingerprints when the labels were not kept.
    pub fn alerts_summary(&self) -> String {
        if self.alert_labels.is_empty() {
            return self.alerts.join(", ");
        }
        let shared = |name: &str, value: &str| {
            self.alert_labels.len() > 1
                && self.alert_labels.iter().all(|l| l.get(name) == Some(value))
        };
        self.alert_labels
            .iter()
            .map(|l| {
                let rest: Vec<String> = l
                    .iter()
                    .filter(|x| x.name != "alertname" && !shared(&x.name, &x.value))
                    .map(|x| format!("{}={:?}", x.name, x.value))
                    .collect();
                let name = l.get("alertname").unwrap_or("");
                if rest.is_empty() {
                    name.to_string()
                } else {
                    format!("{name}{{{}}}", rest.join(", "))
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The answer to `POST /api/alertd/v1/receivers/{name}/test`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestReceiverResponse {
    /// The receiver.
    pub receiver: String,
    /// One result per integration.
    pub integrations: Vec<IntegrationResult>,
}

/// The result of sending a test notification through one integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegrationResult {
    /// Integration (`webhook[0]`).
    pub name: String,
    /// Whether it was delivered.
    pub ok: bool,
    /// The error, if not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A heartbeat's current state (`GET /api/alertd/v1/heartbeats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatInfo {
    /// The name.
    pub name: String,
    /// `new`, `up`, `running`, `late` or `down`.
    pub state: String,
    /// Last ping of any kind (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ping: Option<String>,
    /// Last success (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<String>,
    /// When it turns down without a success (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// Exit code of the last end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit_code: Option<i32>,
    /// Duration of the last run, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_duration_seconds: Option<f64>,
}

/// A probe's or scrape target's current state (`GET /api/alertd/v1/probes`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeInfo {
    /// The probe's name, or `job/instance` for a scrape target.
    pub name: String,
    /// `http`, `tls`, `disk`, `postgres`, `mysql` or `scrape`.
    pub kind: String,
    /// `up`, `down` or `unknown` (not run yet).
    pub state: String,
    /// Start of the last run (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// Duration of the last run, in seconds.
    pub last_duration_seconds: f64,
    /// Why the last run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Consecutive failed runs.
    pub consecutive_failures: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(
        labels: &[(&str, &str)],
        state: &str,
        silenced: bool,
        receivers: &[&str],
    ) -> GettableAlert {
        GettableAlert {
            annotations: Labels::default(),
            ends_at: GO_ZERO_TIME.into(),
            fingerprint: Labels::from_pairs(labels.iter().copied())
                .fingerprint()
                .to_string(),
            receivers: receivers
                .iter()
                .map(|r| ReceiverRef { name: (*r).into() })
                .collect(),
            starts_at: api_time(0),
            status: AlertStatus {
                inhibited_by: vec![],
                silenced_by: if silenced { vec!["s1".into()] } else { vec![] },
                state: state.into(),
            },
            updated_at: api_time(0),
            generator_url: String::new(),
            labels: Labels::from_pairs(labels.iter().copied()),
            ack: None,
        }
    }

    #[test]
    fn alert_filter_follows_alertmanager_query_params() {
        let a = alert(
            &[("alertname", "X"), ("instance", "i1")],
            "active",
            false,
            &["slack"],
        );
        let s = alert(&[("alertname", "Y")], "suppressed", true, &["email-oncall"]);
        // amtool's `alert query` (default): active only.
        let f = AlertFilter::from_query([
            ("active", "true"),
            ("inhibited", "false"),
            ("silenced", "false"),
            ("unprocessed", "false"),
        ])
        .unwrap();
        assert!(f.matches(&a) && !f.matches(&s));
        // `alert query alertname=X --silenced` asks active=false&silenced=true.
        let f = AlertFilter::from_query([
            ("active", "false"),
            ("silenced", "true"),
            ("filter", "alertname=Y"),
        ])
        .unwrap();
        assert!(!f.matches(&a) && f.matches(&s));
        let f =
            AlertFilter::from_query([("filter", "alertname=~\"X|Z\""), ("filter", "instance!=i2")])
                .unwrap();
        assert!(f.matches(&a) && !f.matches(&s));
        let f = AlertFilter::from_query([("filter", "{alertname=\"Y\"}")]).unwrap();
        assert!(!f.matches(&a) && f.matches(&s));
        // Receiver regexes are anchored.
        let f = AlertFilter::from_query([("receiver", "email.*")]).unwrap();
        assert!(!f.matches(&a) && f.matches(&s));
        let f = AlertFilter::from_query([("receiver", "mail")]).unwrap();
        assert!(!f.matches(&s));
    }

    #[test]
    fn history_names_the_alerts_by_what_tells_them_apart() {
        let item = |labels: Vec<Labels>| HistoryItem {
            at: String::new(),
            group_key: String::new(),
            receiver: "r".into(),
            integration: "webhook[0]".into(),
            status: "firing".into(),
            alerts: vec!["f1".into(), "f2".into()],
            alert_labels: labels,
            attempt: 1,
            result: "success".into(),
            error: None,
        };
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
        let two = item(vec![
            l(&[
                ("alertname", "DiskFull"),
                ("instance", "a"),
                ("severity", "warning"),
            ]),
            l(&[
                ("alertname", "DiskFull"),
                ("instance", "b"),
                ("severity", "warning"),
            ]),
        ]);
        assert_eq!(
            two.alerts_summary(),
            r#"DiskFull{instance="a"}, DiskFull{instance="b"}"#
        );
        let one = item(vec![l(&[("alertname", "Down"), ("probe", "web")])]);
        assert_eq!(one.alerts_summary(), r#"Down{probe="web"}"#);
        assert_eq!(item(Vec::new()).alerts_summary(), "f1, f2");
    }

    #[test]
    fn bad_filters_name_the_problem() {
        assert_eq!(
            AlertFilter::from_query([("filter", "bad{")]).unwrap_err(),
            FilterError::Value("bad matcher format: bad{".into())
        );
        assert!(matches!(
            AlertFilter::from_query([("receiver", "(")]).unwrap_err(),
            FilterError::Value(m) if m.starts_with("failed to parse receiver param: ")
        ));
        // Alertmanager 0.25 (swag.ConvertBool): any other word is false, not an error.
        let f = AlertFilter::from_query([("active", "maybe"), ("silenced", "OK")]).unwrap();
        assert!(!f.active && f.silenced);
    }

    #[test]
    fn silence_filter_and_order_follow_alertmanager() {
        let s = |id: &str, state: &str, ends: i64, ms: &[(&str, &str)]| GettableSilence {
            id: id.into(),
            status: SilenceStatus {
                state: state.into(),
            },
            updated_at: api_time(0),
            comment: String::new(),
            created_by: "me".into(),
            ends_at: api_time(ends),
            matchers: ms
                .iter()
                .map(|(n, v)| ApiMatcher {
                    is_equal: true,
                    is_regex: false,
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            starts_at: api_time(0),
        };
        let x = s("x", "active", 2000, &[("alertname", "X")]);
        let filter = parse_filters(["alertname=X"]).unwrap();
        assert!(silence_matches_filter(&x, &filter));
        assert!(!silence_matches_filter(
            &x,
            &parse_filters(["alertname=Y"]).unwrap()
        ));
        assert!(!silence_matches_filter(
            &x,
            &parse_filters(["job=node"]).unwrap()
        ));
        assert!(silence_matches_filter(
            &x,
            &parse_filters(["job=\"\""]).unwrap()
        ));
        let mut v = vec![
            s("e1", "expired", 500, &[]),
            s("a2", "active", 3000, &[]),
            s("e2", "expired", 900, &[]),
            x,
        ];
        sort_silences(&mut v);
        let ids: Vec<&str> = v.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["x", "a2", "e2", "e1"]);
    }

    #[test]
    fn silences_round_trip_through_the_api_form() {
        let m: Matcher = "alertname=~\"Y|Z\"".parse().unwrap();
        let p = PostableSilence {
            id: None,
            matchers: vec![ApiMatcher::from(&m)],
            starts_at: "2026-11-22T11:49:50.223Z".into(),
            ends_at: "2026-11-22T12:49:50.223Z".into(),
            created_by: "root".into(),
            comment: "test".into(),
        };
        let s = p.into_silence().unwrap();
        assert_eq!(s.matchers.0, vec![m]);
        assert_eq!(s.ends_at - s.starts_at, 3_600_000);
        let g = GettableSilence::new(&s, s.starts_at);
        assert_eq!(g.status.state, "active");
        assert_eq!(g.matchers_text(), "alertname=~\"Y|Z\"");
        assert_eq!(g.starts_at, "2026-11-22T11:49:50.223Z");
    }
}
