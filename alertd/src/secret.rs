//! Secrets in the configuration: values that never appear in logs, API output or `Debug`
//! (defined in `model::secret`, with the one rule for reading a `_file`).

pub use model::secret::{SecretFileError, SecretSource, REDACTED};
pub use model::Secret;

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
