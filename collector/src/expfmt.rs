//! A parser of the Prometheus text exposition format (0.0.4), following the spec rather than
//! prometheus-parse 0.2.5 (which splits `path="/a,b=c"` into two labels, drops samples whose
//! values contain `}`, drops colon-named metrics and silently skips bad values).
//!
//! Accepted: `# HELP` / `# TYPE` lines (and other comments, ignored), samples
//! `name{label="value",...} value [timestamp_ms]` with `\\`, `\"` and `\n` escapes in label
//! values, any character (`,`, `=`, `{`, `}`) inside quoted values, a trailing comma in the label
//! list, colon metric names, `NaN`, `+Inf`, `-Inf`. Any malformed line is an error naming the
//! line; nothing is dropped silently.

use std::collections::HashMap;

/// One parsed sample.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedSample {
    /// The metric name.
    pub name: String,
    /// Labels in input order (names unique).
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// The explicit timestamp in ms, if given.
    pub timestamp: Option<i64>,
}

/// A malformed exposition: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

const TYPES: &[&str] = &["counter", "gauge", "histogram", "summary", "untyped"];

fn is_name_start(c: u8, colon: bool) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || (colon && c == b':')
}
fn is_name_char(c: u8, colon: bool) -> bool {
    is_name_start(c, colon) || c.is_ascii_digit()
}

/// Whether `s` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn is_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && is_name_start(b[0], true) && b.iter().all(|c| is_name_char(*c, true))
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn name(&mut self, colon: bool) -> Option<&'a str> {
        let start = self.i;
        match self.peek() {
            Some(c) if is_name_start(c, colon) => self.i += 1,
            _ => return None,
        }
        while self.peek().is_some_and(|c| is_name_char(c, colon)) {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).ok()
    }
    fn token(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|c| c != b' ' && c != b'\t') {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
    fn quoted(&mut self) -> Result<String, String> {
        if self.peek() != Some(b'"') {
            return Err("expected '\"' to start a label value".into());
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated label value".into()),
                Some(b'"') => {
                    self.i += 1;
                    return String::from_utf8(out).map_err(|_| "label value is not UTF-8".into());
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'"') => out.push(b'"'),
                        Some(b'n') => out.push(b'\n'),
                        Some(c) => return Err(format!("invalid escape \\{}", c as char)),
                        None => return Err("unterminated label value".into()),
                    }
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
    }
}

