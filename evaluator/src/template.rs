//! Go text/template expansion of alert labels and annotations, as Prometheus does it, on top of
//! the `gtmpl` crate (Go template syntax: pipelines, `if`/`else`/`range`/`with`, `printf`,
//! variables). Prometheus's functions are added here: `humanize*`, `title`, `toUpper`,
//! `toLower`, `query`, `first`, `value`, `label`, `strvalue`, `match`, `reReplaceAll`, `args`,
//! `safeHtml`, `stripPort`, `stripDomain`, `externalURL`.
//!
//! Known difference: `range` over a map (e.g. `$labels`) visits keys in arbitrary order, where
//! Go sorts them.
//!
//! Values (`$value`, `value`) are passed as Go-formatted strings, so `{{ $value }}` prints as
//! Go prints a float64 (`1e+06`); `printf` and `eq`/`ne`/`lt`/`le`/`gt`/`ge` are replaced by
//! versions that treat numeric strings as numbers.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use gtmpl::{Context, Func, FuncError, Template, Value};
use model::storage::SeriesStore;
use model::{Labels, Timestamp};

/// The data a template sees: `$labels`, `$externalLabels`, `$externalURL`, `$value`.
#[derive(Debug, Clone)]
pub struct TemplateData<'a> {
    /// The alert's labels (`$labels`).
    pub labels: &'a Labels,
    /// The configured external labels (`$externalLabels`).
    pub external_labels: &'a Labels,
    /// The configured external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The alert's value (`$value`).
    pub value: f64,
}

/// Where the `query` template function reads from.
#[derive(Clone)]
pub struct QueryContext {
    /// The store.
    pub store: Arc<dyn SeriesStore>,
    /// The group's `source:`, which answers instead of the store when set.
    pub source: Option<Arc<dyn crate::source::QuerySource>>,
    /// The evaluation time (ms).
    pub ts: Timestamp,
}

thread_local! {
    /// Parsed templates by text: parsing dominates expansion cost, and rule texts repeat.
    static CACHE: RefCell<HashMap<String, std::rc::Rc<Template>>> = RefCell::new(HashMap::new());
    static QUERY: RefCell<Option<QueryContext>> = const { RefCell::new(None) };
    static EXTERNAL_URL: RefCell<String> = const { RefCell::new(String::new()) };
    /// Variables assigned inside a `range` but declared outside it (see `syntax.rs`).
    static CELLS: RefCell<HashMap<String, Value>> = RefCell::new(HashMap::new());
}

const PRELUDE: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

fn template_with_funcs(name: &str) -> Template {
    let mut t = Template::with_name(name);
    let funcs: &[(&str, Func)] = &[
        ("humanize", humanize as Func),
        ("humanize1024", humanize1024 as Func),
        ("humanizeDuration", humanize_duration as Func),
        ("humanizePercentage", humanize_percentage as Func),
        ("humanizeTimestamp", humanize_timestamp as Func),
        ("title", title as Func),
        ("toUpper", to_upper as Func),
        ("toLower", to_lower as Func),
        ("query", query as Func),
        ("first", first as Func),
        ("value", value as Func),
        ("label", label as Func),
        ("strvalue", strvalue as Func),
        ("match", match_re as Func),
        ("reReplaceAll", re_replace_all as Func),
        ("args", args as Func),
        ("safeHtml", safe_html as Func),
        ("stripPort", strip_port as Func),
        ("stripDomain", strip_domain as Func),
        ("externalURL", external_url as Func),
        ("urlquery", urlquery as Func),
        ("__cell_set", cell_set as Func),
        ("__cell_get", cell_get as Func),
        ("printf", printf as Func),
        ("eq", cmp_eq as Func),
        ("ne", cmp_ne as Func),
        ("lt", cmp_lt as Func),
        ("le", cmp_le as Func),
        ("gt", cmp_gt as Func),
        ("ge", cmp_ge as Func),
    ];
    t.add_funcs(funcs);
    t
}

use model::gofmt::{format_e, format_f, format_g};
use model::gotemplate::{self, precheck};

mod syntax;

/// Checks that `text` parses as a template (with Prometheus's variables and functions).
pub fn check(text: &str) -> Result<(), String> {
    if !text.contains("{{") {
        return Ok(());
    }
    precheck(text)?;
    let text = syntax::rewrite(text)?;
    let mut t = template_with_funcs("check");
    t.parse(format!("{PRELUDE}{text}"))
        .map_err(|e| e.to_string())
}

fn labels_value(l: &Labels) -> Value {
    Value::Map(
        l.iter()
            .map(|l| (l.name.clone(), Value::String(l.value.clone())))
            .collect(),
    )
}

