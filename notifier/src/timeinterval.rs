//! Alertmanager time intervals: `times`, `weekdays`, `days_of_month` (negative counts from the
//! end of the month), `months`, `years` and `location` (an IANA zone). A time is inside an
//! interval when every field that is set has a range containing it.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, TimeZone, Timelike};
use serde::{Deserialize, Serialize};

use model::Timestamp;

/// Why a time interval field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeIntervalError(String);

fn bad(s: impl Into<String>) -> TimeIntervalError {
    TimeIntervalError(s.into())
}

/// A time of day range `[start_time, end_time)` in minutes since midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// First minute inside.
    pub start_minute: u32,
    /// First minute after (at most 1440).
    pub end_minute: u32,
}

/// An inclusive range of integers (weekdays 0=Sunday..6, days of month, months 1..12, years).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// First value.
    pub begin: i32,
    /// Last value (inclusive).
    pub end: i32,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn parse_minute(s: &str) -> Result<u32, TimeIntervalError> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| bad(format!("invalid time {s:?}: expected HH:MM")))?;
    let h: u32 = h.parse().map_err(|_| bad(format!("invalid time {s:?}")))?;
    let m: u32 = m.parse().map_err(|_| bad(format!("invalid time {s:?}")))?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) || s.len() != 5 {
        return Err(bad(format!(
            "invalid time {s:?}: expected HH:MM from 00:00 to 24:00"
        )));
    }
    Ok(h * 60 + m)
}

fn split_range(s: &str) -> (&str, &str) {
    // Negative days (`-3:-1`) only use ':' as the separator.
    s.split_once(':').unwrap_or((s, s))
}

fn named_or_number(
    s: &str,
    names: &[&str],
    first: i32,
    what: &str,
) -> Result<i32, TimeIntervalError> {
    let l = s.trim().to_ascii_lowercase();
    if let Some(i) = names.iter().position(|n| *n == l) {
        return Ok(i as i32 + first);
    }
    let n: i32 = l
        .parse()
        .map_err(|_| bad(format!("invalid {what} {s:?}")))?;
    if n < first || n >= first + names.len() as i32 {
        return Err(bad(format!("{what} {s:?} out of range")));
    }
    Ok(n)
}

macro_rules! string_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// A weekday range (`monday:friday`, `saturday`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayRange(pub Range);
impl FromStr for WeekdayRange {
    type Err = TimeIntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = split_range(s);
        // Weekday numbers are not accepted by Alertmanager; names only.
        let name = |x: &str| {
            let l = x.trim().to_ascii_lowercase();
            WEEKDAYS
                .iter()
                .position(|n| *n == l)
                .map(|i| i as i32)
                .ok_or_else(|| bad(format!("invalid weekday {x:?}")))
        };
        let r = Range {
            begin: name(a)?,
            end: name(b)?,
        };
        if r.begin > r.end {
            return Err(bad(format!("start day cannot be after end day in {s:?}")));
        }
        Ok(WeekdayRange(r))
    }
}
impl fmt::Display for WeekdayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (b, e) = (self.0.begin as usize, self.0.end as usize);
        if b == e {
            f.write_str(WEEKDAYS[b])
        } else {
            write!(f, "{}:{}", WEEKDAYS[b], WEEKDAYS[e])
        }
    }
}
string_serde!(WeekdayRange);

/// A month range (`january:march`, `5`, `may:8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRange(pub Range);
impl FromStr for MonthRange {
    type Err = TimeIntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = split_range(s);
        let r = Range {
            begin: named_or_number(a, &MONTHS, 1, "month")?,
            end: named_or_number(b, &MONTHS, 1, "month")?,
        };
        if r.begin > r.end {
            return Err(bad(format!("end month is before start month in {s:?}")));
        }
        Ok(MonthRange(r))
    }
}
impl fmt::Display for MonthRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.begin, self.0.end)
    }
}
string_serde!(MonthRange);

/// A day-of-month range (`1:5`, `-3:-1`, `15`); negative days count from the month's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOfMonthRange(pub Range);
impl FromStr for DayOfMonthRange {
    type Err = TimeIntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = split_range(s);
        let p = |x: &str| -> Result<i32, TimeIntervalError> {
            let n: i32 = x
                .trim()
                .parse()
                .map_err(|_| bad(format!("invalid day of month {x:?}")))?;
            if n == 0 || !(-31..=31).contains(&n) {
                return Err(bad(format!(
                    "day of month {n} out of range (-31..-1, 1..31)"
                )));
            }
            Ok(n)
        };
        let r = Range {
            begin: p(a)?,
            end: p(b)?,
        };
        if r.begin < 0 && r.end > 0 {
            return Err(bad(format!(
                "end day must be negative if start day is negative in {s:?}"
            )));
        }
        if r.begin.signum() == r.end.signum() && r.begin > r.end {
            return Err(bad(format!("end day must be after start day in {s:?}")));
        }
        Ok(DayOfMonthRange(r))
    }
}
impl fmt::Display for DayOfMonthRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.begin, self.0.end)
    }
}
string_serde!(DayOfMonthRange);

