//! One rule group's evaluation: recording rules write series, alerting rules run Prometheus's
//! alert state machine (pending → firing after `for`, `keep_firing_for`, resolved alerts kept
//! and re-sent for 15 minutes), `ALERTS`/`ALERTS_FOR_STATE` are written to the store, and the
//! state is persisted to a [`KvStore`] so a restart keeps `for` progress and `activeAt`.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use model::storage::{KvBatch, KvStore, SeriesStore};
use model::{Alert, AlertState, Fingerprint, Labels, Sample, Timestamp};
use serde::{Deserialize, Serialize};

use crate::promql::{self, Value};
use crate::rules::{Group, Rule, RuleKind};
use crate::source::{self, QuerySource, SourceBuilder};
use crate::template::{self, QueryContext, TemplateData};

/// The KV namespace holding alert state.
pub const KV_NAMESPACE: &str = "alerts";
/// How long resolved alerts are kept and re-sent (Prometheus: 15 minutes).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// Settings shared by every group.
#[derive(Clone)]
pub struct EvalContext {
    /// Where series are read and written.
    pub store: Arc<dyn SeriesStore>,
    /// Where alert state is persisted (`None`: not persisted, e.g. unit tests).
    pub kv: Option<Arc<dyn KvStore>>,
    /// `global.external_labels` (`$externalLabels`).
    pub external_labels: Labels,
    /// `global.external_url` (`$externalURL`, generator URLs).
    pub external_url: String,
    /// Minimum time between two sends of the same alert (Prometheus: 1m).
    pub resend_delay_ms: i64,
    /// A pending alert is restored after a restart only if the outage was shorter (1h).
    pub outage_tolerance_ms: i64,
    /// Minimum time a restored pending alert still waits before firing. Prometheus uses 10m;
    /// alertd defaults to 0 so that `for:` progress survives a restart (docs/design.md
    /// "Durability") and a crash-looping daemon still fires its alerts.
    pub for_grace_period_ms: i64,
    /// The interval of groups without their own (`global.evaluation_interval`).
    pub default_interval_ms: i64,
    /// Makes the clients of groups with a `source:` (`None`: such groups fail to evaluate).
    pub sources: Option<SourceBuilder>,
}

impl std::fmt::Debug for EvalContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalContext")
            .field("external_labels", &self.external_labels)
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

impl EvalContext {
    /// Defaults as in Prometheus (resend 1m, outage tolerance 1h, interval 1m), except the
    /// `for` grace period (0 instead of 10m).
    pub fn new(store: Arc<dyn SeriesStore>) -> Self {
        EvalContext {
            store,
            kv: None,
            external_labels: Labels::empty(),
            external_url: String::new(),
            resend_delay_ms: 60_000,
            outage_tolerance_ms: 3_600_000,
            for_grace_period_ms: 0,
            default_interval_ms: 60_000,
            sources: None,
        }
    }
}

/// Health of a rule after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleHealth {
    /// Not evaluated yet.
    Unknown,
    /// Last evaluation succeeded.
    Ok,
    /// Last evaluation failed (see `last_error`).
    Err,
}

/// One alert of an alerting rule (as `/api/v1/alerts` shows it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    /// Labels (with `alertname`, rule and group labels).
    pub labels: Labels,
    /// Expanded annotations.
    pub annotations: Labels,
    /// Pending, firing, or inactive (resolved, kept for re-sending).
    pub state: AlertState,
    /// The last value of the expression.
    #[serde(skip, default)]
    pub value: f64,
    /// When the condition first held (ms).
    pub active_at: Timestamp,
    /// When it started firing.
    pub fired_at: Option<Timestamp>,
    /// When it resolved.
    pub resolved_at: Option<Timestamp>,
    /// When it was last sent to the notifier.
    pub last_sent_at: Option<Timestamp>,
    /// Until when the last send is valid.
    pub valid_until: Option<Timestamp>,
    /// Since when it is kept firing by `keep_firing_for`.
    pub keep_firing_since: Option<Timestamp>,
}

/// A rule's output series and its template error, if any.
type RuleOutput = (Vec<(Labels, f64)>, Option<String>);

/// The evaluation state of one rule.
#[derive(Debug, Clone)]
pub struct RuleState {
    /// The rule.
    pub rule: Arc<Rule>,
    /// Health after the last evaluation.
    pub health: RuleHealth,
    /// The last error (evaluation or template), empty if none.
    pub last_error: String,
    /// When it was last evaluated (ms).
    pub last_evaluation: Option<Timestamp>,
    /// How long the last evaluation took (seconds).
    pub evaluation_seconds: f64,
    /// Alerts by fingerprint (alerting rules only).
    pub active: BTreeMap<Fingerprint, ActiveAlert>,
    prev_series: HashSet<Labels>,
    /// The same series in the order they were written: when a rule writes the same series
    /// again (the usual case), `prev_series` needs no rebuilding.
    prev_order: Vec<Labels>,
    persisted: String,
    /// Each alert's expanded labels and annotations from the last evaluation, by the labels
    /// of its expression result: reused while the value is the same (see [`Expansion`]).
    expansions: HashMap<Labels, Expansion>,
    /// Each active alert's `ALERTS` and `ALERTS_FOR_STATE` label sets, built once.
    alert_series: HashMap<Fingerprint, AlertSeries>,
}

