//! The dashboard check: every Grafana dashboard in `dashboards/` is loaded, every panel query
//! (and every template variable query) is taken out, Grafana's variables are substituted, and
//! each query runs against the real `alertd` through its Prometheus API (`/api/v1/query` for
//! instant panels, `/api/v1/query_range` for time series). Each must parse and return data;
//! the test fails naming the dashboard, panel and query that does not.
//!
//! Test data, all on loopback: HTTP probes of alertd itself (up) and of a closed port (down), a
//! TLS probe of `openssl s_server`, a disk probe of `/`, PostgreSQL and MariaDB probes of the
//! local servers (primaries: `pg_up`, `mysql_up`), a tcp probe of alertd's port, an icmp probe of
//! 127.0.0.1, a dns SOA query to nsd serving the test zone, a grpc probe of a closed port, a heartbeat pinged with `/start` and an exit
//! code, a scrape of alertd's own `/metrics`, a rule firing on the down probe and delivered to a
//! webhook sink. Replica-side series (`pg_replication_lag_seconds`, `pg_stat_replication_*`,
//! `mysql_slave_status_*`) need running replicas, which the collector's own tests set up; here
//! they come from a scrape of a loopback exporter serving those series with the names and
//! labels the collector writes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{free_port, nsd, repo_root, start, wait_for, Daemon};
use serde_json::Value;

