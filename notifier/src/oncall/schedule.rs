//! Who is on call at an instant: rotation layers on the calendar of their time zone, hours
//! restrictions (follow-the-sun), overrides. Pure: every function takes the instant.
//!
//! - A layer's members take turns, one shift each; the first member's first shift starts on
//!   `start` at `handoff_time`, local time. Shifts of whole days are counted on the calendar,
//!   so a hand-off at 09:00 stays at 09:00 local across a DST change (the shift around the
//!   change is an hour shorter or longer); other lengths are elapsed time from the first
//!   hand-off. A hand-off time that a DST gap skips happens at the first instant after it.
//! - Primary is the member of the current shift, secondary the next one in rotation (the
//!   person who takes over at the next hand-off); a layer of one member has no secondary of
//!   its own and takes the primary of the next active layer below it.
//! - A layer with `hours` is active only during those local hours; where several layers are
//!   active, the last one listed decides (so follow-the-sun layers are listed after a base
//!   layer, or alone).
//! - An override (the last one listed, then the API's newest, wins) makes its member primary
//!   for its range; whoever was primary becomes secondary if the override's member was the
//!   secondary, else the secondary stays.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveTime, TimeZone, Timelike};
use chrono_tz::Tz;
use model::Timestamp;
use serde::Serialize;

/// One rotation layer, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Time zone of `start`, `handoff` and `hours`.
    pub tz: Tz,
    /// Shift length.
    pub length: ShiftLength,
    /// First shift's local date.
    pub start: NaiveDate,
    /// Local hand-off time.
    pub handoff: NaiveTime,
    /// Members in rotation order (names).
    pub members: Vec<String>,
    /// Active only between these local times (`from == to`: all day).
    pub hours: Option<(NaiveTime, NaiveTime)>,
}

/// A shift's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftLength {
    /// Calendar days (local).
    Days(u32),
    /// Elapsed milliseconds.
    Millis(i64),
}

/// A member covering `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cover {
    /// Member name.
    pub member: String,
    /// From (ms).
    pub start: Timestamp,
    /// Until, exclusive (ms).
    pub end: Timestamp,
}

/// Who is on call (member names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OnCall {
    /// The person paged first.
    pub primary: Option<String>,
    /// The next in line.
    pub secondary: Option<String>,
}

/// A schedule, parsed (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Its name.
    pub name: String,
    /// Member name → receiver name.
    pub members: Vec<(String, String)>,
    /// Layers, lowest priority first.
    pub layers: Vec<Layer>,
    /// Overrides from the configuration.
    pub overrides: Vec<Cover>,
}

/// The UTC instant of local `date` at `time` in `tz`; a time a DST gap skips moves forward to
/// the first existing minute after it, an ambiguous one takes the earlier instant.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Timestamp {
    let mut ndt = date.and_time(time);
    for _ in 0..=180 {
        match tz.from_local_datetime(&ndt) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t.timestamp_millis(),
            LocalResult::None => ndt += chrono::Duration::minutes(1),
        }
    }
    // No zone has a gap longer than three hours; read the wall time as UTC rather than fail.
    ndt.and_utc().timestamp_millis()
}

fn local(tz: Tz, at: Timestamp) -> DateTime<Tz> {
    let utc = DateTime::from_timestamp_millis(at).unwrap_or_default();
    utc.with_timezone(&tz)
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        d.checked_add_days(Days::new(n.unsigned_abs()))
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs()))
    }
    .unwrap_or(d)
}

/// Minute-resolution local time of day (seconds kept), for comparisons with hand-offs.
fn time_of(l: &DateTime<Tz>) -> NaiveTime {
    NaiveTime::from_hms_opt(l.hour(), l.minute(), l.second()).unwrap_or_default()
}

