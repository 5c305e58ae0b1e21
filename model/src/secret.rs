//! Secrets from the configuration (passwords, tokens, URLs with tokens): `Debug`, `Display` and
//! `Serialize` print `<secret>`, as Alertmanager does; the value is reachable only through
//! [`Secret::expose`], so it cannot reach a log line or API output by accident.
//!
//! Every secret has a `_file` twin ([`SecretSource::File`]); [`read_file`] is the one place such
//! a file is read, with one rule for every section: **one** trailing line break (`\n` or
//! `\r\n`) is removed, nothing else (a secret may end in spaces or hold inner newlines). This is
//! the only file IO in `model`.

use std::fmt;
use std::path::{Path, PathBuf};

/// The text shown wherever a secret would be printed.
pub const REDACTED: &str = "<secret>";

/// A secret string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value itself. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Reads a secret's `_file`: the file's text without one trailing `\n` or `\r\n`.
pub fn read_file(path: &Path) -> Result<Secret, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Secret(trim_one_line_break(&text).to_string()))
}

/// `text` without one trailing `\n` or `\r\n`.
pub fn trim_one_line_break(text: &str) -> &str {
    text.strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(text)
}

/// A secret file could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read secret file {path}: {source}")]
pub struct SecretFileError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Where a secret comes from: inline in the config, or a file read when the secret is used
/// (so a rotated file is picked up without a reload).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// Written in the configuration file itself.
    Inline(Secret),
    /// Read from this file (see [`read_file`] for the trimming rule).
    File(PathBuf),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str(REDACTED),
            SecretSource::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

impl SecretSource {
    /// The secret's value, reading the file if there is one.
    pub fn resolve(&self) -> Result<Secret, SecretFileError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(p) => read_file(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_printed_or_serialized() {
        let s: Secret = serde_json::from_str(r#""hunter2""#).unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""<secret>""#);
    }

    #[test]
    fn one_trailing_line_break_is_removed() {
        assert_eq!(trim_one_line_break("s3cret\n"), "s3cret");
        assert_eq!(trim_one_line_break("s3cret\r\n"), "s3cret");
        assert_eq!(trim_one_line_break("s3cret\n\n"), "s3cret\n");
        assert_eq!(trim_one_line_break("s3cret \n"), "s3cret ");
        assert_eq!(trim_one_line_break("s3cret"), "s3cret");
        let dir = std::env::temp_dir().join(format!("model-secret-{}", std::process::id()));
        std::fs::write(&dir, "a\r\n").unwrap();
        let src = SecretSource::File(dir.clone());
        assert_eq!(src.resolve().unwrap().expose(), "a");
        std::fs::remove_file(&dir).unwrap();
        assert!(src
            .resolve()
            .unwrap_err()
            .to_string()
            .contains("cannot read secret file"));
        assert_eq!(
            format!("{:?}", SecretSource::Inline(Secret::new("x"))),
            "<secret>"
        );
    }

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "<secret>");
        assert_eq!(s.to_string(), "<secret>");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"<secret>\"");
        assert_eq!(s.expose(), "hunter2");
        let src = SecretSource::Inline(s);
        assert_eq!(format!("{src:?}"), "<secret>");
        assert!(!serde_json::to_string(&src).unwrap().contains("hunter2"));
    }
}
