//! `api.limits` on what a client can make alertd hold through `POST /api/v2/alerts`: alerts per
//! request, labels and annotations per alert, the sizes of their names and values, and the
//! number of active alerts received through the API; and the size of an acknowledgement's
//! author and comment (`/api/alertd/v1/acks`). A request over any limit is refused as a
//! whole (nothing of it is stored) with an error naming the limit. Silences are bounded by the
//! notifier (10,000 active or pending, 64 KiB each, as Alertmanager's defaults).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use model::api::PostableAlert;
use model::{Alert, Labels, Timestamp};

use crate::config::ApiLimits;

/// A request over a limit: the status to answer and a message naming the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OverLimit {
    /// 413 for a request too large, 429 when alertd holds too many alerts already.
    pub status: StatusCode,
    /// Names the `api.limits` key.
    pub message: String,
}

fn too_large(message: String) -> OverLimit {
    OverLimit {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        message,
    }
}

/// Checks the alerts of one `POST /api/v2/alerts` against `l` (before anything is stored).
pub(crate) fn check_posted(posted: &[PostableAlert], l: &ApiLimits) -> Result<(), OverLimit> {
    check_count(posted.len(), l)?;
    for (i, a) in posted.iter().enumerate() {
        check_set(i, "label", &a.labels, l.label_value_bytes, l)?;
        check_set(i, "annotation", &a.annotations, l.annotation_bytes, l)?;
    }
    Ok(())
}

/// The number of alerts in one request against `alerts_per_request` (checked before each alert
/// is decoded).
pub(crate) fn check_count(n: usize, l: &ApiLimits) -> Result<(), OverLimit> {
    if n > l.alerts_per_request as usize {
        return Err(too_large(format!(
            "{n} alerts in one request, over api.limits.alerts_per_request ({})",
            l.alerts_per_request
        )));
    }
    Ok(())
}

fn check_set(
    i: usize,
    what: &str,
    set: &Labels,
    max_value: u32,
    l: &ApiLimits,
) -> Result<(), OverLimit> {
    if set.len() > l.labels_per_alert as usize {
        return Err(too_large(format!(
            "alert {i}: {} {what}s, over api.limits.labels_per_alert ({})",
            set.len(),
            l.labels_per_alert
        )));
    }
    for lb in set.iter() {
        if lb.name.len() > l.label_name_bytes as usize {
            return Err(too_large(format!(
                "alert {i}: a {what} name of {} bytes, over api.limits.label_name_bytes ({})",
                lb.name.len(),
                l.label_name_bytes
            )));
        }
        if lb.value.len() > max_value as usize {
            let key = if what == "label" {
                "label_value_bytes"
            } else {
                "annotation_bytes"
            };
            return Err(too_large(format!(
                "alert {i}: {what} {:?} has a value of {} bytes, over api.limits.{key} ({max_value})",
                lb.name,
                lb.value.len()
            )));
        }
    }
    Ok(())
}

/// Checks an acknowledgement's author (at most `label_value_bytes`) and comment (at most
/// `annotation_bytes`): one is kept per acknowledged alert.
pub(crate) fn check_ack(author: &str, comment: &str, l: &ApiLimits) -> Result<(), OverLimit> {
    if author.len() > l.label_value_bytes as usize {
        return Err(too_large(format!(
            "an author of {} bytes, over api.limits.label_value_bytes ({})",
            author.len(),
            l.label_value_bytes
        )));
    }
    if comment.len() > l.annotation_bytes as usize {
        return Err(too_large(format!(
            "a comment of {} bytes, over api.limits.annotation_bytes ({})",
            comment.len(),
            l.annotation_bytes
        )));
    }
    Ok(())
}

/// The alerts received through the API that are still active: fingerprint → when it resolves
/// (its `endsAt`, or the time `global.resolve_timeout` resolves it). Counted since startup.
#[derive(Debug, Default)]
pub(crate) struct ApiAlerts {
    active: Mutex<HashMap<u64, Timestamp>>,
}

