use super::*;

fn errs(yaml: &str) -> Vec<String> {
    match parse_str(yaml, "a.yaml") {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn one(yaml: &str) -> String {
    let e = errs(yaml);
    assert_eq!(e.len(), 1, "{e:?}");
    e.into_iter().next().unwrap()
}

#[test]
fn empty_document_gives_all_defaults() {
    let c = parse_str("", "a.yaml").unwrap();
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(10));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(15));
    assert_eq!(c.global.resolve_timeout, Duration::from_secs(300));
    assert_eq!(c.global.smtp_hello, "localhost");
    assert!(c.global.smtp_require_tls);
    assert!(c.global.http().follows_redirects());
    assert!(c.global.http().http2());
    assert_eq!(c.storage.path, PathBuf::from("data"));
    assert_eq!(c.storage.engine, StorageEngine::Redb);
    assert_eq!(c.storage.retention, "30d".parse().unwrap());
    assert_eq!(c.storage.rollup_retention, "365d".parse().unwrap());
    assert_eq!(c.storage.checkpoint_interval, "60s".parse().unwrap());
    assert_eq!(c.storage.wal_fsync_interval, "1s".parse().unwrap());
    assert_eq!(c.api.listen, DEFAULT_LISTEN.parse().unwrap());
    assert_eq!(c.api.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    assert_eq!(Config::default(), c);
}

#[test]
fn full_known_sections_parse() {
    let y = r#"
global:
  scrape_interval: 30s
  scrape_timeout: 30s
  evaluation_interval: 1s
  external_labels: { site: oslo }
  external_url: https://alertd.example.com/
  resolve_timeout: 10m
  smtp_from: alertd@example.com
  smtp_smarthost: smtp.example.com:587
  smtp_hello: alertd.example.com
  smtp_auth_username: alertd
  smtp_auth_password_file: /etc/alertd/smtp.pw
  smtp_require_tls: false
  slack_api_url: https://hooks.slack.com/services/T/B/XYZ
  http_config:
    authorization: { credentials_file: /etc/alertd/token }
    tls_config: { ca_file: /etc/ca.pem, insecure_skip_verify: true }
    follow_redirects: false
storage:
  path: /var/lib/alertd
  engine: redb
  retention: 7d
  rollup_retention: 2y
  checkpoint_interval: 10s
  wal_fsync_interval: 0s
api:
  listen: "[::1]:9000"
  auth_reads: false
  public_status: false
  max_body_bytes: 1024
probes: []
rule_files: []
route: {}
watchdog:
"#;
    let c = parse_str(y, "a.yaml").unwrap();
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(30));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(1));
    assert_eq!(
        c.global.external_labels.get("site").map(String::as_str),
        Some("oslo")
    );
    assert_eq!(
        c.global.smtp_auth_password,
        Some(SecretSource::File("/etc/alertd/smtp.pw".into()))
    );
    assert!(!c.global.smtp_require_tls);
    assert_eq!(
        c.global.slack_api_url,
        Some(SecretSource::Inline(Secret::new(
            "https://hooks.slack.com/services/T/B/XYZ"
        )))
    );
    let auth = c.global.http().authorization.as_ref().unwrap();
    assert_eq!(auth.kind, "Bearer");
    assert!(c.global.http().tls().insecure_skip_verify);
    assert!(!c.global.http().follows_redirects());
    assert_eq!(c.storage.engine, StorageEngine::Redb);
    assert_eq!(c.storage.rollup_retention, "2y".parse().unwrap());
    assert_eq!(c.storage.wal_fsync_interval, model::Duration::ZERO);
    assert_eq!(c.api.listen, "[::1]:9000".parse().unwrap());
    assert_eq!(c.api.max_body_bytes, 1024);
    assert!(!c.api.public_status);
}

#[test]
fn public_status_page_can_be_enabled() {
    let c = parse_str("api:\n  public_status: true\n", "a.yaml").unwrap();
    assert!(c.api.public_status);
    assert!(!Config::default().api.public_status);
}

#[test]
fn secrets_are_redacted_in_debug_and_json() {
    let y = "global:\n  smtp_auth_password: hunter2\n  slack_api_url: https://hooks.slack.com/services/SECRETPATH\n";
    let c = parse_str(y, "a.yaml").unwrap();
    let dbg = format!("{c:?}");
    let json = serde_json::to_string(&c).unwrap();
    for out in [dbg, json] {
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("SECRETPATH"), "{out}");
        assert!(out.contains("<secret>"), "{out}");
    }
}

#[test]
fn unknown_key_in_section_names_section_and_allowed_keys() {
    let e = one("storage:\n  path: x\n  engin: redb\n");
    assert_eq!(
        e,
        "a.yaml:3:3: unknown key `engin` in `storage`; allowed keys: path, engine, retention, \
         rollup_retention, checkpoint_interval, wal_fsync_interval"
    );
}

#[test]
fn unknown_nested_key_names_full_path() {
    let e = one("global:\n  http_config:\n    tls_config:\n      ca: x\n");
    assert!(
        e.starts_with("a.yaml:4:7: unknown key `ca` in `global.http_config.tls_config`; allowed keys: ca_file,"),
        "{e}"
    );
}

#[test]
fn every_unknown_top_level_key_is_reported() {
    let e = errs("foo: 1\nglobal: {}\nbar:\n  x: 1\n");
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with(
            "a.yaml:1:1: unknown top-level key `foo`; allowed keys: global, storage, api, probes,"
        ),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("a.yaml:3:1: unknown top-level key `bar`"),
        "{e:?}"
    );
}

