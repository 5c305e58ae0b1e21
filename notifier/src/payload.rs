//! The data of one notification: Alertmanager's webhook message (version 4), which is also what
//! the Slack and email texts are rendered from. Timestamps are RFC 3339 as Go prints them.

use serde::{Deserialize, Serialize};

use model::{Alert, Labels, Timestamp};

/// Formats ms since the epoch as Go's `time.Time` JSON (RFC 3339, fraction without trailing
/// zeros, `Z`): [`model::gofmt::rfc3339`].
pub fn go_time(ms: Timestamp) -> String {
    model::gofmt::rfc3339(ms)
}

/// Go's zero time, used for `endsAt` of firing alerts.
pub use model::gofmt::GO_ZERO_TIME;

/// One alert of a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotifiedAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Labels.
    pub labels: Labels,
    /// Annotations.
    pub annotations: Labels,
    /// Start (RFC 3339).
    pub starts_at: String,
    /// End (RFC 3339; Go's zero time while firing).
    pub ends_at: String,
    /// Source link.
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    /// Fingerprint (16 hex digits).
    pub fingerprint: String,
}

impl NotifiedAlert {
    /// The snapshot of `a` at `now`.
    pub fn from_alert(a: &Alert, now: Timestamp) -> Self {
        let resolved = a.is_resolved_at(now);
        NotifiedAlert {
            status: if resolved { "resolved" } else { "firing" }.into(),
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: go_time(a.starts_at),
            ends_at: match a.ends_at {
                Some(e) if resolved => go_time(e),
                _ => GO_ZERO_TIME.into(),
            },
            generator_url: a.generator_url.clone(),
            fingerprint: a.fingerprint().to_string(),
        }
    }
    /// Whether this alert is firing.
    pub fn is_firing(&self) -> bool {
        self.status == "firing"
    }
}

/// Alertmanager's webhook message, version 4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Receiver name.
    pub receiver: String,
    /// `firing` if any alert fires, else `resolved`.
    pub status: String,
    /// The alerts (Alertmanager's order: by `job`, `instance`, then labels).
    pub alerts: Vec<NotifiedAlert>,
    /// The group's labels.
    pub group_labels: Labels,
    /// Labels all alerts share.
    pub common_labels: Labels,
    /// Annotations all alerts share.
    pub common_annotations: Labels,
    /// Link to alertd.
    #[serde(rename = "externalURL")]
    pub external_url: String,
    /// Always `4`.
    pub version: String,
    /// The group key.
    pub group_key: String,
    /// Alerts left out by `max_alerts`.
    pub truncated_alerts: u64,
}

fn common(sets: &[&Labels]) -> Labels {
    let Some(first) = sets.first() else {
        return Labels::empty();
    };
    first
        .iter()
        .filter(|l| {
            sets[1..]
                .iter()
                .all(|s| s.get(&l.name) == Some(l.value.as_str()))
        })
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect()
}

/// Alertmanager's alert order (`types.AlertSlice`): by `job`, then `instance` (alerts having the
/// label first), then by labels.
pub fn sort_alerts(alerts: &mut [NotifiedAlert]) {
    alerts.sort_by(|a, b| alert_order(&a.labels, &b.labels));
}

