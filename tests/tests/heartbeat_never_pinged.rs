//! A heartbeat that never pinged is a dead man's switch that must go off: with the default rule
//! pack (`rules/heartbeats.rules.yml`) and no ping at all, `HeartbeatMissing` reaches the
//! webhook once the first deadline passes — a deadline counted from when alertd first saw the
//! heartbeat in its config, which a restart (kill -9) does not move.

use std::time::Duration;

use e2e::{free_port, repo_root, start, wait_for, Signal};

fn deadline(d: &e2e::Daemon) -> Option<String> {
    let r = d.http("GET", "/api/alertd/v1/heartbeats").ok()?;
    let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
    v.as_array()?
        .iter()
        .find(|h| h["name"] == "never-job")?
        .get("deadline")?
        .as_str()
        .map(str::to_string)
}

#[test]
fn a_heartbeat_that_never_pinged_alerts_after_its_first_deadline_across_a_restart() {
    let port = free_port();
    let (hook, got) = e2e::webhook_sink();
    let work = tempfile::tempdir().unwrap();
    let config = format!(
        "\
global: {{ evaluation_interval: 1s }}
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?} }}
heartbeats:
  - {{ name: never-job, period: 4s, grace: 2s }}
rule_files: [{rules:?}]
route: {{ receiver: hook, group_by: [alertname], group_wait: 1s, group_interval: 1s }}
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}]
",
        data = work.path().join("data"),
        rules = repo_root().join("rules/heartbeats.rules.yml"),
    );
    let mut d = start(port, &config, &[]).unwrap();
    let first = deadline(&d).unwrap_or_else(|| panic!("no deadline:\n{}", d.log()));

    // kill -9 and start again: the first deadline still counts from the first start.
    d.signal(Signal::SIGKILL);
    d.wait_exit(Duration::from_secs(10)).expect("alertd died");
    d.respawn(&[]);
    let again = wait_for(Duration::from_secs(15), || deadline(&d))
        .unwrap_or_else(|| panic!("not serving after restart:\n{}", d.log()));
    assert_eq!(again, first, "a restart moved the first deadline");

    let deadline_ms = model::api::parse_time(&first).unwrap().unwrap();
    let missing = wait_for(Duration::from_secs(40), || {
        got.lock().unwrap().iter().find_map(|r| {
            let v: serde_json::Value = serde_json::from_str(&r.body).ok()?;
            v["alerts"]
                .as_array()?
                .iter()
                .any(|a| {
                    a["labels"]["alertname"] == "HeartbeatMissing"
                        && a["labels"]["heartbeat"] == "never-job"
                        && a["status"] == "firing"
                })
                .then_some(r.at_ms)
        })
    })
    .unwrap_or_else(|| panic!("HeartbeatMissing never sent:\n{}", d.log()));
    assert!(
        missing >= deadline_ms,
        "sent at {missing}, before the deadline {deadline_ms}"
    );
}