/// The label sets an alert's `ALERTS` (pending, firing) and `ALERTS_FOR_STATE` series have,
/// for the alert labels `labels`.
#[derive(Debug, Clone)]
struct AlertSeries {
    labels: Labels,
    pending: Labels,
    firing: Labels,
    for_state: Labels,
}

impl AlertSeries {
    fn new(labels: &Labels) -> Self {
        let alerts = |state: &str| {
            let mut l = labels.clone();
            l.set("__name__", "ALERTS");
            l.set("alertstate", state);
            l
        };
        let mut for_state = labels.clone();
        for_state.set("__name__", "ALERTS_FOR_STATE");
        AlertSeries {
            labels: labels.clone(),
            pending: alerts("pending"),
            firing: alerts("firing"),
            for_state,
        }
    }
}

/// An alert's expanded labels and annotations for one result series and value. A template is
/// a function of the series' labels, the value, and the external labels and URL (fixed for a
/// group's life) — unless it calls `query`, whose answer changes with the store: rules with
/// such templates are expanded anew every time.
#[derive(Debug, Clone)]
struct Expansion {
    value_bits: u64,
    labels: Labels,
    annotations: Labels,
    /// The first template error (`template NAME: ...`), if any.
    error: Option<String>,
}

impl RuleState {
    fn new(rule: Arc<Rule>) -> Self {
        RuleState {
            rule,
            health: RuleHealth::Unknown,
            last_error: String::new(),
            last_evaluation: None,
            evaluation_seconds: 0.0,
            active: BTreeMap::new(),
            prev_series: HashSet::new(),
            prev_order: Vec::new(),
            persisted: String::new(),
            expansions: HashMap::new(),
            alert_series: HashMap::new(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Persisted {
    last_eval: Timestamp,
    alerts: Vec<ActiveAlert>,
}

/// A group with the state of its rules.
#[derive(Debug)]
pub struct GroupState {
    /// The group definition.
    pub group: Group,
    /// Rule states in rule order.
    pub rules: Vec<RuleState>,
    /// When the group was last evaluated.
    pub last_evaluation: Option<Timestamp>,
    /// How long the last evaluation took (seconds).
    pub evaluation_seconds: f64,
    /// Iterations skipped because an evaluation took longer than the interval.
    pub iterations_missed: u64,
    /// Iterations run.
    pub iterations: u64,
    /// Rule evaluations run (every rule of every iteration).
    pub rule_evaluations: u64,
    /// Rule evaluations that failed (query error, or the results could not be written);
    /// template errors are not counted, as in Prometheus.
    pub rule_failures: u64,
    /// Time spent evaluating the group, summed over every iteration (seconds).
    pub evaluation_seconds_total: f64,
    /// Whether every query of the last iteration got an answer from the group's `source:`
    /// (`None`: a local group, or not evaluated yet).
    pub source_up: Option<bool>,
    source: Option<Arc<dyn QuerySource>>,
    ctx: EvalContext,
}

/// The generator URL Prometheus puts on alerts: `<external_url>/graph?g0.expr=...&g0.tab=1`.
pub fn generator_url(external_url: &str, expr: &str) -> String {
    let mut q = String::new();
    for b in expr.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                q.push(b as char)
            }
            b' ' => q.push('+'),
            _ => q.push_str(&format!("%{b:02X}")),
        }
    }
    format!(
        "{}/graph?g0.expr={q}&g0.tab=1",
        external_url.trim_end_matches('/')
    )
}

impl GroupState {
    /// A group that has not been evaluated yet.
    pub fn new(group: Group, ctx: EvalContext) -> Self {
        let source = group
            .source
            .as_ref()
            .map(|c| source::make(ctx.sources.as_ref(), c));
        let rules = group
            .rules
            .iter()
            .cloned()
            .map(|r| RuleState::new(Arc::new(r)))
            .collect();
        GroupState {
            group,
            rules,
            last_evaluation: None,
            evaluation_seconds: 0.0,
            iterations_missed: 0,
            iterations: 0,
            rule_evaluations: 0,
            rule_failures: 0,
            evaluation_seconds_total: 0.0,
            source_up: None,
            source,
            ctx,
        }
    }

    /// The group's interval in ms.
    pub fn interval_ms(&self) -> i64 {
        self.group
            .interval
            .map(|d| d.as_millis_i64())
            .unwrap_or(self.ctx.default_interval_ms)
    }

    fn kv_key(&self, rule: &Rule) -> Vec<u8> {
        format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            self.group.file.display(),
            self.group.name,
            rule.name,
            rule.expr_text
        )
        .into_bytes()
    }

