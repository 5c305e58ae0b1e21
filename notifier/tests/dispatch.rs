//! Dispatcher tests in virtual time (FakeClock, `tick()`), inspecting the persisted outbound
//! queue; delivery to real peers is tested in `delivery.rs`.

use std::sync::Arc;

use model::storage::{KvStore, MemStorage};
use model::{Alert, Clock, FakeClock, Labels, Silence, Timestamp};
use notifier::config::NotifierConfig;
use notifier::{AckTarget, Notifier, NotifierOptions, QueuedNotification};

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const T0: i64 = 1_795_000_000_000;

fn notifier(yaml: &str, kv: Arc<dyn KvStore>, clock: &FakeClock) -> Notifier {
    let cfg = NotifierConfig::from_yaml(yaml).unwrap();
    Notifier::new(
        &cfg,
        NotifierOptions::default(),
        kv,
        Arc::new(clock.clone()),
    )
    .unwrap()
}

fn alert(pairs: &[(&str, &str)], start: Timestamp, end: Option<Timestamp>) -> Alert {
    Alert {
        labels: Labels::from_pairs(pairs.iter().copied()),
        annotations: Labels::from_pairs([("summary", "s")]),
        starts_at: start,
        ends_at: end,
        generator_url: "http://gen".into(),
    }
}

/// Steps the clock to `t` and ticks; returns what was queued.
fn at(n: &Notifier, c: &FakeClock, t: i64) -> Vec<Arc<QueuedNotification>> {
    c.set_ms(t);
    n.tick().unwrap().queued
}

fn summary(q: &[Arc<QueuedNotification>]) -> Vec<String> {
    q.iter()
        .map(|q| {
            let a: Vec<String> = q
                .notification
                .alerts
                .iter()
                .map(|a| format!("{}:{}", a.labels.get_or_empty("instance"), &a.status[..1]))
                .collect();
            format!("{} {}", q.receiver, a.join(","))
        })
        .collect()
}

const BASIC: &str = r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
receivers:
  - name: hook
    webhook_configs: [{ url: 'http://127.0.0.1:9/hook' }]
  - name: quiet
    webhook_configs: [{ url: 'http://127.0.0.1:9/quiet', send_resolved: false }]
"#;

const FAR: Option<i64> = Some(T0 + 1000 * H);

#[test]
fn group_wait_interval_repeat_and_resolution_follow_alertmanager() {
    let c = FakeClock::new(T0);
    let n = notifier(BASIC, Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert(
        &[("alertname", "Down"), ("instance", "a")],
        T0,
        FAR,
    )])
    .unwrap();
    assert!(at(&n, &c, T0).is_empty());
    assert!(at(&n, &c, T0 + 29 * S).is_empty(), "group_wait not over");
    let q = at(&n, &c, T0 + 30 * S);
    assert_eq!(summary(&q), ["hook a:f"]);
    assert_eq!(q[0].notification.group_key, r#"{}:{alertname="Down"}"#);
    // A new alert joins: sent at the next group_interval, not before.
    c.set_ms(T0 + M);
    n.ingest(vec![alert(
        &[("alertname", "Down"), ("instance", "b")],
        T0 + M,
        FAR,
    )])
    .unwrap();
    assert!(at(&n, &c, T0 + 5 * M).is_empty());
    let q = at(&n, &c, T0 + 30 * S + 5 * M);
    assert_eq!(summary(&q), ["hook a:f,b:f"]);
    // Nothing changes: no message until repeat_interval (4h after the last one), at a
    // group_interval boundary.
    let mut t = T0 + 30 * S + 10 * M;
    let mut sent_at = Vec::new();
    while t <= T0 + 30 * S + 5 * M + 4 * H + 5 * M {
        if !at(&n, &c, t).is_empty() {
            sent_at.push(t);
        }
        t += 5 * M;
    }
    assert_eq!(sent_at, [T0 + 30 * S + 5 * M + 4 * H + 5 * M]);
    // Resolution is sent (webhook send_resolved defaults to true).
    let now = c.now_ms();
    n.ingest(vec![alert(
        &[("alertname", "Down"), ("instance", "a")],
        T0,
        Some(now),
    )])
    .unwrap();
    let q = at(&n, &c, now + 5 * M);
    assert_eq!(summary(&q), ["hook a:r,b:f"]);
    assert_eq!(q[0].notification.status, "firing");
    // The resolved alert left the group.
    assert_eq!(n.groups()[0].alerts.len(), 1);
    let now = c.now_ms();
    n.ingest(vec![alert(
        &[("alertname", "Down"), ("instance", "b")],
        T0,
        Some(now),
    )])
    .unwrap();
    let q = at(&n, &c, now + 5 * M);
    assert_eq!(summary(&q), ["hook b:r"]);
    assert_eq!(q[0].notification.status, "resolved");
    assert!(n.groups().is_empty(), "an empty group is removed");
    assert!(
        n.alerts().is_empty(),
        "resolved alerts are forgotten once notified"
    );
}

