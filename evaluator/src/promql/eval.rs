//! The PromQL evaluator: instant and range queries over a [`SeriesStore`].
//!
//! Each selector's data is fetched once per query, covering the widest range any step needs;
//! steps are then evaluated from memory.

use std::collections::HashMap;
use std::time::UNIX_EPOCH;

use model::storage::{Series, SeriesStore, StorageError};
use model::{Labels, MatchOp, Matcher, Sample, Timestamp};
use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{
    AggregateExpr, AtModifier, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset,
    SubqueryExpr, VectorMatchCardinality, VectorSelector,
};

use super::cache::{Cached, EvalCache};
use super::functions;

/// Prometheus's default lookback for instant vector selectors (5 minutes).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series' labels.
    pub labels: Labels,
    /// The evaluation time (ms); for a bare selector inside `timestamp()`, the sample's time.
    pub t: Timestamp,
    /// The value.
    pub v: f64,
}

/// One series of a range vector or range-query result.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// Samples in time order.
    pub samples: Vec<Sample>,
}

/// A query result, typed as in Prometheus's HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar at time `t`.
    Scalar {
        /// Evaluation time (ms).
        t: Timestamp,
        /// The value.
        v: f64,
    },
    /// A string at time `t`.
    String {
        /// Evaluation time (ms).
        t: Timestamp,
        /// The value.
        v: String,
    },
    /// An instant vector.
    Vector(Vec<InstantSample>),
    /// A range vector (range-query results, or a range selector queried at an instant).
    Matrix(Vec<RangeSeries>),
}

impl Value {
    /// The type name as Prometheus's API writes it (`vector`, `matrix`, `scalar`, `string`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar { .. } => "scalar",
            Value::String { .. } => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The query is invalid for the data (duplicate series in matching, bad arguments...).
    #[error("{0}")]
    Execution(String),
    /// The query asks for something this evaluator does not support.
    #[error("unsupported by alertd: {0}")]
    Unsupported(String),
}

fn exec_err<T>(m: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::Execution(m.into()))
}

/// A value during evaluation of one step.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Scalar(f64),
    Str(String),
    Vector(Vec<InstantSample>),
    Matrix(Vec<RangeSeries>),
}

impl Val {
    fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Str(_) => "string",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
        }
    }
}

/// The most subquery steps one query may evaluate, over all its subqueries and evaluation
/// times (`x[1y:1ms]`, or subqueries nested in subqueries, would otherwise run for hours, and
/// a query keeps running after the API's timeout answered).
pub const MAX_SUBQUERY_STEPS: u64 = 10_000_000;

/// Query settings beyond the expression and its times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryOptions {
    /// The step of subqueries written without one (`x[1h:]`), in ms: Prometheus uses the
    /// global `evaluation_interval` (promtool: the test file's `evaluation_interval`).
    pub subquery_step_ms: i64,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            subquery_step_ms: 60_000,
        }
    }
}

/// A selector's fetched data. A selector the query evaluates at a single time (an instant
/// query, outside subqueries) keeps only what that evaluation reads, copied from the store's
/// own samples ([`SeriesStore::select_each`]): an instant selector each series' latest sample,
/// a range selector each series' window without stale markers. Either is moved out when read.
enum Fetched {
    /// An instant selector evaluated once: each series' latest sample in the lookback window.
    Latest(std::cell::RefCell<Vec<(Labels, Sample)>>),
    /// A range selector evaluated once: each series' samples in the range, stale markers
    /// dropped, series without samples left out.
    Window(std::cell::RefCell<Vec<RangeSeries>>),
    /// A selector evaluated at several times: the samples every evaluation needs.
    All(Vec<Series>),
}

/// Per-query state: the fetched data of every selector and the query's time range.
pub(crate) struct Ctx {
    data: HashMap<usize, Fetched>,
    start: Timestamp,
    end: Timestamp,
    opts: QueryOptions,
    /// Subquery steps evaluated so far (bounded by [`MAX_SUBQUERY_STEPS`]).
    subquery_steps: std::cell::Cell<u64>,
    /// Each subquery's inner results by step, from its last evaluation.
    subquery_cache: std::cell::RefCell<HashMap<usize, SubqueryWindow>>,
    /// Subexpression values shared with other queries at the same time
    /// ([`instant_query_cached`]), and the key of each subexpression (by node address) that
    /// may be read from or stored in it: those the query evaluates only at its time.
    shared: std::cell::RefCell<Option<EvalCache>>,
    shared_keys: HashMap<usize, String>,
    /// The address of the query's expression, which is not cached (see [`EvalCache`]).
    root: usize,
}

/// A subquery's inner results at consecutive steps, oldest first.
type SubqueryWindow = std::collections::VecDeque<(Timestamp, std::rc::Rc<Vec<InstantSample>>)>;

/// A range-vector argument (a range selector or a subquery) evaluated at one step.
pub(crate) struct RangeArg {
    pub(crate) series: Vec<RangeSeries>,
    /// The range's start and end (ms), for `rate` & co's extrapolation.
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    /// The range in seconds.
    pub(crate) range_secs: f64,
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Some(Offset::Neg(d)) => -i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
    }
}

fn at_ms(at: &Option<AtModifier>, start: Timestamp, end: Timestamp) -> Option<Timestamp> {
    match at {
        None => None,
        Some(AtModifier::Start) => Some(start),
        Some(AtModifier::End) => Some(end),
        Some(AtModifier::At(t)) => Some(match t.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }),
    }
}

/// Converts a selector's matchers (and its metric name) to the store's matchers.
pub(crate) fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>, EvalError> {
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(n) = &vs.name {
        out.push(
            Matcher::new("__name__", MatchOp::Equal, n.clone())
                .map_err(|e| EvalError::Execution(e.to_string()))?,
        );
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        out.push(
            Matcher::new(m.name.clone(), op, m.value.clone())
                .map_err(|e| EvalError::Execution(e.to_string()))?,
        );
    }
    Ok(out)
}