/// Alertmanager's alert order on labels: by `job`, then `instance` (having the label first),
/// then by the label sets ([`label_set_order`]).
pub fn alert_order(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    for k in ["job", "instance"] {
        match (a.get(k), b.get(k)) {
            (None, None) => continue,
            (None, Some(_)) => return std::cmp::Ordering::Greater,
            (Some(_), None) => return std::cmp::Ordering::Less,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    label_set_order(a, b)
}

/// Prometheus's `LabelSet.Before` as an ordering: fewer labels first; between sets of the same
/// size, along the sorted union of their names, the set lacking a name first, else the smaller
/// value.
pub fn label_set_order(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if a.len() != b.len() {
        return a.len().cmp(&b.len());
    }
    let names: std::collections::BTreeSet<&str> =
        a.iter().chain(b.iter()).map(|l| l.name.as_str()).collect();
    for n in names {
        match (a.get(n), b.get(n)) {
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x != y => return x.cmp(y),
            _ => {}
        }
    }
    Ordering::Equal
}

impl Notification {
    /// Builds the message for `receiver` from alert snapshots (sorted here).
    pub fn new(
        receiver: &str,
        group_key: &str,
        group_labels: Labels,
        mut alerts: Vec<NotifiedAlert>,
        external_url: &str,
    ) -> Self {
        sort_alerts(&mut alerts);
        let mut n = Notification {
            receiver: receiver.to_string(),
            status: String::new(),
            common_labels: Labels::empty(),
            common_annotations: Labels::empty(),
            alerts,
            group_labels,
            external_url: external_url.to_string(),
            version: "4".into(),
            group_key: group_key.to_string(),
            truncated_alerts: 0,
        };
        n.summarise();
        n
    }

    /// Status and common labels/annotations from the alerts carried.
    fn summarise(&mut self) {
        let labels: Vec<&Labels> = self.alerts.iter().map(|a| &a.labels).collect();
        let annotations: Vec<&Labels> = self.alerts.iter().map(|a| &a.annotations).collect();
        self.common_labels = common(&labels);
        self.common_annotations = common(&annotations);
        self.status = if self.alerts.iter().any(|a| a.is_firing()) {
            "firing"
        } else {
            "resolved"
        }
        .into();
    }

    /// The message cut to at most `max` alerts (0 = no limit), counting the rest in
    /// `truncatedAlerts`, as Alertmanager's webhook does: status and common labels and
    /// annotations are those of the alerts kept (Alertmanager truncates before building the
    /// template data).
    pub fn truncated(&self, max: u64) -> Notification {
        let mut n = self.clone();
        if max > 0 && n.alerts.len() as u64 > max {
            n.truncated_alerts = n.alerts.len() as u64 - max;
            n.alerts.truncate(max as usize);
            n.summarise();
        }
        n
    }

    /// Firing alerts.
    pub fn firing(&self) -> impl Iterator<Item = &NotifiedAlert> + '_ {
        self.alerts.iter().filter(|a| a.is_firing())
    }
    /// Resolved alerts.
    pub fn resolved(&self) -> impl Iterator<Item = &NotifiedAlert> + '_ {
        self.alerts.iter().filter(|a| !a.is_firing())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_format() {
        assert_eq!(go_time(1_795_000_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(go_time(1_795_000_000_185), "2026-11-18T11:06:40.185Z");
        assert_eq!(go_time(1_795_000_000_100), "2026-11-18T11:06:40.1Z");
    }

    fn ms(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }

    /// Rebuilds each of Alertmanager's webhook bodies from the fixture's alerts and compares the
    /// JSON byte for byte.
    #[test]
    fn webhook_body_equals_alertmanagers_fixture() {
        let text = include_str!("../../tests/fixtures/alertmanager_webhook_payloads.jsonl");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let want: serde_json::Value = serde_json::from_str(line).unwrap();
            let mut alerts = Vec::new();
            for a in want["alerts"].as_array().unwrap() {
                let labels: Labels = serde_json::from_value(a["labels"].clone()).unwrap();
                let ends = a["endsAt"].as_str().unwrap();
                let alert = Alert {
                    labels,
                    annotations: serde_json::from_value(a["annotations"].clone()).unwrap(),
                    starts_at: ms(a["startsAt"].as_str().unwrap()),
                    // Firing alerts carry a future end (resolve_timeout) that is not shown.
                    ends_at: Some(if ends.starts_with("0001") {
                        ms("2026-11-22T11:20:45.185Z")
                    } else {
                        ms(ends)
                    }),
                    generator_url: a["generatorURL"].as_str().unwrap().into(),
                };
                alerts.push(NotifiedAlert::from_alert(
                    &alert,
                    ms("2026-11-22T11:15:49Z"),
                ));
            }
            alerts.reverse(); // order must come from sorting
            let group_labels: Labels = serde_json::from_value(want["groupLabels"].clone()).unwrap();
            let n = Notification::new(
                "sink",
                want["groupKey"].as_str().unwrap(),
                group_labels,
                alerts,
                "http://vm:19093",
            );
            assert_eq!(
                serde_json::to_string(&n).unwrap(),
                line.trim_end(),
                "body differs"
            );
        }
    }

    #[test]
    fn max_alerts_truncates() {
        let a = |i: &str| NotifiedAlert {
            status: "firing".into(),
            labels: Labels::from_pairs([("alertname", "A"), ("instance", i)]),
            annotations: Labels::empty(),
            starts_at: go_time(0),
            ends_at: GO_ZERO_TIME.into(),
            generator_url: String::new(),
            fingerprint: String::new(),
        };
        let n = Notification::new(
            "r",
            "{}:{}",
            Labels::empty(),
            vec![a("3"), a("1"), a("2")],
            "",
        );
        assert_eq!(n.alerts[0].labels.get("instance"), Some("1"));
        let t = n.truncated(2);
        assert_eq!((t.alerts.len(), t.truncated_alerts), (2, 1));
        assert_eq!(n.truncated(0).alerts.len(), 3);
        assert_eq!(n.common_labels, Labels::from_pairs([("alertname", "A")]));
    }

    #[test]
    fn max_alerts_common_labels_are_those_of_the_alerts_kept() {
        // Five alerts, two kept: Alertmanager 0.25 sends commonLabels {alertname=Bulk, job=a}.
        let a = |job: &str, i: &str| NotifiedAlert {
            status: "firing".into(),
            labels: Labels::from_pairs([("alertname", "Bulk"), ("job", job), ("instance", i)]),
            annotations: Labels::from_pairs([("summary", job)]),
            starts_at: go_time(0),
            ends_at: GO_ZERO_TIME.into(),
            generator_url: String::new(),
            fingerprint: String::new(),
        };
        let n = Notification::new(
            "r",
            "{}:{}",
            Labels::empty(),
            vec![
                a("b", "1"),
                a("a", "2"),
                a("c", "3"),
                a("a", "1"),
                a("b", "2"),
            ],
            "",
        );
        assert_eq!(n.common_labels, Labels::from_pairs([("alertname", "Bulk")]));
        let t = n.truncated(2);
        assert_eq!(
            t.common_labels,
            Labels::from_pairs([("alertname", "Bulk"), ("job", "a")])
        );
        assert_eq!(t.common_annotations, Labels::from_pairs([("summary", "a")]));
        assert_eq!(t.truncated_alerts, 3);
    }

    #[test]
    fn alert_order_is_alertmanagers() {
        // job, then instance (having it first), then fewer labels first, then along the
        // sorted union of names the set lacking a name first.
        let l = |p: &[(&str, &str)]| Labels::from_pairs(p.iter().copied());
        let mut v = vec![
            l(&[("alertname", "A"), ("zzz", "1"), ("b", "1")]),
            l(&[("alertname", "A"), ("c", "1")]),
            l(&[("alertname", "A"), ("b", "2")]),
            l(&[("alertname", "Z")]),
            l(&[("alertname", "A"), ("instance", "i2")]),
            l(&[("alertname", "B"), ("job", "j"), ("instance", "i1")]),
            l(&[("alertname", "A"), ("job", "j")]),
        ];
        v.sort_by(alert_order);
        let want = vec![
            l(&[("alertname", "B"), ("job", "j"), ("instance", "i1")]),
            l(&[("alertname", "A"), ("job", "j")]),
            l(&[("alertname", "A"), ("instance", "i2")]),
            l(&[("alertname", "Z")]),
            // {alertname, b} and {alertname, c}: names a, b, c — the first lacks c, the second
            // lacks b: at b, the second lacks it and goes first.
            l(&[("alertname", "A"), ("c", "1")]),
            l(&[("alertname", "A"), ("b", "2")]),
            l(&[("alertname", "A"), ("b", "1"), ("zzz", "1")]),
        ];
        assert_eq!(v, want);
    }
}
