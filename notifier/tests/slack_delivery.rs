//! Slack delivery against a fake Slack on loopback (axum) that behaves like Slack: incoming
//! webhooks answer `ok`, `invalid_payload`, 429 with `Retry-After`, 500, or hang; the Web API
//! checks the bot token and answers `chat.postMessage` / `chat.update` with channel and `ts`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use model::storage::{KvStore, MemStorage};
use model::{Alert, Duration, FakeClock, Labels, Timestamp};
use notifier::config::NotifierConfig;
use notifier::{Notifier, NotifierOptions};
use serde_json::{json, Value};

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const T0: i64 = 1_795_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Reply {
    Status(u16, Option<&'static str>),
    Hang,
}

#[derive(Clone, Default)]
struct FakeSlack {
    /// (endpoint, body) of every accepted request.
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    next_ts: Arc<Mutex<u64>>,
    /// ts of posted messages.
    messages: Arc<Mutex<Vec<String>>>,
}

async fn start(fake: FakeSlack) -> SocketAddr {
    let f1 = fake.clone();
    let f2 = fake.clone();
    let f3 = fake.clone();
    let app = axum::Router::new()
        .route(
            // An interaction's response_url (Slack's hooks.slack.com/actions/...).
            "/actions/T000/1/abc",
            post(move |body: String| {
                let f = f3.clone();
                async move {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    f.calls.lock().unwrap().push(("response_url".into(), v));
                    "ok"
                }
            }),
        )
        .route(
            "/services/T000/B000/XXXX",
            post(move |body: String| {
                let f = f1.clone();
                async move {
                    let reply = f.script.lock().unwrap().pop_front();
                    match reply {
                        Some(Reply::Hang) => {
                            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                            (StatusCode::OK, HeaderMap::new(), "ok".to_string())
                        }
                        Some(Reply::Status(code, retry)) => {
                            let mut h = HeaderMap::new();
                            if let Some(r) = retry {
                                h.insert("retry-after", r.parse().unwrap());
                            }
                            let text = if code == 429 {
                                "rate_limited"
                            } else {
                                "internal_error"
                            };
                            (StatusCode::from_u16(code).unwrap(), h, text.to_string())
                        }
                        None => {
                            let v: Value = match serde_json::from_str(&body) {
                                Ok(v) => v,
                                Err(_) => {
                                    return (
                                        StatusCode::BAD_REQUEST,
                                        HeaderMap::new(),
                                        "invalid_payload".into(),
                                    )
                                }
                            };
                            if v.get("text").is_none() && v.get("attachments").is_none() {
                                return (
                                    StatusCode::BAD_REQUEST,
                                    HeaderMap::new(),
                                    "no_text".into(),
                                );
                            }
                            f.calls.lock().unwrap().push(("webhook".into(), v));
                            (StatusCode::OK, HeaderMap::new(), "ok".into())
                        }
                    }
                }
            }),
        )
        .route(
            "/api/{method}",
            post(
                move |Path(method): Path<String>, headers: HeaderMap, body: String| {
                    let f = f2.clone();
                    async move {
                        if headers.get("authorization").and_then(|v| v.to_str().ok())
                            != Some("Bearer xoxb-test")
                        {
                            return axum::Json(json!({"ok": false, "error": "invalid_auth"}));
                        }
                        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        let channel = v["channel"].as_str().unwrap_or_default().to_string();
                        if channel.is_empty() || channel == "#nope" {
                            return axum::Json(json!({"ok": false, "error": "channel_not_found"}));
                        }
                        match method.as_str() {
                            "chat.postMessage" => {
                                if let Some(t) = v["thread_ts"].as_str() {
                                    if !f.messages.lock().unwrap().iter().any(|m| m == t) {
                                        return axum::Json(
                                            json!({"ok": false, "error": "thread_not_found"}),
                                        );
                                    }
                                }
                                let mut n = f.next_ts.lock().unwrap();
                                *n += 1;
                                let ts = format!("1795000000.{:06}", *n);
                                f.messages.lock().unwrap().push(ts.clone());
                                f.calls.lock().unwrap().push((method, v));
                                axum::Json(json!({"ok": true, "channel": "C0123", "ts": ts}))
                            }
                            "chat.update" => {
                                let ts = v["ts"].as_str().unwrap_or_default().to_string();
                                if channel != "C0123" || !f.messages.lock().unwrap().contains(&ts) {
                                    return axum::Json(
                                        json!({"ok": false, "error": "message_not_found"}),
                                    );
                                }
                                f.calls.lock().unwrap().push((method, v));
                                axum::Json(json!({"ok": true, "channel": "C0123", "ts": ts}))
                            }
                            _ => axum::Json(json!({"ok": false, "error": "unknown_method"})),
                        }
                    }
                },
            ),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

fn alert(name: &str, end: Option<Timestamp>) -> Alert {
    Alert {
        labels: Labels::from_pairs([
            ("alertname", name),
            ("instance", "db1"),
            ("severity", "critical"),
        ]),
        annotations: Labels::from_pairs([
            ("summary", "Database down"),
            ("runbook_url", "https://runbooks.example/db"),
        ]),
        starts_at: T0,
        ends_at: end,
        generator_url: "http://alertd/graph".into(),
    }
}

fn notifier(yaml: &str, kv: Arc<dyn KvStore>, clock: &FakeClock) -> Arc<Notifier> {
    let cfg = NotifierConfig::from_yaml(yaml).unwrap();
    let opts = NotifierOptions {
        send_timeout: Duration::from_millis(500),
        ..NotifierOptions::default()
    };
    Arc::new(Notifier::new(&cfg, opts, kv, Arc::new(clock.clone())).unwrap())
}

fn webhook_cfg(addr: SocketAddr) -> String {
    format!(
        r#"
global: {{ external_url: 'http://alertd:9797' }}
route: {{ receiver: slack, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 1h }}
receivers:
  - name: slack
    slack_configs:
      - api_url: 'http://{addr}/services/T000/B000/XXXX'
        channel: '#ops'
        icon_emoji: ':fire:'
        send_resolved: true
"#
    )
}

#[tokio::test]
async fn incoming_webhook_gets_alertmanager_like_messages() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let clock = FakeClock::new(T0);
    let n = notifier(&webhook_cfg(addr), Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    let calls = fake.calls.lock().unwrap().clone();
    let m = &calls[0].1;
    assert_eq!(m["channel"], "#ops");
    assert_eq!(m["icon_emoji"], ":fire:");
    let a = &m["attachments"][0];
    assert_eq!(a["title"], "[FIRING:1] DbDown (db1 critical)");
    assert_eq!(
        a["title_link"],
        "http://alertd:9797/#/alerts?receiver=slack"
    );
    assert_eq!(a["color"], "danger");
    let text = a["text"].as_str().unwrap();
    assert!(
        text.contains("*Alert:* Database down - `critical`"),
        "{text}"
    );
    assert!(text.contains("<https://runbooks.example/db|:spiral_note_pad:>"));
    // Resolution (send_resolved: true here).
    clock.set_ms(T0 + 2 * M);
    n.ingest(vec![alert("DbDown", Some(T0 + 2 * M))]).unwrap();
    n.tick().unwrap();
    n.deliver_due().await.unwrap();
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(
        calls[1].1["attachments"][0]["title"],
        "[RESOLVED] DbDown (db1 critical)"
    );
    assert_eq!(calls[1].1["attachments"][0]["color"], "good");
}

#[tokio::test]
async fn honours_429_retry_after_500_and_timeouts() {
    let fake = FakeSlack::default();
    fake.script.lock().unwrap().extend([
        Reply::Status(429, Some("3")),
        Reply::Status(500, None),
        Reply::Hang,
    ]);
    let addr = start(fake.clone()).await;
    let clock = FakeClock::new(T0);
    let n = notifier(&webhook_cfg(addr), Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.queue_len(), 1);
    assert_eq!(n.deliver_due().await.unwrap().retrying, 1);
    let q = n.queued();
    assert_eq!(q[0].next_attempt_at, T0 + 3 * S, "Retry-After honoured");
    clock.set_ms(T0 + 3 * S);
    assert_eq!(n.deliver_due().await.unwrap().retrying, 1);
    assert!(n.queued()[0].last_error.as_deref().unwrap().contains("500"));
    clock.set_ms(n.queued()[0].next_attempt_at);
    assert_eq!(n.deliver_due().await.unwrap().retrying, 1);
    assert!(n.queued()[0]
        .last_error
        .as_deref()
        .unwrap()
        .contains("timeout"));
    clock.set_ms(n.queued()[0].next_attempt_at);
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    assert_eq!(fake.calls.lock().unwrap().len(), 1);
    let h = n.history(Some("slack")).unwrap();
    let results: Vec<&str> = h.iter().map(|h| h.result.as_str()).collect();
    assert_eq!(results, ["retrying", "retrying", "retrying", "success"]);
    // Counted as alertd_notifications_total / _failed_total.
    let stats = n.delivery_stats();
    assert_eq!(stats.len(), 1);
    assert_eq!(stats[0].integration, "slack");
    assert_eq!(stats[0].receiver, "slack");
    assert_eq!((stats[0].attempts, stats[0].failed), (4, 3));
    assert_eq!(n.queue_len(), 0);
}

#[tokio::test]
async fn rate_limit_is_one_message_per_second_per_webhook() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let clock = FakeClock::new(T0);
    let n = notifier(&webhook_cfg(addr), Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("A", None), alert("B", None), alert("C", None)])
        .unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!((r.delivered, r.rate_limited), (1, 2));
    assert_eq!(fake.calls.lock().unwrap().len(), 1);
    let waits: Vec<i64> = n.queued().iter().map(|q| q.next_attempt_at - T0).collect();
    assert!(waits.iter().all(|w| *w > 0 && *w <= 1000), "{waits:?}");
}

#[tokio::test]
async fn bot_mode_threads_repeats_and_resolution_across_restart() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let d = tempfile::tempdir().unwrap();
    let tok = d.path().join("token");
    std::fs::write(&tok, "xoxb-test\n").unwrap();
    let yaml = format!(
        r#"
route: {{ receiver: bot, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 1h }}
receivers:
  - name: bot
    slack_configs:
      - bot_token_file: '{}'
        bot_api_url: 'http://{addr}/api'
        channel: '#ops'
        send_resolved: true
"#,
        tok.display()
    );
    let clock = FakeClock::new(T0);
    let kv: Arc<dyn KvStore> = Arc::new(MemStorage::new());
    let n = notifier(&yaml, kv.clone(), &clock);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    drop(n);
    // Restart; the repeat after repeat_interval goes into the first message's thread.
    let n = notifier(&yaml, kv.clone(), &clock);
    clock.set_ms(T0 + H + M);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    clock.set_ms(T0 + H + 3 * M);
    n.ingest(vec![alert("DbDown", Some(T0 + H + 3 * M))])
        .unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    let calls = fake.calls.lock().unwrap().clone();
    let summary: Vec<String> = calls
        .iter()
        .map(|(m, v)| {
            format!(
                "{m} {}",
                v["thread_ts"].as_str().or(v["ts"].as_str()).unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            "chat.postMessage -",
            "chat.update 1795000000.000001",
            "chat.postMessage 1795000000.000001",
            "chat.update 1795000000.000001",
            "chat.postMessage 1795000000.000001",
        ]
    );
    assert_eq!(calls[3].1["attachments"][0]["color"], "good");
    // A wrong token is a permanent failure, reported.
    std::fs::write(&tok, "xoxb-wrong").unwrap();
    let n2 = notifier(&yaml, Arc::new(MemStorage::new()), &clock);
    n2.ingest(vec![alert("Other", None)]).unwrap();
    n2.tick().unwrap();
    assert_eq!(n2.deliver_due().await.unwrap().failed, 1);
    assert!(n2.history(None).unwrap()[0]
        .error
        .as_deref()
        .unwrap()
        .contains("invalid_auth"));
}

#[tokio::test]
async fn storm_control_folds_a_flood_into_one_summary() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let clock = FakeClock::new(T0);
    let n = notifier(&webhook_cfg(addr), Arc::new(MemStorage::new()), &clock);
    let flood: Vec<Alert> = (0..30)
        .map(|i| alert(&format!("Flood{i:02}"), None))
        .collect();
    n.ingest(flood).unwrap();
    assert_eq!(n.tick().unwrap().queued.len(), 30);
    let r = n.deliver_due().await.unwrap();
    assert_eq!((r.delivered, r.folded), (30, 30));
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one summary message instead of 30");
    let a = &calls[0].1["attachments"][0];
    assert_eq!(a["title"], "[FIRING:30] AlertdStormSummary (db1 critical)");
    assert!(a["text"]
        .as_str()
        .unwrap()
        .contains("_10 more alerts firing_"));
    assert!(n.queued().is_empty());
    assert_eq!(n.history(Some("slack")).unwrap().len(), 30);
}

