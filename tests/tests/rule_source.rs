//! Rule groups over a remote query API (`source:`), from the real binary against real peers
//! the test starts: Debian's `prometheus` 2.42 and `victoria-metrics` 1.79, each scraping a
//! target the test serves (its value set by the test). A group whose `source` is the peer
//! fires, notifies a webhook and resolves; the peer stopped while an alert is pending keeps it
//! pending with its `activeAt` (a failed evaluation changes nothing), sets the rules' health to
//! `err` with the error in `/api/v1/rules` and `alertd_rule_group_source_up` to 0; started
//! again, the group goes on from there.
//!
//! The same run with the source given once in alertd.yaml (`rule_source:`, issue 19) for the
//! groups without their own, next to a group that stays local (`source: local`). And with a
//! source that never answers: `/api/v1/rules` and `/metrics` answer at once meanwhile (they read
//! what the last evaluation published), and a reload applies a changed `rule_source:`.
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

/// Every rule's (health, lastError) of group `fleet` in `/api/v1/rules`.
fn health(d: &e2e::Daemon) -> Vec<(String, String)> {
    let Ok(r) = d.http("GET", "/api/v1/rules") else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
    v["data"]["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["name"] == "fleet")
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

/// Where the `fleet` group's source is written.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Given {
    /// In the group (`source:`).
    InGroup,
    /// Once in alertd.yaml (`rule_source:`), with a second group `here` kept local.
    Default,
}

fn run(kind: Kind, given: Given) {
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
    let source = format!("{{ url: '{}', timeout: 2s }}", peer.query_url());
    let (in_group, rule_source, local_group) = match given {
        Given::InGroup => (format!("    source: {source}\n"), String::new(), ""),
        Given::Default => (
            String::new(),
            format!("rule_source: {source}\n"),
            "  - name: here\n    interval: 1s\n    source: local\n    rules:\n      \
             - record: here:one\n        expr: vector(1)\n",
        ),
    };
    std::fs::write(
        &rules,
        format!(
            "groups:\n  - name: fleet\n    interval: 1s\n{in_group}    rules:\n      \
             - alert: SiteDown\n        expr: max by (site) (demo_down) == 1\n        for: 2s\n        \
             annotations: {{ summary: 'site {{{{ $labels.site }}}} down, {{{{ query \"count(demo_down)\" | first | value }}}} series' }}\n      \
             - alert: SiteDownLong\n        expr: max by (site) (demo_down) == 1\n        for: 1h\n      \
             - record: site:demo_down:max\n        expr: max by (site) (demo_down)\n{local_group}",
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
{rule_source}",
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
    if given == Given::Default {
        // The group without a `source:` took the default; `source: local` stayed here.
        let r = d.http("GET", "/api/v1/query?query=here:one").unwrap();
        assert!(r.body.contains("\"result\":[{"), "{}", r.body);
        let r = d.http("GET", "/api/v1/rules").unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let groups = v["data"]["groups"].as_array().unwrap();
        assert_eq!(groups.len(), 2, "{}", r.body);
        let here = groups.iter().find(|g| g["name"] == "here").unwrap();
        assert!(
            here["rules"][0]["health"] == "ok",
            "{}",
            ctx(&format!("local group: {here}"))
        );
    }

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
        run(Kind::Prometheus, Given::InGroup);
    }
}

#[test]
fn a_group_over_victoriametrics_fires_notifies_resolves_and_survives_an_outage() {
    if have(VICTORIA) {
        run(Kind::Victoria, Given::InGroup);
    }
}

/// Issue 19: the source given once in alertd.yaml (`rule_source:`) applies to the group
/// without its own; the group with `source: local` evaluates over alertd's store.
#[test]
fn a_default_rule_source_over_victoriametrics_applies_to_groups_without_their_own() {
    if have(VICTORIA) {
        run(Kind::Victoria, Given::Default);
    }
}

/// A loopback query API that accepts connections and never answers; counts the connections.
fn hanging_source() -> (u16, Arc<AtomicU64>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicU64::new(0));
    let n = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in l.incoming().flatten() {
            n.fetch_add(1, Ordering::SeqCst);
            held.push(c);
        }
    });
    (port, accepted)
}

/// Issue 19: while a source group's evaluation waits for a source that never answers,
/// `/api/v1/rules` and `/metrics` answer at once (before, they waited for the group's lock up
/// to the source's timeout). The reload that then drops `rule_source:` is applied: the group
/// evaluates locally.
#[test]
fn rules_and_metrics_answer_while_a_source_hangs_and_reload_applies_rule_source() {
    let work = tempfile::tempdir().unwrap();
    let (hang, accepted) = hanging_source();
    let port = e2e::free_port();
    let rules = work.path().join("fleet.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: fleet\n    interval: 1s\n    rules:\n      \
         - record: fleet:one\n        expr: vector(1)\n  \
         - name: here\n    interval: 1s\n    source: local\n    rules:\n      \
         - record: here:one\n        expr: vector(1)\n",
    )
    .unwrap();
    let base = format!(
        "api: {{ listen: 127.0.0.1:{port} }}\nstorage: {{ path: {data:?} }}\nrule_files: [{rules:?}]\n",
        data = work.path().join("data"),
    );
    const TIMEOUT_S: u64 = 20;
    let config =
        format!("{base}rule_source: {{ url: 'http://127.0.0.1:{hang}', timeout: {TIMEOUT_S}s }}\n");
    let d = start(port, &config, &[]).unwrap();
    // The group is inside an evaluation, waiting for the source.
    wait_for(Duration::from_secs(20), || {
        (accepted.load(Ordering::SeqCst) > 0).then_some(())
    })
    .unwrap_or_else(|| panic!("the source was never asked\n{}", d.log()));
    for _ in 0..3 {
        for path in ["/api/v1/rules", "/metrics"] {
            let t = std::time::Instant::now();
            let r = d.http("GET", path).unwrap();
            let took = t.elapsed();
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            assert!(
                took < Duration::from_secs(TIMEOUT_S / 4),
                "{path} took {took:?} while the source hangs\n{}",
                d.log()
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let r = d.http("GET", "/api/v1/rules").unwrap();
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["data"]["groups"].as_array().map(Vec::len),
        Some(2),
        "{}",
        r.body
    );
    // `source: local`: evaluated here meanwhile.
    wait_for(Duration::from_secs(10), || {
        let r = d.http("GET", "/api/v1/query?query=here:one").ok()?;
        r.body.contains("\"result\":[{").then_some(())
    })
    .unwrap_or_else(|| panic!("here:one not recorded\n{}", d.log()));
    assert!(!d
        .http("GET", "/api/v1/query?query=fleet:one")
        .unwrap()
        .body
        .contains("\"result\":[{"));

    // Without `rule_source:`, the reload makes the group local: it records. The reload waits
    // for the evaluation in progress (at most the source's timeout, longer than the test
    // client's read timeout), so it is asked for with SIGHUP.
    d.write_config(&base);
    d.signal(e2e::Signal::SIGHUP);
    wait_for(Duration::from_secs(TIMEOUT_S + 20), || {
        let r = d.http("GET", "/api/v1/query?query=fleet:one").ok()?;
        r.body.contains("\"result\":[{").then_some(())
    })
    .unwrap_or_else(|| panic!("fleet:one not recorded after the reload\n{}", d.log()));
}
