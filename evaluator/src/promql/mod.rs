//! PromQL: parsing (with the `promql-parser` crate), the check that an expression only uses
//! constructs this evaluator implements, and evaluation over a [`model::storage::SeriesStore`]
//! with Prometheus 2.42 semantics.

mod cache;
mod eval;
mod functions;
pub mod limits;

pub use cache::{EvalCache, MAX_CACHED_ELEMENTS};
pub use eval::{
    instant_query, instant_query_cached, instant_query_with, range_query, range_query_with,
    EvalError, InstantSample, QueryOptions, RangeSeries, Value, LOOKBACK_MS, MAX_SUBQUERY_STEPS,
};
pub use functions::{lookup as function, Function, FUNCTIONS};

use promql_parser::parser::Expr;

/// The aggregation operators this evaluator implements.
pub const SUPPORTED_AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The text is not valid PromQL.
    #[error("could not parse expression: {0}")]
    Syntax(String),
    /// Valid PromQL that uses a construct alertd does not evaluate.
    #[error("unsupported by alertd: {0}")]
    Unsupported(String),
    /// Longer or deeper than alertd's limits ([`limits`]); refused before parsing.
    #[error("{0}")]
    Limit(#[from] limits::LimitError),
}

/// Parses `text` with the PromQL parser crate, after checking it against [`limits`] (which
/// bound how deep the parser and the evaluator recurse). promql-parser 0.11 panics on some
/// inputs (a number too large for a duration, as in `x[1e300:]`, found by the `promql` fuzz
/// target); such a panic becomes a syntax error here instead of taking the caller down.
/// Every parse of PromQL text in alertd goes through here.
pub fn parse_syntax(text: &str) -> Result<Expr, String> {
    parse_bounded(text).map_err(|e| e.to_string())
}

/// [`parse_syntax`] keeping a limit's error apart from a syntax error.
fn parse_bounded(text: &str) -> Result<Expr, ParseError> {
    limits::check(text)?;
    parse_unbounded(text).map_err(ParseError::Syntax)
}

fn parse_unbounded(text: &str) -> Result<Expr, String> {
    match std::panic::catch_unwind(|| promql_parser::parser::parse(text)) {
        Ok(result) => result,
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the parser failed".into());
            Err(format!("invalid expression ({why})"))
        }
    }
}

/// Parses `text` and checks that every construct in it is supported.
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    let text = rename_holt_winters(text)?;
    let e = parse_bounded(&text)?;
    check_supported(&e).map_err(ParseError::Unsupported)?;
    Ok(e)
}

/// Parses a series selector such as `up{job="node"}` (the `match[]` parameter of the query API)
/// into the store's matchers. Anything but a plain selector (no range, offset or `@`) is refused.
pub fn parse_series_selector(text: &str) -> Result<Vec<model::Matcher>, ParseError> {
    let e = parse_bounded(text)?;
    match e {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            if !vs.matchers.or_matchers.is_empty() {
                return Err(ParseError::Unsupported(
                    "'or' inside a selector's braces".into(),
                ));
            }
            eval::selector_matchers(&vs).map_err(|e| ParseError::Syntax(e.to_string()))
        }
        other => Err(ParseError::Syntax(format!(
            "expected a series selector, got a {} expression",
            other.value_type()
        ))),
    }
}

/// The parser crate follows Prometheus 3, where `holt_winters` is named
/// `double_exponential_smoothing`; Prometheus 2.42 knows only `holt_winters`. Calls of
/// `holt_winters(` are renamed before parsing (outside strings and comments), and the 3.x name
/// written by the user is refused, as 2.42 does.
fn rename_holt_winters(text: &str) -> Result<std::borrow::Cow<'_, str>, ParseError> {
    const OLD: &str = "holt_winters";
    const NEW: &str = functions::HOLT_WINTERS_PARSER_NAME;
    if !text.contains(OLD) && !text.contains(NEW) {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                out.push_str(&text[start..i]);
            }
            b'#' => {
                let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
                out.push_str(&text[i..end]);
                i = end;
            }
            c if ident(c) => {
                let start = i;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let word = &text[start..i];
                let called = text[i..].trim_start().starts_with('(');
                if called && word == OLD {
                    out.push_str(NEW);
                } else if called && word == NEW {
                    return Err(ParseError::Unsupported(format!("function {NEW:?}")));
                } else {
                    out.push_str(word);
                }
            }
            _ => {
                let len = text[i..].chars().next().map_or(1, char::len_utf8);
                out.push_str(&text[i..i + len]);
                i += len;
            }
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

