//! End-to-end tests of `alertctl check config` and its global flags.

use e2e::{alertctl, repo_root};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const BAD: &str = "\
global:
  scrape_interval: 5x
  smtp_auth_password: sup3rs3cret
  smtp_auth_password_file: /etc/pw
api:
  listen: somewhere
  auth_reads: true
watchdog:
  url: ftp://sup3rs3cret@hc-ping.com/x
";

#[test]
fn check_config_accepts_the_quickstart() {
    let qs = repo_root().join("examples/quickstart.yaml");
    let (code, out, err) = alertctl(&["check", "config", qs.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("quickstart.yaml: valid"), "{out}");
    assert!(
        out.contains("api.listen 127.0.0.1:9797, storage redb at data (retention 30d, rollup 1y)"),
        "{out}"
    );
}

#[test]
fn check_config_prints_every_error_with_position_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", BAD);
    let (code, out, err) = alertctl(&["check", "config", &bad], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let want = [
        format!("{bad}:2:20: `global.scrape_interval`: not a valid duration string"),
        format!("{bad}:4:28: at most one of `global.smtp_auth_password` and `global.smtp_auth_password_file` may be set"),
        format!("{bad}:6:11: `api.listen`: expected IP:PORT"),
        format!("{bad}:7:15: `api.auth_reads: true` needs `api.tokens_file`"),
        format!("{bad}:9:8: `watchdog.url`: expected an absolute http:// or https:// URL (value not shown: it is a secret)"),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len() + 1, "{out}");
    for (line, want) in lines.iter().zip(&want) {
        assert!(
            line.starts_with(want.as_str()),
            "got {line:?}\nwant {want:?}"
        );
    }
    assert_eq!(lines[5], format!("{bad}: invalid (5 errors)"));
    assert!(!out.contains("sup3rs3cret") && !err.contains("sup3rs3cret"));
}

/// Issue 15: three independent errors in three sections (a probe's unknown key, a bad
/// duration, a bad route regex) are printed in one run, each at its own node, with a readable
/// path and the regex as written; `-o json` carries the path too.
#[test]
fn check_config_prints_three_independent_errors_at_their_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "three.yaml",
        "\
storage:
  retention: 5x
probes:
  - name: ok
    http: { url: 'http://127.0.0.1:1/' }
  - name: web
    intervall: 30s
    http: { url: 'http://127.0.0.1:1/' }
route:
  receiver: r
  routes:
    - receiver: r
      match_re: { job: '(unclosed' }
receivers:
  - name: r
",
    );
    let (code, out, err) = alertctl(&["check", "config", &bad], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with(&format!("{bad}:2:14: `storage.retention`: ")),
        "{out}"
    );
    assert!(
        lines[1].starts_with(&format!(
            "{bad}:7:5: unknown key `intervall` in `probes[1]`; allowed keys: "
        )),
        "{out}"
    );
    assert!(lines[2].starts_with(&format!("{bad}:13:")), "{out}");
    assert!(lines[2].contains("`route.routes[0].match_re"), "{out}");
    assert!(lines[2].contains("\"(unclosed\""), "{out}");
    assert!(!out.contains("^(?:") && !out.contains("`?"), "{out}");
    assert_eq!(lines[3], format!("{bad}: invalid (3 errors)"));

    let (_, out, _) = alertctl(&["check", "config", "-o", "json", &bad], &[]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let errors = v["files"][0]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 3, "{out}");
    assert_eq!(errors[1]["path"], "probes[1].intervall");
    assert_eq!(errors[1]["line"], 7);
}

/// Issue 15: errors nested under one key of one list item (two bad fields of one probe's
/// `http:`, a bad key of a receiver's `webhook_configs[0]`, a secret twin set twice inside its
/// `http_config`) are all printed in one run, sorted by position, with readable paths.
#[test]
fn check_config_prints_every_nested_error_of_one_item() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "nested.yaml",
        // The file config/src/tests.rs checks the loader's report on.
        include_str!("../../config/testdata/nested-errors.yaml"),
    );
    let (code, out, err) = alertctl(&["check", "config", &bad], &[]);
    assert_eq!(code, 1, "{out}{err}");
    let want = [
        format!("{bad}:5:15: `probes[0].http.method`: "),
        format!("{bad}:6:20: `probes[0].http.fail_if_ssl`: expected true or false"),
        format!(
            "{bad}:11:24: `receivers[0].webhook_configs[0].send_resolved`: expected true or false"
        ),
        format!(
            "{bad}:13:66: `receivers[0].webhook_configs[0].http_config.basic_auth.password_file`: \
             at most one of `password` and `password_file` may be set"
        ),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), want.len() + 1, "{out}");
    for (line, want) in lines.iter().zip(&want) {
        assert!(
            line.starts_with(want.as_str()),
            "got {line:?}\nwant {want:?}"
        );
    }
    assert_eq!(lines[4], format!("{bad}: invalid (4 errors)"));
}

