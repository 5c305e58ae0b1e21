//! PromQL functions, following Prometheus 2.42's `promql/functions.go`: the registry
//! [`FUNCTIONS`] is the one place a function is added. Each entry carries the name, the
//! signature (argument types, optional or repeated arguments, return type) and the
//! implementation; the load-time check ([`check_call`], from `promql::parse_expr`) and the
//! evaluator ([`call`]) both read it, so what is accepted and what runs cannot drift. A test
//! checks every signature against the parser crate's.
//!
//! Implementations: [`range`] (one value per series of a range argument: `*_over_time`,
//! `rate` & co, `holt_winters`), [`instant`] (the rest), [`gomath`] (Go's `math` where Rust's
//! rounds differently).

mod gomath;
mod instant;
mod range;

pub(crate) use range::quantile;

use model::{Sample, Timestamp};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;

use super::eval::{Ctx, EvalError, InstantSample, RangeSeries, Val};

/// The name the parser crate gives `holt_winters` (it follows Prometheus 3, where the function
/// is called `double_exponential_smoothing`; `promql::parse_expr` renames calls of the 2.42
/// name before parsing and refuses the 3.x name written by the user).
pub(crate) const HOLT_WINTERS_PARSER_NAME: &str = "double_exponential_smoothing";

/// One PromQL function: its signature and its implementation.
pub struct Function {
    /// The name as written in PromQL 2.42.
    pub name: &'static str,
    /// The argument types in order (`Matrix` is a range vector).
    pub args: &'static [ValueType],
    /// Prometheus's variadic count: 0 = exactly `args`; n > 0 = the last argument may be left
    /// out, and up to n arguments of the last type given; -1 = the last argument may be left
    /// out or repeated without limit.
    pub variadic: i32,
    /// The type of the result.
    pub returns: ValueType,
    imp: Impl,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("name", &self.name)
            .field("args", &self.args)
            .field("variadic", &self.variadic)
            .field("returns", &self.returns)
            .finish_non_exhaustive()
    }
}

/// How a function computes its result.
enum Impl {
    /// One value per element of the one instant-vector argument; the metric name is dropped.
    Elementwise(fn(f64) -> f64),
    /// One value (or none) per series of the range-vector argument, from its samples; scalar
    /// arguments are evaluated first and passed in [`Window::param`].
    PerSeries {
        f: fn(&[Sample], &Window) -> Option<f64>,
        /// Whether the result keeps the metric name (only `last_over_time`).
        keep_name: bool,
    },
    /// A date part of the instant-vector argument's values (Unix seconds), or of the evaluation
    /// time when there is no argument; NaN for NaN and infinite values.
    Date(fn(&chrono::DateTime<chrono::Utc>) -> f64),
    /// The function evaluates its arguments itself.
    Custom(CustomFn),
}

/// A function that evaluates its arguments itself: the context, the arguments, the time.
type CustomFn = fn(&Ctx, &[Box<Expr>], Timestamp) -> Result<Val, EvalError>;

/// What a [`Impl::PerSeries`] function sees besides a series' samples.
pub(crate) struct Window {
    /// The range's start and end (ms), for `rate` & co's extrapolation.
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// The range in seconds.
    pub(crate) range_secs: f64,
    /// The evaluation time (ms).
    pub(crate) ts: Timestamp,
    /// The value of the scalar argument (`quantile_over_time`'s φ, `predict_linear`'s
    /// seconds), 0 without one.
    pub(crate) param: f64,
}

use ValueType::{Matrix as RANGE, Scalar as SCALAR, String as STRING, Vector as VECTOR};

const fn elementwise(name: &'static str, f: fn(f64) -> f64) -> Function {
    Function {
        name,
        args: &[VECTOR],
        variadic: 0,
        returns: VECTOR,
        imp: Impl::Elementwise(f),
    }
}