impl Layer {
    /// The index of the shift under way at `at` (negative before the first).
    fn shift(&self, at: Timestamp) -> i64 {
        match self.length {
            ShiftLength::Days(n) => {
                let l = local(self.tz, at);
                let mut d = l.date_naive();
                if time_of(&l) < self.handoff {
                    d = add_days(d, -1);
                }
                (d - self.start).num_days().div_euclid(i64::from(n.max(1)))
            }
            ShiftLength::Millis(ms) => {
                let t0 = local_instant(self.tz, self.start, self.handoff);
                (at - t0).div_euclid(ms.max(1))
            }
        }
    }

    /// When shift `i` starts.
    fn shift_start(&self, i: i64) -> Timestamp {
        match self.length {
            ShiftLength::Days(n) => local_instant(
                self.tz,
                add_days(self.start, i.saturating_mul(i64::from(n))),
                self.handoff,
            ),
            ShiftLength::Millis(ms) => {
                local_instant(self.tz, self.start, self.handoff).saturating_add(i * ms)
            }
        }
    }

    fn active(&self, at: Timestamp) -> bool {
        let Some((from, to)) = self.hours else {
            return true;
        };
        let t = time_of(&local(self.tz, at));
        match from.cmp(&to) {
            std::cmp::Ordering::Less => from <= t && t < to,
            std::cmp::Ordering::Greater => t >= from || t < to,
            std::cmp::Ordering::Equal => true,
        }
    }

    /// (primary, secondary) of this layer at `at`, if it is active.
    fn at(&self, at: Timestamp) -> Option<(&str, Option<&str>)> {
        if self.members.is_empty() || !self.active(at) {
            return None;
        }
        let n = self.members.len() as i64;
        let i = self.shift(at);
        let p = &self.members[i.rem_euclid(n) as usize];
        let s = (n > 1).then(|| self.members[(i + 1).rem_euclid(n) as usize].as_str());
        Some((p, s))
    }

    /// The first instant after `at` at which this layer's answer may change.
    fn next_change(&self, at: Timestamp) -> Timestamp {
        let mut next = self.shift_start(self.shift(at) + 1);
        if let Some((from, to)) = self.hours {
            let d = local(self.tz, at).date_naive();
            for k in -1..=2 {
                for t in [from, to] {
                    let x = local_instant(self.tz, add_days(d, k), t);
                    if x > at && x < next {
                        next = x;
                    }
                }
            }
        }
        next.max(at + 1)
    }
}