#[test]
fn alerts_without_end_resolve_after_resolve_timeout() {
    let c = FakeClock::new(T0);
    let n = notifier(
        &BASIC.replace("group_wait: 30s", "group_wait: 0s"),
        Arc::new(MemStorage::new()),
        &c,
    );
    n.ingest(vec![alert(
        &[("alertname", "X"), ("instance", "a")],
        T0,
        None,
    )])
    .unwrap();
    assert_eq!(summary(&at(&n, &c, T0)), ["hook a:f"]);
    assert_eq!(n.alerts()[0].alert.ends_at, Some(T0 + 5 * M));
    // Re-sent at 4m: the end moves.
    c.set_ms(T0 + 4 * M);
    n.ingest(vec![alert(
        &[("alertname", "X"), ("instance", "a")],
        T0 + 4 * M,
        None,
    )])
    .unwrap();
    assert_eq!(
        n.alerts()[0].alert.starts_at,
        T0,
        "the earlier start is kept"
    );
    assert!(at(&n, &c, T0 + 5 * M).is_empty());
    // Not re-sent: resolved 5m after the last update.
    let q = at(&n, &c, T0 + 10 * M);
    assert_eq!(summary(&q), ["hook a:r"]);
    assert_eq!(q[0].notification.alerts[0].ends_at, "2026-11-18T11:15:40Z");
}

#[test]
fn send_resolved_false_gets_no_resolution_but_new_firing_alerts() {
    let c = FakeClock::new(T0);
    let n = notifier(
        &BASIC.replace("receiver: hook", "receiver: quiet"),
        Arc::new(MemStorage::new()),
        &c,
    );
    n.ingest(vec![
        alert(&[("alertname", "X"), ("instance", "a")], T0, FAR),
        alert(&[("alertname", "X"), ("instance", "b")], T0, FAR),
    ])
    .unwrap();
    assert_eq!(summary(&at(&n, &c, T0 + 30 * S)), ["quiet a:f,b:f"]);
    n.ingest(vec![alert(
        &[("alertname", "X"), ("instance", "a")],
        T0,
        Some(T0 + M),
    )])
    .unwrap();
    assert!(
        at(&n, &c, T0 + 30 * S + 5 * M).is_empty(),
        "a resolution alone is not sent"
    );
    n.ingest(vec![alert(
        &[("alertname", "X"), ("instance", "c")],
        T0 + 6 * M,
        FAR,
    )])
    .unwrap();
    let q = at(&n, &c, T0 + 30 * S + 10 * M);
    assert_eq!(
        summary(&q),
        ["quiet b:f,c:f"],
        "resolved alerts are left out"
    );
}

