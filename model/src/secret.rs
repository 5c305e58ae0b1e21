//! Secrets from the configuration (passwords, tokens, URLs with tokens): `Debug`, `Display` and
//! `Serialize` print `<secret>`, as Alertmanager does; the value is reachable only through
//! [`Secret::expose`], so it cannot reach a log line or API output by accident.
//!
//! Every secret has a `_file` twin ([`SecretSource::File`]); [`read_file`] is the one place such
//! a file is read, with one rule for every section: **one** trailing line break (`\n` or
//! `\r\n`) is removed, nothing else (a secret may end in spaces or hold inner newlines). This is
//! the only file IO in `model`.
//!
//! A secret and its twin are read into one [`SecretSource`] by [`TwinSeed`], the one reader of
//! twin keys (`global`'s secrets, `http_config`'s `authorization`, `basic_auth` and
//! `bearer_token`): setting both is an error raised while the second is read, so it carries
//! that value's position; [`serialize_twin`] writes one back under the key it was read from.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer};
use serde::ser::SerializeMap;

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

/// The secret key a key names (`password` for both `password` and `password_file`), and
/// whether it is the `_file` twin.
pub fn twin_base(key: &str) -> (&str, bool) {
    match key.strip_suffix("_file") {
        Some(base) => (base, true),
        None => (key, false),
    }
}

/// Reads the value of a secret key or its `_file` twin (`key`, either of the two); `set` says
/// the other one (or this one) was already read. The errors are raised while the value is read,
/// so they carry its position: both twins set, or an empty `_file`. `prefix` is put before the
/// key names in messages (`global.` for the `global` section, whose errors name it; empty where
/// the reader of the error knows the path, as the config loader does).
pub struct TwinSeed<'a> {
    /// Put before the key names in messages.
    pub prefix: &'a str,
    /// The key being read.
    pub key: &'a str,
    /// Whether a value of the twin pair was read before.
    pub set: bool,
}

impl<'de> DeserializeSeed<'de> for TwinSeed<'_> {
    type Value = Option<SecretSource>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let Some(v) = <Option<String> as serde::Deserialize>::deserialize(d)? else {
            return Ok(None);
        };
        let (base, file) = twin_base(self.key);
        let prefix = self.prefix;
        if self.set {
            return Err(de::Error::custom(format!(
                "at most one of `{prefix}{base}` and `{prefix}{base}_file` may be set"
            )));
        }
        if !file {
            return Ok(Some(SecretSource::Inline(Secret::new(v))));
        }
        if v.trim().is_empty() {
            return Err(de::Error::custom(format!(
                "`{prefix}{base}_file` must not be empty"
            )));
        }
        Ok(Some(SecretSource::File(PathBuf::from(v))))
    }
}

/// Writes `secret` as it is written in a configuration: `key: <secret>` when inline,
/// `key_file: PATH` when read from a file, nothing when unset.
pub fn serialize_twin<M: SerializeMap>(
    map: &mut M,
    key: &str,
    secret: &Option<SecretSource>,
) -> Result<(), M::Error> {
    match secret {
        None => Ok(()),
        Some(SecretSource::Inline(s)) => map.serialize_entry(key, s),
        Some(SecretSource::File(p)) => map.serialize_entry(&format!("{key}_file"), p),
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
