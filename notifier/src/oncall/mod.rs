//! On call: `oncall_schedules` (who is on call, [`schedule`]), overrides added through the API
//! ([`overrides`], durable in the KV store), `response_targets` by severity, and the escalation
//! tiers that name them ([`Tier`]), resolved when a tier sends.
//!
//! Members are reached through receivers: each member names a receiver of `receivers:` (a Slack
//! receiver with the person's user or channel, an email receiver with their address, a
//! PagerDuty or Pushover receiver...), so every receiver type works and nothing new is needed
//! to deliver.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, NaiveTime};
use chrono_tz::Tz;
use model::{Duration, Labels, Timestamp};

use crate::config::{
    NotifierConfig, OncallRole, OncallSchedule, OncallTarget, ResponseTarget, Rotation, TierAfter,
};

pub mod overrides;
pub mod schedule;

pub use overrides::{OverrideError, OverrideStore};
pub use schedule::{Cover, Layer, OnCall, Schedule, ShiftLength};

/// How far ahead the next hand-off is looked for.
pub const HANDOFF_HORIZON_MS: i64 = 62 * 86_400_000;

/// An escalation tier as the dispatcher runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Tier {
    /// When it fires.
    pub after: TierAfter,
    /// Fixed receivers.
    pub receivers: Vec<String>,
    /// On-call targets.
    pub oncall: Vec<OncallTarget>,
}

impl Tier {
    /// Whether it fires with the group's first notification.
    pub fn immediate(&self) -> bool {
        self.after == TierAfter::Fixed(Duration::ZERO)
    }
}

/// What `oncall_schedules` and `response_targets` make.
#[derive(Debug, Clone, Default)]
pub struct OncallRouting {
    /// Schedules by name.
    pub schedules: HashMap<String, Schedule>,
    targets: Vec<ResponseTarget>,
}

impl OncallRouting {
    /// Builds from a validated config.
    pub fn build(cfg: &NotifierConfig) -> Self {
        let schedules = cfg
            .oncall_schedules
            .iter()
            .filter_map(|s| parse_schedule(s, &mut |_, _| {}).map(|p| (s.name.clone(), p)))
            .collect();
        OncallRouting {
            schedules,
            targets: cfg.response_targets.clone(),
        }
    }

    /// The response target of an alert with `labels`: its severity's, else the default entry.
    pub fn target(&self, labels: &Labels) -> Option<&ResponseTarget> {
        let sev = labels.get_or_empty("severity");
        self.targets
            .iter()
            .find(|t| t.severity.as_deref() == Some(sev))
            .or_else(|| self.targets.iter().find(|t| t.severity.is_none()))
    }

    /// The receivers of `tier` at `at`, with `extra` (the API's) overrides.
    pub fn tier_receivers(
        &self,
        tier: &Tier,
        at: Timestamp,
        extra: &dyn Fn(&str) -> Vec<Cover>,
    ) -> Vec<String> {
        let mut v = tier.receivers.clone();
        for t in &tier.oncall {
            let Some(s) = self.schedules.get(&t.schedule) else {
                continue;
            };
            let who = s.on_call(at, &extra(&t.schedule));
            let member = match t.role {
                OncallRole::Primary => who.primary,
                OncallRole::Secondary => who.secondary,
            };
            match member.as_deref().and_then(|m| s.receiver_of(m)) {
                Some(r) if !v.iter().any(|x| x == r) => v.push(r.to_string()),
                Some(_) => {}
                None => tracing::warn!(
                    schedule = %t.schedule,
                    role = ?t.role,
                    "nobody is on call for an escalation tier"
                ),
            }
        }
        v
    }
}

/// Parses an RFC 3339 time to milliseconds.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

fn parse_tz(s: Option<&str>, default: Tz) -> Result<Tz, String> {
    match s {
        None => Ok(default),
        Some(z) => z
            .parse::<Tz>()
            .map_err(|_| format!("unknown time zone {z:?} (an IANA name such as Europe/Oslo)")),
    }
}

