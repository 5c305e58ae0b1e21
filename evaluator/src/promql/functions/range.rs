//! Functions over a range vector, one value per series (`*_over_time`, `rate` & co,
//! `holt_winters`), as Prometheus 2.42 computes them.

use model::{Sample, Timestamp};
use promql_parser::parser::Expr;

use super::{drop_name, Window};
use crate::promql::eval::{Ctx, EvalError, InstantSample, RangeSeries, Val};

/// Prometheus's `quantile` over a set of values (φ-quantile with linear interpolation).
pub(crate) fn quantile(q: f64, mut vals: Vec<f64>) -> f64 {
    if vals.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    vals.sort_by(|a, b| a.total_cmp(b));
    let n = vals.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let w = rank - rank.floor();
    vals[lower as usize] * (1.0 - w) + vals[upper as usize] * w
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

fn linear_regression(samples: &[Sample], intercept_time: Timestamp) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init_y = samples[0].v;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

fn extrapolated_rate(s: &[Sample], w: &Window, counter: bool, rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let first = s[0];
    let last = s[s.len() - 1];
    let mut result = last.v - first.v;
    if counter {
        let mut prev = first.v;
        for x in &s[1..] {
            if x.v < prev {
                result += prev;
            }
            prev = x.v;
        }
    }
    let mut to_start = (first.t - w.start) as f64 / 1000.0;
    let to_end = (w.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (s.len() - 1) as f64;
    if counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    // Prometheus 2.42's order of operations: the factor first, then one multiplication.
    let mut factor = interval / sampled;
    if rate {
        factor /= w.range_secs;
    }
    Some(result * factor)
}

fn instant_value(s: &[Sample], rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let last = s[s.len() - 1];
    let prev = s[s.len() - 2];
    let mut result = if rate && last.v < prev.v {
        last.v
    } else {
        last.v - prev.v
    };
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

pub(super) fn rate(s: &[Sample], w: &Window) -> Option<f64> {
    extrapolated_rate(s, w, true, true)
}

pub(super) fn increase(s: &[Sample], w: &Window) -> Option<f64> {
    extrapolated_rate(s, w, true, false)
}

pub(super) fn delta(s: &[Sample], w: &Window) -> Option<f64> {
    extrapolated_rate(s, w, false, false)
}

pub(super) fn irate(s: &[Sample], _: &Window) -> Option<f64> {
    instant_value(s, true)
}

pub(super) fn idelta(s: &[Sample], _: &Window) -> Option<f64> {
    instant_value(s, false)
}

pub(super) fn deriv(s: &[Sample], _: &Window) -> Option<f64> {
    (s.len() >= 2).then(|| linear_regression(s, s[0].t).0)
}

pub(super) fn predict_linear(s: &[Sample], w: &Window) -> Option<f64> {
    (s.len() >= 2).then(|| {
        let (slope, intercept) = linear_regression(s, w.ts);
        slope * w.param + intercept
    })
}

pub(super) fn changes(s: &[Sample], _: &Window) -> Option<f64> {
    Some(
        s.windows(2)
            .filter(|w| w[0].v != w[1].v && !(w[0].v.is_nan() && w[1].v.is_nan()))
            .count() as f64,
    )
}

pub(super) fn resets(s: &[Sample], _: &Window) -> Option<f64> {
    Some(s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64)
}

/// Prometheus 2.42's funcAvgOverTime: a Kahan-compensated incremental mean.
pub(super) fn avg_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    let (mut mean, mut count, mut c) = (0.0_f64, 0.0_f64, 0.0_f64);
    for x in s {
        let v = x.v;
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    Some(if mean.is_infinite() { mean } else { mean + c })
}

pub(super) fn min_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    Some(
        s[1..]
            .iter()
            .fold(s[0].v, |m, x| if x.v < m || m.is_nan() { x.v } else { m }),
    )
}

pub(super) fn max_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    Some(
        s[1..]
            .iter()
            .fold(s[0].v, |m, x| if x.v > m || m.is_nan() { x.v } else { m }),
    )
}

pub(super) fn sum_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    let (sum, c) = s
        .iter()
        .fold((0.0, 0.0), |(sum, c), x| kahan_inc(x.v, sum, c));
    // An infinite sum leaves NaN in the compensation: return the sum.
    Some(if sum.is_infinite() { sum } else { sum + c })
}

pub(super) fn count_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    Some(s.len() as f64)
}

pub(super) fn last_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    s.last().map(|x| x.v)
}

pub(super) fn present_over_time(_: &[Sample], _: &Window) -> Option<f64> {
    Some(1.0)
}

pub(super) fn quantile_over_time(s: &[Sample], w: &Window) -> Option<f64> {
    Some(quantile(w.param, s.iter().map(|x| x.v).collect()))
}

fn variance(s: &[Sample]) -> f64 {
    let (mut n, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for x in s {
        let v = x.v;
        n += 1.0;
        let d = v - (mean + cm);
        (mean, cm) = kahan_inc(d / n, mean, cm);
        (aux, ca) = kahan_inc(d * (v - (mean + cm)), aux, ca);
    }
    (aux + ca) / n
}

pub(super) fn stddev_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    Some(variance(s).sqrt())
}

pub(super) fn stdvar_over_time(s: &[Sample], _: &Window) -> Option<f64> {
    Some(variance(s))
}

/// `holt_winters` as 2.42's funcHoltWinters (the parser crate calls it
/// `double_exponential_smoothing`).
pub(super) fn holt_winters(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let sf = ctx.eval_scalar(&args[1], ts)?;
    let tf = ctx.eval_scalar(&args[2], ts)?;
    let series = ctx.range_arg("holt_winters", &args[0], ts)?.series;
    // Prometheus checks the factors per series: without series there is no error.
    if !series.is_empty() && (sf <= 0.0 || sf >= 1.0) {
        return Err(EvalError::Execution(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if !series.is_empty() && (tf <= 0.0 || tf >= 1.0) {
        return Err(EvalError::Execution(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    let mut out = Vec::new();
    for RangeSeries { labels, samples } in series {
        if samples.len() < 2 {
            continue;
        }
        let (mut s0, mut s1) = (0.0, samples[0].v);
        let mut b = samples[1].v - samples[0].v;
        for (i, smp) in samples.iter().enumerate().skip(1) {
            let x = sf * smp.v;
            if i > 1 {
                b = tf * (s1 - s0) + (1.0 - tf) * b;
            }
            let y = (1.0 - sf) * (s1 + b);
            (s0, s1) = (s1, x + y);
        }
        out.push(InstantSample {
            labels: drop_name(labels),
            t: ts,
            v: s1,
        });
    }
    Ok(Val::Vector(out))
}
