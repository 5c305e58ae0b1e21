//! The alert-fatigue report: a pure function of the notification history (delivery attempts and
//! resolutions, [`HistoryEntry`]) and the ack log ([`AckEvent`]) — no store, no clock.
//!
//! Definitions (also in `model::api::AlertFatigue`'s documentation and the README):
//!
//! - A **firing episode** is one alert (fingerprint) from one start time (`starts_at`): a
//!   re-fire after resolution is a new episode. An episode is in the window when it started in
//!   the window and the notifier tried to notify it. `fired` counts episodes.
//! - Its **page** is its first successful firing notification (its first attempt when none
//!   succeeded). Times to acknowledge and to resolve are measured from the page, floored at 0.
//! - **Acknowledged**: an `ack` in the ack log for the fingerprint after the episode started
//!   (and before the next episode of the same alert started).
//! - **Resolved**: the end time the history recorded for the episode (a resolved notification,
//!   or the resolution record the notifier writes when resolved alerts leave a notified group);
//!   failing both, the time the ack log cleared its ack.
//! - **Self-resolved**: resolved within `self_resolved_within` of the page, and not
//!   acknowledged before it resolved.
//! - **Notifications**: successful deliveries, one per message and integration, counted by
//!   delivery time; a message carrying several alerts of one name counts once for that name.
//! - Percentiles are nearest-rank (the median of 1, 2, 3, 4 is 2).
//! - Hours of day are the delivery times' hours in the report's time zone.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::Timelike;
use serde::{Deserialize, Serialize};

use model::api::{api_time, AlertFatigue, FatigueReport, HourNoise, ReceiverNoise};
use model::{Duration, Timestamp};

use crate::dispatch::{AckEvent, HistoryEntry};

/// What a [`HistoryEntry`] records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryKind {
    /// A delivery attempt.
    #[default]
    Delivery,
    /// Resolved alerts leaving a group that had notified (no delivery: `integration` is empty,
    /// `attempt` 0, `result` `recorded`): when an alert resolved, also when its receivers do
    /// not `send_resolved`.
    Resolved,
}

/// An alert's status and times as a [`HistoryEntry`] saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTimes {
    /// Whether it was firing (else resolved).
    pub firing: bool,
    /// Its start (ms): with the fingerprint, it names one firing episode.
    pub starts_at: Timestamp,
    /// Its end (ms), when resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<Timestamp>,
}

/// The longest window a report covers.
pub const MAX_WINDOW: Duration = Duration::from_secs(366 * 24 * 3600);
/// The shortest window.
pub const MIN_WINDOW: Duration = Duration::from_secs(60);
/// The longest `self_resolved_within`.
pub const MAX_SELF_RESOLVED_WITHIN: Duration = Duration::from_secs(24 * 3600);
/// The default `self_resolved_within`.
pub const DEFAULT_SELF_RESOLVED_WITHIN: Duration = Duration::from_secs(5 * 60);
/// The most alert rows a report lists.
pub const MAX_LIMIT: usize = 1000;
/// The default number of alert rows.
pub const DEFAULT_LIMIT: usize = 100;
/// The most receivers a report lists.
pub const MAX_RECEIVERS: usize = 20;

/// Why report parameters were refused (each message names the limit).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportParamError {
    /// The window is out of bounds.
    #[error("`since` must be between {MIN_WINDOW} and {MAX_WINDOW}, got {0}")]
    Window(Duration),
    /// `self_resolved_within` is out of bounds.
    #[error("`self_resolved_within` must be between 1s and {MAX_SELF_RESOLVED_WITHIN}, got {0}")]
    SelfResolved(Duration),
    /// `limit` is out of bounds.
    #[error("`limit` must be between 1 and {MAX_LIMIT}, got {0}")]
    Limit(usize),
}

/// What a report covers.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportParams {
    /// The time the report is made at (ms).
    pub now: Timestamp,
    /// The window: from `now - window` to `now`.
    pub window: Duration,
    /// See the module documentation.
    pub self_resolved_within: Duration,
    /// The time zone of the hours of day.
    pub time_zone: chrono_tz::Tz,
    /// At most this many alert rows (the noisiest).
    pub limit: usize,
}