#[test]
fn silences_and_inhibition_mute_notifications() {
    let c = FakeClock::new(T0);
    let yaml = format!(
        "{}inhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [instance]\n",
        BASIC.replace("group_by: [alertname]", "group_by: ['...']")
    );
    let n = notifier(&yaml, Arc::new(MemStorage::new()), &c);
    let id = n
        .silences()
        .set(Silence {
            id: String::new(),
            matchers: r#"alertname="Silenced""#.parse().unwrap(),
            starts_at: T0,
            ends_at: T0 + H,
            updated_at: 0,
            created_by: "t".into(),
            comment: "c".into(),
        })
        .unwrap();
    n.ingest(vec![
        alert(&[("alertname", "Silenced"), ("instance", "s")], T0, FAR),
        alert(
            &[
                ("alertname", "Disk"),
                ("instance", "a"),
                ("severity", "warning"),
            ],
            T0,
            FAR,
        ),
        alert(
            &[
                ("alertname", "Down"),
                ("instance", "a"),
                ("severity", "critical"),
            ],
            T0,
            FAR,
        ),
        alert(
            &[
                ("alertname", "Disk"),
                ("instance", "b"),
                ("severity", "warning"),
            ],
            T0,
            FAR,
        ),
    ])
    .unwrap();
    let mut got = summary(&at(&n, &c, T0 + 30 * S));
    got.sort();
    assert_eq!(got, ["hook a:f", "hook b:f"], "only Down/a and Disk/b");
    let views = n.alerts();
    let s = views.iter().find(|v| v.alert.name() == "Silenced").unwrap();
    assert_eq!(
        (s.state.as_str(), s.silenced_by.clone()),
        ("suppressed", vec![id.clone()])
    );
    let inh = views
        .iter()
        .find(|v| v.alert.name() == "Disk" && v.alert.labels.get("instance") == Some("a"))
        .unwrap();
    assert_eq!(inh.state, "suppressed");
    assert_eq!(inh.inhibited_by.len(), 1);
    // Expiring the silence lets the alert through at the next group interval.
    c.set_ms(T0 + M);
    n.silences().expire(&id).unwrap();
    let q = at(&n, &c, T0 + 30 * S + 5 * M);
    assert_eq!(summary(&q), ["hook s:f"]);
}

const ESCALATION: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      escalation: oncall
receivers:
  - name: default
    webhook_configs: [{ url: 'http://127.0.0.1:9/default' }]
  - name: ops
    webhook_configs: [{ url: 'http://127.0.0.1:9/ops' }]
  - name: oncall
    webhook_configs: [{ url: 'http://127.0.0.1:9/oncall' }]
  - name: lead
    webhook_configs: [{ url: 'http://127.0.0.1:9/lead', send_resolved: false }]
escalations:
  - name: oncall
    tiers:
      - { after: 0s, receivers: [ops] }
      - { after: 5m, receivers: [oncall] }
      - { after: 15m, receivers: [lead] }
"#;

fn receivers_at(n: &Notifier, c: &FakeClock, t: i64) -> Vec<String> {
    let mut v: Vec<String> = at(n, c, t).iter().map(|q| q.receiver.clone()).collect();
    v.sort();
    v
}

#[test]
fn escalation_tiers_count_from_first_notification_and_resolve_to_notified_tiers() {
    let c = FakeClock::new(T0);
    let n = notifier(ESCALATION, Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert(
        &[("alertname", "DbDown"), ("severity", "critical")],
        T0,
        FAR,
    )])
    .unwrap();
    assert_eq!(receivers_at(&n, &c, T0 + 30 * S), ["ops"]);
    assert!(receivers_at(&n, &c, T0 + 30 * S + 4 * M).is_empty());
    assert_eq!(receivers_at(&n, &c, T0 + 30 * S + 5 * M), ["oncall"]);
    assert!(receivers_at(&n, &c, T0 + 30 * S + 14 * M).is_empty());
    assert_eq!(receivers_at(&n, &c, T0 + 30 * S + 15 * M), ["lead"]);
    assert_eq!(n.groups()[0].tiers_notified, vec![0, 1, 2]);
    // Resolution goes to every notified tier whose receiver has send_resolved.
    c.set_ms(T0 + 20 * M);
    n.ingest(vec![alert(
        &[("alertname", "DbDown"), ("severity", "critical")],
        T0,
        Some(T0 + 20 * M),
    )])
    .unwrap();
    assert_eq!(
        receivers_at(&n, &c, T0 + 20 * M + 30 * S),
        ["oncall", "ops"]
    );
}

