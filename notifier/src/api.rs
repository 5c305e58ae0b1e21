//! Alertmanager API v2 shapes the daemon's HTTP routes need from the notifier: the alerts
//! clients post (`PostableAlert`, turned into [`model::Alert`] with Alertmanager's rules) and the
//! alerts and silences it lists (`GettableAlert`, `GettableSilence`), so `amtool` and Prometheus
//! work against alertd.

use serde::{Deserialize, Serialize};

use model::{Alert, Labels, MatchOp, Matcher, Silence, Timestamp};

use crate::dispatch::AlertView;
use crate::payload::go_time;

/// Why a posted alert was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(pub String);

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
    #[serde(default)]
    pub starts_at: Option<String>,
    /// End (RFC 3339); unset means "resolve after resolve_timeout unless sent again".
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Source link.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
}

/// Parses an RFC 3339 time to ms; Go's zero time (and the empty string) mean unset.
pub fn parse_time(s: &str) -> Result<Option<Timestamp>, ApiError> {
    if s.is_empty() || s.starts_with("0001-01-01") {
        return Ok(None);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|e| ApiError(format!("invalid time {s:?}: {e}")))
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

/// A receiver reference in API output.
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

/// An alert as `GET /api/v2/alerts` returns it (plus alertd's `ack`).
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// Labels.
    pub labels: Labels,
    /// alertd's acknowledgement, when acknowledged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ack: Option<crate::dispatch::Ack>,
}

/// Alertmanager's API prints times with milliseconds (`2026-11-22T11:15:45.000Z`).
pub fn api_time(ms: Timestamp) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || go_time(ms),
        |t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

impl From<&AlertView> for GettableAlert {
    fn from(v: &AlertView) -> Self {
        GettableAlert {
            annotations: v.alert.annotations.clone(),
            ends_at: v.alert.ends_at.map_or_else(|| go_time(i64::MIN), api_time),
            fingerprint: v.alert.fingerprint().to_string(),
            receivers: v
                .receivers
                .iter()
                .map(|r| ReceiverRef { name: r.clone() })
                .collect(),
            starts_at: api_time(v.alert.starts_at),
            status: AlertStatus {
                inhibited_by: v.inhibited_by.clone(),
                silenced_by: v.silenced_by.clone(),
                state: if v.state == "resolved" {
                    "unprocessed".into()
                } else {
                    v.state.clone()
                },
            },
            updated_at: api_time(v.updated_at),
            generator_url: v.alert.generator_url.clone(),
            labels: v.alert.labels.clone(),
            ack: v.ack.clone(),
        }
    }
}

/// An alert group as `GET /api/v2/alerts/groups` returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertGroup {
    /// Its alerts (Alertmanager's order: by `job`, `instance`, then labels).
    pub alerts: Vec<GettableAlert>,
    /// Group labels.
    pub labels: Labels,
    /// The route's receiver.
    pub receiver: ReceiverRef,
}

/// `GET /api/v2/alerts`: every alert not yet resolved (Alertmanager hides resolved ones),
/// ordered by fingerprint as Alertmanager lists them.
pub fn gettable_alerts(views: &[AlertView]) -> Vec<GettableAlert> {
    let mut v: Vec<GettableAlert> = views
        .iter()
        .filter(|a| a.state != "resolved")
        .map(GettableAlert::from)
        .collect();
    v.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    v
}

/// `GET /api/v2/alerts/groups`: the notifier's groups with their alerts, ordered by labels.
pub fn alert_groups(n: &crate::Notifier) -> Vec<AlertGroup> {
    let views = n.alerts();
    let by_fp: std::collections::HashMap<String, &AlertView> = views
        .iter()
        .map(|v| (v.alert.fingerprint().to_string(), v))
        .collect();
    let mut out: Vec<AlertGroup> = n
        .groups()
        .into_iter()
        .map(|g| {
            let mut members: Vec<&AlertView> = g
                .alerts
                .iter()
                .filter_map(|f| by_fp.get(f).copied())
                .filter(|a| a.state != "resolved")
                .collect();
            members.sort_by(|a, b| crate::payload::alert_order(&a.alert.labels, &b.alert.labels));
            AlertGroup {
                alerts: members.into_iter().map(GettableAlert::from).collect(),
                labels: g.labels,
                receiver: ReceiverRef { name: g.receiver },
            }
        })
        .filter(|g| !g.alerts.is_empty())
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
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
                state: serde_json::to_value(s.state_at(now))
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
            },
            updated_at: api_time(s.updated_at),
            comment: s.comment.clone(),
            created_by: s.created_by.clone(),
            ends_at: api_time(s.ends_at),
            matchers: s
                .matchers
                .iter()
                .map(|m| ApiMatcher {
                    is_equal: m.op.is_equal(),
                    is_regex: m.op.is_regex(),
                    name: m.name.clone(),
                    value: m.value.clone(),
                })
                .collect(),
            starts_at: api_time(s.starts_at),
        }
    }
}