impl ReportParams {
    /// Checked parameters; see the bounds above.
    pub fn new(
        now: Timestamp,
        window: Duration,
        self_resolved_within: Duration,
        time_zone: chrono_tz::Tz,
        limit: usize,
    ) -> Result<Self, ReportParamError> {
        if window < MIN_WINDOW || window > MAX_WINDOW {
            return Err(ReportParamError::Window(window));
        }
        if self_resolved_within < Duration::from_secs(1)
            || self_resolved_within > MAX_SELF_RESOLVED_WITHIN
        {
            return Err(ReportParamError::SelfResolved(self_resolved_within));
        }
        if limit == 0 || limit > MAX_LIMIT {
            return Err(ReportParamError::Limit(limit));
        }
        Ok(ReportParams {
            now,
            window,
            self_resolved_within,
            time_zone,
            limit,
        })
    }
}

/// The start of what a report can cover (ms): the later of the window's start and the
/// retention's horizon.
pub fn covered_from(p: &ReportParams, retention: Duration) -> Timestamp {
    let asked = p.now.saturating_sub(p.window.as_millis_i64());
    let kept = p.now.saturating_sub(retention.as_millis_i64());
    asked.max(kept)
}

#[derive(Debug, Default)]
struct Episode {
    name: String,
    /// First firing delivery attempt.
    first_seen: Option<Timestamp>,
    /// First successful firing delivery.
    paged: Option<Timestamp>,
    acked: Option<Timestamp>,
    resolved: Option<Timestamp>,
    cleared: Option<Timestamp>,
}

fn min_into(slot: &mut Option<Timestamp>, t: Timestamp) {
    *slot = Some(slot.map_or(t, |x| x.min(t)));
}

