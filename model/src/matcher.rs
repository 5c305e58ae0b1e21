//! Label matchers `=`, `!=`, `=~`, `!~` in Prometheus/Alertmanager syntax. Regexes are anchored
//! (`^(?:re)$`) as in both. A matcher on a missing label sees the empty string.

use std::fmt;
use std::str::FromStr;

use regex::Regex;

use crate::labels::{is_valid_label_name, Labels};

/// The comparison a matcher makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regex,
    /// `!~`
    NotRegex,
}

impl MatchOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
    /// Whether this is `=~` or `!~`.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }
    /// Whether this is `=` or `=~` (Alertmanager's `isEqual`).
    pub fn is_equal(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
    /// The operator from Alertmanager's `isRegex`/`isEqual` flags.
    pub fn from_flags(is_regex: bool, is_equal: bool) -> Self {
        match (is_regex, is_equal) {
            (false, true) => MatchOp::Equal,
            (false, false) => MatchOp::NotEqual,
            (true, true) => MatchOp::Regex,
            (true, false) => MatchOp::NotRegex,
        }
    }
}

/// Why a matcher was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// The text is not `name<op>value`.
    #[error("bad matcher {input:?}: {reason}")]
    Syntax {
        /// The text that was parsed.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// The regex does not compile.
    #[error("bad regex {regex:?} in matcher: {reason}")]
    Regex {
        /// The regex as written.
        regex: String,
        /// The regex engine's complaint.
        reason: String,
    },
}

/// One label matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The operator.
    pub op: MatchOp,
    /// The value or regex as written (unanchored).
    pub value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}
impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (&self.name, self.op, &self.value).hash(h)
    }
}

/// A regex engine's complaint on one line: `unclosed group` rather than the multi-line
/// report that echoes the pattern with a caret under it.
pub fn regex_error(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("error: "))
            .unwrap_or(s)
            .to_string(),
        other => other.to_string(),
    }
}

impl Matcher {
    /// A matcher; compiles the anchored regex for `=~`/`!~`.
    pub fn new(
        name: impl Into<String>,
        op: MatchOp,
        value: impl Into<String>,
    ) -> Result<Self, MatcherError> {
        let (name, value) = (name.into(), value.into());
        let re = if op.is_regex() {
            Some(Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                MatcherError::Regex {
                    regex: value.clone(),
                    // The user's own regex, not the anchored form alertd compiles.
                    reason: Regex::new(&value)
                        .err()
                        .map_or_else(|| regex_error(&e), |e| regex_error(&e)),
                }
            })?)
        } else {
            None
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
        })
    }

    /// Whether a label value (`""` for a missing label) satisfies the matcher.
    pub fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            (_, None) => false,
        }
    }

    /// Whether a label set satisfies the matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get_or_empty(&self.name))
    }

    /// Whether the matcher accepts the empty string (and so labels that lack the name).
    pub fn matches_empty(&self) -> bool {
        self.matches_value("")
    }
}

