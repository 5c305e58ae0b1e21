//! Alertmanager API v2 shapes the daemon's HTTP routes need from the notifier. The shapes
//! themselves live in [`model::api`] (the one wire format shared by alertd and alertctl) and are
//! re-exported here; this module adds the conversions that need the notifier's state: alerts
//! as `GET /api/v2/alerts` lists them ([`gettable_alerts`]) and groups
//! ([`alert_groups`]).

use model::api::{api_time, GO_ZERO_TIME};
pub use model::api::{
    parse_time, AlertGroup, AlertStatus, ApiError, ApiMatcher, GettableAlert, GettableSilence,
    PostableAlert, PostableSilence, ReceiverRef, SilenceStatus,
};

use crate::dispatch::AlertView;

/// The API form of an alert the notifier holds.
pub fn gettable_alert(v: &AlertView) -> GettableAlert {
    GettableAlert {
        annotations: v.alert.annotations.clone(),
        ends_at: v
            .alert
            .ends_at
            .map_or_else(|| GO_ZERO_TIME.to_string(), api_time),
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

impl From<&AlertView> for GettableAlert {
    fn from(v: &AlertView) -> Self {
        gettable_alert(v)
    }
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

/// `GET /api/v2/alerts/groups` as Alertmanager 0.25 answers it: the groups whose receiver
/// passes the filter's receiver regex, each with its alerts that pass the state and label
/// filters (groups left empty are dropped). An alert's `receivers` are the receivers of the
/// listed groups it is in (sorted; a receiver twice when two listed groups have it), not every
/// route it matches. Groups are ordered by labels (fewer first, Prometheus's `LabelSet.Before`),
/// then receiver; alerts as in notifications.
pub fn alert_groups(n: &crate::Notifier, f: &model::api::AlertFilter) -> Vec<AlertGroup> {
    use std::collections::HashMap;
    let views = n.alerts();
    let by_fp: HashMap<String, &AlertView> = views
        .iter()
        .map(|v| (v.alert.fingerprint().to_string(), v))
        .collect();
    let mut receivers: HashMap<String, Vec<String>> = HashMap::new();
    let mut out: Vec<AlertGroup> = n
        .groups()
        .into_iter()
        .filter(|g| f.matches_receiver(&g.receiver))
        .filter_map(|g| {
            let mut members: Vec<GettableAlert> = g
                .alerts
                .iter()
                .filter_map(|fp| by_fp.get(fp).copied())
                .filter(|a| a.state != "resolved")
                .map(GettableAlert::from)
                .filter(|a| f.matches_state_and_labels(a))
                .collect();
            if members.is_empty() {
                return None;
            }
            for a in &members {
                receivers
                    .entry(a.fingerprint.clone())
                    .or_default()
                    .push(g.receiver.clone());
            }
            members.sort_by(|a, b| crate::payload::alert_order(&a.labels, &b.labels));
            Some(AlertGroup {
                alerts: members,
                labels: g.labels,
                receiver: ReceiverRef { name: g.receiver },
            })
        })
        .collect();
    for g in &mut out {
        for a in &mut g.alerts {
            let mut rs = receivers.get(&a.fingerprint).cloned().unwrap_or_default();
            rs.sort();
            a.receivers = rs.into_iter().map(|name| ReceiverRef { name }).collect();
        }
    }
    out.sort_by(|a, b| {
        crate::payload::label_set_order(&a.labels, &b.labels)
            .then_with(|| a.receiver.name.cmp(&b.receiver.name))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Alert;

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
        let got =
            serde_json::to_value(alert_groups(&n, &model::api::AlertFilter::default())).unwrap();
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
