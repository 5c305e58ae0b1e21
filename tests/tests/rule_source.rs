//! Rule groups over a remote query API (`source:`), from the real binary against real peers
//! the test starts: Debian's `prometheus` 2.42 and `victoria-metrics` 1.79, each scraping a
//! target the test serves (its value set by the test). A group whose `source` is the peer
//! fires, notifies a webhook and resolves; the peer stopped while an alert is pending keeps it
//! pending with its `activeAt` (a failed evaluation changes nothing), sets the rules' health to
//! `err` with the error in `/api/v1/rules` and `alertd_rule_group_source_up` to 0; started
//! again, the group goes on from there.
//!
//! Without the binaries the tests are skipped with a message, except under `CI=true`, where
//! they fail.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use e2e::{start, wait_for, webhook_sink};

#[allow(dead_code)]
#[path = "../../remote/tests/support/peer.rs"]
mod peer;

use peer::{have, Kind, Peer, PROMETHEUS, VICTORIA};

/// A `/metrics` target on a loopback port serving `demo_down{site="a"} <value>`.
fn target() -> (u16, Arc<AtomicU64>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let value = Arc::new(AtomicU64::new(0));
    let v = value.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.read(&mut buf);
            let body = format!(
                "# TYPE demo_down gauge\ndemo_down{{site=\"a\"}} {}\n",
                v.load(Ordering::SeqCst)
            );
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, value)
}

/// The alert named `name` in alertd's `/api/v1/alerts`: (state, activeAt).
fn alert(d: &e2e::Daemon, name: &str) -> Option<(String, String)> {
    let r = d.http("GET", "/api/v1/alerts").ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .map(|a| {
            (
                a["state"].as_str().unwrap_or("").to_string(),
                a["activeAt"].as_str().unwrap_or("").to_string(),
            )
        })
}

/// Every rule's (health, lastError) in `/api/v1/rules`.
fn health(d: &e2e::Daemon) -> Vec<(String, String)> {
    let Ok(r) = d.http("GET", "/api/v1/rules") else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    v["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .map(|r| {
            (
                r["health"].as_str().unwrap_or("").to_string(),
                r["lastError"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The webhook bodies' (status, alertname) pairs so far.
fn notified(got: &std::sync::Mutex<Vec<e2e::Received>>) -> Vec<(String, String)> {
    e2e::bodies(got)
        .iter()
        .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .flat_map(|v| v["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["status"].as_str().unwrap_or("").to_string(),
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn run(kind: Kind) {
    let work = tempfile::tempdir().unwrap();
    let (tport, value) = target();
    let mut peer = Peer::start_scraping(
        kind,
        &work.path().join("peer"),
        peer::free_port(),
        Some(&format!("127.0.0.1:{tport}")),
    );
    let (hook, got) = webhook_sink();
    let port = e2e::free_port();
    let rules = work.path().join("fleet.yml");
    std::fs::write(
        &rules,
        format!(
            "groups:\n  - name: fleet\n    interval: 1s\n    source: {{ url: '{}', timeout: 2s }}\n    rules:\n      \
             - alert: SiteDown\n        expr: max by (site) (demo_down) == 1\n        for: 2s\n        \
             annotations: {{ summary: 'site {{{{ $labels.site }}}} down, {{{{ query \"count(demo_down)\" | first | value }}}} series' }}\n      \
             - alert: SiteDownLong\n        expr: max by (site) (demo_down) == 1\n        for: 1h\n      \
             - record: site:demo_down:max\n        expr: max by (site) (demo_down)\n",
            peer.query_url()
        ),
    )
    .unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?} }}
rule_files: [{rules:?}]
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts', send_resolved: true }}]
",
        data = work.path().join("data"),
    );
    let d = start(port, &config, &[]).unwrap();
    let ctx = |what: &str| format!("{kind:?}: {what}\n{}", d.log());
    // The peer has scraped the target (value 0): the source answers, nothing pending.
    wait_for(Duration::from_secs(20), || {
        let h = health(&d);
        (!h.is_empty() && h.iter().all(|(s, _)| s == "ok")).then_some(())
    })
    .unwrap_or_else(|| {
        let body = d.http("GET", "/api/v1/rules").map(|r| r.body);
        panic!("{}", ctx(&format!("rules not ok: {body:?}")))
    });

    // Down: fires through the source and notifies.
    value.store(1, Ordering::SeqCst);
    wait_for(Duration::from_secs(20), || {
        notified(&got)
            .contains(&("firing".into(), "SiteDown".into()))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("{}", ctx("SiteDown not notified")));
    let body = e2e::bodies(&got)
        .into_iter()
        .find(|b| b.contains("SiteDown"))
        .unwrap();
    assert!(body.contains("site a down, 1 series"), "{body}");
    // Recorded locally.
    let r = d
        .http("GET", "/api/v1/query?query=site:demo_down:max")
        .unwrap();
    assert!(r.body.contains("\"site\":\"a\""), "{}", r.body);

    // Up again: resolves.
    value.store(0, Ordering::SeqCst);
    wait_for(Duration::from_secs(20), || {
        notified(&got)
            .contains(&("resolved".into(), "SiteDown".into()))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("{}", ctx("SiteDown not resolved")));

    // Down again, and the peer stops while SiteDownLong is pending.
    value.store(1, Ordering::SeqCst);
    let (state, active_at) = wait_for(Duration::from_secs(20), || {
        alert(&d, "SiteDownLong").filter(|(s, _)| s == "pending")
    })
    .unwrap_or_else(|| panic!("{}", ctx("SiteDownLong not pending")));
    assert_eq!(state, "pending");
    wait_for(Duration::from_secs(20), || {
        (alert(&d, "SiteDown").map(|a| a.0).as_deref() == Some("firing")).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", ctx("SiteDown not firing again")));
    peer.stop();
    wait_for(Duration::from_secs(20), || {
        let h = health(&d);
        (!h.is_empty() && h.iter().all(|(s, e)| s == "err" && e.contains("source"))).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", ctx(&format!("health not err: {:?}", health(&d)))));
    assert!(
        d.metrics()
            .lines()
            .any(|l| l.starts_with("alertd_rule_group_source_up{")
                && l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(0.0)),
        "{}",
        d.metrics()
    );
    // Several failed evaluations later: nothing moved, nothing resolved.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        alert(&d, "SiteDownLong"),
        Some(("pending".into(), active_at.clone())),
        "{}",
        ctx("pending alert changed while the source was down")
    );
    assert_eq!(
        alert(&d, "SiteDown").map(|a| a.0).as_deref(),
        Some("firing")
    );
    let resolved = notified(&got).iter().filter(|n| n.0 == "resolved").count();
    assert_eq!(
        resolved,
        1,
        "only the first resolution: {:?}",
        notified(&got)
    );

    // The source is back: health ok, the pending alert goes on from its activeAt.
    peer.restart();
    wait_for(Duration::from_secs(30), || {
        let h = health(&d);
        (!h.is_empty() && h.iter().all(|(s, _)| s == "ok")).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", ctx(&format!("rules not ok again: {:?}", health(&d)))));
    assert_eq!(
        alert(&d, "SiteDownLong"),
        Some(("pending".into(), active_at)),
        "{}",
        ctx("pending alert reset")
    );
}

#[test]
fn a_group_over_prometheus_fires_notifies_resolves_and_survives_an_outage() {
    if have(PROMETHEUS) {
        run(Kind::Prometheus);
    }
}

#[test]
fn a_group_over_victoriametrics_fires_notifies_resolves_and_survives_an_outage() {
    if have(VICTORIA) {
        run(Kind::Victoria);
    }
}
