//! End to end with the real binaries: an unacknowledged critical alert reaches the primary on
//! call, then the secondary once its acknowledge target (3 s here) has passed; an alert
//! acknowledged with `alertctl ack` before the target never reaches the secondary. `alertctl
//! oncall` shows who is on call; an override added with `alertctl oncall override add`
//! (token-protected) changes it and survives a restart.

use std::time::Duration;

use e2e::{alertctl, free_port, http_with, start, wait_for, webhook_sink, Received};

fn alerts_of(got: &std::sync::Mutex<Vec<Received>>) -> Vec<String> {
    let mut v: Vec<String> = e2e::bodies(got)
        .iter()
        .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .filter_map(|v| v["groupLabels"]["alertname"].as_str().map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn unacknowledged_alert_reaches_primary_then_secondary_and_an_ack_stops_it() {
    let port = free_port();
    let (p_port, primary) = webhook_sink();
    let (s_port, secondary) = webhook_sink();
    let (d_port, _default) = webhook_sink();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "t0k\n").unwrap();
    // One shift of 1000 days that started yesterday: pat is primary, sam secondary.
    let yesterday =
        model::api::api_time((e2e::now_secs() as i64 - 86_400) * 1000)[..10].to_string();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port}, tokens_file: {tokens:?} }}
storage: {{ path: data }}
route:
  receiver: default
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: ['severity=\"critical\"']
      escalation: ops
receivers:
  - name: default
    webhook_configs: [{{ url: 'http://127.0.0.1:{d_port}/' }}]
  - name: pat-hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{p_port}/' }}]
  - name: sam-hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{s_port}/' }}]
oncall_schedules:
  - name: ops
    members:
      - {{ name: pat, receiver: pat-hook }}
      - {{ name: sam, receiver: sam-hook }}
    layers:
      - {{ rotation: custom, length: 1000d, start: '{yesterday}', members: [pat, sam] }}
response_targets:
  - {{ acknowledge_within: 3s }}
escalations:
  - name: ops
    tiers:
      - {{ after: 0s, oncall: [{{ schedule: ops }}] }}
      - {{ after: ack_target, oncall: [{{ schedule: ops, role: secondary }}] }}
"
    );
    let mut d = start(port, &config, &[]).unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("ALERTD_URL", url.as_str())];
    let authed = [("ALERTD_URL", url.as_str()), ("ALERTD_TOKEN", "t0k")];

    let (code, out, err) = alertctl(&["oncall"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("SCHEDULE")
            && out.contains("pat (pat-hook)")
            && out.contains("sam (sam-hook)"),
        "{out}"
    );

    let post = |name: &str| {
        let body = format!(
            r#"[{{"labels":{{"alertname":"{name}","severity":"critical"}},"annotations":{{"summary":"s"}}}}]"#
        );
        let r = http_with(
            port,
            "POST",
            "/api/v2/alerts",
            &[("Authorization", "Bearer t0k")],
            &body,
        )
        .unwrap();
        assert_eq!(r.status, 200, "{r:?}");
    };

    // Unacknowledged: primary at once, secondary after the 3 s target.
    post("Unacked");
    let ok = wait_for(Duration::from_secs(10), || {
        (alerts_of(&primary) == ["Unacked"]).then_some(())
    });
    assert!(ok.is_some(), "primary not paged\n{}", d.log());
    assert!(alerts_of(&secondary).is_empty(), "secondary paged at once");
    let ok = wait_for(Duration::from_secs(15), || {
        (alerts_of(&secondary) == ["Unacked"]).then_some(())
    });
    assert!(ok.is_some(), "secondary not paged\n{}", d.log());

    // Acknowledged with alertctl before the target: the secondary never hears of it.
    post("Acked");
    let ok = wait_for(Duration::from_secs(10), || {
        alerts_of(&primary)
            .contains(&"Acked".to_string())
            .then_some(())
    });
    assert!(ok.is_some(), "primary not paged\n{}", d.log());
    let (code, _, err) = alertctl(&["ack", "alertname=Acked", "--author", "pat"], &authed);
    assert_eq!(code, 0, "{err}");
    // Past the target with margin: the escalation would have fired by now.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(alerts_of(&secondary), ["Unacked"]);

    // Overrides: token-protected, shown by `alertctl oncall`, kept across a restart.
    let add = |member: &str, extra: &[&str], env: &[(&str, &str)]| {
        let args = [
            "oncall",
            "override",
            "add",
            "ops",
            member,
            "--duration",
            "1h",
        ];
        alertctl(&[&args[..], extra].concat(), env)
    };
    let (code, _, err) = add("sam", &[], &env);
    assert_eq!(code, 2, "a write needs the token: {err}");
    let (code, _, err) = add("nobody", &[], &authed);
    assert_eq!(code, 2, "unknown member refused: {err}");
    let (code, out, err) = add("sam", &["-c", "swap"], &authed);
    assert_eq!(code, 0, "{err}");
    let id = out.trim().to_string();
    d.respawn(&[]);
    let up = wait_for(Duration::from_secs(15), || {
        d.http("GET", "/-/healthy").ok().filter(|r| r.status == 200)
    });
    assert!(up.is_some(), "alertd did not restart\n{}", d.log());
    let (code, out, _) = alertctl(&["-o", "json", "oncall", "ops"], &env);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["primary"]["name"], "sam", "{out}");
    assert_eq!(v[0]["secondary"]["name"], "pat", "{out}");
    let (_, out, _) = alertctl(&["oncall", "override", "list"], &env);
    assert!(out.contains(&id) && out.contains("swap"), "{out}");
    let (code, _, err) = alertctl(&["oncall", "override", "rm", &id], &authed);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = alertctl(&["-o", "json", "oncall", "ops"], &env);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["primary"]["name"], "pat", "{out}");
    let (code, _, _) = alertctl(&["oncall", "nope"], &env);
    assert_eq!(code, 1);
}
