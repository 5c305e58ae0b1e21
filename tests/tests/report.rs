//! End-to-end: the alert-fatigue report of a running alertd. Two alerts fire, one is
//! acknowledged with `alertctl ack`, both resolve (one to a receiver without `send_resolved`);
//! `alertctl report --format csv`, the JSON route (with its bounds and its retention note) and
//! the `/report` page agree with the history and the ack log alertd keeps.

use std::time::Duration;

use e2e::{alertctl, bodies, free_port, http, http_with, start, wait_for, webhook_sink};
use model::api::{api_time, parse_time, AckLogEntry, FatigueReport, HistoryItem};
use model::Clock;

const TOKEN: &[(&str, &str)] = &[("Authorization", "Bearer rep-token")];

fn post_alert(port: u16, name: &str, starts: i64, ends: Option<i64>) {
    let ends = ends.map_or(String::new(), |e| format!(r#","endsAt":"{}""#, api_time(e)));
    let body = format!(
        r#"[{{"labels":{{"alertname":"{name}","instance":"web1"}},"startsAt":"{}"{ends}}}]"#,
        api_time(starts)
    );
    let r = http_with(port, "POST", "/api/v2/alerts", TOKEN, &body).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
}

fn report(port: u16, query: &str) -> FatigueReport {
    let r = http(port, "GET", &format!("/api/alertd/v1/report?{query}")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    serde_json::from_str(&r.body).unwrap()
}

fn ms(t: &str) -> i64 {
    parse_time(t).unwrap().unwrap()
}

#[test]
fn report_counts_firings_acks_and_self_resolutions_of_a_running_alertd() {
    let port = free_port();
    let (hook, got) = webhook_sink();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "rep-token\n").unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port}, tokens_file: {tokens:?} }}
storage: {{ path: data }}
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['alertname=\"Flappy\"']
      receiver: team
