//! End-to-end tests of the `alertd` binary: startup, health, metrics, reload, signals.

use std::time::{Duration, Instant};

use e2e::{free_port, metric_value, minimal_config, quickstart_config, spawn, start, Signal};

const RELOAD_OK: &str = "alertd_config_last_reload_successful";
const RELOAD_TS: &str = "alertd_config_last_reload_success_timestamp_seconds";

#[test]
fn starts_on_quickstart_and_serves_health_ready_metrics_and_404() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("store");
    let d = start(port, &quickstart_config(port, &data_dir), &[]).unwrap();

    let r = d.http("GET", "/-/healthy").unwrap();
    assert_eq!(r.status, 200);
    // Ready once the store is open, the default rule pack is loaded and evaluated once.
    let ready = e2e::wait_for(Duration::from_secs(20), || {
        let r = d.http("GET", "/-/ready").unwrap();
        (r.status == 200).then_some(r.body)
    });
    assert_eq!(ready.as_deref(), Some("alertd is Ready.\n"), "{}", d.log());

    let r = d.http("GET", "/metrics").unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{r:?}"
    );
    assert!(r.body.contains(&format!(
        "alertd_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    assert_eq!(metric_value(&r.body, RELOAD_OK), Some(1.0));
    let ts = metric_value(&r.body, RELOAD_TS).unwrap();
    assert!(ts > 1.6e9, "{ts}");
    assert!(
        r.body
            .contains("alertd_http_requests_total{handler=\"/-/healthy\",code=\"200\"}"),
        "{}",
        r.body
    );
    assert!(r
        .body
        .contains("alertd_http_requests_total{handler=\"/-/ready\",code=\"200\"} 1"));

    let r = d.http("GET", "/no/such/path").unwrap();
    assert_eq!(r.status, 404);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"], "not found: /no/such/path");

    // The storage directory from the config was created.
    assert!(data_dir.is_dir());
}

#[test]
fn broken_config_is_refused_at_startup_with_position() {
    let port = free_port();
    let cfg = minimal_config(
        port,
        "global:\n  evaluation_interval: 15 seconds\nprobes:\n  - name: web\n",
    );
    let mut d = spawn(port, &cfg, &[]);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("alertd must exit");
    assert!(!status.success(), "{status:?}");
    let log = d.log();
    assert!(
        log.contains("alertd.yaml:6:24: `global.evaluation_interval`: not a valid duration string"),
        "{log}"
    );
    assert!(
        log.contains("alertd.yaml:8:5: `probes[0]`: exactly one of http, tls, disk, postgres, mysql, tcp, dns, icmp, grpc must be set"),
        "{log}"
    );
    assert!(
        e2e::http(port, "GET", "/-/healthy").is_err(),
        "nothing may listen"
    );
}

#[test]
fn unknown_key_refused_at_startup_in_json_log_format() {
    let port = free_port();
    let cfg = minimal_config(port, "storage_path: x\n");
    let mut d = spawn(port, &cfg, &["--log.format=json"]);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("alertd must exit");
    assert_eq!(status.code(), Some(1));
    let log = d.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().unwrap_or_default().contains(
                "alertd.yaml:5:1: unknown top-level key `storage_path`; allowed keys: global,"
            )),
        "{log}"
    );
}

#[test]
fn reload_via_http_keeps_old_config_on_error_and_applies_valid_one() {
    let port = free_port();
    let d = start(port, &minimal_config(port, ""), &[]).unwrap();
    let ts0 = metric_value(&d.metrics(), RELOAD_TS).unwrap();

    d.write_config(&minimal_config(port, "global:\n  scrape_interval: often\n"));
    let r = d.http("POST", "/-/reload").unwrap();
    assert_eq!(r.status, 500, "{r:?}");
    assert!(
        r.body
            .contains("alertd.yaml:6:20: `global.scrape_interval`: not a valid duration string"),
        "{}",
        r.body
    );
    let m = d.metrics();
    assert_eq!(metric_value(&m, RELOAD_OK), Some(0.0));
    assert_eq!(metric_value(&m, RELOAD_TS), Some(ts0));
    assert_eq!(d.http("GET", "/-/healthy").unwrap().status, 200);
    assert!(d.log().contains("reload rejected"), "{}", d.log());

    // A change that needs a restart is refused too.
    d.write_config(&minimal_config(free_port(), ""));
    let r = d.http("POST", "/-/reload").unwrap();
    assert_eq!(r.status, 500);
    assert!(
        r.body.contains("`api.listen` cannot change on reload"),
        "{}",
        r.body
    );

    std::thread::sleep(Duration::from_millis(5)); // let the clock move past ts0
    d.write_config(&minimal_config(port, "global:\n  scrape_interval: 1m\n"));
    let r = d.http("POST", "/-/reload").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let m = d.metrics();
    assert_eq!(metric_value(&m, RELOAD_OK), Some(1.0));
    assert!(metric_value(&m, RELOAD_TS).unwrap() > ts0);
}

