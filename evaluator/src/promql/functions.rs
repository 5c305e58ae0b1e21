//! PromQL functions, following Prometheus 2.42's `promql/functions.go`.

use chrono::{Datelike, NaiveDate, Timelike};
use model::{Labels, Sample, Timestamp};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;

use super::eval::{Ctx, EvalError, InstantSample, RangeSeries, Val};

fn err<T>(m: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::Execution(m.into()))
}

fn unwrap_paren(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_paren(&p.expr),
        other => other,
    }
}

fn drop_name(mut l: Labels) -> Labels {
    l.remove("__name__");
    l
}

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

fn extrapolated_rate(
    s: &[Sample],
    range_start: Timestamp,
    range_end: Timestamp,
    range_secs: f64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
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
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let to_end = (range_end - last.t) as f64 / 1000.0;
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
        factor /= range_secs;
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

/// The labels `absent()` returns, as Prometheus 2.42's `createLabelsForAbsentFunction`: the
/// first equality matcher of a label sets it; any later matcher of that label, or a matcher
/// of another kind, removes it. A parenthesised argument gives no labels (as there).
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut out = Labels::empty();
    let mut set: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !set.contains(&m.name.as_str()) {
            out.set(m.name.clone(), m.value.clone());
            set.push(&m.name);
        } else {
            out.remove(&m.name);
        }
    }
    out
}

fn simple(v: Vec<InstantSample>, ts: Timestamp, f: impl Fn(f64) -> f64) -> Vec<InstantSample> {
    v.into_iter()
        .map(|s| InstantSample {
            labels: drop_name(s.labels),
            t: ts,
            v: f(s.v),
        })
        .collect()
}

fn date_fn(name: &str, v: f64) -> f64 {
    if v.is_nan() || v.is_infinite() {
        return f64::NAN;
    }
    let Some(t) = chrono::DateTime::from_timestamp(v as i64, 0) else {
        return f64::NAN;
    };
    match name {
        "day_of_month" => t.day() as f64,
        "day_of_week" => t.weekday().num_days_from_sunday() as f64,
        "day_of_year" => t.ordinal() as f64,
        "days_in_month" => {
            let (y, m) = (t.year(), t.month());
            let next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            let this = NaiveDate::from_ymd_opt(y, m, 1);
            match (this, next) {
                (Some(a), Some(b)) => (b - a).num_days() as f64,
                _ => f64::NAN,
            }
        }
        "hour" => t.hour() as f64,
        "minute" => t.minute() as f64,
        "month" => t.month() as f64,
        "year" => t.year() as f64,
        _ => f64::NAN,
    }
}

fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // coalesce buckets with the same upper bound
    let mut co: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for b in buckets {
        match co.last_mut() {
            Some(l) if l.0 == b.0 => l.1 += b.1,
            _ => co.push(b),
        }
    }
    // ensure monotonic
    let mut max = f64::NEG_INFINITY;
    for b in &mut co {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
        }
    }
    if co.len() < 2 {
        return f64::NAN;
    }
    let obs = co[co.len() - 1].1;
    if obs == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * obs;
    let n = co.len() - 1;
    let b = co[..n].partition_point(|x| x.1 < rank);
    if b == n {
        return co[n - 1].0;
    }
    if b == 0 && co[0].0 <= 0.0 {
        return co[0].0;
    }
    let mut start = 0.0;
    let end = co[b].0;
    let mut count = co[b].1;
    if b > 0 {
        start = co[b - 1].0;
        count -= co[b - 1].1;
        rank -= co[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Go's `math.Max`: NaN if either is NaN (Rust's `max` ignores a NaN), +0 over -0.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            b
        } else {
            a
        }
    } else if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: NaN if either is NaN, -0 over +0.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if a == 0.0 && b == 0.0 {
        if a.is_sign_negative() {
            a
        } else {
            b
        }
    } else if a < b {
        a
    } else {
        b
    }
}

fn check_args(name: &str, args: &[Box<Expr>], min: usize, max: usize) -> Result<(), EvalError> {
    if args.len() < min || args.len() > max {
        return err(format!("wrong number of arguments for {name}()"));
    }
    Ok(())
}

