//! Delivery to a real webhook sink on loopback (axum): Alertmanager's JSON, `max_alerts`,
//! retries with backoff, `Retry-After`, the persisted queue across a restart, history, and the
//! receiver-failing self alert. Time is virtual (FakeClock) except for the HTTP exchange.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use model::storage::{KvStore, MemStorage};
use model::{Alert, Clock, FakeClock, Labels, Timestamp};
use notifier::config::NotifierConfig;
use notifier::{Notifier, NotifierOptions};

#[path = "support/logs.rs"]
mod logs;

const S: i64 = 1000;
const M: i64 = 60 * S;
const T0: i64 = 1_795_000_000_000;

/// Scripted replies: status and optional Retry-After.
type Script = Arc<Mutex<VecDeque<(u16, Option<&'static str>)>>>;

#[derive(Clone, Default)]
struct Sink {
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    headers: Arc<Mutex<Vec<HeaderMap>>>,
    /// Scripted replies (status, Retry-After); 200 once empty.
    script: Script,
}

async fn start_sink(sink: Sink) -> SocketAddr {
    let s2 = sink.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let s = s2.clone();
            async move {
                let (code, retry) = s.script.lock().unwrap().pop_front().unwrap_or((200, None));
                if code == 200 {
                    s.bodies
                        .lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    s.headers.lock().unwrap().push(headers);
                }
                let mut h = HeaderMap::new();
                if let Some(r) = retry {
                    h.insert("retry-after", r.parse().unwrap());
                }
                (StatusCode::from_u16(code).unwrap(), h, "")
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

fn cfg(addr: SocketAddr, extra: &str) -> NotifierConfig {
    NotifierConfig::from_yaml(&format!(
        r#"
global: {{ external_url: 'http://alertd:9797' }}
route: {{ receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1m }}
receivers:
  - name: hook
    webhook_configs:
      - url: 'http://{addr}/hook'
        {extra}
"#
    ))
    .unwrap()
}

fn alert(name: &str, inst: &str, end: Option<Timestamp>) -> Alert {
    Alert {
        labels: Labels::from_pairs([
            ("alertname", name),
            ("instance", inst),
            ("severity", "warning"),
        ]),
        annotations: Labels::from_pairs([("summary", format!("{name} on {inst}"))]),
        starts_at: T0,
        ends_at: end,
        generator_url: "http://127.0.0.1:19090/graph".into(),
    }
}

fn new(c: &NotifierConfig, kv: Arc<dyn KvStore>, clock: &FakeClock) -> Arc<Notifier> {
    Arc::new(Notifier::new(c, NotifierOptions::default(), kv, Arc::new(clock.clone())).unwrap())
}

#[tokio::test]
async fn delivers_alertmanager_json_and_truncates_to_max_alerts() {
    let sink = Sink::default();
    let addr = start_sink(sink.clone()).await;
    let clock = FakeClock::new(T0);
    let n = new(
        &cfg(addr, "max_alerts: 2"),
        Arc::new(MemStorage::new()),
        &clock,
    );
    n.ingest(vec![
        alert("DiskFull", "host-0", None),
        alert("DiskFull", "host-1", None),
        alert("DiskFull", "host-2", None),
    ])
    .unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.delivered, 1);
    let bodies = sink.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let b = &bodies[0];
    assert_eq!(b["version"], "4");
    assert_eq!(b["groupKey"], r#"{}:{alertname="DiskFull"}"#);
    assert_eq!(b["truncatedAlerts"], 1);
    assert_eq!(b["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(b["alerts"][0]["fingerprint"], "f5c17415ad899e55");
    assert_eq!(b["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(b["commonLabels"]["severity"], "warning");
    assert_eq!(b["externalURL"], "http://alertd:9797");
    assert_eq!(
        sink.headers.lock().unwrap()[0]["content-type"],
        "application/json"
    );
    assert!(n.queued().is_empty());
    let h = n.history(Some("hook")).unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!((h[0].result.as_str(), h[0].alerts.len()), ("success", 3));
}

#[tokio::test]
async fn retries_with_backoff_and_retry_after_then_raises_receiver_failing() {
    let sink = Sink::default();
    sink.script.lock().unwrap().extend([
        (500, None),
        (503, None),
        (429, Some("7")),
        (500, None),
        (500, None),
        (500, None),
        (500, None),
        (500, None),
        (500, None),
        (500, None),
    ]);
    let addr = start_sink(sink.clone()).await;
    let clock = FakeClock::new(T0);
    let n = new(&cfg(addr, ""), Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("Down", "a", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().retrying, 1);
    // Backoff: 1s, then 2s.
    assert_eq!(n.queued()[0].next_attempt_at, T0 + S);
    clock.set_ms(T0 + S - 1);
    assert_eq!(
        n.deliver_due().await.unwrap(),
        Default::default(),
        "not due yet"
    );
    clock.set_ms(T0 + S);
    assert_eq!(n.deliver_due().await.unwrap().retrying, 1);
    assert_eq!(n.queued()[0].next_attempt_at, T0 + 3 * S);
    clock.set_ms(T0 + 3 * S);
    n.deliver_due().await.unwrap();
    // 429 with Retry-After: 7 seconds.
    assert_eq!(n.queued()[0].next_attempt_at, T0 + 10 * S);
    assert!(n.queued()[0].last_error.as_deref().unwrap().contains("429"));
    // Keep failing for more than 5 minutes: alertd raises an alert about the receiver.
    let mut t = T0 + 10 * S;
    for _ in 0..7 {
        clock.set_ms(t);
        n.deliver_due().await.unwrap();
        t = n.queued()[0].next_attempt_at;
    }
    let failing: Vec<_> = n
        .alerts()
        .into_iter()
        .filter(|a| a.alert.name() == "AlertdReceiverFailing")
        .collect();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].alert.labels.get("receiver"), Some("hook"));
    // Recovery delivers the queued notification and resolves the self alert.
    clock.set_ms(t);
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.delivered, 1);
    assert_eq!(sink.bodies.lock().unwrap().len(), 1);
    let failing = n
        .alerts()
        .into_iter()
        .find(|a| a.alert.name() == "AlertdReceiverFailing")
        .unwrap();
    assert_eq!(failing.state, "resolved");
    let h = n.history(None).unwrap();
    assert!(h.iter().filter(|h| h.result == "retrying").count() >= 9);
    assert_eq!(h.last().unwrap().result, "success");
}

#[tokio::test]
async fn queued_notifications_survive_a_restart_and_4xx_is_not_retried() {
    let sink = Sink::default();
    sink.script.lock().unwrap().push_back((500, None));
    let addr = start_sink(sink.clone()).await;
    let clock = FakeClock::new(T0);
    let kv: Arc<dyn KvStore> = Arc::new(MemStorage::new());
    let c = cfg(addr, "");
    let n = new(&c, kv.clone(), &clock);
    n.ingest(vec![alert("Down", "a", None)]).unwrap();
    n.tick().unwrap();
    n.deliver_due().await.unwrap();
    assert_eq!(n.queued().len(), 1);
    drop(n); // "crash"
    let n = new(&c, kv.clone(), &clock);
    assert_eq!(n.queued().len(), 1);
    n.tick().unwrap();
    assert_eq!(n.queued().len(), 1, "no duplicate queued after restart");
    clock.set_ms(T0 + S);
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    assert_eq!(sink.bodies.lock().unwrap().len(), 1);
    // A 400 is a permanent failure: dropped, recorded.
    sink.script.lock().unwrap().push_back((400, None));
    clock.set_ms(T0 + 2 * M);
    n.ingest(vec![alert("Down", "b", None)]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.failed, 1);
    assert!(n.queued().is_empty());
    assert_eq!(n.history(None).unwrap().last().unwrap().result, "failed");
}

#[tokio::test]
async fn test_receiver_sends_a_test_notification() {
    let sink = Sink::default();
    let addr = start_sink(sink.clone()).await;
    let clock = FakeClock::new(T0);
    let n = new(&cfg(addr, ""), Arc::new(MemStorage::new()), &clock);
    let r = n.test_receiver("hook").await.unwrap();
    assert_eq!(r.len(), 1);
    assert!(r[0].1.is_ok());
    assert_eq!(
        sink.bodies.lock().unwrap()[0]["alerts"][0]["labels"]["alertname"],
        "AlertdTestNotification"
    );
    assert!(n.test_receiver("nope").await.is_err());
}

#[tokio::test]
async fn a_receiver_that_stays_down_falls_back_to_another() {
    let sink = Sink::default();
    // The primary always fails: /down answers 503.
    let addr = start_sink(sink.clone()).await;
    let down = {
        let app = axum::Router::new().route(
            "/down",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down") }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        a
    };
    let c = NotifierConfig::from_yaml(&format!(
        r#"
route: {{ receiver: primary, group_by: [alertname], group_wait: 0s }}
receivers:
  - name: primary
    fallback: backup
    webhook_configs: [{{ url: 'http://{down}/down' }}]
  - name: backup
    webhook_configs: [{{ url: 'http://{addr}/hook' }}]
"#
    ))
    .unwrap();
    let clock = FakeClock::new(T0);
    let n = new(&c, Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("Down", "a", None)]).unwrap();
    n.tick().unwrap();
    let mut t = T0;
    while t < T0 + 15 * M && sink.bodies.lock().unwrap().is_empty() {
        clock.set_ms(t);
        n.deliver_due().await.unwrap();
        t = n.queued().iter().map(|q| q.next_attempt_at).min().unwrap();
    }
    let bodies = sink.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "the backup got the notification");
    assert_eq!(bodies[0]["receiver"], "backup");
    assert!(
        clock.now_ms() >= T0 + 5 * M,
        "only after the primary failed for 5 minutes"
    );
    // The primary's message stays queued (and is retried), once.
    assert_eq!(n.queued().len(), 1);
    assert_eq!(n.queued()[0].receiver, "primary");
    let bad = NotifierConfig::from_yaml(
        "route: { receiver: a }\nreceivers: [{ name: a, fallback: a }]\n",
    )
    .unwrap();
    assert!(bad.validate()[0].message.contains("itself"));
}

#[tokio::test]
async fn run_ingests_from_the_evaluator_channel_and_delivers() {
    let sink = Sink::default();
    let addr = start_sink(sink.clone()).await;
    let clock = FakeClock::new(T0);
    let n = new(&cfg(addr, ""), Arc::new(MemStorage::new()), &clock);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(
        n.clone()
            .run(Some(rx), stop_rx, std::time::Duration::from_millis(5)),
    );
    tx.send(vec![alert("FromEvaluator", "e1", None)])
        .await
        .unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(b) = sink.bodies.lock().unwrap().first().cloned() {
                return b;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the alert sent on the channel was delivered");
    assert_eq!(got["alerts"][0]["labels"]["alertname"], "FromEvaluator");
    stop_tx.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("run stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn history_is_kept_for_its_retention_only() {
    let clock = FakeClock::new(T0);
    let n = new(
        &cfg("127.0.0.1:9".parse().unwrap(), ""),
        Arc::new(MemStorage::new()),
        &clock,
    );
    let r = n.test_receiver("hook").await.unwrap();
    assert!(r[0].1.is_err(), "nothing listens on port 9");
    assert_eq!(n.history(None).unwrap()[0].result, "retrying");
    clock.set_ms(T0 + 6 * 24 * 60 * M);
    n.tick().unwrap();
    assert_eq!(n.history(None).unwrap().len(), 1, "kept within 7 days");
    clock.set_ms(T0 + 8 * 24 * 60 * M);
    n.tick().unwrap();
    assert!(n.history(None).unwrap().is_empty(), "dropped after 7 days");
}

#[tokio::test]
async fn global_http_config_applies_to_webhooks_without_their_own() {
    let sink = Sink::default();
    let addr = start_sink(sink.clone()).await;
    let c = NotifierConfig::from_yaml(&format!(
        r#"
global:
  http_config: {{ basic_auth: {{ username: alertd, password: pw }} }}
route: {{ receiver: hook, group_wait: 0s }}
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://{addr}/hook' }}]
"#
    ))
    .unwrap();
    let clock = FakeClock::new(T0);
    let n = new(&c, Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("A", "a", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    // base64("alertd:pw")
    assert_eq!(
        sink.headers.lock().unwrap()[0]["authorization"],
        "Basic YWxlcnRkOnB3"
    );
}

#[tokio::test]
async fn a_receivers_proxy_url_carries_its_requests() {
    // Valid in Alertmanager 0.25: the request goes to the proxy (absolute-form), so a webhook
    // URL whose host cannot resolve is still delivered, through the sink acting as the proxy.
    let proxy = Sink::default();
    let addr = start_sink(proxy.clone()).await;
    let c = NotifierConfig::from_yaml(&format!(
        r#"
route: {{ receiver: hook, group_wait: 0s }}
receivers:
  - name: hook
    webhook_configs:
      - url: 'http://alertd-proxy-test.invalid/hook'
        http_config: {{ proxy_url: 'http://{addr}' }}
"#
    ))
    .unwrap();
    let clock = FakeClock::new(T0);
    let n = new(&c, Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("A", "a", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    assert_eq!(
        proxy.headers.lock().unwrap()[0]["host"],
        "alertd-proxy-test.invalid"
    );
    assert_eq!(proxy.bodies.lock().unwrap()[0]["receiver"], "hook");
}

#[tokio::test]
async fn failed_attempts_are_logged_at_warn_with_receiver_attempt_status_and_next_retry() {
    let (logs, _guard) = logs::capture();
    let sink = Sink::default();
    sink.script
        .lock()
        .unwrap()
        .extend([(500, None), (400, None)]);
    let addr = start_sink(sink.clone()).await;
    let c = NotifierConfig::from_yaml(&format!(
        r#"
route: {{ receiver: hook, group_by: [alertname], group_wait: 0s }}
receivers:
  - name: hook
    webhook_configs:
      - url: 'http://{addr}/hook?token=URLSECRET'
        http_config: {{ authorization: {{ credentials: AUTHSECRET }} }}
"#
    ))
    .unwrap();
    let clock = FakeClock::new(T0);
    let n = new(&c, Arc::new(MemStorage::new()), &clock);
    n.ingest(vec![alert("Down", "a", None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().retrying, 1);
    clock.set_ms(T0 + S);
    assert_eq!(n.deliver_due().await.unwrap().failed, 1);
    let text = logs.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    // First attempt: 500, retried after the 1 s backoff.
    for want in [
        " WARN ",
        "notification failed; retrying",
        "receiver=hook",
        "integration=webhook[0]",
        "attempt=1",
        "unexpected status code 500",
        "next_attempt=2026-11-18T",
    ] {
        assert!(lines[0].contains(want), "{want:?} not in {}", lines[0]);
    }
    assert!(
        lines[0].contains(&notifier::payload::go_time(T0 + S)),
        "{}",
        lines[0]
    );
    // Second: 400, not retried.
    for want in [
        " WARN ",
        "not retried",
        "receiver=hook",
        "attempt=2",
        "unexpected status code 400",
    ] {
        assert!(lines[1].contains(want), "{want:?} not in {}", lines[1]);
    }
    assert!(!text.contains("SECRET"), "a secret reached the log: {text}");
}
