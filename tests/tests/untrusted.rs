//! Nothing from the network stops alertd (issue 13), against the real binary with the default
//! `api.auth_reads: false` (no token needed to read):
//!
//! - PromQL nested too deep or too long, sent by GET and POST: 400 `bad_data` naming the limit,
//!   and alertd stays healthy (before the limit, such queries overflowed a thread's stack and
//!   aborted the process).
//! - `match[]` selectors that made the parser crate panic: 400.
//! - Under `prlimit --nofile=1024`, 1,100 idle connections: `/-/healthy` keeps answering within
//!   a second, idle connections are closed after `api.connections.idle_timeout`, and an HTTP
//!   probe of a local target keeps `probe_success` at 1.
//! - Oversized Alertmanager posts and silences: 4xx naming the limit, nothing stored.
//! - Security headers on the pages and badges.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use e2e::{free_port, http_with, minimal_config, start, start_wrapped, wait_for, webhook_sink};
use serde_json::Value;

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The crash inputs of issue 13 and nested variants of every kind of expression.
fn hostile_queries() -> Vec<(String, String)> {
    let nest = |open: &str, inner: &str, close: &str, n: usize| {
        format!("{}{inner}{}", open.repeat(n), close.repeat(n))
    };
    let chain = |op: &str, n: usize| vec!["up"; n].join(op);
    vec![
        (
            "1,500 nested calls".into(),
            nest("abs(", "vector(1)", ")", 1500),
        ),
        ("a sum of 5,000 terms".into(), vec!["1"; 5000].join("+")),
        ("50,000 (".into(), "(".repeat(50_000)),
        ("nested parentheses".into(), nest("(", "1", ")", 20_000)),
        ("unary minus".into(), format!("{}up", "-".repeat(20_000))),
        ("unary plus".into(), format!("{}up", "+".repeat(20_000))),
        ("multiplication".into(), chain(" * ", 3000)),
        ("division with matching".into(), chain(" / on(job) ", 2000)),
        ("comparison".into(), chain(" > bool ", 2000)),
        ("power".into(), vec!["2"; 5000].join("^")),
        ("set operators".into(), chain(" or ", 3000)),
        ("unless and".into(), chain(" unless up and ", 1500)),
        ("atan2".into(), chain(" atan2 ", 3000)),
        (
            "aggregations".into(),
            nest("sum by (job) (", "up", ")", 3000),
        ),
        ("topk".into(), nest("topk(1, ", "up", ")", 3000)),
        (
            "range functions".into(),
            nest("abs(", "rate(up[5m])", ")", 3000),
        ),
        ("subqueries".into(), format!("up{}", "[5m:1m]".repeat(3000))),
        (
            "selector with offset and @".into(),
            nest("-(", "up offset 5m @ 100", ")", 3000),
        ),
        (
            "label_replace".into(),
            nest(
                "label_replace(",
                "up",
                ", \"a\", \"b\", \"c\", \".*\")",
                1500,
            ),
        ),
        (
            "over 64 KiB".into(),
            format!("up{{job=\"{}\"}}", "x".repeat(70_000)),
        ),
    ]
}