/// Expands `text` with `data`; `query` (when given) serves the `query` function.
/// An error is returned as Prometheus words it (the caller puts
/// `<error expanding template: ...>` in the annotation).
pub fn expand(
    name: &str,
    text: &str,
    data: &TemplateData<'_>,
    query: Option<QueryContext>,
) -> Result<String, String> {
    if !text.contains("{{") {
        return Ok(text.to_string());
    }
    Expander::new(data, query).expand(name, text)
}

/// Expands several templates with the same data (one alert's labels and annotations), building
/// the template data once, when a template first needs it: the common forms (see [`Simple`])
/// are expanded without gtmpl.
pub struct Expander {
    ctx: std::cell::OnceCell<Context>,
    labels: Labels,
    external_labels: Labels,
    value: f64,
    query: Option<QueryContext>,
    external_url: String,
}

/// One part of a template made only of text and the actions most alert templates use,
/// expanded without gtmpl: `{{ $labels.NAME }}`, `{{ $value }}`, `{{ $value | F }}` (F one of
/// the `humanize` functions) and `{{ printf "FORMAT" $value }}`. Each gives what gtmpl gives:
/// the same functions are called with the same arguments.
#[derive(Debug, Clone)]
enum Simple {
    Text(String),
    Label(String),
    Value,
    Pipe(Func),
    Printf(String),
}

/// `text` as [`Simple`] parts, or `None` when it uses anything else.
fn simple_parts(text: &str) -> Option<Vec<Simple>> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Simple::Text(rest[..open].to_string()));
        }
        // (A "}}" in the text is left to gtmpl, as is anything unusual.)
        if rest[..open].contains("}}") {
            return None;
        }
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let body = &after[..close];
        // Trim markers (`{{-`, `-}}`) and comments are left to gtmpl.
        if body.starts_with('-') || body.ends_with('-') || body.contains("/*") {
            return None;
        }
        parts.push(simple_action(body.trim_matches(|c| c == ' ' || c == '\t'))?);
        rest = &after[close + 2..];
    }
    if rest.contains("}}") {
        return None;
    }
    if !rest.is_empty() {
        parts.push(Simple::Text(rest.to_string()));
    }
    Some(parts)
}

fn simple_action(body: &str) -> Option<Simple> {
    let ident = |s: &str| {
        let mut c = s.chars();
        c.next()
            .is_some_and(|f| f.is_ascii_alphabetic() || f == '_')
            && c.all(|x| x.is_ascii_alphanumeric() || x == '_')
    };
    if body == "$value" {
        return Some(Simple::Value);
    }
    if let Some(name) = body.strip_prefix("$labels.") {
        return ident(name).then(|| Simple::Label(name.to_string()));
    }
    if let Some(f) = body.strip_prefix("$value") {
        let f = f.trim_start_matches([' ', '\t']).strip_prefix('|')?;
        let f: Func = match f.trim_matches([' ', '\t']) {
            "humanize" => humanize,
            "humanize1024" => humanize1024,
            "humanizeDuration" => humanize_duration,
            "humanizePercentage" => humanize_percentage,
            _ => return None,
        };
        return Some(Simple::Pipe(f));
    }
    let fmt = body
        .strip_prefix("printf")?
        .strip_prefix([' ', '\t'])?
        .trim_start_matches([' ', '\t'])
        .strip_prefix('"')?;
    let (fmt, arg) = fmt.split_once('"')?;
    if fmt.contains('\\')
        || arg.trim_matches([' ', '\t']) != "$value"
        || !arg.starts_with([' ', '\t'])
    {
        return None;
    }
    Some(Simple::Printf(fmt.to_string()))
}

thread_local! {
    /// [`simple_parts`] of template texts (`None`: gtmpl expands it).
    static SIMPLE: RefCell<HashMap<String, Option<std::rc::Rc<[Simple]>>>> = RefCell::new(HashMap::new());
}

fn simple(text: &str) -> Option<std::rc::Rc<[Simple]>> {
    if let Some(p) = SIMPLE.with(|c| c.borrow().get(text).cloned()) {
        return p;
    }
    let p: Option<std::rc::Rc<[Simple]>> = simple_parts(text).map(Into::into);
    SIMPLE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(text.to_string(), p.clone());
    });
    p
}

impl std::fmt::Debug for Expander {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expander").finish_non_exhaustive()
    }
}