#[tokio::test]
async fn receivers_posting_to_the_same_webhook_share_its_rate_limit() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let clock = FakeClock::new(T0);
    let yaml = format!(
        r#"
route:
  receiver: a
  group_wait: 0s
  routes: [{{ matchers: [team=b], receiver: b }}]
receivers:
  - name: a
    slack_configs: [{{ api_url: 'http://{addr}/services/T000/B000/XXXX' }}]
  - name: b
    slack_configs: [{{ api_url: 'http://{addr}/services/T000/B000/XXXX' }}]
"#
    );
    let n = notifier(&yaml, Arc::new(MemStorage::new()), &clock);
    let mut b = alert("B", None);
    b.labels.set("team", "b");
    n.ingest(vec![alert("A", None), b]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(
        (r.delivered, r.rate_limited),
        (1, 1),
        "one message per second per webhook"
    );
    clock.set_ms(T0 + S);
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    assert_eq!(fake.calls.lock().unwrap().len(), 2);
}

/// Signs `body` as Slack signs interaction requests.
fn slack_signature(secret: &str, ts: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("v0:{ts}:{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("v0={hex}")
}

/// A click on the button as Slack posts it (form-encoded `payload`).
fn click(value: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": { "id": "U042", "username": "alice", "name": "alice" },
        "channel": { "id": "C0123" },
        "message": { "ts": "1795000000.000001" },
        "response_url": response_url,
        "actions": [{ "action_id": "alertd_ack", "block_id": "alertd_ack", "value": value,
                      "type": "button" }],
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

#[tokio::test]
async fn the_slack_button_acknowledges_and_stops_escalation() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let (hook, hooked) = webhook_sink().await;
    let d = tempfile::tempdir().unwrap();
    let tok = d.path().join("token");
    std::fs::write(&tok, "xoxb-test\n").unwrap();
    let sec = d.path().join("signing");
    std::fs::write(&sec, "8f742231b10e8888abcd99yyyzzz85a5\n").unwrap();
    let yaml = format!(
        r#"
route:
  receiver: bot
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
  escalation: oncall
escalations:
  - name: oncall
    tiers:
      - {{ after: 0s, receivers: [bot] }}
      - {{ after: 5m, receivers: [pager] }}
receivers:
  - name: bot
    slack_configs:
      - bot_token_file: '{}'
        signing_secret_file: '{}'
        bot_api_url: 'http://{addr}/api'
        channel: '#ops'
  - name: pager
    webhook_configs: [{{ url: 'http://{hook}/hook' }}]
"#,
        tok.display(),
        sec.display()
    );
    let clock = FakeClock::new(T0);
    let n = notifier(&yaml, Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    let posted = fake.calls.lock().unwrap()[0].1.clone();
    let button = &posted["blocks"][0]["elements"][0];
    assert_eq!(button["action_id"], "alertd_ack");
    assert_eq!(button["text"]["text"], "Acknowledge");
    let value = button["value"].as_str().unwrap().to_string();
    assert_eq!(posted["text"], "[FIRING:1] DbDown (db1 critical)");

    let response_url = format!("http://{addr}/actions/T000/1/abc");
    let body = click(&value, &response_url);
    let ts = T0 / 1000 + 30;
    clock.set_ms(ts * 1000);
    // Forged, wrongly signed and replayed requests are refused and change nothing.
    let forged = slack_signature("not-the-secret", ts, &body);
    assert!(matches!(
        n.slack_interaction(&ts.to_string(), &forged, body.as_bytes()),
        Err(notifier::interactions::InteractionError::BadSignature)
    ));
    let good = slack_signature("8f742231b10e8888abcd99yyyzzz85a5", ts, &body);
    let tampered = body.replace("alice", "mallory");
    assert!(n
        .slack_interaction(&ts.to_string(), &good, tampered.as_bytes())
        .is_err());
    let old = ts - 301;
    let replay = slack_signature("8f742231b10e8888abcd99yyyzzz85a5", old, &body);
    assert!(matches!(
        n.slack_interaction(&old.to_string(), &replay, body.as_bytes()),
        Err(notifier::interactions::InteractionError::Stale)
    ));
    assert!(n.acks().is_empty());

    let done = n
        .slack_interaction(&ts.to_string(), &good, body.as_bytes())
        .unwrap();
    assert_eq!(done.user, "alice");
    assert_eq!(done.acknowledged.len(), 1);
    n.reply_to_slack(&done).await;
    let acks = n.acks();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].author, "alice (Slack)");
    let replies: Vec<Value> = fake
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|(m, _)| m == "response_url")
        .map(|(_, v)| v.clone())
        .collect();
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0]["text"]
            .as_str()
            .unwrap()
            .contains("Acknowledged by alice: 1 alert(s)"),
        "{}",
        replies[0]
    );
    assert_eq!(replies[0]["replace_original"], false);

    // Past the second tier's `after`: acknowledged, so the pager is not called.
    clock.set_ms(T0 + 6 * M);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    n.deliver_due().await.unwrap();
    assert!(
        hooked.lock().unwrap().is_empty(),
        "escalated despite the ack"
    );

    // Control: a group nobody acknowledges does reach the second tier, and only it does.
    n.ingest(vec![alert("WebDown", None)]).unwrap();
    n.tick().unwrap();
    n.deliver_due().await.unwrap();
    clock.set_ms(T0 + 12 * M);
    n.ingest(vec![alert("DbDown", None), alert("WebDown", None)])
        .unwrap();
    n.tick().unwrap();
    n.deliver_due().await.unwrap();
    let paged: Vec<String> = hooked
        .lock()
        .unwrap()
        .iter()
        .map(|v| {
            v["groupLabels"]["alertname"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(paged, ["WebDown"]);
}

/// A webhook receiver that keeps the bodies it gets.
async fn webhook_sink() -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |body: String| {
            let g = g.clone();
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&body).unwrap_or(Value::Null));
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, got)
}