    /// Takes over the alert state of rules of `old` with the same name and expression (reload).
    pub fn carry_over(&mut self, old: &GroupState) {
        for r in &mut self.rules {
            if let Some(o) = old
                .rules
                .iter()
                .find(|o| o.rule.name == r.rule.name && o.rule.expr_text == r.rule.expr_text)
            {
                r.active = o.active.clone();
                r.prev_series = o.prev_series.clone();
                r.prev_order = o.prev_order.clone();
                r.persisted = o.persisted.clone();
            }
        }
        self.last_evaluation = old.last_evaluation;
        // Counters continue across a reload.
        self.iterations = old.iterations;
        self.iterations_missed = old.iterations_missed;
        self.rule_evaluations = old.rule_evaluations;
        self.rule_failures = old.rule_failures;
        self.evaluation_seconds_total = old.evaluation_seconds_total;
    }

    /// Restores persisted alert state at startup (`now` in ms). Firing alerts keep their
    /// `activeAt`; pending alerts keep their progress, with the time the process was down not
    /// counted (as Prometheus's restore with `for_outage_tolerance` and `for_grace_period`).
    pub fn restore(&mut self, now: Timestamp) -> Result<(), model::storage::StorageError> {
        let Some(kv) = self.ctx.kv.clone() else {
            return Ok(());
        };
        for i in 0..self.rules.len() {
            let key = self.kv_key(&self.rules[i].rule);
            let Some(raw) = kv.get(KV_NAMESPACE, &key)? else {
                continue;
            };
            let Ok(p) = serde_json::from_slice::<Persisted>(&raw) else {
                continue;
            };
            let hold = match &self.rules[i].rule.kind {
                RuleKind::Alerting { for_, .. } => for_.as_millis_i64(),
                RuleKind::Recording => continue,
            };
            let down_at = p.last_eval;
            let mut restored = BTreeMap::new();
            for mut a in p.alerts {
                if a.state == AlertState::Pending {
                    if now - down_at > self.ctx.outage_tolerance_ms {
                        continue;
                    }
                    let spent = down_at - a.active_at;
                    let remaining = hold - spent;
                    if remaining <= 0 {
                        // would have fired; fires at the next evaluation if still active
                    } else if remaining < self.ctx.for_grace_period_ms {
                        a.active_at = now + self.ctx.for_grace_period_ms - hold;
                    } else {
                        a.active_at += now - down_at;
                    }
                }
                restored.insert(a.labels.fingerprint(), a);
            }
            self.rules[i].active = restored;
            self.rules[i].persisted = String::from_utf8_lossy(&raw).into_owned();
        }
        Ok(())
    }

    /// Evaluates every rule in order at `ts` (ms), writes recorded series, `ALERTS` and
    /// `ALERTS_FOR_STATE` to the store, persists alert state, and returns the alerts to send
    /// to the notifier now.
    pub fn eval(&mut self, ts: Timestamp) -> Vec<Alert> {
        let started = std::time::Instant::now();
        let interval = self.interval_ms();
        let mut to_send = Vec::new();
        let mut batch = KvBatch::new();
        // Subexpression values shared by the group's rules at this time (dropped after it).
        let mut shared = promql::EvalCache::new();
        if self.source.is_some() {
            self.source_up = Some(true);
        }
        for i in 0..self.rules.len() {
            let t0 = std::time::Instant::now();
            let out = self.eval_rule(i, ts, &mut shared);
            self.rule_evaluations += 1;
            let mut failed = out.is_err();
            let mut samples: Vec<(Labels, Sample)> = Vec::new();
            let rs = &mut self.rules[i];
            match out {
                Ok((series, tmpl_err)) => {
                    rs.health = if tmpl_err.is_some() {
                        RuleHealth::Err
                    } else {
                        RuleHealth::Ok
                    };
                    rs.last_error = tmpl_err.unwrap_or_default();
                    let unchanged = series.len() == rs.prev_order.len()
                        && series.iter().zip(&rs.prev_order).all(|((l, _), p)| l == p);
                    if !unchanged {
                        let now: HashSet<Labels> = series.iter().map(|(l, _)| l.clone()).collect();
                        for l in rs.prev_series.iter().filter(|l| !now.contains(*l)) {
                            samples.push((l.clone(), Sample::stale(ts)));
                        }
                        rs.prev_series = now;
                        rs.prev_order = series.iter().map(|(l, _)| l.clone()).collect();
                    }
                    for (l, v) in series {
                        samples.push((l, Sample::new(ts, v)));
                    }
                }
                Err(e) => {
                    rs.health = RuleHealth::Err;
                    rs.last_error = e;
                    rs.prev_order.clear();
                    for l in rs.prev_series.drain() {
                        samples.push((l, Sample::stale(ts)));
                    }
                }
            }
            if !samples.is_empty() {
                shared.invalidate(&samples);
                if let Err(e) = self.ctx.store.append(&samples) {
                    failed = true;
                    rs.health = RuleHealth::Err;
                    rs.last_error = format!("writing results: {e}");
                }
            }
            if failed {
                self.rule_failures += 1;
            }
            rs.last_evaluation = Some(ts);
            rs.evaluation_seconds = t0.elapsed().as_secs_f64();
            if rs.rule.is_alerting() {
                to_send.extend(send_alerts(
                    rs,
                    ts,
                    self.ctx.resend_delay_ms,
                    interval,
                    &self.ctx,
                ));
            }
        }
        if self.ctx.kv.is_some() {
            for i in 0..self.rules.len() {
                if !self.rules[i].rule.is_alerting() {
                    continue;
                }
                let key = self.kv_key(&self.rules[i].rule);
                let rs = &mut self.rules[i];
                let p = Persisted {
                    last_eval: ts,
                    alerts: rs.active.values().cloned().collect(),
                };
                let json = serde_json::to_string(&p).unwrap_or_default();
                if rs.active.is_empty() && rs.persisted.is_empty() {
                    continue;
                }
                if rs.active.is_empty() {
                    batch.delete(KV_NAMESPACE, key);
                    rs.persisted.clear();
                } else {
                    batch.put(KV_NAMESPACE, key, json.clone().into_bytes());
                    rs.persisted = json;
                }
            }
            if let Some(kv) = &self.ctx.kv {
                if !batch.is_empty() {
                    if let Err(e) = kv.write_eventually(batch) {
                        tracing::warn!(group = %self.group.name, error = %e, "persisting alert state failed");
                    }
                }
            }
        }
        self.last_evaluation = Some(ts);
        self.iterations += 1;
        self.evaluation_seconds = started.elapsed().as_secs_f64();
        self.evaluation_seconds_total += self.evaluation_seconds;
        to_send
    }