fn assert_bad_data(what: &str, r: &e2e::Response) {
    assert_eq!(
        r.status,
        400,
        "{what}: {}",
        &r.body[..r.body.len().min(300)]
    );
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(v["status"], "error", "{what}");
    assert_eq!(v["errorType"], "bad_data", "{what}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains("limit of"), "{what}: {msg}");
}

#[test]
fn hostile_queries_get_400_and_alertd_stays_healthy() {
    let port = free_port();
    let mut d = start(port, &minimal_config(port, ""), &[]).unwrap();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for (what, q) in hostile_queries() {
        let enc = urlencode(&q);
        // GET: a URL longer than hyper's limit (64 KiB) is 414 URI Too Long.
        let r = http_with(port, "GET", &format!("/api/v1/query?query={enc}"), &[], "")
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", d.log()));
        if enc.len() < 65_000 {
            assert_bad_data(&format!("GET {what}"), &r);
        } else {
            assert_eq!(r.status, 414, "GET {what}");
        }
        let r = http_with(
            port,
            "POST",
            "/api/v1/query",
            &form,
            &format!("query={enc}"),
        )
        .unwrap_or_else(|e| panic!("{what}: {e}\n{}", d.log()));
        assert_bad_data(&format!("POST {what}"), &r);
        let body = format!("query={enc}&start=0&end=60&step=15");
        let r = http_with(port, "POST", "/api/v1/query_range", &form, &body).unwrap();
        assert_bad_data(&format!("POST query_range {what}"), &r);
        assert!(d.is_running(), "{what}: alertd died\n{}", d.log());
    }
    // Selectors: the parser crate's panic and the limits, on every endpoint taking match[].
    for sel in [
        "x[1e300:]".to_string(),
        "x[1e300]".to_string(),
        format!("{}up{}", "(".repeat(5000), ")".repeat(5000)),
    ] {
        let enc = urlencode(&sel);
        for path in ["/api/v1/series", "/api/v1/labels", "/api/v1/label/x/values"] {
            let r = http_with(port, "GET", &format!("{path}?match[]={enc}"), &[], "").unwrap();
            assert_eq!(r.status, 400, "{path} {sel:.40}: {}", r.body);
            let v: Value = serde_json::from_str(&r.body).unwrap();
            assert_eq!(v["errorType"], "bad_data", "{path}");
        }
        let r = http_with(
            port,
            "POST",
            "/api/v1/series",
            &form,
            &format!("match[]={enc}"),
        )
        .unwrap();
        assert_eq!(r.status, 400, "POST series {sel:.40}: {}", r.body);
    }
    // Still serving, and real queries within the limits still work (256 levels).
    let ok = format!("{}vector(1){}", "abs(".repeat(200), ")".repeat(200));
    let r = http_with(
        port,
        "GET",
        &format!("/api/v1/query?query={}", urlencode(&ok)),
        &[],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"1\""), "{}", r.body);
    assert_eq!(d.http("GET", "/-/healthy").unwrap().status, 200);
    assert!(d.is_running());
    assert!(!d.log().contains("overflowed its stack"), "{}", d.log());
}

#[test]
fn pages_and_badges_carry_security_headers() {
    let port = free_port();
    let d = start(
        port,
        &minimal_config(
            port,
            "probes:\n  - name: p\n    disk: { path: / }\n    interval: 1h\n",
        ),
        &[],
    )
    .unwrap();
    for path in ["/", "/badge/p/uptime.svg"] {
        let r = d.http("GET", path).unwrap();
        assert!(r.status < 500, "{path}: {}", r.status);
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("script-src"), "{path}: {csp}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{path}");
    }
}

/// Opens a connection to alertd without sending anything.
fn idle_connection(port: u16) -> Option<TcpStream> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()
}

