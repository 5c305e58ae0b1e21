//! Custom notification templates as Alertmanager has them: Go templates in receiver fields
//! (`title: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }}'`) and template
//! files (`templates: ['/etc/alertd/templates/*.tmpl']`) whose `{{ define "name" }}` blocks
//! fields call with `{{ template "name" . }}`. Rendered with the `gtmpl` crate over
//! Alertmanager's data (`.Receiver`, `.Status`, `.Alerts` with `.Labels`, `.Annotations`,
//! `.StartsAt`, `.EndsAt`, `.GeneratorURL`, `.Fingerprint`, `.GroupLabels`, `.CommonLabels`,
//! `.CommonAnnotations`, `.ExternalURL`) and functions (`toUpper`, `toLower`, `title`,
//! `trimSpace`, `join`, `match`, `reReplaceAll`, `safeHtml`, `stringSlice`, plus Go's builtins).
//!
//! Go calls methods on that data (`.Alerts.Firing`, `.Labels.SortedPairs`, `.Names`,
//! `.Values`, `.CommonLabels.Remove .GroupLabels.Names`); gtmpl has no methods, so those
//! selectors are rewritten into function calls before parsing. Alertmanager's `__subject`,
//! `__alertmanagerURL`, `__text_alert_list` and `*.default.*` templates are predefined (the
//! receivers' defaults as in Alertmanager 0.25's `template/default.tmpl`, 0.26's for Teams).
//!
//! Known differences: `range` over a label map visits keys in arbitrary order (Go sorts them;
//! use `.SortedPairs` for a stable order), and time values are strings (no `.StartsAt.Format`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use gtmpl::{Context, Func, FuncError, Template, Value};
use regex::Regex;

use crate::payload::Notification;