/// What a replica-side scrape returns (names and labels as the collector's DB probes write them).
const REPLICA_SERIES: &str = "\
pg_replication_is_replica{probe=\"pg-replica\"} 1
pg_replication_lag_seconds{probe=\"pg-replica\"} 2.5
pg_replication_lag_bytes{probe=\"pg-replica\"} 4096
pg_replication_replay_paused{probe=\"pg-replica\"} 0
pg_replication_wal_receiver_streaming{probe=\"pg-replica\"} 1
pg_stat_replication_write_lag_seconds{probe=\"pg-primary\",application_name=\"replica1\",client_addr=\"10.0.0.2\",state=\"streaming\"} 0.1
pg_stat_replication_flush_lag_seconds{probe=\"pg-primary\",application_name=\"replica1\",client_addr=\"10.0.0.2\",state=\"streaming\"} 0.2
pg_stat_replication_replay_lag_seconds{probe=\"pg-primary\",application_name=\"replica1\",client_addr=\"10.0.0.2\",state=\"streaming\"} 0.3
pg_stat_replication_pg_wal_lsn_diff{probe=\"pg-primary\",application_name=\"replica1\",client_addr=\"10.0.0.2\",state=\"streaming\"} 2048
mysql_slave_status_seconds_behind_master{probe=\"shop-replica\",master_host=\"10.0.0.3\"} 3
mysql_slave_status_slave_io_running{probe=\"shop-replica\",master_host=\"10.0.0.3\"} 1
mysql_slave_status_slave_sql_running{probe=\"shop-replica\",master_host=\"10.0.0.3\"} 1
mysql_slave_status_last_errno{probe=\"shop-replica\",master_host=\"10.0.0.3\"} 0
";

/// Grafana's built-in variables, as Grafana would fill them for a short range.
const GRAFANA_VARS: &[(&str, &str)] = &[
    ("$__rate_interval", "1m"),
    ("$__interval_ms", "15000"),
    ("$__interval", "15s"),
    ("$__range_s", "3600"),
    ("$__range_ms", "3600000"),
    ("$__range", "1h"),
];

/// `openssl s_server` with a self-signed certificate, killed on drop.
struct TlsServer(Child);

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tls_server(dir: &Path, port: u16) -> TlsServer {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args(["-subj", "/CN=localhost", "-days", "20", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(ok.success(), "openssl req failed");
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn openssl s_server");
    let up = wait_for(Duration::from_secs(10), || {
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()
    });
    assert!(up.is_some(), "openssl s_server did not listen");
    TlsServer(child)
}

/// A loopback HTTP server: `GET /metrics` answers [`REPLICA_SERIES`], anything else (the
/// webhook's POSTs) 200 and is counted. Runs until the test process ends.
fn exporter_and_sink() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts = Arc::new(AtomicUsize::new(0));
    let counter = posts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let _ = serve_one(conn, &counter);
            });
        }
    });
    (port, posts)
}

fn serve_one(conn: TcpStream, posts: &AtomicUsize) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let (ctype, text) = if line.starts_with("GET /metrics") {
        ("text/plain; version=0.0.4", REPLICA_SERIES)
    } else {
        posts.fetch_add(1, Ordering::SeqCst);
        ("text/plain", "ok\n")
    };
    let mut conn = conn;
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )
}

/// `%XX`-encodes every byte that is not unreserved.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get_json(d: &Daemon, path: &str) -> Result<Value, String> {
    let r = d.http("GET", path).map_err(|e| e.to_string())?;
    let v: Value =
        serde_json::from_str(&r.body).map_err(|e| format!("{e}: {} {}", r.status, r.body))?;
    if v["status"] != "success" {
        return Err(format!("{} {}", r.status, r.body));
    }
    Ok(v)
}

/// One query of a dashboard, with where it comes from.
#[derive(Debug, Clone)]
struct Check {
    dashboard: String,
    panel: String,
    query: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Instant,
    Range,
    /// `label_values(metric, label)` or `label_values(label)` of a template variable.
    LabelValues {
        metric: Option<String>,
        label: String,
    },
}

fn dashboard_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("dashboards"))
        .expect("dashboards/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Substitutes Grafana's built-in variables, and every template variable of the dashboard with
/// `.*` (their "All" value: the dashboards use them only inside `=~"..."`).
fn substitute(expr: &str, vars: &[String]) -> String {
    let mut out = expr.to_string();
    for (name, value) in GRAFANA_VARS {
        out = out.replace(name, value);
    }
    for v in vars {
        out = out
            .replace(&format!("${{{v}}}"), ".*")
            .replace(&format!("${v}"), ".*");
    }
    out
}

fn collect_panels<'a>(panels: &'a [Value], out: &mut Vec<&'a Value>) {
    for p in panels {
        if p["type"] == "row" {
            if let Some(inner) = p["panels"].as_array() {
                collect_panels(inner, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Every query of every dashboard; problems with the files themselves (a panel without a
/// description, a target without an expression or not on the data source variable) are
/// returned as errors.
fn load_checks() -> (Vec<Check>, Vec<String>) {
    let mut checks = Vec::new();
    let mut problems = Vec::new();
    for file in dashboard_files() {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        if d["schemaVersion"].as_u64().unwrap_or(0) < 36 {
            problems.push(format!("{name}: schemaVersion below Grafana 10's"));
        }
        let vars_json = d["templating"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !vars_json
            .iter()
            .any(|v| v["type"] == "datasource" && v["query"] == "prometheus")
        {
            problems.push(format!("{name}: no Prometheus data source variable"));
        }
        let vars: Vec<String> = vars_json
            .iter()
            .filter_map(|v| v["name"].as_str().map(str::to_string))
            .collect();
        for v in &vars_json {
            if v["type"] != "query" {
                continue;
            }
            let q = v["query"]["query"]
                .as_str()
                .or_else(|| v["query"].as_str())
                .unwrap_or_default();
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|r| r.strip_suffix(')'));
            let Some(inner) = inner else {
                problems.push(format!(
                    "{name}: variable {}: only label_values(...) is checked, got {q:?}",
                    v["name"]
                ));
                continue;
            };
            let (metric, label) = match inner.rsplit_once(',') {
                Some((m, l)) => (Some(m.trim().to_string()), l.trim().to_string()),
                None => (None, inner.trim().to_string()),
            };
            checks.push(Check {
                dashboard: name.clone(),
                panel: format!("variable {}", v["name"].as_str().unwrap_or("?")),
                query: q.to_string(),
                kind: Kind::LabelValues { metric, label },
            });
        }
        let mut panels = Vec::new();
        collect_panels(d["panels"].as_array().unwrap(), &mut panels);
        assert!(!panels.is_empty(), "{name}: no panels");
        for p in panels {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            if p["description"]
                .as_str()
                .is_none_or(|s| s.trim().is_empty())
            {
                problems.push(format!("{name}: panel {title:?} has no description"));
            }
            let targets = p["targets"].as_array().cloned().unwrap_or_default();
            if targets.is_empty() {
                problems.push(format!("{name}: panel {title:?} has no query"));
            }
            for t in targets {
                if t["datasource"]["uid"] != "${datasource}" {
                    problems.push(format!(
                        "{name}: panel {title:?}: target not on the ${{datasource}} variable"
                    ));
                }
                let Some(expr) = t["expr"].as_str() else {
                    problems.push(format!("{name}: panel {title:?}: target without expr"));
                    continue;
                };
                let query = substitute(expr, &vars);
                if query.contains('$') {
                    problems.push(format!(
                        "{name}: panel {title:?}: unknown variable left in {query:?}"
                    ));
                }
                let kind = if t["instant"] == true {
                    Kind::Instant
                } else {
                    Kind::Range
                };
                checks.push(Check {
                    dashboard: name.clone(),
                    panel: title.clone(),
                    query,
                    kind,
                });
            }
        }
    }
    (checks, problems)
}

/// Runs one check: `Ok` when the query parses and returns data.
fn run_check(d: &Daemon, c: &Check, now: u64) -> Result<(), String> {
    let v = match &c.kind {
        Kind::Instant => get_json(d, &format!("/api/v1/query?query={}", urlencode(&c.query)))?,
        Kind::Range => get_json(
            d,
            &format!(
                "/api/v1/query_range?query={}&start={}&end={now}&step=1",
                urlencode(&c.query),
                now - 30
            ),
        )?,
        Kind::LabelValues { metric, label } => {
            let m = metric
                .as_ref()
                .map(|m| format!("?match[]={}", urlencode(m)))
                .unwrap_or_default();
            let v = get_json(d, &format!("/api/v1/label/{label}/values{m}"))?;
            return match v["data"].as_array() {
                Some(a) if !a.is_empty() => Ok(()),
                _ => Err("no values".into()),
            };
        }
    };
    match v["data"]["resultType"].as_str() {
        Some("scalar" | "string") => Ok(()),
        _ => match v["data"]["result"].as_array() {
            Some(r) if !r.is_empty() => Ok(()),
            _ => Err("no data".into()),
        },
    }
}

#[test]
fn every_dashboard_query_runs_against_alertd_and_returns_data() {
    let (checks, problems) = load_checks();
    assert!(
        problems.is_empty(),
        "dashboard problems:\n{}",
        problems.join("\n")
    );
    assert!(checks.len() >= 40, "only {} queries found", checks.len());

    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let tls_port = free_port();
    let closed = free_port();
    let _tls = tls_server(work.path(), tls_port);
    let dns_dir = tempfile::tempdir().unwrap();
    let (dns, _nsd) = nsd(dns_dir.path());
    let (sink, posts) = exporter_and_sink();
    let pg_dsn = work.path().join("pg.dsn");
    std::fs::write(
        &pg_dsn,
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres\n",
    )
    .unwrap();
    let my_dsn = work.path().join("mysql.dsn");
    std::fs::write(&my_dsn, "mysql://root@127.0.0.1:3306/\n").unwrap();
    let rules = work.path().join("probes.rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        \
         expr: probe_success == 0\n        labels: { severity: critical }\n",
    )
    .unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: data }}
global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
probes:
  - name: self
    http: {{ url: 'http://127.0.0.1:{port}/-/healthy' }}
    interval: 1s
    timeout: 1s
  - name: refused
    http: {{ url: 'http://127.0.0.1:{closed}/' }}
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
  - name: port
    tcp: {{ target: '127.0.0.1:{port}' }}
    interval: 1s
    timeout: 1s
  - name: ping
    icmp: {{ target: 127.0.0.1 }}
    interval: 1s
    timeout: 1s
  - name: zone
    dns: {{ target: '127.0.0.1:{dns}', query_name: example.test, query_type: SOA }}
    interval: 1s
    timeout: 1s
  - name: health
    grpc: {{ target: '127.0.0.1:{closed}' }}
    interval: 1s
    timeout: 1s
scrape_configs:
  - job_name: alertd
    static_configs: [{{ targets: ['127.0.0.1:{port}'] }}]
  - job_name: replicas
    static_configs: [{{ targets: ['127.0.0.1:{sink}'] }}]
heartbeats:
  - {{ name: backup, period: 1d, grace: 1h }}
rule_files: [{rules:?}]
route:
  receiver: hook
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{sink}/hook' }}]
"
    );
    let d = start(port, &config, &[]).unwrap();

    // A job run: /start, then (once alertd shows it running) exit code 0.
    assert_eq!(d.http("POST", "/ping/backup/start").unwrap().status, 200);
    let running = wait_for(Duration::from_secs(10), || {
        let v = get_json(&d, "/api/v1/query?query=heartbeat_running%3D%3D1").ok()?;
        (!v["data"]["result"].as_array()?.is_empty()).then_some(())
    });
    assert!(running.is_some(), "{}", d.log());
    assert_eq!(d.http("POST", "/ping/backup/0").unwrap().status, 200);

    // Poll until every query returns data (the rates need a few scrapes), then report the rest.
    let mut failing: Vec<(Check, String)> = Vec::new();
    let done = wait_for(Duration::from_secs(45), || {
        let now = e2e::now_secs();
        failing = checks
            .iter()
            .filter_map(|c| run_check(&d, c, now).err().map(|e| (c.clone(), e)))
            .collect();
        failing.is_empty().then_some(())
    });
    let report: Vec<String> = failing
        .iter()
        .map(|(c, e)| format!("{} / {}: {}: {e}", c.dashboard, c.panel, c.query))
        .collect();
    assert!(
        done.is_some(),
        "{} of {} dashboard queries fail against alertd:\n{}\n\nalertd log:\n{}",
        failing.len(),
        checks.len(),
        report.join("\n"),
        d.log()
    );
    assert!(
        posts.load(Ordering::SeqCst) >= 1,
        "the webhook got the alert"
    );
}

#[test]
fn broken_queries_are_reported_by_dashboard_panel_and_query() {
    // The check itself: a query that does not parse and one that returns nothing both fail,
    // named by where they come from.
    let port = free_port();
    let d = start(port, &e2e::minimal_config(port, ""), &[]).unwrap();
    let bad = Check {
        dashboard: "x.json".into(),
        panel: "P".into(),
        query: "sum(".into(),
        kind: Kind::Instant,
    };
    let e = run_check(&d, &bad, e2e::now_secs()).unwrap_err();
    assert!(e.contains("bad_data"), "{e}");
    let empty = Check {
        query: "no_such_metric".into(),
        kind: Kind::Range,
        ..bad
    };
    assert_eq!(
        run_check(&d, &empty, e2e::now_secs()).unwrap_err(),
        "no data"
    );
    assert_eq!(
        substitute(
            "rate(x{p=~\"$probe\"}[$__rate_interval]) ${probe}",
            &["probe".into()]
        ),
        "rate(x{p=~\".*\"}[1m]) .*"
    );
}
