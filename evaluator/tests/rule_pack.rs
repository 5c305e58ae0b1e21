//! The default rule pack in `rules/`: every rule file has a unit-test file, and each test file
//! passes in both `promtool test rules` (Prometheus 2.42, the reference) and alertd's runner.

use std::path::{Path, PathBuf};
use std::process::Command;

fn pack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules")
}

#[test]
fn every_rule_file_has_a_test_file() {
    let dir = pack_dir();
    let mut rule_files = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".rules.yml") {
            rule_files += 1;
            assert!(
                dir.join(format!("{stem}.test.yml")).exists(),
                "{name} has no test file"
            );
        }
    }
    assert!(rule_files >= 6, "only {rule_files} rule files");
    let set = evaluator::RuleSet::load_relative(&["*.rules.yml"], Some(&dir)).unwrap();
    assert!(set.rules().count() >= 20);
}

#[test]
fn rule_pack_tests_pass_in_promtool_and_alertd() {
    let dir = pack_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".test.yml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    for f in &files {
        let out = Command::new("promtool")
            .args(["test", "rules"])
            .arg(f.file_name().unwrap())
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| {
                panic!("promtool is required (apt-get install -y prometheus): {e}")
            });
        if !out.status.success() {
            failures.push(format!(
                "promtool failed {}:\n{}{}",
                f.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let o = evaluator::unittest::run_file(f);
        if !o.passed() {
            failures.push(format!(
                "alertd failed {}:\n{}",
                f.display(),
                o.errors.join("\n")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