const fn over_range(
    name: &'static str,
    args: &'static [ValueType],
    f: fn(&[Sample], &Window) -> Option<f64>,
) -> Function {
    Function {
        name,
        args,
        variadic: 0,
        returns: VECTOR,
        imp: Impl::PerSeries {
            f,
            keep_name: false,
        },
    }
}

const fn date(name: &'static str, f: fn(&chrono::DateTime<chrono::Utc>) -> f64) -> Function {
    Function {
        name,
        args: &[VECTOR],
        variadic: 1,
        returns: VECTOR,
        imp: Impl::Date(f),
    }
}

const fn custom(
    name: &'static str,
    args: &'static [ValueType],
    variadic: i32,
    returns: ValueType,
    f: CustomFn,
) -> Function {
    Function {
        name,
        args,
        variadic,
        returns,
        imp: Impl::Custom(f),
    }
}

/// Every function alertd evaluates, by name. To add one: write its implementation in
/// [`range`] or [`instant`] and add its line here; the parser crate must know the name (the
/// test `signatures_agree_with_the_parser` checks the signature against it).
pub static FUNCTIONS: &[Function] = &[
    elementwise("abs", f64::abs),
    custom("absent", &[VECTOR], 0, VECTOR, instant::absent),
    custom(
        "absent_over_time",
        &[RANGE],
        0,
        VECTOR,
        instant::absent_over_time,
    ),
    elementwise("acos", f64::acos),
    elementwise("acosh", f64::acosh),
    elementwise("asin", f64::asin),
    elementwise("asinh", f64::asinh),
    elementwise("atan", f64::atan),
    elementwise("atanh", f64::atanh),
    over_range("avg_over_time", &[RANGE], range::avg_over_time),
    elementwise("ceil", f64::ceil),
    over_range("changes", &[RANGE], range::changes),
    custom(
        "clamp",
        &[VECTOR, SCALAR, SCALAR],
        0,
        VECTOR,
        instant::clamp,
    ),
    custom(
        "clamp_max",
        &[VECTOR, SCALAR],
        0,
        VECTOR,
        instant::clamp_max,
    ),
    custom(
        "clamp_min",
        &[VECTOR, SCALAR],
        0,
        VECTOR,
        instant::clamp_min,
    ),
    elementwise("cos", f64::cos),
    elementwise("cosh", f64::cosh),
    over_range("count_over_time", &[RANGE], range::count_over_time),
    date("day_of_month", instant::day_of_month),
    date("day_of_week", instant::day_of_week),
    date("day_of_year", instant::day_of_year),
    date("days_in_month", instant::days_in_month),
    elementwise("deg", f64::to_degrees),
    over_range("delta", &[RANGE], range::delta),
    over_range("deriv", &[RANGE], range::deriv),
    elementwise("exp", f64::exp),
    elementwise("floor", f64::floor),
    custom(
        "histogram_quantile",
        &[SCALAR, VECTOR],
        0,
        VECTOR,
        instant::histogram_quantile,
    ),
    custom(
        "holt_winters",
        &[RANGE, SCALAR, SCALAR],
        0,
        VECTOR,
        range::holt_winters,
    ),
    date("hour", instant::hour),
    over_range("idelta", &[RANGE], range::idelta),
    over_range("increase", &[RANGE], range::increase),
    over_range("irate", &[RANGE], range::irate),
    custom(
        "label_join",
        &[VECTOR, STRING, STRING, STRING],
        -1,
        VECTOR,
        instant::label_join,
    ),
    custom(
        "label_replace",
        &[VECTOR, STRING, STRING, STRING, STRING],
        0,
        VECTOR,
        instant::label_replace,
    ),
    Function {
        name: "last_over_time",
        args: &[RANGE],
        variadic: 0,
        returns: VECTOR,
        imp: Impl::PerSeries {
            f: range::last_over_time,
            keep_name: true,
        },
    },
    elementwise("ln", gomath::go_log),
    elementwise("log10", gomath::go_log10),
    elementwise("log2", gomath::go_log2),
    over_range("max_over_time", &[RANGE], range::max_over_time),
    over_range("min_over_time", &[RANGE], range::min_over_time),
    date("minute", instant::minute),
    date("month", instant::month),
    custom("pi", &[], 0, SCALAR, instant::pi),
    over_range("predict_linear", &[RANGE, SCALAR], range::predict_linear),
    over_range("present_over_time", &[RANGE], range::present_over_time),
    over_range(
        "quantile_over_time",
        &[SCALAR, RANGE],
        range::quantile_over_time,
    ),
    elementwise("rad", f64::to_radians),
    over_range("rate", &[RANGE], range::rate),
    over_range("resets", &[RANGE], range::resets),
    custom("round", &[VECTOR, SCALAR], 1, VECTOR, instant::round),
    custom("scalar", &[VECTOR], 0, SCALAR, instant::scalar),
    elementwise("sgn", instant::sgn),
    elementwise("sin", f64::sin),
    elementwise("sinh", f64::sinh),
    custom("sort", &[VECTOR], 0, VECTOR, instant::sort),
    custom("sort_desc", &[VECTOR], 0, VECTOR, instant::sort_desc),
    elementwise("sqrt", f64::sqrt),
    over_range("stddev_over_time", &[RANGE], range::stddev_over_time),
    over_range("stdvar_over_time", &[RANGE], range::stdvar_over_time),
    over_range("sum_over_time", &[RANGE], range::sum_over_time),
    elementwise("tan", f64::tan),
    elementwise("tanh", f64::tanh),
    custom("time", &[], 0, SCALAR, instant::time),
    custom("timestamp", &[VECTOR], 0, VECTOR, instant::timestamp),
    custom("vector", &[SCALAR], 0, VECTOR, instant::vector),
    date("year", instant::year),
];

