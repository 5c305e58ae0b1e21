//! Rule unit tests in `promtool test rules` format: `rule_files`, `evaluation_interval`,
//! `group_eval_order`, `tests` with `interval`, `input_series` (`a+bxn`, `a-bxn`, `axn`, `_`,
//! `_xn`, `stale`), `alert_rule_test`, `promql_expr_test`, `external_labels`, `external_url`,
//! and alertd's extension `exp_pending_alerts`. Output and pass/fail follow promtool 2.42.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::storage::{MemStorage, SeriesStore};
use model::{AlertState, Duration, Labels, Sample, Timestamp};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::Expr;
use serde::Deserialize;

use crate::group::{EvalContext, GroupState};
use crate::promql::{self, Value};
use crate::rules::RuleSet;
use crate::yaml::{first_document, null_default, text_map, Text};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default, deserialize_with = "null_default")]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    group_eval_order: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    tests: Vec<TestGroup>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    input_series: Vec<InputSeries>,
    #[serde(default, deserialize_with = "null_default")]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default, deserialize_with = "null_default")]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default, deserialize_with = "null_default")]
    external_labels: BTreeMap<String, Text>,
    #[serde(default)]
    external_url: Text,
    #[serde(default)]
    name: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: Text,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    /// Left out: 0, as in promtool.
    #[serde(default)]
    eval_time: Option<String>,
    #[serde(default)]
    alertname: Text,
    #[serde(default, deserialize_with = "null_default")]
    exp_alerts: Vec<ExpAlert>,
    /// alertd extension: expected pending alerts (promtool cannot check these).
    #[serde(default)]
    exp_pending_alerts: Option<Vec<ExpAlert>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default, deserialize_with = "null_default")]
    exp_labels: BTreeMap<String, Text>,
    #[serde(default, deserialize_with = "null_default")]
    exp_annotations: BTreeMap<String, Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: Text,
    /// Left out: 0, as in promtool.
    #[serde(default)]
    eval_time: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: Text,
    #[serde(default, deserialize_with = "null_default")]
    value: f64,
}

/// The result of one test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The file.
    pub file: PathBuf,
    /// Failures, each formatted as promtool prints it; empty when the file passed.
    pub errors: Vec<String>,
}