/// Parses one schedule; every problem goes to `err` (path relative to the schedule, message).
fn parse_schedule(s: &OncallSchedule, err: &mut dyn FnMut(String, String)) -> Option<Schedule> {
    let mut ok = true;
    let mut bad = |p: String, m: String| {
        ok = false;
        err(p, m);
    };
    let tz = parse_tz(s.time_zone.as_deref(), chrono_tz::UTC).unwrap_or_else(|m| {
        bad(".time_zone".into(), m);
        chrono_tz::UTC
    });
    let mut names = BTreeSet::new();
    for (i, m) in s.members.iter().enumerate() {
        if m.name.is_empty() {
            bad(format!(".members[{i}].name"), "missing member name".into());
        } else if !names.insert(m.name.as_str()) {
            bad(
                format!(".members[{i}].name"),
                format!("duplicate member {:?}", m.name),
            );
        }
    }
    if s.layers.is_empty() {
        bad(
            ".layers".into(),
            "a schedule needs at least one layer".into(),
        );
    }
    let mut layers = Vec::new();
    for (i, l) in s.layers.iter().enumerate() {
        let p = format!(".layers[{i}]");
        let ltz = parse_tz(l.time_zone.as_deref(), tz).unwrap_or_else(|m| {
            bad(format!("{p}.time_zone"), m);
            tz
        });
        let length = match (l.rotation, l.length) {
            (Rotation::Daily, None) => ShiftLength::Days(1),
            (Rotation::Weekly, None) => ShiftLength::Days(7),
            (Rotation::Custom, Some(d)) if d.as_millis() == 0 => {
                bad(format!("{p}.length"), "must be greater than 0".into());
                ShiftLength::Days(1)
            }
            (Rotation::Custom, Some(d)) if d.as_millis() % 86_400_000 == 0 => {
                ShiftLength::Days(u32::try_from(d.as_millis() / 86_400_000).unwrap_or(u32::MAX))
            }
            (Rotation::Custom, Some(d)) => ShiftLength::Millis(d.as_millis_i64()),
            (Rotation::Custom, None) => {
                bad(
                    format!("{p}.length"),
                    "a custom rotation needs a length".into(),
                );
                ShiftLength::Days(1)
            }
            (_, Some(_)) => {
                bad(
                    format!("{p}.length"),
                    "length is only for rotation: custom".into(),
                );
                ShiftLength::Days(1)
            }
        };
        let start = NaiveDate::parse_from_str(&l.start, "%Y-%m-%d").unwrap_or_else(|_| {
            bad(
                format!("{p}.start"),
                format!("{:?} is not a date (YYYY-MM-DD)", l.start),
            );
            NaiveDate::MIN
        });
        let handoff = match &l.handoff_time {
            None => NaiveTime::MIN,
            Some(h) => parse_hhmm(h).unwrap_or_else(|| {
                bad(
                    format!("{p}.handoff_time"),
                    format!("{h:?} is not a time of day (HH:MM)"),
                );
                NaiveTime::MIN
            }),
        };
        let hours = l.hours.as_ref().and_then(|h| {
            let r = h
                .split_once('-')
                .and_then(|(a, b)| Some((parse_hhmm(a)?, parse_hhmm(b)?)));
            if r.is_none() {
                bad(
                    format!("{p}.hours"),
                    format!("{h:?} is not a range of hours (HH:MM-HH:MM)"),
                );
            }
            r
        });
        if l.members.is_empty() {
            bad(format!("{p}.members"), "a layer needs members".into());
        }
        for m in &l.members {
            if !names.contains(m.as_str()) {
                bad(format!("{p}.members"), format!("unknown member {m:?}"));
            }
        }
        layers.push(Layer {
            tz: ltz,
            length,
            start,
            handoff,
            members: l.members.clone(),
            hours,
        });
    }
    let mut overrides = Vec::new();
    for (i, o) in s.overrides.iter().enumerate() {
        let p = format!(".overrides[{i}]");
        if !names.contains(o.member.as_str()) {
            bad(
                format!("{p}.member"),
                format!("unknown member {:?}", o.member),
            );
        }
        let start = parse_time(&o.start);
        let end = parse_time(&o.end);
        if start.is_none() {
            bad(format!("{p}.start"), "not an RFC 3339 time".into());
        }
        if end.is_none() {
            bad(format!("{p}.end"), "not an RFC 3339 time".into());
        }
        if let (Some(a), Some(b)) = (start, end) {
            if b <= a {
                bad(format!("{p}.end"), "must be after start".into());
            }
            overrides.push(Cover {
                member: o.member.clone(),
                start: a,
                end: b,
            });
        }
    }
    ok.then(|| Schedule {
        name: s.name.clone(),
        members: s
            .members
            .iter()
            .map(|m| (m.name.clone(), m.receiver.clone()))
            .collect(),
        layers,
        overrides,
    })
}