#[test]
fn ack_stops_repeats_and_escalation_and_clears_on_resolution() {
    let c = FakeClock::new(T0);
    let n = notifier(ESCALATION, Arc::new(MemStorage::new()), &c);
    let a = alert(
        &[("alertname", "DbDown"), ("severity", "critical")],
        T0,
        FAR,
    );
    n.ingest(vec![a.clone()]).unwrap();
    assert_eq!(receivers_at(&n, &c, T0 + 30 * S), ["ops"]);
    c.set_ms(T0 + 2 * M);
    let key = n.groups()[0].group_key.clone();
    let acked = n.ack(&AckTarget::Group(key), "alice", "looking").unwrap();
    assert_eq!(acked, vec![a.fingerprint()]);
    assert_eq!(n.alerts()[0].ack.as_ref().unwrap().author, "alice");
    // No tier 1 at 5m, no repeat after the repeat interval.
    let mut t = T0 + 3 * M;
    while t < T0 + 3 * H {
        assert!(at(&n, &c, t).is_empty(), "nothing sent at {t}");
        t += M;
    }
    // A new firing alert in the group is still notified (it is not acknowledged).
    n.ingest(vec![alert(
        &[
            ("alertname", "DbDown"),
            ("severity", "critical"),
            ("x", "2"),
        ],
        t,
        FAR,
    )])
    .unwrap();
    assert_eq!(receivers_at(&n, &c, t + M), ["ops"]);
    // Un-ack is recorded; the escalation resumes (tiers are past due).
    let un = n
        .unack(
            &AckTarget::Fingerprints(vec![a.fingerprint()]),
            "alice",
            "oops",
        )
        .unwrap();
    assert_eq!(un.len(), 1);
    assert_eq!(receivers_at(&n, &c, t + 2 * M), ["lead", "oncall"]);
    // Ack again, then the alert resolves: the ack clears itself.
    n.ack(
        &AckTarget::Matchers(r#"alertname="DbDown""#.parse().unwrap()),
        "bob",
        "",
    )
    .unwrap();
    c.set_ms(t + 3 * M);
    n.ingest(vec![alert(
        &[("alertname", "DbDown"), ("severity", "critical")],
        T0,
        Some(t + 3 * M),
    )])
    .unwrap();
    at(&n, &c, t + 3 * M);
    let acks = n.acks();
    assert_eq!(acks.len(), 1, "only the still-firing alert stays acked");
    let log: Vec<String> = n
        .ack_log()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e.action, e.author))
        .collect();
    assert_eq!(
        log,
        ["ack alice", "unack alice", "ack bob", "ack bob", "cleared "]
    );
    assert!(matches!(
        n.ack(
            &AckTarget::Matchers(r#"alertname="Nope""#.parse().unwrap()),
            "x",
            ""
        ),
        Err(notifier::NotifierError::NothingToAck)
    ));
}

