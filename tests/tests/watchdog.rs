//! End-to-end: alertd's watchdog pings its dead man's switch only while its pipeline is healthy,
//! and never writes the switch's URL (a secret) to its log.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{free_port, metric_value, minimal_config, start, wait_for};

/// A dead man's switch on loopback: answers 200 and keeps the requests.
fn switch() -> (u16, Arc<Mutex<Vec<e2e::Received>>>) {
    e2e::recording_server(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nOK")
}

fn request_lines(got: &Mutex<Vec<e2e::Received>>) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|r| r.request_line.clone())
        .collect()
}

const TOKEN: &str = "5f1c7e0a-watchdog-token";

fn watchdog(switch_port: u16) -> String {
    format!("watchdog:\n  url: http://127.0.0.1:{switch_port}/ping/{TOKEN}\n  interval: 1s\n")
}

#[test]
fn a_healthy_alertd_pings_and_an_unready_one_does_not() {
    let work = tempfile::tempdir().unwrap();
    // A group evaluated every second: ready at once.
    let fast = work.path().join("fast.yml");
    std::fs::write(
        &fast,
        "groups:\n  - name: fast\n    interval: 1s\n    rules:\n      - record: one\n        expr: vector(1)\n",
    )
    .unwrap();
    // Groups run at multiples of their interval: a daily group is not evaluated (so alertd is
    // not ready) until the next midnight UTC.
    let daily = work.path().join("daily.yml");
    std::fs::write(
        &daily,
        "groups:\n  - name: daily\n    interval: 1d\n    rules:\n      - record: one\n        expr: vector(1)\n",
    )
    .unwrap();

    let (healthy_port, healthy_pings) = switch();
    let (stuck_port, stuck_pings) = switch();
    let a_port = free_port();
    let a = start(
        a_port,
        &minimal_config(
            a_port,
            &format!(
                "rule_files: [{:?}]\n{}",
                fast.display().to_string(),
                watchdog(healthy_port)
            ),
        ),
        &[],
    )
    .unwrap();
    let b_port = free_port();
    let b = start(
        b_port,
        &minimal_config(
            b_port,
            &format!(
                "rule_files: [{:?}]\n{}",
                daily.display().to_string(),
                watchdog(stuck_port)
            ),
        ),
        &[],
    )
    .unwrap();

    let pinged = wait_for(Duration::from_secs(15), || {
        (request_lines(&healthy_pings).len() >= 2).then_some(())
    });
    assert!(
        pinged.is_some(),
        "no pings from a healthy alertd:\n{}",
        a.log()
    );
    let lines = request_lines(&healthy_pings);
    assert!(
        lines
            .iter()
            .all(|l| l == &format!("GET /ping/{TOKEN} HTTP/1.1")),
        "{lines:?}"
    );
    let m = a.metrics();
    assert_eq!(
        metric_value(&m, "alertd_watchdog_pipeline_healthy"),
        Some(1.0)
    );
    assert!(
        metric_value(&m, "alertd_watchdog_pings_total{result=\"success\"}").unwrap_or(0.0) >= 2.0,
        "{m}"
    );

    // B had as long (it started after A): it is not ready, so it must not have pinged.
    let said = wait_for(Duration::from_secs(10), || {
        b.log()
            .contains("watchdog: pipeline unhealthy, not pinging")
            .then_some(())
    });
    assert!(said.is_some(), "{}", b.log());
    assert!(
        b.log().contains("not ready: waiting for first_eval_done"),
        "{}",
        b.log()
    );
    assert_eq!(b.http("GET", "/-/ready").unwrap().status, 503);
    assert!(
        request_lines(&stuck_pings).is_empty(),
        "{:?}",
        request_lines(&stuck_pings)
    );
    assert_eq!(
        metric_value(&b.metrics(), "alertd_watchdog_pipeline_healthy"),
        Some(0.0)
    );

    for d in [&a, &b] {
        assert!(
            !d.log().contains(TOKEN),
            "the URL is a secret:\n{}",
            d.log()
        );
    }
}

#[test]
fn a_failing_switch_is_counted_and_its_url_not_logged() {
    // A port nobody listens on.
    let dead = free_port();
    let port = free_port();
    let d = start(port, &minimal_config(port, &watchdog(dead)), &[]).unwrap();
    let failed = wait_for(Duration::from_secs(15), || {
        metric_value(
            &d.metrics(),
            "alertd_watchdog_pings_total{result=\"failure\"}",
        )
        .filter(|n| *n >= 1.0)
    });
    assert!(failed.is_some(), "{}\n{}", d.metrics(), d.log());
    assert!(
        d.log()
            .contains("watchdog: ping failed (connection failed)"),
        "{}",
        d.log()
    );
    assert!(!d.log().contains(TOKEN), "{}", d.log());
}