impl Ctx {
    /// Fetches every selector of `e` once, for evaluation times in `[start, end]`.
    fn prepare(
        store: &dyn SeriesStore,
        e: &Expr,
        start: Timestamp,
        end: Timestamp,
        opts: QueryOptions,
    ) -> Result<Ctx, EvalError> {
        Ctx::prepare_shared(store, e, start, end, opts, None).map_err(|(e, _)| e)
    }

    /// [`Ctx::prepare`] reading from and adding to `shared` (for a single-time query). On
    /// error, `shared` is handed back.
    fn prepare_shared(
        store: &dyn SeriesStore,
        e: &Expr,
        start: Timestamp,
        end: Timestamp,
        opts: QueryOptions,
        shared: Option<EvalCache>,
    ) -> Result<Ctx, (EvalError, Option<EvalCache>)> {
        let mut ctx = Ctx {
            data: HashMap::new(),
            start,
            end,
            opts,
            subquery_steps: std::cell::Cell::new(0),
            subquery_cache: Default::default(),
            shared: std::cell::RefCell::new(shared.filter(|_| start == end)),
            shared_keys: HashMap::new(),
            root: expr_key(e),
        };
        match ctx.fetch(store, e, start, end, start == end) {
            Ok(()) => Ok(ctx),
            Err(err) => Err((err, ctx.shared.into_inner())),
        }
    }

    /// The key of `e` in the shared cache if `e` is a subexpression whose value is kept there
    /// (a selector, operator, call or aggregation evaluated only at the query's time), and
    /// whether the cache holds it.
    fn share(&mut self, e: &Expr, once: bool) -> bool {
        if !once || expr_key(e) == self.root {
            return false;
        }
        let cache = self.shared.get_mut();
        let Some(cache) = cache.as_ref() else {
            return false;
        };
        if !matches!(
            e,
            Expr::VectorSelector(_) | Expr::Binary(_) | Expr::Call(_) | Expr::Aggregate(_)
        ) {
            return false;
        }
        let k = e.to_string();
        let hit = cache.contains(&k);
        self.shared_keys.insert(expr_key(e), k);
        hit
    }

    /// Fetches `vs` for evaluation times in `[lo, hi]` looking back `window` ms; `range` for a
    /// range selector.
    fn fetch_selector(
        &mut self,
        store: &dyn SeriesStore,
        vs: &VectorSelector,
        (window, range): (i64, bool),
        (lo, hi): (Timestamp, Timestamp),
        once: bool,
    ) -> Result<(), EvalError> {
        let off = offset_ms(&vs.offset);
        let (lo, hi) = match at_ms(&vs.at, self.start, self.end) {
            Some(t) => (t, t),
            None => (lo, hi),
        };
        let matchers = selector_matchers(vs)?;
        let (from, to) = (
            lo.saturating_sub(off).saturating_sub(window),
            hi.saturating_sub(off),
        );
        let fetched = match (once, range) {
            (false, _) => Fetched::All(store.select(&matchers, from, to)?),
            // The single evaluation's reference time is `to`, its window `[from, to]`.
            (true, false) => {
                let mut latest = Vec::new();
                store.select_each(&matchers, from, to, &mut |labels, samples| {
                    if let Some(last) = samples.last().filter(|x| !x.is_stale()) {
                        latest.push((labels.clone(), *last));
                    }
                })?;
                Fetched::Latest(std::cell::RefCell::new(latest))
            }
            (true, true) => {
                let mut series = Vec::new();
                store.select_each(&matchers, from, to, &mut |labels, samples| {
                    let mut kept = Vec::with_capacity(samples.len());
                    kept.extend(samples.iter().filter(|x| !x.is_stale()).copied());
                    if !kept.is_empty() {
                        series.push(RangeSeries {
                            labels: labels.clone(),
                            samples: kept,
                        });
                    }
                })?;
                Fetched::Window(std::cell::RefCell::new(series))
            }
        };
        self.data.insert(key(vs), fetched);
        Ok(())
    }

    /// Fetches every selector of `e` for evaluation times in `[lo, hi]`; `once` when `e` is
    /// evaluated at a single time (not inside a subquery of a single-step query).
    fn fetch(
        &mut self,
        store: &dyn SeriesStore,
        e: &Expr,
        lo: Timestamp,
        hi: Timestamp,
        once: bool,
    ) -> Result<(), EvalError> {
        if self.share(e, once) {
            // Read from the shared cache: its selectors need no data.
            return Ok(());
        }
        match e {
            Expr::VectorSelector(vs) => {
                self.fetch_selector(store, vs, (LOOKBACK_MS, false), (lo, hi), once)
            }
            Expr::MatrixSelector(ms) => {
                let r = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
                self.fetch_selector(store, &ms.vs, (r, true), (lo, hi), once)
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.fetch(store, p, lo, hi, once)?;
                }
                self.fetch(store, &a.expr, lo, hi, once)
            }
            Expr::Unary(u) => self.fetch(store, &u.expr, lo, hi, once),
            Expr::Binary(b) => {
                self.fetch(store, &b.lhs, lo, hi, once)?;
                self.fetch(store, &b.rhs, lo, hi, once)
            }
            Expr::Paren(p) => self.fetch(store, &p.expr, lo, hi, once),
            Expr::Call(c) => c
                .args
                .args
                .iter()
                .try_for_each(|a| self.fetch(store, a, lo, hi, once)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
            Expr::Subquery(sq) => {
                let off = offset_ms(&sq.offset);
                let range = i64::try_from(sq.range.as_millis()).unwrap_or(i64::MAX);
                let (lo, hi) = match at_ms(&sq.at, self.start, self.end) {
                    Some(t) => (t, t),
                    None => (lo, hi),
                };
                self.fetch(
                    store,
                    &sq.expr,
                    lo.saturating_sub(off).saturating_sub(range),
                    hi.saturating_sub(off),
                    false,
                )
            }
            Expr::Extension(_) => Err(EvalError::Unsupported("extension expressions".into())),
        }
    }

