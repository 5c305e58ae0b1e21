//! End-to-end: bearer-token authentication of the API, and durability of silences and acks
//! across a `kill -9` of the real `alertd` binary.

use std::time::Duration;

use e2e::{free_port, http_with, minimal_config, start, wait_for, Signal};

const SILENCE: &str = r#"{"matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"X"}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z","createdBy":"e2e","comment":"durable"}"#;

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn writes_need_a_bearer_token_and_reads_only_with_auth_reads() {
    let port = free_port();
    let secrets = tempfile::tempdir().unwrap();
    let tokens = secrets.path().join("tokens");
    std::fs::write(&tokens, "# ops\ns3cret-token\n").unwrap();
    let api = |reads: bool| {
        format!(
            "api:\n  listen: 127.0.0.1:{port}\n  tokens_file: {tokens:?}\n  auth_reads: {reads}\nstorage:\n  path: data\n"
        )
    };
    let d = start(port, &api(false), &[]).unwrap();
    let good = [("Authorization", "Bearer s3cret-token")];
    let bad = [("Authorization", "Bearer s3cret-tokeN")];

    // Writes without or with a wrong token: 401, WWW-Authenticate, each API's error shape.
    for headers in [&[][..], &bad[..]] {
        let r = http_with(port, "POST", "/api/v2/silences", headers, SILENCE).unwrap();
        assert_eq!(r.status, 401, "{r:?}");
        assert!(
            r.header("www-authenticate").unwrap().starts_with("Bearer"),
            "{r:?}"
        );
        assert_eq!(json(&r.body)["code"], 401);
        let r = http_with(port, "POST", "/api/alertd/v1/acks", headers, "{}").unwrap();
        assert_eq!(r.status, 401);
        assert!(json(&r.body)["error"].as_str().unwrap().contains("token"));
        let r = http_with(port, "POST", "/-/reload", headers, "").unwrap();
        assert_eq!(r.status, 401);
        let r = http_with(port, "DELETE", "/api/v2/silence/x", headers, "").unwrap();
        assert_eq!(r.status, 401);
    }
    // The right token passes.
    let r = http_with(port, "POST", "/api/v2/silences", &good, SILENCE).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(json(&r.body)["silenceID"].is_string());
    // Reads stay open.
    let r = http_with(port, "GET", "/api/v2/silences", &[], "").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(json(&r.body).as_array().unwrap().len(), 1);

    // auth_reads: true (applied by a reload, which itself needs the token).
    d.write_config(&api(true));
    assert_eq!(
        http_with(port, "POST", "/-/reload", &[], "")
            .unwrap()
            .status,
        401
    );
    let r = http_with(port, "POST", "/-/reload", &good, "").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    for path in [
        "/api/v2/alerts",
        "/api/v2/status",
        "/api/alertd/v1/acks",
        "/metrics",
    ] {
        assert_eq!(
            http_with(port, "GET", path, &[], "").unwrap().status,
            401,
            "{path}"
        );
        assert_eq!(
            http_with(port, "GET", path, &good, "").unwrap().status,
            200,
            "{path}"
        );
    }
    for path in ["/-/healthy", "/-/ready", "/ping/unknown-heartbeat"] {
        assert_ne!(
            http_with(port, "GET", path, &[], "").unwrap().status,
            401,
            "{path}"
        );
    }
    // The tokens file is re-read on reload: a rotated token replaces the old one.
    std::fs::write(&tokens, "rotated\n").unwrap();
    assert_eq!(
        http_with(port, "POST", "/-/reload", &good, "")
            .unwrap()
            .status,
        200
    );
    assert_eq!(
        http_with(port, "GET", "/api/v2/alerts", &good, "")
            .unwrap()
            .status,
        401
    );
    let rotated = [("Authorization", "Bearer rotated")];
    assert_eq!(
        http_with(port, "GET", "/api/v2/alerts", &rotated, "")
            .unwrap()
            .status,
        200
    );

    // amtool sends the token from its http config file.
    let http_cfg = secrets.path().join("amtool-http.yml");
    std::fs::write(
        &http_cfg,
        "authorization:\n  type: Bearer\n  credentials: rotated\n",
    )
    .unwrap();
    let out = std::process::Command::new("amtool")
        .arg(format!("--alertmanager.url=http://127.0.0.1:{port}"))
        .arg(format!("--http.config.file={}", http_cfg.display()))
        .args(["silence", "add", "alertname=Y", "--comment=with token"])
        .output()
        .expect("run amtool");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    assert!(
        !d.log().contains("s3cret") && !d.log().contains("rotated"),
        "{}",
        d.log()
    );
}