#[test]
fn sighup_reload_never_terminates_and_applies_only_valid_config() {
    let port = free_port();
    let mut d = start(port, &minimal_config(port, ""), &[]).unwrap();
    let ts0 = metric_value(&d.metrics(), RELOAD_TS).unwrap();

    d.write_config("api: [this is not a mapping\n");
    d.signal(Signal::SIGHUP);
    let failed = e2e::wait_for(Duration::from_secs(10), || {
        (metric_value(&d.metrics(), RELOAD_OK) == Some(0.0)).then_some(())
    });
    assert!(
        failed.is_some(),
        "reload failure not reported:\n{}",
        d.log()
    );
    assert!(d.is_running());
    assert_eq!(d.http("GET", "/-/healthy").unwrap().status, 200);
    let log = d.log();
    assert!(log.contains("SIGHUP received"), "{log}");
    assert!(
        log.contains("reload rejected, keeping the running configuration: "),
        "{log}"
    );
    assert!(log.contains("alertd.yaml:"), "{log}");

    std::thread::sleep(Duration::from_millis(5));
    d.write_config(&minimal_config(port, "global:\n  scrape_interval: 1s\n"));
    d.signal(Signal::SIGHUP);
    let ok = e2e::wait_for(Duration::from_secs(10), || {
        let m = d.metrics();
        (metric_value(&m, RELOAD_OK) == Some(1.0) && metric_value(&m, RELOAD_TS)? > ts0)
            .then_some(())
    });
    assert!(ok.is_some(), "valid reload not applied:\n{}", d.log());
    assert!(d.is_running());
}

#[test]
fn sigterm_exits_zero_promptly() {
    let port = free_port();
    let mut d = start(port, &minimal_config(port, ""), &[]).unwrap();
    let t = Instant::now();
    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("alertd must exit");
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(d.log().contains("alertd stopped"), "{}", d.log());
}

#[test]
fn sigterm_does_not_wait_for_idle_connections() {
    use std::io::{Read, Write};
    let port = free_port();
    let mut d = start(port, &minimal_config(port, ""), &[]).unwrap();
    // One keep-alive connection that finished a request, one that never sent anything.
    let mut idle = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(idle, "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let _silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    d.signal(Signal::SIGTERM);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("alertd must exit");
    assert_eq!(status.code(), Some(0), "{}", d.log());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // New connections are refused once it stopped.
    assert!(e2e::http(port, "GET", "/-/healthy").is_err());
}

#[test]
fn sigint_exits_zero() {
    let port = free_port();
    let mut d = start(port, &minimal_config(port, ""), &[]).unwrap();
    d.signal(Signal::SIGINT);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("alertd must exit");
    assert_eq!(status.code(), Some(0), "{}", d.log());
}

#[test]
fn secrets_never_appear_in_logs() {
    let port = free_port();
    let secret = "hunter2-do-not-log";
    let cfg = minimal_config(
        port,
        &format!("global:\n  smtp_auth_password: {secret}\n  slack_api_url: https://hooks.slack.com/services/{secret}\n"),
    );
    let mut d = start(port, &cfg, &["--log.level=debug"]).unwrap();
    // A rejected reload whose file holds the secret next to the error.
    d.write_config(&format!("{cfg}  smtp_hello: [{secret}\n"));
    assert_eq!(d.http("POST", "/-/reload").unwrap().status, 500);
    d.write_config(&cfg);
    assert_eq!(d.http("POST", "/-/reload").unwrap().status, 200);
    d.signal(Signal::SIGTERM);
    d.wait_exit(Duration::from_secs(10)).expect("exit");
    let log = d.log();
    assert!(log.contains("configuration reloaded"), "{log}");
    assert!(!log.contains(secret), "{log}");
}

#[test]
fn port_in_use_is_refused_with_the_address() {
    let port = free_port();
    let _first = start(port, &minimal_config(port, ""), &[]).unwrap();
    let mut second = spawn(port, &minimal_config(port, ""), &[]);
    let status = second
        .wait_exit(Duration::from_secs(10))
        .expect("second alertd must exit");
    assert_eq!(status.code(), Some(1));
    assert!(
        second
            .log()
            .contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{}",
        second.log()
    );
}

#[test]
fn store_is_opened_exported_and_flushed_on_sigterm_and_engine_mismatch_is_refused() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("store");
    let mut d = start(port, &quickstart_config(port, &data_dir), &[]).unwrap();
    let m = d.metrics();
    assert!(metric_value(&m, "alertd_store_series").is_some(), "{m}");
    assert!(
        metric_value(&m, "alertd_store_samples_ingested_total").is_some(),
        "{m}"
    );
    d.signal(Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(10)).unwrap().success(),
        "{}",
        d.log()
    );

    // The daemon released the store cleanly: it opens again, with the engine it was made with.
    let opts = |engine| store::StoreOptions {
        path: data_dir.clone(),
        engine,
        checkpoint_interval: model::Duration::ZERO,
        ..Default::default()
    };
    store::Store::open(opts(store::Engine::Redb))
        .unwrap()
        .close()
        .unwrap();
    let err = store::Store::open(opts(store::Engine::Sled)).unwrap_err();
    assert!(err.to_string().contains("redb"), "{err}");

    // alertd refuses to start on a store made by the other engine, saying why.
    let port = free_port();
    let cfg = quickstart_config(port, &data_dir).replace("engine: redb", "engine: sled");
    assert!(cfg.contains("engine: sled"));
    let mut d = spawn(port, &cfg, &[]);
    let status = d
        .wait_exit(Duration::from_secs(10))
        .expect("alertd should exit");
    assert!(!status.success());
    assert!(d.log().contains("redb"), "{}", d.log());
}
