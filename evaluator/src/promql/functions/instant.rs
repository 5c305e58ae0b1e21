//! Functions that evaluate their own arguments (everything but the per-series range functions
//! and plain element-wise maths), and the date parts.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use model::{Labels, Timestamp};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;

use super::gomath::{go_max, go_min};
use super::{drop_name, simple};
use crate::promql::eval::{Ctx, EvalError, InstantSample, Val};

fn err<T>(m: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::Execution(m.into()))
}

fn unwrap_paren(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_paren(&p.expr),
        other => other,
    }
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

fn absent_result(empty: bool, arg: &Expr, ts: Timestamp) -> Val {
    Val::Vector(if empty {
        vec![InstantSample {
            labels: absent_labels(arg),
            t: ts,
            v: 1.0,
        }]
    } else {
        Vec::new()
    })
}

pub(super) fn absent(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let v = ctx.eval_vector(&args[0], ts)?;
    Ok(absent_result(v.is_empty(), &args[0], ts))
}

pub(super) fn absent_over_time(
    ctx: &Ctx,
    args: &[Box<Expr>],
    ts: Timestamp,
) -> Result<Val, EvalError> {
    let m = ctx.range_arg("absent_over_time", &args[0], ts)?.series;
    Ok(absent_result(m.is_empty(), &args[0], ts))
}

pub(super) fn time(_: &Ctx, _: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    Ok(Val::Scalar(ts as f64 / 1000.0))
}

pub(super) fn pi(_: &Ctx, _: &[Box<Expr>], _: Timestamp) -> Result<Val, EvalError> {
    Ok(Val::Scalar(std::f64::consts::PI))
}

pub(super) fn vector(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    Ok(Val::Vector(vec![InstantSample {
        labels: Labels::empty(),
        t: ts,
        v: ctx.eval_scalar(&args[0], ts)?,
    }]))
}

pub(super) fn scalar(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let v = ctx.eval_vector(&args[0], ts)?;
    Ok(Val::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }))
}

pub(super) fn timestamp(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let direct = matches!(unwrap_paren(&args[0]), Expr::VectorSelector(_));
    let v = ctx.eval_vector(&args[0], ts)?;
    let secs = ts as f64 / 1000.0;
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

fn sort_by_value(
    ctx: &Ctx,
    args: &[Box<Expr>],
    ts: Timestamp,
    desc: bool,
) -> Result<Val, EvalError> {
    let mut v = ctx.eval_vector(&args[0], ts)?;
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

pub(super) fn sort(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    sort_by_value(ctx, args, ts, false)
}

pub(super) fn sort_desc(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    sort_by_value(ctx, args, ts, true)
}

pub(super) fn clamp(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let v = ctx.eval_vector(&args[0], ts)?;
    let min = ctx.eval_scalar(&args[1], ts)?;
    let max = ctx.eval_scalar(&args[2], ts)?;
    Ok(Val::Vector(if max < min {
        Vec::new()
    } else {
        simple(v, ts, |x| go_max(min, go_min(max, x)))
    }))
}

pub(super) fn clamp_min(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let v = ctx.eval_vector(&args[0], ts)?;
    let min = ctx.eval_scalar(&args[1], ts)?;
    Ok(Val::Vector(simple(v, ts, |x| go_max(min, x))))
}

pub(super) fn clamp_max(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let v = ctx.eval_vector(&args[0], ts)?;
    let max = ctx.eval_scalar(&args[1], ts)?;
    Ok(Val::Vector(simple(v, ts, |x| go_min(max, x))))
}

pub(super) fn round(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
    let v = ctx.eval_vector(&args[0], ts)?;
    let to = match args.get(1) {
        Some(a) => ctx.eval_scalar(a, ts)?,
        None => 1.0,
    };
    let inv = 1.0 / to;
    Ok(Val::Vector(simple(v, ts, |x| {
        (x * inv + 0.5).floor() / inv
    })))
}

pub(super) fn sgn(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
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

pub(super) fn histogram_quantile(
    ctx: &Ctx,
    args: &[Box<Expr>],
    ts: Timestamp,
) -> Result<Val, EvalError> {
    let q = ctx.eval_scalar(&args[0], ts)?;
    let v = ctx.eval_vector(&args[1], ts)?;
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: std::collections::HashMap<Labels, Vec<(f64, f64)>> = Default::default();
    for s in v {
        let Some(le) = s.labels.get("le").and_then(model::gofmt::parse_float) else {
            continue;
        };
        // Grouped by every label but `le` (the metric name too); the name is dropped from the
        // output, so two histograms of different names can collide there, which is an error
        // as in Prometheus.
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

pub(super) fn label_replace(
    ctx: &Ctx,
    args: &[Box<Expr>],
    ts: Timestamp,
) -> Result<Val, EvalError> {
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

pub(super) fn label_join(ctx: &Ctx, args: &[Box<Expr>], ts: Timestamp) -> Result<Val, EvalError> {
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

pub(super) fn day_of_month(t: &DateTime<Utc>) -> f64 {
    t.day() as f64
}

pub(super) fn day_of_week(t: &DateTime<Utc>) -> f64 {
    t.weekday().num_days_from_sunday() as f64
}

pub(super) fn day_of_year(t: &DateTime<Utc>) -> f64 {
    t.ordinal() as f64
}

pub(super) fn days_in_month(t: &DateTime<Utc>) -> f64 {
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

pub(super) fn hour(t: &DateTime<Utc>) -> f64 {
    t.hour() as f64
}

pub(super) fn minute(t: &DateTime<Utc>) -> f64 {
    t.minute() as f64
}

pub(super) fn month(t: &DateTime<Utc>) -> f64 {
    t.month() as f64
}

pub(super) fn year(t: &DateTime<Utc>) -> f64 {
    t.year() as f64
}
