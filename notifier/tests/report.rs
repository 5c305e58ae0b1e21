//! The alert-fatigue report over a history written by the real notifier in virtual time
//! (FakeClock): alerts fire, are delivered to a webhook sink on loopback, acknowledged and
//! resolved, one of them to a receiver without `send_resolved`; the report's figures are the
//! hand-computed ones below.

use std::sync::Arc;

use axum::routing::post;
use model::storage::MemStorage;
use model::{Alert, Clock, FakeClock, Labels, Timestamp};
use notifier::config::NotifierConfig;
use notifier::{AckTarget, HistoryKind, Notifier, NotifierOptions, ReportParams};

const S: i64 = 1000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
/// 2026-11-20T09:00:00Z.
const T0: i64 = 1_795_132_800_000 + 9 * H;
const FAR: i64 = T0 + 1000 * H;

async fn start_sink() -> std::net::SocketAddr {
    let app = axum::Router::new().route("/{r}", post(|| async { "" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

fn alert(name: &str, severity: &str, start: Timestamp, end: Timestamp) -> Alert {
    Alert {
        labels: Labels::from_pairs([
            ("alertname", name),
            ("instance", "web1"),
            ("severity", severity),
        ]),
        annotations: Labels::empty(),
        starts_at: start,
        ends_at: Some(end),
        generator_url: String::new(),
    }
}

/// Steps the clock in 10 s steps up to `until`, ticking and delivering at each.
async fn run_to(n: &Arc<Notifier>, c: &FakeClock, until: i64) {
    let mut t = c.now_ms();
    loop {
        c.set_ms(t);
        n.tick().unwrap();
        n.deliver_due().await.unwrap();
        if t >= until {
            return;
        }
        t = (t + 10 * S).min(until);
    }
}

#[tokio::test]
async fn report_over_a_history_written_by_the_notifier_matches_hand_computed_figures() {
    let addr = start_sink().await;
    let cfg = NotifierConfig::from_yaml(&format!(
        r#"
route:
  receiver: team
  group_by: [alertname]
  group_wait: 30s
  group_interval: 1m
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
receivers:
  - name: team
    webhook_configs: [{{ url: 'http://{addr}/team', send_resolved: false }}]
  - name: oncall
    webhook_configs: [{{ url: 'http://{addr}/oncall' }}]
"#
    ))
    .unwrap();
    let c = FakeClock::new(T0);
    let n = Arc::new(
        Notifier::new(
            &cfg,
            NotifierOptions::default(),
            Arc::new(MemStorage::new()),
            Arc::new(c.clone()),
        )
        .unwrap(),
    );

    // Flappy (team, no resolved messages): paged at 09:00:30, resolves by itself at 09:02:30
    // (2 min after the page); fires again at 10:00, paged 10:00:30, resolves at 10:20:30 (20 min).
    n.ingest(vec![alert("Flappy", "warning", T0, FAR)]).unwrap();
    run_to(&n, &c, T0 + 2 * M + 30 * S - 10 * S).await;
    c.set_ms(T0 + 2 * M + 30 * S);
    n.ingest(vec![alert("Flappy", "warning", T0, T0 + 2 * M + 30 * S)])
        .unwrap();
    run_to(&n, &c, T0 + H).await;
    n.ingest(vec![alert("Flappy", "warning", T0 + H, FAR)])
        .unwrap();
    run_to(&n, &c, T0 + H + 20 * M + 30 * S - 10 * S).await;
    c.set_ms(T0 + H + 20 * M + 30 * S);
    n.ingest(vec![alert(
        "Flappy",
        "warning",
        T0 + H,
        T0 + H + 20 * M + 30 * S,
    )])
    .unwrap();

    // DiskFull (oncall, resolved messages): fires 11:00, paged 11:00:30, acknowledged 11:04:30
    // (4 min), resolves 11:30:30 (30 min after the page).
    run_to(&n, &c, T0 + 2 * H).await;
    let disk = alert("DiskFull", "critical", T0 + 2 * H, FAR);
    let fp = disk.fingerprint();
    n.ingest(vec![disk]).unwrap();
    run_to(&n, &c, T0 + 2 * H + 4 * M + 30 * S).await;
    assert_eq!(
        n.ack(&AckTarget::Fingerprints(vec![fp]), "alice", "on it")
            .unwrap(),
        [fp]
    );
    run_to(&n, &c, T0 + 2 * H + 30 * M + 20 * S).await;
    c.set_ms(T0 + 2 * H + 30 * M + 30 * S);
    n.ingest(vec![alert(
        "DiskFull",
        "critical",
        T0 + 2 * H,
        T0 + 2 * H + 30 * M + 30 * S,
    )])
    .unwrap();
    run_to(&n, &c, T0 + 3 * H).await;

    // The records as written: deliveries with per-alert times, and a resolution record for
    // each resolved episode (Flappy's are the only trace of its resolutions).
    let all = n.history_records(0).unwrap();
    let deliveries: Vec<(i64, &str, &str)> = all
        .iter()
        .filter(|h| h.kind == HistoryKind::Delivery)
        .map(|h| (h.at - T0, h.receiver.as_str(), h.status.as_str()))
        .collect();
    assert_eq!(
        deliveries,
        [
            (30 * S, "team", "firing"),
            (H + 30 * S, "team", "firing"),
            (2 * H + 30 * S, "oncall", "firing"),
            (2 * H + 30 * M + 30 * S, "oncall", "resolved"),
        ]
    );
    let resolutions: Vec<(i64, Option<i64>)> = all
        .iter()
        .filter(|h| h.kind == HistoryKind::Resolved)
        .map(|h| (h.at - T0, h.alert_times[0].ends_at.map(|e| e - T0)))
        .collect();
    assert_eq!(
        resolutions,
        [
            (2 * M + 30 * S, Some(2 * M + 30 * S)),
            (H + 20 * M + 30 * S, Some(H + 20 * M + 30 * S)),
            (2 * H + 30 * M + 30 * S, Some(2 * H + 30 * M + 30 * S)),
        ]
    );
    // The history API still lists delivery attempts only.
    assert_eq!(n.history(None).unwrap().len(), 4);

    let p = ReportParams::new(
        c.now_ms(),
        "1d".parse().unwrap(),
        "5m".parse().unwrap(),
        chrono_tz::UTC,
        100,
    )
    .unwrap();
    let r = n.fatigue_report(&p).unwrap();
    assert_eq!(r.alerts.len(), 2);
    // Both sent 2 messages; Flappy fired twice, so it comes first.
    let f = &r.alerts[0];
    assert_eq!(f.alertname, "Flappy");
    assert_eq!((f.fired, f.notifications, f.acknowledged), (2, 2, 0));
    assert_eq!((f.ack_median_seconds, f.ack_p90_seconds), (None, None));
    assert_eq!(f.resolved, 2);
    // 120 s and 1200 s: nearest-rank median 120, p90 1200.
    assert_eq!(f.resolve_median_seconds, Some(120.0));
    assert_eq!(f.resolve_p90_seconds, Some(1200.0));
    assert_eq!((f.self_resolved, f.self_resolved_share), (1, 0.5));

    let d = &r.alerts[1];
    assert_eq!(d.alertname, "DiskFull");
    assert_eq!((d.fired, d.notifications, d.acknowledged), (1, 2, 1));
    assert_eq!(d.acknowledged_share, 1.0);
    assert_eq!(d.ack_median_seconds, Some(240.0));
    assert_eq!(d.ack_p90_seconds, Some(240.0));
    assert_eq!(d.resolved, 1);
    assert_eq!(d.resolve_median_seconds, Some(1800.0));
    assert_eq!(d.self_resolved, 0);

    let recv: Vec<(&str, u64)> = r
        .receivers
        .iter()
        .map(|x| (x.receiver.as_str(), x.notifications))
        .collect();
    assert_eq!(recv, [("oncall", 2), ("team", 2)]);
    let hours: Vec<(u8, u64)> = r
        .noisiest_hours()
        .iter()
        .map(|h| (h.hour, h.notifications))
        .collect();
    assert_eq!(hours, [(11, 2), (9, 1), (10, 1)]);
    assert_eq!(r.history_retention, "1w");
    assert!(!r.window_truncated);

    // A window from 10:30 holds only DiskFull's episode: Flappy's second one started before it
    // (its resolution record inside the window does not make it a firing).
    let p = ReportParams::new(
        c.now_ms(),
        "1h30m".parse().unwrap(),
        "5m".parse().unwrap(),
        chrono_tz::UTC,
        100,
    )
    .unwrap();
    let r = n.fatigue_report(&p).unwrap();
    let names: Vec<(&str, u64)> = r
        .alerts
        .iter()
        .map(|a| (a.alertname.as_str(), a.fired))
        .collect();
    assert_eq!(names, [("DiskFull", 1)]);
}
