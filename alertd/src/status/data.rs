//! The numbers behind the status page, computed from the store: uptime over the page's windows
//! (from the 5 m / 1 h rollups of `probe_success`), flapping (state changes among the last raw
//! checks), the response-time history (5 m rollups of `probe_duration_seconds`), latest values
//! of a metric, and a least-squares fit for "disk full" predictions (as PromQL's
//! `predict_linear`).
//!
//! # Uptime
//!
//! The uptime of a probe over a window `W` ending at `now` is the fraction of its checks whose
//! time lies in `[window_start(W, now), now]` that succeeded (`sum / count` of `probe_success`,
//! over every series carrying the probe's `probe` label). The window starts at the first
//! 5-minute boundary at or after `now - W` for 24 h (5 m buckets) and at the first full hour for
//! longer windows (1 h buckets): the store keeps count/sum rollups per bucket as samples
//! arrive, open buckets included, so no raw sample is read. Rollups are kept for
//! `storage.rollup_retention` (365 d by default), longer than raw samples.

use std::collections::{BTreeMap, HashMap};

use model::{Labels, MatchOp, Matcher, Sample, Timestamp};
use store::{Resolution, Store, StoreError};

/// One minute in milliseconds.
pub(crate) const MINUTE: i64 = 60_000;
/// One hour in milliseconds.
pub(crate) const HOUR: i64 = 60 * MINUTE;
/// One day in milliseconds.
pub(crate) const DAY: i64 = 24 * HOUR;

/// The uptime windows the page and the badges show, with their names.
pub(crate) const WINDOWS: [(&str, i64); 4] = [
    ("24h", DAY),
    ("7d", 7 * DAY),
    ("30d", 30 * DAY),
    ("90d", 90 * DAY),
];

/// A probe is flapping when its last [`FLAP_CHECKS`] checks changed state at least
/// [`FLAP_CHANGES`] times.
pub(crate) const FLAP_CHECKS: usize = 10;
/// See [`FLAP_CHECKS`].
pub(crate) const FLAP_CHANGES: usize = 3;

/// How far back the disk-full prediction fits its line.
pub(crate) const DISK_FIT_WINDOW: i64 = 6 * HOUR;

/// Checks counted in a window: how many ran and the sum of their `probe_success` values.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    /// Sum of `probe_success` (number of successful checks).
    pub up: f64,
    /// Number of checks.
    pub total: u64,
}

impl Counts {
    /// `up / total`, or `None` without checks.
    pub(crate) fn ratio(&self) -> Option<f64> {
        (self.total > 0).then(|| self.up / self.total as f64)
    }

    fn add(&mut self, b: &store::Bucket) {
        if b.count > 0 && b.sum.is_finite() {
            self.up += b.sum;
            self.total += b.count;
        }
    }
}

/// A matcher `name="value"` (equality matchers cannot fail to build).
pub fn eq(name: &str, value: &str) -> Matcher {
    match Matcher::new(name, MatchOp::Equal, value) {
        Ok(m) => m,
        Err(e) => unreachable!("equality matchers compile: {e}"),
    }
}

fn ceil_to(t: i64, step: i64) -> i64 {
    t.div_euclid(step) * step + if t.rem_euclid(step) == 0 { 0 } else { step }
}

/// Where the uptime window of length `w` ending at `now` starts (see the module doc).
pub(crate) fn window_start(w: i64, now: Timestamp) -> Timestamp {
    if w <= DAY {
        ceil_to(now - w, Resolution::FiveMinutes.width_ms())
    } else {
        ceil_to(now - w, HOUR)
    }
}