#[tokio::test]
async fn custom_templates_render_like_alertmanagers() {
    let fake = FakeSlack::default();
    let addr = start(fake.clone()).await;
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("ops.tmpl"),
        r#"{{ define "ops.title" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }} on {{ .CommonLabels.instance }}{{ end }}
{{ define "ops.text" }}{{ range .Alerts }}*{{ .Labels.severity | toUpper }}* {{ .Annotations.summary }} (<{{ .Annotations.runbook_url }}|runbook>)
{{ end }}{{ end }}"#,
    )
    .unwrap();
    let yaml = format!(
        r#"
templates: ['{}/*.tmpl']
route: {{ receiver: slack, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 1h }}
receivers:
  - name: slack
    slack_configs:
      - api_url: 'http://{addr}/services/T000/B000/XXXX'
        channel: '#{{{{ .CommonLabels.severity }}}}'
        title: '{{{{ template "ops.title" . }}}}'
        text: '{{{{ template "ops.text" . }}}}'
        footer: '{{{{ template "__subject" . }}}} via {{{{ .Receiver }}}}'
        send_resolved: true
"#,
        d.path().display()
    );
    let clock = FakeClock::new(T0);
    let n = notifier(&yaml, Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("DbDown", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    clock.set_ms(T0 + 2 * M);
    n.ingest(vec![alert("DbDown", Some(T0 + 2 * M))]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    let calls = fake.calls.lock().unwrap().clone();
    let (firing, resolved) = (&calls[0].1, &calls[1].1);
    assert_eq!(firing["channel"], "#critical");
    let a = &firing["attachments"][0];
    assert_eq!(a["title"], "[FIRING:1] DbDown on db1");
    assert_eq!(
        a["text"],
        "*CRITICAL* Database down (<https://runbooks.example/db|runbook>)\n"
    );
    assert_eq!(a["footer"], "[FIRING:1] DbDown (db1 critical) via slack");
    assert_eq!(
        resolved["attachments"][0]["title"],
        "[RESOLVED] DbDown on db1"
    );
}
