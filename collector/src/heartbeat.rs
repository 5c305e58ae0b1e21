//! Heartbeats: jobs that must check in (`/ping/<name>`), by `period` or cron `schedule`.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use model::{Duration, Timestamp};

use crate::config::HeartbeatConfig;

/// When a heartbeat is expected: every `period`, or at the times of a cron expression in a zone.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// At least every period.
    Period(Duration),
    /// At cron times in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Its zone.
        tz: chrono_tz::Tz,
    },
}

impl Schedule {
    /// Builds the schedule of a heartbeat config, or says what is wrong with it.
    pub(crate) fn from_config(h: &HeartbeatConfig) -> Result<Self, String> {
        match (&h.period, &h.schedule) {
            (Some(_), Some(_)) => Err("period and schedule are mutually exclusive".to_string()),
            (None, None) => Err("one of period or schedule is required".to_string()),
            (Some(p), None) => {
                if h.timezone.is_some() {
                    return Err("timezone applies only to schedule".to_string());
                }
                if *p == Duration::ZERO {
                    return Err("period must be greater than 0s".to_string());
                }
                Ok(Schedule::Period(*p))
            }
            (None, Some(s)) => {
                let cron = croner::Cron::from_str(s)
                    .map_err(|e| format!("invalid cron schedule {s:?}: {e}"))?;
                let tz = match &h.timezone {
                    None => chrono_tz::UTC,
                    Some(z) => z.parse::<chrono_tz::Tz>().map_err(|_| {
                        format!("unknown timezone {z:?} (expected e.g. Europe/Oslo)")
                    })?,
                };
                Ok(Schedule::Cron {
                    cron: Box::new(cron),
                    tz,
                })
            }
        }
    }

    /// The first expected time strictly after `t` (for a period: `t + period`).
    pub(crate) fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Period(p) => t.checked_add(p.as_millis_i64()),
            Schedule::Cron { cron, tz } => {
                let at = Utc.timestamp_millis_opt(t).single()?.with_timezone(tz);
                cron.find_next_occurrence(&at, false)
                    .ok()
                    .map(|d| d.timestamp_millis())
            }
        }
    }
}
