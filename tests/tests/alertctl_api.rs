//! End-to-end: `alertctl` against a running `alertd` (silences, alerts, acks, history,
//! heartbeats, probes, test notifications, reload, status), with table and JSON output and its
//! exit codes.

use std::time::Duration;

use e2e::{alertctl, free_port, http_with, start, wait_for, webhook_sink};

#[test]
fn alertctl_drives_a_running_alertd() {
    let port = free_port();
    let (hook, bodies) = webhook_sink();
    let secrets = tempfile::tempdir().unwrap();
    let tokens = secrets.path().join("tokens");
    std::fs::write(&tokens, "ctl-token\n").unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port}, tokens_file: {tokens:?} }}
storage: {{ path: data }}
probes:
  - name: disk
    disk: {{ path: / }}
    interval: 1s
heartbeats:
  - name: backup
    period: 1d
route: {{ receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s }}
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}]
  - name: team-slack
    slack_configs: [{{ api_url: 'https://hooks.slack.example/services/T0/B0/verysecret', channel: '#ops' }}]
"
    );
    let d = start(port, &config, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("ALERTD_URL", url.as_str())];
    let authed = [("ALERTD_URL", url.as_str()), ("ALERTD_TOKEN", "ctl-token")];

    // Writes without a token: exit 2 and what to do.
    let (code, _, err) = alertctl(&["silence", "add", "alertname=X", "--comment", "c"], &env);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("set --token or ALERTD_TOKEN"), "{err}");
    // Connection errors: exit 2 and what to do.
    let (code, _, err) = alertctl(&["--url", "http://127.0.0.1:1", "status"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot reach alertd at http://127.0.0.1:1") && err.contains("ALERTD_URL"),
        "{err}"
    );

    // silence add / query (table and json, flags before or after the subcommand).
    let (code, out, err) = alertctl(
        &[
            "silence",
            "add",
            "alertname=X",
            "--comment",
            "maintenance",
            "--author",
            "bob",
            "--duration",
            "2h",
        ],
        &authed,
    );
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "{out}");
    let (code, out, _) = alertctl(&["silence", "query"], &env);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("ID ")
            && out.contains(&id)
            && out.contains("alertname=\"X\"")
            && out.contains("bob"),
        "{out}"
    );
    let (_, out, _) = alertctl(&["silence", "query", "-o", "json"], &env);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["id"], id.as_str());
    assert_eq!(v[0]["createdBy"], "bob");
    let export = secrets.path().join("silences.json");
    std::fs::write(&export, &out).unwrap();

    // A posted alert is silenced; `alert query --silenced` shows it; ack and unack it.
    let alert =
        r#"[{"labels":{"alertname":"X","instance":"web1"},"annotations":{"summary":"web1 down"}}]"#;
    let r = http_with(
        port,
        "POST",
        "/api/v2/alerts",
        &[("Authorization", "Bearer ctl-token")],
        alert,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let (_, out, _) = alertctl(&["alert", "query"], &env);
    assert!(
        !out.contains("web1 down"),
        "silenced alerts are not in the default list: {out}"
    );
    let (code, out, _) = alertctl(&["alert", "query", "--silenced", "alertname=X"], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains("web1 down") && out.contains("suppressed"),
        "{out}"
    );
    let (code, out, err) = alertctl(
        &[
            "ack",
            "alertname=X",
            "--comment",
            "on it",
            "--author",
            "alice",
        ],
        &authed,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("acknowledged ") && out.contains("web1"),
        "{out}"
    );
    let (_, out, _) = alertctl(&["ack"], &env);
    assert!(out.contains("alice") && out.contains("on it"), "{out}");
    let (_, out, _) = alertctl(&["-o", "json", "alert", "query", "-s"], &env);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["ack"]["author"], "alice");
    let fp = v[0]["fingerprint"].as_str().unwrap().to_string();
    let (code, out, _) = alertctl(&["unack", "--fingerprint", &fp], &authed);
    assert_eq!(code, 0);
    assert!(out.starts_with("unacknowledged "), "{out}");
    let (code, _, err) = alertctl(&["ack", "alertname=NoSuchAlert"], &authed);
    assert_eq!(code, 1, "nothing matched: {err}");
    let (code, _, _) = alertctl(&["ack", "job=~("], &authed);
    assert_eq!(code, 2);

    // expire; --expired; import re-creates it.
    let (code, _, _) = alertctl(&["silence", "expire", &id], &authed);
    assert_eq!(code, 0);
    let (_, out, _) = alertctl(&["silence", "query", "-q"], &env);
    assert!(out.trim().is_empty(), "{out}");
    let (_, out, _) = alertctl(&["silence", "query", "--expired", "-q"], &env);
    assert_eq!(out.trim(), id);
    let (code, out, err) = alertctl(&["silence", "import", export.to_str().unwrap()], &authed);
    assert_eq!(code, 0, "{err}");
    let new_id = out.trim();
    assert!(new_id.len() == 36 && new_id != id, "{out}");

    // test receiver: a clearly marked notification reaches the webhook; unknown receiver: 1.
    let (code, out, err) = alertctl(&["test", "receiver", "hook"], &authed);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("webhook") && out.contains("test notification sent"),
        "{out}"
    );
    let body = wait_for(Duration::from_secs(5), || {
        e2e::bodies(&bodies)
            .into_iter()
            .find(|b| b.contains("AlertdTestNotification"))
    })
    .expect("test notification delivered");
    assert!(body.contains("Test notification from alertd"), "{body}");
    let (code, _, err) = alertctl(&["test", "receiver", "nope"], &authed);
    assert_eq!(code, 1);
    assert!(err.contains("unknown receiver"), "{err}");

    // history shows the test delivery, and which alert it carried.
    let (code, out, _) = alertctl(&["history", "--receiver", "hook"], &env);
    assert_eq!(code, 0);
    assert!(out.contains("hook") && out.contains("success"), "{out}");
    assert!(out.contains("AlertdTestNotification"), "{out}");

    // heartbeats and probes with their state.
    let (_, out, _) = alertctl(&["heartbeat", "ls"], &env);
    assert!(out.contains("backup") && out.contains("new"), "{out}");
    let probes = wait_for(Duration::from_secs(10), || {
        let (_, out, _) = alertctl(&["-o", "json", "probe", "ls"], &env);
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        (v[0]["state"] == "up").then_some(v)
    })
    .expect("the disk probe ran");
    assert_eq!(probes[0]["name"], "disk");
    assert_eq!(probes[0]["kind"], "disk");

    // reload and status; the status shows no secret.
    let (code, _, _) = alertctl(&["reload"], &env);
    assert_eq!(code, 2, "reload is a write");
    let (code, out, _) = alertctl(&["reload"], &authed);
    assert_eq!(code, 0);
    assert!(out.contains("reloaded"), "{out}");
    let (code, out, _) = alertctl(&["status"], &env);
    assert_eq!(code, 0);
    assert!(
        out.contains("Ready:") && out.contains("Cluster:  disabled"),
        "{out}"
    );
    let (_, out, _) = alertctl(&["status", "-o", "json"], &env);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let original = v["status"]["config"]["original"].as_str().unwrap();
    assert!(
        original.contains("<secret>") && !original.contains("verysecret"),
        "{original}"
    );
    assert!(!d.log().contains("verysecret") && !d.log().contains("ctl-token"));
}