#[test]
fn check_config_json_output_and_flags_after_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", BAD);
    let good = write(
        dir.path(),
        "good.yaml",
        "global:\n  smtp_auth_password: sup3rs3cret\n",
    );
    let (code, out, _) = alertctl(&["check", "config", &good, &bad, "-o", "json"], &[]);
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("sup3rs3cret"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["files"][0]["valid"], true);
    assert_eq!(
        v["files"][0]["config"]["global"]["smtp_auth_password"]["inline"],
        "<secret>"
    );
    let errors = v["files"][1]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 5);
    assert_eq!(errors[0]["line"], 2);
    assert_eq!(errors[0]["column"], 20);
    assert_eq!(errors[0]["file"], bad.as_str());

    // Global flags before the subcommand, URL and token from the environment.
    let (code, out, _) = alertctl(
        &[
            "-o",
            "json",
            "--url",
            "http://127.0.0.1:1",
            "check",
            "config",
            &good,
        ],
        &[("ALERTD_TOKEN", "tok")],
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], true);
}

#[test]
fn check_config_exit_2_on_unreadable_file_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml").display().to_string();
    let (code, _, err) = alertctl(&["check", "config", &missing], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("missing.yaml: cannot read configuration file"),
        "{err}"
    );

    let (code, out, _) = alertctl(&["check", "config", "-o", "json", &missing], &[]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["valid"], false);
    assert!(v["files"][0]["read_error"]
        .as_str()
        .unwrap()
        .contains("cannot read configuration file"));

    let (code, _, err) = alertctl(&["check", "config"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = alertctl(&["frobnicate"], &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = alertctl(&["-o", "yaml", "check", "config", &missing], &[]);
    assert_eq!(code, 2, "{err}");
}

/// `alertctl check rules` and `alertctl test rules` agree with Debian's promtool on the
/// evaluator's corpus: same exit codes, and the same SUCCESS/FAILED verdict lines.
#[test]
fn rule_check_and_tests_agree_with_promtool() {
    let corpus = e2e::repo_root().join("evaluator/tests/promtool");
    let pass = corpus.join("01_arithmetic.test.yml");
    let fail = std::fs::read_dir(corpus.join("fail"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".test.yml"))
        .expect("a deliberately failing test file");
    let promtool = |args: &[&str]| {
        let out = std::process::Command::new("promtool")
            .args(args)
            .output()
            .expect("promtool (Debian package prometheus) must be installed; .ci/run installs it");
        out.status.code().unwrap()
    };
    for (file, want) in [(&pass, 0), (&fail, 1)] {
        let f = file.to_str().unwrap();
        assert_eq!(promtool(&["test", "rules", f]), want, "promtool on {f}");
        let (code, stdout, stderr) = alertctl(&["test", "rules", f], &[]);
        assert_eq!(code, want, "alertctl on {f}:\n{stdout}{stderr}");
        assert!(
            stdout.starts_with(&format!("Unit Testing:  {f}\n")),
            "{stdout}"
        );
        let verdict = if want == 0 { "  SUCCESS" } else { "  FAILED:" };
        assert!(stdout.contains(verdict), "{stdout}");
    }
    let (code, stdout, _) = alertctl(
        &["test", "rules", "-o", "json", fail.to_str().unwrap()],
        &[],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v[0]["passed"], false);
    assert!(!v[0]["failures"].as_array().unwrap().is_empty());

    // check rules: a valid file, and a broken one with its position.
    let rules = corpus.join("01_arithmetic.rules.yml");
    let (code, stdout, _) = alertctl(&["check", "rules", rules.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(promtool(&["check", "rules", rules.to_str().unwrap()]), 0);
    assert!(stdout.contains("  SUCCESS: "), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rules.yml");
    std::fs::write(
        &bad,
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n",
    )
    .unwrap();
    assert_eq!(promtool(&["check", "rules", bad.to_str().unwrap()]), 1);
    let (code, stdout, _) = alertctl(&["check", "rules", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("bad.rules.yml:5:"), "{stdout}");
    assert!(stdout.contains("group \"g\""), "{stdout}");
}

#[test]
fn check_config_accepts_the_vps_example() {
    // examples/vps.yaml with its secret files created in a temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    for f in [
        "smtp-password",
        "slack-webhook-url",
        "api-tokens",
        "pg-replica.dsn",
        "mysql-replica.dsn",
        "pg-backup.token",
        "watchdog-url",
    ] {
        let content = match f {
            "pg-replica.dsn" => "postgresql://alertd@127.0.0.1:5432/postgres",
            "mysql-replica.dsn" => "mysql://alertd:pw@127.0.0.1:3306/",
            "slack-webhook-url" => "https://hooks.slack.com/services/T0/B0/x",
            "watchdog-url" => "https://hc-ping.com/0b7c",
            _ => "0123456789abcdef",
        };
        std::fs::write(secrets.join(f), content).unwrap();
    }
    let text = std::fs::read_to_string(repo_root().join("examples/vps.yaml"))
        .unwrap()
        .replace("/etc/alertd/secrets", &secrets.display().to_string())
        .replace(
            "/usr/local/share/alertd/rules",
            &repo_root().join("rules").display().to_string(),
        );
    let cfg = write(dir.path(), "vps.yaml", &text);
    let (code, out, err) = alertctl(&["check", "config", &cfg], &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("vps.yaml: valid"), "{out}");
}

/// `alertctl check rules --lint`: the default pack is clean under every lint; a file with a
/// duplicate, a missing runbook and a spiky alert gets each finding at its position, and the
/// exit codes follow promtool's (0, and 3 under `--lint-fatal`), as does the default lint
/// (duplicate rules only) — compared with Debian's promtool on the same file.
#[test]
fn check_rules_lint_finds_missing_runbooks_short_for_and_duplicates() {
    let pack: Vec<String> = std::fs::read_dir(repo_root().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".rules.yml"))
        .collect();
    assert!(pack.len() >= 7, "{pack:?}");
    let mut args = vec!["check", "rules", "--lint", "--lint-fatal"];
    args.extend(pack.iter().map(String::as_str));
    let (code, out, err) = alertctl(&args, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("WARNING"), "{out}");

    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "lint.rules.yml",
        "groups:\n  - name: g\n    rules:\n      - alert: Spiky\n        expr: up == 0\n        \
         annotations: { summary: down }\n      - record: job:up\n        expr: up\n      \
         - record: job:up\n        expr: up\n",
    );
    let promtool = |args: &[&str]| {
        std::process::Command::new("promtool")
            .args(args)
            .output()
            .expect("promtool (Debian package prometheus) must be installed; .ci/run installs it")
            .status
            .code()
            .unwrap()
    };
    // The default: duplicates only, reported but not fatal; fatal with --lint-fatal (3).
    let (code, out, _) = alertctl(&["check", "rules", &f], &[]);
    assert_eq!((code, promtool(&["check", "rules", &f])), (0, 0), "{out}");
    assert!(
        out.contains(&format!(
            "  WARNING: {f}:9:9: group \"g\", rule 3, \"job:up\": same name and labels as the rule \
             at line 7, column 9: both write the same series [duplicate-rules]"
        )),
        "{out}"
    );
    assert!(!out.contains("[runbook]"), "{out}");
    assert!(out.contains("  SUCCESS: 3 rules found"), "{out}");
    let (code, _, _) = alertctl(&["check", "rules", "--lint-fatal", &f], &[]);
    assert_eq!(
        (code, promtool(&["check", "rules", "--lint-fatal", &f])),
        (3, 3)
    );
    let (code, _, _) = alertctl(&["check", "rules", "--lint=none", "--lint-fatal", &f], &[]);
    assert_eq!(
        (
            code,
            promtool(&["check", "rules", "--lint=none", "--lint-fatal", &f])
        ),
        (0, 0)
    );

    // Every lint, with a longer minimum for:, as JSON.
    let (code, out, err) = alertctl(
        &[
            "-o",
            "json",
            "check",
            "rules",
            "--lint",
            "--lint-min-for",
            "2m",
            &f,
        ],
        &[],
    );
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let warnings: Vec<&str> = v[0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(
        warnings[0].ends_with("no runbook_url annotation [runbook]"),
        "{warnings:?}"
    );
    assert!(
        warnings[1]
            .ends_with("for: 0s is shorter than 2m: a single bad evaluation notifies [min-for]"),
        "{warnings:?}"
    );
    assert!(warnings[2].ends_with("[duplicate-rules]"), "{warnings:?}");
    assert!(warnings[0].starts_with(&format!("{f}:4:9: group \"g\", rule 1, \"Spiky\"")));

    // An unknown lint is a usage error.
    let (code, _, err) = alertctl(&["check", "rules", "--lint=bogus", &f], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown lint \"bogus\""), "{err}");
}
