//! Prometheus 2.42's own PromQL test suite (`promql/testdata/*.test` of Debian's `prometheus`
//! source package) run against alertd's evaluator.
//!
//! The files are not in this repository: `ALERTD_PROMQL_TESTDATA` names the directory holding
//! them (`.ci/run` fetches them with `apt-get source --download-only prometheus`). Without it
//! the test is skipped with a loud message, except in CI (`CI=true`), where it fails.
//!
//! The runner reads the `.test` format itself, as Prometheus's `promql/test.go` does: `load
//! <interval>` with series in value notation, `clear`, and `eval instant at <time> <expr>`
//! (also `eval_fail` and `eval_ordered`) followed by the expected series or scalar. Like
//! Prometheus's harness, every eval also runs
//! - in range mode (a range query from `t - 1m` to `t + 1m` at 1m, its middle step compared),
//! - with `@ <t>` added to every selector and subquery (not inside a subquery), evaluated at
//!   `-10t, 0, t/5, t, 10t` (or `-1s, 0, 1s` when `t` is 0), each again in range mode,
//!   unless the expression uses a function whose result depends on the evaluation time.
//!
//! Values compare with Prometheus's tolerance (relative 1e-6; NaN equals NaN). A case is one
//! eval command; it passes when every variant does. Cases that fail on purpose are listed with
//! their reason in `tests/promql_suite_differences.txt` (`FILE:LINE<TAB>eval line<TAB>reason`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use evaluator::promql::{self, Value};
use evaluator::unittest::{expand_values, parse_series};
use model::storage::{MemStorage, SeriesStore};
use model::{Labels, Sample};
use promql_parser::parser::{AtModifier, Expr};

const ENV: &str = "ALERTD_PROMQL_TESTDATA";
/// Every case Prometheus's suite has in 2.42.0 (a smaller count means the files are not the
/// expected ones).
const MIN_CASES: usize = 400;

/// One expected element: labels (`None` for a scalar) and value.
#[derive(Debug, Clone)]
struct Expected {
    labels: Option<Labels>,
    value: f64,
}

#[derive(Debug)]
struct Eval {
    line: usize,
    text: String,
    expr: String,
    at_ms: i64,
    fail: bool,
    ordered: bool,
    expected: Vec<Expected>,
}

#[derive(Debug)]
enum Command {
    Clear,
    Load(Vec<(Labels, Sample)>),
    Eval(Eval),
}

fn duration_ms(s: &str) -> Result<i64, String> {
    s.parse::<model::Duration>()
        .map(|d| d.as_millis_i64())
        .map_err(|e| format!("{s:?}: {e}"))
}

