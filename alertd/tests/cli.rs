//! The `alertd` command line (this integration test also makes `cargo test` build the binary
//! that the e2e tests start).

use std::process::Command;

fn alertd(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_alertd"))
        .args(args)
        .output()
        .expect("run alertd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_flags_and_alias() {
    let (code, out, _) = alertd(&["--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--config <FILE>",
        "config.file",
        "--log.format",
        "--log.level",
        "alertd.yaml",
    ] {
        assert!(out.contains(flag), "{flag} missing from:\n{out}");
    }
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let (code, _, err) = alertd(&["--log.format=xml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("possible values: text, json"), "{err}");
    let (code, _, err) = alertd(&["--log.level", "loud"]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn missing_config_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let (code, _, err) = alertd(&["--config.file", missing.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("nope.yaml: cannot read configuration file"),
        "{err}"
    );
}