fn parsed(name: &str, text: &str) -> Result<std::rc::Rc<Template>, String> {
    if let Some(t) = CACHE.with(|c| c.borrow().get(text).cloned()) {
        return Ok(t);
    }
    precheck(text).map_err(|e| format!("error parsing template {name}: {e}"))?;
    let body = syntax::rewrite(text).map_err(|e| format!("error parsing template {name}: {e}"))?;
    let mut t = template_with_funcs("__alert");
    t.parse(format!("{PRELUDE}{body}"))
        .map_err(|e| format!("error parsing template {name}: {e}"))?;
    let t = std::rc::Rc::new(t);
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 10_000 {
            c.clear();
        }
        c.insert(text.to_string(), t.clone());
    });
    Ok(t)
}

impl Expander {
    /// Prepares `data` for expansion; `query` serves the `query` function.
    pub fn new(data: &TemplateData<'_>, query: Option<QueryContext>) -> Self {
        Expander {
            ctx: std::cell::OnceCell::new(),
            labels: data.labels.clone(),
            external_labels: data.external_labels.clone(),
            value: data.value,
            query,
            external_url: data.external_url.to_string(),
        }
    }

    /// gtmpl's data for `data`.
    fn context(data: &TemplateData<'_>) -> Context {
        let mut root = HashMap::new();
        root.insert("Labels".to_string(), labels_value(data.labels));
        root.insert(
            "ExternalLabels".to_string(),
            labels_value(data.external_labels),
        );
        root.insert(
            "ExternalURL".to_string(),
            Value::String(data.external_url.to_string()),
        );
        root.insert("Value".to_string(), float_value(data.value));
        Context::from(Value::Object(root))
    }

    /// Expands one template text (`name` is used in error messages).
    pub fn expand(&self, name: &str, text: &str) -> Result<String, String> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        if let Some(out) = simple(text).and_then(|p| self.expand_simple(&p)) {
            return Ok(out);
        }
        self.expand_gtmpl(name, text)
    }

    /// Expands [`Simple`] parts; `None` if a function fails (gtmpl then words the error).
    fn expand_simple(&self, parts: &[Simple]) -> Option<String> {
        let mut out = String::new();
        for p in parts {
            match p {
                Simple::Text(t) => out.push_str(t),
                Simple::Label(n) => match self.labels.get(n) {
                    Some(v) => out.push_str(v),
                    None => out.push_str("<no value>"),
                },
                Simple::Value => out.push_str(&format_g(self.value, None)),
                Simple::Pipe(f) => match f(&[float_value(self.value)]).ok()? {
                    Value::String(s) => out.push_str(&s),
                    _ => return None,
                },
                Simple::Printf(fmt) => {
                    match printf(&[Value::String(fmt.clone()), float_value(self.value)]).ok()? {
                        Value::String(s) => out.push_str(&s),
                        _ => return None,
                    }
                }
            }
        }
        // As `expand_gtmpl` does with gtmpl's output.
        if out.contains("<no value>") {
            out = out.replace("<no value>", "");
        }
        Some(out)
    }

    /// Expands `text` with gtmpl.
    fn expand_gtmpl(&self, name: &str, text: &str) -> Result<String, String> {
        let t = parsed(name, text)?;
        let ctx = self.ctx.get_or_init(|| {
            Self::context(&TemplateData {
                labels: &self.labels,
                external_labels: &self.external_labels,
                external_url: &self.external_url,
                value: self.value,
            })
        });
        QUERY.with(|q| q.borrow_mut().clone_from(&self.query));
        EXTERNAL_URL.with(|u| u.borrow_mut().clone_from(&self.external_url));
        CELLS.with(|c| c.borrow_mut().clear());
        let r = t.render(ctx);
        QUERY.with(|q| *q.borrow_mut() = None);
        CELLS.with(|c| c.borrow_mut().clear());
        // Go prints a missing map key of map[string]string as "", gtmpl as "<no value>".
        r.map(|s| s.replace("<no value>", ""))
            .map_err(|e| format!("error executing template {name}: {e}"))
    }
}

/// Floats are handed to templates as Go-formatted strings: gtmpl's numbers truncate negative
/// fractions and print differently from Go; `printf` and the comparison functions here convert
/// them back.
fn float_value(v: f64) -> Value {
    Value::String(format_g(v, None))
}

fn num_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .or_else(|| n.as_i64().map(|i| i as f64))
            .or_else(|| n.as_u64().map(|u| u as f64)),
        Value::String(s) => model::gofmt::parse_float(s),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn compare(name: &str, a: &[Value]) -> Result<std::cmp::Ordering, FuncError> {
    if a.len() != 2 {
        return Err(FuncError::ExactlyXArgs(name.into(), 2));
    }
    match (&a[0], &a[1]) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (x, y) => match (num_of(x), num_of(y)) {
            (Some(x), Some(y)) => x
                .partial_cmp(&y)
                .ok_or_else(|| ferr(format!("{name}: cannot compare NaN"))),
            _ => Err(ferr(format!("{name}: incompatible types for comparison"))),
        },
    }
}

