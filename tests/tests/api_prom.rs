//! The Prometheus query API of the real `alertd` binary, checked with Debian's `promtool query`
//! (a real client of that API) and with direct HTTP requests for the error envelopes, POST
//! forms, `/api/v1/rules` and `/api/v1/alerts`.
//!
//! alertd scrapes its own `/metrics` (job `self`) and a closed port (job `down`, so `up` is 0
//! there) every second and evaluates rules that fire on the down target.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::Command;
use std::time::Duration;

use e2e::{free_port, minimal_config, start, wait_for, Daemon};
use serde_json::Value;

const RULES: &str = r#"groups:
  - name: api-test
    interval: 1s
    rules:
      - alert: TargetDown
        expr: up == 0
        labels: { severity: critical }
        annotations: { summary: "{{ $labels.instance }} is down" }
      - alert: DownForAnHour
        expr: up == 0
        for: 1h
      - record: job:up:sum
        expr: sum by (job) (up)
  - name: broken
    interval: 1s
    rules:
      - record: duplicate
        expr: up + ignoring(job, instance) up
"#;

/// A daemon scraping itself and a closed port, with [`RULES`] (in the returned directory, which
/// must outlive it); returns once both targets have six seconds of `up`, the recording rule
/// has both jobs and the alert fires.
fn daemon() -> (Daemon, tempfile::TempDir) {
    let port = free_port();
    let closed = free_port();
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let extra = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{:?}]\n\
         scrape_configs:\n  - job_name: self\n    static_configs: [{{ targets: [\"127.0.0.1:{port}\"] }}]\n\
         \x20 - job_name: down\n    static_configs: [{{ targets: [\"127.0.0.1:{closed}\"] }}]\n",
        rules.display().to_string()
    );
    let d = start(port, &minimal_config(port, &extra), &[]).unwrap();
    let ok = wait_for(Duration::from_secs(20), || {
        let v = get_json(&d, "/api/v1/alerts");
        let firing = v["data"]["alerts"]
            .as_array()?
            .iter()
            .any(|a| a["state"] == "firing");
        let up = get_json(&d, "/api/v1/query?query=up");
        // Enough history for the range queries, and the recording rule saw both jobs.
        let points = get_json(
            &d,
            "/api/v1/query?query=min(count_over_time(up%5B10s%5D))%20%3E%3D%206",
        );
        let recorded = get_json(&d, "/api/v1/query?query=job:up:sum");
        (firing
            && up["data"]["result"].as_array()?.len() == 2
            && points["data"]["result"].as_array()?.len() == 1
            && recorded["data"]["result"].as_array()?.len() == 2)
            .then_some(())
    });
    assert!(ok.is_some(), "no data or alert in time:\n{}", d.log());
    (d, rules_dir)
}

fn get_json(d: &Daemon, path: &str) -> Value {
    let r = d.http("GET", path).unwrap();
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
}

/// `POST path` with a form-encoded body; (status, JSON body).
fn post_form(port: u16, path: &str, form: &str) -> (u16, Value) {
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

fn promtool(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("run promtool (Debian package prometheus)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn promtool_queries_alertd() {
    let (d, _rules) = daemon();
    let url = format!("http://127.0.0.1:{}", d.port);
    let closed = get_json(
        &d,
        "/api/v1/label/instance/values?match[]=up%7Bjob%3D%22down%22%7D",
    )["data"][0]
        .as_str()
        .unwrap()
        .to_string();

    let (ok, out, err) = promtool(&["query", "instant", &url, "up"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!(
            "up{{instance=\"{closed}\", job=\"down\"}} => 0 @["
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "up{{instance=\"127.0.0.1:{}\", job=\"self\"}} => 1 @[",
            d.port
        )),
        "{out}"
    );

    // The recording rule's series, by arithmetic on it.
    let (ok, out, err) = promtool(&["query", "instant", &url, "job:up:sum{job=\"self\"} * 10"]);
    assert!(ok, "{err}");
    assert!(out.contains("{job=\"self\"} => 10 @["), "{out}");

    let now = e2e::now_secs();
    let (start, end) = ((now - 3).to_string(), now.to_string());
    let (ok, out, err) = promtool(&[
        "query",
        "range",
        "--start",
        &start,
        "--end",
        &end,
        "--step",
        "1s",
        &url,
        "up{job=\"down\"}",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("job=\"down\"} =>\n"), "{out}");
    // One point per second from start to end, all 0.
    let points: Vec<&str> = out.lines().filter(|l| l.contains(" @[")).collect();
    assert_eq!(points.len(), 4, "{out}");
    assert!(points.iter().all(|p| p.starts_with("0 @[")), "{out}");
    assert!(points[0].contains(&format!("@[{start}]")), "{out}");

    let (ok, out, err) = promtool(&["query", "series", "--match", "up", &url]);
    assert!(ok, "{err}");
    // Series come sorted by their labels (here: by the random instance ports).
    let mut want = [
        format!("{{__name__=\"up\", instance=\"{closed}\", job=\"down\"}}"),
        format!(
            "{{__name__=\"up\", instance=\"127.0.0.1:{}\", job=\"self\"}}",
            d.port
        ),
    ];
    want.sort();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");

    let (ok, out, err) = promtool(&["query", "labels", &url, "job"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["down", "self"], "{out}");
    let (ok, out, _) = promtool(&["query", "labels", &url, "__name__"]);
    assert!(ok);
    for name in ["up", "scrape_duration_seconds", "ALERTS", "job:up:sum"] {
        assert!(out.lines().any(|l| l == name), "{name} missing: {out}");
    }

    // Subqueries (steps at multiples of 1s back to a minute ago) and holt_winters evaluate.
    let (ok, out, err) = promtool(&[
        "query",
        "instant",
        &url,
        "max_over_time((up{job=\"self\"} * 2)[1m:1s])",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("{instance=\"127.0.0.1:"), "{out}");
    assert!(out.contains("job=\"self\"} => 2 @["), "{out}");
    let (ok, _, err) = promtool(&[
        "query",
        "instant",
        &url,
        "holt_winters(up{job=\"self\"}[1m], 0.5, 0.5)",
    ]);
    assert!(ok, "{err}");

    // A bad query makes promtool fail with alertd's error.
    let (ok, _, err) = promtool(&["query", "instant", &url, "sum(up"]);
    assert!(!ok);
    assert!(err.contains("bad_data"), "{err}");
    assert!(err.contains("unclosed left parenthesis"), "{err}");
}

#[test]
fn errors_use_prometheus_envelope_and_types() {
    let (d, _rules) = daemon();
    let cases: &[(&str, u16, &str, &str)] = &[
        (
            "/api/v1/query?query=sum(up",
            400,
            "bad_data",
            "invalid parameter \"query\": parse error: unclosed left parenthesis",
        ),
        (
            "/api/v1/query",
            400,
            "bad_data",
            "invalid parameter \"query\": parse error:",
        ),
        (
            "/api/v1/query?query=up&time=yesterday",
            400,
            "bad_data",
            "invalid parameter \"time\": Invalid time value for 'time': cannot parse \"yesterday\" to a valid timestamp",
        ),
        (
            "/api/v1/query?query=up&timeout=soon",
            400,
            "bad_data",
            "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration",
        ),
        (
            "/api/v1/query?query=up&timeout=0s",
            503,
            "timeout",
            "query timed out",
        ),
        (
            "/api/v1/query?query=up%20%2B%20ignoring(job,instance)%20up",
            422,
            "execution",
            "found duplicate series for the match group",
        ),
        (
            "/api/v1/query?query=double_exponential_smoothing(up[5m],0.5,0.5)",
            400,
            "bad_data",
            "invalid parameter \"query\"",
        ),
        (
            "/api/v1/query_range?query=up&end=10&step=1",
            400,
            "bad_data",
            "invalid parameter \"start\": cannot parse \"\" to a valid timestamp",
        ),
        (
            "/api/v1/query_range?query=up&start=10&end=5&step=1",
            400,
            "bad_data",
            "invalid parameter \"end\": end timestamp must not be before start time",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=10&step=0",
            400,
            "bad_data",
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ),
        (
            "/api/v1/query_range?query=up&start=0&end=11001&step=1",
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries",
        ),
        (
            "/api/v1/query_range?query=up[1m]&start=0&end=10&step=1",
            400,
            "bad_data",
            "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
        ),
        (
            "/api/v1/series",
            400,
            "bad_data",
            "no match[] parameter provided",
        ),
        (
            "/api/v1/series?match[]=up%2B1",
            400,
            "bad_data",
            "invalid parameter \"match[]\": expected a series selector",
        ),
        (
            "/api/v1/series?match[]=%7Bjob%3D~%22.*%22%7D",
            400,
            "bad_data",
            "non-empty matcher",
        ),
        (
            "/api/v1/labels?start=never",
            400,
            "bad_data",
            "invalid parameter \"start\"",
        ),
        (
            "/api/v1/label/1job/values",
            400,
            "bad_data",
            "invalid label name: \"1job\"",
        ),
        (
            "/api/v1/rules?type=both",
            400,
            "bad_data",
            "invalid parameter \"type\": not supported value \"both\"",
        ),
        (
            "/api/v1/targets",
            404,
            "not_found",
            "unknown API endpoint /api/v1/targets",
        ),
    ];
    for (path, status, kind, msg) in cases {
        let r = d.http("GET", path).unwrap();
        assert_eq!(r.status, *status, "{path}: {}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["status"], "error", "{path}: {v}");
        assert_eq!(v["errorType"], *kind, "{path}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(e.contains(msg), "{path}: {e}");
    }
    let r = d.http("DELETE", "/api/v1/query?query=up").unwrap();
    assert_eq!(r.status, 405);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["errorType"], "bad_data");
}

#[test]
fn post_forms_and_value_formats() {
    let (d, _rules) = daemon();
    // POST form and GET give the same series; the body wins over the URL.
    let (status, v) = post_form(
        d.port,
        "/api/v1/query?query=up",
        "query=up%7Bjob%3D%22down%22%7D",
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["resultType"], "vector");
    let result = v["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{v}");
    assert_eq!(result[0]["metric"]["job"], "down");
    assert_eq!(result[0]["value"][1], "0");

    let (status, v) = post_form(
        d.port,
        "/api/v1/series",
        "match%5B%5D=up%7Bjob%3D%22down%22%7D&match%5B%5D=job%3Aup%3Asum",
    );
    assert_eq!(status, 200, "{v}");
    let names: Vec<(&str, &str)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["__name__"].as_str().unwrap(), s["job"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("job:up:sum", "down"),
            ("job:up:sum", "self"),
            ("up", "down")
        ]
    );

    let (status, v) = post_form(
        d.port,
        "/api/v1/labels",
        "match%5B%5D=up%7Bjob%3D%22down%22%7D",
    );
    assert_eq!(status, 200);
    assert_eq!(
        v["data"],
        serde_json::json!(["__name__", "instance", "job"])
    );

    let now = e2e::now_secs();
    let (status, v) = post_form(
        d.port,
        "/api/v1/query_range",
        &format!(
            "query=up%7Bjob%3D%22self%22%7D&start={}&end={}&step=1",
            now - 2,
            now
        ),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    let values = v["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 3, "{v}");
    assert_eq!(values[0][0], serde_json::json!(now - 2));
    assert_eq!(values[2][1], "1");

    // Scalars, strings, NaN and infinities, RFC 3339 and float times.
    let v = get_json(&d, "/api/v1/query?query=1%2F0&time=1.5");
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "scalar", "result": [1.5, "+Inf"]})
    );
    let v = get_json(&d, "/api/v1/query?query=-1%2F0&time=2026-11-23T07:00:00Z");
    assert_eq!(v["data"]["result"], serde_json::json!([1795417200, "-Inf"]));
    let v = get_json(&d, "/api/v1/query?query=vector(0%2F0)");
    assert_eq!(v["data"]["result"][0]["value"][1], "NaN");
    let v = get_json(&d, "/api/v1/query?query=vector(1e-7)");
    assert_eq!(v["data"]["result"][0]["value"][1], "1e-07");
    let v = get_json(&d, "/api/v1/query?query=%22text%22&time=3");
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "string", "result": [3, "text"]})
    );
    let v = get_json(&d, "/api/v1/query?query=up%5B2s%5D");
    assert_eq!(v["data"]["resultType"], "matrix");

    let v = get_json(&d, "/api/v1/status/buildinfo");
    assert_eq!(v["data"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn rules_and_alerts_show_the_firing_rule() {
    let (d, _rules) = daemon();
    let v = get_json(&d, "/api/v1/rules");
    assert_eq!(v["status"], "success");
    let groups = v["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{v}");
    let g = &groups[0];
    assert_eq!(g["name"], "api-test");
    assert_eq!(g["interval"], 1);
    assert!(g["file"].as_str().unwrap().ends_with("rules.yml"), "{g}");
    assert!(g["lastEvaluation"].as_str().unwrap().ends_with('Z'), "{g}");
    let rules = g["rules"].as_array().unwrap();
    let down = &rules[0];
    assert_eq!(down["type"], "alerting");
    assert_eq!(down["name"], "TargetDown");
    assert_eq!(down["query"], "up == 0");
    assert_eq!(down["state"], "firing");
    assert_eq!(down["health"], "ok");
    assert_eq!(down["duration"], 0);
    assert_eq!(down["labels"]["severity"], "critical");
    let alert = &down["alerts"][0];
    assert_eq!(alert["state"], "firing");
    assert_eq!(alert["labels"]["job"], "down");
    assert_eq!(alert["labels"]["alertname"], "TargetDown");
    assert_eq!(alert["value"], "0e+00");
    let instance = alert["labels"]["instance"].as_str().unwrap();
    assert_eq!(
        alert["annotations"]["summary"],
        format!("{instance} is down")
    );
    assert_eq!(rules[1]["state"], "pending");
    assert_eq!(rules[1]["duration"], 3600);
    assert_eq!(rules[2]["type"], "recording");
    assert_eq!(rules[2]["name"], "job:up:sum");
    assert_eq!(rules[2]["health"], "ok");

    let broken = &groups[1]["rules"][0];
    assert_eq!(broken["health"], "err");
    assert!(
        broken["lastError"]
            .as_str()
            .unwrap()
            .contains("duplicate series"),
        "{broken}"
    );

    let v = get_json(&d, "/api/v1/rules?type=record&rule_group[]=api-test");
    let groups = v["data"]["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{v}");
    let rules = groups[0]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["name"], "job:up:sum");

    let v = get_json(&d, "/api/v1/alerts");
    let alerts = v["data"]["alerts"].as_array().unwrap();
    let states: Vec<(&str, &str)> = alerts
        .iter()
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap(),
                a["state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [("TargetDown", "firing"), ("DownForAnHour", "pending")],
        "{v}"
    );
    assert!(alerts[0]["activeAt"].as_str().unwrap().starts_with("20"));

    // The same alert is in the ALERTS series.
    let v = get_json(
        &d,
        "/api/v1/query?query=ALERTS%7Balertname%3D%22TargetDown%22%7D",
    );
    assert_eq!(v["data"]["result"][0]["metric"]["alertstate"], "firing");
}

/// The value of the only series `query` returns.
fn single_value(d: &Daemon, query: &str) -> f64 {
    let path = format!(
        "/api/v1/query?query={}",
        query
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let v = get_json(d, &path);
    let r = v["data"]["result"].as_array().unwrap();
    assert_eq!(r.len(), 1, "{query}: {v}");
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn own_metrics_count_rule_evaluations_failures_and_probe_runs() {
    let (d, _rules) = daemon();
    // alertd scrapes its own /metrics, so its internals are queryable like any series.
    let ok = wait_for(Duration::from_secs(10), || {
        let v = get_json(
            &d,
            "/api/v1/query?query=alertd_rule_evaluation_failures_total",
        );
        (v["data"]["result"].as_array()?.len() == 2).then_some(())
    });
    assert!(ok.is_some(), "{}", d.log());
    let failures = |group: &str| {
        single_value(
            &d,
            &format!("alertd_rule_evaluation_failures_total{{rule_group=~\".*;{group}\"}}"),
        )
    };
    assert_eq!(failures("api-test"), 0.0);
    assert!(failures("broken") >= 1.0);
    assert!(
        single_value(
            &d,
            "alertd_rule_evaluations_total{rule_group=~\".*;api-test\"}"
        ) >= 3.0
    );
    assert_eq!(
        single_value(&d, "alertd_rule_group_rules{rule_group=~\".*;api-test\"}"),
        3.0
    );
    let last = single_value(
        &d,
        "alertd_rule_group_last_duration_seconds{rule_group=~\".*;api-test\"}",
    );
    assert!(last > 0.0 && last < 1.0, "{last}");
    // Two scrape targets run every second; one of them always fails.
    assert!(single_value(&d, "alertd_probe_runs_total{kind=\"scrape\"}") >= 4.0);
    assert!(single_value(&d, "alertd_probe_run_failures_total{kind=\"scrape\"}") >= 2.0);
    assert!(
        single_value(
            &d,
            "alertd_probe_run_duration_seconds_total{kind=\"scrape\"}"
        ) > 0.0
    );
    assert_eq!(single_value(&d, "alertd_notification_queue_length"), 0.0);
}