impl ApiAlerts {
    /// Admits `alerts` if the active API alerts, with the new ones among them, stay within
    /// `max`; records them then. `resolve_timeout_ms` is when an alert without an end resolves.
    /// Alerts already active (sent again) and resolved ones never count against the limit.
    pub(crate) fn admit(
        &self,
        alerts: &[Alert],
        now: Timestamp,
        resolve_timeout_ms: i64,
        max: u32,
    ) -> Result<(), OverLimit> {
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        active.retain(|_, ends| *ends > now);
        let ends_of = |a: &Alert| a.ends_at.unwrap_or(now + resolve_timeout_ms);
        let mut new: Vec<u64> = alerts
            .iter()
            .filter(|a| ends_of(a) > now)
            .map(|a| a.fingerprint().0)
            .filter(|fp| !active.contains_key(fp))
            .collect();
        new.sort_unstable();
        new.dedup();
        let mut resolving: Vec<u64> = alerts
            .iter()
            .filter(|a| ends_of(a) <= now)
            .map(|a| a.fingerprint().0)
            .filter(|fp| active.contains_key(fp))
            .collect();
        resolving.sort_unstable();
        resolving.dedup();
        if active.len() - resolving.len() + new.len() > max as usize {
            return Err(OverLimit {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!(
                    "{} active alerts received through the API and {} new ones, over \
                     api.limits.api_alerts ({max})",
                    active.len() - resolving.len(),
                    new.len()
                ),
            });
        }
        for a in alerts {
            let fp = a.fingerprint().0;
            let ends = ends_of(a);
            if ends > now {
                active.insert(fp, ends);
            } else {
                active.remove(&fp);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn posted(labels: usize, value: usize) -> PostableAlert {
        let mut pairs: Vec<(String, String)> = (0..labels)
            .map(|i| (format!("l{i}"), "v".repeat(value)))
            .collect();
        pairs.push(("alertname".into(), "A".into()));
        PostableAlert {
            labels: Labels::from_pairs(pairs),
            annotations: Labels::empty(),
            starts_at: None,
            ends_at: None,
            generator_url: String::new(),
        }
    }

    #[test]
    fn each_limit_is_named() {
        let l = ApiLimits {
            alerts_per_request: 2,
            labels_per_alert: 3,
            label_name_bytes: 9,
            label_value_bytes: 5,
            annotation_bytes: 6,
            ..ApiLimits::default()
        };
        assert_eq!(check_posted(&[posted(2, 5), posted(0, 1)], &l), Ok(()));
        let e = check_posted(&[posted(0, 1), posted(0, 1), posted(0, 1)], &l).unwrap_err();
        assert!(e.message.contains("alerts_per_request (2)"), "{e:?}");
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        let e = check_posted(&[posted(3, 1)], &l).unwrap_err();
        assert!(e.message.contains("labels_per_alert (3)"), "{e:?}");
        let e = check_posted(&[posted(1, 6)], &l).unwrap_err();
        assert!(e.message.contains("label_value_bytes (5)"), "{e:?}");
        let mut long_name = posted(0, 1);
        long_name.labels = Labels::from_pairs([("alertname_x", "A")]);
        let e = check_posted(&[long_name], &l).unwrap_err();
        assert!(e.message.contains("label_name_bytes (9)"), "{e:?}");
        let mut ann = posted(0, 1);
        ann.annotations = Labels::from_pairs([("d", "1234567")]);
        let e = check_posted(&[ann], &l).unwrap_err();
        assert!(e.message.contains("annotation_bytes (6)"), "{e:?}");
        assert_eq!(check_ack("me", "why", &l), Ok(()));
        let e = check_ack("me", "1234567", &l).unwrap_err();
        assert!(e.message.contains("annotation_bytes (6)"), "{e:?}");
        let e = check_ack("123456", "", &l).unwrap_err();
        assert!(e.message.contains("label_value_bytes (5)"), "{e:?}");
    }

    #[test]
    fn active_api_alerts_are_counted_until_they_resolve() {
        let t = ApiAlerts::default();
        let alert = |name: &str, ends: Option<Timestamp>| {
            let mut a = posted(0, 1).into_alert(0).unwrap();
            a.labels = Labels::from_pairs([("alertname", name)]);
            a.ends_at = ends;
            a
        };
        let (a, b, c) = (alert("a", None), alert("b", Some(50)), alert("c", None));
        assert!(t.admit(&[a.clone(), b.clone()], 0, 100, 2).is_ok());
        // Sent again: not new.
        assert!(t.admit(&[a.clone(), b.clone()], 10, 100, 2).is_ok());
        let e = t.admit(std::slice::from_ref(&c), 10, 100, 2).unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(e.message.contains("api.limits.api_alerts (2)"), "{e:?}");
        // b has resolved by 60: room for c.
        assert!(t.admit(std::slice::from_ref(&c), 60, 100, 2).is_ok());
        // Resolving a frees its place at once.
        let e = t.admit(&[alert("d", None)], 61, 100, 2);
        assert!(e.is_err());
        assert!(t
            .admit(&[alert("a", Some(61)), alert("d", None)], 61, 100, 2)
            .is_ok());
    }
}
