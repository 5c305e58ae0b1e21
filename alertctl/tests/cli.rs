//! The `alertctl` command line (this integration test also makes `cargo test` build the
//! binary that the e2e tests run).

use std::process::Command;

#[test]
fn help_shows_global_flags_and_the_subcommands() {
    let out = Command::new(env!("CARGO_BIN_EXE_alertctl"))
        .arg("--help")
        .env("ALERTD_TOKEN", "secret-token-value")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--url",
        "ALERTD_URL",
        "--token",
        "ALERTD_TOKEN",
        "--output",
        "check",
        "silence",
        "alert",
        "ack",
        "unack",
        "history",
        "heartbeat",
        "probe",
        "reload",
        "status",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    assert!(!text.contains("secret-token-value"), "{text}");
}

#[test]
fn no_subcommand_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_alertctl"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
