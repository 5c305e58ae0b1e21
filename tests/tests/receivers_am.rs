//! Receivers compared with Alertmanager: Debian's `prometheus-alertmanager` (0.25) and alertd run
//! the same receiver configuration (PagerDuty, Opsgenie, Discord, Telegram, Webex, VictorOps) whose API URLs point
//! at local recording servers; the same alerts are posted to both through the API v2 (firing,
//! then resolved); each integration's requests (method, path and query, `Content-Type` and
//! `Authorization`, the JSON body) must be the same. The only normalisation: Alertmanager names
//! itself `Alertmanager` where alertd says `alertd` (`__alertmanager`: PagerDuty's default
//! `client` and `source`, VictorOps's `monitoring_tool`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{free_port, start, wait_for};
use serde_json::{json, Value};

/// One request as the test compares it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Req {
    method: String,
    target: String,
    content_type: String,
    authorization: String,
    body: String,
}

type Log = Arc<Mutex<Vec<Req>>>;

/// A recording HTTP server answering as the services do (Telegram's `ok` reply, 200 elsewhere).
fn recorder() -> (u16, Log) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let keep = log.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let keep = keep.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut r = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut parts = line.split_whitespace();
                    let method = parts.next().unwrap_or("").to_string();
                    let target = parts.next().unwrap_or("").to_string();
                    let (mut len, mut ct, mut auth) = (0usize, String::new(), String::new());
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 {
                            return;
                        }
                        let h = h.trim_end();
                        if h.is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap_or((h, ""));
                        match k.to_ascii_lowercase().as_str() {
                            "content-length" => len = v.trim().parse().unwrap_or(0),
                            "content-type" => ct = v.trim().to_string(),
                            "authorization" => auth = v.trim().to_string(),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = if target.contains("/sendMessage") {
                        r#"{"ok":true,"result":{"message_id":1,"date":0,"chat":{"id":42,"type":"private"},"text":"x"}}"#
                    } else {
                        "{}"
                    };
                    keep.lock().unwrap().push(Req {
                        method,
                        target,
                        content_type: ct,
                        authorization: auth,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\n\r\n{reply}",
                        reply.len()
                    );
                }
            });
        }
    });
    (port, log)
}

/// The routing and receiver sections, with every API URL on `sink`.
fn receivers(sink: u16, secrets: &std::path::Path) -> String {
    let rk = secrets.join("routing_key");
    let ok = secrets.join("opsgenie_key");
    std::fs::write(&rk, "pd-routing-key\n").unwrap();
    // Without a newline: Alertmanager 0.25 puts the Opsgenie key file's content into the header
    // untrimmed (a newline makes the request invalid there); alertd trims it.
    std::fs::write(&ok, "og-key").unwrap();
    format!(
        r#"
route:
  receiver: all
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: all
    pagerduty_configs:
      - routing_key_file: {rk:?}
        url: http://127.0.0.1:{sink}/pd/v2/enqueue
        severity: '{{{{ .CommonLabels.severity }}}}'
        class: disk
        component: '{{{{ .CommonLabels.instance }}}}'
        group: storage
        details: {{ team: '{{{{ .CommonLabels.team }}}}' }}
        links: [{{ href: 'http://runbook/{{{{ .GroupLabels.alertname }}}}', text: runbook }}]
        images: [{{ src: 'http://img/x.png', alt: graph, href: 'http://img' }}]
    opsgenie_configs:
      - api_url: http://127.0.0.1:{sink}/og/
        priority: P2
        tags: 'disk,{{{{ .CommonLabels.team }}}}'
        details: {{ extra: x }}
        update_alerts: true
        responders:
          - {{ name: 'ops,dba', type: teams }}
          - {{ username: alice, type: user }}
    discord_configs:
      - webhook_url: http://127.0.0.1:{sink}/discord/hook
    telegram_configs:
      - api_url: http://127.0.0.1:{sink}/tg
        bot_token: tg-token
        chat_id: 42
    webex_configs:
      - api_url: http://127.0.0.1:{sink}/webex/v1/messages
        room_id: room-1
        http_config: {{ authorization: {{ credentials: webex-token }} }}
    victorops_configs:
      - api_url: http://127.0.0.1:{sink}/vo/
        api_key: vo-key
        routing_key: '{{{{ .CommonLabels.team }}}}'
        message_type: WARNING
        custom_fields: {{ runbook: '{{{{ .CommonAnnotations.runbook }}}}' }}
"#
    ) + &format!("  opsgenie_api_key_file: {ok:?}\n")
}

