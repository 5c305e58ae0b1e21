//! Secrets in the configuration: values that never appear in logs, API output or `Debug`.

use std::fmt;
use std::path::{Path, PathBuf};

pub use model::secret::REDACTED;
pub use model::Secret;

/// Where a secret comes from: inline in the config, or a file read when the secret is used
/// (so a rotated file is picked up without a reload).
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    /// Written in the configuration file itself.
    Inline(Secret),
    /// Read from this file (trailing newlines stripped).
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

impl SecretSource {
    /// The secret's value, reading the file if there is one.
    pub fn resolve(&self) -> Result<Secret, SecretFileError> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(p) => read_secret_file(p),
        }
    }
}

fn read_secret_file(path: &Path) -> Result<Secret, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn file_secret_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, "s3cret\n").unwrap();
        let src = SecretSource::File(p.clone());
        assert_eq!(src.resolve().unwrap().expose(), "s3cret");
        std::fs::remove_file(&p).unwrap();
        let err = src.resolve().unwrap_err();
        assert!(err.to_string().contains("cannot read secret file"));
    }
}