/// Uptime counts per `probe` label value for every window of [`WINDOWS`], ending at `now`;
/// only of `probe` when given. Two store queries: 5 m buckets over 24 h, 1 h buckets over the
/// longest window.
pub fn uptimes(
    store: &Store,
    now: Timestamp,
    probe: Option<&str>,
) -> Result<HashMap<String, [Counts; 4]>, StoreError> {
    let mut sel = vec![eq("__name__", "probe_success")];
    if let Some(p) = probe {
        sel.push(eq("probe", p));
    }
    let mut out: HashMap<String, [Counts; 4]> = HashMap::new();
    let mut add = |res: Resolution, from: Timestamp| -> Result<(), StoreError> {
        let starts: Vec<(usize, Timestamp)> = WINDOWS
            .iter()
            .enumerate()
            .filter(|(_, (_, w))| (*w <= DAY) == (res == Resolution::FiveMinutes))
            .map(|(i, (_, w))| (i, window_start(*w, now)))
            .collect();
        for s in store.select_rollups(&sel, from, now, res)? {
            let Some(p) = s.labels.get("probe") else {
                continue;
            };
            let counts = out.entry(p.to_string()).or_default();
            for b in &s.buckets {
                for (i, start) in &starts {
                    if b.t >= *start {
                        counts[*i].add(b);
                    }
                }
            }
        }
        Ok(())
    };
    add(Resolution::FiveMinutes, window_start(DAY, now))?;
    let longest = WINDOWS[WINDOWS.len() - 1].1;
    add(Resolution::OneHour, window_start(longest, now))?;
    Ok(out)
}

/// Number of times consecutive values differ (a success following a failure or the reverse).
pub(crate) fn state_changes(values: &[f64]) -> usize {
    values
        .windows(2)
        .filter(|w| (w[0] > 0.5) != (w[1] > 0.5))
        .count()
}

/// Whether the last [`FLAP_CHECKS`] of `values` (oldest first) changed state at least
/// [`FLAP_CHANGES`] times.
pub(crate) fn is_flapping(values: &[f64]) -> bool {
    let from = values.len().saturating_sub(FLAP_CHECKS);
    state_changes(&values[from..]) >= FLAP_CHANGES
}

/// The last [`FLAP_CHECKS`] `probe_success` values of `probe` (oldest first), read from raw
/// samples of the last `FLAP_CHECKS + 1` intervals.
pub fn recent_checks(
    store: &Store,
    probe: &str,
    interval_ms: i64,
    now: Timestamp,
) -> Result<Vec<f64>, StoreError> {
    let sel = [eq("__name__", "probe_success"), eq("probe", probe)];
    let from = now - interval_ms.max(1) * (FLAP_CHECKS as i64 + 1);
    let mut samples: Vec<Sample> = store
        .select(&sel, from, now)?
        .into_iter()
        .flat_map(|s| s.samples)
        .filter(|s| !s.is_stale())
        .collect();
    samples.sort_by_key(|s| s.t);
    let from = samples.len().saturating_sub(FLAP_CHECKS);
    Ok(samples[from..].iter().map(|s| s.v).collect())
}

/// Per `probe` label value, the 5 m averages of `metric` over `[now - 24h, now]`: (bucket
/// start, average over every series of the probe).
pub fn history_24h(
    store: &Store,
    metric: &str,
    now: Timestamp,
) -> Result<HashMap<String, Vec<(Timestamp, f64)>>, StoreError> {
    let sel = [eq("__name__", metric)];
    let mut acc: HashMap<String, BTreeMap<Timestamp, (f64, u64)>> = HashMap::new();
    for s in store.select_rollups(&sel, now - DAY, now, Resolution::FiveMinutes)? {
        let Some(p) = s.labels.get("probe") else {
            continue;
        };
        let m = acc.entry(p.to_string()).or_default();
        for b in s
            .buckets
            .iter()
            .filter(|b| b.count > 0 && b.sum.is_finite())
        {
            let e = m.entry(b.t).or_default();
            e.0 += b.sum;
            e.1 += b.count;
        }
    }
    Ok(acc
        .into_iter()
        .map(|(p, m)| {
            let pts = m
                .into_iter()
                .map(|(t, (sum, n))| (t, sum / n as f64))
                .collect();
            (p, pts)
        })
        .collect())
}