fn check_supported(e: &Expr) -> Result<(), String> {
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !SUPPORTED_AGGREGATIONS.contains(&op.as_str()) {
                return Err(format!("aggregation {op:?}"));
            }
            if let Some(p) = &a.param {
                check_supported(p)?;
            }
            check_supported(&a.expr)
        }
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err("fill modifiers (fill, fill_left, fill_right)".into());
                }
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Subquery(sq) => check_supported(&sq.expr),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(vs) => {
            if !vs.matchers.or_matchers.is_empty() {
                return Err("'or' inside a selector's braces".into());
            }
            Ok(())
        }
        Expr::MatrixSelector(ms) => {
            if !ms.vs.matchers.or_matchers.is_empty() {
                return Err("'or' inside a selector's braces".into());
            }
            Ok(())
        }
        Expr::Call(c) => {
            // Only `holt_winters(` renamed by `rename_holt_winters` reaches here under the
            // parser's name for it.
            functions::check_call(c.func.name, &c.args.args)?;
            for a in &c.args.args {
                check_supported(a)?;
            }
            Ok(())
        }
        Expr::Extension(_) => Err("extension expressions".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzzing: promql-parser panics converting a huge number to a duration.
    #[test]
    fn numbers_too_large_for_a_duration_are_a_syntax_error_not_a_panic() {
        for text in [
            "x[1e300:]",
            "x[1e300]",
            "x[5m:1e300]",
            "rate(x[99999999999999999999999])",
        ] {
            match parse_expr(text) {
                Err(ParseError::Syntax(m)) => assert!(!m.is_empty(), "{text}"),
                Ok(_) => {} // the parser may accept some of them
                Err(e) => panic!("{text}: {e}"),
            }
        }
        let e = parse_expr("x[1e300:]").unwrap_err();
        assert!(e.to_string().contains("could not parse expression"), "{e}");
    }

    #[test]
    fn refuses_unsupported_constructs_by_name() {
        assert!(parse_expr("max_over_time(rate(x[5m])[10m:1m])").is_ok());
        let e = parse_expr("max_over_time(limitk(1, x)[10m:])").unwrap_err();
        assert!(e.to_string().contains("limitk"), "{e}");
        let e = parse_expr("double_exponential_smoothing(x[5m], 0.1, 0.1)").unwrap_err();
        assert!(
            e.to_string().contains("\"double_exponential_smoothing\""),
            "{e}"
        );
        let e = parse_expr("limitk(2, x)").unwrap_err();
        assert!(e.to_string().contains("limitk"), "{e}");
        assert!(matches!(parse_expr("up =="), Err(ParseError::Syntax(_))));
        assert!(parse_expr("sum by (job) (rate(x[5m])) > bool 2").is_ok());
    }

    /// Subqueries are bounded by the steps they take over the whole query: one huge one, and
    /// nested ones (the outer one's 8.64M steps fit, adding the inner one's do not), fail
    /// naming the limit instead of running for hours.
    #[test]
    fn subquery_steps_are_bounded_per_query() {
        let s = model::storage::MemStorage::new();
        for text in [
            "max_over_time(x[1y:1ms])",
            "max_over_time(max_over_time(x[1d:10ms])[1d:10ms])",
        ] {
            let e = parse_expr(text).unwrap();
            let err = instant_query(&s, &e, 100_000_000).unwrap_err();
            assert!(
                err.to_string()
                    .contains("take more than 10000000 steps (alertd's limit"),
                "{text}: {err}"
            );
        }
        let e = parse_expr("count_over_time(vector(1)[1h:1s])").unwrap();
        let Value::Vector(v) = instant_query(&s, &e, 100_000_000).unwrap() else {
            panic!()
        };
        assert_eq!(v[0].v, 3601.0);
    }

    #[test]
    fn holt_winters_is_parsed_under_its_2_42_name_only() {
        assert!(parse_expr("holt_winters(x[5m], 0.5, 0.1)").is_ok());
        assert!(parse_expr("holt_winters (x[5m], 0.5, 0.1) + holt_winters").is_ok());
        assert!(parse_expr("x{a=\"holt_winters(\"}").is_ok());
        let e = parse_expr("double_exponential_smoothing(x[5m], 0.5, 0.1)").unwrap_err();
        assert!(matches!(e, ParseError::Unsupported(_)), "{e}");
        assert!(
            parse_expr("holt_winters(x, 0.5, 0.1)").is_err(),
            "needs a range"
        );
    }

    #[test]
    fn series_selectors_become_store_matchers() {
        let m = parse_series_selector("up{job=~\"a|b\", instance!=\"x\"}").unwrap();
        let text: Vec<String> = m.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["__name__=\"up\"", "job=~\"a|b\"", "instance!=\"x\""]);
        let e = parse_series_selector("up + 1").unwrap_err();
        assert!(e.to_string().contains("expected a series selector"), "{e}");
        assert!(parse_series_selector("up[5m]").is_err());
        assert!(parse_series_selector("up{").is_err());
        // The parser crate's panic on a huge duration, and the limits, cover selectors too.
        assert!(matches!(
            parse_series_selector("x[1e300:]"),
            Err(ParseError::Syntax(_))
        ));
        let deep = format!("{}up{}", "(".repeat(300), ")".repeat(300));
        assert!(matches!(
            parse_series_selector(&deep),
            Err(ParseError::Limit(_))
        ));
    }
}