impl fmt::Display for Matcher {
    /// `name="value"` with the value quoted and escaped as PromQL does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"", self.name, self.op.as_str())?;
        for c in self.value.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A small cursor over matcher text.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn skip_ws(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start().len();
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn err(&self, reason: impl Into<String>) -> MatcherError {
        MatcherError::Syntax {
            input: self.s.to_string(),
            reason: reason.into(),
        }
    }

    fn name(&mut self) -> Result<String, MatcherError> {
        self.skip_ws();
        if self.eat("\"") {
            return self.quoted_rest();
        }
        let r = self.rest();
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(r.len());
        let n = &r[..end];
        if !is_valid_label_name(n) {
            return Err(self.err(format!(
                "expected a label name at offset {}, found {:?}",
                self.pos,
                r.chars().take(10).collect::<String>()
            )));
        }
        self.pos += end;
        Ok(n.to_string())
    }

    fn op(&mut self) -> Result<MatchOp, MatcherError> {
        self.skip_ws();
        for (t, op) in [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ] {
            if self.eat(t) {
                return Ok(op);
            }
        }
        Err(self.err(format!(
            "expected one of =, !=, =~, !~ at offset {}",
            self.pos
        )))
    }

    /// After an opening quote: the rest of a double-quoted string with Go escapes.
    fn quoted_rest(&mut self) -> Result<String, MatcherError> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, c @ ('"' | '\\' | '\''))) => out.push(c),
                    // Keep unknown escapes verbatim so regexes like "\d" survive.
                    Some((_, c)) => {
                        out.push('\\');
                        out.push(c)
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.err("unterminated quoted string"))
    }

    fn value(&mut self) -> Result<String, MatcherError> {
        self.skip_ws();
        if self.eat("\"") {
            return self.quoted_rest();
        }
        // Unquoted (amtool style): up to a comma or closing brace.
        let r = self.rest();
        let end = r.find([',', '}']).unwrap_or(r.len());
        let v = r[..end].trim_end();
        self.pos += end;
        Ok(v.to_string())
    }
}

impl FromStr for Matcher {
    type Err = MatcherError;
    /// Parses `name="value"`, `name=~"re"`, or amtool's unquoted `name=value`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut c = Cursor { s, pos: 0 };
        let m = parse_one(&mut c)?;
        c.skip_ws();
        if !c.rest().is_empty() {
            return Err(c.err(format!("unexpected text {:?} after the matcher", c.rest())));
        }
        Ok(m)
    }
}

fn parse_one(c: &mut Cursor<'_>) -> Result<Matcher, MatcherError> {
    let name = c.name()?;
    let op = c.op()?;
    let value = c.value()?;
    Matcher::new(name, op, value)
}

impl serde::Serialize for Matcher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Matcher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A conjunction of matchers: all must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether every matcher matches `labels` (true when there are none).
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }
    /// The matchers.
    pub fn iter(&self) -> impl Iterator<Item = &Matcher> + '_ {
        self.0.iter()
    }
    /// Whether there are no matchers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for Matchers {
    type Err = MatcherError;
    /// Parses `{a="1", b=~"x|y"}` or the same without braces; a trailing comma is allowed.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut c = Cursor { s, pos: 0 };
        c.skip_ws();
        let braced = c.eat("{");
        let mut out = Vec::new();
        loop {
            c.skip_ws();
            if c.rest().is_empty() || c.rest().starts_with('}') {
                break;
            }
            out.push(parse_one(&mut c)?);
            c.skip_ws();
            if !c.eat(",") {
                break;
            }
        }
        c.skip_ws();
        if braced && !c.eat("}") {
            return Err(c.err("expected a closing }"));
        }
        c.skip_ws();
        if !c.rest().is_empty() {
            return Err(c.err(format!("unexpected text {:?}", c.rest())));
        }
        Ok(Matchers(out))
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