pub(crate) fn call(
    ctx: &Ctx,
    name: &str,
    args: &[Box<Expr>],
    ts: Timestamp,
) -> Result<Val, EvalError> {
    let secs = ts as f64 / 1000.0;
    // Range-vector functions.
    if let Some(over) = name.strip_suffix("_over_time") {
        let (arg, q) = if over == "quantile" {
            check_args(name, args, 2, 2)?;
            (&args[1], ctx.eval_scalar(&args[0], ts)?)
        } else {
            check_args(name, args, 1, 1)?;
            (&args[0], 0.0)
        };
        let m = ctx.range_arg(name, arg, ts)?.series;
        if over == "absent" {
            return Ok(Val::Vector(if m.is_empty() {
                vec![InstantSample {
                    labels: absent_labels(&args[0]),
                    t: ts,
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }));
        }
        let mut out = Vec::with_capacity(m.len());
        for RangeSeries { labels, samples } in m {
            let vals: Vec<f64> = samples.iter().map(|s| s.v).collect();
            let v = match over {
                "avg" => {
                    // Prometheus 2.42's funcAvgOverTime: a Kahan-compensated incremental mean.
                    let (mut mean, mut count, mut c) = (0.0_f64, 0.0_f64, 0.0_f64);
                    for &v in &vals {
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
                    if mean.is_infinite() {
                        mean
                    } else {
                        mean + c
                    }
                }
                "min" => vals[1..]
                    .iter()
                    .fold(vals[0], |m, &v| if v < m || m.is_nan() { v } else { m }),
                "max" => vals[1..]
                    .iter()
                    .fold(vals[0], |m, &v| if v > m || m.is_nan() { v } else { m }),
                "sum" => {
                    let (s, c) = vals
                        .iter()
                        .fold((0.0, 0.0), |(s, c), &v| kahan_inc(v, s, c));
                    // An infinite sum leaves NaN in the compensation: return the sum.
                    if s.is_infinite() {
                        s
                    } else {
                        s + c
                    }
                }
                "count" => vals.len() as f64,
                "last" => vals[vals.len() - 1],
                "present" => 1.0,
                "quantile" => quantile(q, vals),
                "stddev" | "stdvar" => {
                    let (mut n, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
                    for &v in &vals {
                        n += 1.0;
                        let d = v - (mean + cm);
                        (mean, cm) = kahan_inc(d / n, mean, cm);
                        (aux, ca) = kahan_inc(d * (v - (mean + cm)), aux, ca);
                    }
                    let var = (aux + ca) / n;
                    if over == "stddev" {
                        var.sqrt()
                    } else {
                        var
                    }
                }
                _ => return Err(EvalError::Unsupported(format!("function {name:?}"))),
            };
            let labels = if over == "last" {
                labels
            } else {
                drop_name(labels)
            };
            out.push(InstantSample { labels, t: ts, v });
        }
        return Ok(Val::Vector(out));
    }
    match name {
        "rate" | "increase" | "delta" | "irate" | "idelta" | "deriv" | "changes" | "resets"
        | "predict_linear" => {
            let dur = if name == "predict_linear" {
                check_args(name, args, 2, 2)?;
                ctx.eval_scalar(&args[1], ts)?
            } else {
                check_args(name, args, 1, 1)?;
                0.0
            };
            let arg = ctx.range_arg(name, &args[0], ts)?;
            let (rs, re, range_secs) = (arg.start, arg.end, arg.range_secs);
            let m = arg.series;
            let mut out = Vec::with_capacity(m.len());
            for RangeSeries { labels, samples } in m {
                let v = match name {
                    "rate" => extrapolated_rate(&samples, rs, re, range_secs, true, true),
                    "increase" => extrapolated_rate(&samples, rs, re, range_secs, true, false),
                    "delta" => extrapolated_rate(&samples, rs, re, range_secs, false, false),
                    "irate" => instant_value(&samples, true),
                    "idelta" => instant_value(&samples, false),
                    "deriv" => {
                        (samples.len() >= 2).then(|| linear_regression(&samples, samples[0].t).0)
                    }
                    "predict_linear" => (samples.len() >= 2).then(|| {
                        let (slope, intercept) = linear_regression(&samples, ts);
                        slope * dur + intercept
                    }),
                    "changes" => Some(
                        samples
                            .windows(2)
                            .filter(|w| w[0].v != w[1].v && !(w[0].v.is_nan() && w[1].v.is_nan()))
                            .count() as f64,
                    ),
                    _ => Some(samples.windows(2).filter(|w| w[1].v < w[0].v).count() as f64),
                };
                if let Some(v) = v {
                    out.push(InstantSample {
                        labels: drop_name(labels),
                        t: ts,
                        v,
                    });
                }
            }
            Ok(Val::Vector(out))
        }
        // holt_winters (renamed by the parser's Prometheus 3 naming), as 2.42's funcHoltWinters.
        "double_exponential_smoothing" => {
            check_args("holt_winters", args, 3, 3)?;
            let sf = ctx.eval_scalar(&args[1], ts)?;
            let tf = ctx.eval_scalar(&args[2], ts)?;
            let series = ctx.range_arg("holt_winters", &args[0], ts)?.series;
            // Prometheus checks the factors per series: without series there is no error.
            if !series.is_empty() && (sf <= 0.0 || sf >= 1.0) {
                return err(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
                ));
            }
            if !series.is_empty() && (tf <= 0.0 || tf >= 1.0) {
                return err(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
                ));
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
        "time" => {
            check_args(name, args, 0, 0)?;
            Ok(Val::Scalar(secs))
        }
        "pi" => Ok(Val::Scalar(std::f64::consts::PI)),
        "vector" => {
            check_args(name, args, 1, 1)?;
            Ok(Val::Vector(vec![InstantSample {
                labels: Labels::empty(),
                t: ts,
                v: ctx.eval_scalar(&args[0], ts)?,
            }]))
        }
        "scalar" => {
            check_args(name, args, 1, 1)?;
            let v = ctx.eval_vector(&args[0], ts)?;
            Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
        }
        "absent" => {
            check_args(name, args, 1, 1)?;
            let v = ctx.eval_vector(&args[0], ts)?;
            Ok(Val::Vector(if v.is_empty() {
                vec![InstantSample {
                    labels: absent_labels(&args[0]),
                    t: ts,
                    v: 1.0,
                }]
            } else {
                Vec::new()
            }))
        }
        "timestamp" => {
            check_args(name, args, 1, 1)?;
            let direct = matches!(unwrap_paren(&args[0]), Expr::VectorSelector(_));
            let v = ctx.eval_vector(&args[0], ts)?;
            Ok(Val::Vector(
                v.into_iter()
                    .map(|s| InstantSample {
                        labels: drop_name(s.labels),
                        t: ts,
                        v: if direct { s.t as f64 / 1000.0 } else { secs },
                    })
                    .collect(),
            ))
        }
        "sort" | "sort_desc" => {
            check_args(name, args, 1, 1)?;
            let mut v = ctx.eval_vector(&args[0], ts)?;
            let desc = name == "sort_desc";
            // NaN sorts last in both directions, as in Prometheus.
            v.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ if desc => b.v.total_cmp(&a.v),
                _ => a.v.total_cmp(&b.v),
            });
            Ok(Val::Vector(v))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let n = if name == "clamp" { 3 } else { 2 };
            check_args(name, args, n, n)?;
            let v = ctx.eval_vector(&args[0], ts)?;
            let a = ctx.eval_scalar(&args[1], ts)?;
            Ok(Val::Vector(match name {
                "clamp" => {
                    let b = ctx.eval_scalar(&args[2], ts)?;
                    if b < a {
                        Vec::new()
                    } else {
                        simple(v, ts, |x| go_max(a, go_min(b, x)))
                    }
                }
                "clamp_min" => simple(v, ts, |x| go_max(a, x)),
                _ => simple(v, ts, |x| go_min(a, x)),
            }))
        }
        "round" => {
            check_args(name, args, 1, 2)?;
            let v = ctx.eval_vector(&args[0], ts)?;
            let to = if args.len() == 2 {
                ctx.eval_scalar(&args[1], ts)?
            } else {
                1.0
            };
            let inv = 1.0 / to;
            Ok(Val::Vector(simple(v, ts, |x| {
                (x * inv + 0.5).floor() / inv
            })))
        }
        "histogram_quantile" => {
            check_args(name, args, 2, 2)?;
            let q = ctx.eval_scalar(&args[0], ts)?;
            let v = ctx.eval_vector(&args[1], ts)?;
            let mut order: Vec<Labels> = Vec::new();
            let mut groups: std::collections::HashMap<Labels, Vec<(f64, f64)>> = Default::default();
            for s in v {
                let Some(le) = s.labels.get("le").and_then(parse_go_float) else {
                    continue;
                };
                // Grouped by every label but `le` (the metric name too); the name is dropped
                // from the output, so two histograms of different names can collide there,
                // which is an error as in Prometheus.
                let mut k = s.labels.clone();
                k.remove("le");
                groups
                    .entry(k.clone())
                    .or_insert_with(|| {
                        order.push(k);
                        Vec::new()
                    })
                    .push((le, s.v));
            }
            Ok(Val::Vector(
                order
                    .into_iter()
                    .map(|k| {
                        let b = groups.remove(&k).unwrap_or_default();
                        InstantSample {
                            labels: drop_name(k),
                            t: ts,
                            v: bucket_quantile(q, b),
                        }
                    })
                    .collect(),
            ))
        }
        "label_replace" => {
            check_args(name, args, 5, 5)?;
            let v = ctx.eval_vector(&args[0], ts)?;
            let s = |i: usize| -> Result<String, EvalError> {
                match ctx.eval(&args[i], ts)? {
                    Val::Str(s) => Ok(s),
                    _ => err("label_replace expects string arguments"),
                }
            };
            let (dst, repl, src, re) = (s(1)?, s(2)?, s(3)?, s(4)?);
            let re = regex::Regex::new(&format!("^(?s:{re})$")).map_err(|e| {
                EvalError::Execution(format!(
                    "invalid regular expression in label_replace(): {e}"
                ))
            })?;
            if !model::labels::is_valid_label_name(&dst) {
                return err(format!(
                    "invalid destination label name in label_replace(): {dst}"
                ));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut x in v {
                let val = x.labels.get_or_empty(&src).to_string();
                if let Some(caps) = re.captures(&val) {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    x.labels.set(dst.clone(), res);
                }
                x.t = ts;
                out.push(x);
            }
            Ok(Val::Vector(out))
        }
        "label_join" => {
            if args.len() < 3 {
                return err("wrong number of arguments for label_join()");
            }
            let v = ctx.eval_vector(&args[0], ts)?;
            let mut strs = Vec::new();
            for a in &args[1..] {
                match ctx.eval(a, ts)? {
                    Val::Str(s) => strs.push(s),
                    _ => return err("label_join expects string arguments"),
                }
            }
            let (dst, sep, srcs) = (&strs[0], &strs[1], &strs[2..]);
            if !model::labels::is_valid_label_name(dst) {
                return err(format!(
                    "invalid destination label name in label_join(): {dst}"
                ));
            }
            Ok(Val::Vector(
                v.into_iter()
                    .map(|mut x| {
                        let joined = srcs
                            .iter()
                            .map(|s| x.labels.get_or_empty(s).to_string())
                            .collect::<Vec<_>>()
                            .join(sep);
                        x.labels.set(dst.clone(), joined);
                        x.t = ts;
                        x
                    })
                    .collect(),
            ))
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            check_args(name, args, 0, 1)?;
            let v = if args.is_empty() {
                vec![InstantSample {
                    labels: Labels::empty(),
                    t: ts,
                    v: secs,
                }]
            } else {
                ctx.eval_vector(&args[0], ts)?
            };
            Ok(Val::Vector(simple(v, ts, |x| date_fn(name, x))))
        }
        _ => {
            let f: fn(f64) -> f64 = match name {
                "abs" => f64::abs,
                "ceil" => f64::ceil,
                "floor" => f64::floor,
                "exp" => f64::exp,
                "ln" => go_log,
                "log2" => go_log2,
                "log10" => go_log10,
                "sqrt" => f64::sqrt,
                "sgn" => |x: f64| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                },
                "sin" => f64::sin,
                "cos" => f64::cos,
                "tan" => f64::tan,
                "asin" => f64::asin,
                "acos" => f64::acos,
                "atan" => f64::atan,
                "sinh" => f64::sinh,
                "cosh" => f64::cosh,
                "tanh" => f64::tanh,
                "asinh" => f64::asinh,
                "acosh" => f64::acosh,
                "atanh" => f64::atanh,
                "deg" => f64::to_degrees,
                "rad" => f64::to_radians,
                other => return Err(EvalError::Unsupported(format!("function {other:?}"))),
            };
            check_args(name, args, 1, 1)?;
            let v = ctx.eval_vector(&args[0], ts)?;
            Ok(Val::Vector(simple(v, ts, f)))
        }
    }
}

/// Go's `math.Log` (the FreeBSD `e_log.c` method Go uses): the C library's `log` rounds
/// differently in the last bit for some inputs, and rules compare values exactly.
pub(crate) fn go_log(x: f64) -> f64 {
    // ln(2) split in two, and the polynomial's coefficients (bit patterns of e_log.c).
    let ln2_hi = f64::from_bits(0x3fe6_2e42_fee0_0000);
    let ln2_lo = f64::from_bits(0x3dea_39ef_3579_3c76);
    let l: [f64; 7] = [
        f64::from_bits(0x3fe5_5555_5555_5593),
        f64::from_bits(0x3fd9_9999_9997_fa04),
        f64::from_bits(0x3fd2_4924_9422_9359),
        f64::from_bits(0x3fcc_71c5_1d8e_78af),
        f64::from_bits(0x3fc7_4664_96cb_03de),
        f64::from_bits(0x3fc3_9a09_d078_c69f),
        f64::from_bits(0x3fc2_f112_df3e_5244),
    ];
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::FRAC_1_SQRT_2 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = f64::from(ki);
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (l[0] + s4 * (l[2] + s4 * (l[4] + s4 * l[6])));
    let t2 = s4 * (l[1] + s4 * (l[3] + s4 * l[5]));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * ln2_hi - ((hfsq - (s * (hfsq + r) + k * ln2_lo)) - f)
}

/// Go's `math.Frexp`: `x = frac × 2^exp` with `frac` in [0.5, 1) (x finite and non-zero).
fn frexp(x: f64) -> (f64, i32) {
    let (mut x, mut exp) = (x, 0);
    if x.abs() < f64::MIN_POSITIVE {
        // subnormal: normalise first
        x *= (1u64 << 52) as f64;
        exp = -52;
    }
    let bits = x.to_bits();
    exp += ((bits >> 52) & 0x7ff) as i32 - 1022;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp)
}

/// Go's `math.Log2`: exact for powers of two, else `Log(frac)/Ln2 + exp`.
pub(crate) fn go_log2(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 || x.is_infinite() {
        return go_log(x);
    }
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    // Go folds the constant 1/Ln2 exactly: log2(e) rounded once.
    go_log(frac) * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Log10`: `Log(x) × (1/Ln10)`.
pub(crate) fn go_log10(x: f64) -> f64 {
    // Go folds the constant 1/Ln10 exactly: log10(e) rounded once.
    go_log(x) * std::f64::consts::LOG10_E
}

/// Parses a float as Go's `strconv.ParseFloat` does for `le` labels (`+Inf`, `Inf`, `NaN`...).
pub(crate) fn parse_go_float(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "+inf" | "inf" | "+infinity" | "infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by Prometheus 2.42 (Go's math package), where the C library differs.
    #[test]
    fn logarithms_as_go_computes_them() {
        assert_eq!(go_log(3.0), 1.0986122886681096);
        assert_ne!(
            3.0_f64.ln(),
            1.0986122886681096,
            "glibc rounds the other way"
        );
        assert_eq!(go_log10(0.1), -0.9999999999999999);
        assert_eq!(go_log10(1000.0), 3.0);
        assert_eq!(go_log2(8.0), 3.0);
        assert_eq!(go_log(0.0), f64::NEG_INFINITY);
        assert!(go_log(-1.0).is_nan());
        assert_eq!(go_log(f64::INFINITY), f64::INFINITY);
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0), (0.5, -1023));
    }
}