#[test]
fn silences_acks_and_posted_alerts_survive_kill_9() {
    let data = tempfile::tempdir().unwrap();
    let config = |port: u16| {
        minimal_config(port, "").replace(
            "path: data",
            &format!("path: {:?}", data.path().display().to_string()),
        )
    };
    let port = free_port();
    let mut d = start(port, &config(port), &[]).unwrap();
    let alert = r#"[{"labels":{"alertname":"X","instance":"web1"},"annotations":{"summary":"down"},"endsAt":"2099-01-01T00:00:00Z"}]"#;
    let r = http_with(port, "POST", "/api/v2/alerts", &[], alert).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let r = http_with(port, "POST", "/api/v2/silences", &[], SILENCE).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let silence_id = json(&r.body)["silenceID"].as_str().unwrap().to_string();
    let r = http_with(
        port,
        "POST",
        "/api/alertd/v1/acks",
        &[],
        r#"{"matchers":["alertname=X"],"author":"alice","comment":"on it"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let acked = json(&r.body);
    assert_eq!(acked["alerts"][0]["labels"]["instance"], "web1");
    let fp = acked["alerts"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    // No graceful shutdown: whatever was answered with 2xx must already be on disk.
    d.signal(Signal::SIGKILL);
    d.wait_exit(Duration::from_secs(10)).expect("alertd died");

    let port = free_port();
    let d = start(port, &config(port), &[]).unwrap();
    let silences = json(
        &http_with(port, "GET", "/api/v2/silences", &[], "")
            .unwrap()
            .body,
    );
    assert_eq!(silences[0]["id"], silence_id.as_str());
    assert_eq!(silences[0]["status"]["state"], "active");
    let acks = json(
        &http_with(port, "GET", "/api/alertd/v1/acks", &[], "")
            .unwrap()
            .body,
    );
    assert_eq!(acks[0]["fingerprint"], fp.as_str());
    assert_eq!(acks[0]["author"], "alice");
    assert_eq!(acks[0]["labels"]["alertname"], "X");
    let alerts = wait_for(Duration::from_secs(5), || {
        let v = json(&http_with(port, "GET", "/api/v2/alerts", &[], "").ok()?.body);
        (v.as_array()?.len() == 1).then_some(v)
    })
    .unwrap_or_else(|| panic!("posted alert lost:\n{}", d.log()));
    assert_eq!(alerts[0]["status"]["silencedBy"][0], silence_id.as_str());
    assert_eq!(alerts[0]["ack"]["author"], "alice");
    let log = json(
        &http_with(port, "GET", "/api/alertd/v1/acks/log", &[], "")
            .unwrap()
            .body,
    );
    assert_eq!(log[0]["action"], "ack");

    // Unack with the same selector; a second unack finds nothing (404 with a JSON error).
    let unack = r#"{"fingerprints":["FP"],"author":"alice"}"#.replace("FP", &fp);
    let r = http_with(port, "DELETE", "/api/alertd/v1/acks", &[], &unack).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let r = http_with(port, "DELETE", "/api/alertd/v1/acks", &[], &unack).unwrap();
    assert_eq!(r.status, 404);
    assert!(json(&r.body)["error"].is_string());
}

#[test]
fn bad_requests_get_alertmanagers_error_bodies() {
    let port = free_port();
    let _d = start(port, &minimal_config(port, ""), &[]).unwrap();
    let r = http_with(port, "POST", "/api/v2/silences", &[], "{bad").unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(json(&r.body)["code"], 400);
    assert!(json(&r.body)["message"]
        .as_str()
        .unwrap()
        .contains("parsing silence body"));
    // Alertmanager 0.25 reads any word but its true ones as false: 200 and no active alerts.
    let r = http_with(port, "GET", "/api/v2/alerts?active=maybe", &[], "").unwrap();
    assert_eq!((r.status, json(&r.body)), (200, serde_json::json!([])));
    // Handler errors are JSON strings, which is what amtool decodes.
    let r = http_with(port, "GET", "/api/v2/alerts?filter=bad%7B", &[], "").unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(json(&r.body), "bad matcher format: bad{");
    let r = http_with(port, "POST", "/api/v2/alerts", &[], r#"[{"labels":{}}]"#).unwrap();
    assert_eq!(r.status, 400);
    assert!(json(&r.body)
        .as_str()
        .unwrap()
        .contains("at least one label pair required"));
    // An invalid label name refuses that alert with a JSON string (Alertmanager's validation).
    let r = http_with(
        port,
        "POST",
        "/api/v2/alerts",
        &[],
        r#"[{"labels":{"foo-bar":"x","alertname":"a"}}]"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(
        json(&r.body),
        "alert 0: invalid label set: invalid name \"foo-bar\""
    );
    // A silence id that is not a UUID: 422 with swagger's validation error, as Alertmanager.
    for method in ["GET", "DELETE"] {
        let r = http_with(port, method, "/api/v2/silence/not-a-uuid", &[], "").unwrap();
        assert_eq!(r.status, 422, "{method}");
        assert_eq!(
            json(&r.body),
            serde_json::json!({"code": 601,
                "message": "silenceID in path must be of type uuid: \"not-a-uuid\""})
        );
    }
    let r = http_with(
        port,
        "GET",
        "/api/v2/silence/8b0e0a52-7c3a-4c9a-9f9a-1d2e3f4a5b6c",
        &[],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 404);
    let r = http_with(
        port,
        "POST",
        "/api/alertd/v1/acks",
        &[],
        r#"{"author":"a"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 400);
    assert!(json(&r.body)["error"]
        .as_str()
        .unwrap()
        .contains("exactly one selector"));
    let r = http_with(port, "GET", "/api/v2/receivers", &[], "").unwrap();
    assert_eq!(json(&r.body), serde_json::json!([{ "name": "log" }]));
    let status = json(
        &http_with(port, "GET", "/api/v2/status", &[], "")
            .unwrap()
            .body,
    );
    assert_eq!(status["cluster"]["status"], "disabled");
    assert!(status["versionInfo"]["version"].is_string());
    assert!(status["config"]["original"]
        .as_str()
        .unwrap()
        .contains("route:"));
}