/// The function called `name` in a parsed expression (the parser crate's name for
/// `holt_winters` included).
pub fn lookup(name: &str) -> Option<&'static Function> {
    let name = if name == HOLT_WINTERS_PARSER_NAME {
        "holt_winters"
    } else {
        name
    };
    FUNCTIONS.iter().find(|f| f.name == name)
}

impl Function {
    /// Whether `n` arguments fit the signature.
    fn arity_ok(&self, n: usize) -> bool {
        let declared = self.args.len();
        match self.variadic {
            0 => n == declared,
            v if v > 0 => {
                n + 1 >= declared && n <= declared.saturating_sub(1) + v.unsigned_abs() as usize
            }
            _ => n + 1 >= declared,
        }
    }

    /// The declared type of argument `i` (the last one repeats).
    fn arg_type(&self, i: usize) -> Option<ValueType> {
        self.args.get(i).or(self.args.last()).copied()
    }
}

/// Checks a parsed call against the registry: the function exists and its arguments fit its
/// signature. `Err` names what is wrong.
pub(crate) fn check_call(name: &str, args: &[Box<Expr>]) -> Result<(), String> {
    let Some(f) = lookup(name) else {
        return Err(format!("function {name:?}"));
    };
    if !f.arity_ok(args.len()) {
        return Err(format!(
            "function {:?} called with {} arguments",
            f.name,
            args.len()
        ));
    }
    for (i, a) in args.iter().enumerate() {
        let got = a.value_type();
        if f.arg_type(i) != Some(got) {
            return Err(format!(
                "function {:?}: argument {} is a {got}",
                f.name,
                i + 1
            ));
        }
    }
    Ok(())
}