    /// Evaluates rule `i`: the series to write (recorded series, or ALERTS/ALERTS_FOR_STATE)
    /// and a template error, if any.
    fn eval_rule(
        &mut self,
        i: usize,
        ts: Timestamp,
        shared: &mut promql::EvalCache,
    ) -> Result<RuleOutput, String> {
        let qts = ts - self.group.query_offset.as_millis_i64();
        let rule = self.rules[i].rule.clone();
        // Subqueries without a step use the global evaluation interval, as in Prometheus.
        let opts = promql::QueryOptions {
            subquery_step_ms: self.ctx.default_interval_ms,
        };
        let value = match self.source.clone() {
            None => {
                promql::instant_query_cached(self.ctx.store.as_ref(), &rule.expr, qts, opts, shared)
                    .map_err(|e| e.to_string())?
            }
            // A failed query changes no alert state (returned before it is touched).
            Some(src) => src.instant_query(&rule.expr_text, qts).map_err(|e| {
                self.source_up = Some(false);
                e.to_string()
            })?,
        };
        let vector: Vec<(Labels, f64)> = match value {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
            other => {
                return Err(format!(
                    "rule result is a {}, not a vector or scalar",
                    other.type_name()
                ))
            }
        };
        let limit = self.group.limit as usize;
        match &rule.kind {
            RuleKind::Recording => {
                let mut out = Vec::with_capacity(vector.len());
                let mut seen = HashSet::new();
                for (mut l, v) in vector {
                    l.set("__name__", rule.name.clone());
                    for (k, val) in self.group.labels.iter().chain(rule.labels.iter()) {
                        l.set(k.clone(), val.clone());
                    }
                    if !seen.insert(l.clone()) {
                        return Err("vector contains metrics with the same labelset after applying rule labels".into());
                    }
                    out.push((l, v));
                }
                if limit > 0 && out.len() > limit {
                    return Err(format!(
                        "exceeded limit of {limit} with {} series",
                        out.len()
                    ));
                }
                Ok((out, None))
            }
            RuleKind::Alerting {
                for_,
                keep_firing_for,
                annotations,
            } => {
                let hold = for_.as_millis_i64();
                let keep_for = keep_firing_for.as_millis_i64();
                let mut tmpl_err: Option<String> = None;
                let mut current: HashMap<Fingerprint, ActiveAlert> = HashMap::new();
                let tmpl_name = format!("__alert_{}", rule.name);
                let qctx = QueryContext {
                    store: self.ctx.store.clone(),
                    source: self.source.clone(),
                    ts: qts,
                };
                let cacheable = rule
                    .labels
                    .values()
                    .chain(annotations.values())
                    .all(|t| !t.contains("query"));
                let mut last = std::mem::take(&mut self.rules[i].expansions);
                let mut expansions = HashMap::new();
                for (l, v) in vector {
                    let cached = if cacheable {
                        last.remove(&l).filter(|e| e.value_bits == v.to_bits())
                    } else {
                        None
                    };
                    let exp = match cached {
                        Some(e) => e,
                        None => self.expand_alert(&rule, &tmpl_name, &qctx, &l, v, annotations),
                    };
                    if let Some(e) = &exp.error {
                        tmpl_err.get_or_insert_with(|| e.clone());
                    }
                    let (lb, ann) = (exp.labels.clone(), exp.annotations.clone());
                    if cacheable {
                        expansions.insert(l, exp);
                    }
                    let fp = lb.fingerprint();
                    if current.contains_key(&fp) {
                        return Err("vector contains metrics with the same labelset after applying alert labels".into());
                    }
                    current.insert(
                        fp,
                        ActiveAlert {
                            labels: lb,
                            annotations: ann,
                            state: AlertState::Pending,
                            value: v,
                            active_at: ts,
                            fired_at: None,
                            resolved_at: None,
                            last_sent_at: None,
                            valid_until: None,
                            keep_firing_since: None,
                        },
                    );
                }
                let rs = &mut self.rules[i];
                rs.expansions = expansions;
                let result_fps: HashSet<Fingerprint> = current.keys().copied().collect();
                for (fp, a) in current {
                    match rs.active.get_mut(&fp) {
                        Some(old) if old.state != AlertState::Inactive => {
                            old.value = a.value;
                            old.annotations = a.annotations;
                        }
                        _ => {
                            rs.active.insert(fp, a);
                        }
                    }
                }
                let mut out = Vec::new();
                let mut num_active = 0usize;
                let mut delete = Vec::new();
                for (fp, a) in rs.active.iter_mut() {
                    if !result_fps.contains(fp) {
                        let mut keep_firing = false;
                        if a.state == AlertState::Firing && keep_for > 0 {
                            let since = *a.keep_firing_since.get_or_insert(ts);
                            if ts - since < keep_for {
                                keep_firing = true;
                            }
                        }
                        if a.state == AlertState::Pending
                            || a.resolved_at
                                .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                        {
                            delete.push(*fp);
                        }
                        if a.state != AlertState::Inactive && !keep_firing {
                            a.state = AlertState::Inactive;
                            a.resolved_at = Some(ts);
                        }
                        if !keep_firing {
                            continue;
                        }
                    } else {
                        a.keep_firing_since = None;
                    }
                    num_active += 1;
                    if a.state == AlertState::Pending && ts - a.active_at >= hold {
                        a.state = AlertState::Firing;
                        a.fired_at = Some(ts);
                    }
                    let series = match rs.alert_series.entry(*fp) {
                        Entry::Occupied(e) if e.get().labels == a.labels => e.into_mut(),
                        Entry::Occupied(mut e) => {
                            e.insert(AlertSeries::new(&a.labels));
                            e.into_mut()
                        }
                        Entry::Vacant(e) => e.insert(AlertSeries::new(&a.labels)),
                    };
                    let al = if a.state == AlertState::Firing {
                        &series.firing
                    } else {
                        &series.pending
                    };
                    out.push((al.clone(), 1.0));
                    out.push((series.for_state.clone(), (a.active_at / 1000) as f64));
                }
                for fp in delete {
                    rs.active.remove(&fp);
                }
                let active = &rs.active;
                rs.alert_series.retain(|fp, _| active.contains_key(fp));
                if limit > 0 && num_active > limit {
                    rs.active.clear();
                    rs.alert_series.clear();
                    return Err(format!(
                        "exceeded limit of {limit} with {num_active} alerts"
                    ));
                }
                Ok((out, tmpl_err))
            }
        }
    }

