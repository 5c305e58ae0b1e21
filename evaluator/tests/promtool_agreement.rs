//! Runs every rule unit-test file under `tests/promtool/` through both Debian's `promtool test
//! rules` (the reference, Prometheus 2.42) and alertd's runner: files directly in the folder
//! must pass in both, files in `fail/` (deliberately wrong expectations) must fail in both.

use std::path::{Path, PathBuf};
use std::process::Command;

fn test_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    v.sort();
    v
}

fn promtool(file: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg(file.file_name().unwrap())
        .current_dir(file.parent().unwrap())
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is required for this test (apt-get install -y prometheus): {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn ours(file: &Path) -> (bool, String) {
    let mut buf = Vec::new();
    let ok = evaluator::unittest::run_files(&[file], &mut buf).unwrap();
    (ok, String::from_utf8_lossy(&buf).into_owned())
}

#[test]
fn corpus_passes_in_promtool_and_alertd() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promtool");
    let files = test_files(&dir);
    assert!(files.len() >= 25, "corpus has only {} files", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let (p_ok, p_out) = promtool(f);
        let (o_ok, o_out) = ours(f);
        if !p_ok {
            failures.push(format!("promtool failed {}:\n{p_out}", f.display()));
        }
        if !o_ok {
            failures.push(format!("alertd failed {}:\n{o_out}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn wrong_expectations_fail_in_promtool_and_alertd() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promtool/fail");
    let files = test_files(&dir);
    assert!(files.len() >= 3, "need at least 3 failing files");
    let mut failures = Vec::new();
    for f in &files {
        let (p_ok, _) = promtool(f);
        let (o_ok, o_out) = ours(f);
        if p_ok {
            failures.push(format!("promtool passed {}", f.display()));
        }
        if o_ok {
            failures.push(format!("alertd passed {}:\n{o_out}", f.display()));
        }
        if !o_out.contains("FAILED:") {
            failures.push(format!("no FAILED report for {}:\n{o_out}", f.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