fn drop_name(mut l: model::Labels) -> model::Labels {
    l.remove("__name__");
    l
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

/// Evaluates the call of `name` with `args` at `ts`.
pub(crate) fn call(
    ctx: &Ctx,
    name: &str,
    args: &[Box<Expr>],
    ts: Timestamp,
) -> Result<Val, EvalError> {
    let Some(f) = lookup(name) else {
        return Err(EvalError::Unsupported(format!("function {name:?}")));
    };
    if !f.arity_ok(args.len()) {
        return Err(EvalError::Execution(format!(
            "wrong number of arguments for {}()",
            f.name
        )));
    }
    match f.imp {
        Impl::Elementwise(op) => {
            let v = ctx.eval_vector(&args[0], ts)?;
            Ok(Val::Vector(simple(v, ts, op)))
        }
        Impl::PerSeries { f: op, keep_name } => {
            let mut param = 0.0;
            let mut range = 0;
            for (i, t) in f.args.iter().enumerate() {
                match t {
                    ValueType::Scalar => param = ctx.eval_scalar(&args[i], ts)?,
                    ValueType::Matrix => range = i,
                    _ => {}
                }
            }
            let arg = ctx.range_arg(f.name, &args[range], ts)?;
            let w = Window {
                start: arg.start,
                end: arg.end,
                range_secs: arg.range_secs,
                ts,
                param,
            };
            let mut out = Vec::with_capacity(arg.series.len());
            for RangeSeries { labels, samples } in arg.series {
                if let Some(v) = op(&samples, &w) {
                    let labels = if keep_name { labels } else { drop_name(labels) };
                    out.push(InstantSample { labels, t: ts, v });
                }
            }
            Ok(Val::Vector(out))
        }
        Impl::Date(part) => {
            let v = match args.first() {
                None => vec![InstantSample {
                    labels: model::Labels::empty(),
                    t: ts,
                    v: ts as f64 / 1000.0,
                }],
                Some(a) => ctx.eval_vector(a, ts)?,
            };
            Ok(Val::Vector(simple(v, ts, |x| {
                if x.is_nan() || x.is_infinite() {
                    return f64::NAN;
                }
                chrono::DateTime::from_timestamp(x as i64, 0).map_or(f64::NAN, |t| part(&t))
            })))
        }
        Impl::Custom(run) => run(ctx, args, ts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_arg(t: ValueType) -> &'static str {
        match t {
            ValueType::Vector => "x",
            ValueType::Matrix => "x[5m]",
            ValueType::Scalar => "1",
            ValueType::String => "\"a\"",
        }
    }

    /// Every registered function parses with its own signature, and the parser crate declares
    /// the same signature for it: the registry is the one list, checked against the parser.
    #[test]
    fn signatures_agree_with_the_parser() {
        for f in FUNCTIONS {
            let args: Vec<&str> = f.args.iter().map(|t| example_arg(*t)).collect();
            let text = format!("{}({})", f.name, args.join(", "));
            let e = crate::promql::parse_expr(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            let Expr::Call(c) = e else {
                panic!("{text} is not a call")
            };
            assert!(std::ptr::eq(lookup(c.func.name).unwrap(), f), "{text}");
            assert_eq!(c.func.arg_types, f.args, "{}", f.name);
            assert_eq!(c.func.variadic, f.variadic, "{}", f.name);
            assert_eq!(c.func.return_type, f.returns, "{}", f.name);
        }
        let mut names: Vec<&str> = FUNCTIONS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            FUNCTIONS.len(),
            "a function is registered twice"
        );
    }

    #[test]
    fn arity_follows_prometheus_variadic_rules() {
        let f = |n| lookup(n).unwrap();
        assert!(f("abs").arity_ok(1) && !f("abs").arity_ok(0) && !f("abs").arity_ok(2));
        assert!(f("round").arity_ok(1) && f("round").arity_ok(2) && !f("round").arity_ok(3));
        assert!(f("hour").arity_ok(0) && f("hour").arity_ok(1) && !f("hour").arity_ok(2));
        assert!(!f("label_join").arity_ok(2));
        assert!(f("label_join").arity_ok(3) && f("label_join").arity_ok(9));
        assert!(f("time").arity_ok(0) && !f("time").arity_ok(1));
        assert_eq!(
            lookup(HOLT_WINTERS_PARSER_NAME).unwrap().name,
            "holt_winters"
        );
        assert!(lookup("limitk").is_none());
    }
}
