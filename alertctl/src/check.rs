//! `alertctl check config`: offline validation with `alertd_config`, the loader alertd uses.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use alertd_config::{self as config, Config, ConfigError, LoadError};
use serde::Serialize;

use crate::Output;

/// The result for one file.
#[derive(Debug, Serialize)]
struct FileReport {
    file: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ConfigError>,
    /// The effective configuration with defaults applied; secrets shown as `<secret>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Config>,
}

#[derive(Debug, Serialize)]
struct Report {
    valid: bool,
    files: Vec<FileReport>,
}

fn summary(c: &Config) -> String {
    format!(
        "api.listen {}, storage {} at {} (retention {}, rollup {}), evaluation_interval {}, \
         scrape_interval {}",
        c.api.listen,
        c.storage.engine,
        c.storage.path.display(),
        c.storage.retention,
        c.storage.rollup_retention,
        c.global.evaluation_interval,
        c.global.scrape_interval,
    )
}

/// Checks every file; exit 0 when all are valid, 1 when one is invalid, 2 when one cannot be
/// read.
pub fn config(files: &[PathBuf], output: Output) -> ExitCode {
    let mut reports = Vec::new();
    let mut unreadable = false;
    for path in files {
        let file = path.display().to_string();
        let r = match config::load_file(path) {
            Ok(c) => FileReport {
                file,
                valid: true,
                read_error: None,
                errors: Vec::new(),
                config: Some(c),
            },
            Err(LoadError::Invalid(errs)) => FileReport {
                file,
                valid: false,
                read_error: None,
                errors: errs.0,
                config: None,
            },
            Err(e @ LoadError::Read { .. }) => {
                unreadable = true;
                FileReport {
                    file,
                    valid: false,
                    read_error: Some(e.to_string()),
                    errors: Vec::new(),
                    config: None,
                }
            }
        };
        reports.push(r);
    }
    let valid = reports.iter().all(|r| r.valid);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let written = match output {
        Output::Json => {
            let report = Report {
                valid,
                files: reports,
            };
            serde_json::to_writer_pretty(&mut out, &report)
                .map_err(std::io::Error::other)
                .and_then(|()| writeln!(out))
        }
        Output::Table => (|| {
            for r in &reports {
                if let Some(e) = &r.read_error {
                    writeln!(err, "{e}")?;
                } else if r.valid {
                    writeln!(out, "{}: valid", r.file)?;
                    if let Some(c) = &r.config {
                        writeln!(out, "  {}", summary(c))?;
                    }
                } else {
                    for e in &r.errors {
                        writeln!(out, "{e}")?;
                    }
                    writeln!(
                        out,
                        "{}: invalid ({} error{})",
                        r.file,
                        r.errors.len(),
                        if r.errors.len() == 1 { "" } else { "s" }
                    )?;
                }
            }
            Ok::<(), std::io::Error>(())
        })(),
    };
    if written.is_err() {
        return ExitCode::from(2);
    }
    if unreadable {
        ExitCode::from(2)
    } else if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