fn cmp_eq(a: &[Value]) -> Result<Value, FuncError> {
    if a.len() > 2 {
        // eq a b c... : a equals any of the others
        for b in &a[1..] {
            if compare("eq", &[a[0].clone(), b.clone()])? == std::cmp::Ordering::Equal {
                return Ok(Value::Bool(true));
            }
        }
        return Ok(Value::Bool(false));
    }
    Ok(Value::Bool(compare("eq", a)? == std::cmp::Ordering::Equal))
}
fn cmp_ne(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(compare("ne", a)? != std::cmp::Ordering::Equal))
}
fn cmp_lt(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(compare("lt", a)? == std::cmp::Ordering::Less))
}
fn cmp_le(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(
        compare("le", a)? != std::cmp::Ordering::Greater,
    ))
}
fn cmp_gt(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(
        compare("gt", a)? == std::cmp::Ordering::Greater,
    ))
}
fn cmp_ge(a: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Bool(compare("ge", a)? != std::cmp::Ordering::Less))
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%s %v %d %f %e %g %q %x %%` with flags
/// `-+ 0`, width and precision.
fn printf(a: &[Value]) -> Result<Value, FuncError> {
    let Some(Value::String(fmt)) = a.first() else {
        return Err(FuncError::AtLeastXArgs("printf".into(), 1));
    };
    let mut args = a[1..].iter();
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = String::new();
        while let Some(&f) = chars.peek() {
            if "-+ 0#".contains(f) {
                flags.push(f);
                chars.next();
            } else {
                break;
            }
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let plus = flags.contains('+');
        let body = match verb {
            'd' => match num_of(arg) {
                Some(f) if f.fract() == 0.0 => {
                    format!("{}{}", if plus && f >= 0.0 { "+" } else { "" }, f as i64)
                }
                _ => format!("%!d({arg})"),
            },
            'f' | 'F' | 'e' | 'g' => match num_of(arg) {
                Some(f) => {
                    let s = match verb {
                        'e' => format_e(f, Some(prec.unwrap_or(6))),
                        'g' => format_g(f, prec),
                        _ => format_f(f, Some(prec.unwrap_or(6))),
                    };
                    if plus && f >= 0.0 {
                        format!("+{s}")
                    } else {
                        s
                    }
                }
                None => format!("%!{verb}({arg})"),
            },
            'x' | 'X' => match arg {
                Value::String(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                other => match num_of(other) {
                    Some(f) => format!("{:x}", f as i64),
                    None => format!("%!x({other})"),
                },
            },
            'q' => format!("{:?}", str_arg(arg)?),
            's' | 'v' => {
                let s = str_arg(arg)?;
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            other => format!("%!{other}({arg})"),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len < w {
            let pad = w - len;
            if flags.contains('-') {
                out.push_str(&body);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && verb != 's' {
                let (sign, digits) = match body.strip_prefix(['-', '+']) {
                    Some(d) => (&body[..1], d),
                    None => ("", body.as_str()),
                };
                out.push_str(sign);
                out.push_str(&"0".repeat(pad));
                out.push_str(digits);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&body);
            }
        } else {
            out.push_str(&body);
        }
    }
    Ok(Value::String(out))
}

fn ferr(m: impl Into<String>) -> FuncError {
    FuncError::Generic(m.into())
}

fn to_float(v: &Value) -> Result<f64, FuncError> {
    num_of(v).ok_or_else(|| match v {
        Value::String(s) => ferr(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => ferr(format!("can't convert {other} to float")),
    })
}

fn one<'a>(name: &str, a: &'a [Value]) -> Result<&'a Value, FuncError> {
    if a.len() != 1 {
        return Err(FuncError::ExactlyXArgs(name.into(), 1));
    }
    Ok(&a[0])
}

fn s(v: impl Into<String>) -> Result<Value, FuncError> {
    Ok(Value::String(v.into()))
}

fn g4(v: f64) -> String {
    format_g(v, Some(4))
}

fn humanize(a: &[Value]) -> Result<Value, FuncError> {
    let mut v = to_float(one("humanize", a)?)?;
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return s(g4(v));
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    s(format!("{}{prefix}", g4(v)))
}

fn humanize1024(a: &[Value]) -> Result<Value, FuncError> {
    let mut v = to_float(one("humanize1024", a)?)?;
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return s(g4(v));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    s(format!("{}{prefix}", g4(v)))
}

fn humanize_duration(a: &[Value]) -> Result<Value, FuncError> {
    let mut v = to_float(one("humanizeDuration", a)?)?;
    if v.is_nan() || v.is_infinite() {
        return s(g4(v));
    }
    if v == 0.0 {
        return s(format!("{}s", g4(v)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        return s(if days != 0 {
            format!("{sign}{days}d {hours}h {mins}m {secs}s")
        } else if hours != 0 {
            format!("{sign}{hours}h {mins}m {secs}s")
        } else if mins != 0 {
            format!("{sign}{mins}m {secs}s")
        } else {
            format!("{sign}{}s", g4(v))
        });
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    s(format!("{}{prefix}s", g4(v)))
}

fn humanize_percentage(a: &[Value]) -> Result<Value, FuncError> {
    let v = to_float(one("humanizePercentage", a)?)?;
    s(format!("{}%", g4(v * 100.0)))
}

fn humanize_timestamp(a: &[Value]) -> Result<Value, FuncError> {
    let v = to_float(one("humanizeTimestamp", a)?)?;
    if v.is_nan() || v.is_infinite() {
        return s(g4(v));
    }
    // Prometheus goes through model.Time: nanoseconds truncated to milliseconds.
    let ms = ((v * 1e9) as i64).div_euclid(1_000_000);
    let nanos = (ms.rem_euclid(1000) * 1_000_000) as u32;
    let t = chrono::DateTime::from_timestamp(ms.div_euclid(1000), nanos)
        .ok_or_else(|| ferr("timestamp out of range"))?;
    // Go's time.Time String(): "2006-01-02 15:04:05.999999999 -0700 MST".
    let frac = if nanos == 0 {
        String::new()
    } else {
        let f = format!(".{nanos:09}");
        f.trim_end_matches('0').to_string()
    };
    s(format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S")))
}

fn str_arg(v: &Value) -> Result<String, FuncError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Ok(other.to_string()),
    }
}

fn title(a: &[Value]) -> Result<Value, FuncError> {
    s(gotemplate::strings_title(&str_arg(one("title", a)?)?))
}

fn to_upper(a: &[Value]) -> Result<Value, FuncError> {
    s(gotemplate::to_upper(&str_arg(one("toUpper", a)?)?))
}

fn to_lower(a: &[Value]) -> Result<Value, FuncError> {
    s(gotemplate::to_lower(&str_arg(one("toLower", a)?)?))
}

fn query(a: &[Value]) -> Result<Value, FuncError> {
    let q = str_arg(one("query", a)?)?;
    let ctx = QUERY
        .with(|c| c.borrow().clone())
        .ok_or_else(|| ferr("query is not available in this context"))?;
    let v = match &ctx.source {
        Some(src) => src.instant_query(&q, ctx.ts).map_err(|e| e.to_string()),
        None => {
            let expr = crate::promql::parse_expr(&q).map_err(|e| ferr(e.to_string()))?;
            crate::promql::instant_query(ctx.store.as_ref(), &expr, ctx.ts)
                .map_err(|e| e.to_string())
        }
    }
    .map_err(|e| ferr(e.to_string()))?;
    let samples = match v {
        crate::promql::Value::Vector(v) => {
            v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>()
        }
        crate::promql::Value::Scalar { v, .. } => vec![(Labels::empty(), v)],
        other => {
            return Err(ferr(format!(
                "query result type {} is not supported in templates",
                other.type_name()
            )))
        }
    };
    Ok(Value::Array(
        samples
            .into_iter()
            .map(|(l, v)| {
                let mut m = HashMap::new();
                m.insert("Labels".to_string(), labels_value(&l));
                m.insert("Value".to_string(), float_value(v));
                Value::Object(m)
            })
            .collect(),
    ))
}

fn first(a: &[Value]) -> Result<Value, FuncError> {
    match one("first", a)? {
        Value::Array(v) => v
            .first()
            .cloned()
            .ok_or_else(|| ferr("first() called on vector with no elements")),
        _ => Err(ferr("first() expects a query result")),
    }
}

fn field(v: &Value, f: &str) -> Result<Value, FuncError> {
    match v {
        Value::Object(m) | Value::Map(m) => m
            .get(f)
            .cloned()
            .ok_or_else(|| ferr(format!("sample has no {f}"))),
        _ => Err(ferr("expected a sample")),
    }
}

fn value(a: &[Value]) -> Result<Value, FuncError> {
    field(one("value", a)?, "Value")
}

fn strvalue(a: &[Value]) -> Result<Value, FuncError> {
    let l = field(one("strvalue", a)?, "Labels")?;
    match l {
        Value::Map(m) => Ok(m
            .get("__value__")
            .cloned()
            .unwrap_or(Value::String(String::new()))),
        _ => s(""),
    }
}

fn label(a: &[Value]) -> Result<Value, FuncError> {
    if a.len() != 2 {
        return Err(FuncError::ExactlyXArgs("label".into(), 2));
    }
    let name = str_arg(&a[0])?;
    match field(&a[1], "Labels")? {
        Value::Map(m) => Ok(m
            .get(&name)
            .cloned()
            .unwrap_or(Value::String(String::new()))),
        _ => s(""),
    }
}

fn match_re(a: &[Value]) -> Result<Value, FuncError> {
    if a.len() != 2 {
        return Err(FuncError::ExactlyXArgs("match".into(), 2));
    }
    gotemplate::regex_match(&str_arg(&a[0])?, &str_arg(&a[1])?)
        .map(Value::Bool)
        .map_err(|e| ferr(e.to_string()))
}

fn re_replace_all(a: &[Value]) -> Result<Value, FuncError> {
    if a.len() != 3 {
        return Err(FuncError::ExactlyXArgs("reReplaceAll".into(), 3));
    }
    gotemplate::re_replace_all(&str_arg(&a[0])?, &str_arg(&a[1])?, &str_arg(&a[2])?)
        .map(Value::String)
        .map_err(|e| ferr(e.to_string()))
}

fn args(a: &[Value]) -> Result<Value, FuncError> {
    let m = a
        .iter()
        .enumerate()
        .map(|(i, v)| (format!("arg{i}"), v.clone()))
        .collect();
    Ok(Value::Map(m))
}

fn safe_html(a: &[Value]) -> Result<Value, FuncError> {
    s(str_arg(one("safeHtml", a)?)?)
}

fn strip_port(a: &[Value]) -> Result<Value, FuncError> {
    let h = str_arg(one("stripPort", a)?)?;
    if let Some(rest) = h.strip_prefix('[') {
        if let Some((host, _)) = rest.split_once(']') {
            return s(host);
        }
    }
    match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            s(host)
        }
        _ => s(h),
    }
}

fn strip_domain(a: &[Value]) -> Result<Value, FuncError> {
    let h = str_arg(one("stripDomain", a)?)?;
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) && !host.contains(':') => {
            (host.to_string(), format!(":{port}"))
        }
        _ => (h.clone(), String::new()),
    };
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s(h);
    }
    s(format!("{}{port}", host.split('.').next().unwrap_or("")))
}

/// `__cell_set "$x" value`: stores a variable that must outlive a `range` iteration; prints
/// nothing.
fn cell_set(a: &[Value]) -> Result<Value, FuncError> {
    let [name, value] = a else {
        return Err(ferr("__cell_set needs a name and a value"));
    };
    let name = str_arg(name)?;
    CELLS.with(|c| c.borrow_mut().insert(name, value.clone()));
    s("")
}

/// `__cell_get "$x"`: the stored value.
fn cell_get(a: &[Value]) -> Result<Value, FuncError> {
    let name = str_arg(one("__cell_get", a)?)?;
    Ok(CELLS.with(|c| c.borrow().get(&name).cloned().unwrap_or(Value::NoValue)))
}

/// Go's `urlquery`: the arguments printed and joined as `fmt.Sprint` does, then escaped as
/// `url.QueryEscape` does (space as `+`; gtmpl's own version writes `%20`).
fn urlquery(a: &[Value]) -> Result<Value, FuncError> {
    let mut text = String::new();
    for (i, v) in a.iter().enumerate() {
        let is_string = |v: &Value| matches!(v, Value::String(_));
        // fmt.Sprint puts a space between operands when neither is a string.
        if i > 0 && !is_string(v) && !is_string(&a[i - 1]) {
            text.push(' ');
        }
        match v {
            Value::String(s) => text.push_str(s),
            other => text.push_str(&other.to_string()),
        }
    }
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    s(out)
}

fn external_url(_a: &[Value]) -> Result<Value, FuncError> {
    s(EXTERNAL_URL.with(|u| u.borrow().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::storage::MemStorage;
    use model::Sample;

    fn exp(text: &str, value: f64) -> Result<String, String> {
        let l = Labels::from_pairs([("instance", "host-1:9100"), ("job", "node")]);
        let e = Labels::from_pairs([("cluster", "eu1")]);
        expand(
            "t",
            text,
            &TemplateData {
                labels: &l,
                external_labels: &e,
                external_url: "http://am",
                value,
            },
            None,
        )
    }

    /// Go 1.11 assignment, also inside `range` to a variable declared outside it, and a
    /// newline inside an action.
    #[test]
    fn assignment_and_multiline_actions_as_go() {
        let t = r#"{{ $s := "" }}{{ if gt $value 1.0 }}{{ $s = "s" }}{{ end }}{{ $value }} target{{ $s }}"#;
        assert_eq!(exp(t, 2.0).unwrap(), "2 targets");
        assert_eq!(exp(t, 1.0).unwrap(), "1 target");
        let t = "{{ $first := true }}{{ range $k, $v := $labels }}{{ if not $first }}, {{ end }}{{ $first = false }}{{ $k }}{{ end }}.{{ if $first }}none{{ end }}";
        // (gtmpl ranges over a map in arbitrary order)
        let got = exp(t, 0.0).unwrap();
        assert!(got == "instance, job." || got == "job, instance.", "{got}");
        let t = "{{ $n := \"\" }}{{range $k, $v :=\n $labels}}{{ $n = printf \"%s%s|\" $n $v }}{{end}}{{ $n | toUpper }}";
        let got = exp(t, 0.0).unwrap();
        assert!(
            got == "HOST-1:9100|NODE|" || got == "NODE|HOST-1:9100|",
            "{got}"
        );
    }

    #[test]
    fn variables_pipelines_and_prometheus_functions() {
        assert_eq!(
            exp("{{ $labels.instance }} of {{ $labels.job }}", 0.0).unwrap(),
            "host-1:9100 of node"
        );
        assert_eq!(exp("{{ $labels.missing }}|", 0.0).unwrap(), "|");
        assert_eq!(
            exp("{{ $externalLabels.cluster }} {{ $externalURL }}", 0.0).unwrap(),
            "eu1 http://am"
        );
        assert_eq!(exp("{{ $value | humanize }}", 1234567.0).unwrap(), "1.235M");
        assert_eq!(exp("{{ humanize1024 $value }}", 1048576.0).unwrap(), "1Mi");
        assert_eq!(
            exp("{{ humanizeDuration $value }}", 90061.0).unwrap(),
            "1d 1h 1m 1s"
        );
        assert_eq!(exp("{{ humanizeDuration $value }}", 0.25).unwrap(), "250ms");
        assert_eq!(
            exp("{{ humanizePercentage $value }}", 0.256).unwrap(),
            "25.6%"
        );
        assert_eq!(
            exp("{{ humanizeTimestamp $value }}", 1435065584.128).unwrap(),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            exp("{{ printf \"%.2f\" $value }}", 2.71528).unwrap(),
            "2.72"
        );
        assert_eq!(exp("{{ $value }}", 1e6).unwrap(), "1e+06");
        assert_eq!(exp("{{ $value }}", -0.5).unwrap(), "-0.5");
        assert_eq!(
            exp("{{ printf \"%5.1f|%-4d|%s\" $value 7 \"x\" }}", -0.25).unwrap(),
            " -0.2|7   |x"
        );
        assert_eq!(
            exp("{{ if lt $value -0.1 }}neg{{ end }}", -0.5).unwrap(),
            "neg"
        );
        assert_eq!(
            exp("{{ if gt $value 2.0 }}high{{ else }}low{{ end }}", 3.0).unwrap(),
            "high"
        );
        assert_eq!(
            exp(
                "{{ $labels.job | toUpper }} {{ \"a b\" | title }} {{ toLower \"X\" }}",
                0.0
            )
            .unwrap(),
            "NODE A B x"
        );
        assert_eq!(
            exp(
                "{{ range $k, $v := $externalLabels }}{{ $k }}={{ $v }};{{ end }}",
                0.0
            )
            .unwrap(),
            "cluster=eu1;"
        );
        assert_eq!(
            exp("{{ $labels.instance | stripPort }}", 0.0).unwrap(),
            "host-1"
        );
    }

    #[test]
    fn errors_are_reported() {
        assert!(check("{{ $labels.x ").is_err());
        assert!(check("{{ nosuchfunc 1 }}").is_err());
        let e = exp("{{ query \"up\" }}", 0.0).unwrap_err();
        assert!(e.contains("query is not available"), "{e}");
    }

    #[test]
    fn query_first_value_label() {
        let st = Arc::new(MemStorage::new());
        st.append(&[(
            Labels::from_pairs([("__name__", "up"), ("instance", "a")]),
            Sample::new(1000, 1.0),
        )])
        .unwrap();
        let l = Labels::empty();
        let out = expand(
            "t",
            "{{ with query \"up\" }}{{ . | first | value }} {{ . | first | label \"instance\" }}{{ end }}",
            &TemplateData { labels: &l, external_labels: &l, external_url: "", value: 0.0 },
            Some(QueryContext {
                store: st,
                source: None,
                ts: 2000,
            }),
        )
        .unwrap();
        assert_eq!(out, "1 a");
    }

    /// The deepest templates `model::gotemplate::precheck` lets through parse and expand on a
    /// thread of 4 MiB in the unoptimised build (2 MiB, tokio's default, is not enough there),
    /// half of what alertd's runtime threads have; deeper ones are refused before `gtmpl` sees
    /// them.
    #[test]
    fn deepest_accepted_templates_fit_in_a_small_stack() {
        let n = model::gotemplate::MAX_TEMPLATE_DEPTH;
        let parens = format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n));
        let blocks = format!("{}x{}", "{{ if 1 }}".repeat(n), "{{ end }}".repeat(n));
        let run = std::thread::Builder::new()
            .stack_size(4 * 1024 * 1024)
            .spawn(move || {
                let l = Labels::empty();
                let data = TemplateData {
                    labels: &l,
                    external_labels: &l,
                    external_url: "",
                    value: 0.0,
                };
                let mut out = Vec::new();
                for t in [&parens, &blocks] {
                    check(t)?;
                    out.push(expand("t", t, &data, None)?);
                }
                Ok::<_, String>(out)
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(run, Ok(vec!["1".to_string(), "x".to_string()]));
        let deeper = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
        assert!(check(&deeper).unwrap_err().contains("limit of 100 levels"));
    }

    /// The common forms expanded without gtmpl give exactly what gtmpl gives, over a corpus
    /// of templates, label sets and values (special floats, rounding edges, missing labels,
    /// label values that look like template output); other forms are left to gtmpl.
    #[test]
    fn simple_forms_expand_as_gtmpl_does() {
        let templates = [
            "{{ $labels.instance }}",
            "{{$labels.instance}} value {{$value}}",
            "{{ $labels.instance }} value {{ $value | humanize }}",
            "rule 7 on {{ $labels.instance }}: {{ printf \"%.2f\" $value }}",
            "{{ $labels.missing }}x{{ $labels.job }}",
            "{{ $value | humanize1024 }} / {{ $value|humanizePercentage }} / {{ $value | humanizeDuration }}",
            "{{ printf \"%.0f%%\" $value }} {{ printf \"%d\" $value }} {{ printf \"%s\" $value }}",
            "{{ printf \"%g %e %5.1f %-8.3f|\" $value }}",
            "{{ printf \"%x\"   $value }}{{\t$value\t}}",
            "Disk {{ $labels.mountpoint }} on {{ $labels.instance }} at {{ $value | humanizePercentage }}.\n{{ $labels.weird }}",
            "{{ $value }}{{ $value }}",
            "ünïcode {{ $labels.job }} ✓",
        ];
        let fallback = [
            "{{- $value }}",
            "{{ $value -}}",
            "{{ .Value }}",
            "{{ $labels.instance | toUpper }}",
            "{{ /* c */ }}",
            "{{ printf \"%s\" $labels.job }}",
            "{{ printf \"\\\"%s\" $value }}",
            "{{ $value | humanize | title }}",
            "a }} b {{ $value }}",
            "{{ $labels.0x }}",
            "{{ if gt $value 1.0 }}x{{ end }}",
        ];
        let values = [
            0.0,
            -0.0,
            1.0,
            1.5,
            -2.25,
            2.675,
            0.005,
            1e6,
            1_234_567.891,
            0.000_123,
            1e-9,
            3e21,
            1e300,
            5e-324,
            86_400.0 * 3.0 - 12.5,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        let label_sets = [
            Labels::from_pairs([("instance", "host-1:9100"), ("job", "node")]),
            Labels::from_pairs([
                ("instance", "https://site-3.example"),
                ("job", ""),
                ("mountpoint", "/"),
                ("weird", "<no value>{{ $value }}"),
            ]),
            Labels::empty(),
        ];
        let ext = Labels::from_pairs([("cluster", "eu1")]);
        for t in fallback {
            assert!(simple(t).is_none(), "{t}");
        }
        for t in templates {
            assert!(simple(t).is_some(), "{t}");
            for l in &label_sets {
                for v in values {
                    let data = TemplateData {
                        labels: l,
                        external_labels: &ext,
                        external_url: "http://am",
                        value: v,
                    };
                    let e = Expander::new(&data, None);
                    assert_eq!(
                        e.expand("t", t),
                        e.expand_gtmpl("t", t),
                        "{t} with {l} and {v}"
                    );
                }
            }
        }
    }
}