    fn ref_time(&self, vs: &VectorSelector, ts: Timestamp) -> Timestamp {
        at_ms(&vs.at, self.start, self.end).unwrap_or(ts) - offset_ms(&vs.offset)
    }

    /// An instant vector selector at `ts` with lookback and staleness.
    pub(crate) fn vector_selector(&self, vs: &VectorSelector, ts: Timestamp) -> Vec<InstantSample> {
        let rt = self.ref_time(vs, ts);
        let data = match self.data.get(&key(vs)) {
            None => return Vec::new(),
            // Evaluated once: the latest samples were picked when fetched; move them out.
            Some(Fetched::Latest(latest)) => {
                return std::mem::take(&mut *latest.borrow_mut())
                    .into_iter()
                    .map(|(labels, smp)| InstantSample {
                        labels,
                        t: smp.t,
                        v: smp.v,
                    })
                    .collect();
            }
            Some(Fetched::All(data)) => data,
            Some(Fetched::Window(_)) => return Vec::new(),
        };
        let mut out = Vec::new();
        for s in data {
            let i = s.samples.partition_point(|x| x.t <= rt);
            if i == 0 {
                continue;
            }
            let smp = s.samples[i - 1];
            if smp.t < rt - LOOKBACK_MS || smp.is_stale() {
                continue;
            }
            out.push(InstantSample {
                labels: s.labels.clone(),
                t: smp.t,
                v: smp.v,
            });
        }
        out
    }

    /// A range vector selector at `ts`: samples in `[ts - range, ts]`, stale markers dropped.
    pub(crate) fn matrix_selector(&self, ms: &MatrixSelector, ts: Timestamp) -> Vec<RangeSeries> {
        let rt = self.ref_time(&ms.vs, ts);
        let r = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
        let data = match self.data.get(&key(&ms.vs)) {
            None | Some(Fetched::Latest(_)) => return Vec::new(),
            // Evaluated once: the window was cut when fetched; move it out.
            Some(Fetched::Window(w)) => return std::mem::take(&mut *w.borrow_mut()),
            Some(Fetched::All(data)) => data,
        };
        let mut out = Vec::new();
        for s in data {
            let lo = s.samples.partition_point(|x| x.t < rt - r);
            let hi = s.samples.partition_point(|x| x.t <= rt);
            if lo >= hi {
                continue;
            }
            let samples: Vec<Sample> = s.samples[lo..hi]
                .iter()
                .filter(|x| !x.is_stale())
                .copied()
                .collect();
            if samples.is_empty() {
                continue;
            }
            out.push(RangeSeries {
                labels: s.labels.clone(),
                samples,
            });
        }
        out
    }

    /// A range-vector argument at `ts`: a range selector or a subquery (parentheses
    /// around either are looked through).
    pub(crate) fn range_arg(
        &self,
        name: &str,
        e: &Expr,
        ts: Timestamp,
    ) -> Result<RangeArg, EvalError> {
        match e {
            Expr::Paren(p) => self.range_arg(name, &p.expr, ts),
            Expr::MatrixSelector(ms) => {
                let rt = self.ref_time(&ms.vs, ts);
                let r = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
                Ok(RangeArg {
                    series: self.matrix_selector(ms, ts),
                    start: rt.saturating_sub(r),
                    end: rt,
                    range_secs: ms.range.as_secs_f64(),
                })
            }
            Expr::Subquery(sq) => {
                let (series, end) = self.subquery(sq, ts)?;
                let r = i64::try_from(sq.range.as_millis()).unwrap_or(i64::MAX);
                Ok(RangeArg {
                    series,
                    start: end.saturating_sub(r),
                    end,
                    range_secs: sq.range.as_secs_f64(),
                })
            }
            other => exec_err(format!(
                "expected type range vector in call to function {name:?}, got {}",
                other.value_type()
            )),
        }
    }

