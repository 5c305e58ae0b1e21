//! End-to-end: `alertctl reload` applies routing sections to a running alertd. The quickstart's
//! commented webhook receiver is uncommented (and a probe added in the same edit); the next
//! notification reaches the webhook without a restart, while silences, acks and the
//! notification log carry over. A rejected reload changes nothing.

use std::time::Duration;

use e2e::{alertctl, free_port, http, http_with, quickstart_config, start, wait_for, webhook_sink};

/// The quickstart's webhook example, as it stands commented in `examples/quickstart.yaml`.
const COMMENTED: &str = "\
# route:
#   receiver: ops
#   group_by: [alertname, instance]
# receivers:
#   - name: ops
#     webhook_configs: [{ url: \"http://127.0.0.1:5001/alerts\" }]
";

/// `quickstart` with the webhook example uncommented (sending to the sink on `hook`) in place
/// of its empty `route` and `receivers`, and one more probe.
fn with_webhook(quickstart: &str, hook: u16) -> String {
    assert!(
        quickstart.contains(COMMENTED) && quickstart.contains("route: {}\nreceivers: []\n"),
        "quickstart layout changed"
    );
    let uncommented: String = COMMENTED
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("# ").unwrap_or(l)))
        .collect::<String>()
        .replace("127.0.0.1:5001", &format!("127.0.0.1:{hook}"));
    quickstart
        .replace(COMMENTED, &uncommented)
        .replace("route: {}\nreceivers: []\n", "")
        .replace(
            "probes:\n",
            "probes:\n  - name: added-disk\n    disk: { path: / }\n    interval: 1s\n",
        )
}

/// Posts firing alerts (started long ago, so their groups need not wait `group_wait`).
fn post_alerts(port: u16, names: &[&str]) {
    let alerts: Vec<String> = names
        .iter()
        .map(|n| {
            format!(
                r#"{{"labels":{{"alertname":"{n}","instance":"web1"}},"annotations":{{"summary":"{n} summary"}},"startsAt":"2020-01-01T00:00:00Z"}}"#
            )
        })
        .collect();
    let r = http_with(
        port,
        "POST",
        "/api/v2/alerts",
        &[],
        &format!("[{}]", alerts.join(",")),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
}

/// Notifications the sink got about `alertname`.
fn received(got: &std::sync::Mutex<Vec<e2e::Received>>, alertname: &str) -> usize {
    let needle = format!("\"alertname\":\"{alertname}\"");
    e2e::bodies(got)
        .iter()
        .filter(|b| b.contains(&needle))
        .count()
}

/// The probes alertd runs, by name.
fn probe_names(env: &[(&str, &str)]) -> Vec<String> {
    let (code, out, err) = alertctl(&["-o", "json", "probe", "ls"], env);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn uncommenting_the_quickstart_webhook_and_reloading_delivers_with_state_intact() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let (hook, got) = webhook_sink();
    let quickstart = quickstart_config(port, &data.path().join("data"));
    let d = start(port, &quickstart, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("ALERTD_URL", url.as_str())];

    // Before: no receivers. A silence, an ack, and alerts the log-only notifier holds.
    let (code, out, err) = alertctl(
        &[
            "silence",
            "add",
            "alertname=Muted",
            "--comment",
            "maintenance",
            "--author",
            "bob",
            "--duration",
            "2h",
        ],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    let silence = out.trim().to_string();
    post_alerts(port, &["Reloaded", "Muted", "Acked"]);
    let (code, out, err) = alertctl(
        &[
            "ack",
            "alertname=Acked",
            "--comment",
            "on it",
            "--author",
            "alice",
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(!probe_names(&env).contains(&"added-disk".to_string()));

    // Uncomment the webhook receiver (and add a probe in the same edit), then reload.
    d.write_config(&with_webhook(&quickstart, hook));
    let (code, out, err) = alertctl(&["reload"], &env);
    assert_eq!(code, 0, "{out}{err}\n{}", d.log());
    assert!(out.contains("reloaded"), "{out}");

    // The next notification arrives at the webhook, without a restart.
    wait_for(Duration::from_secs(20), || {
        (received(&got, "Reloaded") > 0).then_some(())
    })
    .unwrap_or_else(|| panic!("no notification after the reload:\n{}", d.log()));
    let probes = wait_for(Duration::from_secs(10), || {
        let p = probe_names(&env);
        p.contains(&"added-disk".to_string()).then_some(p)
    });
    assert!(probes.is_some(), "the probe added in the same edit runs");

    // The silence and the ack carried over (and the silence still mutes).
    let (_, out, _) = alertctl(&["silence", "query", "-q"], &env);
    assert_eq!(out.trim(), silence);
    let (_, out, _) = alertctl(&["ack"], &env);
    assert!(out.contains("alice") && out.contains("on it"), "{out}");

    // The notification log carried over too: a second reload regroups every alert again, and
    // what was sent is not sent again. An alert posted afterwards is the barrier: once its
    // delivery is in the history, every flush queued before it has been delivered.
    let (code, out, err) = alertctl(&["reload"], &env);
    assert_eq!(code, 0, "{out}{err}");
    post_alerts(port, &["AfterSecondReload"]);
    wait_for(Duration::from_secs(20), || {
        let r = http(port, "GET", "/api/alertd/v1/history?receiver=ops").ok()?;
        (r.body.contains("AfterSecondReload") && r.body.contains("success")).then_some(())
    })
    .unwrap_or_else(|| panic!("the barrier alert was not delivered:\n{}", d.log()));
    assert_eq!(received(&got, "AfterSecondReload"), 1);
    assert_eq!(received(&got, "Reloaded"), 1, "{:#?}", e2e::bodies(&got));
    assert_eq!(received(&got, "Muted"), 0, "silenced throughout");
    let (_, out, _) = alertctl(&["ack"], &env);
    assert!(out.contains("alice"), "{out}");
}

#[test]
fn a_rejected_reload_changes_nothing() {
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let (hook, got) = webhook_sink();
    let quickstart = quickstart_config(port, &data.path().join("data"));
    let d = start(port, &quickstart, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("ALERTD_URL", url.as_str())];
    post_alerts(port, &["Held"]);

    // The receiver and the probe come with a template that does not parse: nothing applies.
    let broken = data.path().join("broken.tmpl");
    std::fs::write(&broken, "{{ define \"x\" }}{{ .Unclosed ").unwrap();
    let edited = format!(
        "{}templates: [{:?}]\n",
        with_webhook(&quickstart, hook),
        broken.display().to_string()
    );
    d.write_config(&edited);
    let (code, out, err) = alertctl(&["reload"], &env);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("broken.tmpl"), "{err}");
    let metrics = d.metrics();
    assert_eq!(
        e2e::metric_value(&metrics, "alertd_config_last_reload_successful"),
        Some(0.0)
    );
    assert!(!probe_names(&env).contains(&"added-disk".to_string()));
    let (code, _, err) = alertctl(&["test", "receiver", "ops"], &env);
    assert_eq!(code, 1, "the receiver was not added: {err}");
    assert!(err.contains("unknown receiver"), "{err}");

    // Fixed, the same edit applies whole.
    d.write_config(&with_webhook(&quickstart, hook));
    let (code, out, err) = alertctl(&["reload"], &env);
    assert_eq!(code, 0, "{out}{err}");
    wait_for(Duration::from_secs(20), || {
        (received(&got, "Held") > 0).then_some(())
    })
    .unwrap_or_else(|| panic!("no notification after the fixed reload:\n{}", d.log()));
    assert!(probe_names(&env).contains(&"added-disk".to_string()));
}