/// The newest sample in `[now - lookback, now]` of every series matching `matchers`, unless
/// that sample is a staleness marker (the series ended).
pub(crate) fn latest(
    store: &Store,
    matchers: &[Matcher],
    now: Timestamp,
    lookback: i64,
) -> Result<Vec<(Labels, Sample)>, StoreError> {
    Ok(store
        .select(matchers, now - lookback, now)?
        .into_iter()
        .filter_map(|s| {
            let last = *s.samples.last()?;
            (!last.is_stale()).then_some((s.labels, last))
        })
        .collect())
}

/// Least-squares line through `samples` (stale markers skipped): `(slope per ms, value at
/// `at`)`, as PromQL's `predict_linear` computes it. `None` with fewer than two samples or
/// all at one instant.
pub(crate) fn linear_fit(samples: &[Sample], at: Timestamp) -> Option<(f64, f64)> {
    let pts: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| !s.is_stale() && s.v.is_finite())
        .map(|s| ((s.t - at) as f64, s.v))
        .collect();
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let (sx, sy) = pts.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut cov, mut var) = (0.0, 0.0);
    for (x, y) in &pts {
        cov += (x - mx) * (y - my);
        var += (x - mx) * (x - mx);
    }
    if var == 0.0 {
        return None;
    }
    let slope = cov / var;
    Some((slope, my - slope * mx))
}

