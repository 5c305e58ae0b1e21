//! Loading Prometheus rule files: `groups:` with alerting and recording rules, validated as
//! Prometheus's `rulefmt` does, with every error naming `file:line:col`, the group and the rule.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use model::labels::is_valid_label_name;
use model::Duration;
use promql_parser::parser::Expr;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::promql;
use crate::source::SourceConfig;
use crate::template;
use crate::yaml::{first_document, null_default, text_map, Text};

/// One error found while loading rule files, located like promtool's messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The file the error is in.
    pub file: PathBuf,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// The group's name, when the error is inside a group.
    pub group: Option<String>,
    /// The rule's 1-based index in its group and its name (`alert` or `record`).
    pub rule: Option<(usize, String)>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if let Some(g) = &self.group {
            write!(f, "group {g:?}, ")?;
        }
        if let Some((i, name)) = &self.rule {
            write!(f, "rule {i}, {name:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// What a rule produces.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleKind {
    /// An alerting rule (`alert:`).
    Alerting {
        /// How long the condition must hold before the alert fires (`for:`).
        for_: Duration,
        /// How long the alert keeps firing after the condition stopped (`keep_firing_for:`).
        keep_firing_for: Duration,
        /// Annotation templates.
        annotations: BTreeMap<String, String>,
    },
    /// A recording rule (`record:`).
    Recording,
}

/// One validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The alert name or recorded metric name.
    pub name: String,
    /// The expression as written.
    pub expr_text: String,
    /// The parsed expression (checked to be supported by the evaluator).
    pub expr: Arc<Expr>,
    /// Label templates added to the result.
    pub labels: BTreeMap<String, String>,
    /// Alerting or recording, with the kind's own fields.
    pub kind: RuleKind,
    /// Where the rule starts in its group's file: 1-based line and column.
    pub line: u64,
    /// See `line`.
    pub column: u64,
}

impl Rule {
    /// Whether this is an alerting rule.
    pub fn is_alerting(&self) -> bool {
        matches!(self.kind, RuleKind::Alerting { .. })
    }
}

/// One validated group of rules.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name (unique within its file).
    pub name: String,
    /// The file it came from.
    pub file: PathBuf,
    /// Evaluation interval (`None`: the global `evaluation_interval`).
    pub interval: Option<Duration>,
    /// Maximum number of alerts / series a rule may produce (0 = no limit).
    pub limit: u64,
    /// How far back evaluation looks (`query_offset`).
    pub query_offset: Duration,
    /// Labels added to every rule's output (the rule's own labels win).
    pub labels: BTreeMap<String, String>,
    /// The rules in file order.
    pub rules: Vec<Rule>,
    /// Where its queries run (`None`: the local store): its own `source:`, else the default
    /// source it was loaded with (alertd.yaml's `rule_source:`), unless it says `source: local`.
    pub source: Option<SourceConfig>,
}

/// Every group of a set of rule files.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    /// The groups, in file order then group order.
    pub groups: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default, deserialize_with = "null_default")]
    groups: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default, deserialize_with = "null_default")]
    name: Text,
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    query_offset: Option<Spanned<String>>,
    #[serde(default)]
    labels: Option<BTreeMap<String, Text>>,
    #[serde(default, deserialize_with = "null_default")]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    source: Option<Spanned<RawSource>>,
}

/// A group's `source:` as written: `local` (evaluated over alertd's store even when a default
/// source is configured), or a query API's settings.
enum RawSource {
    Local,
    Remote(Box<SourceConfig>),
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawSource;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`local` or a mapping with url, timeout and http_config")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSource, E> {
                if v == "local" {
                    Ok(RawSource::Local)
                } else {
                    Err(E::custom(format!(
                        "expected `local` or a mapping with url, timeout and http_config, got {v:?}"
                    )))
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawSource, A::Error> {
                SourceConfig::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|c| RawSource::Remote(Box::new(c)))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    #[serde(default)]
    expr: Option<Spanned<ExprText>>,
    #[serde(default, rename = "for")]
    for_: Option<Spanned<String>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    labels: Option<Spanned<BTreeMap<String, Text>>>,
    #[serde(default)]
    annotations: Option<Spanned<BTreeMap<String, Text>>>,
}

/// `expr:` may be written as a number in YAML (`expr: 1`); Prometheus accepts that.
#[derive(Deserialize)]
#[serde(untagged)]
enum ExprText {
    S(String),
    I(i64),
    F(f64),
}

impl ExprText {
    fn text(&self) -> String {
        match self {
            ExprText::S(s) => s.clone(),
            ExprText::I(i) => i.to_string(),
            ExprText::F(f) => f.to_string(),
        }
    }
}

impl RuleSet {
    /// Expands `globs` (relative patterns resolve against the current directory) and loads every
    /// matching file. A pattern matching nothing is not an error (as in Prometheus), but a path
    /// without glob characters that does not exist is.
    pub fn load<S: AsRef<str>>(globs: &[S]) -> Result<RuleSet, Vec<RuleError>> {
        Self::load_relative(globs, None)
    }