/// Whether the peer has closed `s` (EOF or reset), looking for at most `wait`.
fn closed(s: &mut TcpStream, wait: Duration) -> bool {
    let _ = s.set_read_timeout(Some(wait));
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn query_value(port: u16, q: &str) -> Option<f64> {
    let r = http_with(
        port,
        "GET",
        &format!("/api/v1/query?query={}", urlencode(q)),
        &[],
        "",
    )
    .ok()?;
    let v: Value = serde_json::from_str(&r.body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn idle_connections_cannot_blind_alertd_under_a_low_open_files_limit() {
    const IDLE_SECS: u64 = 3;
    const CONNECTIONS: usize = 1100;
    // This test process holds the 1,100 connections: raise its own soft limit to the hard one.
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    if soft < 2048 {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
        assert!(
            hard >= 2048,
            "the test needs 2,048 open files (hard limit {hard})"
        );
    }
    let (target, _got) = webhook_sink();
    let port = free_port();
    let config = minimal_config(
        port,
        &format!(
            "probes:
  - name: local
    http: {{ url: \"http://127.0.0.1:{target}/\" }}
    interval: 1s
    timeout: 1s
"
        ),
    )
    .replace(
        "  listen:",
        &format!("  connections: {{ idle_timeout: {IDLE_SECS}s }}\n  listen:"),
    );
    let mut d = start_wrapped(port, &config, &["prlimit", "--nofile=1024", "--"], &[]).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || {
            (query_value(port, "probe_success{probe=\"local\"}") == Some(1.0)).then_some(())
        })
        .is_some(),
        "the probe never succeeded:\n{}",
        d.log()
    );
    // 1,100 idle connections, more than the open files limit allows; every 100, /-/healthy
    // from a new connection must answer within a second.
    let flood_start = Instant::now();
    let mut conns = Vec::new();
    let mut slowest = Duration::ZERO;
    let check_healthy = |slowest: &mut Duration| {
        let t = Instant::now();
        let r = http_with(port, "GET", "/-/healthy", &[], "").expect("/-/healthy");
        assert_eq!(r.status, 200);
        *slowest = (*slowest).max(t.elapsed());
    };
    for i in 0..CONNECTIONS {
        if let Some(c) = idle_connection(port) {
            conns.push(c);
        }
        if i % 100 == 99 {
            check_healthy(&mut slowest);
        }
    }
    assert!(
        conns.len() >= 1000,
        "only {} connections opened",
        conns.len()
    );
    // While they are held (and until the idle timeout closes them), alertd answers, and its
    // probe keeps succeeding.
    while flood_start.elapsed() < Duration::from_secs(IDLE_SECS + 2) {
        check_healthy(&mut slowest);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        slowest < Duration::from_secs(1),
        "/-/healthy took {slowest:?}"
    );
    println!("slowest /-/healthy during the flood: {slowest:?}");
    // Every idle connection is closed by now or shortly: the oldest by the idle timeout, the
    // others as they were accepted in place of idle ones, then by the idle timeout.
    let deadline = Instant::now() + Duration::from_secs(IDLE_SECS + 5);
    let mut open = conns.len();
    while open > 0 && Instant::now() < deadline {
        conns.retain_mut(|c| !closed(c, Duration::from_millis(10)));
        open = conns.len();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(open, 0, "connections left open after the idle timeout");
    let elapsed = flood_start.elapsed().as_secs().max(5);
    // The probe ran every second through the flood, and every check succeeded.
    let runs = query_value(
        port,
        &format!("count_over_time(probe_success{{probe=\"local\"}}[{elapsed}s])"),
    );
    assert!(runs.is_some_and(|n| n >= 3.0), "probe runs: {runs:?}");
    let worst = query_value(
        port,
        &format!("min_over_time(probe_success{{probe=\"local\"}}[{elapsed}s])"),
    );
    assert_eq!(worst, Some(1.0), "{}", d.log());
    assert!(d.is_running());
    let log = d.log();
    assert!(!log.contains("Too many open files"), "{log}");
    // A kept-alive connection that sends part of a request head is closed too
    // (header_read_timeout, 10 s by default, or the idle timeout, whichever comes first).
    let mut slow = idle_connection(port).unwrap();
    slow.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert!(closed(&mut slow, Duration::from_secs(12)));
}

fn alerts_json(n: usize, extra_labels: usize, value_bytes: usize) -> String {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            let mut labels = serde_json::Map::new();
            labels.insert("alertname".into(), format!("A{i}").into());
            for j in 0..extra_labels {
                labels.insert(format!("l{j}"), "v".repeat(value_bytes).into());
            }
            serde_json::json!({ "labels": labels })
        })
        .collect();
    Value::Array(alerts).to_string()
}

fn stored_alerts(port: u16) -> usize {
    let r = http_with(port, "GET", "/api/v2/alerts", &[], "").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    serde_json::from_str::<Value>(&r.body)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

/// Over a limit: the status, and an error naming the limit.
fn assert_refused(what: &str, r: &e2e::Response, status: u16, limit: &str) {
    assert_eq!(
        r.status,
        status,
        "{what}: {}",
        &r.body[..r.body.len().min(300)]
    );
    let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{what}: {e}"));
    let msg = v.as_str().unwrap_or_default();
    assert!(msg.contains(limit), "{what}: {msg}");
}

#[test]
fn oversized_posts_are_refused_whole_and_nothing_is_stored() {
    let port = free_port();
    let config = minimal_config(port, "").replace(
        "  listen:",
        "  limits: { api_alerts: 5, status_page_rows: 3 }\n  listen:",
    );
    let d = start(port, &config, &[]).unwrap();
    let post = |body: &str| http_with(port, "POST", "/api/v2/alerts", &[], body).unwrap();
    // The defaults: 10,000 alerts per request, 128 labels, 1 KiB names, 16 KiB values, 64 KiB
    // annotations.
    let r = post(&alerts_json(10_001, 0, 0));
    assert_refused(
        "10,001 alerts",
        &r,
        413,
        "api.limits.alerts_per_request (10000)",
    );
    let r = post(&alerts_json(1, 128, 1));
    assert_refused("129 labels", &r, 413, "api.limits.labels_per_alert (128)");
    let r = post(&alerts_json(1, 1, 16 * 1024 + 1));
    assert_refused(
        "a long value",
        &r,
        413,
        "api.limits.label_value_bytes (16384)",
    );
    let long_name = format!(
        r#"[{{"labels":{{"alertname":"A","{}":"v"}}}}]"#,
        "n".repeat(1025)
    );
    let r = post(&long_name);
    assert_refused("a long name", &r, 413, "api.limits.label_name_bytes (1024)");
    let annotation = format!(
        r#"[{{"labels":{{"alertname":"ok"}}}},{{"labels":{{"alertname":"A"}},"annotations":{{"d":"{}"}}}}]"#,
        "x".repeat(64 * 1024 + 1)
    );
    let r = post(&annotation);
    assert_refused(
        "a long annotation",
        &r,
        413,
        "api.limits.annotation_bytes (65536)",
    );
    assert_eq!(
        stored_alerts(port),
        0,
        "nothing of a refused request is stored"
    );
    // Five active API alerts at most: the five are taken, sent again, a sixth is refused.
    assert_eq!(post(&alerts_json(5, 0, 0)).status, 200);
    assert_eq!(post(&alerts_json(5, 0, 0)).status, 200, "sent again");
    let r = post(r#"[{"labels":{"alertname":"sixth"}}]"#);
    assert_refused("a sixth alert", &r, 429, "api.limits.api_alerts (5)");
    assert_eq!(stored_alerts(port), 5);
    // A silence over the notifier's size limit (64 KiB) is refused and not stored.
    let silence = serde_json::json!({
        "matchers": [{ "name": "alertname", "value": "A0", "isRegex": false }],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2999-01-01T00:00:00Z",
        "createdBy": "t",
        "comment": "c".repeat(70_000),
    });
    let r = http_with(port, "POST", "/api/v2/silences", &[], &silence.to_string()).unwrap();
    assert_eq!(r.status, 400, "{}", &r.body[..r.body.len().min(300)]);
    assert!(r.body.contains("limit"), "{}", r.body);
    let r = http_with(port, "GET", "/api/v2/silences", &[], "").unwrap();
    assert_eq!(r.body.trim(), "[]");
    // The status page lists three of the five alerts and counts the rest.
    let r = d.http("GET", "/").unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.body
            .contains("2 more alerts not shown (api.limits.status_page_rows is 3)"),
        "{}",
        r.body
    );
}
