//! End-to-end: the real `alertd` runs a config with every probe kind, a scrape and a heartbeat
//! against real peers on loopback (its own HTTP API, an `openssl s_server` TLS endpoint, the
//! local disk, PostgreSQL at 127.0.0.1:5432, MariaDB at 127.0.0.1:3306), takes heartbeat pings
//! over HTTP, and after SIGTERM the store it leaves holds the series with the exporters' names.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{free_port, start, wait_for, Signal};
use model::{Clock, Matcher};

/// `openssl s_server` with a self-signed certificate valid for `days`, killed on drop.
struct TlsServer(Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tls_server(dir: &std::path::Path, port: u16, days: u32) -> TlsServer {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-days", &days.to_string(), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(ok.success(), "openssl req failed");
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept", &port.to_string(), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .args(["-www"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_server");
    let up = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    assert!(up.is_some(), "openssl s_server did not listen");
    TlsServer(child)
}

fn latest(store: &store::Store, name: &str, label: (&str, &str)) -> Option<f64> {
    let ms = [
        Matcher::new("__name__", model::MatchOp::Equal, name).unwrap(),
        Matcher::new(label.0, model::MatchOp::Equal, label.1).unwrap(),
    ];
    let series = store.select(&ms, 0, i64::MAX).unwrap();
    series
        .iter()
        .filter_map(|s| s.samples.iter().rev().find(|x| !x.is_stale()))
        .map(|x| x.v)
        .next()
}

#[test]
fn every_probe_kind_scrape_and_heartbeat_land_in_the_store() {
    let port = free_port();
    let tls_port = free_port();
    let work = tempfile::tempdir().unwrap();
    let _tls = tls_server(work.path(), tls_port, 20);
    let pg_dsn = work.path().join("pg.dsn");
    std::fs::write(
        &pg_dsn,
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres\n",
    )
    .unwrap();
    let my_dsn = work.path().join("mysql.dsn");
    std::fs::write(&my_dsn, "mysql://root@127.0.0.1:3306/\n").unwrap();
    let data = work.path().join("data");
    let rules = work.path().join("probes.rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        \
         expr: probe_success == 0\n        labels: { severity: critical }\n        \
         annotations: { summary: '{{ $labels.probe }} is down' }\n",
    )
    .unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?}, checkpoint_interval: 1s }}
probes:
  - name: self
    http: {{ url: 'http://127.0.0.1:{port}/-/healthy', fail_if_body_not_matches_regexp: [Healthy] }}
    interval: 1s
    timeout: 1s
  - name: refused
    http: {{ url: 'http://127.0.0.1:1/' }}
    interval: 1s
    timeout: 1s
  - name: cert
    tls: {{ target: '127.0.0.1:{tls_port}', tls_config: {{ server_name: localhost }} }}
    interval: 1s
    timeout: 1s
  - name: root
    disk: {{ path: / }}
    interval: 1s
  - name: pg
    postgres: {{ dsn_file: {pg_dsn:?} }}
    interval: 1s
    timeout: 1s
  - name: maria
    mysql: {{ dsn_file: {my_dsn:?} }}
    interval: 1s
    timeout: 1s
scrape_configs:
  - job_name: self
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs: [{{ targets: ['127.0.0.1:{port}'] }}]
heartbeats:
  - {{ name: backup, period: 1d, grace: 1h }}