/// A year range (`2020:2022`, `2024`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearRange(pub Range);
impl FromStr for YearRange {
    type Err = TimeIntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, b) = split_range(s);
        let p = |x: &str| -> Result<i32, TimeIntervalError> {
            x.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| bad(format!("invalid year {x:?}")))
        };
        let r = Range {
            begin: p(a)?,
            end: p(b)?,
        };
        if r.begin > r.end {
            return Err(bad(format!("end year must be after start year in {s:?}")));
        }
        Ok(YearRange(r))
    }
}
impl fmt::Display for YearRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.begin, self.0.end)
    }
}
string_serde!(YearRange);

/// `{start_time: "HH:MM", end_time: "HH:MM"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawTimeRange", into = "RawTimeRange")]
pub struct Times(pub TimeRange);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    start_time: String,
    end_time: String,
}
impl TryFrom<RawTimeRange> for Times {
    type Error = TimeIntervalError;
    fn try_from(r: RawTimeRange) -> Result<Self, Self::Error> {
        let (s, e) = (parse_minute(&r.start_time)?, parse_minute(&r.end_time)?);
        if s >= e {
            return Err(bad(format!(
                "start_time {} must be before end_time {}",
                r.start_time, r.end_time
            )));
        }
        Ok(Times(TimeRange {
            start_minute: s,
            end_minute: e,
        }))
    }
}
impl From<Times> for RawTimeRange {
    fn from(t: Times) -> Self {
        let f = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        RawTimeRange {
            start_time: f(t.0.start_minute),
            end_time: f(t.0.end_minute),
        }
    }
}

/// An IANA time zone (`Europe/Oslo`, `UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location(pub chrono_tz::Tz);
impl FromStr for Location {
    type Err = TimeIntervalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "Local" {
            return Err(bad(
                "location \"Local\" is not supported: name the zone (e.g. Europe/Oslo)",
            ));
        }
        s.parse::<chrono_tz::Tz>()
            .map(Location)
            .map_err(|_| bad(format!("unknown time zone {s:?}")))
    }
}
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}
string_serde!(Location);

/// One time interval: every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeInterval {
    /// Times of day.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub times: Vec<Times>,
    /// Days of the week.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weekdays: Vec<WeekdayRange>,
    /// Days of the month.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days_of_month: Vec<DayOfMonthRange>,
    /// Months.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub months: Vec<MonthRange>,
    /// Years.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub years: Vec<YearRange>,
    /// Time zone (default UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

impl TimeInterval {
    /// Whether the instant `t` (ms since epoch) is inside this interval.
    pub fn contains(&self, t: Timestamp) -> bool {
        let tz = self.location.map_or(chrono_tz::UTC, |l| l.0);
        let Some(utc) = chrono::DateTime::from_timestamp_millis(t) else {
            return false;
        };
        let lt = tz.from_utc_datetime(&utc.naive_utc());
        if !self.times.is_empty() {
            let m = lt.hour() * 60 + lt.minute();
            if !self
                .times
                .iter()
                .any(|r| m >= r.0.start_minute && m < r.0.end_minute)
            {
                return false;
            }
        }
        if !self.days_of_month.is_empty() {
            let dim = days_in_month(lt.year(), lt.month()) as i32;
            let day = lt.day() as i32;
            let ok = self.days_of_month.iter().any(|r| {
                let b = if r.0.begin < 0 {
                    dim + r.0.begin + 1
                } else {
                    r.0.begin
                };
                let e = if r.0.end < 0 {
                    dim + r.0.end + 1
                } else {
                    r.0.end
                };
                if b > dim {
                    return false;
                }
                let (b, e) = (b.clamp(-dim, dim), e.clamp(-dim, dim));
                day >= b && day <= e
            });
            if !ok {
                return false;
            }
        }
        if !self.months.is_empty() {
            let m = lt.month() as i32;
            if !self.months.iter().any(|r| m >= r.0.begin && m <= r.0.end) {
                return false;
            }
        }
        if !self.weekdays.is_empty() {
            let w = lt.weekday().num_days_from_sunday() as i32;
            if !self.weekdays.iter().any(|r| w >= r.0.begin && w <= r.0.end) {
                return false;
            }
        }
        if !self.years.is_empty() {
            let y = lt.year();
            if !self.years.iter().any(|r| y >= r.0.begin && y <= r.0.end) {
                return false;
            }
        }
        true
    }
}

