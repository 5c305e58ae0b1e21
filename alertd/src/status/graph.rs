//! `/graph?g0.expr=EXPR`: where the links in notifications lead. Prometheus puts
//! `<external_url>/graph?g0.expr=...&g0.tab=1` on every alert (`generatorURL`); alertd answers
//! it with a page of its own: the expression's current result (an instant query over the
//! store, like `/api/v1/query`), and the alerting rules with that expression and their alerts.

use evaluator::promql::{self, Value};
use model::{AlertState, Labels, Timestamp};

use crate::daemon::App;

/// Rows of a result shown at most (a wide selector can match many series).
pub(crate) const MAX_ROWS: usize = 1_000;

/// What the page shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct GraphView {
    /// When it was evaluated (ms).
    pub now: Timestamp,
    /// The expression as given.
    pub expr: String,
    /// Series (or a scalar's empty label set) and their value now; at most [`MAX_ROWS`].
    pub rows: Vec<(Labels, String)>,
    /// Rows left out beyond [`MAX_ROWS`].
    pub more: usize,
    /// Why there is no result (a parse or evaluation error).
    pub error: Option<String>,
    /// Alerting rules with this expression: (group, rule name, `for:` in seconds, alerts as
    /// (labels, state, active since)).
    pub rules: Vec<RuleView>,
}

/// An alerting rule whose expression the page shows.
#[derive(Debug, Clone)]
pub(crate) struct RuleView {
    /// Its group.
    pub group: String,
    /// The alert name.
    pub name: String,
    /// `for:` in seconds.
    pub for_seconds: f64,
    /// Its alerts: labels, `pending` or `firing`, active since (ms).
    pub alerts: Vec<(Labels, AlertState, Timestamp)>,
}

/// Evaluates `expr` now and gathers the rules that use it. Blocking (store queries).
pub(crate) fn gather(app: &App, expr: &str) -> GraphView {
    let now = app.clock().now_ms();
    let mut v = GraphView {
        now,
        expr: expr.to_string(),
        ..GraphView::default()
    };
    let wanted = expr.trim();
    for g in app.pipeline().rule_groups() {
        for r in g.rules {
            if r.kind != "alerting" || r.query.trim() != wanted {
                continue;
            }
            v.rules.push(RuleView {
                group: g.name.clone(),
                name: r.name,
                for_seconds: r.duration_seconds,
                alerts: r
                    .alerts
                    .into_iter()
                    .filter(|a| a.state != AlertState::Inactive)
                    .map(|a| (a.labels, a.state, a.active_at))
                    .collect(),
            });
        }
    }
    if wanted.is_empty() {
        v.error = Some("no expression (g0.expr) given".into());
        return v;
    }
    let parsed = match promql::parse_expr(wanted) {
        Ok(e) => e,
        Err(e) => {
            v.error = Some(format!("parse error: {e}"));
            return v;
        }
    };
    let opts = crate::api::prom::query_options(app);
    match promql::instant_query_with(app.pipeline().store(), &parsed, now, opts) {
        Ok(Value::Vector(samples)) => {
            v.more = samples.len().saturating_sub(MAX_ROWS);
            v.rows = samples
                .into_iter()
                .take(MAX_ROWS)
                .map(|s| (s.labels, crate::api::prom::format_value(s.v)))
                .collect();
        }
        Ok(Value::Scalar { v: x, .. }) => {
            v.rows = vec![(Labels::empty(), crate::api::prom::format_value(x))];
        }
        Ok(Value::String { v: s, .. }) => v.rows = vec![(Labels::empty(), s)],
        Ok(Value::Matrix(series)) => {
            v.more = series.len().saturating_sub(MAX_ROWS);
            v.rows = series
                .into_iter()
                .take(MAX_ROWS)
                .map(|s| {
                    let last = s
                        .samples
                        .last()
                        .map_or_else(String::new, |p| crate::api::prom::format_value(p.v));
                    (s.labels, last)
                })
                .collect();
        }
        Err(e) => v.error = Some(e.to_string()),
    }
    v
}