    /// Evaluates a subquery at `ts` as Prometheus 2.42 does: the inner expression at every
    /// multiple of the step (the subquery's own, or the default of [`QueryOptions`]) in
    /// `[ts - offset - range, ts - offset]` (`@` replaces `ts`). Returns the series and the
    /// range's end.
    pub(crate) fn subquery(
        &self,
        sq: &SubqueryExpr,
        ts: Timestamp,
    ) -> Result<(Vec<RangeSeries>, Timestamp), EvalError> {
        let step = match sq.step {
            Some(s) => i64::try_from(s.as_millis()).unwrap_or(i64::MAX),
            None => self.opts.subquery_step_ms,
        };
        if step <= 0 {
            return exec_err("zero or negative subquery step");
        }
        let off = offset_ms(&sq.offset);
        let range = i64::try_from(sq.range.as_millis()).unwrap_or(i64::MAX);
        let end = at_ms(&sq.at, self.start, self.end)
            .unwrap_or(ts)
            .saturating_sub(off);
        let lo = end.saturating_sub(range);
        // The first multiple of the step at or after `lo` (Go's division truncates as Rust's).
        let mut t = step * (lo / step);
        if t < lo {
            t += step;
        }
        // Inner steps lie on the same grid at every evaluation of this subquery: the results of
        // the steps the previous evaluation shares with this one are reused (a range query,
        // or a subquery inside a subquery, slides its window by a few steps at a time).
        let key = sq as *const SubqueryExpr as usize;
        let mut cache = self
            .subquery_cache
            .borrow_mut()
            .remove(&key)
            .unwrap_or_default();
        if cache.front().is_some_and(|(ct, _)| *ct > t) {
            cache.clear();
        }
        while cache.front().is_some_and(|(ct, _)| *ct < t) {
            cache.pop_front();
        }
        let steps = u64::try_from((end - t) / step + 1).unwrap_or(0);
        let cached = cache.iter().take_while(|(ct, _)| *ct <= end).count() as u64;
        let total = self
            .subquery_steps
            .get()
            .saturating_add(steps.saturating_sub(cached));
        if total > MAX_SUBQUERY_STEPS {
            return exec_err(format!(
                "the query's subqueries take more than {MAX_SUBQUERY_STEPS} steps (alertd's limit; this one is [{}:{}]): use larger steps or shorter ranges",
                model::Duration::from_millis(u64::try_from(range).unwrap_or(0)),
                model::Duration::from_millis(u64::try_from(step).unwrap_or(0)),
            ));
        }
        self.subquery_steps.set(total);
        let mut order: Vec<Labels> = Vec::new();
        let mut series: HashMap<Labels, Vec<Sample>> = HashMap::new();
        let mut k = 0;
        while t <= end {
            let v = match cache.get(k) {
                Some((ct, v)) if *ct == t => v.clone(),
                _ => {
                    cache.truncate(k);
                    let v = std::rc::Rc::new(self.eval_vector(&sq.expr, t)?);
                    check_unique(&v)?;
                    cache.push_back((t, v.clone()));
                    v
                }
            };
            for s in v.iter() {
                match series.get_mut(&s.labels) {
                    Some(points) => points.push(Sample::new(t, s.v)),
                    None => {
                        order.push(s.labels.clone());
                        series.insert(s.labels.clone(), vec![Sample::new(t, s.v)]);
                    }
                }
            }
            t += step;
            k += 1;
        }
        self.subquery_cache.borrow_mut().insert(key, cache);
        let out = order
            .into_iter()
            .map(|labels| {
                let samples = series.remove(&labels).unwrap_or_default();
                RangeSeries { labels, samples }
            })
            .collect();
        Ok((out, end))
    }

    pub(crate) fn eval(&self, e: &Expr, ts: Timestamp) -> Result<Val, EvalError> {
        let shared_key = if ts == self.start && self.start == self.end {
            self.shared_keys.get(&expr_key(e))
        } else {
            None
        };
        let Some(k) = shared_key else {
            return self.eval_uncached(e, ts);
        };
        let cached = self.shared.borrow_mut().as_mut().and_then(|c| c.get(k));
        match cached {
            Some(Cached::Scalar(v)) => return Ok(Val::Scalar(v)),
            Some(Cached::Vector(v)) => return Ok(Val::Vector(v)),
            None => {}
        }
        let v = self.eval_uncached(e, ts)?;
        let value = match &v {
            Val::Scalar(x) => Some(Cached::Scalar(*x)),
            Val::Vector(x) => Some(Cached::Vector(x.clone())),
            Val::Str(_) | Val::Matrix(_) => None,
        };
        if let (Some(value), Some(cache)) = (value, self.shared.borrow_mut().as_mut()) {
            let mut selectors = Vec::new();
            collect_selectors(e, &mut selectors)?;
            cache.insert(k.clone(), selectors, value);
        }
        Ok(v)
    }

