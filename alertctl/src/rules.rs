//! `alertctl check rules` and `alertctl test rules`: offline, with the evaluator's rule loader
//! and its `promtool test rules` runner; output and exit codes follow promtool.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use evaluator::lint;
use evaluator::unittest;
use evaluator::RuleSet;
use serde::Serialize;

use crate::Output;

#[derive(Debug, Serialize)]
struct CheckReport {
    file: String,
    valid: bool,
    rules: usize,
    errors: Vec<String>,
    /// Lint findings (`--lint`), each `FILE:LINE:COL: ... [check]`.
    warnings: Vec<String>,
}

/// Validates rule files like `promtool check rules`: exit 0 when all are valid, 1 otherwise, 3
/// when they are valid but `lint_fatal` is set and a lint found something (promtool's code).
pub fn check(
    files: &[PathBuf],
    lint: &lint::Options,
    lint_fatal: bool,
    output: Output,
) -> ExitCode {
    let reports: Vec<CheckReport> = files
        .iter()
        .map(|f| {
            let file = f.display().to_string();
            match RuleSet::load(&[file.as_str()]) {
                Ok(set) => CheckReport {
                    rules: set.groups.iter().map(|g| g.rules.len()).sum(),
                    warnings: lint::lint(&set, lint, |p| std::fs::read_to_string(p).ok())
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    file,
                    valid: true,
                    errors: Vec::new(),
                },
                Err(errs) => CheckReport {
                    file,
                    valid: false,
                    rules: 0,
                    errors: errs.iter().map(ToString::to_string).collect(),
                    warnings: Vec::new(),
                },
            }
        })
        .collect();
    let ok = reports.iter().all(|r| r.valid);
    let linted = reports.iter().any(|r| !r.warnings.is_empty());
    let mut out = std::io::stdout().lock();
    let written = match output {
        Output::Json => serde_json::to_writer_pretty(&mut out, &reports)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out)),
        Output::Table => reports.iter().try_for_each(|r| {
            writeln!(out, "Checking {}", r.file)?;
            for w in &r.warnings {
                writeln!(out, "  WARNING: {w}")?;
            }
            if r.valid {
                writeln!(out, "  SUCCESS: {} rules found", r.rules)?;
            } else {
                writeln!(out, "  FAILED:")?;
                for e in &r.errors {
                    writeln!(out, "{e}")?;
                }
            }
            writeln!(out)
        }),
    };
    if ok && linted && lint_fatal && written.is_ok() {
        return ExitCode::from(3);
    }
    exit(ok, written)
}

#[derive(Debug, Serialize)]
struct TestReport {
    file: String,
    passed: bool,
    failures: Vec<String>,
}

/// Runs `promtool test rules` files: exit 0 when every test passes, 1 otherwise.
pub fn test(files: &[PathBuf], output: Output) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match output {
        Output::Table => match unittest::run_files(files, &mut out) {
            Ok(ok) => exit(ok, Ok(())),
            Err(e) => exit(false, Err(e)),
        },
        Output::Json => {
            let reports: Vec<TestReport> = files
                .iter()
                .map(|f| {
                    let o = unittest::run_file(f);
                    TestReport {
                        file: f.display().to_string(),
                        passed: o.passed(),
                        failures: o.errors,
                    }
                })
                .collect();
            let ok = reports.iter().all(|r| r.passed);
            let written = serde_json::to_writer_pretty(&mut out, &reports)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out));
            exit(ok, written)
        }
    }
}

fn exit(ok: bool, written: std::io::Result<()>) -> ExitCode {
    match written {
        Err(e) => {
            eprintln!("alertctl: cannot write output: {e}");
            ExitCode::from(2)
        }
        Ok(()) if ok => ExitCode::SUCCESS,
        Ok(()) => ExitCode::from(1),
    }
}