/// Alertmanager's predefined templates, in the Go template syntax alertd renders.
const DEFAULTS: &str = r#"
{{ define "__alertmanager" }}alertd{{ end }}
{{ define "__alertmanagerURL" }}{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}{{ end }}
{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}{{ end }}
{{ define "__description" }}{{ end }}
{{ define "__text_alert_list" }}{{ range . }}Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Source: {{ .GeneratorURL }}
{{ end }}{{ end }}
{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "slack.default.fallback" }}{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}{{ end }}
{{ define "slack.default.callbackid" }}{{ end }}
{{ define "slack.default.pretext" }}{{ end }}
{{ define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "slack.default.iconemoji" }}{{ end }}
{{ define "slack.default.iconurl" }}{{ end }}
{{ define "slack.default.text" }}{{ end }}
{{ define "slack.default.footer" }}{{ end }}
{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}
{{ define "opsgenie.default.message" }}{{ template "__subject" . }}{{ end }}
{{ define "opsgenie.default.description" }}{{ .CommonAnnotations.SortedPairs.Values | join " " }}
{{ if gt (len .Alerts.Firing) 0 -}}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{- end }}
{{ if gt (len .Alerts.Resolved) 0 -}}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{- end }}
{{- end }}
{{ define "opsgenie.default.source" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "telegram.default.message" }}
{{ if gt (len .Alerts.Firing) 0 }}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{ end }}
{{ if gt (len .Alerts.Resolved) 0 }}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{ end }}
{{ end }}
{{ define "discord.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "discord.default.message" }}
{{ if gt (len .Alerts.Firing) 0 }}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{ end }}
{{ if gt (len .Alerts.Resolved) 0 }}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{ end }}
{{ end }}
{{ define "__text_alert_list_markdown" }}{{ range . }}
Labels:
{{ range .Labels.SortedPairs }}  - {{ .Name }} = {{ .Value }}
{{ end }}
Annotations:
{{ range .Annotations.SortedPairs }}  - {{ .Name }} = {{ .Value }}
{{ end }}
Source: {{ .GeneratorURL }}
{{ end }}
{{ end }}
{{ define "msteams.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "msteams.default.text" }}
{{ if gt (len .Alerts.Firing) 0 }}
# Alerts Firing:
{{ template "__text_alert_list_markdown" .Alerts.Firing }}
{{ end }}
{{ if gt (len .Alerts.Resolved) 0 }}
# Alerts Resolved:
{{ template "__text_alert_list_markdown" .Alerts.Resolved }}
{{ end }}
{{ end }}
{{ define "webex.default.message" }}{{ .CommonAnnotations.SortedPairs.Values | join " " }}
{{ if gt (len .Alerts.Firing) 0 }}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{ end }}
{{ if gt (len .Alerts.Resolved) 0 }}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{ end }}
{{ end }}
{{ define "victorops.default.state_message" }}{{ .CommonAnnotations.SortedPairs.Values | join " " }}
{{ if gt (len .Alerts.Firing) 0 -}}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{- end }}
{{ if gt (len .Alerts.Resolved) 0 -}}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{- end }}
{{- end }}
{{ define "victorops.default.entity_display_name" }}{{ template "__subject" . }}{{ end }}
{{ define "victorops.default.monitoring_tool" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pushover.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "pushover.default.message" }}{{ .CommonAnnotations.SortedPairs.Values | join " " }}
{{ if gt (len .Alerts.Firing) 0 }}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{ end }}
{{ if gt (len .Alerts.Resolved) 0 }}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{ end }}
{{ end }}
{{ define "pushover.default.url" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "ntfy.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "ntfy.default.message" }}{{ range .Alerts }}{{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Labels.alertname }}{{ end }}{{ if eq .Status "resolved" }} (resolved){{ end }}
{{ end }}{{ end }}
{{ define "ntfy.default.priority" }}{{ if eq .Status "firing" }}high{{ else }}default{{ end }}{{ end }}
{{ define "ntfy.default.tags" }}{{ if eq .Status "firing" }}rotating_light{{ else }}white_check_mark{{ end }}{{ end }}
{{ define "ntfy.default.click" }}{{ template "__alertmanagerURL" . }}{{ end }}
"#;

/// A template file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A glob is malformed.
    #[error("templates: invalid glob {glob:?}: {error}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        error: String,
    },
    /// A file could not be read.
    #[error("templates: cannot read {file}: {error}")]
    Read {
        /// The file.
        file: String,
        /// Why.
        error: String,
    },
    /// A file or field is not a valid template.
    #[error("template {name}: {error}")]
    Parse {
        /// The file or field.
        name: String,
        /// Why.
        error: String,
    },
}

/// The template files of a configuration (and Alertmanager's predefined templates).
#[derive(Default)]
pub struct Templates {
    /// (name, rewritten text) of every file, defaults first.
    sources: Vec<(String, String)>,
    /// Parsed templates by field text: every field is parsed with all the files once, not at
    /// every notification.
    parsed: Mutex<HashMap<String, Arc<Template>>>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<&str> = self.sources.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Templates")
            .field("files", &files)
            .finish_non_exhaustive()
    }
}

