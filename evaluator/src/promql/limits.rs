//! Bounds on a PromQL expression, checked on its text before the parser sees it.
//!
//! The parser crate, the checks after it, the evaluator and even dropping the syntax tree
//! recurse once per level of the tree, so an expression nested thousands of levels deep
//! (`abs(abs(…))`, `1+1+…+1`, `((((…`, `- - - … 1`) overflows a thread's stack, which aborts
//! the whole process. Prometheus has no such bound (Go grows its stacks up to 1 GB); alertd
//! refuses, before parsing, any expression longer than [`MAX_EXPR_BYTES`] or whose tree could
//! be deeper than [`MAX_EXPR_DEPTH`]. Both are far above any real query or rule.
//!
//! The depth is an upper bound computed by a small scanner: inside each pair of parentheses
//! (a call, an aggregation, a grouping) every operator (binary, unary, `and`/`or`/`unless`,
//! `atan2`) and every `[` (a range or subquery) may add one level, and each pair of
//! parentheses adds one. It never underestimates the depth of the tree the parser would build,
//! so the recursion that follows is bounded by the limit (the test
//! `max_depth_expressions_fit_in_a_small_stack` measures how much stack that takes).

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_BYTES: usize = 64 * 1024;

/// The deepest expression tree accepted (as bounded by [`depth_bound`]).
pub const MAX_EXPR_DEPTH: usize = 256;

/// An expression over a limit; the message names the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Longer than [`MAX_EXPR_BYTES`].
    #[error("expression of {0} bytes is longer than the limit of {MAX_EXPR_BYTES} bytes")]
    TooLong(usize),
    /// Nested deeper than [`MAX_EXPR_DEPTH`].
    #[error(
        "expression is nested deeper than the limit of {MAX_EXPR_DEPTH} levels (parentheses, \
         calls, aggregations and operators)"
    )]
    TooDeep,
}

/// Checks `text` against [`MAX_EXPR_BYTES`] and [`MAX_EXPR_DEPTH`].
pub fn check(text: &str) -> Result<(), LimitError> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(LimitError::TooLong(text.len()));
    }
    if depth_bound(text) > MAX_EXPR_DEPTH {
        return Err(LimitError::TooDeep);
    }
    Ok(())
}

/// One pair of parentheses (or the whole text) being scanned.
#[derive(Default)]
struct Frame {
    /// Operators in the current argument (between commas).
    ops: usize,
    /// The deepest group closed inside the current argument.
    child: usize,
    /// The deepest argument finished (before a comma).
    best: usize,
}

impl Frame {
    fn end_arg(&mut self) {
        self.best = self.best.max(self.ops + self.child.max(1));
        self.ops = 0;
        self.child = 0;
    }

    /// The depth of the contents: its deepest argument.
    fn depth(mut self) -> usize {
        self.end_arg();
        self.best
    }
}