/// Splits a series description (`metric{a="b c"} 1+1x10`) into the metric and the values.
fn split_series(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut depth = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'"' | b'\'' | b'`' => quote = Some(c),
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return (&line[..=i], line[i + 1..].trim());
                    }
                }
                b' ' | b'\t' if depth == 0 => return (&line[..i], line[i..].trim()),
                _ => {}
            },
        }
        i += 1;
    }
    (line, "")
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseFloat`, as the harness's `parseNumber`.
fn parse_number(s: &str) -> Option<f64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let int = if let Some(h) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&digits[1..], 8).ok()
    } else {
        digits.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(if neg { -(i as f64) } else { i as f64 });
    }
    match s.to_ascii_lowercase().as_str() {
        "nan" | "+nan" | "-nan" => Some(f64::NAN),
        "inf" | "+inf" | "infinity" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        _ if s
            .bytes()
            .any(|c| c.is_ascii_alphabetic() && !matches!(c, b'e' | b'E')) =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

fn parse_file(text: &str) -> Result<Vec<Command>, String> {
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                String::new()
            } else {
                l.to_string()
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        if l.is_empty() {
            i += 1;
            continue;
        }
        let word = l
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let err = |m: String| format!("line {}: {m}", i + 1);
        if word == "clear" {
            cmds.push(Command::Clear);
            i += 1;
        } else if word == "load" {
            let gap = duration_ms(l["load".len()..].trim()).map_err(err)?;
            let mut samples = Vec::new();
            let mut defs: HashMap<Labels, Vec<Sample>> = HashMap::new();
            let mut order = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let (metric, values) = split_series(&lines[i]);
                let labels = parse_series(metric).map_err(|e| format!("line {}: {e}", i + 1))?;
                let vals = expand_values(values).map_err(|e| format!("line {}: {e}", i + 1))?;
                let s: Vec<Sample> = vals
                    .iter()
                    .enumerate()
                    .filter_map(|(k, v)| v.map(|v| Sample::new(k as i64 * gap, v)))
                    .collect();
                // A series defined twice in one load keeps its last definition.
                if defs.insert(labels.clone(), s).is_none() {
                    order.push(labels);
                }
                i += 1;
            }
            for l in order {
                samples.extend(
                    defs.remove(&l)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|s| (l.clone(), s)),
                );
            }
            cmds.push(Command::Load(samples));
        } else if word.starts_with("eval") {
            let (fail, ordered) = match word.as_str() {
                "eval" => (false, false),
                "eval_fail" => (true, false),
                "eval_ordered" => (false, true),
                other => return Err(err(format!("unknown command {other:?}"))),
            };
            let rest = l[word.len()..].trim_start();
            let rest = rest
                .strip_prefix("instant")
                .ok_or_else(|| err("only instant evals exist in 2.42".into()))?
                .trim_start();
            let rest = rest
                .strip_prefix("at ")
                .ok_or_else(|| err("missing 'at <time>'".into()))?
                .trim_start();
            let (at, expr) = rest
                .split_once(char::is_whitespace)
                .ok_or_else(|| err("missing expression".into()))?;
            let mut ev = Eval {
                line: i + 1,
                text: l.clone(),
                expr: expr.trim().to_string(),
                at_ms: duration_ms(at).map_err(err)?,
                fail,
                ordered,
                expected: Vec::new(),
            };
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                if let Some(v) = parse_number(&lines[i]) {
                    ev.expected.push(Expected {
                        labels: None,
                        value: v,
                    });
                    i += 1;
                    break;
                }
                let (metric, values) = split_series(&lines[i]);
                let labels = parse_series(metric).map_err(|e| format!("line {}: {e}", i + 1))?;
                let vals = expand_values(values).map_err(|e| format!("line {}: {e}", i + 1))?;
                let [Some(value)] = vals[..] else {
                    return Err(format!("line {}: expected exactly one value", i + 1));
                };
                ev.expected.push(Expected {
                    labels: Some(labels),
                    value,
                });
                i += 1;
            }
            cmds.push(Command::Eval(ev));
        } else {
            return Err(err(format!("invalid command {l:?}")));
        }
    }
    Ok(cmds)
}

/// Prometheus's `almostEqual`.
fn almost_equal(a: f64, b: f64) -> bool {
    const EPSILON: f64 = 0.000001;
    let min_normal = f64::from_bits(0x0010000000000000);
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < min_normal {
        return diff < EPSILON * min_normal;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

/// Compares a result with the expectation as the harness's `compareResult` does.
fn compare(ev: &Eval, got: &[(Labels, f64)], scalar: bool) -> Result<(), String> {
    if scalar {
        let Some(Expected { value, .. }) = ev.expected.iter().find(|e| e.labels.is_none()) else {
            return Err("got a scalar, expected a vector".into());
        };
        let v = got.first().map_or(f64::NAN, |g| g.1);
        if !almost_equal(*value, v) {
            return Err(format!("expected scalar {value} but got {v}"));
        }
        return Ok(());
    }
    let mut seen = vec![false; ev.expected.len()];
    for (pos, (labels, v)) in got.iter().enumerate() {
        let Some(k) = ev
            .expected
            .iter()
            .position(|e| e.labels.as_ref() == Some(labels))
        else {
            return Err(format!("unexpected metric {labels} in result"));
        };
        if ev.ordered && k != pos {
            return Err(format!(
                "expected metric {labels} at position {} but was at {}",
                k + 1,
                pos + 1
            ));
        }
        if !almost_equal(ev.expected[k].value, *v) {
            return Err(format!(
                "expected {} for {labels} but got {v}",
                ev.expected[k].value
            ));
        }
        seen[k] = true;
    }
    if let Some(k) = seen.iter().position(|s| !s) {
        let e = &ev.expected[k];
        return Err(match &e.labels {
            Some(l) => format!("expected metric {l} with {} not found", e.value),
            None => format!("expected scalar {} but got a vector", e.value),
        });
    }
    Ok(())
}

/// Functions whose result depends on the evaluation time even with step-invariant arguments
/// (Prometheus's `AtModifierUnsafeFunctions`): no `@` variants for expressions using them.
const AT_UNSAFE: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

fn uses_at_unsafe(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => {
            AT_UNSAFE.contains(&c.func.name) || c.args.args.iter().any(|a| uses_at_unsafe(a))
        }
        Expr::Aggregate(a) => {
            a.param.as_deref().is_some_and(uses_at_unsafe) || uses_at_unsafe(&a.expr)
        }
        Expr::Unary(u) => uses_at_unsafe(&u.expr),
        Expr::Binary(b) => uses_at_unsafe(&b.lhs) || uses_at_unsafe(&b.rhs),
        Expr::Paren(p) => uses_at_unsafe(&p.expr),
        Expr::Subquery(s) => uses_at_unsafe(&s.expr),
        _ => false,
    }
}

/// Adds `@ t` to every selector and subquery that has none, not descending into subqueries
/// (as the harness's `atModifierTestCases`).
fn set_at(e: &mut Expr, t: i64) {
    let at = || {
        let d = Duration::from_millis(t.unsigned_abs());
        AtModifier::At(if t >= 0 {
            UNIX_EPOCH + d
        } else {
            UNIX_EPOCH - d
        })
    };
    match e {
        Expr::VectorSelector(vs) if vs.at.is_none() => vs.at = Some(at()),
        Expr::MatrixSelector(ms) if ms.vs.at.is_none() => ms.vs.at = Some(at()),
        Expr::Subquery(s) if s.at.is_none() => s.at = Some(at()),
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| set_at(a, t)),
        Expr::Aggregate(a) => {
            if let Some(p) = a.param.as_mut() {
                set_at(p, t);
            }
            set_at(&mut a.expr, t);
        }
        Expr::Unary(u) => set_at(&mut u.expr, t),
        Expr::Binary(b) => {
            set_at(&mut b.lhs, t);
            set_at(&mut b.rhs, t);
        }
        Expr::Paren(p) => set_at(&mut p.expr, t),
        _ => {}
    }
}

/// Runs one eval with all its variants; `Err` names the first failing one.
fn run_eval(store: &MemStorage, ev: &Eval) -> Result<(), String> {
    let expr = promql::parse_expr(&ev.expr).map_err(|e| e.to_string())?;
    let mut queries = vec![(expr.clone(), ev.at_ms, "")];
    if !uses_at_unsafe(&expr) {
        let mut with_at = expr.clone();
        set_at(&mut with_at, ev.at_ms);
        let t = ev.at_ms;
        let times = if t == 0 {
            vec![-1000, 0, 1000]
        } else {
            vec![-10 * t, 0, t / 5, t, 10 * t]
        };
        for et in times {
            queries.push((with_at.clone(), et, " (with @)"));
        }
    }
    for (q, t, variant) in &queries {
        let at = format!("{variant} at {}ms", t);
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            promql::instant_query(store, q, *t)
        }))
        .map_err(|_| format!("panicked{at}"))?;
        let (got, scalar) = match res {
            Err(e) if ev.fail => {
                let _ = e;
                continue;
            }
            Err(e) => return Err(format!("error{at}: {e}")),
            Ok(_) if ev.fail => return Err(format!("expected an error{at}, got none")),
            Ok(Value::Vector(v)) => (
                v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
                false,
            ),
            Ok(Value::Scalar { v, .. }) => (vec![(Labels::empty(), v)], true),
            Ok(other) => return Err(format!("received a {} result{at}", other.type_name())),
        };
        compare(ev, &got, scalar).map_err(|e| format!("{e}{at}"))?;
        // Shared-cache mode, as the rules of a group evaluate: the query twice with one
        // `EvalCache`, the second reading every subexpression the first stored.
        let mut cache = promql::EvalCache::new();
        for pass in ["filling", "reading"] {
            let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                promql::instant_query_cached(store, q, *t, Default::default(), &mut cache)
            }))
            .map_err(|_| format!("panicked {pass} the shared cache{at}"))?;
            let (got, scalar) = match res {
                Ok(Value::Vector(v)) => (
                    v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
                    false,
                ),
                Ok(Value::Scalar { v, .. }) => (vec![(Labels::empty(), v)], true),
                Ok(other) => return Err(format!("received a {} result{at}", other.type_name())),
                Err(e) => return Err(format!("error {pass} the shared cache{at}: {e}")),
            };
            compare(ev, &got, scalar).map_err(|e| format!("{e} {pass} the shared cache{at}"))?;
        }
        // Range mode: the middle step of t-1m..t+1m.
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            promql::range_query(store, q, t - 60_000, t + 60_000, 60_000)
        }))
        .map_err(|_| format!("panicked in range mode{at}"))?;
        let m = match res {
            Ok(Value::Matrix(m)) => m,
            Ok(other) => return Err(format!("range mode gave a {}{at}", other.type_name())),
            Err(e) => return Err(format!("error in range mode{at}: {e}")),
        };
        if ev.ordered {
            continue;
        }
        let vec: Vec<(Labels, f64)> = m
            .into_iter()
            .filter_map(|s| {
                s.samples
                    .iter()
                    .find(|x| x.t == *t)
                    .map(|x| (s.labels.clone(), x.v))
            })
            .collect();
        compare(ev, &vec, scalar).map_err(|e| format!("{e} in range mode{at}"))?;
    }
    Ok(())
}

/// The deliberate differences: `FILE:LINE` → (eval line, reason).
fn differences() -> HashMap<String, (String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql_suite_differences.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split('\t').collect();
        assert!(
            parts.len() == 3 && !parts[2].trim().is_empty(),
            "{}:{}: expected FILE:LINE<TAB>eval line<TAB>reason",
            path.display(),
            n + 1
        );
        out.insert(
            parts[0].to_string(),
            (parts[1].to_string(), parts[2].to_string()),
        );
    }
    out
}

fn testdata_dir() -> Option<PathBuf> {
    match std::env::var_os(ENV) {
        Some(d) => Some(PathBuf::from(d)),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{ENV} is not set: CI must fetch Prometheus's PromQL test data (.ci/run)")
        }
        None => {
            eprintln!(
                "\n!!! SKIPPED: Prometheus's PromQL test suite is not run: set {ENV} to the promql/testdata directory of Debian's prometheus source package (apt-get source --download-only prometheus; see .ci/run)\n"
            );
            None
        }
    }
}

#[test]
fn prometheus_promql_suite() {
    let Some(dir) = testdata_dir() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let diffs = differences();
    let mut used = std::collections::HashSet::new();
    let (mut cases, mut passed, mut listed) = (0, 0, 0);
    let mut failures = Vec::new();
    let verbose = std::env::var_os("PROMQL_SUITE_VERBOSE").is_some();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(f).unwrap();
        let cmds = parse_file(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut store = MemStorage::new();
        for c in cmds {
            match c {
                Command::Clear => store = MemStorage::new(),
                Command::Load(s) => store.append(&s).unwrap(),
                Command::Eval(ev) => {
                    cases += 1;
                    let key = format!("{name}:{}", ev.line);
                    let result = run_eval(&store, &ev);
                    match (result, diffs.get(&key)) {
                        (Ok(()), None) => passed += 1,
                        (Ok(()), Some(_)) => failures.push(format!(
                            "{key}: listed as a deliberate difference but passes: {}",
                            ev.text
                        )),
                        (Err(e), Some((text, reason))) => {
                            used.insert(key.clone());
                            listed += 1;
                            if *text != ev.text {
                                failures.push(format!(
                                    "{key}: the differences file names {text:?}, the file has {:?}",
                                    ev.text
                                ));
                            }
                            if verbose {
                                eprintln!(
                                    "listed {key}: {}\n    {e}\n    reason: {reason}",
                                    ev.text
                                );
                            }
                        }
                        (Err(e), None) => failures.push(format!("{key}: {}\n    {e}", ev.text)),
                    }
                }
            }
        }
    }
    for k in diffs.keys() {
        if !used.contains(k) && !failures.iter().any(|f| f.starts_with(&format!("{k}:"))) {
            failures.push(format!(
                "{k}: listed in the differences file but not a case"
            ));
        }
    }
    eprintln!(
        "Prometheus 2.42 PromQL suite: {cases} cases, {passed} pass, {listed} listed as deliberate differences, {} fail",
        failures.len()
    );
    assert!(
        cases >= MIN_CASES,
        "only {cases} cases found in {}",
        dir.display()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