/// Nearest-rank percentile of sorted `v` (`q` in 0..=1).
fn percentile(v: &[i64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = (q * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank.min(v.len()) - 1).map(|ms| *ms as f64 / 1000.0)
}

fn share(n: u64, of: u64) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// The report over `history` (oldest first, as the notifier reads it) and the ack log `acks`,
/// for `p`, with history kept for `retention`.
pub fn compute(
    history: &[HistoryEntry],
    acks: &[AckEvent],
    p: &ReportParams,
    retention: Duration,
) -> FatigueReport {
    let from = covered_from(p, retention);
    let mut notifications: BTreeMap<String, u64> = BTreeMap::new();
    let mut receivers: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut hours = [0u64; 24];
    // (fingerprint, start) -> episode.
    let mut episodes: BTreeMap<(&str, Timestamp), Episode> = BTreeMap::new();

    for e in history.iter().filter(|e| e.at >= from && e.at <= p.now) {
        let delivery = e.kind == HistoryKind::Delivery;
        let sent = delivery && e.result == "success";
        if sent {
            let names: BTreeSet<&str> = e
                .alert_labels
                .iter()
                .filter_map(|l| l.get("alertname"))
                .collect();
            for n in names {
                *notifications.entry(n.to_string()).or_default() += 1;
            }
            receivers.entry(&e.receiver).or_default().0 += 1;
            if let Some(t) = chrono::DateTime::from_timestamp_millis(e.at) {
                hours[t.with_timezone(&p.time_zone).hour() as usize % 24] += 1;
            }
        } else if delivery && e.result == "failed" {
            receivers.entry(&e.receiver).or_default().1 += 1;
        }
        for (i, fp) in e.alerts.iter().enumerate() {
            let (Some(t), Some(labels)) = (e.alert_times.get(i), e.alert_labels.get(i)) else {
                continue; // written before per-alert times were kept
            };
            let ep = episodes.entry((fp.as_str(), t.starts_at)).or_default();
            if ep.name.is_empty() {
                ep.name = labels.get_or_empty("alertname").to_string();
            }
            if t.firing && delivery {
                min_into(&mut ep.first_seen, e.at);
                if sent {
                    min_into(&mut ep.paged, e.at);
                }
            }
            if let (false, Some(end)) = (t.firing, t.ends_at) {
                min_into(&mut ep.resolved, end);
            }
        }
    }

    // Acks and clearings go to the latest episode of their alert that started before them.
    let mut starts: HashMap<&str, Vec<Timestamp>> = HashMap::new();
    for (fp, s) in episodes.keys() {
        starts.entry(fp).or_default().push(*s);
    }
    for a in acks {
        let Some(s) = starts.get(a.fingerprint.as_str()).and_then(|v| {
            // `v` is sorted (the map's key order).
            v.iter().rev().find(|s| **s <= a.at).copied()
        }) else {
            continue;
        };
        let Some(ep) = episodes.get_mut(&(a.fingerprint.as_str(), s)) else {
            continue;
        };
        match a.action.as_str() {
            "ack" => min_into(&mut ep.acked, a.at),
            "cleared" => min_into(&mut ep.cleared, a.at),
            _ => {}
        }
    }

    #[derive(Default)]
    struct Acc {
        fired: u64,
        acked: u64,
        ack_ms: Vec<i64>,
        resolve_ms: Vec<i64>,
        self_resolved: u64,
    }
    let mut by_name: BTreeMap<String, Acc> = BTreeMap::new();
    let within = p.self_resolved_within.as_millis_i64();
    for ((_, start), ep) in episodes {
        // Only episodes that started in the window and were notified: a repeat in the
        // window of an older episode counts as a notification only.
        let Some(first_seen) = ep.first_seen else {
            continue;
        };
        if start < from {
            continue;
        }
        let page = ep.paged.unwrap_or(first_seen);
        let acc = by_name.entry(ep.name).or_default();
        acc.fired += 1;
        if let Some(a) = ep.acked {
            acc.acked += 1;
            acc.ack_ms.push((a - page).max(0));
        }
        if let Some(r) = ep.resolved.or(ep.cleared) {
            let took = (r - page).max(0);
            acc.resolve_ms.push(took);
            let acked_before = ep.acked.is_some_and(|a| a <= r);
            if !acked_before && took <= within {
                acc.self_resolved += 1;
            }
        }
    }
    // Names that only got notifications (episodes that started before the window).
    for n in notifications.keys() {
        by_name.entry(n.clone()).or_default();
    }

    let mut rows: Vec<AlertFatigue> = by_name
        .into_iter()
        .map(|(name, mut acc)| {
            acc.ack_ms.sort_unstable();
            acc.resolve_ms.sort_unstable();
            AlertFatigue {
                notifications: notifications.get(&name).copied().unwrap_or(0),
                alertname: name,
                fired: acc.fired,
                acknowledged: acc.acked,
                acknowledged_share: share(acc.acked, acc.fired),
                ack_median_seconds: percentile(&acc.ack_ms, 0.5),
                ack_p90_seconds: percentile(&acc.ack_ms, 0.9),
                resolved: acc.resolve_ms.len() as u64,
                resolve_median_seconds: percentile(&acc.resolve_ms, 0.5),
                resolve_p90_seconds: percentile(&acc.resolve_ms, 0.9),
                self_resolved: acc.self_resolved,
                self_resolved_share: share(acc.self_resolved, acc.fired),
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.notifications
            .cmp(&a.notifications)
            .then(b.fired.cmp(&a.fired))
            .then_with(|| a.alertname.cmp(&b.alertname))
    });
    let omitted = rows.len().saturating_sub(p.limit);
    rows.truncate(p.limit);

    let mut recv: Vec<ReceiverNoise> = receivers
        .into_iter()
        .map(|(r, (sent, failed))| ReceiverNoise {
            receiver: r.to_string(),
            notifications: sent,
            failed,
        })
        .collect();
    recv.sort_by(|a, b| {
        b.notifications
            .cmp(&a.notifications)
            .then(b.failed.cmp(&a.failed))
            .then_with(|| a.receiver.cmp(&b.receiver))
    });
    recv.truncate(MAX_RECEIVERS);

    let truncated = retention < p.window;
    FatigueReport {
        generated_at: api_time(p.now),
        window: p.window.to_string(),
        covered_from: api_time(from),
        history_retention: retention.to_string(),
        window_truncated: truncated,
        note: truncated.then(|| {
            format!(
                "the notifier keeps its history and ack log for {retention}: this report covers \
                 the last {retention} of the {} asked for",
                p.window
            )
        }),
        self_resolved_within: p.self_resolved_within.to_string(),
        time_zone: p.time_zone.name().to_string(),
        alerts: rows,
        alerts_omitted: omitted,
        receivers: recv,
        hours: (0u8..24)
            .map(|h| HourNoise {
                hour: h,
                notifications: hours[usize::from(h)],
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Labels;

    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const H: i64 = 60 * M;
    /// 2026-11-20T00:00:00Z.
    const DAY0: i64 = 1_795_132_800_000;

    fn labels(name: &str) -> Labels {
        Labels::from_pairs([("alertname", name)])
    }

    /// A delivery of `alerts` (fingerprint, name, start, end when resolved).
    fn sent(
        at: i64,
        receiver: &str,
        result: &str,
        alerts: &[(&str, &str, i64, Option<i64>)],
    ) -> HistoryEntry {
        HistoryEntry {
            kind: HistoryKind::Delivery,
            at,
            group_key: "g".into(),
            receiver: receiver.into(),
            integration: "webhook[0]".into(),
            status: if alerts.iter().any(|a| a.3.is_none()) {
                "firing"
            } else {
                "resolved"
            }
            .into(),
            alerts: alerts.iter().map(|a| a.0.to_string()).collect(),
            alert_labels: alerts.iter().map(|a| labels(a.1)).collect(),
            alert_times: alerts
                .iter()
                .map(|a| AlertTimes {
                    firing: a.3.is_none(),
                    starts_at: a.2,
                    ends_at: a.3,
                })
                .collect(),
            attempt: 1,
            result: result.into(),
            error: None,
        }
    }

    fn resolved_mark(at: i64, fp: &str, name: &str, start: i64) -> HistoryEntry {
        let mut h = sent(at, "team", "recorded", &[(fp, name, start, Some(at))]);
        h.kind = HistoryKind::Resolved;
        h.integration.clear();
        h.attempt = 0;
        h
    }

    fn ack(at: i64, fp: &str, action: &str) -> AckEvent {
        AckEvent {
            action: action.into(),
            fingerprint: fp.into(),
            labels: Labels::empty(),
            author: "me".into(),
            comment: String::new(),
            at,
        }
    }

    fn params(now: i64, window: &str) -> ReportParams {
        ReportParams::new(
            now,
            window.parse().unwrap(),
            DEFAULT_SELF_RESOLVED_WITHIN,
            chrono_tz::UTC,
            DEFAULT_LIMIT,
        )
        .unwrap()
    }

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn figures_match_a_hand_computed_history() {
        // Flappy (fp f1): fires 3 times, each paged at 09:00:30 on days 0, 1, 2, resolving by
        // itself after 2 m, 3 m and 20 m. Disk (fp d1): paged at 03:00 day 1, acked 4 m later,
        // resolved 30 m after the page; paged again (new start) at 03:00 day 2, acked after
        // 10 m, still firing. One failed attempt before day 2's Disk page.
        let f_start = |d: i64| DAY0 + d * 24 * H + 9 * H;
        let page_f = |d: i64| f_start(d) + 30 * S;
        let mut h = Vec::new();
        for (d, lasted) in [(0, 2 * M), (1, 3 * M), (2, 20 * M)] {
            h.push(sent(
                page_f(d),
                "team",
                "success",
                &[("f1", "Flappy", f_start(d), None)],
            ));
            h.push(resolved_mark(
                page_f(d) + lasted,
                "f1",
                "Flappy",
                f_start(d),
            ));
        }
        let d1 = DAY0 + 24 * H + 3 * H;
        let d2 = DAY0 + 2 * 24 * H + 3 * H;
        h.push(sent(d1, "oncall", "success", &[("d1", "Disk", d1, None)]));
        // A resolved notification (send_resolved) and the mark agree on the end.
        h.push(sent(
            d1 + 30 * M,
            "oncall",
            "success",
            &[("d1", "Disk", d1, Some(d1 + 30 * M))],
        ));
        h.push(resolved_mark(d1 + 30 * M, "d1", "Disk", d1));
        h.push(sent(
            d2 - M,
            "oncall",
            "failed",
            &[("d1", "Disk", d2 - M, None)],
        ));
        h.push(sent(
            d2,
            "oncall",
            "success",
            &[("d1", "Disk", d2 - M, None)],
        ));
        h.sort_by_key(|e| e.at);
        let acks = vec![
            ack(d1 + 4 * M, "d1", "ack"),
            ack(d1 + 30 * M, "d1", "cleared"),
            ack(d2 + 10 * M, "d1", "ack"),
        ];
        let now = DAY0 + 3 * 24 * H;
        let r = compute(&h, &acks, &params(now, "7d"), WEEK);

        assert_eq!(r.alerts.len(), 2);
        let f = &r.alerts[0];
        assert_eq!(f.alertname, "Flappy");
        assert_eq!((f.fired, f.notifications, f.acknowledged), (3, 3, 0));
        assert_eq!(f.acknowledged_share, 0.0);
        assert_eq!((f.ack_median_seconds, f.ack_p90_seconds), (None, None));
        assert_eq!(f.resolved, 3);
        // 120, 180, 1200 s: nearest-rank median 180, p90 1200.
        assert_eq!(f.resolve_median_seconds, Some(180.0));
        assert_eq!(f.resolve_p90_seconds, Some(1200.0));
        // 2 m and 3 m are within 5 m; 20 m is not.
        assert_eq!(f.self_resolved, 2);
        assert!((f.self_resolved_share - 2.0 / 3.0).abs() < 1e-9);

        let d = &r.alerts[1];
        assert_eq!(d.alertname, "Disk");
        // Two episodes; notifications: page, resolved, page (the failed attempt is not sent).
        assert_eq!((d.fired, d.notifications, d.acknowledged), (2, 3, 2));
        assert_eq!(d.acknowledged_share, 1.0);
        // Acks 240 s and 600 s after the page (the second from the successful delivery).
        assert_eq!(d.ack_median_seconds, Some(240.0));
        assert_eq!(d.ack_p90_seconds, Some(600.0));
        assert_eq!(d.resolved, 1);
        assert_eq!(d.resolve_median_seconds, Some(1800.0));
        assert_eq!(d.self_resolved, 0);

        assert_eq!(r.receivers.len(), 2);
        assert_eq!(
            (
                &r.receivers[0].receiver[..],
                r.receivers[0].notifications,
                r.receivers[0].failed
            ),
            ("oncall", 3, 1)
        );
        assert_eq!(
            (
                &r.receivers[1].receiver[..],
                r.receivers[1].notifications,
                r.receivers[1].failed
            ),
            ("team", 3, 0)
        );
        let noisy: Vec<(u8, u64)> = r
            .noisiest_hours()
            .iter()
            .map(|h| (h.hour, h.notifications))
            .collect();
        assert_eq!(noisy, [(3, 3), (9, 3)]);
        assert!(!r.window_truncated);
        assert_eq!(r.note, None);
        assert_eq!(r.covered_from, api_time(now - 7 * 24 * H));

        // Another zone moves the hours: Oslo is UTC+1 in November.
        let mut p = params(now, "7d");
        p.time_zone = chrono_tz::Europe::Oslo;
        let r = compute(&h, &acks, &p, WEEK);
        let noisy: Vec<u8> = r.noisiest_hours().iter().map(|h| h.hour).collect();
        assert_eq!(noisy, [4, 10]);
        assert_eq!(r.time_zone, "Europe/Oslo");

        // A longer threshold counts the 20 m one too.
        let mut p = params(now, "7d");
        p.self_resolved_within = "30m".parse().unwrap();
        assert_eq!(compute(&h, &acks, &p, WEEK).alerts[0].self_resolved, 3);
    }

    #[test]
    fn the_window_and_the_retention_bound_what_counts() {
        let h = vec![
            sent(DAY0, "r", "success", &[("a", "Old", DAY0, None)]),
            sent(
                DAY0 + 10 * H,
                "r",
                "success",
                &[("b", "New", DAY0 + 10 * H, None)],
            ),
            // A repeat of Old inside the window: a notification, no firing.
            sent(DAY0 + 11 * H, "r", "success", &[("a", "Old", DAY0, None)]),
        ];
        let now = DAY0 + 12 * H;
        let r = compute(&h, &[], &params(now, "6h"), WEEK);
        let got: Vec<(&str, u64, u64)> = r
            .alerts
            .iter()
            .map(|a| (a.alertname.as_str(), a.fired, a.notifications))
            .collect();
        assert_eq!(got, [("New", 1, 1), ("Old", 0, 1)]);
        // A retention shorter than the window cuts it and says so.
        let r = compute(&h, &[], &params(now, "30d"), Duration::from_secs(5 * 3600));
        assert!(r.window_truncated);
        assert_eq!(r.covered_from, api_time(now - 5 * H));
        assert!(r.note.unwrap().contains("for 5h"));
        let got: Vec<(&str, u64, u64)> = r
            .alerts
            .iter()
            .map(|a| (a.alertname.as_str(), a.fired, a.notifications))
            .collect();
        assert_eq!(got, [("New", 1, 1), ("Old", 0, 1)]);
        // The limit keeps the noisiest.
        let mut p = params(now, "1d");
        p.limit = 1;
        let r = compute(&h, &[], &p, WEEK);
        assert_eq!(r.alerts.len(), 1);
        assert_eq!(r.alerts[0].alertname, "Old");
        assert_eq!(r.alerts_omitted, 1);
    }

    #[test]
    fn an_ack_before_resolution_is_not_self_resolved_and_legacy_entries_only_count_as_notifications(
    ) {
        let mut legacy = sent(DAY0, "r", "success", &[("x", "Legacy", DAY0, None)]);
        legacy.alert_times.clear();
        let h = vec![
            legacy,
            sent(DAY0 + M, "r", "success", &[("a", "Quick", DAY0, None)]),
            resolved_mark(DAY0 + 3 * M, "a", "Quick", DAY0),
        ];
        let acks = vec![
            ack(DAY0 + 2 * M, "a", "ack"),
            ack(DAY0 + 2 * M, "zz", "ack"),
        ];
        let r = compute(&h, &acks, &params(DAY0 + H, "1d"), WEEK);
        let q = r.alerts.iter().find(|a| a.alertname == "Quick").unwrap();
        assert_eq!((q.fired, q.acknowledged, q.self_resolved), (1, 1, 0));
        assert_eq!(q.ack_median_seconds, Some(60.0));
        assert_eq!(q.resolve_median_seconds, Some(120.0));
        let l = r.alerts.iter().find(|a| a.alertname == "Legacy").unwrap();
        assert_eq!((l.fired, l.notifications), (0, 1));
    }

    #[test]
    fn parameters_are_bounded() {
        let d = |s: &str| s.parse::<Duration>().unwrap();
        let p = |w: &str, n: &str, l: usize| ReportParams::new(0, d(w), d(n), chrono_tz::UTC, l);
        assert!(p("30d", "5m", 100).is_ok());
        assert_eq!(
            p("400d", "5m", 100).unwrap_err().to_string(),
            "`since` must be between 1m and 366d, got 400d"
        );
        assert!(p("30s", "5m", 100).is_err());
        assert!(p("30d", "2d", 100)
            .unwrap_err()
            .to_string()
            .contains("between 1s and 1d"));
        assert!(p("30d", "0s", 100).is_err());
        assert!(p("30d", "5m", 0).unwrap_err().to_string().contains("1000"));
        assert!(p("30d", "5m", 1001).is_err());
    }
}
