//! Prometheus duration syntax: `90s`, `1h30m`, `7d`, `500ms`, `1y` (units y w d h m s ms, each at
//! most once, largest first), parsed and formatted exactly as Prometheus does.

use std::fmt;
use std::str::FromStr;

/// A non-negative duration with millisecond precision, written in Prometheus syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(u64);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The string was empty.
    #[error("empty duration string")]
    Empty,
    /// The string does not follow `[0-9]+(y|w|d|h|m|s|ms)` repeated with units in descending order.
    #[error("not a valid duration string: {0:?} (expected e.g. 30s, 5m, 1h30m, 7d)")]
    Invalid(String),
    /// The value does not fit in 64-bit milliseconds.
    #[error("duration out of range: {0:?}")]
    Overflow(String),
}

const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

impl Duration {
    /// The zero duration.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s * 1000)
    }
    /// Total milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
    /// Total milliseconds as a signed value, for timestamp arithmetic (saturating).
    pub fn as_millis_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }
    /// Total seconds as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    /// As a `std::time::Duration`.
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.to_std()
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(DurationError::Empty);
        }
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u64 = 0;
        // Index into UNITS of the last unit seen: units must strictly descend.
        let mut last_unit: Option<usize> = None;
        let invalid = || DurationError::Invalid(s.to_string());
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if start == i {
                return Err(invalid());
            }
            let n: u64 = s[start..i]
                .parse()
                .map_err(|_| DurationError::Overflow(s.to_string()))?;
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let unit = &s[ustart..i];
            let idx = UNITS
                .iter()
                .position(|(u, _)| *u == unit)
                .ok_or_else(invalid)?;
            if last_unit.is_some_and(|l| idx <= l) {
                return Err(invalid());
            }
            last_unit = Some(idx);
            let ms = n
                .checked_mul(UNITS[idx].1)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| DurationError::Overflow(s.to_string()))?;
            total = ms;
        }
        if total > i64::MAX as u64 {
            return Err(DurationError::Overflow(s.to_string()));
        }
        Ok(Duration(total))
    }
}

impl fmt::Display for Duration {
    /// Formats as Prometheus does: `0s` for zero, otherwise the largest units first, each
    /// non-zero unit once (`1h30m`, `1w`, `1y`, `1s500ms`); years and weeks only when they divide
    /// the duration exactly, so 30 days is `30d`, not `4w2d`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, mult) in UNITS {
            if matches!(unit, "y" | "w") && !ms.is_multiple_of(mult) {
                continue;
            }
            let n = ms / mult;
            if n > 0 {
                write!(f, "{n}{unit}")?;
                ms -= n * mult;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m, 1h30m or 7d")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_prometheus_examples() {
        let cases = [
            ("90s", 90_000),
            ("1h30m", 5_400_000),
            ("7d", 7 * 86_400_000),
            ("1w", 7 * 86_400_000),
            ("1y", 365 * 86_400_000),
            ("500ms", 500),
            ("1s500ms", 1_500),
            ("0", 0),
            ("0s", 0),
            ("1d2h3m4s5ms", 86_400_000 + 7_200_000 + 180_000 + 4_000 + 5),
        ];
        for (s, ms) in cases {
            assert_eq!(s.parse::<Duration>(), Ok(Duration::from_millis(ms)), "{s}");
        }
    }

    #[test]
    fn refuses_malformed() {
        for s in [
            "", "5", "1.5h", "m", "1h1h", "30m1h", "1x", "-1s", " 1s", "1s ", "1H",
        ] {
            assert!(s.parse::<Duration>().is_err(), "{s:?} should be refused");
        }
        assert!(matches!(
            "99999999999999999999y".parse::<Duration>(),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(Duration::from_secs(90).to_string(), "1m30s");
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Duration::from_secs(7 * 86400).to_string(), "1w");
        assert_eq!(Duration::from_secs(8 * 86400).to_string(), "8d");
        assert_eq!(Duration::from_secs(30 * 86400).to_string(), "30d");
        assert_eq!(Duration::from_secs(365 * 86400).to_string(), "1y");
        assert_eq!(Duration::from_secs(366 * 86400).to_string(), "366d");
        assert_eq!(Duration::from_secs(14 * 86400 + 60).to_string(), "14d1m");
        assert_eq!(Duration::ZERO.to_string(), "0s");
        assert_eq!(Duration::from_millis(1500).to_string(), "1s500ms");
    }

    proptest! {
        #[test]
        fn format_then_parse_roundtrips(ms in 0u64..=(i64::MAX as u64)) {
            let d = Duration::from_millis(ms);
            prop_assert_eq!(d.to_string().parse::<Duration>(), Ok(d));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = s.parse::<Duration>();
        }

        #[test]
        fn parse_of_generated_syntax_matches_sum(
            parts in proptest::collection::btree_map(0usize..7, 0u64..1000, 1..7)
        ) {
            let mut s = String::new();
            let mut want = 0u64;
            for (idx, n) in &parts {
                s.push_str(&format!("{n}{}", UNITS[*idx].0));
                want += n * UNITS[*idx].1;
            }
            prop_assert_eq!(s.parse::<Duration>(), Ok(Duration::from_millis(want)));
        }
    }
}