#[test]
fn restart_keeps_timers_nflog_acks_silences_and_queue() {
    let c = FakeClock::new(T0);
    let kv: Arc<MemStorage> = Arc::new(MemStorage::new());
    let n = notifier(ESCALATION, kv.clone(), &c);
    n.ingest(vec![
        alert(
            &[("alertname", "DbDown"), ("severity", "critical")],
            T0,
            FAR,
        ),
        alert(&[("alertname", "Web"), ("instance", "w")], T0, FAR),
        alert(&[("alertname", "Acked"), ("instance", "k")], T0, FAR),
    ])
    .unwrap();
    assert_eq!(
        receivers_at(&n, &c, T0 + 30 * S),
        ["default", "default", "ops"]
    );
    let sid = n
        .silences()
        .set(Silence {
            id: String::new(),
            matchers: r#"alertname="Later""#.parse().unwrap(),
            starts_at: T0,
            ends_at: T0 + 10 * H,
            updated_at: 0,
            created_by: "t".into(),
            comment: "c".into(),
        })
        .unwrap();
    n.ack(
        &AckTarget::Matchers(r#"alertname="Acked""#.parse().unwrap()),
        "carol",
        "",
    )
    .unwrap();
    let queued_before = n.queued();
    assert_eq!(queued_before.len(), 3, "nothing delivered yet");
    drop(n);

    // Restart 2 minutes later.
    c.set_ms(T0 + 2 * M + 30 * S);
    let n = notifier(ESCALATION, kv.clone(), &c);
    assert_eq!(n.queued(), queued_before, "the queue survives");
    assert!(n.silences().get(&sid).is_some());
    assert_eq!(n.acks()[0].author, "carol");
    // No duplicate within the repeat interval.
    for m in 3..5 {
        assert!(at(&n, &c, T0 + 30 * S + m * M).is_empty());
    }
    // The escalation timer kept counting from the first notification.
    assert_eq!(receivers_at(&n, &c, T0 + 30 * S + 5 * M), ["oncall"]);
    drop(n);
    let n = notifier(ESCALATION, kv, &c);
    // After the repeat interval (1h), unacked groups repeat; the acked one does not.
    let mut got = Vec::new();
    let mut t = T0 + 30 * S + 6 * M;
    while t <= T0 + 30 * S + H + M {
        got.extend(
            at(&n, &c, t)
                .iter()
                .map(|q| q.notification.group_key.clone()),
        );
        t += M;
    }
    got.sort();
    assert_eq!(
        got,
        [
            r#"{}/{severity="critical"}:{alertname="DbDown"}"#,
            r#"{}/{severity="critical"}:{alertname="DbDown"}"#,
            r#"{}:{alertname="Web"}"#
        ]
    );
}

#[test]
fn time_intervals_mute_routes() {
    let c = FakeClock::new(T0); // 2026-11-18 is a Wednesday, 11:06:40 UTC
    let yaml = r#"
route:
  receiver: hook
  group_wait: 0s
  group_interval: 1m
  routes:
    - matchers: [team=night]
      receiver: hook
      active_time_intervals: [nights]
    - matchers: [team=weekday]
      receiver: hook
      mute_time_intervals: [weekdays]
receivers:
  - name: hook
    webhook_configs: [{ url: 'http://127.0.0.1:9/hook' }]
time_intervals:
  - name: nights
    time_intervals: [{ times: [{ start_time: '22:00', end_time: '24:00' }] }]
  - name: weekdays
    time_intervals: [{ weekdays: ['monday:friday'] }]
"#;
    let n = notifier(yaml, Arc::new(MemStorage::new()), &c);
    n.ingest(vec![
        alert(&[("alertname", "A"), ("team", "night")], T0, FAR),
        alert(&[("alertname", "B"), ("team", "weekday")], T0, FAR),
        alert(&[("alertname", "C"), ("team", "other")], T0, FAR),
    ])
    .unwrap();
    let q = at(&n, &c, T0);
    assert_eq!(q.len(), 1, "{q:#?}");
    assert_eq!(
        q[0].notification.alerts[0].labels.get("team"),
        Some("other")
    );
    // 22:00 UTC: the night route becomes active (the other group repeats after 4h).
    let q = at(&n, &c, T0 + 11 * H - 6 * M - 40 * S);
    let mut teams: Vec<&str> = q
        .iter()
        .map(|q| q.notification.alerts[0].labels.get_or_empty("team"))
        .collect();
    teams.sort();
    assert_eq!(teams, ["night", "other"]);
    // Saturday: the weekday mute is over.
    let q = at(&n, &c, T0 + 3 * 24 * H);
    assert!(q
        .iter()
        .any(|q| q.notification.alerts[0].labels.get("team") == Some("weekday")));
}

#[test]
fn doc_example_routes_to_the_same_groups_as_alertmanager() {
    let c = FakeClock::new(T0);
    let yaml = r#"
route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  receiver: team-X-mails
  routes:
    - matchers: [service=~"foo1|foo2|baz"]
      receiver: team-X-mails
      routes:
        - matchers: [severity="critical"]
          receiver: team-X-pager
    - matchers: [service="database"]
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers: [owner="team-X"]
          receiver: team-X-pager
          continue: true
        - matchers: [owner="team-Y"]
          receiver: team-Y-pager
receivers:
  - { name: team-X-mails, webhook_configs: [{ url: 'http://127.0.0.1:9/x' }] }
  - { name: team-X-pager, webhook_configs: [{ url: 'http://127.0.0.1:9/xp' }] }
  - { name: team-Y-pager, webhook_configs: [{ url: 'http://127.0.0.1:9/yp' }] }
  - { name: team-DB-pager, webhook_configs: [{ url: 'http://127.0.0.1:9/db' }] }
"#;
    let n = notifier(yaml, Arc::new(MemStorage::new()), &c);
    n.ingest(vec![
        alert(
            &[
                ("alertname", "Lat"),
                ("cluster", "c"),
                ("service", "foo1"),
                ("severity", "critical"),
            ],
            T0,
            FAR,
        ),
        alert(
            &[
                ("alertname", "Lat"),
                ("cluster", "c"),
                ("service", "foo2"),
                ("severity", "critical"),
            ],
            T0,
            FAR,
        ),
        alert(
            &[("alertname", "Lat"), ("cluster", "c"), ("service", "baz")],
            T0,
            FAR,
        ),
        alert(
            &[
                ("alertname", "Conn"),
                ("cluster", "c"),
                ("service", "database"),
                ("database", "d1"),
                ("owner", "team-X"),
            ],
            T0,
            FAR,
        ),
        alert(
            &[
                ("alertname", "Conn"),
                ("cluster", "c"),
                ("service", "database"),
                ("database", "d2"),
            ],
            T0,
            FAR,
        ),
    ])
    .unwrap();
    let mut got: Vec<String> = at(&n, &c, T0 + 30 * S)
        .iter()
        .map(|q| {
            format!(
                "{} {} {}",
                q.receiver,
                q.notification.group_key,
                q.notification.alerts.len()
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            r#"team-DB-pager {}/{service="database"}:{alertname="Conn", cluster="c", database="d2"} 1"#,
            r#"team-X-mails {}/{service=~"foo1|foo2|baz"}:{alertname="Lat", cluster="c", service="baz"} 1"#,
            r#"team-X-pager {}/{service="database"}/{owner="team-X"}:{alertname="Conn", cluster="c", database="d1"} 1"#,
            r#"team-X-pager {}/{service=~"foo1|foo2|baz"}/{severity="critical"}:{alertname="Lat", cluster="c", service="foo1"} 1"#,
            r#"team-X-pager {}/{service=~"foo1|foo2|baz"}/{severity="critical"}:{alertname="Lat", cluster="c", service="foo2"} 1"#,
        ]
    );
}

#[test]
fn invalid_input_is_refused() {
    let c = FakeClock::new(T0);
    let n = notifier(BASIC, Arc::new(MemStorage::new()), &c);
    assert!(n.ingest(vec![alert(&[], T0, None)]).is_err());
    assert!(n
        .ingest(vec![alert(&[("a", "b")], T0, Some(T0 - 1))])
        .is_err());
    let bad = NotifierConfig::from_yaml("route: { receiver: nope }\n").unwrap();
    let e = Notifier::new(
        &bad,
        NotifierOptions::default(),
        Arc::new(MemStorage::new()),
        Arc::new(c),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown receiver"), "{e}");
}

#[test]
fn an_acknowledged_group_is_not_renotified_after_the_log_retention() {
    let c = FakeClock::new(T0);
    let n = notifier(BASIC, Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert(
        &[("alertname", "Long"), ("instance", "a")],
        T0,
        FAR,
    )])
    .unwrap();
    assert_eq!(at(&n, &c, T0 + 30 * S).len(), 1);
    n.ack(
        &AckTarget::Matchers(r#"alertname="Long""#.parse().unwrap()),
        "ops",
        "known",
    )
    .unwrap();
    let mut t = T0 + 30 * S;
    let mut sent = 0;
    while t < T0 + 7 * 24 * H {
        t += 30 * M;
        sent += at(&n, &c, t).len();
    }
    assert_eq!(sent, 0, "no repeat for a week, past the 120h log retention");
}

#[test]
fn a_resolved_group_is_kept_until_the_cleanup_so_a_refire_goes_at_its_next_tick() {
    // Alertmanager 0.25 keeps an empty group (and its group_interval timer) until the
    // dispatcher's cleanup, every 30 s since it started: a re-fire before that goes out at the
    // old group's next tick; after it, a new group waits group_wait.
    let c = FakeClock::new(T0);
    let n = notifier(
        r#"
route: { receiver: hook, group_by: [alertname], group_wait: 8s, group_interval: 10s }
receivers: [{ name: hook, webhook_configs: [{ url: 'http://127.0.0.1:9/hook' }] }]
"#,
        Arc::new(MemStorage::new()),
        &c,
    );
    let a = |start, end| alert(&[("alertname", "Down"), ("instance", "a")], start, end);
    n.ingest(vec![a(T0, None)]).unwrap();
    assert_eq!(summary(&at(&n, &c, T0 + 8 * S)), ["hook a:f"]);
    c.set_ms(T0 + 9 * S);
    n.ingest(vec![a(T0, Some(T0 + 9 * S))]).unwrap();
    assert_eq!(summary(&at(&n, &c, T0 + 18 * S)), ["hook a:r"]);
    assert!(n.groups().is_empty(), "an empty group is not listed");
    // Re-fire at 19 s: the group (empty since 18 s) lives until the cleanup at 30 s.
    c.set_ms(T0 + 19 * S);
    n.ingest(vec![a(T0 + 19 * S, None)]).unwrap();
    assert!(at(&n, &c, T0 + 27 * S).is_empty(), "no new group_wait");
    assert_eq!(summary(&at(&n, &c, T0 + 28 * S)), ["hook a:f"]);
    // Resolved again at 29 s, notified at 38 s; the cleanup at 60 s drops the group.
    c.set_ms(T0 + 29 * S);
    n.ingest(vec![a(T0 + 19 * S, Some(T0 + 29 * S))]).unwrap();
    assert_eq!(summary(&at(&n, &c, T0 + 38 * S)), ["hook a:r"]);
    assert!(at(&n, &c, T0 + 48 * S).is_empty());
    assert!(at(&n, &c, T0 + 58 * S).is_empty());
    c.set_ms(T0 + 61 * S);
    n.ingest(vec![a(T0 + 61 * S, None)]).unwrap();
    assert!(
        at(&n, &c, T0 + 68 * S).is_empty(),
        "a new group waits group_wait"
    );
    assert_eq!(summary(&at(&n, &c, T0 + 69 * S)), ["hook a:f"]);
}

#[test]
fn groups_api_lists_the_filtered_receivers_in_alertmanagers_order() {
    // Two routes (continue) take every alert; ?receiver=r-max2 lists each alert's receivers as
    // ["r-max2"] only, as Alertmanager 0.25 does; groups with equal labels order by receiver.
    let c = FakeClock::new(T0);
    let n = notifier(
        r#"
route:
  receiver: r-all
  group_by: [alertname]
  routes:
    - { receiver: r-max2, continue: true }
    - { receiver: r-all }
receivers: [{ name: r-all }, { name: r-max2 }]
"#,
        Arc::new(MemStorage::new()),
        &c,
    );
    n.ingest(vec![
        alert(&[("alertname", "B"), ("instance", "x")], T0, FAR),
        alert(&[("alertname", "A"), ("instance", "y")], T0, FAR),
    ])
    .unwrap();
    let all = notifier::api::alert_groups(&n, &model::api::AlertFilter::default());
    let got: Vec<(String, String, Vec<String>)> = all
        .iter()
        .map(|g| {
            (
                g.labels.to_string(),
                g.receiver.name.clone(),
                g.alerts[0]
                    .receivers
                    .iter()
                    .map(|r| r.name.clone())
                    .collect(),
            )
        })
        .collect();
    let both = vec!["r-all".to_string(), "r-max2".to_string()];
    assert_eq!(
        got,
        [
            (r#"{alertname="A"}"#.into(), "r-all".into(), both.clone()),
            (r#"{alertname="A"}"#.into(), "r-max2".into(), both.clone()),
            (r#"{alertname="B"}"#.into(), "r-all".into(), both.clone()),
            (r#"{alertname="B"}"#.into(), "r-max2".into(), both),
        ]
    );
    let f = model::api::AlertFilter::from_query([("receiver", "r-max2")]).unwrap();
    let only = notifier::api::alert_groups(&n, &f);
    assert_eq!(only.len(), 2);
    for g in &only {
        assert_eq!(g.receiver.name, "r-max2");
        let names: Vec<&str> = g.alerts[0]
            .receivers
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["r-max2"]);
    }
}

#[test]
fn a_group_muted_whole_is_not_sent_again_when_its_silence_ends() {
    // Alertmanager stops its pipeline when muting leaves no alert, without touching the
    // notification log: once the silence ends, the alert it already sent is not news.
    let c = FakeClock::new(T0);
    let n = notifier(
        r#"
route: { receiver: hook, group_by: ['...'], group_wait: 1s, group_interval: 1s }
receivers: [{ name: hook, webhook_configs: [{ url: 'http://127.0.0.1:9/hook' }] }]
"#,
        Arc::new(MemStorage::new()),
        &c,
    );
    n.ingest(vec![alert(
        &[("alertname", "F"), ("instance", "f1")],
        T0,
        FAR,
    )])
    .unwrap();
    assert_eq!(summary(&at(&n, &c, T0 + S)), ["hook f1:f"]);
    let id = n
        .silences()
        .set(Silence {
            id: String::new(),
            matchers: "{instance=\"f1\"}".parse().unwrap(),
            starts_at: T0 + S,
            ends_at: T0 + H,
            created_by: "t".into(),
            comment: "c".into(),
            updated_at: 0,
        })
        .unwrap();
    assert!(at(&n, &c, T0 + 2 * S).is_empty());
    n.silences().expire(&id).unwrap();
    assert!(
        at(&n, &c, T0 + 3 * S).is_empty(),
        "already sent before the silence"
    );
    assert!(at(&n, &c, T0 + 4 * S).is_empty());
}

#[test]
fn reload_keeps_timers_nflog_acks_and_silences_and_regroups_under_new_routes() {
    let c = FakeClock::new(T0);
    let n = notifier(BASIC, Arc::new(MemStorage::new()), &c);
    n.ingest(vec![
        alert(&[("alertname", "Down"), ("instance", "a")], T0, FAR),
        alert(&[("alertname", "Slow"), ("instance", "b")], T0, FAR),
    ])
    .unwrap();
    assert_eq!(summary(&at(&n, &c, T0 + 30 * S)), ["hook a:f", "hook b:f"]);
    n.ack(
        &AckTarget::Matchers("alertname=Slow".parse().unwrap()),
        "al",
        "",
    )
    .unwrap();

    // A refused config changes nothing.
    let bad = NotifierConfig::from_yaml("route: { receiver: nobody }\n").unwrap();
    assert!(n.reload(&bad).is_err());
    assert_eq!(n.receiver_names(), ["hook", "quiet"]);

    // The same routes plus a child route for `Slow` to `quiet`, and a new receiver.
    let changed = BASIC.replace(
        "  repeat_interval: 4h\n",
        "  repeat_interval: 4h\n  routes: [{ matchers: [alertname=Slow], receiver: quiet }]\n",
    )
        + "  - name: extra\n    webhook_configs: [{ url: 'http://127.0.0.1:9/extra' }]\n";
    c.set_ms(T0 + M);
    n.reload(&NotifierConfig::from_yaml(&changed).unwrap())
        .unwrap();
    assert_eq!(n.receiver_names(), ["extra", "hook", "quiet"]);
    // `Slow` moved to a new group of the child route: as in Alertmanager, its alert is older
    // than group_wait, so the new group flushes at once, to its new receiver. `Down`'s group is
    // unchanged and keeps its timer (next flush at 30s + 5m): nothing is sent for it now.
    assert_eq!(summary(&at(&n, &c, T0 + M)), ["quiet b:f"]);
    assert!(at(&n, &c, T0 + 5 * M).is_empty());
    // The group interval of `Down`'s group runs on from before the reload, and the
    // notification log (kept) finds nothing new to send.
    assert!(at(&n, &c, T0 + 30 * S + 5 * M).is_empty());
    // The ack carried over.
    assert_eq!(n.acks().len(), 1);

    // Back to the first routes: `Slow` returns to its old group key, which the notification
    // log remembers for `hook` (acked: no repeat).
    c.set_ms(T0 + 10 * M);
    n.reload(&NotifierConfig::from_yaml(BASIC).unwrap())
        .unwrap();
    assert!(at(&n, &c, T0 + 10 * M).is_empty());
}
