//! The alert-fatigue report's wire format (`GET /api/alertd/v1/report`), shared by alertd (the
//! JSON route and the `/report` page) and `alertctl report` (table, JSON, CSV).

use serde::{Deserialize, Serialize};

/// The alert-fatigue report: per alert name over a window, how often it fired and paged, how
/// fast it was acknowledged and resolved, and how often it went away by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FatigueReport {
    /// When the report was made (RFC 3339).
    pub generated_at: String,
    /// The window asked for (`30d`).
    pub window: String,
    /// The start of the window actually covered (RFC 3339): the later of the window's start and
    /// the history retention's horizon.
    pub covered_from: String,
    /// How long the notifier keeps its history and ack log (`7d`).
    pub history_retention: String,
    /// Whether the retention cut the window short (then `note` says so).
    pub window_truncated: bool,
    /// What limits the report, in words (the retention, when it cut the window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// An alert that resolved within this long of its first notification, without an ack,
    /// counts as resolved by itself (`5m`).
    pub self_resolved_within: String,
    /// The time zone of `hours` (`UTC`, `Europe/Oslo`).
    pub time_zone: String,
    /// One row per alert name, noisiest first (most notifications, then most firings, then
    /// by name).
    pub alerts: Vec<AlertFatigue>,
    /// Rows left out by `limit`.
    #[serde(default)]
    pub alerts_omitted: usize,
    /// Receivers by notifications sent, noisiest first.
    pub receivers: Vec<ReceiverNoise>,
    /// Notifications sent per hour of the day (0–23 in `time_zone`), in hour order.
    pub hours: Vec<HourNoise>,
}

/// One alert name's figures in a [`FatigueReport`].
///
/// An alert *fired* once per firing episode (fingerprint and start time) that started in the
/// window and that the notifier tried to notify. Times to acknowledge and to resolve are measured from the
/// episode's first successful firing notification (its first attempt when none succeeded);
/// percentiles are nearest-rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertFatigue {
    /// The `alertname` label.
    pub alertname: String,
    /// Firing episodes.
    pub fired: u64,
    /// Notifications sent (successful deliveries carrying an alert of this name, firing or
    /// resolved; one per message and integration).
    pub notifications: u64,
    /// Episodes acknowledged.
    pub acknowledged: u64,
    /// `acknowledged / fired` (0 when nothing fired).
    pub acknowledged_share: f64,
    /// Median time to acknowledge (seconds) of the acknowledged episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_median_seconds: Option<f64>,
    /// 90th percentile time to acknowledge (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack_p90_seconds: Option<f64>,
    /// Episodes resolved (the others still fire, or their end was not recorded).
    pub resolved: u64,
    /// Median time to resolve (seconds) of the resolved episodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_median_seconds: Option<f64>,
    /// 90th percentile time to resolve (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_p90_seconds: Option<f64>,
    /// Episodes resolved within `self_resolved_within` without an ack (likely not actionable).
    pub self_resolved: u64,
    /// `self_resolved / fired` (0 when nothing fired).
    pub self_resolved_share: f64,
}

/// A receiver's notifications in a [`FatigueReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiverNoise {
    /// The receiver.
    pub receiver: String,
    /// Notifications sent (successful deliveries, one per message and integration).
    pub notifications: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
}

/// Notifications sent in one hour of the day, in a [`FatigueReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourNoise {
    /// Hour of the day (0–23).
    pub hour: u8,
    /// Notifications sent in that hour, over every day of the window.
    pub notifications: u64,
}

/// The CSV columns of [`FatigueReport::to_csv`].
pub const CSV_HEADER: &str = "alertname,fired,notifications,acknowledged,acknowledged_share,\
ack_median_seconds,ack_p90_seconds,resolved,resolve_median_seconds,resolve_p90_seconds,\
self_resolved,self_resolved_share";

impl FatigueReport {
    /// The per-alert rows as CSV (RFC 4180: a header line, fields quoted when they hold a comma,
    /// quote or line break, CRLF line ends); an unknown percentile is an empty field.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(CSV_HEADER);
        out.push_str("\r\n");
        let opt = |v: Option<f64>| v.map(fmt_num).unwrap_or_default();
        for a in &self.alerts {
            let fields = [
                csv_field(&a.alertname),
                a.fired.to_string(),
                a.notifications.to_string(),
                a.acknowledged.to_string(),
                fmt_num(a.acknowledged_share),
                opt(a.ack_median_seconds),
                opt(a.ack_p90_seconds),
                a.resolved.to_string(),
                opt(a.resolve_median_seconds),
                opt(a.resolve_p90_seconds),
                a.self_resolved.to_string(),
                fmt_num(a.self_resolved_share),
            ];
            out.push_str(&fields.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// The hours of the day by notifications, noisiest first (ties by hour), without empty ones.
    pub fn noisiest_hours(&self) -> Vec<HourNoise> {
        let mut v: Vec<HourNoise> = self
            .hours
            .iter()
            .filter(|h| h.notifications > 0)
            .cloned()
            .collect();
        v.sort_by(|a, b| {
            b.notifications
                .cmp(&a.notifications)
                .then(a.hour.cmp(&b.hour))
        });
        v
    }
}

/// A number as the report prints it: at most three decimals, no trailing zeros (`0.5`, `42`).
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str) -> AlertFatigue {
        AlertFatigue {
            alertname: name.into(),
            fired: 4,
            notifications: 6,
            acknowledged: 1,
            acknowledged_share: 0.25,
            ack_median_seconds: Some(90.0),
            ack_p90_seconds: Some(90.0),
            resolved: 3,
            resolve_median_seconds: Some(120.5),
            resolve_p90_seconds: None,
            self_resolved: 2,
            self_resolved_share: 0.5,
        }
    }

    #[test]
    fn csv_quotes_what_needs_it_and_leaves_unknowns_empty() {
        let r = FatigueReport {
            generated_at: String::new(),
            window: "30d".into(),
            covered_from: String::new(),
            history_retention: "7d".into(),
            window_truncated: false,
            note: None,
            self_resolved_within: "5m".into(),
            time_zone: "UTC".into(),
            alerts: vec![row("Disk,\"Full\""), row("Down")],
            alerts_omitted: 0,
            receivers: vec![],
            hours: vec![
                HourNoise {
                    hour: 3,
                    notifications: 2,
                },
                HourNoise {
                    hour: 4,
                    notifications: 0,
                },
                HourNoise {
                    hour: 9,
                    notifications: 5,
                },
            ],
        };
        let csv = r.to_csv();
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "\"Disk,\"\"Full\"\"\",4,6,1,0.25,90,90,3,120.5,,2,0.5"
        );
        assert_eq!(lines[2], "Down,4,6,1,0.25,90,90,3,120.5,,2,0.5");
        assert_eq!(lines[3], "");
        assert_eq!(lines.len(), 4);
        let h: Vec<u8> = r.noisiest_hours().iter().map(|h| h.hour).collect();
        assert_eq!(h, [9, 3]);
    }

    #[test]
    fn numbers_print_short() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1.0 / 3.0), "0.333");
        assert_eq!(fmt_num(42.0), "42");
        assert_eq!(fmt_num(0.25), "0.25");
    }
}