impl serde::Serialize for Matchers {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Matchers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Matchers(Vec::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn parses_all_operators_and_styles() {
        let m: Matcher = r#"severity="critical""#.parse().unwrap();
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Equal, "critical")
        );
        let m: Matcher = "alertname=X".parse().unwrap();
        assert_eq!(m.value, "X");
        let m: Matcher = r#"job !~ "node|blackbox""#.parse().unwrap();
        assert_eq!(m.op, MatchOp::NotRegex);
        let m: Matcher = r#"a!="b\"c""#.parse().unwrap();
        assert_eq!((m.op, m.value.as_str()), (MatchOp::NotEqual, "b\"c"));
        let m: Matcher = r#"path=~"/var/\d+""#.parse().unwrap();
        assert!(m.matches_value("/var/12"));
    }

    #[test]
    fn a_bad_regex_is_reported_as_written() {
        let e = Matcher::new("a", MatchOp::Regex, "(unclosed").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("\"(unclosed\""), "{text}");
        assert!(!text.contains("^(?:"), "{text}");
        assert!(text.ends_with("unclosed group"), "{text}");
    }

    #[test]
    fn regexes_are_anchored() {
        let m: Matcher = r#"job=~"node""#.parse().unwrap();
        assert!(m.matches(&l(&[("job", "node")])));
        assert!(!m.matches(&l(&[("job", "node_exporter")])));
        assert!(!m.matches(&l(&[("job", "xnode")])));
        let m: Matcher = r#"job=~"a|b""#.parse().unwrap();
        assert!(m.matches(&l(&[("job", "b")])));
        assert!(!m.matches(&l(&[("job", "ab")])));
    }

    #[test]
    fn missing_label_is_empty_string() {
        let ne: Matcher = r#"env!="prod""#.parse().unwrap();
        assert!(ne.matches(&Labels::empty()));
        let eq_empty: Matcher = r#"env="""#.parse().unwrap();
        assert!(eq_empty.matches(&Labels::empty()));
        assert!(!eq_empty.matches(&l(&[("env", "x")])));
        let re: Matcher = r#"env=~".*""#.parse().unwrap();
        assert!(re.matches_empty());
    }

    #[test]
    fn errors_are_clear() {
        let e = "1abc=x".parse::<Matcher>().unwrap_err();
        assert!(e.to_string().contains("expected a label name"), "{e}");
        let e = "abc".parse::<Matcher>().unwrap_err();
        assert!(e.to_string().contains("expected one of"), "{e}");
        let e = r#"a=~"(""#.parse::<Matcher>().unwrap_err();
        assert!(matches!(e, MatcherError::Regex { .. }), "{e}");
        let e = r#"a="unterminated"#.parse::<Matcher>().unwrap_err();
        assert!(e.to_string().contains("unterminated"), "{e}");
    }

    #[test]
    fn parses_matcher_lists() {
        let ms: Matchers = r#"{alertname="Disk", severity=~"crit|warn",}"#.parse().unwrap();
        assert_eq!(ms.0.len(), 2);
        assert!(ms.matches(&l(&[("alertname", "Disk"), ("severity", "warn")])));
        assert!(!ms.matches(&l(&[("alertname", "Disk"), ("severity", "info")])));
        let ms: Matchers = "a=1, b!=2".parse().unwrap();
        assert_eq!(ms.to_string(), r#"{a="1", b!="2"}"#);
        assert!("{a=1".parse::<Matchers>().is_err());
        assert_eq!("{}".parse::<Matchers>().unwrap().0.len(), 0);
    }

    #[test]
    fn alertmanager_flags_roundtrip() {
        for op in [
            MatchOp::Equal,
            MatchOp::NotEqual,
            MatchOp::Regex,
            MatchOp::NotRegex,
        ] {
            assert_eq!(MatchOp::from_flags(op.is_regex(), op.is_equal()), op);
        }
    }

    fn op_strategy() -> impl Strategy<Value = MatchOp> {
        prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::Regex),
            Just(MatchOp::NotRegex)
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_roundtrips(
            name in "[a-zA-Z_][a-zA-Z0-9_]{0,8}",
            op in op_strategy(),
            value in "[ -~\n]{0,12}",
        ) {
            // Regex values must compile; use a literal-escaped regex for regex ops.
            let value = if op.is_regex() { regex::escape(&value) } else { value };
            let m = Matcher::new(name, op, value).unwrap();
            let back: Matcher = m.to_string().parse().unwrap();
            prop_assert_eq!(back, m);
        }

        #[test]
        fn escaped_regex_matches_exactly_its_literal(v in "[ -~]{0,12}", other in "[ -~]{0,12}") {
            let m = Matcher::new("x", MatchOp::Regex, regex::escape(&v)).unwrap();
            prop_assert!(m.matches_value(&v));
            prop_assert_eq!(m.matches_value(&other), other == v);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = s.parse::<Matcher>();
            let _ = s.parse::<Matchers>();
        }
    }
}