impl TestOutcome {
    /// Whether every test of the file passed.
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Runs each file and prints promtool's report (`Unit Testing:  FILE`, then `  SUCCESS` or
/// `  FAILED:` with the failures). Returns whether all passed (promtool exits 1 otherwise).
pub fn run_files<P: AsRef<Path>>(files: &[P], out: &mut dyn Write) -> std::io::Result<bool> {
    let mut ok = true;
    for f in files {
        let o = run_file(f.as_ref());
        writeln!(out, "Unit Testing:  {}", f.as_ref().display())?;
        if o.passed() {
            writeln!(out, "  SUCCESS")?;
        } else {
            ok = false;
            writeln!(out, "  FAILED:")?;
            for e in &o.errors {
                writeln!(out, "{e}")?;
            }
        }
        writeln!(out)?;
    }
    Ok(ok)
}

fn dur(s: &str) -> Result<Duration, String> {
    s.parse::<Duration>().map_err(|e| e.to_string())
}

/// Runs one test file.
pub fn run_file(path: &Path) -> TestOutcome {
    let errors = match std::fs::read_to_string(path) {
        Err(e) => vec![format!("  cannot read {}: {e}", path.display())],
        Ok(text) => run_text(path, &text),
    };
    TestOutcome {
        file: path.to_path_buf(),
        errors,
    }
}

fn run_text(path: &Path, text: &str) -> Vec<String> {
    let tf: TestFile = match serde_saphyr::from_str(first_document(text)) {
        Ok(t) => t,
        Err(e) => {
            let loc = e
                .location()
                .map(|l| format!(":{}:{}", l.line(), l.column()))
                .unwrap_or_default();
            return vec![format!(
                "  {}{loc}: {}",
                path.display(),
                e.without_snippet()
            )];
        }
    };
    let eval_interval = match tf.evaluation_interval.as_deref().map(dur).transpose() {
        Ok(d) => d.unwrap_or(Duration::from_secs(60)),
        Err(e) => return vec![format!("  evaluation_interval: {e}")],
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let set = match RuleSet::load_relative(&tf.rule_files, Some(base)) {
        Ok(s) => s,
        Err(errs) => return errs.iter().map(|e| format!("  {e}")).collect(),
    };
    let mut errors = Vec::new();
    for tg in &tf.tests {
        errors.extend(run_group(&set, &tf.group_eval_order, eval_interval, tg));
    }
    errors
}

/// Parses series notation (`name{a="b"}`) into labels.
pub fn parse_series(s: &str) -> Result<Labels, String> {
    parse_metric(s)
}

fn parse_metric(s: &str) -> Result<Labels, String> {
    if s.trim() == "{}" {
        return Ok(Labels::empty());
    }
    let e = promql::parse_syntax(s).map_err(|e| format!("{s:?}: {e}"))?;
    let Expr::VectorSelector(vs) = e else {
        return Err(format!("{s:?}: not a series selector"));
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(n) = vs.name {
        pairs.push(("__name__".into(), n));
    }
    for m in vs.matchers.matchers {
        if !matches!(m.op, PMatchOp::Equal) {
            return Err(format!(
                "{s:?}: only = matchers are allowed in series notation"
            ));
        }
        pairs.push((m.name, m.value));
    }
    Ok(Labels::from_pairs(pairs))
}

fn parse_number(s: &str) -> Result<f64, String> {
    model::gofmt::parse_float(s).ok_or_else(|| format!("invalid number {s:?}"))
}

/// The most values [`expand_values`] returns (`_x1000000000` would otherwise allocate
/// gigabytes). The test runner does not use it: it expands a series lazily, only as far as the
/// last evaluation time reaches, bounded by [`MAX_LOADED_SAMPLES`].
pub const MAX_EXPANDED_VALUES: usize = 1_000_000;

/// The most samples one test group loads (over all its input series, up to the last
/// evaluation time; about 16 bytes each). promtool has no limit; real tests load thousands.
pub const MAX_LOADED_SAMPLES: u64 = 20_000_000;

/// One item of the value notation.
#[derive(Debug, Clone, Copy)]
enum Item {
    /// `_` / `_xn`: one or n omitted points.
    Omit(u64),
    /// `a` / `axn` / `stale`: the value repeated (count values).
    Repeat(f64, u64),
    /// `a+bxn` / `a-bxn`: n + 1 values from `a` in steps of `b`.
    Steps(f64, f64, u64),
}

impl Item {
    fn count(self) -> u64 {
        match self {
            Item::Omit(n) | Item::Repeat(_, n) | Item::Steps(_, _, n) => n,
        }
    }
}

fn parse_items(s: &str) -> Result<Vec<Item>, String> {
    let stale = f64::from_bits(model::sample::STALE_NAN_BITS);
    let count = |n: &str, item: &str| -> Result<u64, String> {
        n.parse::<u64>()
            .map_err(|_| format!("invalid repetition in {item:?}"))
    };
    let mut out = Vec::new();
    for item in s.split_whitespace() {
        if item == "_" {
            out.push(Item::Omit(1));
            continue;
        }
        if let Some(n) = item.strip_prefix("_x") {
            out.push(Item::Omit(count(n, item)?));
            continue;
        }
        if item == "stale" {
            out.push(Item::Repeat(stale, 1));
            continue;
        }
        let (head, times) = match item.rfind('x') {
            Some(i)
                if !item[..i].is_empty()
                    && item[i + 1..].chars().all(|c| c.is_ascii_digit())
                    && i + 1 < item.len() =>
            {
                (&item[..i], Some(count(&item[i + 1..], item)?))
            }
            _ => (item, None),
        };
        // a+b / a-b: an operator after the first character, not part of an exponent.
        let bytes = head.as_bytes();
        let op = (1..bytes.len()).find(|&i| {
            (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E')
        });
        out.push(match (op, times) {
            (Some(i), Some(n)) => Item::Steps(
                parse_number(&head[..i])?,
                parse_number(&head[i..])?,
                n.saturating_add(1),
            ),
            (Some(_), None) => return Err(format!("invalid value {item:?}: expected a+bxn")),
            (None, n) => {
                let a = if head == "stale" {
                    stale
                } else {
                    parse_number(head)?
                };
                Item::Repeat(a, n.map_or(1, |n| n.saturating_add(1)))
            }
        });
    }
    Ok(out)
}

/// Expands promtool's value notation (`1+2x10 _ stale _x3`), keeping only the first `keep`
/// values (`None` = omitted, `Some(stale)` = a staleness marker). Returns them with the number
/// of values the whole notation stands for, so a series is never expanded beyond what is used.
pub fn expand_values_upto(s: &str, keep: usize) -> Result<(Vec<Option<f64>>, u64), String> {
    let items = parse_items(s)?;
    let total = items
        .iter()
        .fold(0u64, |acc, i| acc.saturating_add(i.count()));
    Ok((expand_items(items, keep), total))
}

fn expand_items(items: Vec<Item>, keep: usize) -> Vec<Option<f64>> {
    let total = items
        .iter()
        .fold(0u64, |acc, i| acc.saturating_add(i.count()));
    let mut out = Vec::with_capacity(keep.min(usize::try_from(total).unwrap_or(usize::MAX)));
    for item in items {
        let room = keep - out.len();
        if room == 0 {
            break;
        }
        let n = usize::try_from(item.count())
            .unwrap_or(usize::MAX)
            .min(room);
        match item {
            Item::Omit(_) => out.extend(std::iter::repeat_n(None, n)),
            Item::Repeat(a, _) => out.extend(std::iter::repeat_n(Some(a), n)),
            Item::Steps(mut a, b, _) => {
                // Accumulated as promtool does (a += b), not a + i*b: the last bits differ.
                for _ in 0..n {
                    out.push(Some(a));
                    a += b;
                }
            }
        }
    }
    out
}

/// Expands promtool's value notation (`1+2x10 _ stale _x3`) into values (`None` = omitted,
/// `Some(stale)` = a staleness marker). More than [`MAX_EXPANDED_VALUES`] values is an error.
pub fn expand_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let (v, total) = expand_values_upto(s, MAX_EXPANDED_VALUES)?;
    if total > MAX_EXPANDED_VALUES as u64 {
        return Err(format!(
            "{s:?} expands to more than {MAX_EXPANDED_VALUES} values"
        ));
    }
    Ok(v)
}

/// The input series of a test group, appended to the store only up to each evaluation time,
/// as promtool's lazy loader does (so `@` and negative offsets see no later samples).
struct Loader {
    series: Vec<(Labels, Vec<Sample>)>,
    /// How many samples of each series are in the store.
    loaded: Vec<usize>,
}

impl Loader {
    /// Expands `input` at `interval` as far as `last_t` (the last evaluation time). A series
    /// listed twice keeps its last definition, as in promtool.
    fn new(input: &[InputSeries], interval: i64, last_t: i64) -> Result<Loader, String> {
        let keep = u64::try_from(last_t / interval.max(1))
            .unwrap_or(0)
            .saturating_add(1);
        let mut series: Vec<(Labels, Vec<Sample>)> = Vec::new();
        let mut index: std::collections::HashMap<Labels, usize> = Default::default();
        let mut total = 0u64;
        for s in input {
            let labels = parse_metric(&s.series).map_err(|e| format!("input_series: {e}"))?;
            let items =
                parse_items(&s.values.0).map_err(|e| format!("input_series {}: {e}", s.series))?;
            let len = items
                .iter()
                .fold(0u64, |acc, i| acc.saturating_add(i.count()))
                .min(keep);
            total = total.saturating_add(len);
            if total > MAX_LOADED_SAMPLES {
                return Err(format!(
                    "input_series {}: the input series reach more than {MAX_LOADED_SAMPLES} samples up to the last evaluation time {} (alertd's limit per test group; promtool has none): use a longer interval or fewer points",
                    s.series,
                    fmt_dur(last_t)
                ));
            }
            let vals = expand_items(items, usize::try_from(len).unwrap_or(usize::MAX));
            let samples: Vec<Sample> = vals
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| Sample::new(i as i64 * interval, v)))
                .collect();
            match index.get(&labels) {
                Some(&i) => series[i].1 = samples,
                None => {
                    index.insert(labels.clone(), series.len());
                    series.push((labels, samples));
                }
            }
        }
        let loaded = vec![0; series.len()];
        Ok(Loader { series, loaded })
    }

    /// Appends every sample up to `t` not yet in `store`.
    fn load_till(&mut self, store: &dyn SeriesStore, t: Timestamp) -> Result<(), String> {
        let mut batch = Vec::new();
        for ((labels, samples), done) in self.series.iter().zip(&mut self.loaded) {
            let upto = samples.partition_point(|s| s.t <= t);
            batch.extend(samples[*done..upto].iter().map(|s| (labels.clone(), *s)));
            *done = upto.max(*done);
        }
        store.append(&batch).map_err(|e| e.to_string())
    }
}

fn fmt_dur(ms: i64) -> String {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0)).to_string()
}

