//! Configuration errors shared by every section: a [`ConfigPath`] of segments (`probes[1].interval`)
//! names the offending node, a [`PathError`] is what a stage's `validate()` finds (path and
//! message, no position), and a [`ConfigError`] is what the loader reports: the same with the file
//! and the position of the node itself, printed as `FILE:LINE:COL: message`.
//!
//! Stages name paths; only the loader knows positions (it looks the path up in the YAML tree), so
//! the stages stay free of YAML.

use std::fmt;

use serde::Serialize;

/// One step of a path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    /// A key of a mapping (`interval`).
    Key(String),
    /// An index into a list, from 0 (`[1]`).
    Index(usize),
}

/// Where a node sits in the configuration: `receivers[1].slack_configs[0].api_url`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfigPath(pub Vec<Segment>);

impl ConfigPath {
    /// The empty path (the document itself).
    pub fn root() -> Self {
        ConfigPath(Vec::new())
    }

    /// This path with a key appended.
    pub fn key(&self, k: impl Into<String>) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(k.into()));
        p
    }

    /// This path with an index appended.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(i));
        p
    }

    /// The path without its last segment (the root stays the root).
    pub fn parent(&self) -> Self {
        let mut p = self.clone();
        p.0.pop();
        p
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// Whether this is the root.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The first key (the top-level section), if any.
    pub fn section(&self) -> Option<&str> {
        match self.0.first() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Serialize for ConfigPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Reads the dotted form a stage writes (`probes[2].http.url`): keys split at `.`, `[n]` an
/// index. Keys that themselves contain `.` or `[` cannot be written this way; build those with
/// [`ConfigPath::key`].
impl From<&str> for ConfigPath {
    fn from(s: &str) -> Self {
        let mut out = Vec::new();
        for part in s.split('.').filter(|p| !p.is_empty()) {
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !key.is_empty() {
                out.push(Segment::Key(key.to_string()));
            }
            while let Some(r) = rest.strip_prefix('[') {
                let Some((n, tail)) = r.split_once(']') else {
                    out.push(Segment::Key(rest.to_string()));
                    break;
                };
                match n.parse() {
                    Ok(i) => out.push(Segment::Index(i)),
                    Err(_) => out.push(Segment::Key(n.to_string())),
                }
                rest = tail;
            }
        }
        ConfigPath(out)
    }
}

impl From<String> for ConfigPath {
    fn from(s: String) -> Self {
        ConfigPath::from(s.as_str())
    }
}

impl From<&String> for ConfigPath {
    fn from(s: &String) -> Self {
        ConfigPath::from(s.as_str())
    }
}

/// A problem a stage's validation finds: the offending node's path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PathError {
    /// Where (`route.routes[1].receiver`).
    pub path: ConfigPath,
    /// What is wrong.
    pub message: String,
}

impl PathError {
    /// An error at `path`.
    pub fn new(path: impl Into<ConfigPath>, message: impl Into<String>) -> Self {
        PathError {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// One configuration error at a position in a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// The file, as given by the caller.
    pub file: String,
    /// 1-based line (0 when unknown).
    pub line: u64,
    /// 1-based column (0 when unknown).
    pub column: u64,
    /// The offending node (empty for the document itself).
    pub path: ConfigPath,
    /// What is wrong and what was expected, naming the path (`` `probes[1].interval`: ... ``).
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every error found in one configuration file, sorted by position (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_and_print_alike() {
        for s in [
            "probes[1].interval",
            "receivers[2].webhook_configs[0].url",
            "route.routes[1].routes[0].receiver",
            "global",
        ] {
            assert_eq!(ConfigPath::from(s).to_string(), s);
        }
        assert_eq!(
            ConfigPath::from("probes[1].http").0,
            vec![
                Segment::Key("probes".into()),
                Segment::Index(1),
                Segment::Key("http".into())
            ]
        );
        assert_eq!(
            ConfigPath::root().key("a").index(3).key("b").to_string(),
            "a[3].b"
        );
    }
}