#[cfg(test)]
mod eval_tests {
    use super::*;
    use model::storage::{MemStorage, Series, SeriesStore, StorageError};
    use model::{Labels, Matcher, Sample, Timestamp};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts `select` calls, to check each selector is fetched once per query.
    struct Counting(MemStorage, AtomicUsize);
    impl SeriesStore for Counting {
        fn append(&self, b: &[(Labels, Sample)]) -> Result<(), StorageError> {
            self.0.append(b)
        }
        fn select(
            &self,
            m: &[Matcher],
            s: Timestamp,
            e: Timestamp,
        ) -> Result<Vec<Series>, StorageError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.select(m, s, e)
        }
    }

    fn store() -> Counting {
        let s = Counting(MemStorage::new(), AtomicUsize::new(0));
        for (job, mult) in [("a", 1.0), ("b", 2.0)] {
            let l = Labels::from_pairs([("__name__", "c"), ("job", job)]);
            let batch: Vec<_> = (0..=20)
                .map(|i| (l.clone(), Sample::new(i * 60_000, i as f64 * 60.0 * mult)))
                .collect();
            s.append(&batch).unwrap();
        }
        s
    }

    fn q(s: &dyn SeriesStore, e: &str, t: Timestamp) -> Result<Value, EvalError> {
        instant_query(s, &parse_expr(e).unwrap(), t)
    }

    #[test]
    fn range_query_fetches_each_selector_once_and_builds_a_matrix() {
        let s = store();
        let e = parse_expr("rate(c[5m]) + on(job) c * 0").unwrap();
        let v = range_query(&s, &e, 300_000, 1_200_000, 60_000).unwrap();
        assert_eq!(s.1.load(Ordering::SeqCst), 2, "one select per selector");
        let Value::Matrix(m) = v else {
            panic!("not a matrix: {v:?}")
        };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].labels.get("job"), Some("a"));
        assert_eq!(m[0].samples.len(), 16);
        assert!(
            m[0].samples.iter().all(|x| (x.v - 1.0).abs() < 1e-9),
            "{:?}",
            m[0].samples
        );
        assert!(m[1].samples.iter().all(|x| (x.v - 2.0).abs() < 1e-9));
        // a scalar range query is one series without labels
        let Value::Matrix(m) =
            range_query(&s, &parse_expr("time()").unwrap(), 0, 120_000, 60_000).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            m[0].samples,
            vec![
                Sample::new(0, 0.0),
                Sample::new(60_000, 60.0),
                Sample::new(120_000, 120.0)
            ]
        );
        assert!(range_query(&s, &parse_expr("c[5m]").unwrap(), 0, 60_000, 60_000).is_err());
        assert!(range_query(&s, &e, 0, 60_000, 0).is_err());
        assert!(
            range_query(&s, &e, 0, 86_400_000, 1).is_err(),
            "too many points"
        );
    }

    #[test]
    fn instant_results_are_typed() {
        let s = store();
        assert_eq!(q(&s, "1 + 2", 0).unwrap(), Value::Scalar { t: 0, v: 3.0 });
        assert_eq!(
            q(&s, "\"hi\"", 5).unwrap(),
            Value::String {
                t: 5,
                v: "hi".into()
            }
        );
        let Value::Matrix(m) = q(&s, "c{job=\"a\"}[2m]", 600_000).unwrap() else {
            panic!()
        };
        assert_eq!(
            m[0].samples.len(),
            3,
            "range selectors include both ends in 2.x"
        );
        let Value::Vector(v) = q(&s, "c @ 120 offset 1m", 600_000).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].v, 60.0);
        assert_eq!(v[0].t, 600_000);
    }

    #[test]
    fn matching_errors_like_prometheus() {
        let s = store();
        let e = q(&s, "c + ignoring(job) c", 60_000).unwrap_err();
        assert!(e.to_string().contains("found duplicate series"), "{e}");
        let e = q(&s, "abs(c) or abs(c)", 60_000);
        assert!(e.is_ok());
        let e = q(
            &s,
            "{__name__=~\"c\"} * 1 + on() group_left vector(1)",
            60_000,
        );
        assert!(e.is_ok(), "{e:?}");
        let e = q(
            &s,
            "label_replace(c, \"job\", \"x\", \"job\", \".*\")",
            60_000,
        )
        .unwrap_err();
        assert!(e.to_string().contains("same labelset"), "{e}");
        let e = q(&s, "sum(c) by (job) / on() sum(c) by (job)", 60_000).unwrap_err();
        assert!(e.to_string().contains("duplicate"), "{e}");
    }

    #[test]
    fn staleness_marker_ends_a_series_at_once() {
        let s = MemStorage::new();
        let l = Labels::from_pairs([("__name__", "m")]);
        s.append(&[
            (l.clone(), Sample::new(0, 1.0)),
            (l.clone(), Sample::stale(30_000)),
        ])
        .unwrap();
        let Value::Vector(v) = q(&s, "m", 10_000).unwrap() else {
            panic!()
        };
        assert_eq!(v.len(), 1);
        let Value::Vector(v) = q(&s, "m", 40_000).unwrap() else {
            panic!()
        };
        assert!(v.is_empty());
        let Value::Vector(v) = q(&s, "count_over_time(m[1m])", 40_000).unwrap() else {
            panic!()
        };
        assert_eq!(v[0].v, 1.0, "stale markers are not samples");
    }
}