    /// Like [`RuleSet::load`], resolving relative patterns against `base` (the directory of the
    /// config or test file that named them).
    pub fn load_relative<S: AsRef<str>>(
        globs: &[S],
        base: Option<&Path>,
    ) -> Result<RuleSet, Vec<RuleError>> {
        Self::load_with_source(globs, base, None)
    }

    /// Like [`RuleSet::load_relative`], with `default_source` (alertd.yaml's `rule_source:`)
    /// for every group without a `source:` of its own (`source: local` keeps a group local).
    pub fn load_with_source<S: AsRef<str>>(
        globs: &[S],
        base: Option<&Path>,
        default_source: Option<&SourceConfig>,
    ) -> Result<RuleSet, Vec<RuleError>> {
        let mut files = Vec::new();
        let mut errors = Vec::new();
        for g in globs {
            let g = g.as_ref();
            let pattern = match base {
                Some(b) if !Path::new(g).is_absolute() => b.join(g).to_string_lossy().into_owned(),
                _ => g.to_string(),
            };
            match glob::glob(&pattern) {
                Err(e) => errors.push(RuleError {
                    file: PathBuf::from(g),
                    line: 0,
                    column: 0,
                    group: None,
                    rule: None,
                    message: format!("invalid rule_files pattern: {e}"),
                }),
                Ok(paths) => {
                    let mut matched = false;
                    for p in paths {
                        match p {
                            Ok(p) => {
                                matched = true;
                                if !files.contains(&p) {
                                    files.push(p);
                                }
                            }
                            Err(e) => errors.push(RuleError {
                                file: e.path().to_path_buf(),
                                line: 0,
                                column: 0,
                                group: None,
                                rule: None,
                                message: format!("cannot read: {}", e.error()),
                            }),
                        }
                    }
                    let has_meta = g.contains(['*', '?', '[']);
                    if !matched && !has_meta {
                        errors.push(RuleError {
                            file: PathBuf::from(&pattern),
                            line: 0,
                            column: 0,
                            group: None,
                            rule: None,
                            message: "no such file".to_string(),
                        });
                    }
                }
            }
        }
        let mut set = RuleSet::default();
        for f in files {
            match std::fs::read_to_string(&f) {
                Err(e) => errors.push(RuleError {
                    file: f.clone(),
                    line: 0,
                    column: 0,
                    group: None,
                    rule: None,
                    message: format!("cannot read: {e}"),
                }),
                Ok(text) => match parse_rule_file_with_source(&f, &text, default_source) {
                    Ok(groups) => set.groups.extend(groups),
                    Err(e) => errors.extend(e),
                },
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    /// Every alerting and recording rule, with its group.
    pub fn rules(&self) -> impl Iterator<Item = (&Group, &Rule)> {
        self.groups
            .iter()
            .flat_map(|g| g.rules.iter().map(move |r| (g, r)))
    }
}

fn parse_duration(s: &Spanned<String>) -> Result<Duration, (u64, u64, String)> {
    s.value
        .parse::<Duration>()
        .map_err(|e| (s.referenced.line(), s.referenced.column(), e.to_string()))
}

/// Parses and validates one rule file's text; `file` is used in messages.
pub fn parse_rule_file(file: &Path, text: &str) -> Result<Vec<Group>, Vec<RuleError>> {
    parse_rule_file_with_source(file, text, None)
}

/// Like [`parse_rule_file`], with `default_source` for the groups without a `source:` of their
/// own (`source: local` keeps a group local).
pub fn parse_rule_file_with_source(
    file: &Path,
    text: &str,
    default_source: Option<&SourceConfig>,
) -> Result<Vec<Group>, Vec<RuleError>> {
    let err =
        |line: u64, column: u64, group: Option<&str>, rule: Option<(usize, &str)>, m: String| {
            RuleError {
                file: file.to_path_buf(),
                line,
                column,
                group: group.map(str::to_string),
                rule: rule.map(|(i, n)| (i, n.to_string())),
                message: m,
            }
        };
    let raw: RawFile = if first_document(text).trim().is_empty() {
        RawFile { groups: Vec::new() }
    } else {
        match serde_saphyr::from_str(first_document(text)) {
            Ok(r) => r,
            Err(e) => {
                let (l, c) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((0, 0));
                let msg = e.without_snippet().to_string();
                return Err(vec![err(l, c, None, None, msg)]);
            }
        }
    };
    let mut errors = Vec::new();
    let mut groups = Vec::new();
    let mut seen = HashSet::new();
    for sg in raw.groups {
        let gl = sg.referenced;
        let g = sg.value;
        let gname = g.name.0.clone();
        let gerr = |m: String| err(gl.line(), gl.column(), Some(&gname), None, m);
        if gname.is_empty() {
            errors.push(gerr("groupname must not be empty".into()));
        } else if !seen.insert(gname.clone()) {
            errors.push(gerr(format!(
                "groupname: {gname:?} is repeated in the same file"
            )));
        }
        let interval = match &g.interval {
            None => None,
            Some(s) => match parse_duration(s) {
                Ok(d) if d == Duration::ZERO => {
                    errors.push(err(
                        s.referenced.line(),
                        s.referenced.column(),
                        Some(&gname),
                        None,
                        "interval must be greater than zero".into(),
                    ));
                    None
                }
                Ok(d) => Some(d),
                Err((l, c, m)) => {
                    errors.push(err(l, c, Some(&gname), None, format!("interval: {m}")));
                    None
                }
            },
        };
        let query_offset = match &g.query_offset {
            None => Duration::ZERO,
            Some(s) => parse_duration(s).unwrap_or_else(|(l, c, m)| {
                errors.push(err(l, c, Some(&gname), None, format!("query_offset: {m}")));
                Duration::ZERO
            }),
        };
        let glabels = text_map(g.labels.clone().unwrap_or_default());
        for k in glabels.keys() {
            if !is_valid_label_name(k) || k == "__name__" {
                errors.push(gerr(format!("invalid label name: {k}")));
            }
        }
        let source = match &g.source {
            Some(Spanned {
                value: RawSource::Local,
                ..
            }) => None,
            Some(Spanned {
                value: RawSource::Remote(c),
                referenced,
                ..
            }) => {
                for m in c.check() {
                    errors.push(err(
                        referenced.line(),
                        referenced.column(),
                        Some(&gname),
                        None,
                        format!("source: {m}"),
                    ));
                }
                Some(SourceConfig::clone(c))
            }
            None => default_source.cloned(),
        };
        // A source group's expressions run at the source: checked for syntax only, so the
        // source's functions alertd does not implement may be used.
        let remote = source.is_some();
        let mut rules = Vec::new();
        for (i, sr) in g.rules.into_iter().enumerate() {
            let idx = i + 1;
            let rl = sr.referenced;
            let r = sr.value;
            let name = r
                .alert
                .as_ref()
                .or(r.record.as_ref())
                .map(|s| s.value.clone())
                .unwrap_or_default();
            let rerr = |l: u64, c: u64, m: String| err(l, c, Some(&gname), Some((idx, &name)), m);
            let here = |m: String| rerr(rl.line(), rl.column(), m);
            let before = errors.len();
            match (&r.record, &r.alert) {
                (Some(_), Some(_)) => {
                    errors.push(here("only one of 'record' and 'alert' must be set".into()))
                }
                (None, None) => errors.push(here("one of 'record' or 'alert' must be set".into())),
                (Some(rec), None) => {
                    if rec.value.is_empty() {
                        errors.push(here("field 'record' must be set in rule".into()));
                    } else if !is_valid_metric_name(&rec.value) {
                        errors.push(rerr(
                            rec.referenced.line(),
                            rec.referenced.column(),
                            format!("invalid recording rule name: {}", rec.value),
                        ));
                    }
                    for (field, present) in [
                        ("annotations", r.annotations.is_some()),
                        ("for", r.for_.is_some()),
                        ("keep_firing_for", r.keep_firing_for.is_some()),
                    ] {
                        if present {
                            errors.push(here(format!("invalid field '{field}' in recording rule")));
                        }
                    }
                }
                (None, Some(a)) => {
                    if a.value.is_empty() {
                        errors.push(here("field 'alert' must be set in rule".into()));
                    } else if !is_valid_label_value_alertname(&a.value) {
                        errors.push(rerr(
                            a.referenced.line(),
                            a.referenced.column(),
                            format!("invalid alert name: {}", a.value),
                        ));
                    }
                }
            }
            let mut expr_parsed = None;
            let mut expr_text = String::new();
            match &r.expr {
                None => errors.push(here("field 'expr' must be set in rule".into())),
                Some(e) => {
                    expr_text = e.value.text();
                    let (l, c) = (e.referenced.line(), e.referenced.column());
                    if expr_text.trim().is_empty() {
                        errors.push(rerr(l, c, "field 'expr' must be set in rule".into()));
                    } else {
                        let parsed = if remote {
                            promql::parse_syntax(&expr_text)
                        } else {
                            promql::parse_expr(&expr_text).map_err(|e| e.to_string())
                        };
                        match parsed {
                            Ok(x) => expr_parsed = Some(x),
                            Err(m) => errors.push(rerr(l, c, m)),
                        }
                    }
                }
            }
            let labels = r
                .labels
                .as_ref()
                .map(|s| text_map(s.value.clone()))
                .unwrap_or_default();
            if let Some(sl) = &r.labels {
                for (k, v) in &sl.value {
                    if !is_valid_label_name(k) {
                        errors.push(rerr(
                            sl.referenced.line(),
                            sl.referenced.column(),
                            format!("invalid label name: {k}"),
                        ));
                    }
                    if k == "__name__" {
                        errors.push(rerr(
                            sl.referenced.line(),
                            sl.referenced.column(),
                            "invalid label name: __name__".into(),
                        ));
                    }
                    if let Err(m) = template::check(&v.0) {
                        errors.push(rerr(
                            sl.referenced.line(),
                            sl.referenced.column(),
                            format!("label {k:?}: invalid template: {m}"),
                        ));
                    }
                }
            }
            let annotations = r
                .annotations
                .as_ref()
                .map(|s| text_map(s.value.clone()))
                .unwrap_or_default();
            if let Some(sa) = &r.annotations {
                for (k, v) in &sa.value {
                    if !is_valid_label_name(k) {
                        errors.push(rerr(
                            sa.referenced.line(),
                            sa.referenced.column(),
                            format!("invalid annotation name: {k}"),
                        ));
                    }
                    if let Err(m) = template::check(&v.0) {
                        errors.push(rerr(
                            sa.referenced.line(),
                            sa.referenced.column(),
                            format!("annotation {k:?}: invalid template: {m}"),
                        ));
                    }
                }
            }
            let mut dur = |d: &Option<Spanned<String>>, what: &str| match d {
                None => Duration::ZERO,
                Some(s) => parse_duration(s).unwrap_or_else(|(l, c, m)| {
                    errors.push(rerr(l, c, format!("{what}: {m}")));
                    Duration::ZERO
                }),
            };
            let for_ = dur(&r.for_, "for");
            let keep_firing_for = dur(&r.keep_firing_for, "keep_firing_for");
            if errors.len() != before {
                continue;
            }
            let Some(expr) = expr_parsed else { continue };
            let kind = if r.alert.is_some() {
                RuleKind::Alerting {
                    for_,
                    keep_firing_for,
                    annotations,
                }
            } else {
                RuleKind::Recording
            };
            rules.push(Rule {
                name,
                expr_text,
                expr: Arc::new(expr),
                labels,
                kind,
                line: rl.line(),
                column: rl.column(),
            });
        }
        groups.push(Group {
            name: gname,
            file: file.to_path_buf(),
            interval,
            limit: g.limit.unwrap_or(0),
            query_offset,
            labels: glabels,
            rules,
            source,
        });
    }
    if errors.is_empty() {
        Ok(groups)
    } else {
        Err(errors)
    }
}

/// Whether `s` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_valid_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(x) if x.is_ascii_alphabetic() || x == '_' || x == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_valid_label_value_alertname(s: &str) -> bool {
    // Prometheus requires the alert name to be a valid label value (any UTF-8); we only refuse
    // control characters, which would break notifications.
    !s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Vec<Group>, Vec<RuleError>> {
        parse_rule_file(Path::new("r.yml"), text)
    }

    #[test]
    fn loads_alerting_and_recording_rules() {
        let g = load_text(
            r#"groups:
  - name: g1
    interval: 30s
    limit: 5
    query_offset: 1m
    labels: { team: ops }
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 2m
        keep_firing_for: 5m
        labels: { severity: critical }
        annotations:
          summary: "{{ $labels.instance }} is down"
"#,
        )
        .unwrap();
        assert_eq!(g.len(), 1);
        let g = &g[0];
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.limit, 5);
        assert_eq!(g.query_offset, Duration::from_secs(60));
        assert_eq!(g.labels["team"], "ops");
        assert_eq!(g.rules.len(), 2);
        assert!(!g.rules[0].is_alerting());
        assert_eq!(g.rules[1].name, "Down");
        assert_eq!((g.rules[1].line, g.rules[1].column), (10, 9));
        match &g.rules[1].kind {
            RuleKind::Alerting {
                for_,
                keep_firing_for,
                annotations,
            } => {
                assert_eq!(*for_, Duration::from_secs(120));
                assert_eq!(*keep_firing_for, Duration::from_secs(300));
                assert!(annotations["summary"].contains("$labels"));
            }
            RuleKind::Recording => panic!("expected alerting"),
        }
    }

    #[test]
    fn unknown_field_names_location() {
        let e = load_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        severity: x\n")
            .unwrap_err();
        assert_eq!(e.len(), 1);
        let s = e[0].to_string();
        assert!(s.starts_with("r.yml:6:"), "{s}");
        assert!(s.contains("severity"), "{s}");
    }

    #[test]
    fn bad_expression_names_file_line_group_and_rule() {
        let e =
            load_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n")
                .unwrap_err();
        let s = e[0].to_string();
        assert!(
            s.starts_with("r.yml:5:15: group \"g\", rule 1, \"A\": "),
            "{s}"
        );
        assert!(s.contains("could not parse expression"), "{s}");
    }

    #[test]
    fn unsupported_construct_refused_with_its_name() {
        let e = load_text(
            "groups:\n  - name: g\n    rules:\n      - record: x\n        expr: max_over_time(sort_by_label(a, \"x\")[5m:1m])\n      - record: y\n        expr: double_exponential_smoothing(a[5m], 0.5, 0.5)\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].to_string().contains("sort_by_label"), "{}", e[0]);
        assert!(
            e[1].to_string().contains("double_exponential_smoothing"),
            "{}",
            e[1]
        );
        assert_eq!(e[1].rule, Some((2, "y".to_string())));
    }

    #[test]
    fn validation_errors_like_rulefmt() {
        let e = load_text(
            r#"groups:
  - name: g
    rules:
      - record: "bad name"
        expr: up
      - alert: A
        record: b
        expr: up
      - record: c
        expr: up
        for: 1m
      - alert: D
        expr: up
        for: 1x
  - name: g
    rules: []
"#,
        )
        .unwrap_err();
        let all: Vec<String> = e.iter().map(ToString::to_string).collect();
        let joined = all.join("\n");
        assert!(
            joined.contains("invalid recording rule name: bad name"),
            "{joined}"
        );
        assert!(
            joined.contains("only one of 'record' and 'alert' must be set"),
            "{joined}"
        );
        assert!(
            joined.contains("invalid field 'for' in recording rule"),
            "{joined}"
        );
        assert!(
            joined.contains("r.yml:14:14: group \"g\", rule 4, \"D\": for: "),
            "{joined}"
        );
        assert!(joined.contains("is repeated in the same file"), "{joined}");
    }

    #[test]
    fn bad_template_refused_at_load() {
        let e = load_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        annotations:\n          s: \"{{ $labels.x \"\n")
            .unwrap_err();
        assert!(
            e[0].to_string()
                .contains("annotation \"s\": invalid template"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn globs_expand_and_missing_plain_file_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        for n in ["a.rules.yml", "b.rules.yml"] {
            std::fs::write(
                d.path().join(n),
                format!(
                    "groups:\n  - name: {n}\n    rules:\n      - record: x\n        expr: up\n"
                ),
            )
            .unwrap();
        }
        let set = RuleSet::load_relative(&["*.rules.yml"], Some(d.path())).unwrap();
        assert_eq!(set.groups.len(), 2);
        assert_eq!(set.rules().count(), 2);
        let e = RuleSet::load_relative(&["missing.yml"], Some(d.path())).unwrap_err();
        assert!(e[0].to_string().contains("no such file"), "{}", e[0]);
        assert!(RuleSet::load_relative(&["none-*.yml"], Some(d.path()))
            .unwrap()
            .groups
            .is_empty());
    }
}