impl Templates {
    /// Loads the files matching `globs` (relative globs against `base`) and checks that each
    /// parses. A glob matching nothing is not an error (as in Alertmanager).
    pub fn load(globs: &[String], base: Option<&Path>) -> Result<Self, TemplateError> {
        let mut t = Templates {
            sources: vec![("default.tmpl".into(), rewrite(DEFAULTS))],
            parsed: Mutex::default(),
        };
        for g in globs {
            let pattern = match base {
                Some(b) if Path::new(g).is_relative() => b.join(g).display().to_string(),
                _ => g.clone(),
            };
            let paths = glob::glob(&pattern).map_err(|e| TemplateError::Glob {
                glob: g.clone(),
                error: e.to_string(),
            })?;
            let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(|e| TemplateError::Read {
                    file: f.display().to_string(),
                    error: e.to_string(),
                })?;
                let name = f.display().to_string();
                precheck(&text).map_err(|error| TemplateError::Parse {
                    name: name.clone(),
                    error,
                })?;
                t.sources.push((name, rewrite(&text)));
            }
        }
        t.base()
            .map_err(|(name, error)| TemplateError::Parse { name, error })?;
        Ok(t)
    }

    /// Every file parsed into one template set.
    fn base(&self) -> Result<Template, (String, String)> {
        let mut t = with_funcs("__field");
        for (name, text) in &self.sources {
            t.add_template(name.clone(), text.clone())
                .map_err(|e| (name.clone(), e.to_string()))?;
        }
        Ok(t)
    }

    /// A field's text parsed with every file's definitions (cached by text).
    fn parsed(&self, field: &str, text: &str) -> Result<Arc<Template>, TemplateError> {
        let cache = |m: &Mutex<HashMap<String, Arc<Template>>>| {
            m.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(text)
                .cloned()
        };
        if let Some(t) = cache(&self.parsed) {
            return Ok(t);
        }
        let err = |error: String| TemplateError::Parse {
            name: field.to_string(),
            error,
        };
        precheck(text).map_err(err)?;
        let mut t = self.base().map_err(|(_, e)| err(e))?;
        t.parse(rewrite(text)).map_err(|e| err(e.to_string()))?;
        let t = Arc::new(t);
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(text.to_string(), t.clone());
        Ok(t)
    }

    /// Checks that a field's text parses (with these files' definitions).
    pub fn check(&self, field: &str, text: &str) -> Result<(), TemplateError> {
        self.parsed(field, text).map(|_| ())
    }

    /// A configured field's text for `n`: `default()` when unset or one of Alertmanager's
    /// default references (rendered natively); otherwise the template. A template that fails
    /// at send time is logged and the default text sent instead, so the alert still goes out.
    pub fn field(
        &self,
        name: &str,
        configured: Option<&str>,
        n: &Notification,
        default: impl FnOnce() -> String,
    ) -> String {
        match configured {
            None => default(),
            Some(t) if crate::template::is_default_ref(Some(t)) => default(),
            Some(t) => self.render(name, t, n).unwrap_or_else(|e| {
                tracing::error!(receiver = %n.receiver, "{e}; sending the default text instead");
                default()
            }),
        }
    }

    /// Like [`Templates::field`] for optional fields: `None` when unset or a default reference
    /// (whose default is empty).
    pub fn optional(
        &self,
        name: &str,
        configured: Option<&str>,
        n: &Notification,
    ) -> Option<String> {
        configured
            .filter(|t| !crate::template::is_default_ref(Some(t)))
            .map(|t| self.field(name, Some(t), n, String::new))
            .filter(|s| !s.is_empty())
    }

    /// Renders a field's text for `n`. Plain text (without `{{`) is returned as is.
    pub fn render(
        &self,
        field: &str,
        text: &str,
        n: &Notification,
    ) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let out = self
            .parsed(field, text)?
            .render(&Context::from(data(n)))
            .map_err(|e| TemplateError::Parse {
                name: field.to_string(),
                error: e.to_string(),
            })?;
        // Go prints a missing key of a map[string]string as "", gtmpl as "<no value>".
        Ok(out.replace("<no value>", ""))
    }
}

use model::gotemplate::{self, precheck};

/// A selector chain such as `.Alerts`, `$.CommonLabels`, `$a.Labels` (no method part).
const CHAIN: &str =
    r"(\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*|(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)";