    fn eval_uncached(&self, e: &Expr, ts: Timestamp) -> Result<Val, EvalError> {
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Val::Str(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, ts),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.vector_selector(vs, ts))),
            Expr::MatrixSelector(ms) => Ok(Val::Matrix(self.matrix_selector(ms, ts))),
            Expr::Unary(u) => match self.eval(&u.expr, ts)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(v) => Ok(Val::Vector(
                    v.into_iter()
                        .map(|mut s| {
                            s.labels.remove("__name__");
                            s.v = -s.v;
                            s.t = ts;
                            s
                        })
                        .collect(),
                )),
                other => exec_err(format!("unary minus on a {}", other.type_name())),
            },
            Expr::Binary(b) => self.binary(b, ts),
            Expr::Aggregate(a) => self.aggregate(a, ts),
            Expr::Call(c) => self.call(c, ts),
            Expr::Subquery(sq) => Ok(Val::Matrix(self.subquery(sq, ts)?.0)),
            Expr::Extension(_) => Err(EvalError::Unsupported("extension expressions".into())),
        }
    }

    pub(crate) fn eval_scalar(&self, e: &Expr, ts: Timestamp) -> Result<f64, EvalError> {
        match self.eval(e, ts)? {
            Val::Scalar(v) => Ok(v),
            other => exec_err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    pub(crate) fn eval_vector(
        &self,
        e: &Expr,
        ts: Timestamp,
    ) -> Result<Vec<InstantSample>, EvalError> {
        match self.eval(e, ts)? {
            Val::Vector(v) => Ok(v),
            other => exec_err(format!(
                "expected instant vector, got {}",
                other.type_name()
            )),
        }
    }

    fn call(&self, c: &Call, ts: Timestamp) -> Result<Val, EvalError> {
        let v = functions::call(self, c.func.name, &c.args.args, ts)?;
        // Prometheus checks every function's output: dropping the metric name can make two
        // series equal.
        if let Val::Vector(v) = &v {
            check_unique(v)?;
        }
        Ok(v)
    }

    fn binary(&self, b: &BinaryExpr, ts: Timestamp) -> Result<Val, EvalError> {
        let op = b.op.to_string();
        let return_bool = b.return_bool();
        let l = self.eval(&b.lhs, ts)?;
        let r = self.eval(&b.rhs, ts)?;
        match (l, r) {
            (Val::Scalar(a), Val::Scalar(c)) => {
                let (v, keep) = scalar_binop(&op, a, c)?;
                if is_comparison(&op) {
                    Ok(Val::Scalar(if keep { 1.0 } else { 0.0 }))
                } else {
                    Ok(Val::Scalar(v))
                }
            }
            (Val::Vector(v), Val::Scalar(s)) => Ok(Val::Vector(vector_scalar(
                &op,
                v,
                s,
                false,
                return_bool,
                ts,
            )?)),
            (Val::Scalar(s), Val::Vector(v)) => Ok(Val::Vector(vector_scalar(
                &op,
                v,
                s,
                true,
                return_bool,
                ts,
            )?)),
            (Val::Vector(l), Val::Vector(r)) => {
                let (on, names): (bool, Vec<String>) =
                    match b.modifier.as_ref().and_then(|m| m.matching.as_ref()) {
                        Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
                        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
                        None => (false, Vec::new()),
                    };
                let card = b
                    .modifier
                    .as_ref()
                    .map(|m| m.card.clone())
                    .unwrap_or(VectorMatchCardinality::OneToOne);
                match op.as_str() {
                    "and" | "or" | "unless" => Ok(Val::Vector(set_op(&op, l, r, on, &names))),
                    _ => Ok(Val::Vector(vector_vector(
                        &op,
                        l,
                        r,
                        on,
                        &names,
                        &card,
                        return_bool,
                        ts,
                    )?)),
                }
            }
            (l, r) => exec_err(format!(
                "binary operator {op} between {} and {} is not allowed",
                l.type_name(),
                r.type_name()
            )),
        }
    }

    fn aggregate(&self, a: &AggregateExpr, ts: Timestamp) -> Result<Val, EvalError> {
        let op = a.op.to_string();
        let input = self.eval_vector(&a.expr, ts)?;
        let (by, names): (bool, Vec<String>) = match &a.modifier {
            Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
            None => (true, Vec::new()),
        };
        let group_key = |l: &Labels| -> Labels {
            if by {
                l.keep(&names)
            } else {
                let mut l = l.drop_names(&names);
                l.remove("__name__");
                l
            }
        };
        let mut order: Vec<Labels> = Vec::new();
        let mut groups: HashMap<Labels, Vec<InstantSample>> = HashMap::new();
        let mut count_label = String::new();
        let param = match &a.param {
            None => None,
            Some(p) => Some(self.eval(p, ts)?),
        };
        if op == "count_values" {
            count_label = match &param {
                Some(Val::Str(s)) => s.clone(),
                _ => return exec_err("count_values expects a string parameter"),
            };
            if !model::labels::is_valid_label_name(&count_label) {
                return exec_err(format!("invalid label name {count_label:?}"));
            }
        }
        for s in input {
            let mut k = group_key(&s.labels);
            if op == "count_values" {
                k.set(count_label.clone(), model::gofmt::format_f(s.v, None));
            }
            match groups.get_mut(&k) {
                Some(g) => g.push(s),
                None => {
                    order.push(k.clone());
                    groups.insert(k, vec![s]);
                }
            }
        }
        let scalar_param = |what: &str| -> Result<f64, EvalError> {
            match &param {
                Some(Val::Scalar(v)) => Ok(*v),
                _ => exec_err(format!("{what} expects a scalar parameter")),
            }
        };
        let mut out = Vec::new();
        match op.as_str() {
            "topk" | "bottomk" => {
                let k = scalar_param(&op)?;
                if k < 1.0 {
                    return Ok(Val::Vector(Vec::new()));
                }
                let k = if k >= usize::MAX as f64 {
                    usize::MAX
                } else {
                    k as usize
                };
                let top = op == "topk";
                for key in &order {
                    let mut g = groups.remove(key).unwrap_or_default();
                    // NaN sorts last for both (it is never preferred).
                    g.sort_by(|x, y| match (x.v.is_nan(), y.v.is_nan()) {
                        (true, true) => std::cmp::Ordering::Equal,
                        (true, false) => std::cmp::Ordering::Greater,
                        (false, true) => std::cmp::Ordering::Less,
                        _ if top => y.v.total_cmp(&x.v),
                        _ => x.v.total_cmp(&y.v),
                    });
                    g.truncate(k);
                    for mut s in g {
                        s.t = ts;
                        out.push(s);
                    }
                }
                return Ok(Val::Vector(out));
            }
            _ => {}
        }
        let q = if op == "quantile" {
            Some(scalar_param("quantile")?)
        } else {
            None
        };
        for key in order {
            let g = groups.remove(&key).unwrap_or_default();
            let vals: Vec<f64> = g.iter().map(|s| s.v).collect();
            let v = match op.as_str() {
                "sum" => vals.iter().sum(),
                "avg" => go_mean(&vals),
                "count" | "count_values" => vals.len() as f64,
                "group" => 1.0,
                "min" => vals[1..]
                    .iter()
                    .fold(vals[0], |m, &v| if m > v || m.is_nan() { v } else { m }),
                "max" => vals[1..]
                    .iter()
                    .fold(vals[0], |m, &v| if m < v || m.is_nan() { v } else { m }),
                "stddev" | "stdvar" => {
                    let (mut n, mut mean, mut acc) = (0.0_f64, 0.0_f64, 0.0_f64);
                    for &v in &vals {
                        n += 1.0;
                        let d = v - mean;
                        mean += d / n;
                        acc += d * (v - mean);
                    }
                    let var = acc / n;
                    if op == "stddev" {
                        var.sqrt()
                    } else {
                        var
                    }
                }
                "quantile" => functions::quantile(q.unwrap_or(f64::NAN), vals),
                other => return Err(EvalError::Unsupported(format!("aggregation {other:?}"))),
            };
            out.push(InstantSample {
                labels: key,
                t: ts,
                v,
            });
        }
        Ok(Val::Vector(out))
    }
}

/// Prometheus 2.42's incremental mean (as `avg` and `avg_over_time` compute it).
pub(crate) fn go_mean(vals: &[f64]) -> f64 {
    let mut mean = vals[0];
    let mut n = 1.0;
    for &v in &vals[1..] {
        n += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        mean += v / n - mean / n;
    }
    mean
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Prometheus 2.42's `shouldDropMetricName`: arithmetic drops the name, `atan2` keeps it.
fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^")
}

/// `(value, keep)` as Prometheus's `vectorElemBinop`.
fn scalar_binop(op: &str, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => return Err(EvalError::Unsupported(format!("operator {other:?}"))),
    })
}