/// A silence as posted to `POST /api/v2/silences` (with `id` to edit one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostableSilence {
    /// Id of the silence to edit; absent to create.
    #[serde(default)]
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
    /// The silence to hand to [`crate::silences::Silences::set`].
    pub fn into_silence(self) -> Result<Silence, ApiError> {
        let mut ms = Vec::new();
        for m in self.matchers {
            let op = MatchOp::from_flags(m.is_regex, m.is_equal);
            ms.push(Matcher::new(m.name, op, m.value).map_err(|e| ApiError(e.to_string()))?);
        }
        let t = |s: &str| -> Result<Timestamp, ApiError> {
            parse_time(s)?.ok_or_else(|| ApiError(format!("missing time {s:?}")))
        };
        Ok(Silence {
            id: self.id.unwrap_or_default(),
            matchers: model::Matchers(ms),
            starts_at: t(&self.starts_at)?,
            ends_at: t(&self.ends_at)?,
            updated_at: 0,
            created_by: self.created_by,
            comment: self.comment,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds the fixture's alerts to a notifier the way Alertmanager received them (posted at
    /// 11:15:45.185 without endsAt, resolve_timeout 5m) and compares `GET /api/v2/alerts` and
    /// `GET /api/v2/alerts/groups` with Alertmanager's answers byte for byte (as JSON values).
    #[test]
    fn alerts_and_groups_equal_alertmanagers_fixtures() {
        let alerts: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/alertmanager_api_v2_alerts.json"
        ))
        .unwrap();
        let groups: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/alertmanager_api_v2_alerts_groups.json"
        ))
        .unwrap();
        let now = parse_time("2026-11-22T11:15:45.185Z").unwrap().unwrap();
        let clock = model::FakeClock::new(now);
        let cfg = crate::config::NotifierConfig::from_yaml(
            "route: { receiver: sink, group_by: [alertname], group_wait: 0s, group_interval: 1s }\n\
             receivers: [{ name: sink, webhook_configs: [{ url: 'http://127.0.0.1:9/hook' }] }]\n",
        )
        .unwrap();
        let n = crate::Notifier::new(
            &cfg,
            crate::NotifierOptions::default(),
            std::sync::Arc::new(model::storage::MemStorage::new()),
            std::sync::Arc::new(clock),
        )
        .unwrap();
        let posted: Vec<Alert> = alerts
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                let p: PostableAlert = serde_json::from_value(serde_json::json!({
                    "labels": a["labels"], "annotations": a["annotations"],
                    "startsAt": a["startsAt"], "generatorURL": a["generatorURL"],
                }))
                .unwrap();
                p.into_alert(now).unwrap()
            })
            .collect();
        n.ingest(posted).unwrap();
        let got = serde_json::to_value(gettable_alerts(&n.alerts())).unwrap();
        assert_eq!(got, alerts);
        let got = serde_json::to_value(alert_groups(&n)).unwrap();
        assert_eq!(got, groups);
    }

    #[test]
    fn posted_alerts_get_alertmanagers_defaults() {
        let p: PostableAlert =
            serde_json::from_str(r#"{"labels":{"alertname":"X"},"endsAt":"2026-11-22T11:15:45Z"}"#)
                .unwrap();
        let a = p.into_alert(5).unwrap();
        assert_eq!(a.starts_at, a.ends_at.unwrap(), "no start: the end");
        let p: PostableAlert = serde_json::from_str(r#"{"labels":{"alertname":"X"}}"#).unwrap();
        let a = p.into_alert(5).unwrap();
        assert_eq!((a.starts_at, a.ends_at), (5, None));
        let p: PostableAlert = serde_json::from_str(r#"{"labels":{}}"#).unwrap();
        assert!(p.into_alert(5).is_err());
        let p: PostableAlert = serde_json::from_str(
            r#"{"labels":{"a":"b"},"startsAt":"2026-11-22T11:15:45Z","endsAt":"2026-11-22T11:00:00Z"}"#,
        )
        .unwrap();
        assert!(p.into_alert(5).unwrap_err().0.contains("before"));
        assert!(
            serde_json::from_str::<PostableAlert>(r#"{"labels":{"a":"b"},"bogus":1}"#).is_err()
        );
    }

    #[test]
    fn silence_shape_equals_alertmanagers_fixture() {
        let text = include_str!("../../tests/fixtures/alertmanager_api_v2_silences.json");
        let want: serde_json::Value = serde_json::from_str(text).unwrap();
        let w = &want[0];
        let post = PostableSilence {
            id: Some(w["id"].as_str().unwrap().into()),
            matchers: serde_json::from_value(w["matchers"].clone()).unwrap(),
            starts_at: w["startsAt"].as_str().unwrap().into(),
            ends_at: w["endsAt"].as_str().unwrap().into(),
            created_by: w["createdBy"].as_str().unwrap().into(),
            comment: w["comment"].as_str().unwrap().into(),
        };
        let mut s = post.into_silence().unwrap();
        s.updated_at = parse_time(w["updatedAt"].as_str().unwrap())
            .unwrap()
            .unwrap();
        let got = serde_json::to_value(GettableSilence::new(&s, s.starts_at + 1)).unwrap();
        assert_eq!(&got, w);
    }

    #[test]
    fn alert_shape_equals_alertmanagers_fixture() {
        let text = include_str!("../../tests/fixtures/alertmanager_api_v2_alerts.json");
        let want: serde_json::Value = serde_json::from_str(text).unwrap();
        for w in want.as_array().unwrap() {
            let v = AlertView {
                alert: Alert {
                    labels: serde_json::from_value(w["labels"].clone()).unwrap(),
                    annotations: serde_json::from_value(w["annotations"].clone()).unwrap(),
                    starts_at: parse_time(w["startsAt"].as_str().unwrap())
                        .unwrap()
                        .unwrap(),
                    ends_at: parse_time(w["endsAt"].as_str().unwrap()).unwrap(),
                    generator_url: w["generatorURL"].as_str().unwrap().into(),
                },
                state: "active".into(),
                silenced_by: vec![],
                inhibited_by: vec![],
                receivers: vec!["sink".into()],
                ack: None,
                updated_at: parse_time(w["updatedAt"].as_str().unwrap())
                    .unwrap()
                    .unwrap(),
            };
            assert_eq!(&serde_json::to_value(GettableAlert::from(&v)).unwrap(), w);
        }
    }
}