impl Schedule {
    /// The receiver of member `name`.
    pub fn receiver_of(&self, name: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|(m, _)| m == name)
            .map(|(_, r)| r.as_str())
    }

    /// Who is on call at `at`, with `extra` overrides (the API's) after the configured ones.
    pub fn on_call(&self, at: Timestamp, extra: &[Cover]) -> OnCall {
        let mut primary: Option<&str> = None;
        let mut secondary: Option<&str> = None;
        for l in self.layers.iter().rev() {
            let Some((p, s)) = l.at(at) else { continue };
            match primary {
                None => {
                    primary = Some(p);
                    secondary = s;
                }
                Some(q) if secondary.is_none() && p != q => secondary = Some(p),
                Some(_) => {}
            }
            if secondary.is_some() {
                break;
            }
        }
        let cover = self
            .overrides
            .iter()
            .chain(extra)
            .rfind(|c| c.start <= at && at < c.end);
        if let Some(c) = cover {
            let m = c.member.as_str();
            if primary != Some(m) {
                if secondary == Some(m) || secondary.is_none() {
                    secondary = primary;
                }
                primary = Some(m);
            }
        }
        OnCall {
            primary: primary.map(str::to_string),
            secondary: secondary.map(str::to_string),
        }
    }

    /// The next instant after `at` at which who is on call changes, and who is then, looking
    /// at most `horizon_ms` ahead.
    pub fn next_handoff(
        &self,
        at: Timestamp,
        extra: &[Cover],
        horizon_ms: i64,
    ) -> Option<(Timestamp, OnCall)> {
        let now = self.on_call(at, extra);
        let mut t = at;
        let end = at.saturating_add(horizon_ms);
        while t < end {
            let mut next = self
                .layers
                .iter()
                .map(|l| l.next_change(t))
                .min()
                .unwrap_or(i64::MAX);
            for c in self.overrides.iter().chain(extra) {
                for x in [c.start, c.end] {
                    if x > t && x < next {
                        next = x;
                    }
                }
            }
            if next == i64::MAX || next > end {
                return None;
            }
            let then = self.on_call(next, extra);
            if then != now {
                return Some((next, then));
            }
            t = next;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    fn weekly_oslo() -> Schedule {
        Schedule {
            name: "ops".into(),
            members: vec![],
            layers: vec![Layer {
                tz: chrono_tz::Europe::Oslo,
                length: ShiftLength::Days(7),
                // A Monday.
                start: NaiveDate::from_ymd_opt(2026, 3, 16).unwrap(),
                handoff: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                members: vec!["alice".into(), "bob".into(), "carol".into()],
                hours: None,
            }],
            overrides: vec![],
        }
    }

    fn who(s: &Schedule, at: &str) -> (String, String) {
        let o = s.on_call(ts(at), &[]);
        (
            o.primary.unwrap_or_default(),
            o.secondary.unwrap_or_default(),
        )
    }

    #[test]
    fn weekly_rotation_hands_off_at_local_nine_across_dst() {
        let s = weekly_oslo();
        assert_eq!(
            who(&s, "2026-03-16T08:00:00Z"),
            ("alice".into(), "bob".into())
        );
        // CET: 09:00 local is 08:00 UTC.
        assert_eq!(
            who(&s, "2026-03-23T07:59:59Z"),
            ("alice".into(), "bob".into())
        );
        assert_eq!(
            who(&s, "2026-03-23T08:00:00Z"),
            ("bob".into(), "carol".into())
        );
        // DST starts 2026-03-29; from then 09:00 local is 07:00 UTC.
        let h = s.next_handoff(ts("2026-03-23T08:00:00Z"), &[], 30 * 86_400_000);
        assert_eq!(h.map(|h| h.0), Some(ts("2026-03-30T07:00:00Z")));
        assert_eq!(
            who(&s, "2026-03-30T06:59:59Z"),
            ("bob".into(), "carol".into())
        );
        assert_eq!(
            who(&s, "2026-03-30T07:00:00Z"),
            ("carol".into(), "alice".into())
        );
        assert_eq!(
            who(&s, "2026-04-06T07:00:00Z"),
            ("alice".into(), "bob".into())
        );
        // Back to CET in October.
        assert_eq!(
            who(&s, "2026-10-26T07:59:00Z"),
            who(&s, "2026-10-19T07:00:00Z")
        );
        assert_ne!(
            who(&s, "2026-10-26T08:00:00Z"),
            who(&s, "2026-10-19T07:00:00Z")
        );
    }

    #[test]
    fn follow_the_sun_pair_by_hours() {
        let layer = |tz: Tz, hours: (u32, u32), who: &str| Layer {
            tz,
            length: ShiftLength::Days(1),
            start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            handoff: NaiveTime::MIN,
            members: vec![who.into()],
            hours: Some((
                NaiveTime::from_hms_opt(hours.0, 0, 0).unwrap(),
                NaiveTime::from_hms_opt(hours.1, 0, 0).unwrap(),
            )),
        };
        let s = Schedule {
            name: "sun".into(),
            members: vec![],
            layers: vec![
                layer(chrono_tz::Europe::Oslo, (8, 20), "oslo"),
                layer(chrono_tz::America::New_York, (14, 2), "nyc"),
            ],
            overrides: vec![],
        };
        // 10:00 UTC = 11:00 Oslo, 05:00 New York: Oslo alone, no one below it.
        assert_eq!(
            who(&s, "2026-02-02T10:00:00Z"),
            ("oslo".into(), String::new())
        );
        // 19:30 UTC = 20:30 Oslo (off), 14:30 New York (on).
        assert_eq!(
            who(&s, "2026-02-02T19:30:00Z"),
            ("nyc".into(), String::new())
        );
        // 19:00 UTC is 20:00 Oslo (off) and 14:00 New York (on).
        assert_eq!(
            who(&s, "2026-02-02T19:00:00Z"),
            ("nyc".into(), String::new())
        );
        // 18:30 UTC: 19:30 Oslo and 13:30 New York: Oslo only.
        assert_eq!(
            who(&s, "2026-02-02T18:30:00Z"),
            ("oslo".into(), String::new())
        );
        // 08:00 UTC: 09:00 Oslo, 03:00 New York.
        let next = s.next_handoff(ts("2026-02-02T08:00:00Z"), &[], 86_400_000);
        assert_eq!(
            next,
            Some((
                ts("2026-02-02T19:00:00Z"),
                OnCall {
                    primary: Some("nyc".into()),
                    secondary: None
                }
            ))
        );
        // 06:30 UTC is 01:30 New York (on, past midnight) and 07:30 Oslo (off).
        assert_eq!(
            who(&s, "2026-02-03T06:30:00Z"),
            ("nyc".into(), String::new())
        );
        // 07:00 UTC: 02:00 New York (off), 08:00 Oslo (on).
        assert_eq!(
            who(&s, "2026-02-03T07:00:00Z"),
            ("oslo".into(), String::new())
        );
    }

    #[test]
    fn override_inside_a_shift() {
        let mut s = weekly_oslo();
        s.overrides.push(Cover {
            member: "carol".into(),
            start: ts("2026-03-18T12:00:00Z"),
            end: ts("2026-03-18T18:00:00Z"),
        });
        assert_eq!(
            who(&s, "2026-03-18T11:59:59Z"),
            ("alice".into(), "bob".into())
        );
        assert_eq!(
            who(&s, "2026-03-18T12:00:00Z"),
            ("carol".into(), "bob".into())
        );
        assert_eq!(
            who(&s, "2026-03-18T18:00:00Z"),
            ("alice".into(), "bob".into())
        );
        // The covered person moves to secondary when the override's member was secondary.
        let extra = [Cover {
            member: "bob".into(),
            start: ts("2026-03-19T00:00:00Z"),
            end: ts("2026-03-19T06:00:00Z"),
        }];
        let o = s.on_call(ts("2026-03-19T01:00:00Z"), &extra);
        assert_eq!(o.primary.as_deref(), Some("bob"));
        assert_eq!(o.secondary.as_deref(), Some("alice"));
        let h = s.next_handoff(ts("2026-03-18T13:00:00Z"), &extra, 86_400_000);
        assert_eq!(h.map(|h| h.0), Some(ts("2026-03-18T18:00:00Z")));
    }

    #[test]
    fn custom_length_in_elapsed_time_and_gap_handoff() {
        let s = Schedule {
            name: "x".into(),
            members: vec![],
            layers: vec![Layer {
                tz: chrono_tz::Europe::Oslo,
                length: ShiftLength::Millis(12 * 3_600_000),
                start: NaiveDate::from_ymd_opt(2026, 3, 28).unwrap(),
                handoff: NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
                members: vec!["a".into(), "b".into()],
                hours: None,
            }],
            overrides: vec![],
        };
        // 2026-03-28 08:00 CET = 07:00 UTC; shifts every 12 h of elapsed time.
        assert_eq!(who(&s, "2026-03-28T07:00:00Z").0, "a");
        assert_eq!(who(&s, "2026-03-28T19:00:00Z").0, "b");
        assert_eq!(who(&s, "2026-03-29T07:00:00Z").0, "a");
        assert_eq!(who(&s, "2026-03-28T06:59:00Z").0, "b");
        // 02:30 does not exist in Oslo on 2026-03-29: it is 03:00 CEST = 01:00 UTC.
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let t = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        assert_eq!(
            local_instant(chrono_tz::Europe::Oslo, d, t),
            ts("2026-03-29T01:00:00Z")
        );
    }
}