fn vector_scalar(
    op: &str,
    v: Vec<InstantSample>,
    s: f64,
    swap: bool,
    return_bool: bool,
    ts: Timestamp,
) -> Result<Vec<InstantSample>, EvalError> {
    let mut out = Vec::with_capacity(v.len());
    let cmp = is_comparison(op);
    let drop = drops_name(op) || return_bool;
    for mut e in v {
        let (lv, rv) = if swap { (s, e.v) } else { (e.v, s) };
        let (mut value, keep) = scalar_binop(op, lv, rv)?;
        if cmp && swap {
            value = rv;
        }
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        if drop {
            e.labels.remove("__name__");
        }
        e.v = value;
        e.t = ts;
        out.push(e);
    }
    Ok(out)
}

/// The matching signature as a hash (no allocation): the `on` labels, or all but the
/// `ignoring` labels and `__name__`. Prometheus matches on label hashes too (xxHash64 of each
/// name and value followed by 0xff, as here).
fn signature(l: &Labels, on: bool, names: &[String]) -> u64 {
    use std::hash::Hasher;
    let mut h = twox_hash::XxHash64::with_seed(0);
    for lb in l.iter() {
        let listed = names.contains(&lb.name);
        let keep = if on {
            listed
        } else {
            !listed && lb.name != "__name__"
        };
        if keep {
            h.write(lb.name.as_bytes());
            h.write(&[0xff]);
            h.write(lb.value.as_bytes());
            h.write(&[0xff]);
        }
    }
    h.finish()
}

/// Hashes keys that are hashes already (signatures) by passing them through.
#[derive(Default)]
struct SignatureHasher(u64);

impl std::hash::Hasher for SignatureHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type BySignature = std::hash::BuildHasherDefault<SignatureHasher>;
type SignatureSet = std::collections::HashSet<u64, BySignature>;

/// The matching signature as labels, for error messages.
fn signature_labels(l: &Labels, on: bool, names: &[String]) -> Labels {
    if on {
        l.keep(names)
    } else {
        let mut s = l.drop_names(names);
        s.remove("__name__");
        s
    }
}