    /// Expands an alert's labels (the series' labels without `__name__`, the group's and the
    /// rule's labels, `alertname`) and annotations.
    fn expand_alert(
        &self,
        rule: &Rule,
        tmpl_name: &str,
        qctx: &QueryContext,
        l: &Labels,
        v: f64,
        annotations: &BTreeMap<String, String>,
    ) -> Expansion {
        let mut error: Option<String> = None;
        let data = TemplateData {
            labels: l,
            external_labels: &self.ctx.external_labels,
            external_url: &self.ctx.external_url,
            value: v,
        };
        let expander = template::Expander::new(&data, Some(qctx.clone()));
        let mut expand = |name: &str, text: &str| -> String {
            match expander.expand(name, text) {
                Ok(s) => s,
                Err(e) => {
                    let m = format!("<error expanding template: {e}>");
                    error.get_or_insert_with(|| format!("template {name}: {e}"));
                    m
                }
            }
        };
        let mut lb = l.clone();
        lb.remove("__name__");
        for (k, val) in &self.group.labels {
            lb.set(k.clone(), val.clone());
        }
        for (k, val) in &rule.labels {
            let x = expand(tmpl_name, val);
            lb.set(k.clone(), x);
        }
        lb.set("alertname", rule.name.clone());
        // annotations are already sorted by name: `set` appends
        let mut ann = Labels::empty();
        for (k, t) in annotations {
            ann.set(k.clone(), expand(tmpl_name, t));
        }
        Expansion {
            value_bits: v.to_bits(),
            labels: lb,
            annotations: ann,
            error,
        }
    }

    /// Alerts of every alerting rule, with their rule's name.
    pub fn alerts(&self) -> impl Iterator<Item = (&Rule, &ActiveAlert)> {
        self.rules
            .iter()
            .flat_map(|r| r.active.values().map(move |a| (&*r.rule, a)))
    }
}