#[test]
fn wrong_types_are_reported_with_position_and_expectation() {
    assert_eq!(
        one("api:\n  auth_reads: maybe\n"),
        "a.yaml:2:15: `api.auth_reads`: expected true or false"
    );
    assert_eq!(
        one("api:\n  max_body_bytes: lots\n"),
        "a.yaml:2:19: `api.max_body_bytes`: expected a non-negative integer (fits in u64)"
    );
    assert_eq!(
        one("global: 3\n"),
        "a.yaml:1:9: `global`: expected a mapping (key: value pairs)"
    );
    assert_eq!(
        one("global:\n  scrape_interval: [1m]\n"),
        "a.yaml:2:20: `global.scrape_interval`: expected a string"
    );
    assert_eq!(
        one("global:\n  external_labels:\n    a: [1]\n"),
        "a.yaml:3:8: `global.external_labels.a`: expected a string"
    );
    let e = one("- 1\n- 2\n");
    assert!(
        e.starts_with(
            "a.yaml:1:1: expected a mapping with the top-level keys global, storage, api,"
        ),
        "{e}"
    );
    assert_eq!(
        one("storage:\n  retention: 1d\n---\nx: 1\n"),
        "a.yaml:4:1: expected a single YAML document, found a second one (`---`)"
    );
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let e = one("global:\n  scrape_interval: [1m\n");
    assert!(e.starts_with("a.yaml:"), "{e}");
    assert!(!e.starts_with("a.yaml:0:0"), "{e}");
    let e = one("global:\n  scrape_interval: 1m\n  scrape_interval: 2m\n");
    assert!(e.starts_with("a.yaml:3:3:"), "{e}");
    assert!(e.contains("duplicate"), "{e}");
}

#[test]
fn all_semantic_errors_are_collected() {
    let y = "\
global:
  scrape_interval: 5x
  evaluation_interval: 0s
  resolve_timeout: 1h1h
  external_url: example.com
  smtp_smarthost: smtp.example.com
  external_labels: { 1bad: x }
storage:
  engine: rocks
  retention: 10d
  rollup_retention: 1d
  checkpoint_interval: soon
api:
  listen: localhost
  tokens_file: /etc/alertd/tokens
  public_status: true
  auth_reads: true
probes:
  - name: web
heartbeats: [{ name: backup }]
route: { receiver: x }
escalations: []
";
    let e = errs(y);
    let want = [
        "a.yaml:2:20: `global.scrape_interval`: not a valid duration string: \"5x\"",
        "a.yaml:3:24: `global.evaluation_interval` must be greater than 0s",
        "a.yaml:4:20: `global.resolve_timeout`: not a valid duration string",
        "a.yaml:5:17: `global.external_url`: expected an absolute http:// or https:// URL, got \"example.com\"",
        "a.yaml:6:19: `global.smtp_smarthost`: expected host:port",
        "a.yaml:7:20: `global.external_labels`: invalid label name \"1bad\"",
        "a.yaml:9:11: `storage.engine`: expected `sled` or `redb`, got \"rocks\"",
        "a.yaml:11:21: `storage.rollup_retention` (1d) must not be shorter than `storage.retention` (10d)",
        "a.yaml:12:24: `storage.checkpoint_interval`: not a valid duration string",
        "a.yaml:14:11: `api.listen`: expected IP:PORT such as 127.0.0.1:9797",
        "a.yaml:19:5: `probes[0]`: exactly one of http, tls, disk, postgres, mysql, tcp, dns, icmp, grpc must be set",
        "a.yaml:20:14: `heartbeats[0]`: one of period or schedule is required",
        "a.yaml:21:20: `route.receiver`: unknown receiver \"x\"",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "got {got:?}\nwant prefix {want:?}\n{e:#?}"
        );
    }
}

#[test]
fn empty_unimplemented_sections_are_accepted() {
    let y = "probes: []\nscrape_configs:\nheartbeats: ~\nrule_files: []\nroute: {}\nreceivers: []\n\
             inhibit_rules: []\ntime_intervals: []\nmute_time_intervals: []\nescalations: []\nwatchdog: {}\n";
    parse_str(y, "a.yaml").unwrap();
}

#[test]
fn watchdog_is_parsed_with_defaults_and_checked() {
    let c = parse_str(
        "watchdog: {url: 'https://hc-ping.com/0b7c', interval: 30s}\n",
        "a.yaml",
    )
    .unwrap();
    let w = c.watchdog.unwrap();
    assert_eq!(w.interval, Duration::from_secs(30));
    assert_eq!(w.timeout, Duration::from_secs(10));
    assert_eq!(
        w.url.resolve().unwrap().expose(),
        "https://hc-ping.com/0b7c"
    );
    // A short interval caps the default timeout.
    let c = parse_str("watchdog: {url: 'http://h/x', interval: 2s}\n", "a.yaml").unwrap();
    assert_eq!(c.watchdog.unwrap().timeout, Duration::from_secs(2));
    assert_eq!(
        parse_str("watchdog: {}\n", "a.yaml").unwrap().watchdog,
        None
    );

    let e = one("global: {}\nwatchdog: {interval: 1m}\n");
    assert!(e.starts_with("a.yaml:2:11: `watchdog` needs `url`"), "{e}");
    let e = one("watchdog:\n  url: 'ftp://secret-token@x'\n");
    assert!(
        e.starts_with("a.yaml:2:8: `watchdog.url`: expected an absolute"),
        "{e}"
    );
    assert!(!e.contains("secret-token"), "the URL is a secret: {e}");
    let e = one("watchdog: {url: 'http://h/x', interval: 10s, timeout: 1m}\n");
    assert!(
        e.contains("`watchdog.timeout` (1m) must not be greater"),
        "{e}"
    );
    let e = one("watchdog: {url: 'http://h/x', every: 10s}\n");
    assert!(e.contains("unknown key `every` in `watchdog`"), "{e}");
}

#[test]
fn notifier_sections_are_validated_with_positions() {
    let e =
        errs("receivers:\n  - name: hook\n    webhook_configs: [{ url: 'http://127.0.0.1:1/' }]\n");
    assert_eq!(
        e,
        ["a.yaml:1:1: `route.receiver`: the root route needs a receiver"],
        "{e:#?}"
    );
    let y = "route:\n  receiver: hook\n  routes:\n    - receiver: nope\nreceivers:\n  - name: hook\n    \
             webhook_configs: [{ url: 'http://127.0.0.1:1/' }]\n";
    let e = errs(y);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].contains("unknown receiver \"nope\""), "{e:#?}");
    let ok = y.replace("nope", "hook");
    let c = parse_str(&ok, "a.yaml").unwrap();
    assert_eq!(c.notifier.receivers.len(), 1);
    assert_eq!(c.notifier.route.receiver.as_deref(), Some("hook"));
}

