//! End-to-end: the real `alertd` probes a dead target, its rule fires, and the notifier delivers
//! Alertmanager's webhook (version 4) to a real HTTP sink on loopback.

use std::time::Duration;

use e2e::{free_port, start, wait_for, Signal};

#[test]
fn a_firing_rule_is_delivered_to_a_webhook_as_alertmanager_does() {
    let port = free_port();
    let (hook, got) = e2e::webhook_sink();
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: up\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        \
         expr: probe_success == 0\n        labels: { severity: critical }\n        \
         annotations: { summary: '{{ $labels.probe }} is down' }\n",
    )
    .unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?} }}
probes:
  - name: dead
    http: {{ url: 'http://127.0.0.1:1/' }}
    interval: 1s
    timeout: 1s
rule_files: [{rules:?}]
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}]
",
        data = work.path().join("data"),
    );
    let mut d = start(port, &config, &[]).unwrap();
    let body = wait_for(Duration::from_secs(30), || {
        e2e::bodies(&got).first().cloned()
    });
    let body = body.unwrap_or_else(|| panic!("nothing delivered:\n{}", d.log()));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], "4", "{body}");
    assert_eq!(v["status"], "firing", "{body}");
    assert_eq!(v["receiver"], "hook", "{body}");
    assert_eq!(v["groupLabels"]["alertname"], "ProbeDown", "{body}");
    let a = &v["alerts"][0];
    assert_eq!(a["labels"]["probe"], "dead", "{body}");
    assert_eq!(a["labels"]["severity"], "critical", "{body}");
    assert_eq!(a["annotations"]["summary"], "dead is down", "{body}");
    assert_eq!(a["status"], "firing", "{body}");

    // A change of the routing sections applies on reload, without a restart (issue 15; it
    // needed one before). `tests/tests/reload.rs` follows a notification through a reload.
    d.write_config(&config.replace("group_wait: 1s", "group_wait: 2s"));
    let r = d.http("POST", "/-/reload").unwrap();
    assert_eq!(r.status, 200, "{r:?}");

    d.signal(Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(15)).unwrap().success(),
        "{}",
        d.log()
    );
}