fn alerts_string(v: &[(Labels, Labels)]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (l, a)) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "\n            {i}:\n              Labels:{l}\n              Annotations:{a}"
        ));
    }
    s.push_str("\n            ]");
    s
}

fn samples_string(v: &[(Labels, f64)]) -> String {
    if v.is_empty() {
        return "nil".into();
    }
    v.iter()
        .map(|(l, x)| format!("{l} {}", format_e(*x)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn format_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:E}");
    let (m, e) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

fn run_group(
    set: &RuleSet,
    order: &[String],
    eval_interval: Duration,
    tg: &TestGroup,
) -> Vec<String> {
    let mut errors = Vec::new();
    let name_prefix = if tg.name.0.is_empty() {
        String::new()
    } else {
        format!("    name: {},\n", tg.name.0)
    };
    let interval = match tg.interval.as_deref().map(dur).transpose() {
        Ok(d) => d.unwrap_or(eval_interval).as_millis_i64(),
        Err(e) => return vec![format!("    interval: {e}")],
    };
    let eval_ms = |t: &Option<String>| -> Result<i64, String> {
        t.as_deref()
            .map_or(Ok(0), |t| dur(t).map(|d| d.as_millis_i64()))
    };
    // Alert tests by eval time.
    let mut alert_tests: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
    let mut max_t = 0i64;
    for at in &tg.alert_rule_test {
        match eval_ms(&at.eval_time) {
            Ok(t) => {
                max_t = max_t.max(t);
                alert_tests.entry(t).or_default().push(at);
            }
            Err(e) => errors.push(format!("    eval_time: {e}")),
        }
    }
    for et in &tg.promql_expr_test {
        if let Ok(t) = eval_ms(&et.eval_time) {
            max_t = max_t.max(t);
        }
    }
    let step = eval_interval.as_millis_i64().max(1);
    // The last evaluation time of the loop below: samples after it are never loaded.
    let last_t = max_t - max_t % step;
    let store = Arc::new(MemStorage::new());
    let mut loader = match Loader::new(&tg.input_series, interval, last_t) {
        Ok(l) => l,
        Err(e) => return vec![format!("    {e}")],
    };
    let mut ctx = EvalContext::new(store.clone());
    ctx.external_labels = Labels::from_pairs(text_map(tg.external_labels.clone()));
    ctx.external_url = tg.external_url.0.clone();
    ctx.default_interval_ms = eval_interval.as_millis_i64();
    let mut groups: Vec<GroupState> = set
        .groups
        .iter()
        .cloned()
        // A group's `source:` is stood in for by the test's input series.
        .map(|g| GroupState::new(crate::rules::Group { source: None, ..g }, ctx.clone()))
        .collect();
    if !order.is_empty() {
        let pos = |n: &str| order.iter().position(|o| o == n).unwrap_or(usize::MAX);
        groups.sort_by_key(|g| pos(&g.group.name));
    }
    let mut ts: Timestamp = 0;
    let mut pending_times: Vec<i64> = alert_tests.keys().copied().collect();
    pending_times.reverse();
    while ts <= max_t {
        if let Err(e) = loader.load_till(store.as_ref(), ts) {
            errors.push(format!("    {e}"));
            return errors;
        }
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(ts);
            for r in &g.rules {
                if r.health == crate::group::RuleHealth::Err
                    && !r.last_error.starts_with("template ")
                {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {}",
                        r.rule.name,
                        fmt_dur(ts),
                        r.last_error
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errors.extend(eval_errs);
            return errors;
        }
        while let Some(&t) = pending_times.last() {
            if !(ts <= t && t < ts + step) {
                break;
            }
            pending_times.pop();
            for at in &alert_tests[&t] {
                for (pending, exp) in [
                    (false, Some(&at.exp_alerts)),
                    (true, at.exp_pending_alerts.as_ref()),
                ] {
                    let Some(exp) = exp else { continue };
                    let want_state = if pending {
                        AlertState::Pending
                    } else {
                        AlertState::Firing
                    };
                    let mut got: Vec<(Labels, Labels)> = groups
                        .iter()
                        .flat_map(|g| g.alerts())
                        .filter(|(r, a)| r.name == at.alertname.0 && a.state == want_state)
                        .map(|(_, a)| (a.labels.clone(), a.annotations.clone()))
                        .collect();
                    let mut want: Vec<(Labels, Labels)> = exp
                        .iter()
                        .map(|e| {
                            let mut l = Labels::from_pairs(text_map(e.exp_labels.clone()));
                            l.set("alertname", at.alertname.0.clone());
                            (l, Labels::from_pairs(text_map(e.exp_annotations.clone())))
                        })
                        .collect();
                    got.sort();
                    want.sort();
                    if got != want {
                        let what = if pending {
                            "pending alertname"
                        } else {
                            "alertname"
                        };
                        errors.push(format!(
                            "{name_prefix}    {what}: {}, time: {}, \n        exp:{}, \n        got:{}",
                            at.alertname.0,
                            fmt_dur(t),
                            alerts_string(&want),
                            alerts_string(&got)
                        ));
                    }
                }
            }
        }
        ts += step;
    }
    'outer: for et in &tg.promql_expr_test {
        let t = match eval_ms(&et.eval_time) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("    expr: {:?}, eval_time: {e}", et.expr.0));
                continue;
            }
        };
        let fail = |m: String| format!("    expr: {:?}, time: {}, err: {m}", et.expr.0, fmt_dur(t));
        let expr = match promql::parse_expr(&et.expr.0) {
            Ok(e) => e,
            Err(e) => {
                errors.push(fail(e.to_string()));
                continue;
            }
        };
        // Subqueries without a step use the file's evaluation_interval, as in promtool.
        let opts = promql::QueryOptions {
            subquery_step_ms: eval_interval.as_millis_i64(),
        };
        let result = promql::instant_query_with(store.as_ref(), &expr, t, opts);
        let mut got: Vec<(Labels, f64)> = match result {
            Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            Ok(Value::Scalar { v, .. }) => vec![(Labels::empty(), v)],
            Ok(_) => {
                errors.push(fail("rule result is not a vector or scalar".into()));
                continue;
            }
            Err(e) => {
                errors.push(fail(e.to_string()));
                continue;
            }
        };
        let mut want = Vec::new();
        for s in &et.exp_samples {
            let l = if s.labels.0.trim().is_empty() {
                Labels::empty()
            } else {
                match parse_metric(&s.labels.0) {
                    Ok(l) => l,
                    Err(e) => {
                        errors.push(fail(format!("labels {e}")));
                        continue 'outer;
                    }
                }
            };
            want.push((l, s.value));
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        want.sort_by(|a, b| a.0.cmp(&b.0));
        let equal =
            got.len() == want.len() && got.iter().zip(&want).all(|(g, w)| g.0 == w.0 && g.1 == w.1);
        if !equal {
            errors.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                et.expr.0,
                fmt_dur(t),
                samples_string(&want),
                samples_string(&got)
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation() {
        let v = |s: &str| -> Vec<Option<f64>> { expand_values(s).unwrap() };
        assert_eq!(v("1+2x3"), vec![Some(1.0), Some(3.0), Some(5.0), Some(7.0)]);
        assert_eq!(v("10-1x2"), vec![Some(10.0), Some(9.0), Some(8.0)]);
        assert_eq!(v("5x2"), vec![Some(5.0); 3]);
        assert_eq!(
            v("_ 1 _x2 -3"),
            vec![None, Some(1.0), None, None, Some(-3.0)]
        );
        assert_eq!(
            v("1e3 -1e-3+1e3x1"),
            vec![Some(1000.0), Some(-0.001), Some(999.999)]
        );
        assert!(v("stale")[0].unwrap().to_bits() == model::sample::STALE_NAN_BITS);
        assert!(expand_values("abc").is_err());
    }

    /// A huge repetition count used to allocate without bound (`_x1000000000` is 16 GB) and
    /// abort the process (libFuzzer's malloc limit in the `series_notation` target).
    #[test]
    fn huge_repetitions_are_an_error_not_an_allocation() {
        for s in [
            "_x18446744073709551615",
            "_x1000000000",
            "1x1000000000",
            "1+1x18446744073709551615",
            "stalex2000000",
            "_x999999 _x2",
        ] {
            let e = expand_values(s).unwrap_err();
            assert!(
                e.contains("expands to more than 1000000 values"),
                "{s}: {e}"
            );
        }
        assert_eq!(
            expand_values("_x999999 1").unwrap().len(),
            MAX_EXPANDED_VALUES
        );
        assert_eq!(
            expand_values("0+1x999999").unwrap().len(),
            MAX_EXPANDED_VALUES
        );
    }

    /// Found by the `series_notation` fuzz target: a huge number in a subquery range made the
    /// PromQL parser panic.
    #[test]
    fn series_that_crash_the_promql_parser_are_an_error() {
        let e = parse_series("x[666666666666111111000000000000000000000000000000:0]").unwrap_err();
        assert!(e.contains("invalid expression"), "{e}");
        assert!(parse_series("up{a=\"b\"}").is_ok());
    }

    #[test]
    fn exp_pending_alerts_extension() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("r.yml"),
            "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 5m\n",
        )
        .unwrap();
        let test = |pending: &str| {
            format!(
                "rule_files: [r.yml]\ntests:\n  - input_series:\n      - series: 'up{{i=\"a\"}}'\n        values: '0x10'\n    alert_rule_test:\n      - eval_time: 2m\n        alertname: Down\n        exp_alerts: []\n        exp_pending_alerts:\n{pending}"
            )
        };
        let f = d.path().join("ok.test.yml");
        std::fs::write(&f, test("          - exp_labels: {i: a}\n")).unwrap();
        let o = run_file(&f);
        assert!(o.passed(), "{:?}", o.errors);
        let f = d.path().join("bad.test.yml");
        std::fs::write(&f, test("          - exp_labels: {i: b}\n")).unwrap();
        let mut out = Vec::new();
        assert!(!run_files(&[&f], &mut out).unwrap());
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains("FAILED:") && out.contains("pending alertname: Down, time: 2m"),
            "{out}"
        );
    }

    #[test]
    fn bad_rule_file_is_reported_with_location() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("r.yml"),
            "groups:\n  - name: g\n    rules:\n      - alert: X\n        expr: up ==\n",
        )
        .unwrap();
        let f = d.path().join("t.test.yml");
        std::fs::write(&f, "rule_files: [r.yml]\ntests: []\n").unwrap();
        let o = run_file(&f);
        assert!(
            o.errors[0].contains("r.yml:5:15: group \"g\", rule 1, \"X\""),
            "{:?}",
            o.errors
        );
    }

    /// promtool has no limit; alertd's is far above real tests and named when hit, before
    /// anything is allocated.
    #[test]
    fn long_series_load_up_to_the_last_eval_time_within_a_named_limit() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.test.yml");
        let test = |eval: &str| {
            format!("tests:\n  - interval: 1s\n    input_series:\n      - series: a\n        values: '0x100000000'\n    promql_expr_test:\n      - expr: a\n        eval_time: {eval}\n        exp_samples: [{{labels: a, value: 0}}]\n")
        };
        std::fs::write(&f, test("1000d")).unwrap();
        let o = run_file(&f);
        assert!(
            o.errors.len() == 1 && o.errors[0].contains("more than 20000000 samples up to the last evaluation time 1000d (alertd's limit"),
            "{:?}",
            o.errors
        );
        std::fs::write(&f, test("1h")).unwrap();
        let o = run_file(&f);
        assert!(o.passed(), "{:?}", o.errors);
    }

    /// Test groups without `interval:` load at `evaluation_interval` (promtool 2.42 loads every
    /// sample at 0 there; later promtool releases do as alertd): the deliberate difference the
    /// README names.
    #[test]
    fn missing_interval_is_the_evaluation_interval() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("t.test.yml");
        std::fs::write(
            &f,
            "evaluation_interval: 30s\ntests:\n  - input_series:\n      - series: a\n        values: '1 2 3'\n    promql_expr_test:\n      - expr: a\n        eval_time: 30s\n        exp_samples: [{labels: a, value: 2}]\n",
        )
        .unwrap();
        let o = run_file(&f);
        assert!(o.passed(), "{:?}", o.errors);
    }

    #[test]
    fn go_e_format() {
        assert_eq!(format_e(1.0), "1E+00");
        assert_eq!(format_e(0.25), "2.5E-01");
        assert_eq!(format_e(12345.0), "1.2345E+04");
    }
}