/// Alerts due for sending, as Prometheus's notifier builds them: external labels added where
/// the alert lacks them, `startsAt` = when it fired, `endsAt` = resolution or 4 intervals ahead.
fn send_alerts(
    rs: &mut RuleState,
    ts: Timestamp,
    resend_delay: i64,
    interval: i64,
    ctx: &EvalContext,
) -> Vec<Alert> {
    let mut out = Vec::new();
    for a in rs.active.values_mut() {
        let needs = match a.state {
            AlertState::Pending => false,
            _ => {
                let last = a.last_sent_at;
                match (a.resolved_at, last) {
                    (Some(r), Some(l)) if r > l => true,
                    (Some(_), None) => true,
                    _ => last.is_none_or(|l| l + resend_delay < ts),
                }
            }
        };
        if !needs {
            continue;
        }
        a.last_sent_at = Some(ts);
        let delta = resend_delay.max(interval);
        a.valid_until = Some(ts + 4 * delta);
        let mut labels = a.labels.clone();
        for l in ctx.external_labels.iter() {
            if labels.get(&l.name).is_none() {
                labels.set(l.name.clone(), l.value.clone());
            }
        }
        out.push(Alert {
            labels,
            annotations: a.annotations.clone(),
            starts_at: a.fired_at.unwrap_or(a.active_at),
            ends_at: Some(a.resolved_at.unwrap_or(ts + 4 * delta)),
            generator_url: generator_url(&ctx.external_url, &rs.rule.expr_text),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::parse_rule_file;
    use model::storage::MemStorage;
    use model::{MatchOp, Matcher};
    use std::path::Path;

    const RULES: &str = r#"groups:
  - name: g
    interval: 1m
    labels: { team: ops }
    rules:
      - alert: Down
        expr: up == 0
        for: 2m
        labels: { severity: critical }
        annotations:
          summary: "{{ $labels.instance }} down ({{ $value }})"
      - record: job:up:sum
        expr: sum by (job) (up)
"#;

    fn setup(kv: Option<Arc<MemStorage>>, store: Arc<MemStorage>) -> GroupState {
        let g = parse_rule_file(Path::new("r.yml"), RULES)
            .unwrap()
            .remove(0);
        let mut ctx = EvalContext::new(store);
        ctx.external_url = "http://alertd:9797".into();
        ctx.external_labels = Labels::from_pairs([("cluster", "eu1"), ("team", "not-used")]);
        ctx.kv = kv.map(|k| k as Arc<dyn KvStore>);
        GroupState::new(g, ctx)
    }

    fn up(store: &MemStorage, t: Timestamp, v: f64) {
        store
            .append(&[(
                Labels::from_pairs([("__name__", "up"), ("job", "node"), ("instance", "a")]),
                Sample::new(t, v),
            )])
            .unwrap();
    }

    const M: i64 = 60_000;

    /// A series a rule wrote and no longer writes gets a stale marker once; series written
    /// again unchanged get none.
    #[test]
    fn series_no_longer_written_are_marked_stale_once() {
        let store = Arc::new(MemStorage::new());
        let mut g = setup(None, store.clone());
        up(&store, 0, 0.0);
        let alerts = |store: &MemStorage, from, to| {
            store
                .select(
                    &[Matcher::new("__name__", MatchOp::Equal, "ALERTS").unwrap()],
                    from,
                    to,
                )
                .unwrap()
                .into_iter()
                .flat_map(|s| s.samples)
                .collect::<Vec<_>>()
        };
        g.eval(0);
        up(&store, M, 0.0);
        g.eval(M);
        assert!(alerts(&store, 0, M).iter().all(|s| !s.is_stale()));
        up(&store, 2 * M, 1.0);
        g.eval(2 * M);
        let at = alerts(&store, 2 * M, 2 * M);
        assert_eq!(at.len(), 1);
        assert!(at[0].is_stale(), "{at:?}");
        up(&store, 3 * M, 1.0);
        g.eval(3 * M);
        assert!(alerts(&store, 3 * M, 3 * M).is_empty());
    }

    #[test]
    fn pending_then_firing_then_resolved_and_resent() {
        let store = Arc::new(MemStorage::new());
        let mut g = setup(None, store.clone());
        up(&store, 0, 0.0);
        assert!(g.eval(0).is_empty());
        assert_eq!(
            g.rules[0].active.values().next().unwrap().state,
            AlertState::Pending
        );
        up(&store, M, 0.0);
        assert!(g.eval(M).is_empty());
        up(&store, 2 * M, 0.0);
        let sent = g.eval(2 * M);
        assert_eq!(sent.len(), 1);
        let a = &sent[0];
        assert_eq!(a.labels.get("alertname"), Some("Down"));
        assert_eq!(
            a.labels.get("team"),
            Some("ops"),
            "alert labels win over external labels"
        );
        assert_eq!(a.labels.get("cluster"), Some("eu1"));
        assert_eq!(a.labels.get("severity"), Some("critical"));
        assert_eq!(a.annotations.get("summary"), Some("a down (0)"));
        assert_eq!(a.starts_at, 2 * M);
        assert_eq!(a.ends_at, Some(2 * M + 4 * M));
        assert_eq!(
            a.generator_url,
            "http://alertd:9797/graph?g0.expr=up+%3D%3D+0&g0.tab=1"
        );
        // ALERTS and ALERTS_FOR_STATE were written.
        let v = promql::instant_query(
            store.as_ref(),
            &promql::parse_expr("ALERTS{alertstate=\"firing\"}").unwrap(),
            2 * M,
        )
        .unwrap();
        assert!(matches!(v, Value::Vector(ref v) if v.len() == 1));
        let v = promql::instant_query(
            store.as_ref(),
            &promql::parse_expr("ALERTS_FOR_STATE").unwrap(),
            2 * M,
        )
        .unwrap();
        assert!(matches!(v, Value::Vector(ref v) if v[0].v == 0.0));
        // recording rule output
        let v = promql::instant_query(
            store.as_ref(),
            &promql::parse_expr("job:up:sum").unwrap(),
            2 * M,
        )
        .unwrap();
        assert!(matches!(v, Value::Vector(ref v) if v[0].labels.get("team") == Some("ops")));
        // not re-sent within resend delay (1m): at 3m last sent 2m, 2m+1m < 3m false
        up(&store, 3 * M, 0.0);
        assert!(g.eval(3 * M).is_empty());
        up(&store, 4 * M, 0.0);
        assert_eq!(g.eval(4 * M).len(), 1);
        // resolves
        up(&store, 5 * M, 1.0);
        let sent = g.eval(5 * M);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].ends_at, Some(5 * M));
        // ALERTS series ends with a staleness marker
        let v = promql::instant_query(
            store.as_ref(),
            &promql::parse_expr("ALERTS").unwrap(),
            5 * M,
        )
        .unwrap();
        assert!(matches!(v, Value::Vector(ref v) if v.is_empty()));
        // resolved alert is re-sent, then dropped after 15m
        up(&store, 7 * M, 1.0);
        assert_eq!(g.eval(7 * M).len(), 1);
        up(&store, 21 * M, 1.0);
        g.eval(21 * M);
        assert_eq!(g.rules[0].active.len(), 0);
    }

    #[test]
    fn pending_alert_that_stops_is_dropped_and_never_sent() {
        let store = Arc::new(MemStorage::new());
        let mut g = setup(None, store.clone());
        up(&store, 0, 0.0);
        g.eval(0);
        up(&store, M, 1.0);
        assert!(g.eval(M).is_empty());
        assert!(g.rules[0].active.is_empty());
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        keep_firing_for: 3m\n";
        let grp = parse_rule_file(Path::new("r.yml"), text).unwrap().remove(0);
        let store = Arc::new(MemStorage::new());
        let mut g = GroupState::new(grp, EvalContext::new(store.clone()));
        up(&store, 0, 0.0);
        assert_eq!(g.eval(0).len(), 1); // for: 0 fires at once
        up(&store, M, 1.0);
        g.eval(M);
        assert_eq!(
            g.rules[0].active.values().next().unwrap().state,
            AlertState::Firing
        );
        up(&store, 3 * M, 1.0);
        g.eval(3 * M);
        assert_eq!(
            g.rules[0].active.values().next().unwrap().state,
            AlertState::Firing
        );
        up(&store, 4 * M, 1.0);
        g.eval(4 * M);
        assert_eq!(
            g.rules[0].active.values().next().unwrap().state,
            AlertState::Inactive
        );
    }

    #[test]
    fn restart_keeps_firing_active_at_and_pending_progress() {
        let store = Arc::new(MemStorage::new());
        let kv = Arc::new(MemStorage::new());
        let mut g = setup(Some(kv.clone()), store.clone());
        for i in 0..=3 {
            up(&store, i * M, 0.0);
            g.eval(i * M);
        }
        let firing = g.rules[0].active.values().next().unwrap().clone();
        assert_eq!(firing.state, AlertState::Firing);
        drop(g);
        // restart 5 minutes later: firing alert keeps activeAt 0 and firedAt
        let mut g2 = setup(Some(kv.clone()), store.clone());
        g2.restore(8 * M).unwrap();
        let a = g2.rules[0].active.values().next().unwrap();
        assert_eq!(
            (a.state, a.active_at, a.fired_at),
            (AlertState::Firing, 0, Some(2 * M))
        );

        // a pending alert 1m into a 2m `for`, down 30m.
        let pending_then_down_30m = |grace: i64| {
            let store = Arc::new(MemStorage::new());
            let kv = Arc::new(MemStorage::new());
            let mut g = setup(Some(kv.clone()), store.clone());
            up(&store, 100 * M, 0.0);
            g.eval(100 * M);
            up(&store, 101 * M, 0.0);
            g.eval(101 * M);
            let mut g2 = setup(Some(kv), store.clone());
            g2.ctx.for_grace_period_ms = grace;
            g2.restore(131 * M).unwrap();
            (g2, store)
        };
        // alertd's default (no grace period): restored with its progress, the downtime not
        // counted, so it fires 1m later.
        let (mut g2, store) = pending_then_down_30m(0);
        let a = g2.rules[0].active.values().next().unwrap();
        assert_eq!((a.state, a.active_at), (AlertState::Pending, 130 * M));
        up(&store, 132 * M, 0.0);
        g2.eval(132 * M);
        assert_eq!(
            g2.rules[0].active.values().next().unwrap().state,
            AlertState::Firing
        );
        // With Prometheus's 10m grace period it does not fire before the grace period.
        let (mut g2, store) = pending_then_down_30m(600_000);
        let a = g2.rules[0].active.values().next().unwrap();
        assert_eq!(a.state, AlertState::Pending);
        // remaining 1m < grace 10m: fires at now + 10m
        assert_eq!(a.active_at, 131 * M + 10 * M - 2 * M);
        up(&store, 132 * M, 0.0);
        g2.eval(132 * M);
        assert_eq!(
            g2.rules[0].active.values().next().unwrap().state,
            AlertState::Pending
        );
    }

    #[test]
    fn template_error_shows_in_annotation_and_health() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        annotations:\n          s: '{{ humanize \"x\" }}'\n";
        let grp = parse_rule_file(Path::new("r.yml"), text).unwrap().remove(0);
        let store = Arc::new(MemStorage::new());
        let mut g = GroupState::new(grp, EvalContext::new(store.clone()));
        up(&store, 0, 0.0);
        let sent = g.eval(0);
        assert!(
            sent[0]
                .annotations
                .get_or_empty("s")
                .starts_with("<error expanding template: "),
            "{:?}",
            sent[0].annotations
        );
        assert_eq!(g.rules[0].health, RuleHealth::Err);
        assert!(!g.rules[0].last_error.is_empty());
        // A template error is not an evaluation failure (as in Prometheus).
        assert_eq!((g.rule_evaluations, g.rule_failures), (1, 0));
    }

    /// Expansions are reused while the series and value stay the same; a changed value, or a
    /// template calling `query` (whose answer changes with the store), is expanded anew.
    #[test]
    fn annotations_follow_the_value_and_query_answers() {
        let text = "groups:\n  - name: g\n    rules:\n      - alert: V\n        expr: up\n        annotations:\n          v: '{{ $labels.instance }} {{ $value | humanize }}'\n      - alert: Q\n        expr: up\n        annotations:\n          q: '{{ with query \"other\" }}{{ . | first | value }}{{ end }} {{ $value }}'\n";
        let grp = parse_rule_file(Path::new("r.yml"), text).unwrap().remove(0);
        let store = Arc::new(MemStorage::new());
        let mut g = GroupState::new(grp, EvalContext::new(store.clone()));
        let other = Labels::from_pairs([("__name__", "other")]);
        let ann = |g: &GroupState, rule: usize, name: &str| {
            let a = g.rules[rule].active.values().next().unwrap();
            a.annotations.get_or_empty(name).to_string()
        };
        for (t, up_v, other_v, want_v, want_q) in [
            (0, 1500.0, 5.0, "a 1.5k", "5 1500"),
            (M, 1500.0, 6.0, "a 1.5k", "6 1500"),
            (2 * M, 2500.0, 6.0, "a 2.5k", "6 2500"),
            (3 * M, 2500.0, 7.0, "a 2.5k", "7 2500"),
        ] {
            up(&store, t, up_v);
            store
                .append(&[(other.clone(), Sample::new(t, other_v))])
                .unwrap();
            g.eval(t);
            assert_eq!(ann(&g, 0, "v"), want_v, "at {t}");
            assert_eq!(ann(&g, 1, "q"), want_q, "at {t}");
        }
    }

    #[test]
    fn limit_exceeded_is_an_error() {
        let text = "groups:\n  - name: g\n    limit: 1\n    rules:\n      - alert: A\n        expr: up == 0\n";
        let grp = parse_rule_file(Path::new("r.yml"), text).unwrap().remove(0);
        let store = Arc::new(MemStorage::new());
        let mut g = GroupState::new(grp, EvalContext::new(store.clone()));
        for i in ["a", "b"] {
            store
                .append(&[(
                    Labels::from_pairs([("__name__", "up"), ("instance", i)]),
                    Sample::new(0, 0.0),
                )])
                .unwrap();
        }
        g.eval(0);
        assert_eq!(g.rules[0].health, RuleHealth::Err);
        assert!(g.rules[0]
            .last_error
            .contains("exceeded limit of 1 with 2 alerts"));
        g.eval(60_000);
        assert_eq!((g.rule_evaluations, g.rule_failures), (2, 2));
        assert_eq!(g.iterations, 2);
        assert!(g.evaluation_seconds_total >= g.evaluation_seconds);
    }
}