/// When free space reaches zero, from a line fitted through `avail` samples, evaluated at
/// `now`; `None` when the line does not fall (or there are too few samples).
pub(crate) fn predict_full(avail: &[Sample], now: Timestamp) -> Option<Timestamp> {
    let (slope, at_now) = linear_fit(avail, now)?;
    if slope >= 0.0 {
        return None;
    }
    if at_now <= 0.0 {
        return Some(now);
    }
    let ms = at_now / -slope;
    // Beyond ~100 years is "not filling" for any practical purpose.
    (ms < 100.0 * 365.0 * DAY as f64).then(|| now + ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &std::path::Path) -> Store {
        Store::open(store::StoreOptions {
            path: dir.to_path_buf(),
            engine: store::Engine::Redb,
            retention_raw: "30d".parse().unwrap(),
            retention_rollups: "365d".parse().unwrap(),
            checkpoint_interval: "60s".parse().unwrap(),
            ..store::StoreOptions::default()
        })
        .unwrap()
    }

    fn labels(name: &str, probe: &str, extra: &[(&str, &str)]) -> Labels {
        let mut l = Labels::from_pairs([("__name__", name), ("probe", probe)]);
        for (k, v) in extra {
            l.set(*k, *v);
        }
        l
    }

    /// `now` lies mid-hour and off the 5 m grid so both edges of every window are exercised.
    const NOW: i64 = 1_700_000_000_000 + 37 * MINUTE + 20_000;

    /// Writes one `probe_success` sample per minute for 100 days before NOW, failing when
    /// `down(t)`, for probe `p`.
    fn write_minutes(s: &Store, p: &str, down: impl Fn(i64) -> bool) {
        let l = labels("probe_success", p, &[("instance", "http://x/")]);
        let first = NOW - 100 * DAY;
        let mut batch = Vec::new();
        let mut t = first - first.rem_euclid(MINUTE);
        while t <= NOW {
            batch.push((l.clone(), Sample::new(t, if down(t) { 0.0 } else { 1.0 })));
            if batch.len() == 10_000 {
                s.append(&batch).unwrap();
                batch.clear();
            }
            t += MINUTE;
        }
        s.append(&batch).unwrap();
    }

    /// The reference: counts from the raw per-minute pattern over the window.
    fn expected(down: impl Fn(i64) -> bool, w: i64) -> Counts {
        let start = window_start(w, NOW);
        let mut c = Counts::default();
        let mut t = ceil_to(start, MINUTE);
        while t <= NOW {
            c.total += 1;
            if !down(t) {
                c.up += 1.0;
            }
            t += MINUTE;
        }
        c
    }

    #[test]
    fn uptime_from_rollups_matches_the_raw_checks_in_every_window() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        // Down 36 h about 20 days ago, 2 h three days ago, 10 minutes an hour ago.
        let outages = [
            (NOW - 20 * DAY, NOW - 20 * DAY + 36 * HOUR),
            (NOW - 3 * DAY, NOW - 3 * DAY + 2 * HOUR),
            (NOW - HOUR, NOW - HOUR + 10 * MINUTE),
        ];
        let down = move |t: i64| outages.iter().any(|(a, b)| t >= *a && t < *b);
        write_minutes(&s, "web", down);
        // A second probe, always up, and a second series of "web" (another instance) with
        // three failures in the last day: both series count.
        write_minutes(&s, "api", |_| false);
        let l2 = labels("probe_success", "web", &[("instance", "http://y/")]);
        s.append(&[
            (l2.clone(), Sample::new(NOW - 3 * HOUR, 0.0)),
            (l2.clone(), Sample::new(NOW - 2 * HOUR, 0.0)),
            (l2.clone(), Sample::new(NOW - HOUR, 0.0)),
            (l2, Sample::stale(NOW - 1)),
        ])
        .unwrap();
        // Some rollups are on disk, some in memory.
        s.checkpoint().unwrap();

        let got = uptimes(&s, NOW, None).unwrap();
        assert_eq!(uptimes(&s, NOW, Some("api")).unwrap().len(), 1);
        for (i, (name, w)) in WINDOWS.iter().enumerate() {
            let mut want = expected(down, *w);
            want.total += 3;
            assert_eq!(got["web"][i], want, "web {name}");
            assert_eq!(got["api"][i], expected(|_| false, *w), "api {name}");
        }
        // Spot-check the figures a reader would see.
        let pct = |i: usize| got["web"][i].ratio().unwrap() * 100.0;
        // 24 h: 10 minutes down + 3 failures of the second series, among the checks from
        // the first 5 m boundary after now - 24h (a few minutes short of 1440). Longer
        // windows start on the hour.
        for (w, step) in [(DAY, 5 * MINUTE), (7 * DAY, HOUR), (90 * DAY, HOUR)] {
            let start = window_start(w, NOW);
            assert!(start % step == 0 && start >= NOW - w && start < NOW - w + step);
        }
        let day = got["web"][0];
        assert_eq!(day.up, (day.total - 13) as f64);
        assert!((1436 + 3..=1440 + 3).contains(&day.total), "{day:?}");
        // 30 d and 90 d include the 36 h outage; 7 d does not.
        assert!(pct(1) > 98.6 && pct(1) < 98.7, "{}", pct(1));
        assert!(pct(2) > 94.65 && pct(2) < 94.75, "{}", pct(2));
        assert!(pct(3) > 98.2 && pct(3) < 98.3, "{}", pct(3));
        assert_eq!(got["api"][3].ratio(), Some(1.0));
        assert!(!got.contains_key("nothing"));
    }

    #[test]
    fn flapping_needs_three_changes_in_the_last_ten_checks() {
        assert_eq!(state_changes(&[1.0, 0.0, 1.0, 1.0, 0.0]), 3);
        assert!(!is_flapping(&[1.0; 10]));
        assert!(!is_flapping(&[1.0, 1.0, 0.0, 0.0, 0.0, 1.0]));
        assert!(is_flapping(&[1.0, 0.0, 1.0, 0.0]));
        // Changes older than the last ten checks do not count.
        let mut v = vec![1.0, 0.0, 1.0, 0.0];
        v.extend([1.0; 10]);
        assert!(!is_flapping(&v));
        v.extend([0.0, 1.0, 0.0]);
        assert!(is_flapping(&v));
    }

    #[test]
    fn recent_checks_reads_the_last_raw_samples_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let l = labels("probe_success", "web", &[]);
        let vals = [1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0];
        let batch: Vec<_> = vals
            .iter()
            .enumerate()
            .map(|(i, v)| (l.clone(), Sample::new(NOW - (12 - i as i64) * 15_000, *v)))
            .collect();
        s.append(&batch).unwrap();
        let got = recent_checks(&s, "web", 15_000, NOW).unwrap();
        assert_eq!(got, vals[2..].to_vec());
        assert!(is_flapping(&got));
        assert!(recent_checks(&s, "other", 15_000, NOW).unwrap().is_empty());
    }

    #[test]
    fn latest_skips_ended_series_and_history_averages_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let a = labels("probe_duration_seconds", "web", &[("instance", "a")]);
        let b = labels("probe_duration_seconds", "web", &[("instance", "b")]);
        let c = labels("probe_duration_seconds", "gone", &[]);
        let t0 = NOW - NOW.rem_euclid(5 * MINUTE) - 10 * MINUTE;
        s.append(&[
            (a.clone(), Sample::new(t0, 0.1)),
            (a.clone(), Sample::new(t0 + MINUTE, 0.3)),
            (b.clone(), Sample::new(t0 + MINUTE, 0.5)),
            (a.clone(), Sample::new(t0 + 5 * MINUTE, 1.0)),
            (c.clone(), Sample::new(t0, 2.0)),
            (c.clone(), Sample::stale(t0 + MINUTE)),
        ])
        .unwrap();
        let l = latest(&s, &[eq("__name__", "probe_duration_seconds")], NOW, HOUR).unwrap();
        let got: Vec<(String, f64)> = l
            .iter()
            .map(|(l, s)| (l.get_or_empty("instance").to_string(), s.v))
            .collect();
        assert_eq!(got, vec![("a".into(), 1.0), ("b".into(), 0.5)]);
        let h = history_24h(&s, "probe_duration_seconds", NOW).unwrap();
        assert_eq!(h["web"], vec![(t0, 0.3), (t0 + 5 * MINUTE, 1.0)]);
        assert_eq!(h["gone"], vec![(t0, 2.0)]);
    }

    #[test]
    fn disk_full_prediction_follows_the_fitted_line() {
        // 1 GB free falling by 1 MB per minute, with noise that averages out: full in 1000
        // minutes from the first sample.
        let t0 = NOW - 60 * MINUTE;
        let pts: Vec<Sample> = (0..=60)
            .map(|i| {
                let noise = if i % 2 == 0 { 1e5 } else { -1e5 };
                Sample::new(t0 + i * MINUTE, 1e9 - 1e6 * i as f64 + noise)
            })
            .collect();
        let full = predict_full(&pts, NOW).unwrap();
        let want = t0 + 1000 * MINUTE;
        assert!((full - want).abs() < MINUTE, "{} vs {}", full, want);
        // Rising or flat free space never fills; one sample is not a line.
        let rising: Vec<Sample> = (0..10)
            .map(|i| Sample::new(t0 + i * MINUTE, 1e9 + i as f64))
            .collect();
        assert_eq!(predict_full(&rising, NOW), None);
        assert_eq!(predict_full(&rising[..1], NOW), None);
        let flat: Vec<Sample> = (0..10).map(|i| Sample::new(t0 + i * MINUTE, 5.0)).collect();
        assert_eq!(predict_full(&flat, NOW), None);
        // Already below zero on the line: full now.
        let gone = [Sample::new(t0, 10.0), Sample::new(t0 + MINUTE, 0.0)];
        assert_eq!(predict_full(&gone, NOW), Some(NOW));
        // Same slope as PromQL's predict_linear: value at now + 1h.
        let (slope, at) = linear_fit(&pts, NOW).unwrap();
        assert!((slope * MINUTE as f64 + 1e6).abs() < 1e3, "{slope}");
        assert!((at - (1e9 - 60e6)).abs() < 1e5, "{at}");
    }
}