#[test]
fn scrape_timeout_rules_follow_prometheus() {
    // An unset timeout follows a shorter interval.
    let c = parse_str("global:\n  scrape_interval: 5s\n", "a.yaml").unwrap();
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
    // timeout may equal interval, 1s is valid.
    let c = parse_str(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n",
        "a.yaml",
    )
    .unwrap();
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(1));
    let e = one("global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n");
    assert_eq!(
        e,
        "a.yaml:3:19: `global.scrape_timeout` (6s) must not be greater than `global.scrape_interval` (5s)"
    );
}

#[test]
fn secret_and_file_twin_are_exclusive_and_errors_never_echo_secrets() {
    let y = "\
global:
  smtp_auth_password: hunter2
  smtp_auth_password_file: /x
  slack_api_url: not-a-url-TOPSECRET
  http_config:
    basic_auth: { username: u, password: pw-SECRET2, password_file: /y }
    proxy_url: ftp://user:PROXYSECRET@proxy
";
    let e = errs(y);
    let all = e.join("\n");
    for s in ["hunter2", "TOPSECRET", "SECRET2", "PROXYSECRET"] {
        assert!(!all.contains(s), "{all}");
    }
    assert!(all.contains("a.yaml:3:28: at most one of `global.smtp_auth_password` and `global.smtp_auth_password_file` may be set"), "{all}");
    assert!(all.contains("a.yaml:4:18: `global.slack_api_url`: expected an absolute http:// or https:// URL (value not shown: it is a secret)"), "{all}");
    assert!(all.contains("a.yaml:6:69: `global.http_config.basic_auth.password_file`: at most one of `password` and `password_file` may be set"), "{all}");
    assert!(
        all.contains("a.yaml:7:16: `global.http_config.proxy_url`"),
        "{all}"
    );
    assert_eq!(e.len(), 4, "{all}");
}

#[test]
fn authorization_and_basic_auth_are_exclusive() {
    let e = one("global:\n  http_config:\n    authorization: { credentials: a }\n    basic_auth: { username: u }\n");
    assert_eq!(
        e,
        "a.yaml:4:17: `global.http_config`: at most one of `authorization` and `basic_auth` may be set"
    );
}

#[test]
fn listen_forms() {
    assert_eq!(parse_listen(":9797"), Some("0.0.0.0:9797".parse().unwrap()));
    assert_eq!(
        parse_listen("localhost:1"),
        Some("127.0.0.1:1".parse().unwrap())
    );
    assert_eq!(
        parse_listen("127.0.0.1:9797"),
        Some("127.0.0.1:9797".parse().unwrap())
    );
    assert_eq!(parse_listen("127.0.0.1"), None);
    assert_eq!(parse_listen("127.0.0.1:99999"), None);
    assert_eq!(parse_listen("example.com:80"), None);
}

#[test]
fn load_file_reports_unreadable_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let e = load_file(&missing).unwrap_err();
    assert!(matches!(e, LoadError::Read { .. }));
    assert!(
        e.to_string().contains("cannot read configuration file"),
        "{e}"
    );
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "api:\n  listen: nowhere\n").unwrap();
    let e = load_file(&bad).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}:2:11: `api.listen`", bad.display())),
        "{e}"
    );
}

#[test]
fn unknown_keys_in_every_section_are_all_reported() {
    let y = "\
global:
  scrape_intervall: 1m
  http_config:
    tls_config: { ca: x, insecure: true }
storage:
  engin: redb
api:
  listen: 127.0.0.1:1
  token_file: x
foo: 1
";
    let e = errs(y);
    let starts = [
        "a.yaml:2:3: unknown key `scrape_intervall` in `global`; allowed keys: scrape_interval,",
        "a.yaml:4:19: unknown key `ca` in `global.http_config.tls_config`; allowed keys: ca_file,",
        "a.yaml:4:26: unknown key `insecure` in `global.http_config.tls_config`",
        "a.yaml:6:3: unknown key `engin` in `storage`; allowed keys: path, engine,",
        "a.yaml:9:3: unknown key `token_file` in `api`; allowed keys: listen, tokens_file,",
        "a.yaml:10:1: unknown top-level key `foo`; allowed keys: global,",
    ];
    assert_eq!(e.len(), starts.len(), "{e:#?}");
    for (got, want) in e.iter().zip(starts) {
        assert!(
            got.starts_with(want),
            "got {got:?}\nwant prefix {want:?}\n{e:#?}"
        );
    }
}

#[test]
fn a_type_error_is_reported_next_to_unknown_keys() {
    // serde stops at its first error: a type error before the unknown keys is reported along
    // with every unknown key (found by the pre-pass); one after the first unknown key is not.
    let e = errs("api:\n  auth_reads: maybe\nstorage:\n  engin: redb\n  pth: x\n");
    assert_eq!(
        e,
        [
            "a.yaml:2:15: `api.auth_reads`: expected true or false",
            "a.yaml:4:3: unknown key `engin` in `storage`; allowed keys: path, engine, retention, \
             rollup_retention, checkpoint_interval, wal_fsync_interval",
            "a.yaml:5:3: unknown key `pth` in `storage`; allowed keys: path, engine, retention, \
             rollup_retention, checkpoint_interval, wal_fsync_interval",
        ]
    );
}

#[test]
fn collector_sections_are_typed_and_validated_at_item_positions() {
    let y = "\
global:
  scrape_interval: 30s
probes:
  - name: web
    http: { url: 'http://127.0.0.1:1/health' }
  - name: web
    disk: { path: / }
    timeout: 1m
scrape_configs:
  - job_name: node
    static_configs: [{ targets: ['127.0.0.1:9100'] }]
heartbeats:
  - { name: backup, period: 1d, grace: 30m }
";
    let e = errs(y);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].starts_with("a.yaml:6:11: `probes[1].name`"), "{e:#?}");
    assert!(
        e.iter()
            .any(|x| x.contains("duplicate") || x.contains("web")),
        "{e:#?}"
    );
    let ok = y
        .replace("  - name: web\n    disk", "  - name: root\n    disk")
        .replace("timeout: 1m", "timeout: 5s");
    let c = parse_str(&ok, "a.yaml").unwrap();
    assert_eq!(c.collector.probes.len(), 2);
    assert_eq!(c.collector.scrape_configs[0].job_name, "node");
    assert_eq!(c.collector.heartbeats[0].name, "backup");
    // Probe and scrape defaults come from `global`.
    assert_eq!(c.collector.defaults.interval, Duration::from_secs(30));
    // Unknown keys inside a probe are refused with their position.
    let e = one("probes:\n  - name: web\n    http: { url: 'http://x/', methd: GET }\n");
    assert!(e.starts_with("a.yaml:3:") && e.contains("methd"), "{e}");
}

