//! On-call schedules and response targets in the dispatcher, in virtual time (FakeClock,
//! `tick()`): who each escalation tier pages, when the secondary is paged (the acknowledge
//! target unless acknowledged), overrides from the API.

use std::sync::Arc;

use model::api::oncall::OverrideRequest;
use model::storage::{KvStore, MemStorage};
use model::{Alert, FakeClock, Labels, Timestamp};
use notifier::config::NotifierConfig;
use notifier::{AckTarget, Notifier, NotifierOptions};

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;

fn ts(s: &str) -> Timestamp {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_millis()
}

const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: ['severity=~"critical|warning"']
      escalation: ops
receivers:
  - name: default
    webhook_configs: [{ url: 'http://127.0.0.1:9/default' }]
  - name: alice-pager
    webhook_configs: [{ url: 'http://127.0.0.1:9/alice' }]
  - name: bob-pager
    webhook_configs: [{ url: 'http://127.0.0.1:9/bob' }]
  - name: carol-pager
    webhook_configs: [{ url: 'http://127.0.0.1:9/carol' }]
  - name: dave-pager
    webhook_configs: [{ url: 'http://127.0.0.1:9/dave' }]
  - name: lead
    webhook_configs: [{ url: 'http://127.0.0.1:9/lead' }]
oncall_schedules:
  - name: ops
    time_zone: Europe/Oslo
    members:
      - { name: alice, receiver: alice-pager }
      - { name: bob, receiver: bob-pager }
      - { name: carol, receiver: carol-pager }
      - { name: dave, receiver: dave-pager }
    layers:
      - rotation: weekly
        start: "2026-03-16"
        handoff_time: "09:00"
        members: [alice, bob, carol]
response_targets:
  - { severity: critical, acknowledge_within: 5m, resolve_within: 1h }
  - { acknowledge_within: 15m }
escalations:
  - name: ops
    tiers:
      - { after: 0s, oncall: [{ schedule: ops }] }
      - { after: ack_target, oncall: [{ schedule: ops, role: secondary }] }
      - { after: 20m, receivers: [lead] }
"#;

fn notifier(kv: Arc<dyn KvStore>, clock: &FakeClock) -> Notifier {
    let cfg = NotifierConfig::from_yaml(CONFIG).unwrap();
    Notifier::new(
        &cfg,
        NotifierOptions::default(),
        kv,
        Arc::new(clock.clone()),
    )
    .unwrap()
}

fn alert(severity: &str, start: Timestamp) -> Alert {
    Alert {
        labels: Labels::from_pairs([("alertname", "DbDown"), ("severity", severity)]),
        annotations: Labels::from_pairs([("summary", "s")]),
        starts_at: start,
        ends_at: Some(start + 1000 * H),
        generator_url: "http://gen".into(),
    }
}

fn receivers_at(n: &Notifier, c: &FakeClock, t: i64) -> Vec<String> {
    c.set_ms(t);
    let mut v: Vec<String> = n
        .tick()
        .unwrap()
        .queued
        .iter()
        .map(|q| q.receiver.clone())
        .collect();
    v.sort();
    v
}

/// Steps minute by minute from `from` to `to` (exclusive), asserting nothing is sent.
fn quiet(n: &Notifier, c: &FakeClock, from: i64, to: i64) {
    let mut t = from;
    while t < to {
        assert!(receivers_at(n, c, t).is_empty(), "nothing sent at {t}");
        t += 30 * S;
    }
}

#[test]
fn primary_then_secondary_at_the_ack_target_then_lead() {
    // Wednesday of alice's week (bob is next).
    let t0 = ts("2026-03-18T10:00:00Z");
    let c = FakeClock::new(t0);
    let n = notifier(Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert("critical", t0)]).unwrap();
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S), ["alice-pager"]);
    quiet(&n, &c, t0 + 60 * S, t0 + 30 * S + 5 * M);
    // Critical: acknowledge within 5 minutes of the first notification, else the secondary.
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S + 5 * M), ["bob-pager"]);
    quiet(&n, &c, t0 + 30 * S + 5 * M + 30 * S, t0 + 30 * S + 20 * M);
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S + 20 * M), ["lead"]);
    assert_eq!(n.groups()[0].tiers_notified, vec![0, 1, 2]);
}

#[test]
fn an_ack_before_the_target_stops_the_escalation() {
    let t0 = ts("2026-03-18T10:00:00Z");
    let c = FakeClock::new(t0);
    let n = notifier(Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert("critical", t0)]).unwrap();
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S), ["alice-pager"]);
    c.set_ms(t0 + 4 * M);
    let key = n.groups()[0].group_key.clone();
    n.ack(&AckTarget::Group(key), "alice", "on it").unwrap();
    quiet(&n, &c, t0 + 4 * M, t0 + 2 * H);
    assert_eq!(n.groups()[0].tiers_notified, vec![0]);
    // The status page's deadlines: acknowledged, ack due 5m after the first notification.
    let d = n.response_deadlines();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].ack_by, Some(t0 + 30 * S + 5 * M));
    assert_eq!(d[0].resolve_by, Some(t0 + H));
    assert_eq!(d[0].ack.as_ref().map(|a| a.author.as_str()), Some("alice"));
}