/// Parses a float as Go's `strconv.ParseFloat` does for exposition values (`NaN`, `+Inf`,
/// `-Inf`, `Infinity`, case-insensitively; decimal and exponent forms).
pub fn parse_value(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'+') => (1.0, &s[1..]),
        Some(b'-') => (-1.0, &s[1..]),
        _ => (1.0, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    if s.eq_ignore_ascii_case("nan") {
        return Some(f64::NAN);
    }
    if body.is_empty()
        || !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses a whole exposition.
pub fn parse(text: &str) -> Result<Vec<ParsedSample>, ParseError> {
    let mut out = Vec::new();
    let mut types: HashMap<String, &str> = HashMap::new();
    let mut helps: HashMap<String, ()> = HashMap::new();
    for (n, raw) in text.split('\n').enumerate() {
        let line_no = n + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let trimmed = line.trim_start_matches([' ', '\t']);
        if trimmed.is_empty() {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#') {
            let rest = rest.trim_start_matches([' ', '\t']);
            let (kw, tail) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
            if kw != "HELP" && kw != "TYPE" {
                continue; // a comment
            }
            let tail = tail.trim_start_matches([' ', '\t']);
            let (name, arg) = tail.split_once([' ', '\t']).unwrap_or((tail, ""));
            if !is_metric_name(name) {
                return Err(err(format!("invalid metric name {name:?} in # {kw}")));
            }
            if kw == "TYPE" {
                let t = arg.trim();
                let t = TYPES
                    .iter()
                    .find(|x| **x == t)
                    .ok_or_else(|| err(format!("invalid metric type {t:?}")))?;
                if types.insert(name.to_string(), t).is_some() {
                    return Err(err(format!("second TYPE line for metric {name}")));
                }
                if out.iter().any(|s: &ParsedSample| s.name == name) {
                    return Err(err(format!("TYPE line for {name} after its samples")));
                }
            } else if helps.insert(name.to_string(), ()).is_some() {
                return Err(err(format!("second HELP line for metric {name}")));
            }
            continue;
        }
        let mut c = Cursor {
            s: trimmed.as_bytes(),
            i: 0,
        };
        let name = c
            .name(true)
            .ok_or_else(|| {
                err(format!(
                    "expected a metric name, got {:?}",
                    truncate(trimmed)
                ))
            })?
            .to_string();
        let mut labels: Vec<(String, String)> = Vec::new();
        c.skip_ws();
        if c.peek() == Some(b'{') {
            c.i += 1;
            loop {
                c.skip_ws();
                if c.peek() == Some(b'}') {
                    c.i += 1;
                    break;
                }
                let lname = c
                    .name(false)
                    .ok_or_else(|| err(format!("invalid label name in {:?}", truncate(trimmed))))?
                    .to_string();
                c.skip_ws();
                if c.peek() != Some(b'=') {
                    return Err(err(format!("expected '=' after label name {lname}")));
                }
                c.i += 1;
                c.skip_ws();
                let value = c.quoted().map_err(&err)?;
                if labels.iter().any(|(n, _)| *n == lname) {
                    return Err(err(format!("duplicate label name {lname}")));
                }
                labels.push((lname, value));
                c.skip_ws();
                match c.peek() {
                    Some(b',') => c.i += 1,
                    Some(b'}') => {
                        c.i += 1;
                        break;
                    }
                    _ => return Err(err("expected ',' or '}' after a label value".into())),
                }
            }
        }
        c.skip_ws();
        let v = c.token();
        if v.is_empty() {
            return Err(err(format!("missing value for {name}")));
        }
        let value = parse_value(v).ok_or_else(|| err(format!("invalid value {v:?}")))?;
        c.skip_ws();
        let timestamp = if c.peek().is_some() {
            let t = c.token();
            Some(
                t.parse::<i64>()
                    .map_err(|_| err(format!("invalid timestamp {t:?}")))?,
            )
        } else {
            None
        };
        c.skip_ws();
        if c.peek().is_some() {
            return Err(err(format!(
                "unexpected text after the sample: {:?}",
                truncate(trimmed)
            )));
        }
        if name.ends_with("_bucket")
            && types.get(name.trim_end_matches("_bucket")) == Some(&"histogram")
        {
            match labels.iter().find(|(n, _)| n == "le") {
                Some((_, le)) if parse_value(le).is_some() => {}
                _ => {
                    return Err(err(format!(
                        "histogram bucket {name} without a valid le label"
                    )))
                }
            }
        }
        out.push(ParsedSample {
            name,
            labels,
            value,
            timestamp,
        });
    }
    Ok(out)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tricky_samples() {
        let s = parse(
            "# HELP http_requests_total The total.\n# TYPE http_requests_total counter\n\
http_requests_total{path=\"/a,b=c\",code=\"200\"} 1027 1395066363000\n\
x{v=\"}\"} 1\n\
job:request_rate:5m{job=\"a\",} 3.5\n\
esc{a=\"q\\\"uo\\\\te\\nnl\"} -Inf\n\
nan NaN\n\
  spaced\t{ a = \"1\" }\t+Inf\n",
        )
        .unwrap();
        assert_eq!(s.len(), 6);
        assert_eq!(
            s[0].labels,
            vec![
                ("path".into(), "/a,b=c".into()),
                ("code".into(), "200".into())
            ]
        );
        assert_eq!(s[0].timestamp, Some(1_395_066_363_000));
        assert_eq!(s[1].labels[0].1, "}");
        assert_eq!(s[2].name, "job:request_rate:5m");
        assert_eq!(s[3].labels[0].1, "q\"uo\\te\nnl");
        assert_eq!(s[3].value, f64::NEG_INFINITY);
        assert!(s[4].value.is_nan());
        assert_eq!(s[5].value, f64::INFINITY);
    }

    #[test]
    fn histograms_and_summaries() {
        let s = parse(
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n\
# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\n",
        )
        .unwrap();
        assert_eq!(s.len(), 7);
        assert!(parse("# TYPE h histogram\nh_bucket 1\n").is_err());
    }

    #[test]
    fn malformed_lines_fail_with_their_line_number() {
        for (text, line) in [
            ("a 1\nb{x=\"1\" 2\n", 2),
            ("a one\n", 1),
            ("a\n", 1),
            ("a{1x=\"\"} 1\n", 1),
            ("a{x=\"\\q\"} 1\n", 1),
            ("a{x=\"1\",x=\"2\"} 1\n", 1),
            ("a 1 notatime\n", 1),
            ("a 1 2 3\n", 1),
            ("# TYPE a countr\n", 1),
            ("a 1\n# TYPE a gauge\n", 2),
            ("a{x=unquoted} 1\n", 1),
            ("a 0x1g\n", 1),
            ("3a 1\n", 1),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
    }

    #[test]
    fn real_exporter_outputs_parse_completely() {
        for f in ["node_exporter_metrics.txt", "prometheus_metrics.txt"] {
            let path = format!("{}/../tests/fixtures/{f}", env!("CARGO_MANIFEST_DIR"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                panic!("fixture {path} missing");
            };
            let samples = parse(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
            let expected = text
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .count();
            assert_eq!(samples.len(), expected, "{f}: every sample line parsed");
            assert!(samples.iter().all(|s| is_metric_name(&s.name)));
        }
    }

    fn label_value() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just('"'),
                Just('\\'),
                Just('\n'),
                Just(','),
                Just('='),
                Just('}'),
                Just('{'),
                any::<char>()
            ],
            0..12,
        )
        .prop_map(|v| v.into_iter().collect())
    }

    fn escape(v: &str) -> String {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse(&s);
        }

        #[test]
        fn round_trips(
            name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
            labels in proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", label_value(), 0..4),
            value in any::<f64>().prop_filter("not NaN", |v| !v.is_nan()),
            ts in proptest::option::of(any::<i64>()),
        ) {
            let ls: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let vs = if value.is_infinite() { if value > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() } } else { format!("{value:e}") };
            let line = format!(
                "{name}{{{}}} {vs}{}\n",
                ls.join(","),
                ts.map(|t| format!(" {t}")).unwrap_or_default()
            );
            let p = parse(&line).unwrap();
            prop_assert_eq!(p.len(), 1);
            prop_assert_eq!(&p[0].name, &name);
            let got: std::collections::BTreeMap<String, String> = p[0].labels.iter().cloned().collect();
            prop_assert_eq!(got, labels);
            prop_assert_eq!(p[0].value, value);
            prop_assert_eq!(p[0].timestamp, ts);
        }
    }
}