fn set_op(
    op: &str,
    l: Vec<InstantSample>,
    r: Vec<InstantSample>,
    on: bool,
    names: &[String],
) -> Vec<InstantSample> {
    match op {
        "and" => {
            let rs: SignatureSet = r.iter().map(|s| signature(&s.labels, on, names)).collect();
            l.into_iter()
                .filter(|s| rs.contains(&signature(&s.labels, on, names)))
                .collect()
        }
        "unless" => {
            let rs: SignatureSet = r.iter().map(|s| signature(&s.labels, on, names)).collect();
            l.into_iter()
                .filter(|s| !rs.contains(&signature(&s.labels, on, names)))
                .collect()
        }
        _ => {
            let ls: SignatureSet = l.iter().map(|s| signature(&s.labels, on, names)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|s| !ls.contains(&signature(&s.labels, on, names))),
            );
            out
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn vector_vector(
    op: &str,
    lhs: Vec<InstantSample>,
    rhs: Vec<InstantSample>,
    on: bool,
    names: &[String],
    card: &VectorMatchCardinality,
    return_bool: bool,
    ts: Timestamp,
) -> Result<Vec<InstantSample>, EvalError> {
    let (include, one_to_many) = match card {
        VectorMatchCardinality::ManyToOne(ls) => (ls.labels.clone(), false),
        VectorMatchCardinality::OneToMany(ls) => (ls.labels.clone(), true),
        _ => (Vec::new(), false),
    };
    if lhs.is_empty() || rhs.is_empty() {
        // Nothing can match; Prometheus returns before looking for duplicates on either side.
        return Ok(Vec::new());
    }
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let (lhs, rhs) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    // The "one" side, by signature.
    let mut right: HashMap<u64, &InstantSample, BySignature> =
        HashMap::with_capacity_and_hasher(rhs.len(), BySignature::default());
    for s in &rhs {
        let sig = signature(&s.labels, on, names);
        if right.insert(sig, s).is_some() {
            let sig = signature_labels(&s.labels, on, names);
            let side = if one_to_many { "left" } else { "right" };
            return exec_err(format!(
                "found duplicate series for the match group {sig} on the {side} hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side"
            ));
        }
    }
    let mut matched: HashMap<u64, std::collections::HashSet<Labels>, BySignature> =
        HashMap::default();
    let mut out = Vec::new();
    for ls in lhs {
        let sig = signature(&ls.labels, on, names);
        let Some(rs) = right.get(&sig) else { continue };
        let (vl, vr) = if one_to_many {
            (rs.v, ls.v)
        } else {
            (ls.v, rs.v)
        };
        let (mut value, keep) = scalar_binop(op, vl, vr)?;
        if return_bool {
            value = if keep { 1.0 } else { 0.0 };
        } else if !keep {
            continue;
        }
        // resultMetric (the left side is owned: move its labels, edit them in place)
        let mut metric = ls.labels;
        if drops_name(op) {
            metric.remove("__name__");
        }
        if one_to_one {
            if on {
                metric = metric.keep(names);
            } else {
                for n in names {
                    metric.remove(n);
                }
            }
        }
        for n in &include {
            match rs.labels.get(n) {
                Some(v) => metric.set(n.clone(), v.to_string()),
                None => {
                    metric.remove(n);
                }
            }
        }
        if return_bool {
            metric.remove("__name__");
        }
        if one_to_one {
            if matched.insert(sig, Default::default()).is_some() {
                return exec_err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                );
            }
        } else {
            let set = matched.entry(sig).or_default();
            if !set.insert(metric.clone()) {
                return exec_err(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                );
            }
        }
        out.push(InstantSample {
            labels: metric,
            t: ts,
            v: value,
        });
    }
    Ok(out)
}

fn expr_key(e: &Expr) -> usize {
    e as *const Expr as usize
}

/// The matchers of every selector in `e`.
fn collect_selectors(e: &Expr, out: &mut Vec<Vec<Matcher>>) -> Result<(), EvalError> {
    match e {
        Expr::VectorSelector(vs) => out.push(selector_matchers(vs)?),
        Expr::MatrixSelector(ms) => out.push(selector_matchers(&ms.vs)?),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                collect_selectors(p, out)?;
            }
            collect_selectors(&a.expr, out)?;
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out)?,
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out)?;
            collect_selectors(&b.rhs, out)?;
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out)?,
        Expr::Subquery(sq) => collect_selectors(&sq.expr, out)?,
        Expr::Call(c) => {
            for a in &c.args.args {
                collect_selectors(a, out)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

fn check_unique(v: &[InstantSample]) -> Result<(), EvalError> {
    if v.len() < 2 {
        return Ok(());
    }
    // xxHash64 as Prometheus hashes label sets (much cheaper than std's SipHash here).
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(
        v.len(),
        twox_hash::xxhash64::State::with_seed(0),
    );
    for s in v {
        if !seen.insert(&s.labels) {
            return exec_err("vector cannot contain metrics with the same labelset");
        }
    }
    Ok(())
}

/// Evaluates `expr` at time `t` (ms), as `/api/v1/query` does, with default
/// [`QueryOptions`] (subqueries without a step use 1m).
pub fn instant_query(
    store: &dyn SeriesStore,
    expr: &Expr,
    t: Timestamp,
) -> Result<Value, EvalError> {
    instant_query_with(store, expr, t, QueryOptions::default())
}

/// [`instant_query`] with explicit options.
pub fn instant_query_with(
    store: &dyn SeriesStore,
    expr: &Expr,
    t: Timestamp,
    opts: QueryOptions,
) -> Result<Value, EvalError> {
    let ctx = Ctx::prepare(store, expr, t, t, opts)?;
    instant_value(ctx.eval(expr, t)?, t)
}

/// [`instant_query_with`] sharing subexpression values with the other queries at `t` that use
/// `cache` (see [`EvalCache`]): the rules of a group evaluated at one time.
pub fn instant_query_cached(
    store: &dyn SeriesStore,
    expr: &Expr,
    t: Timestamp,
    opts: QueryOptions,
    cache: &mut EvalCache,
) -> Result<Value, EvalError> {
    cache.begin(t, opts);
    let shared = Some(std::mem::take(cache));
    let ctx = match Ctx::prepare_shared(store, expr, t, t, opts, shared) {
        Ok(ctx) => ctx,
        Err((e, shared)) => {
            *cache = shared.unwrap_or_default();
            return Err(e);
        }
    };
    let v = ctx.eval(expr, t);
    *cache = ctx.shared.into_inner().unwrap_or_default();
    instant_value(v?, t)
}

/// An instant query's result from its expression's value at `t`.
fn instant_value(v: Val, t: Timestamp) -> Result<Value, EvalError> {
    Ok(match v {
        Val::Scalar(v) => Value::Scalar { t, v },
        Val::Str(v) => Value::String { t, v },
        Val::Vector(mut v) => {
            check_unique(&v)?;
            for s in &mut v {
                s.t = t;
            }
            Value::Vector(v)
        }
        Val::Matrix(m) => Value::Matrix(m),
    })
}

/// Evaluates `expr` at every step from `start` to `end` (inclusive, ms), as
/// `/api/v1/query_range` does, with default [`QueryOptions`]. The result is always a matrix,
/// series sorted by labels.
pub fn range_query(
    store: &dyn SeriesStore,
    expr: &Expr,
    start: Timestamp,
    end: Timestamp,
    step: i64,
) -> Result<Value, EvalError> {
    range_query_with(store, expr, start, end, step, QueryOptions::default())
}

/// [`range_query`] with explicit options.
pub fn range_query_with(
    store: &dyn SeriesStore,
    expr: &Expr,
    start: Timestamp,
    end: Timestamp,
    step: i64,
    opts: QueryOptions,
) -> Result<Value, EvalError> {
    if step <= 0 {
        return exec_err("zero or negative query resolution step widths are not accepted");
    }
    if end < start {
        return exec_err("end timestamp must not be before start time");
    }
    if (end - start) / step > 11_000 {
        return exec_err(
            "exceed maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        );
    }
    let ctx = Ctx::prepare(store, expr, start, end, opts)?;
    let mut series: HashMap<Labels, Vec<Sample>> = HashMap::new();
    let mut ts = start;
    while ts <= end {
        match ctx.eval(expr, ts)? {
            Val::Scalar(v) => series
                .entry(Labels::empty())
                .or_default()
                .push(Sample::new(ts, v)),
            Val::Vector(v) => {
                check_unique(&v)?;
                for s in v {
                    series
                        .entry(s.labels)
                        .or_default()
                        .push(Sample::new(ts, s.v));
                }
            }
            other => {
                return exec_err(format!(
                "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                other.type_name()
            ))
            }
        }
        ts += step;
    }
    let mut out: Vec<RangeSeries> = series
        .into_iter()
        .map(|(labels, samples)| RangeSeries { labels, samples })
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Value::Matrix(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::storage::MemStorage;

    /// A range query re-evaluates a subquery at every step; the inner steps its windows share
    /// are computed once (121 outer steps of a 61-step subquery: 181 inner evaluations, not
    /// 7,381), and the results equal those of separate instant queries.
    #[test]
    fn subquery_steps_shared_between_evaluations_are_computed_once() {
        let s = MemStorage::new();
        let l = Labels::from_pairs([("__name__", "x")]);
        let batch: Vec<_> = (0..=180)
            .map(|i| (l.clone(), Sample::new(i * 60_000, (i % 7) as f64)))
            .collect();
        s.append(&batch).unwrap();
        let e = crate::promql::parse_expr("max_over_time(x[1h:1m])").unwrap();
        let (start, end) = (3_600_000, 3 * 3_600_000);
        let ctx = Ctx::prepare(&s, &e, start, end, QueryOptions::default()).unwrap();
        let mut ts = start;
        while ts <= end {
            let Val::Vector(v) = ctx.eval(&e, ts).unwrap() else {
                panic!()
            };
            let Value::Vector(want) = instant_query(&s, &e, ts).unwrap() else {
                panic!()
            };
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].v, want[0].v, "at {ts}");
            ts += 60_000;
        }
        assert_eq!(ctx.subquery_steps.get(), 61 + 120);
    }

    fn vector(v: Value) -> Vec<(String, f64)> {
        let Value::Vector(v) = v else { panic!("{v:?}") };
        let mut out: Vec<_> = v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Queries sharing an `EvalCache` read a repeated subexpression from it and give what
    /// uncached queries give; a series appended between them (and passed to `invalidate`)
    /// is seen by the next query, and a series of another name keeps the entries.
    #[test]
    fn shared_cache_reuses_subexpressions_until_matching_series_are_appended() {
        let s = MemStorage::new();
        let pairs = |n: &str, i: &str| Labels::from_pairs([("__name__", n), ("instance", i)]);
        let batch = vec![
            (pairs("a", "x"), Sample::new(0, 4.0)),
            (pairs("b", "x"), Sample::new(0, 2.0)),
            (pairs("a", "y"), Sample::new(0, 9.0)),
            (pairs("b", "y"), Sample::new(0, 3.0)),
        ];
        s.append(&batch).unwrap();
        let opts = QueryOptions::default();
        let mut cache = EvalCache::new();
        let q = |text: &str, cache: &mut EvalCache| {
            let e = crate::promql::parse_expr(text).unwrap();
            let got = vector(instant_query_cached(&s, &e, 1000, opts, cache).unwrap());
            assert_eq!(got, vector(instant_query(&s, &e, 1000).unwrap()), "{text}");
            got
        };
        assert_eq!(q("a / b * 10 > 25", &mut cache).len(), 1);
        assert_eq!(cache.hits(), 0);
        assert_eq!(q("a / b * 10 > 15", &mut cache).len(), 2);
        assert_eq!(cache.hits(), 1, "`a / b * 10` read from the cache");
        // Another name: nothing dropped.
        let other = vec![(pairs("ALERTS", "x"), Sample::new(1000, 1.0))];
        cache.invalidate(&other);
        s.append(&other).unwrap();
        assert_eq!(q("a / b * 10 > 15", &mut cache).len(), 2);
        assert_eq!(cache.hits(), 2);
        // A new `a` series (with its `b`): entries reading `a` or `b` are dropped.
        let more = vec![
            (pairs("a", "z"), Sample::new(1000, 8.0)),
            (pairs("b", "z"), Sample::new(1000, 1.0)),
        ];
        cache.invalidate(&more);
        s.append(&more).unwrap();
        assert_eq!(q("a / b * 10 > 15", &mut cache).len(), 3);
        assert_eq!(cache.hits(), 2);
        // Another time: nothing is read.
        let e = crate::promql::parse_expr("a / b * 10 > 15").unwrap();
        let got = vector(instant_query_cached(&s, &e, 2000, opts, &mut cache).unwrap());
        assert_eq!(got, vector(instant_query(&s, &e, 2000).unwrap()));
        assert_eq!(cache.hits(), 2);
    }

    /// The cache's keys are the subexpressions' text: expressions that differ only in a
    /// modifier print differently.
    #[test]
    fn subexpressions_differing_in_a_modifier_have_different_keys() {
        let pairs = [
            ("a > b", "a > bool b"),
            ("a + on(x) b", "a + ignoring(x) b"),
            ("a + on(x) group_left(y) b", "a + on(x) group_left(z) b"),
            ("a + on(x) group_left b", "a + on(x) group_right b"),
            ("a offset 5m", "a offset 6m"),
            ("a @ 100", "a @ 101"),
            ("a @ start()", "a @ end()"),
            ("topk(3, a)", "topk(4, a)"),
            ("sum by (x) (a)", "sum without (x) (a)"),
            ("rate(a[5m])", "rate(a[6m])"),
            ("max_over_time(a[5m:1m])", "max_over_time(a[5m:2m])"),
            ("a{x=\"1\"}", "a{x=~\"1\"}"),
            ("a * 0.1", "a * 0.10000000000000002"),
        ];
        for (x, y) in pairs {
            let (ex, ey) = (
                crate::promql::parse_expr(x).unwrap(),
                crate::promql::parse_expr(y).unwrap(),
            );
            assert_ne!(ex.to_string(), ey.to_string(), "{x} / {y}");
        }
    }
}