/// Checks `oncall_schedules`, `response_targets` and the escalation tiers that use them.
pub(crate) fn validate(
    cfg: &NotifierConfig,
    receivers: &BTreeSet<&str>,
    err: &mut impl FnMut(String, String),
) {
    let mut schedules = BTreeSet::new();
    for (i, s) in cfg.oncall_schedules.iter().enumerate() {
        let p = format!("oncall_schedules[{i}]");
        if s.name.is_empty() {
            err(format!("{p}.name"), "missing schedule name".into());
        } else if !schedules.insert(s.name.as_str()) {
            err(
                format!("{p}.name"),
                format!("duplicate schedule {:?}", s.name),
            );
        }
        for (j, m) in s.members.iter().enumerate() {
            if !receivers.contains(m.receiver.as_str()) {
                err(
                    format!("{p}.members[{j}].receiver"),
                    format!("unknown receiver {:?}", m.receiver),
                );
            }
        }
        parse_schedule(s, &mut |q, m| err(format!("{p}{q}"), m));
    }
    let mut severities = BTreeSet::new();
    for (i, t) in cfg.response_targets.iter().enumerate() {
        if !severities.insert(t.severity.as_deref()) {
            err(
                format!("response_targets[{i}].severity"),
                match &t.severity {
                    Some(s) => format!("duplicate severity {s:?}"),
                    None => "more than one default entry (without severity)".into(),
                },
            );
        }
        if t.acknowledge_within.is_none() && t.resolve_within.is_none() {
            err(
                format!("response_targets[{i}]"),
                "set acknowledge_within, resolve_within or both".into(),
            );
        }
    }
    let default_ack = cfg
        .response_targets
        .iter()
        .any(|t| t.severity.is_none() && t.acknowledge_within.is_some());
    for (i, e) in cfg.escalations.iter().enumerate() {
        for (j, t) in e.tiers.iter().enumerate() {
            let p = format!("escalations[{i}].tiers[{j}]");
            if t.after == TierAfter::AckTarget && !default_ack {
                err(
                    format!("{p}.after"),
                    "ack_target needs a default entry of response_targets (one without \
                     severity) with acknowledge_within"
                        .into(),
                );
            }
            for (k, o) in t.oncall.iter().enumerate() {
                if !schedules.contains(o.schedule.as_str()) {
                    err(
                        format!("{p}.oncall[{k}].schedule"),
                        format!("unknown on-call schedule {:?}", o.schedule),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key() {
        let cfg = NotifierConfig::from_yaml(
            r#"
route: {receiver: a}
receivers: [{name: a}]
oncall_schedules:
  - name: ops
    time_zone: Europe/Olso
    members: [{name: x, receiver: b}]
    layers:
      - {rotation: weekly, start: "2026-13-01", handoff_time: "25:00", members: [x, y], hours: "8-20"}
    overrides: [{member: z, start: "2026-01-01T00:00:00Z", end: "2025-01-01T00:00:00Z"}]
response_targets:
  - {severity: critical, acknowledge_within: 5m}
  - {severity: critical}
escalations:
  - name: e
    tiers:
      - {after: 0s, oncall: [{schedule: nope}]}
      - {after: ack_target, oncall: [{schedule: ops, role: secondary}]}
"#,
        )
        .unwrap();
        let got: Vec<String> = cfg.validate().iter().map(|e| e.to_string()).collect();
        for want in [
            "oncall_schedules[0].members[0].receiver: unknown receiver \"b\"",
            "oncall_schedules[0].time_zone: unknown time zone \"Europe/Olso\"",
            "oncall_schedules[0].layers[0].start: \"2026-13-01\" is not a date",
            "oncall_schedules[0].layers[0].handoff_time: \"25:00\" is not a time of day",
            "oncall_schedules[0].layers[0].hours: \"8-20\" is not a range of hours",
            "oncall_schedules[0].layers[0].members: unknown member \"y\"",
            "oncall_schedules[0].overrides[0].member: unknown member \"z\"",
            "oncall_schedules[0].overrides[0].end: must be after start",
            "response_targets[1].severity: duplicate severity \"critical\"",
            "response_targets[1]: set acknowledge_within",
            "escalations[0].tiers[0].oncall[0].schedule: unknown on-call schedule \"nope\"",
            "escalations[0].tiers[1].after: ack_target needs a default entry",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(want)),
                "missing {want:?} in {got:#?}"
            );
        }
    }
}