receivers:
  - name: oncall
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/oncall' }}]
  - name: team
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/team', send_resolved: false }}]
"
    );
    let d = start(port, &config, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("ALERTD_URL", url.as_str()), ("ALERTD_TOKEN", "rep-token")];
    let sent = |n: usize| {
        wait_for(Duration::from_secs(15), || {
            (bodies(&got).len() >= n).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{n} notifications expected: {:?}\n{}",
                bodies(&got),
                d.log()
            )
        })
    };

    // Disk fires, is paged, acknowledged from the CLI, then resolves (a resolved message).
    let t0 = model::SystemClock.now_ms();
    post_alert(port, "Disk", t0, None);
    sent(1);
    let (code, _, err) = alertctl(&["ack", "alertname=Disk", "--author", "alice"], &env);
    assert_eq!(code, 0, "{err}");
    post_alert(port, "Disk", t0, Some(model::SystemClock.now_ms()));
    sent(2);
    assert!(bodies(&got)[1].contains(r#""status":"resolved""#));
    // Flappy fires and goes away by itself; its receiver gets no resolved message.
    let t1 = model::SystemClock.now_ms();
    post_alert(port, "Flappy", t1, None);
    sent(3);
    post_alert(port, "Flappy", t1, Some(model::SystemClock.now_ms()));
    let r = wait_for(Duration::from_secs(15), || {
        let r = report(port, "since=1h");
        (r.alerts.iter().map(|a| a.resolved).sum::<u64>() == 2).then_some(r)
    })
    .unwrap_or_else(|| panic!("both resolutions in the report:\n{}", d.log()));
    assert_eq!(bodies(&got).len(), 3, "no resolved message to team");

    // Hand-computed from the history and the ack log alertd serves.
    let hist: Vec<HistoryItem> =
        serde_json::from_str(&http(port, "GET", "/api/alertd/v1/history").unwrap().body).unwrap();
    assert!(
        hist.iter().all(|h| h.attempt >= 1 && h.result == "success"),
        "{hist:?}"
    );
    let page_of = |name: &str| {
        hist.iter()
            .filter(|h| h.status == "firing" && h.alerts_summary().starts_with(name))
            .map(|h| ms(&h.at))
            .min()
            .unwrap()
    };
    let log: Vec<AckLogEntry> =
        serde_json::from_str(&http(port, "GET", "/api/alertd/v1/acks/log").unwrap().body).unwrap();
    let acked = log
        .iter()
        .find(|e| e.action == "ack")
        .map(|e| ms(&e.at))
        .unwrap();
    let ack_secs = (acked - page_of("Disk")).max(0) as f64 / 1000.0;

    assert_eq!(r.window, "1h");
    assert!(!r.window_truncated);
    let names: Vec<&str> = r.alerts.iter().map(|a| a.alertname.as_str()).collect();
    assert_eq!(names, ["Disk", "Flappy"], "Disk sent more");
    let disk = &r.alerts[0];
    assert_eq!(
        (
            disk.fired,
            disk.notifications,
            disk.acknowledged,
            disk.resolved,
            disk.self_resolved
        ),
        (1, 2, 1, 1, 0),
        "{disk:?}"
    );
    assert_eq!(disk.ack_median_seconds, Some(ack_secs));
    let flappy = &r.alerts[1];
    assert_eq!(
        (
            flappy.fired,
            flappy.notifications,
            flappy.acknowledged,
            flappy.resolved
        ),
        (1, 1, 0, 1),
        "{flappy:?}"
    );
    assert_eq!(flappy.self_resolved, 1, "resolved within 5m without an ack");
    assert_eq!(flappy.self_resolved_share, 1.0);
    let recv: Vec<(&str, u64)> = r
        .receivers
        .iter()
        .map(|x| (x.receiver.as_str(), x.notifications))
        .collect();
    assert_eq!(recv, [("oncall", 2), ("team", 1)]);
    assert_eq!(r.hours.iter().map(|h| h.notifications).sum::<u64>(), 3);

    // The CSV export.
    let (code, out, err) = alertctl(&["report", "--since", "1h", "--format", "csv"], &env);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(lines[0], model::api::REPORT_CSV_HEADER);
    let disk_row: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(&disk_row[..5], ["Disk", "1", "2", "1", "1"], "{out}");
    assert_eq!(disk_row[5], model::api::fmt_num(ack_secs), "{out}");
    let flappy_row: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(flappy_row[0], "Flappy");
    assert_eq!(&flappy_row[10..], ["1", "1"], "{out}");
    assert_eq!(lines.len(), 4, "{out}");
    // The table names the noisiest receiver.
    let (code, out, _) = alertctl(&["report", "--since", "1h"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("Disk") && out.contains("oncall"), "{out}");

    // A window longer than the retention is cut, and the answer says so.
    let r = report(port, "since=30d");
    assert!(r.window_truncated);
    assert_eq!(r.history_retention, "1w");
    assert!(r.note.as_deref().unwrap_or("").contains("for 1w"), "{r:?}");
    // Parameters are bounded: 400 with the limit named, in alertd's JSON error shape.
    let bad = http(port, "GET", "/api/alertd/v1/report?since=400d").unwrap();
    assert_eq!(bad.status, 400);
    let e: serde_json::Value = serde_json::from_str(&bad.body).unwrap();
    assert!(e["error"].as_str().unwrap().contains("366d"), "{e}");
    let (code, _, err) = alertctl(&["report", "--self-resolved-within", "2d"], &env);
    assert_eq!(code, 2);
    assert!(err.contains("1d"), "{err}");

    // The page.
    let p = http(port, "GET", "/report?since=1h").unwrap();
    assert_eq!(p.status, 200);
    assert!(p.header("content-type").unwrap().starts_with("text/html"));
    assert!(p.body.contains("<strong>Flappy</strong>"), "{}", p.body);
    assert!(http(port, "GET", "/")
        .unwrap()
        .body
        .contains("href=\"/report\""));
}
