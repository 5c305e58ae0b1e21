//! A crash sends no false recovery (issue 14's scenario): alertd probes a target answering 500
//! every second, the rule `probe_success == 0` with `for: 5s` fires, and a webhook receiver
//! (`group_wait: 0s`) gets the firing notification. alertd is then `kill -9`ed ten times at
//! different moments (0–2 s into each life) and restarted on the same data directory, with the
//! default `checkpoint_interval` (60 s, longer than the test: the samples since the last
//! checkpoint come back from the write-ahead log). After every restart the alert is firing with
//! the same `activeAt`, and across all lives the receiver got exactly one notification: the
//! first firing one, nothing resolved, no second firing.

use std::time::{Duration, Instant};

use e2e::{free_port, recording_server, start, wait_for, webhook_sink, Signal};

const KILLS: usize = 10;

/// The `ProbeFailing` alert as `/api/v1/alerts` shows it: (state, activeAt).
fn alert(d: &e2e::Daemon) -> Option<(String, String)> {
    let r = d.http("GET", "/api/v1/alerts").ok()?;
    if r.status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    let a = v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["alertname"] == "ProbeFailing")?
        .clone();
    Some((
        a["state"].as_str()?.to_string(),
        a["activeAt"].as_str()?.to_string(),
    ))
}

/// `(status, alertname)` of every notification received so far.
fn notifications(got: &std::sync::Mutex<Vec<e2e::Received>>) -> Vec<(String, String)> {
    e2e::bodies(got)
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_str(b)
                .unwrap_or_else(|e| panic!("webhook body is not JSON ({e}): {b:?}"));
            (
                v["status"].as_str().unwrap_or("?").to_string(),
                v["groupLabels"]["alertname"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn kill_9_and_restart_keep_a_firing_alert_firing_without_a_resolved_notification() {
    let (target, _) = recording_server(
        b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\nconnection: close\r\n\r\nfail",
    );
    let (hook, received) = webhook_sink();
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: ProbeFailing\n        \
         expr: probe_success == 0\n        for: 5s\n",
    )
    .unwrap();
    let port = free_port();
    let config = format!(
        "api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: data }}
global: {{ evaluation_interval: 1s }}
probes:
  - name: web
    http: {{ url: 'http://127.0.0.1:{target}/' }}
    interval: 1s
    timeout: 1s
rule_files: [{rules:?}]
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/' }}]
"
    );
    let started = Instant::now();
    let mut d = start(port, &config, &[]).unwrap();
    let ready = |d: &e2e::Daemon| {
        wait_for(Duration::from_secs(60), || {
            d.http("GET", "/-/ready")
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| ())
        })
        .is_some()
    };
    let first = wait_for(Duration::from_secs(60), || {
        (!notifications(&received).is_empty()).then_some(())
    });
    assert!(first.is_some(), "no notification in 60 s\n{}", d.log());
    assert_eq!(
        notifications(&received),
        [("firing".to_string(), "ProbeFailing".to_string())]
    );
    let (state, active_at) = alert(&d).expect("the alert in /api/v1/alerts");
    assert_eq!(state, "firing");

    // Kill moments spread over two seconds (two probe and evaluation periods), so the kills
    // fall before, during and after the lives' probes, evaluations and notifier ticks.
    let kill_after = |life: usize| Duration::from_millis(((life * 7919) % 2000) as u64);
    for life in 0..KILLS {
        std::thread::sleep(kill_after(life));
        d.signal(Signal::SIGKILL);
        let _ = d.wait_exit(Duration::from_secs(10));
        d.respawn(&[]);
        assert!(ready(&d), "life {life}: not ready in 60 s\n{}", d.log());
        // The first evaluations after the restart run on the restored samples: the alert is
        // firing at once, with the activeAt of the first life (no pending phase again).
        let seen = wait_for(Duration::from_secs(10), || alert(&d));
        assert_eq!(
            seen,
            Some(("firing".to_string(), active_at.clone())),
            "life {life}: after kill -9 and restart\n{}",
            d.log()
        );
        assert_eq!(
            notifications(&received),
            [("firing".to_string(), "ProbeFailing".to_string())],
            "life {life}: a notification after a crash\n{}",
            d.log()
        );
    }
    // Long enough for a false resolution and a new `for:` period to show: nothing more arrives.
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(alert(&d), Some(("firing".to_string(), active_at)));
    assert_eq!(
        notifications(&received),
        [("firing".to_string(), "ProbeFailing".to_string())],
        "{}",
        d.log()
    );
    assert!(
        d.log().contains("write-ahead log replayed"),
        "the restarts did not need the log (every life checkpointed?)\n{}",
        d.log()
    );
    eprintln!("{KILLS} kills in {:?}", started.elapsed());
}
