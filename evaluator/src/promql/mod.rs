//! PromQL: parsing (with the `promql-parser` crate), the check that an expression only uses
//! constructs this evaluator implements, and evaluation over a [`model::storage::SeriesStore`]
//! with Prometheus 2.42 semantics.

mod eval;
mod functions;

pub use eval::{
    instant_query, range_query, EvalError, InstantSample, RangeSeries, Value, LOOKBACK_MS,
};
pub(crate) use functions::parse_go_float as parse_go_float_pub;

use promql_parser::parser::Expr;

/// The functions this evaluator implements (Prometheus 2.42 names).
pub const SUPPORTED_FUNCTIONS: &[&str] = &[
    "abs",
    "absent",
    "absent_over_time",
    "acos",
    "acosh",
    "asin",
    "asinh",
    "atan",
    "atanh",
    "avg_over_time",
    "ceil",
    "changes",
    "clamp",
    "clamp_max",
    "clamp_min",
    "cos",
    "cosh",
    "count_over_time",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "deg",
    "delta",
    "deriv",
    "exp",
    "floor",
    "histogram_quantile",
    "hour",
    "idelta",
    "increase",
    "irate",
    "label_join",
    "label_replace",
    "last_over_time",
    "ln",
    "log10",
    "log2",
    "max_over_time",
    "min_over_time",
    "minute",
    "month",
    "pi",
    "predict_linear",
    "present_over_time",
    "quantile_over_time",
    "rad",
    "rate",
    "resets",
    "round",
    "scalar",
    "sgn",
    "sin",
    "sinh",
    "sort",
    "sort_desc",
    "sqrt",
    "stddev_over_time",
    "stdvar_over_time",
    "sum_over_time",
    "tan",
    "tanh",
    "time",
    "timestamp",
    "vector",
    "year",
];

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
}

/// Parses `text` and checks that every construct in it is supported.
pub fn parse_expr(text: &str) -> Result<Expr, ParseError> {
    let e = promql_parser::parser::parse(text).map_err(ParseError::Syntax)?;
    check_supported(&e).map_err(ParseError::Unsupported)?;
    Ok(e)
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
        Expr::Subquery(_) => Err("subqueries (expr[range:step])".into()),
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
            if !SUPPORTED_FUNCTIONS.contains(&c.func.name) {
                return Err(format!("function {:?}", c.func.name));
            }
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

    #[test]
    fn refuses_unsupported_constructs_by_name() {
        let e = parse_expr("rate(x[5m])[10m:1m]").unwrap_err();
        assert!(e.to_string().contains("subqueries"), "{e}");
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
}