rule_files: [{rules:?}]
"
    );
    let mut d = start(port, &config, &[]).unwrap();

    // A ping over HTTP, an unknown heartbeat and a malformed path.
    assert_eq!(d.http("POST", "/ping/backup").unwrap().status, 200);
    // Series have millisecond timestamps: a second write in the same millisecond is dropped
    // (as Prometheus drops duplicate timestamps), so let the clock move between the pings.
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(d.http("GET", "/ping/backup/3").unwrap().status, 200);
    let r = d.http("GET", "/ping/nope").unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert!(r.body.contains("nope"), "{r:?}");
    assert_eq!(d.http("GET", "/ping/backup/notacode").unwrap().status, 400);

    // Let a few rounds run, then stop; SIGTERM flushes the store.
    let scraped = wait_for(Duration::from_secs(20), || {
        let m = d.metrics();
        let n = e2e::metric_value(&m, "alertd_store_series").unwrap_or(0.0);
        (n > 50.0).then_some(n)
    });
    assert!(scraped.is_some(), "store never filled:\n{}", d.log());
    // The rules run in the daemon over the collected series: the refused target's alert fires.
    let fired = wait_for(Duration::from_secs(20), || {
        d.log()
            .lines()
            .find(|l| {
                l.contains("ProbeDown") && l.contains("firing") && l.contains("probe=\"refused\"")
            })
            .map(str::to_string)
    });
    let fired = fired.unwrap_or_else(|| panic!("ProbeDown never fired:\n{}", d.log()));
    assert!(fired.contains("probe=\"refused\""), "{fired}");
    assert!(!d.log().contains("probe=\"self\", severity"), "{}", d.log());
    let ready = wait_for(Duration::from_secs(5), || {
        (d.http("GET", "/-/ready").unwrap().status == 200).then_some(())
    });
    assert!(ready.is_some(), "not ready after the first evaluation");
    // Every probe kind has finished a run (the first MySQL connection can take longer than the
    // first rule round), so each has a sample to find after the stop.
    let kinds = ["http", "tls", "disk", "postgres", "mysql", "scrape"];
    let all_ran = wait_for(Duration::from_secs(20), || {
        let m = d.metrics();
        kinds
            .iter()
            .all(|k| {
                let name = format!("alertd_probe_runs_total{{kind=\"{k}\"}}");
                e2e::metric_value(&m, &name).is_some_and(|n| n >= 1.0)
            })
            .then_some(())
    });
    assert!(
        all_ran.is_some(),
        "not every probe kind ran:\n{}",
        d.metrics()
    );
    d.signal(Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(15)).unwrap().success(),
        "{}",
        d.log()
    );

    let store = store::Store::open(store::StoreOptions {
        path: data,
        checkpoint_interval: model::Duration::ZERO,
        ..Default::default()
    })
    .unwrap();
    let p = |n| ("probe", n);
    assert_eq!(latest(&store, "probe_success", p("self")), Some(1.0));
    assert_eq!(
        latest(&store, "probe_http_status_code", p("self")),
        Some(200.0)
    );
    assert_eq!(latest(&store, "probe_success", p("refused")), Some(0.0));
    // The self-signed certificate is untrusted, so the probe fails, but its expiry is reported.
    assert_eq!(latest(&store, "probe_success", p("cert")), Some(0.0));
    let expiry = latest(&store, "probe_ssl_earliest_cert_expiry", p("cert")).unwrap();
    let days = (expiry - store_now_secs()) / 86_400.0;
    assert!((19.0..=20.1).contains(&days), "expiry in {days} days");
    let avail = latest(&store, "node_filesystem_avail_bytes", p("root")).unwrap();
    assert!(avail > 0.0);
    assert_eq!(latest(&store, "pg_up", p("pg")), Some(1.0));
    assert_eq!(
        latest(&store, "pg_replication_is_replica", p("pg")),
        Some(0.0)
    );
    assert_eq!(
        latest(&store, "mysql_up", p("maria")),
        Some(1.0),
        "{}",
        d.log()
    );
    assert_eq!(
        latest(&store, "up", ("job", "self")),
        Some(1.0),
        "{}",
        d.log()
    );
    // The scrape brought alertd's own metrics in under their names.
    assert!(latest(&store, "alertd_build_info", ("job", "self")).is_some());
    // The ping with exit code 3 made the heartbeat down, and recorded the code.
    assert_eq!(
        latest(&store, "heartbeat_last_exit_code", ("heartbeat", "backup")),
        Some(3.0)
    );
    assert_eq!(
        latest(&store, "heartbeat_up", ("heartbeat", "backup")),
        Some(0.0)
    );
    // ALERTS is written as Prometheus writes it.
    let alerts = store
        .select(
            &[
                Matcher::new("__name__", model::MatchOp::Equal, "ALERTS").unwrap(),
                Matcher::new("alertname", model::MatchOp::Equal, "ProbeDown").unwrap(),
            ],
            0,
            i64::MAX,
        )
        .unwrap();
    assert!(
        alerts
            .iter()
            .any(|s| s.labels.get("probe") == Some("refused")
                && s.labels.get("alertstate") == Some("firing")),
        "{alerts:?}"
    );
    store.close().unwrap();
    drop(store);

    // A restart keeps the heartbeat's state: the failed run (exit code 3) is exported again,
    // newer than anything the first run wrote.
    let first_end = model::SystemClock.now_ms();
    let mut d = start(port, &config, &[]).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    d.signal(Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(15)).unwrap().success(),
        "{}",
        d.log()
    );
    let store = store::Store::open(store::StoreOptions {
        path: work.path().join("data"),
        checkpoint_interval: model::Duration::ZERO,
        ..Default::default()
    })
    .unwrap();
    let ms = [Matcher::new(
        "__name__",
        model::MatchOp::Equal,
        "heartbeat_last_exit_code",
    )
    .unwrap()];
    let s = store.select(&ms, first_end, i64::MAX).unwrap();
    let last = s[0].samples.last().unwrap();
    assert!(last.t > first_end && last.v == 3.0, "{s:?}");
}

fn store_now_secs() -> f64 {
    model::SystemClock.now_ms() as f64 / 1000.0
}