/// Rewrites Go method calls on Alertmanager's data into gtmpl function calls, innermost first:
/// `X.Firing` → `(__firing X)`, `X.SortedPairs` → `(__sortedPairs X)`, `X.Names`/`X.Values`
/// → `(__names X)`/`(__values X)`, `X.Remove Y` → `__remove X Y`.
fn rewrite(text: &str) -> String {
    static RES: OnceLock<Vec<(Regex, String)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        let mut v = Vec::new();
        for (method, func) in [
            ("Firing", "__firing"),
            ("Resolved", "__resolved"),
            ("SortedPairs", "__sortedPairs"),
            ("Names", "__names"),
            ("Values", "__values"),
        ] {
            // On a selector chain: `.Alerts.Firing`.
            let re = Regex::new(&format!(r"{CHAIN}\.{method}\b")).expect("valid regex");
            v.push((re, format!("({func} $1)")));
            // On dot itself: `{{ with .CommonLabels }}{{ .Values }}`.
            let re = Regex::new(&format!(r"(^|[\s(|{{])\.{method}\b")).expect("valid regex");
            v.push((re, format!("${{1}}({func} .)")));
        }
        v
    });
    static REMOVE: OnceLock<Regex> = OnceLock::new();
    let remove =
        REMOVE.get_or_init(|| Regex::new(&format!(r"{CHAIN}\.Remove\b")).expect("valid regex"));
    // Only inside actions.
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let end = after.find("}}").map_or(after.len(), |j| j + 2);
        let mut action = after[..end].to_string();
        // Repeat until stable, so that chains like `.GroupLabels.SortedPairs.Values` become
        // `(__values (__sortedPairs .GroupLabels))`.
        loop {
            let before = action.clone();
            for (re, with) in res {
                action = re.replace_all(&action, with.as_str()).into_owned();
            }
            action = rewrite_paren_methods(&action);
            if action == before {
                break;
            }
        }
        action = remove.replace_all(&action, "__remove $1").into_owned();
        out.push_str(&action);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `(f X).Values` → `(__values (f X))` for the methods above, after a first rewrite.
fn rewrite_paren_methods(action: &str) -> String {
    let mut s = action.to_string();
    for (method, func) in [
        ("Values", "__values"),
        ("Names", "__names"),
        ("SortedPairs", "__sortedPairs"),
    ] {
        let pat = format!(").{method}");
        while let Some(end) = s.find(&pat) {
            // Find the matching "(".
            let bytes = s.as_bytes();
            let mut depth = 0i32;
            let mut start = None;
            for k in (0..=end).rev() {
                match bytes[k] {
                    b')' => depth += 1,
                    b'(' => {
                        depth -= 1;
                        if depth == 0 {
                            start = Some(k);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let Some(start) = start else { break };
            let inner = s[start..=end].to_string();
            s = format!(
                "{}({func} {inner}){}",
                &s[..start],
                &s[end + 1 + method.len() + 1..]
            );
        }
    }
    s
}

fn kv(l: &model::Labels) -> Value {
    Value::Map(
        l.iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect(),
    )
}

/// Alertmanager's template data for `n`.
fn data(n: &Notification) -> Value {
    let alerts: Vec<Value> = n
        .alerts
        .iter()
        .map(|a| {
            let mut m = HashMap::new();
            m.insert("Status".into(), Value::String(a.status.clone()));
            m.insert("Labels".into(), kv(&a.labels));
            m.insert("Annotations".into(), kv(&a.annotations));
            m.insert("StartsAt".into(), Value::String(a.starts_at.clone()));
            m.insert("EndsAt".into(), Value::String(a.ends_at.clone()));
            m.insert(
                "GeneratorURL".into(),
                Value::String(a.generator_url.clone()),
            );
            m.insert("Fingerprint".into(), Value::String(a.fingerprint.clone()));
            Value::Object(m)
        })
        .collect();
    let mut root = HashMap::new();
    root.insert("Receiver".into(), Value::String(n.receiver.clone()));
    root.insert("Status".into(), Value::String(n.status.clone()));
    root.insert("Alerts".into(), Value::Array(alerts));
    root.insert("GroupLabels".into(), kv(&n.group_labels));
    root.insert("CommonLabels".into(), kv(&n.common_labels));
    root.insert("CommonAnnotations".into(), kv(&n.common_annotations));
    root.insert("ExternalURL".into(), Value::String(n.external_url.clone()));
    Value::Object(root)
}

fn with_funcs(name: &str) -> Template {
    let mut t = Template::with_name(name);
    let funcs: &[(&str, Func)] = &[
        ("len", len_any as Func),
        ("toUpper", to_upper as Func),
        ("toLower", to_lower as Func),
        ("title", title as Func),
        ("trimSpace", trim_space as Func),
        ("join", join as Func),
        ("match", match_re as Func),
        ("reReplaceAll", re_replace_all as Func),
        ("safeHtml", identity as Func),
        ("stringSlice", string_slice as Func),
        ("__firing", firing as Func),
        ("__resolved", resolved as Func),
        ("__sortedPairs", sorted_pairs as Func),
        ("__names", names as Func),
        ("__values", values as Func),
        ("__remove", remove as Func),
    ];
    t.add_funcs(funcs);
    t
}

fn ferr(m: impl Into<String>) -> FuncError {
    FuncError::Generic(m.into())
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::NoValue | Value::Nil => String::new(),
        other => other.to_string(),
    }
}

fn arg<'a>(name: &str, a: &'a [Value], i: usize) -> Result<&'a Value, FuncError> {
    a.get(i)
        .ok_or_else(|| ferr(format!("{name}: missing argument {}", i + 1)))
}

/// Go's `len`, which gtmpl lacks for maps.
fn len_any(a: &[Value]) -> Result<Value, FuncError> {
    let n = match arg("len", a, 0)? {
        Value::Map(m) | Value::Object(m) => m.len(),
        Value::Array(v) => v.len(),
        Value::String(s) => s.len(),
        Value::NoValue | Value::Nil => 0,
        other => return Err(ferr(format!("len of {other}"))),
    };
    Ok(Value::from(n as i64))
}

fn to_upper(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(gotemplate::to_upper(&str_of(arg(
        "toUpper", a, 0,
    )?))))
}