/// Whether `t` is inside any of `intervals`.
pub fn any_contains(intervals: &[TimeInterval], t: Timestamp) -> bool {
    intervals.iter().any(|i| i.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_millis()
    }
    fn ti(yaml: &str) -> TimeInterval {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn alertmanager_doc_example_business_hours() {
        // From Alertmanager's configuration docs: weekdays 9-17 in a named zone.
        let t = ti(r#"
times: [{ start_time: '09:00', end_time: '17:00' }]
weekdays: ['monday:friday']
location: 'Australia/Sydney'
"#);
        // Monday 2026-11-23 10:00 in Sydney is Sunday 23:00 UTC.
        assert!(t.contains(ms("2026-11-22T23:00:00Z")));
        // Monday 08:59 Sydney.
        assert!(!t.contains(ms("2026-11-22T21:59:00Z")));
        // 17:00 is outside (end exclusive).
        assert!(!t.contains(ms("2026-11-23T06:00:00Z")));
        // Saturday 10:00 Sydney.
        assert!(!t.contains(ms("2026-11-27T23:00:00Z")));
    }

    #[test]
    fn negative_days_of_month_and_months_years() {
        // Docs: `days_of_month: ['-3:-1']` is the last three days of the month.
        let t = ti("days_of_month: ['-3:-1']\n");
        assert!(t.contains(ms("2024-02-27T12:00:00Z"))); // leap year: 27, 28, 29
        assert!(!t.contains(ms("2024-02-26T12:00:00Z")));
        assert!(t.contains(ms("2023-02-26T00:00:00Z"))); // 26, 27, 28
        assert!(t.contains(ms("2026-01-31T23:59:00Z")));
        let t = ti("days_of_month: ['1:5']\nmonths: ['may:august']\nyears: ['2020:2022']\n");
        assert!(t.contains(ms("2021-06-03T00:00:00Z")));
        assert!(!t.contains(ms("2023-06-03T00:00:00Z")));
        assert!(!t.contains(ms("2021-09-03T00:00:00Z")));
        assert!(!t.contains(ms("2021-06-06T00:00:00Z")));
        let t = ti("months: ['1:3', 'december']\n");
        assert!(t.contains(ms("2021-12-25T00:00:00Z")));
        assert!(!t.contains(ms("2021-04-01T00:00:00Z")));
        // Day 31 in a 30-day month never matches (begin after the end of the month).
        let t = ti("days_of_month: ['31']\n");
        assert!(!t.contains(ms("2021-04-30T00:00:00Z")));
        assert!(t.contains(ms("2021-05-31T00:00:00Z")));
    }

    #[test]
    fn times_up_to_midnight_and_dst_zone() {
        let t = ti("times: [{ start_time: '17:00', end_time: '24:00' }]\nlocation: Europe/Oslo\n");
        // Summer (UTC+2): 22:30 UTC is 00:30 local -> outside.
        assert!(!t.contains(ms("2026-07-01T22:30:00Z")));
        assert!(t.contains(ms("2026-07-01T21:59:00Z")));
        // Winter (UTC+1): 22:30 UTC is 23:30 local -> inside.
        assert!(t.contains(ms("2026-01-15T22:30:00Z")));
    }

    #[test]
    fn bad_values_are_refused() {
        for y in [
            "weekdays: ['funday']\n",
            "weekdays: ['friday:monday']\n",
            "days_of_month: ['0']\n",
            "days_of_month: ['-1:5']\n",
            "days_of_month: ['32']\n",
            "months: ['13']\n",
            "times: [{ start_time: '10:00', end_time: '09:00' }]\n",
            "times: [{ start_time: '25:00', end_time: '26:00' }]\n",
            "location: Mars/Olympus\n",
            "hours: ['1']\n",
        ] {
            assert!(serde_saphyr::from_str::<TimeInterval>(y).is_err(), "{y}");
        }
        let t = ti("weekdays: ['Saturday', 'monday:wednesday']\n");
        assert_eq!(t.weekdays[0].to_string(), "saturday");
        assert_eq!(t.weekdays[1].0, Range { begin: 1, end: 3 });
    }
}