#[test]
fn rule_files_are_loaded_relative_to_the_config_and_their_errors_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rules")).unwrap();
    std::fs::write(
        dir.path().join("rules/ok.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 1m\n",
    )
    .unwrap();
    let cfg = dir.path().join("alertd.yaml");
    std::fs::write(&cfg, "rule_files: ['rules/*.yml']\n").unwrap();
    let c = load_file(&cfg).unwrap();
    assert_eq!(c.rule_files, ["rules/*.yml"]);

    std::fs::write(
        dir.path().join("rules/bad.yml"),
        "groups:\n  - name: g2\n    rules:\n      - alert: Broken\n        expr: up ==\n",
    )
    .unwrap();
    let e = match load_file(&cfg) {
        Err(LoadError::Invalid(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.0.len(), 1, "{e}");
    assert!(e.0[0].file.ends_with("rules/bad.yml"), "{e}");
    assert_eq!(e.0[0].line, 5, "{e}");
    assert!(e.0[0].message.contains("g2"), "{e}");
}

#[test]
fn template_files_are_relative_to_the_config_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmpl")).unwrap();
    std::fs::write(
        dir.path().join("tmpl/ops.tmpl"),
        "{{ define \"ops.title\" }}{{ .CommonLabels.alertname }}{{ end }}",
    )
    .unwrap();
    let cfg = dir.path().join("alertd.yaml");
    let yaml = "templates: ['tmpl/*.tmpl']\nroute: { receiver: s }\nreceivers:\n  - name: s\n    \
                slack_configs:\n      - api_url: 'https://hooks.slack.com/x'\n        \
                title: '{{ template \"ops.title\" . }}'\n        \
                text: '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'\n";
    std::fs::write(&cfg, yaml).unwrap();
    let c = load_file(&cfg).unwrap();
    assert_eq!(
        c.notifier.templates,
        [dir.path().join("tmpl/*.tmpl").display().to_string()]
    );

    // A broken field is reported at the field itself.
    std::fs::write(
        &cfg,
        yaml.replace("range .Alerts", "range .Alerts | nosuch"),
    )
    .unwrap();
    let e = match load_file(&cfg) {
        Err(LoadError::Invalid(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].line, 8, "{e}");
    assert!(
        e.0[0]
            .message
            .starts_with("`receivers[0].slack_configs[0].text`: template"),
        "{e}"
    );

    // A broken file is reported at `templates`.
    std::fs::write(dir.path().join("tmpl/bad.tmpl"), "{{ define \"x\" }}{{ .A ").unwrap();
    std::fs::write(&cfg, yaml).unwrap();
    let e = match load_file(&cfg) {
        Err(LoadError::Invalid(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!((e.0[0].line, e.0[0].column), (1, 1), "{e}");
    assert!(e.0[0].message.contains("bad.tmpl"), "{e}");
}

#[test]
fn tokens_file_is_read_relative_to_the_config_and_reported_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("alertd.yaml");
    std::fs::write(&cfg, "api:\n  tokens_file: tokens\n  auth_reads: true\n").unwrap();
    std::fs::write(
        dir.path().join("tokens"),
        "# ops team\n  s3cret-a \n\nsecond\n",
    )
    .unwrap();
    let c = load_file(&cfg).unwrap();
    let got: Vec<&str> = c.api.tokens.iter().map(|t| t.expose()).collect();
    assert_eq!(got, ["s3cret-a", "second"]);
    assert!(c.api.auth_reads);
    // Tokens never show in printed configurations.
    assert!(!format!("{c:?}").contains("s3cret"));
    assert!(!serde_json::to_string(&c).unwrap().contains("s3cret"));

    std::fs::write(dir.path().join("tokens"), "# only a comment\n").unwrap();
    let e = load_file(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("alertd.yaml:2:16: `api.tokens_file`: ") && e.contains("contains no token"),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("tokens")).unwrap();
    let e = load_file(&cfg).unwrap_err().to_string();
    assert!(
        e.contains("alertd.yaml:2:16: `api.tokens_file`: cannot read "),
        "{e}"
    );

    assert_eq!(
        one("api:\n  auth_reads: true\n"),
        "a.yaml:2:15: `api.auth_reads: true` needs `api.tokens_file` (the tokens to check)"
    );
}

#[test]
fn ping_rate_limit_has_defaults_and_checks_its_numbers() {
    let d = Config::default().api.ping_rate_limit;
    assert!(d.enabled);
    assert_eq!(
        (d.per_second.get(), d.burst.get(), d.max_clients.get()),
        (10, 300, 10_000)
    );
    let c = parse_str(
        "api:\n  ping_rate_limit: { per_second: 2, burst: 5, max_clients: 7 }\n",
        "a.yaml",
    )
    .unwrap();
    let p = c.api.ping_rate_limit;
    assert!(p.enabled);
    assert_eq!(
        (p.per_second.get(), p.burst.get(), p.max_clients.get()),
        (2, 5, 7)
    );
    // Keys left out keep their defaults.
    let c = parse_str("api:\n  ping_rate_limit:\n    enabled: false\n", "a.yaml").unwrap();
    assert_eq!(
        c.api.ping_rate_limit,
        PingRateLimitConfig {
            enabled: false,
            ..d
        }
    );
    let e = errs(
        "api:\n  ping_rate_limit:\n    per_second: 0\n    burst: 4294967296\n    max_clients: 1000001\n",
    );
    assert_eq!(
        e,
        [
            "a.yaml:3:17: `api.ping_rate_limit.per_second` must be between 1 and 4294967295, \
             got 0 (to turn the limit off, set `enabled: false`)",
            "a.yaml:4:12: `api.ping_rate_limit.burst` must be between 1 and 4294967295, got \
             4294967296",
            "a.yaml:5:18: `api.ping_rate_limit.max_clients` must be between 1 and 1000000, got \
             1000001",
        ]
    );
    assert!(
        one("api:\n  ping_rate_limit: { per_second: 1, rate: 2 }\n").starts_with(
            "a.yaml:2:37: unknown key `rate` in `api.ping_rate_limit`; allowed keys: enabled, \
             per_second, burst, max_clients"
        ),
    );
    assert_eq!(
        one("api:\n  ping_rate_limit: { burst: many }\n"),
        "a.yaml:2:29: `api.ping_rate_limit.burst`: expected a non-negative integer (fits in u64)"
    );
}

#[test]
fn alertmanager_receiver_types_and_global_keys_alertd_lacks_are_named_at_their_position() {
    let e = errs(
        "\
global:
  wechat_api_secret: k
  wechat_api_corp_id: c
route: { receiver: w }
receivers:
  - name: w
    wechat_configs: [{ agent_id: k }]
",
    );
    let all = e.join("\n");
    assert!(
        all.contains(
            "a.yaml:2:22: `global.wechat_api_secret`: wechat receivers are not supported yet"
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "a.yaml:3:23: `global.wechat_api_corp_id`: wechat receivers are not supported yet"
        ),
        "{all}"
    );
    assert!(
        all.contains(
            "a.yaml:7:5: `receivers[0].wechat_configs`: receiver \"w\": wechat_configs is not \
             supported yet"
        ),
        "{all}"
    );
    assert!(!all.contains("unknown key"), "{all}");
    assert_eq!(e.len(), 3, "{all}");
}

#[test]
fn global_http_config_applies_to_receivers_and_receivers_take_a_proxy_url() {
    // Both valid in Alertmanager 0.25.
    let c = parse_str(
        "\
global:
  http_config: { basic_auth: { username: u, password: p }, proxy_url: 'http://127.0.0.1:3128' }
route: { receiver: hook }
receivers:
  - name: hook
    webhook_configs:
      - url: 'http://example.invalid/hook'
        http_config: { proxy_url: 'http://127.0.0.1:3129' }
",
        "a.yaml",
    )
    .unwrap();
    let g = c
        .notifier
        .global
        .http_config
        .as_ref()
        .expect("global http_config passed on");
    assert_eq!(g.basic_auth.as_ref().unwrap().username, "u");
    assert_eq!(
        g.proxy_url.as_ref().unwrap().expose(),
        "http://127.0.0.1:3128"
    );
    let w = &c.notifier.receivers[0].webhook_configs[0];
    assert_eq!(
        w.http_config
            .as_ref()
            .unwrap()
            .proxy_url
            .as_ref()
            .unwrap()
            .expose(),
        "http://127.0.0.1:3129"
    );
    // Nothing customised: the receivers keep reqwest's defaults.
    let c = parse_str(
        "route: { receiver: r }\nreceivers: [{ name: r }]\n",
        "a.yaml",
    )
    .unwrap();
    assert!(c.notifier.global.http_config.is_none());
}

#[test]
fn legacy_match_with_an_invalid_label_name_is_refused() {
    let e = one(
        "route:\n  receiver: r\n  routes:\n    - match: { foo-bar: x }\nreceivers: [{ name: r }]\n",
    );
    assert!(e.contains("invalid label name \"foo-bar\""), "{e}");
    assert!(e.starts_with("a.yaml:"), "{e}");
}

#[test]
fn external_url_defaults_from_api_listen() {
    let c = parse_str("api: { listen: 127.0.0.1:9797 }\n", "a.yaml").unwrap();
    assert_eq!(c.external_url(), "http://127.0.0.1:9797");
    assert_eq!(
        c.notifier.global.external_url.as_deref(),
        Some("http://127.0.0.1:9797")
    );
    assert!(!c.external_url_needed());
    let c = parse_str("api: { listen: '[::1]:9797' }\n", "a.yaml").unwrap();
    assert_eq!(c.external_url(), "http://[::1]:9797");
    // Listening everywhere: the host name stands in, and a warning is due at start.
    let c = parse_str("api: { listen: 0.0.0.0:9797 }\n", "a.yaml").unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(c.external_url(), format!("http://{}:9797", host.trim()));
    assert!(c.external_url_needed());
    // Set: used as written, without a trailing slash, and no warning.
    let c = parse_str(
        "global: { external_url: 'https://alertd.example.com/' }\napi: { listen: 0.0.0.0:9797 }\n",
        "a.yaml",
    )
    .unwrap();
    assert_eq!(c.external_url(), "https://alertd.example.com");
    assert_eq!(
        c.notifier.global.external_url.as_deref(),
        Some("https://alertd.example.com")
    );
    assert!(!c.external_url_needed());
}

#[test]
fn network_probe_kinds_are_checked_with_positions() {
    let y = "\
probes:
  - name: t
    tcp: { target: 'nohost', query_response: [{ expect: '(' }, { send: \"a\\nb\" }, {}] }
  - name: d
    dns: { target: '10.0.0.1:99999', query_name: 'a..b', query_type: AAAAA, valid_rcodes: [NXDOMAN],
           validate_answer_rrs: { fail_if_none_matches_regexp: ['['] } }
  - name: i
    icmp: { target: '127.0.0.1:80', payload_size: 65001, ttl: 0 }
  - name: g
    grpc: { target: 'h:x', service: up, tls_config: { ca_file: /nonexistent/ca.pem } }
  - name: g2
    grpc: { target: 'h:1' }
    icmp: { target: h }
";
    let e = errs(y);
    let want = [
        "a.yaml:3:20: `probes[0].tcp.target`: \"nohost\" is not host:port",
        "a.yaml:3:57: `probes[0].tcp.query_response[0].expect`: invalid regexp \"(\": unclosed group",
        "a.yaml:3:72: `probes[0].tcp.query_response[1].send`: one line",
        "a.yaml:3:82: `probes[0].tcp.query_response[2]`: a step needs expect, send or starttls",
        "a.yaml:5:20: `probes[1].dns.target`:",
        "a.yaml:5:50: `probes[1].dns.query_name`: invalid name \"a..b\"",
        "a.yaml:5:70: `probes[1].dns.query_type`: unknown query type \"AAAAA\"",
        "a.yaml:5:92: `probes[1].dns.valid_rcodes[0]`: unknown rcode \"NXDOMAN\"",
        "a.yaml:6:65: `probes[1].dns.validate_answer_rrs.fail_if_none_matches_regexp[0]`: invalid regexp \"[\": unclosed character class",
        "a.yaml:8:21: `probes[2].icmp.target`: \"127.0.0.1:80\" is not a host name or address",
        "a.yaml:8:51: `probes[2].icmp.payload_size`: at most 65000 bytes",
        "a.yaml:8:63: `probes[2].icmp.ttl`: must be 1-255",
        "a.yaml:10:21: `probes[3].grpc.target`:",
        "a.yaml:10:41: `probes[3].grpc.tls_config`: set, but tls is false",
        "a.yaml:10:64: `probes[3].grpc.tls_config.ca_file`: cannot read /nonexistent/ca.pem",
        "a.yaml:11:5: `probes[4]`: exactly one of http, tls, disk, postgres, mysql, tcp, dns, icmp, grpc must be set",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "got {got:?}\nwant prefix {want:?}\n{e:#?}"
        );
    }
    // Unknown keys of the new kinds are refused at their own position.
    let e = errs("probes:\n  - name: t\n    dns: { target: x, query_name: y, qtype: A }\n");
    assert!(
        e.iter()
            .any(|m| m.starts_with("a.yaml:3:") && m.contains("qtype")),
        "{e:#?}"
    );
}

#[test]
fn connection_limits_and_api_limits_have_defaults_and_check_their_values() {
    let d = Config::default().api;
    assert_eq!(d.connections, ConnectionLimits::default());
    assert_eq!((d.connections.max, d.connections.reserved_fds), (512, 256));
    assert_eq!(d.limits, ApiLimits::default());
    assert_eq!(d.limits.alerts_per_request, 10_000);
    let c = parse_str(
        "api:\n  connections: { max: 9, idle_timeout: 2s }\n  limits: { api_alerts: 5 }\n",
        "a.yaml",
    )
    .unwrap();
    assert_eq!(c.api.connections.max, 9);
    assert_eq!(c.api.connections.idle_timeout, Duration::from_secs(2));
    assert_eq!(
        c.api.connections.header_read_timeout,
        Duration::from_secs(10)
    );
    assert_eq!(c.api.limits.api_alerts, 5);
    assert_eq!(c.api.limits.labels_per_alert, 128);
    assert_eq!(
        errs("api:\n  connections:\n    max: 0\n    idle_timeout: 0s\n  limits:\n    labels_per_alert: 0\n"),
        [
            "a.yaml:3:10: `api.connections.max` must be between 1 and 4294967295, got 0",
            "a.yaml:4:19: `api.connections.idle_timeout` must be greater than 0s (got \"0s\")",
            "a.yaml:6:23: `api.limits.labels_per_alert` must be between 1 and 4294967295, got 0",
        ]
    );
    assert!(one("api:\n  limits: { alerts: 2 }\n").contains("unknown key `alerts` in `api.limits`"));
}

#[test]
fn receiver_globals_are_passed_to_the_notifier_and_checked_with_positions() {
    let c = parse_str(
        "\
global:
  pagerduty_url: http://pd.local/v2/enqueue
  opsgenie_api_key_file: /etc/alertd/og
  opsgenie_api_url: http://og.local/
  telegram_api_url: http://tg.local
  webex_api_url: http://webex.local/v1/messages
  victorops_api_key: vo
  victorops_api_url: http://vo.local/
route: { receiver: r }
receivers:
  - name: r
    pagerduty_configs: [{ routing_key: k }]
    opsgenie_configs: [{}]
    victorops_configs: [{ routing_key: team }]
",
        "a.yaml",
    )
    .unwrap();
    let g = &c.notifier.global;
    assert_eq!(
        g.pagerduty_url.as_deref(),
        Some("http://pd.local/v2/enqueue")
    );
    assert_eq!(
        g.opsgenie_api_key,
        Some(SecretSource::File("/etc/alertd/og".into()))
    );
    assert_eq!(g.opsgenie_api_url.as_deref(), Some("http://og.local/"));
    assert_eq!(g.telegram_api_url.as_deref(), Some("http://tg.local"));
    assert_eq!(
        g.webex_api_url.as_deref(),
        Some("http://webex.local/v1/messages")
    );
    assert_eq!(
        g.victorops_api_key,
        Some(SecretSource::Inline(Secret::new("vo")))
    );
    let e = errs(
        "global:\n  pagerduty_url: pd.local\n  opsgenie_api_key: a\n  opsgenie_api_key_file: b\n",
    );
    assert!(
        e.iter()
            .any(|e| e.starts_with("a.yaml:2:18: `global.pagerduty_url`: expected")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("at most one of `global.opsgenie_api_key`")),
        "{e:?}"
    );
}

/// Issue 15: three independent errors in three sections (an unknown key in a probe, a bad
/// duration, a bad regex in a route's `match_re`) are all reported in one run, each at its own
/// node, with a readable path and the user's own regex.
#[test]
fn three_independent_errors_are_reported_in_one_run_at_their_nodes() {
    let y = "\
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
";
    let e = errs(y);
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(
        e[0].starts_with("a.yaml:2:14: `storage.retention`: "),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("a.yaml:7:5: unknown key `intervall` in `probes[1]`"),
        "{e:#?}"
    );
    assert!(e[2].starts_with("a.yaml:13:"), "{e:#?}");
    assert!(e[2].contains("`route.routes[0].match_re"), "{e:#?}");
    assert!(e[2].contains("(unclosed"), "{e:#?}");
    assert!(!e[2].contains("^(?:"), "{e:#?}");
    assert!(
        !e.iter().any(|m| m.contains('?') && m.contains("`?")),
        "{e:#?}"
    );
    // The structured form carries the path as segments.
    let errs = parse_str(y, "a.yaml").unwrap_err();
    assert_eq!(errs.0[1].path.to_string(), "probes[1].intervall");
}

/// A null `match_re` (or a null value in it) reads as Alertmanager reads it: empty.
#[test]
fn null_match_re_is_empty() {
    let y = "route:\n  receiver: r\n  routes:\n    - receiver: r\n      match_re:\n    - receiver: r\n      match_re: { job: }\nreceivers:\n  - name: r\n";
    let c = parse_str(y, "a.yaml").unwrap();
    assert!(c.notifier.route.routes[0].match_re.0.is_empty());
    assert_eq!(c.notifier.route.routes[1].match_re.0[0].value, "");
}

/// `global.http_config` is the shared `model::http::HttpConfig`: its older `bearer_token` form
/// is an `authorization` of type Bearer, as in Prometheus.
#[test]
fn global_http_config_takes_the_older_bearer_token() {
    let c = parse_str(
        "global:\n  http_config:\n    bearer_token_file: /etc/alertd/token\n",
        "a.yaml",
    )
    .unwrap();
    let a = c.global.http().effective_authorization().unwrap();
    assert_eq!(a.kind, "Bearer");
    assert_eq!(
        a.credentials,
        Some(SecretSource::File("/etc/alertd/token".into()))
    );
    let e = one("global:\n  http_config:\n    bearer_token: a\n    bearer_token_file: b\n");
    assert_eq!(
        e,
        "a.yaml:4:24: `global.http_config.bearer_token_file`: at most one of `bearer_token` \
         and `bearer_token_file` may be set"
    );
}

#[test]
fn remote_write_is_typed_and_validated_at_item_positions() {
    let y = "\
global:
  external_labels: { replica: a }
remote_write:
  - url: http://127.0.0.1:8428/api/v1/write
    queue_config: { max_shards: 4 }
  - url: ftp://x
    queue_config: { max_samples_per_send: 0 }
";
    let e = errs(y);
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("a.yaml:6:") && e[0].contains("`remote_write[1].url`"),
        "{e:#?}"
    );
    assert!(
        e[1].contains("max_samples_per_send must be at least 1"),
        "{e:#?}"
    );
    let ok = y
        .replace("ftp://x", "https://x.example/api/v1/write")
        .replace("max_samples_per_send: 0", "max_samples_per_send: 100");
    let c = parse_str(&ok, "a.yaml").unwrap();
    assert_eq!(c.remote_write.len(), 2);
    assert_eq!(c.remote_write[0].queue_config.max_shards, 4);
    assert_eq!(c.remote_write[1].queue_config.max_samples_per_send, 100);
    // Unknown keys inside an entry are refused with their position.
    let e = one("remote_write:\n  - url: http://x/\n    queue_confg: {}\n");
    assert!(
        e.starts_with("a.yaml:3:") && e.contains("queue_confg"),
        "{e}"
    );
}

/// Several independent schema errors inside ONE list item (and in `global`) are all reported
/// in one run, each at its own position: a node is parsed again with each failing key left
/// out, until it parses.
#[test]
fn several_schema_errors_in_one_list_item_are_all_reported() {
    let y = "\
global:
  scrape_interval: soon
  resolve_timeout: [5m]
probes:
  - name: web
    intervall: 30s
    timeout: [5s]
    labels: { team: [a] }
    http: { url: 'http://127.0.0.1:1/' }
  - name: db
    interval: later
receivers:
  - name: r
    webhook_configs: 3
    slack_configs: [{ api_url: 'http://x/', sendresolved: true }]
";
    let e = errs(y);
    let want = [
        "a.yaml:2:20: `global.scrape_interval`: ",
        "a.yaml:3:20: `global.resolve_timeout`: ",
        "a.yaml:6:5: unknown key `intervall` in `probes[0]`",
        "a.yaml:7:14: `probes[0].timeout`: ",
        "a.yaml:8:21: `probes[0].labels.team`: ",
        "a.yaml:11:15: `probes[1].interval`: ",
        "a.yaml:14:22: `receivers[0].webhook_configs`: ",
        "a.yaml:15:45: unknown key `sendresolved` in `receivers[0].slack_configs[0]`",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "got {got:?}\nwant prefix {want:?}\n{e:#?}"
        );
    }
    // Fixed, the same file loads.
    let fixed = y
        .replace("soon", "1m")
        .replace("[5m]", "5m")
        .replace("intervall", "interval")
        .replace("[5s]", "5s")
        .replace("[a]", "a")
        .replace(
            "interval: later",
            "interval: 1m\n    http: { url: 'http://127.0.0.1:2/' }",
        )
        .replace("webhook_configs: 3", "webhook_configs: []")
        .replace("sendresolved", "send_resolved")
        + "route: { receiver: r }\n";
    let c = parse_str(&fixed, "a.yaml").unwrap();
    assert_eq!(c.collector.probes.len(), 2);
}

/// Every `http_config` secret is read from its key or its `_file` twin by the one twin reader
/// (`model::secret::TwinSeed`, as `global`'s): both set is refused at the second one written,
/// in every section that has an `http_config`, with the path to it; `_file` alone is read.
#[test]
fn http_config_secret_twins_are_refused_at_the_second_key_in_every_section() {
    let y = "\
probes:
  - name: web
    http:
      url: 'http://127.0.0.1:1/'
      authorization: { credentials: a, credentials_file: /etc/alertd/tok }
receivers:
  - name: r
    webhook_configs:
      - url: 'http://127.0.0.1:2/'
        http_config:
          bearer_token_file: /etc/alertd/tok
          bearer_token: b
remote_write:
  - url: http://127.0.0.1:8428/api/v1/write
    basic_auth:
      username: u
      password_file: ''
route: { receiver: r }
";
    let e = errs(y);
    assert_eq!(
        e,
        [
            "a.yaml:5:58: `probes[0].http.authorization.credentials_file`: at most one of \
             `credentials` and `credentials_file` may be set",
            "a.yaml:12:25: `receivers[0].webhook_configs[0].http_config.bearer_token`: at most \
             one of `bearer_token` and `bearer_token_file` may be set",
            "a.yaml:17:22: `remote_write[0].basic_auth.password_file`: `password_file` must not \
             be empty",
        ],
        "{e:#?}"
    );
    // One twin alone is read as a SecretSource (the probe's file must exist).
    let tok = std::env::temp_dir().join(format!("alertd-config-tok-{}", std::process::id()));
    std::fs::write(&tok, "t\n").unwrap();
    let ok = y
        .replace("/etc/alertd/tok", &tok.display().to_string())
        .replace("credentials: a, ", "")
        .replace("          bearer_token: b\n", "")
        .replace("password_file: ''", "password: pw");
    let c = parse_str(&ok, "a.yaml");
    std::fs::remove_file(&tok).unwrap();
    let c = c.unwrap();
    let auth = c.collector.probes[0]
        .http
        .as_ref()
        .unwrap()
        .authorization
        .clone();
    assert_eq!(
        auth.unwrap().credentials,
        Some(SecretSource::File(tok.clone()))
    );
    let hc = c.notifier.receivers[0].webhook_configs[0]
        .http_config
        .clone();
    assert_eq!(hc.unwrap().bearer_token, Some(SecretSource::File(tok)));
    assert_eq!(
        c.remote_write[0].basic_auth.as_ref().unwrap().password,
        Some(SecretSource::Inline(Secret::new("pw")))
    );
}

/// Issue 15: errors nested under one key of one list item are all reported in one run: the
/// key-by-key retry leaves out the innermost failing key (`http.method`, not `http`), so the
/// rest of the block is still read. Three independent errors at three depths (two bad fields
/// of one probe's `http:`, a bad key of a receiver's `webhook_configs[0]`, a secret twin inside
/// its `http_config.basic_auth`), sorted by position, with readable paths; nothing reported
/// twice, nothing reported that the file does not hold.
#[test]
fn nested_schema_errors_under_one_key_are_all_reported() {
    // Shared with alertctl's end-to-end test of the same report (tests/tests/alertctl.rs).
    let y = include_str!("../testdata/nested-errors.yaml");
    let e = errs(y);
    let want = [
        "a.yaml:5:15: `probes[0].http.method`: ",
        "a.yaml:6:20: `probes[0].http.fail_if_ssl`: expected true or false",
        "a.yaml:11:24: `receivers[0].webhook_configs[0].send_resolved`: expected true or false",
        "a.yaml:13:66: `receivers[0].webhook_configs[0].http_config.basic_auth.password_file`: \
         at most one of `password` and `password_file` may be set",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(
            got.starts_with(want),
            "got {got:?}\nwant prefix {want:?}\n{e:#?}"
        );
    }
    // A required key failing inside a nested list item: its own error only (not a "missing
    // field" for the key left out), and the item's other error too.
    let e = errs(
        "receivers:\n  - name: r\n    webhook_configs:\n      - url: [x]\n        max_alerts: -1\nroute: { receiver: r }\n",
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(
        e[0].starts_with("a.yaml:4:14: `receivers[0].webhook_configs[0].url`"),
        "{e:#?}"
    );
    assert!(
        e[1].starts_with("a.yaml:5:21: `receivers[0].webhook_configs[0].max_alerts`"),
        "{e:#?}"
    );
    // Fixed, the file loads.
    let fixed = y
        .replace("[GET]", "GET")
        .replace("maybe", "true")
        .replace("password: a, ", "");
    parse_str(&fixed, "a.yaml").unwrap();
}

/// Issue 19: `rule_source:` is a group `source:` for every group without one: typed, its
/// errors at their keys, its secrets through `_file` twins (both set refused at the second).
#[test]
fn rule_source_is_typed_and_validated_with_positions() {
    let c = parse_str(
        "rule_source:\n  url: http://127.0.0.1:8428\n  timeout: 5s\n  http_config:\n    basic_auth: { username: u, password_file: /etc/alertd/vm }\n",
        "a.yaml",
    )
    .unwrap();
    let s = c.rule_source.unwrap();
    assert_eq!(s.url, "http://127.0.0.1:8428");
    assert_eq!(s.timeout, Duration::from_secs(5));
    assert_eq!(
        s.http_config.basic_auth.unwrap().password,
        Some(SecretSource::File("/etc/alertd/vm".into()))
    );
    assert_eq!(parse_str("", "a.yaml").unwrap().rule_source, None);
    let e = errs("rule_source:\n  url: vm:8428\n  timeout: 0s\n");
    assert_eq!(
        e,
        [
            "a.yaml:2:8: `rule_source.url`: \"vm:8428\" must start with http:// or https://",
            "a.yaml:3:12: `rule_source.timeout`: must be greater than zero",
        ],
        "{e:#?}"
    );
    let e = one("rule_source:\n  url: http://x/\n  http_config:\n    bearer_token: a\n    bearer_token_file: /b\n");
    assert_eq!(
        e,
        "a.yaml:5:24: `rule_source.http_config.bearer_token_file`: at most one of `bearer_token` \
         and `bearer_token_file` may be set"
    );
    let e = errs("rule_source:\n  ulr: http://x/\n");
    assert_eq!(e.len(), 2, "{e:#?}");
    assert_eq!(e[0], "a.yaml:2:3: `rule_source`: missing field `url`");
    assert!(
        e[1].starts_with("a.yaml:2:3: unknown key `ulr` in `rule_source`"),
        "{e:#?}"
    );
}

#[test]
fn oncall_errors_have_positions() {
    let y = "\
route: { receiver: a, escalation: e }
receivers: [{ name: a }, { name: pager }]
oncall_schedules:
  - name: ops
    members: [{ name: x, receiver: pager }]
    layers:
      - start: 2026-03-16
        time_zone: Mars/Base
        members: [x]
response_targets:
  - { acknowledge_within: 5m }
escalations:
  - name: e
    tiers:
      - { after: 0s, oncall: [{ schedule: ops }] }
      - { after: ack_target, oncall: [{ schedule: opz, role: secondary }] }
";
    let e = errs(y);
    let want = [
        "a.yaml:8:20: `oncall_schedules[0].layers[0].time_zone`: unknown time zone \"Mars/Base\"",
        "a.yaml:16:51: `escalations[0].tiers[1].oncall[0].schedule`: unknown on-call schedule \"opz\"",
    ];
    assert_eq!(e.len(), want.len(), "{e:#?}");
    for (got, want) in e.iter().zip(want) {
        assert!(got.starts_with(want), "got {got:?}\nwant prefix {want:?}");
    }
    // A valid one loads.
    let ok = y.replace("Mars/Base", "Europe/Oslo").replace("opz", "ops");
    let cfg = parse_str(&ok, "a.yaml").unwrap();
    assert_eq!(cfg.notifier.oncall_schedules[0].name, "ops");
    assert_eq!(cfg.notifier.response_targets.len(), 1);
}