#[test]
fn other_severities_take_the_default_target() {
    let t0 = ts("2026-03-18T10:00:00Z");
    let c = FakeClock::new(t0);
    let n = notifier(Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert("warning", t0)]).unwrap();
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S), ["alice-pager"]);
    quiet(&n, &c, t0 + 60 * S, t0 + 30 * S + 15 * M);
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S + 15 * M), ["bob-pager"]);
}

#[test]
fn the_rotation_decides_who_is_paged_across_the_dst_change() {
    // Monday 2026-03-30, the first hand-off after DST began (09:00 Oslo = 07:00 UTC):
    // bob's week ends, carol's begins.
    for (at, primary, secondary) in [
        ("2026-03-30T06:50:00Z", "bob-pager", "carol-pager"),
        ("2026-03-30T07:00:00Z", "carol-pager", "alice-pager"),
    ] {
        let t0 = ts(at);
        let c = FakeClock::new(t0);
        let n = notifier(Arc::new(MemStorage::new()), &c);
        n.ingest(vec![alert("critical", t0)]).unwrap();
        assert_eq!(receivers_at(&n, &c, t0 + 30 * S), [primary], "{at}");
        c.set_ms(t0 + 30 * S + 4 * M);
        n.tick().unwrap();
        assert_eq!(
            receivers_at(&n, &c, t0 + 30 * S + 5 * M),
            [secondary],
            "{at}"
        );
    }
    let c = FakeClock::new(ts("2026-03-30T06:50:00Z"));
    let n = notifier(Arc::new(MemStorage::new()), &c);
    let info = n.on_call("ops", ts("2026-03-30T06:50:00Z")).unwrap();
    assert_eq!(info.primary.unwrap().name, "bob");
    assert_eq!(
        info.next_handoff.as_deref(),
        Some("2026-03-30T07:00:00.000Z")
    );
    assert_eq!(info.next_primary.unwrap().name, "carol");
}

#[test]
fn an_override_from_the_api_pages_the_covering_member_and_survives_a_restart() {
    let t0 = ts("2026-03-18T13:00:00Z");
    let kv: Arc<dyn KvStore> = Arc::new(MemStorage::new());
    let c = FakeClock::new(t0);
    let n = notifier(kv.clone(), &c);
    let req = |member: &str| OverrideRequest {
        schedule: "ops".into(),
        member: member.into(),
        start: "2026-03-18T12:00:00Z".into(),
        end: "2026-03-18T18:00:00Z".into(),
        author: "alice".into(),
        comment: "dentist".into(),
    };
    assert!(n.add_oncall_override(req("mallory")).is_err());
    let o = n.add_oncall_override(req("dave")).unwrap();
    drop(n);
    let n = notifier(kv, &c);
    assert_eq!(n.oncall_overrides().list(None), vec![o]);
    n.ingest(vec![alert("critical", t0)]).unwrap();
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S), ["dave-pager"]);
    c.set_ms(t0 + 3 * M);
    n.tick().unwrap();
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S + 5 * M), ["bob-pager"]);
}

#[test]
fn repeats_after_a_hand_off_go_to_the_new_primary() {
    // Alice's week ends at 2026-03-23T08:00Z (09:00 CET); the alert starts before.
    let t0 = ts("2026-03-23T07:00:00Z");
    let c = FakeClock::new(t0);
    let n = notifier(Arc::new(MemStorage::new()), &c);
    n.ingest(vec![alert("critical", t0)]).unwrap();
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S), ["alice-pager"]);
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S + 5 * M), ["bob-pager"]);
    assert_eq!(receivers_at(&n, &c, t0 + 30 * S + 20 * M), ["lead"]);
    // From the hand-off on, the tiers resolve anew: carol, now secondary, is paged at the
    // next group flush; bob, now primary, and the lead at the first group flush after their
    // repeat interval has passed (strictly, as in Alertmanager).
    let mut got = Vec::new();
    let mut t = t0 + 30 * S + 20 * M;
    while t < t0 + 2 * H && got.len() < 3 {
        t += 30 * S;
        for r in receivers_at(&n, &c, t) {
            got.push((t - t0, r));
        }
    }
    assert_eq!(
        got,
        [
            (60 * M + 30 * S, "carol-pager".to_string()),
            (66 * M + 30 * S, "bob-pager".to_string()),
            (81 * M + 30 * S, "lead".to_string()),
        ]
    );
}