fn to_lower(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(gotemplate::to_lower(&str_of(arg(
        "toLower", a, 0,
    )?))))
}

/// Alertmanager's `title` is `cases.Title` (not Prometheus's `strings.Title`).
fn title(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(gotemplate::cases_title(&str_of(arg(
        "title", a, 0,
    )?))))
}

fn trim_space(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        str_of(arg("trimSpace", a, 0)?).trim().to_string(),
    ))
}

fn list(name: &str, v: &Value) -> Result<Vec<Value>, FuncError> {
    match v {
        Value::Array(a) => Ok(a.clone()),
        Value::NoValue | Value::Nil => Ok(Vec::new()),
        other => Err(ferr(format!("{name}: expected a list, got {other}"))),
    }
}

/// `join SEP LIST` (Alertmanager's argument order, so that `.Values | join " "` works).
fn join(a: &[Value]) -> Result<Value, FuncError> {
    let sep = str_of(arg("join", a, 0)?);
    let items = list("join", arg("join", a, 1)?)?;
    let parts: Vec<String> = items.iter().map(str_of).collect();
    Ok(Value::String(parts.join(&sep)))
}

fn match_re(a: &[Value]) -> Result<Value, FuncError> {
    gotemplate::regex_match(&str_of(arg("match", a, 0)?), &str_of(arg("match", a, 1)?))
        .map(Value::Bool)
        .map_err(|e| ferr(e.to_string()))
}

fn re_replace_all(a: &[Value]) -> Result<Value, FuncError> {
    gotemplate::re_replace_all(
        &str_of(arg("reReplaceAll", a, 0)?),
        &str_of(arg("reReplaceAll", a, 1)?),
        &str_of(arg("reReplaceAll", a, 2)?),
    )
    .map(Value::String)
    .map_err(|e| ferr(e.to_string()))
}