/// An upper bound of the depth of the syntax tree of `text` (see the module's doc). Text that
/// is not valid PromQL gets some number; the parser reports what is wrong with it.
pub fn depth_bound(text: &str) -> usize {
    let b = text.as_bytes();
    let mut stack: Vec<Frame> = vec![Frame::default()];
    let mut i = 0;
    // A frame deeper than the limit can only make the bound larger: stop there (keeps the
    // scanner's own memory bounded too).
    while i < b.len() {
        let c = b[i];
        match c {
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' => {
                // Label matchers: names, operators and strings, no nesting.
                i += 1;
                while i < b.len() && b[i] != b'}' {
                    if matches!(b[i], b'"' | b'\'' | b'`') {
                        i = skip_string(b, i);
                    } else {
                        i += 1;
                    }
                }
                i += 1;
            }
            b'(' => {
                stack.push(Frame::default());
                if stack.len() > MAX_EXPR_DEPTH + 1 {
                    return stack.len();
                }
                i += 1;
            }
            b')' => {
                if stack.len() > 1 {
                    let inner = stack.pop().map_or(0, Frame::depth);
                    if let Some(top) = stack.last_mut() {
                        top.child = top.child.max(inner + 1);
                    }
                }
                i += 1;
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.end_arg();
                }
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'[' => {
                bump(&mut stack);
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                bump(&mut stack);
                i += 1;
                // `==`, `!=`, `>=`, `<=`, `=~`, `!~`: one operator.
                if i < b.len() && matches!(b[i], b'=' | b'~') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                let word = &text[start..i];
                if ["and", "or", "unless", "atan2"]
                    .iter()
                    .any(|k| word.eq_ignore_ascii_case(k))
                {
                    bump(&mut stack);
                }
            }
            c if c.is_ascii_digit() || c == b'.' => {
                // A number or a duration; a decimal exponent's sign (`1e+5`) is not an
                // operator (in `0x1e+1` it is).
                let hex = b[i..].starts_with(b"0x") || b[i..].starts_with(b"0X");
                i += 1;
                while i < b.len() {
                    let d = b[i];
                    let exponent_sign =
                        !hex && matches!(d, b'+' | b'-') && matches!(b[i - 1], b'e' | b'E');
                    if d.is_ascii_alphanumeric() || d == b'.' || d == b'_' || exponent_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            _ => i += 1,
        }
        if stack.last().is_some_and(|f| f.ops > MAX_EXPR_DEPTH) {
            return MAX_EXPR_DEPTH + 1;
        }
    }
    // Unclosed parentheses: close them (the parser will refuse the text anyway).
    while stack.len() > 1 {
        let inner = stack.pop().map_or(0, Frame::depth);
        if let Some(top) = stack.last_mut() {
            top.child = top.child.max(inner + 1);
        }
    }
    stack.pop().map_or(0, Frame::depth)
}

fn bump(stack: &mut [Frame]) {
    if let Some(top) = stack.last_mut() {
        top.ops += 1;
    }
}

/// The index after the string starting at `i` (its quote); escapes only in `"` and `'`.
fn skip_string(b: &[u8], i: usize) -> usize {
    let quote = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && quote != b'`' {
            j += 2;
            continue;
        }
        if b[j] == quote {
            return j + 1;
        }
        j += 1;
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use promql_parser::parser::Expr;

    /// The real depth of a parsed tree (nodes on the longest path).
    fn tree_depth(e: &Expr) -> usize {
        1 + match e {
            Expr::Aggregate(a) => {
                let p = a.param.as_deref().map_or(0, tree_depth);
                p.max(tree_depth(&a.expr))
            }
            Expr::Unary(u) => tree_depth(&u.expr),
            Expr::Binary(b) => tree_depth(&b.lhs).max(tree_depth(&b.rhs)),
            Expr::Paren(p) => tree_depth(&p.expr),
            Expr::Subquery(s) => tree_depth(&s.expr),
            Expr::Call(c) => c.args.args.iter().map(|a| tree_depth(a)).max().unwrap_or(0),
            Expr::MatrixSelector(_) => 1,
            _ => 0,
        }
    }

    /// Deeply nested expressions of every kind, `n` levels.
    fn nested(n: usize) -> Vec<(&'static str, String)> {
        vec![
            (
                "calls",
                format!("{}vector(1){}", "abs(".repeat(n), ")".repeat(n)),
            ),
            ("binary sum", vec!["1"; n + 1].join("+")),
            ("binary on vectors", vec!["up"; n + 1].join(" * on(job) ")),
            ("set operators", vec!["up"; n + 1].join(" or ")),
            ("comparisons", vec!["up"; n + 1].join(" > bool ")),
            ("power", vec!["2"; n + 1].join("^")),
            ("unary", format!("{}up", "-".repeat(n))),
            (
                "parentheses",
                format!("{}1{}", "(".repeat(n), ")".repeat(n)),
            ),
            (
                "aggregations",
                format!("{}up{}", "sum by (job) (".repeat(n), ")".repeat(n)),
            ),
            (
                "topk",
                format!("{}up{}", "topk(1, ".repeat(n), ")".repeat(n)),
            ),
            (
                "range functions",
                format!(
                    "{}rate(up[5m]){}",
                    "abs(".repeat(n.saturating_sub(1)),
                    ")".repeat(n.saturating_sub(1))
                ),
            ),
            (
                "mixed",
                format!("{}up{}", "-(1 + abs(".repeat(n / 3), "))".repeat(n / 3)),
            ),
        ]
    }

    #[test]
    fn the_bound_is_never_below_the_real_depth() {
        for text in [
            "up",
            "1 + 2 * 3",
            "-1",
            "- -up",
            "sum by (job) (rate(x[5m])) > bool 2",
            "label_replace(up, \"a(\", \"$1\", \"b\", \"(.*)\")",
            "up{a=\"((((\", b=~\"[+*-]\"} offset 5m",
            "x @ start() + 1e+5 - 0x1F * 5m",
            "0x1e+0x1e-0x1E+1e-1",
            "a and b or c unless d",
            "x atan2 y # comment ((((\n + 1",
            "topk(3, x) / ignoring(a) group_left(b) y",
            "histogram_quantile(0.9, sum by (le) (rate(h[5m])))",
            "max_over_time(deriv(x[1h])[5m:1m])",
            "label_join(up, \"x\", `-`, 'a(', \"b\\\\\")",
        ] {
            let e = promql_parser::parser::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let real = tree_depth(&e);
            let bound = depth_bound(text);
            assert!(bound >= real, "{text}: bound {bound} < depth {real}");
        }
        for (kind, text) in nested(40) {
            let e = promql_parser::parser::parse(&text).unwrap_or_else(|e| panic!("{kind}: {e}"));
            let (real, bound) = (tree_depth(&e), depth_bound(&text));
            assert!(real >= 14, "{kind}: the test builds deep trees ({real})");
            assert!(bound >= real, "{kind}: bound {bound} < depth {real}");
            assert!(
                bound <= 2 * real + 2,
                "{kind}: bound {bound} far above {real}"
            );
        }
    }

    #[test]
    fn refuses_too_deep_and_too_long_naming_the_limit() {
        for (kind, text) in nested(MAX_EXPR_DEPTH + 1) {
            let e = check(&text).unwrap_err();
            assert_eq!(e, LimitError::TooDeep, "{kind}");
            assert!(e.to_string().contains("limit of 256 levels"), "{e}");
        }
        // Issue 13's crash inputs.
        assert!(check(&"((((".repeat(12_500)).is_err());
        assert!(check(&vec!["1"; 5000].join("+")).is_err());
        let e = check(&"1".repeat(MAX_EXPR_BYTES + 1)).unwrap_err();
        assert!(e.to_string().contains("limit of 65536 bytes"), "{e}");
        // Long but flat is fine: many label matchers, long strings.
        let flat = format!("up{{a=\"{}\"}}", "x".repeat(60_000));
        assert_eq!(check(&flat), Ok(()));
    }

    /// The largest `n` whose nested expression of `kind` is within the limits.
    fn deepest_accepted(kind: &str) -> String {
        (1..=MAX_EXPR_DEPTH)
            .rev()
            .map(|n| nested(n).into_iter().find(|(k, _)| *k == kind).unwrap().1)
            .find(|t| check(t).is_ok())
            .unwrap()
    }

    /// The stack the recursion below the limit needs: parsing, the support check, instant and
    /// range evaluation and dropping the tree of the deepest accepted expression of every kind
    /// run on a thread of [`STACK`] (in the unoptimised build, whose frames are the largest:
    /// nested calls need 4 to 6 MiB there, the other kinds less). alertd's runtime threads,
    /// where queries, rules and templates run, have twice that
    /// (`alertd::cli::THREAD_STACK_BYTES`); tokio's default of 2 MiB would not do.
    #[test]
    fn max_depth_expressions_fit_in_a_small_stack() {
        const STACK: usize = 6 * 1024 * 1024;
        use model::storage::{MemStorage, SeriesStore};
        use model::{Labels, Sample};
        let store = MemStorage::new();
        let batch: Vec<_> = ["a", "b"]
            .iter()
            .flat_map(|job| {
                let l = Labels::from_pairs([("__name__", "up"), ("job", job)]);
                (0..10).map(move |i| (l.clone(), Sample::new(i * 60_000, 1.0)))
            })
            .collect();
        store.append(&batch).unwrap();
        let store = std::sync::Arc::new(store);
        for (kind, _) in nested(1) {
            let text = deepest_accepted(kind);
            let depth = depth_bound(&text);
            assert!(depth > MAX_EXPR_DEPTH - 5, "{kind}: {depth}");
            let store = store.clone();
            let run = std::thread::Builder::new()
                .stack_size(STACK)
                .spawn(move || {
                    let e = crate::promql::parse_expr(&text).map_err(|e| e.to_string())?;
                    let _ = crate::promql::instant_query(store.as_ref(), &e, 540_000);
                    let _ = crate::promql::range_query(store.as_ref(), &e, 0, 540_000, 60_000);
                    Ok::<_, String>(())
                })
                .unwrap()
                .join();
            match run {
                Ok(Ok(())) => {}
                Ok(Err(e)) => panic!("{kind}: {e}"),
                Err(_) => panic!("{kind}: panicked"),
            }
        }
    }
}