fn post_alerts(port: u16, alerts: &Value) {
    let body = alerts.to_string();
    let r = e2e::http_with(
        port,
        "POST",
        "/api/v2/alerts",
        &[("content-type", "application/json")],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
}

/// The requests in a stable order, bodies parsed and normalised.
fn normalised(log: &Log, from_alertmanager: bool) -> Vec<(String, String, String, String, Value)> {
    let mut v: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| {
            let mut body: Value = serde_json::from_str(&r.body).unwrap_or(json!(r.body));
            if from_alertmanager {
                for p in ["/client", "/payload/source", "/monitoring_tool"] {
                    if let Some(x) = body.pointer_mut(p) {
                        if x == "Alertmanager" {
                            *x = json!("alertd");
                        }
                    }
                }
            }
            (
                r.method.clone(),
                r.target.clone(),
                r.content_type.clone(),
                r.authorization.clone(),
                body,
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.1, &a.0, a.4.to_string()).cmp(&(&b.1, &b.0, b.4.to_string())));
    v
}

#[test]
fn receivers_send_what_alertmanager_sends() {
    let Some(am) = e2e::on_path("prometheus-alertmanager") else {
        e2e::skip_outside_ci(
            "prometheus-alertmanager is not installed",
            ".ci/run must install prometheus-alertmanager",
        );
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let (am_sink, am_log) = recorder();
    let (ad_sink, ad_log) = recorder();

    // Alertmanager 0.25.
    let am_dir = work.path().join("am");
    std::fs::create_dir_all(&am_dir).unwrap();
    let am_cfg = receivers(am_sink, &am_dir).replacen(
        "receivers:",
        "global:\n  resolve_timeout: 5m\nreceivers:",
        1,
    );
    // The global key goes to the global section.
    let (body, key) = am_cfg.rsplit_once("  opsgenie_api_key_file").unwrap();
    let am_cfg = body.replacen(
        "global:\n",
        &format!("global:\n  opsgenie_api_key_file{key}"),
        1,
    );
    std::fs::write(am_dir.join("am.yml"), &am_cfg).unwrap();
    let am_port = free_port();
    let am_proc = std::process::Command::new(am)
        .current_dir(&am_dir)
        .arg("--config.file=am.yml")
        .arg("--storage.path=data")
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--web.external-url=http://ext.example")
        .arg("--cluster.listen-address=")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(am_dir.join("log")).unwrap())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _am = Kill(am_proc);

    // alertd with the same sections.
    let ad_dir = work.path().join("alertd");
    std::fs::create_dir_all(&ad_dir).unwrap();
    let port = free_port();
    let sections = receivers(ad_sink, &ad_dir);
    let (sections, key) = sections.rsplit_once("  opsgenie_api_key_file").unwrap();
    let cfg = format!(
        "api: {{ listen: 127.0.0.1:{port} }}\nstorage: {{ path: {:?} }}\n\
         global:\n  external_url: http://ext.example\n  opsgenie_api_key_file{key}{sections}",
        ad_dir.join("data")
    );
    let d = start(port, &cfg, &[]).unwrap();
    let am_up = wait_for(Duration::from_secs(20), || {
        e2e::http(am_port, "GET", "/-/ready")
            .ok()
            .filter(|r| r.status == 200)
    });
    assert!(
        am_up.is_some(),
        "alertmanager did not start: {}",
        std::fs::read_to_string(am_dir.join("log")).unwrap_or_default()
    );

    let alert = |ends: Option<&str>| {
        let mut a = json!({
            "labels": { "alertname": "DiskFull", "instance": "db-1", "severity": "critical",
                        "team": "dba" },
            "annotations": { "summary": "disk <full> & \"fast\"", "runbook": "http://rb" },
            "startsAt": "2026-01-01T00:00:00Z",
            "generatorURL": "http://prom/graph?g0.expr=x",
        });
        if let Some(e) = ends {
            a["endsAt"] = json!(e);
        }
        json!([a])
    };
    // Firing: PagerDuty 1, Opsgenie 3 (create, message, description), Discord, Telegram, Webex
    // and VictorOps 1 each.
    const FIRING: usize = 8;
    post_alerts(am_port, &alert(None));
    post_alerts(port, &alert(None));
    for (who, log) in [("alertmanager", &am_log), ("alertd", &ad_log)] {
        let n = wait_for(Duration::from_secs(20), || {
            let n = log.lock().unwrap().len();
            (n >= FIRING).then_some(n)
        });
        assert!(
            n.is_some(),
            "{who} sent {:#?}\nalertd: {}\nalertmanager: {}",
            log.lock().unwrap(),
            d.log(),
            std::fs::read_to_string(am_dir.join("log")).unwrap_or_default()
        );
    }
    // Resolved: PagerDuty, Opsgenie close, Discord, Telegram, Webex, VictorOps.
    const ALL: usize = FIRING + 6;
    let ended = "2026-01-01T00:10:00Z";
    post_alerts(am_port, &alert(Some(ended)));
    post_alerts(port, &alert(Some(ended)));
    for (who, log) in [("alertmanager", &am_log), ("alertd", &ad_log)] {
        let n = wait_for(Duration::from_secs(20), || {
            let n = log.lock().unwrap().len();
            (n >= ALL).then_some(n)
        });
        assert!(
            n.is_some(),
            "{who} sent {:#?}\nalertd: {}\nalertmanager: {}",
            log.lock().unwrap(),
            d.log(),
            std::fs::read_to_string(am_dir.join("log")).unwrap_or_default()
        );
    }
    // Nothing more (no repeats within the test).
    std::thread::sleep(Duration::from_millis(1500));
    let am_reqs = normalised(&am_log, true);
    let ad_reqs = normalised(&ad_log, false);
    assert_eq!(am_reqs.len(), ALL, "{am_reqs:#?}");
    for (a, b) in am_reqs.iter().zip(&ad_reqs) {
        assert_eq!(a, b, "Alertmanager (left) and alertd (right) differ");
    }
    assert_eq!(am_reqs.len(), ad_reqs.len(), "{ad_reqs:#?}");
    // The comparison covered each integration, firing and resolved.
    let targets: Vec<&str> = am_reqs.iter().map(|r| r.1.as_str()).collect();
    for t in [
        "/pd/v2/enqueue",
        "/og/v2/alerts",
        "/discord/hook",
        "/tg/bottg-token/sendMessage",
    ] {
        assert!(targets.contains(&t), "{targets:?}");
    }
    assert!(am_reqs.iter().any(|r| r.4["event_action"] == "resolve"));
}

/// The receivers Alertmanager 0.25 lacks or cannot be pointed at a local server (Teams, ntfy,
/// Pushover) go through the real daemon too; their formats are checked in the notifier's unit
/// tests against the published ones.
#[test]
fn teams_ntfy_and_pushover_are_delivered_by_the_daemon() {
    let work = tempfile::tempdir().unwrap();
    let (sink, log) = recorder();
    let token = work.path().join("ntfy_token");
    std::fs::write(&token, "tk_secret\n").unwrap();
    let port = free_port();
    let cfg = format!(
        r#"api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?} }}
global: {{ external_url: http://ext.example }}
route: {{ receiver: all, group_by: [alertname], group_wait: 1s, group_interval: 1s }}
receivers:
  - name: all
    msteams_configs: [{{ webhook_url: 'http://127.0.0.1:{sink}/teams' }}]
    ntfy_configs:
      - {{ url: 'http://127.0.0.1:{sink}/', topic: alerts, access_token_file: {token:?} }}
    pushover_configs:
      - {{ user_key: u, token: t, api_url: 'http://127.0.0.1:{sink}/1/messages.json' }}
"#,
        data = work.path().join("data"),
    );
    let d = start(port, &cfg, &[]).unwrap();
    post_alerts(
        port,
        &json!([{ "labels": { "alertname": "DiskFull" }, "annotations": { "summary": "full" } }]),
    );
    let got = wait_for(Duration::from_secs(20), || {
        let g = log.lock().unwrap().clone();
        (g.len() >= 3).then_some(g)
    })
    .unwrap_or_else(|| panic!("{:#?}\n{}", log.lock().unwrap(), d.log()));
    let find = |p: &str| {
        got.iter()
            .find(|r| r.target.starts_with(p))
            .unwrap_or_else(|| panic!("no request to {p}: {got:#?}"))
    };
    let teams: Value = serde_json::from_str(&find("/teams").body).unwrap();
    assert_eq!(teams["type"], "MessageCard");
    assert_eq!(teams["title"], "[FIRING:1] DiskFull ");
    assert_eq!(teams["themeColor"], "8C1A1A");
    let ntfy = got
        .iter()
        .find(|r| r.target == "/")
        .unwrap_or_else(|| panic!("no ntfy request: {got:#?}"));
    assert_eq!(ntfy.authorization, "Bearer tk_secret");
    assert_eq!(ntfy.content_type, "application/json");
    let body: Value = serde_json::from_str(&ntfy.body).unwrap();
    assert_eq!(
        body,
        json!({
            "topic": "alerts",
            "title": "[FIRING:1] DiskFull",
            "message": "full",
            "priority": 4,
            "tags": ["rotating_light"],
            "click": "http://ext.example/#/alerts?receiver=all",
        })
    );
    let po = find("/1/messages.json?");
    assert_eq!(
        (po.method.as_str(), po.content_type.as_str()),
        ("POST", "text/plain")
    );
    assert!(po.body.is_empty());
    assert!(
        po.target.contains("&priority=2&retry=60&")
            && po
                .target
                .contains("&title=%5BFIRING%3A1%5D+DiskFull+&token=t&")
            && po.target.ends_with("&user=u"),
        "{}",
        po.target
    );
}