fn identity(a: &[Value]) -> Result<Value, FuncError> {
    Ok(arg("safeHtml", a, 0)?.clone())
}

fn string_slice(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(
        a.iter().map(|v| Value::String(str_of(v))).collect(),
    ))
}

fn by_status(name: &str, a: &[Value], status: &str) -> Result<Value, FuncError> {
    let items = list(name, arg(name, a, 0)?)?;
    Ok(Value::Array(
        items
            .into_iter()
            .filter(|x| match x {
                Value::Object(m) | Value::Map(m) => {
                    m.get("Status").map(str_of).as_deref() == Some(status)
                }
                _ => false,
            })
            .collect(),
    ))
}

fn firing(a: &[Value]) -> Result<Value, FuncError> {
    by_status(".Firing", a, "firing")
}

fn resolved(a: &[Value]) -> Result<Value, FuncError> {
    by_status(".Resolved", a, "resolved")
}

/// A label map's entries sorted by name (Alertmanager's `KV.SortedPairs`).
fn pairs(name: &str, v: &Value) -> Result<Vec<(String, String)>, FuncError> {
    match v {
        Value::Map(m) | Value::Object(m) => {
            let mut p: Vec<(String, String)> =
                m.iter().map(|(k, v)| (k.clone(), str_of(v))).collect();
            p.sort();
            Ok(p)
        }
        // Already a list of pairs.
        Value::Array(items) => Ok(items
            .iter()
            .filter_map(|i| match i {
                Value::Object(o) => Some((
                    o.get("Name").map(str_of).unwrap_or_default(),
                    o.get("Value").map(str_of).unwrap_or_default(),
                )),
                _ => None,
            })
            .collect()),
        Value::NoValue | Value::Nil => Ok(Vec::new()),
        other => Err(ferr(format!("{name}: expected labels, got {other}"))),
    }
}

fn sorted_pairs(a: &[Value]) -> Result<Value, FuncError> {
    let p = pairs(".SortedPairs", arg(".SortedPairs", a, 0)?)?;
    Ok(Value::Array(
        p.into_iter()
            .map(|(k, v)| {
                let mut o = HashMap::new();
                o.insert("Name".to_string(), Value::String(k));
                o.insert("Value".to_string(), Value::String(v));
                Value::Object(o)
            })
            .collect(),
    ))
}

fn names(a: &[Value]) -> Result<Value, FuncError> {
    let p = pairs(".Names", arg(".Names", a, 0)?)?;
    Ok(Value::Array(
        p.into_iter().map(|(k, _)| Value::String(k)).collect(),
    ))
}

fn values(a: &[Value]) -> Result<Value, FuncError> {
    let p = pairs(".Values", arg(".Values", a, 0)?)?;
    Ok(Value::Array(
        p.into_iter().map(|(_, v)| Value::String(v)).collect(),
    ))
}

/// `KV.Remove NAMES`: the labels without those names.
fn remove(a: &[Value]) -> Result<Value, FuncError> {
    let p = pairs(".Remove", arg(".Remove", a, 0)?)?;
    let drop: Vec<String> = list(".Remove", arg(".Remove", a, 1)?)?
        .iter()
        .map(str_of)
        .collect();
    Ok(Value::Map(
        p.into_iter()
            .filter(|(k, _)| !drop.contains(k))
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::NotifiedAlert;
    use model::{Alert, Labels};

    fn notification(status_end: Option<i64>) -> Notification {
        let mk = |i: &str, end| {
            NotifiedAlert::from_alert(
                &Alert {
                    labels: Labels::from_pairs([
                        ("alertname", "DiskFull"),
                        ("instance", i),
                        ("severity", "warning"),
                    ]),
                    annotations: Labels::from_pairs([("summary", format!("{i} is full"))]),
                    starts_at: 1_000,
                    ends_at: end,
                    generator_url: "http://alertd/graph".into(),
                },
                10_000,
            )
        };
        Notification::new(
            "ops",
            "{}:{alertname=\"DiskFull\"}",
            Labels::from_pairs([("alertname", "DiskFull")]),
            vec![mk("a", None), mk("b", status_end)],
            "http://alertd:9797",
        )
    }

    #[test]
    fn methods_are_rewritten_into_calls() {
        assert_eq!(
            rewrite("x {{ .Alerts.Firing | len }} {{ $.Alerts.Resolved }}"),
            "x {{ (__firing .Alerts) | len }} {{ (__resolved $.Alerts) }}"
        );
        assert_eq!(
            rewrite("{{ .GroupLabels.SortedPairs.Values | join \" \" }}"),
            "{{ (__values (__sortedPairs .GroupLabels)) | join \" \" }}"
        );
        assert_eq!(
            rewrite("{{ with .CommonLabels.Remove .GroupLabels.Names }}"),
            "{{ with __remove .CommonLabels (__names .GroupLabels) }}"
        );
        assert_eq!(
            rewrite("no {{actions}} .Alerts.Firing"),
            "no {{actions}} .Alerts.Firing"
        );
    }

    #[test]
    fn subject_equals_the_native_default() {
        let t = Templates::load(&[], None).unwrap();
        for end in [None, Some(5_000)] {
            let n = notification(end);
            let got = t
                .render("title", "{{ template \"__subject\" . }}", &n)
                .unwrap();
            assert_eq!(got, crate::template::subject(&n));
        }
    }

    #[test]
    fn custom_files_and_inline_fields_render() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ops.tmpl"),
            r#"{{ define "ops.title" }}[{{ .Status | toUpper }}:{{ .Alerts.Firing | len }}] {{ .CommonLabels.alertname }}{{ end }}
{{ define "ops.text" }}{{ range .Alerts }}{{ .Labels.instance }}: {{ .Annotations.summary }}
{{ end }}{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}{{ end }}"#,
        )
        .unwrap();
        let t = Templates::load(&["*.tmpl".into()], Some(dir.path())).unwrap();
        let n = notification(Some(5_000));
        assert_eq!(
            t.render("title", "{{ template \"ops.title\" . }}", &n)
                .unwrap(),
            "[FIRING:1] DiskFull"
        );
        assert_eq!(
            t.render("text", "{{ template \"ops.text\" . }}", &n)
                .unwrap(),
            "a: a is full\nb: b is full\nalertname=DiskFull;severity=warning;"
        );
        assert_eq!(
            t.render(
                "title",
                "{{ .CommonLabels.alertname | title }} on {{ len .Alerts }} hosts ({{ .Receiver }}) {{ .CommonLabels.nope }}",
                &n
            )
            .unwrap(),
            // Alertmanager 0.25's `title` (cases.Title) lowers the rest of a word, as amtool
            // 0.25 renders it: `DiskFull` → `Diskfull`.
            "Diskfull on 2 hosts (ops) "
        );
        assert_eq!(t.render("x", "plain", &n).unwrap(), "plain");
    }

    #[test]
    fn bad_templates_are_errors_not_hangs() {
        let t = Templates::load(&[], None).unwrap();
        let n = notification(None);
        for bad in [
            "{{ .Status",
            "{{ \"open }}",
            "{{ template \"nope\" . }}",
            "{{ .Status | nofunc }}",
        ] {
            assert!(t.render("title", bad, &n).is_err(), "{bad}");
        }
        assert!(t.check("title", "{{ .Status | nofunc }}").is_err());
        assert!(t.check("title", "{{ .Status | toUpper }}").is_ok());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.tmpl"), "{{ define \"x\" }}{{ .A ").unwrap();
        let e = Templates::load(&["*.tmpl".into()], Some(dir.path())).unwrap_err();
        assert!(e.to_string().contains("bad.tmpl"), "{e}");
    }
}
