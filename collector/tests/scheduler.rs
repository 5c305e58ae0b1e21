//! The collector's scheduler with real HTTP targets on loopback: a hanging target never delays
//! another, reloads add, change and remove targets without restarting the others.

mod common;

use std::sync::Arc;
use std::time::Duration;

use collector::config::CollectorConfig;
use collector::{Collector, FailureKind, Options, TargetKey};
use common::*;
use model::storage::{MemStorage, SeriesStore};
use model::SystemClock;

fn cfg(yaml: &str) -> CollectorConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

fn samples(store: &MemStorage, probe: &str) -> Vec<model::Sample> {
    store
        .select(
            &[
                "__name__=\"probe_success\"".parse().unwrap(),
                format!("probe=\"{probe}\"").parse().unwrap(),
            ],
            0,
            i64::MAX,
        )
        .unwrap()
        .into_iter()
        .flat_map(|s| s.samples)
        .collect()
}

#[tokio::test]
async fn hanging_target_does_not_delay_others() {
    let ok = http_server().await;
    let hang = hanging_server().await;
    let (store, c) = common::start(&format!(
        "probes:\n  - {{ name: fast, http: {{ url: 'http://{ok}/ok' }}, interval: 200ms }}\n  - {{ name: stuck, http: {{ url: 'http://{hang}/' }}, interval: 1s, timeout: 1s }}\n  - {{ name: slow, http: {{ url: 'http://{ok}/slow' }}, interval: 1s, timeout: 1s }}\n"
    ));
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let fast = samples(&store, "fast");
    assert!(
        fast.len() >= 10,
        "fast target ran only {} times",
        fast.len()
    );
    assert!(fast.iter().all(|s| s.v == 1.0));
    // Start-to-start spacing of the fast target stays at its interval.
    for w in fast.windows(2) {
        let gap = w[1].t - w[0].t;
        assert!((50..=600).contains(&gap), "gap {gap} ms");
    }
    let st = c.status();
    let stuck = st
        .iter()
        .find(|s| s.key == TargetKey::Probe("stuck".into()))
        .unwrap();
    assert_eq!(stuck.success, Some(false));
    assert_eq!(stuck.failure_kind, Some(FailureKind::Timeout));
    assert!(stuck.last_error.as_deref().unwrap().contains("timed out"));
    let slow = st
        .iter()
        .find(|s| s.key == TargetKey::Probe("slow".into()))
        .unwrap();
    assert_eq!(slow.failure_kind, Some(FailureKind::Timeout));
    assert!(samples(&store, "stuck").iter().all(|s| s.v == 0.0));
}

#[tokio::test]
async fn reconcile_adds_changes_and_removes_without_touching_others() {
    let ok = http_server().await;
    let (store, c) = common::start(&format!(
        "probes:\n  - {{ name: keep, http: {{ url: 'http://{ok}/ok' }}, interval: 200ms }}\n  - {{ name: change, http: {{ url: 'http://{ok}/ok' }}, interval: 200ms }}\n  - {{ name: drop, http: {{ url: 'http://{ok}/ok' }}, interval: 200ms }}\n"
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let keep_run = c
        .status()
        .into_iter()
        .find(|t| t.key == TargetKey::Probe("keep".into()))
        .unwrap()
        .last_run;
    assert!(keep_run.is_some());
    // An invalid reload changes nothing.
    assert!(c
        .reconcile(&cfg("probes:\n  - { name: x, http: { url: 'ftp://x' } }\n"))
        .is_err());
    assert_eq!(c.status().len(), 3);
    let s = c
        .reconcile(&cfg(&format!(
            "probes:\n  - {{ name: keep, http: {{ url: 'http://{ok}/ok' }}, interval: 200ms }}\n  - {{ name: change, http: {{ url: 'http://{ok}/500' }}, interval: 200ms }}\n  - {{ name: new, http: {{ url: 'http://{ok}/ok' }}, interval: 200ms }}\n"
        )))
        .unwrap();
    assert_eq!((s.started, s.restarted, s.stopped), (1, 1, 1));
    // The unchanged target kept its state (a restarted one would have none).
    let keep = c
        .status()
        .into_iter()
        .find(|t| t.key == TargetKey::Probe("keep".into()))
        .unwrap();
    assert!(keep.last_run >= keep_run);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let st = c.status();
    let change = st
        .iter()
        .find(|t| t.key == TargetKey::Probe("change".into()))
        .unwrap();
    assert_eq!(change.failure_kind, Some(FailureKind::Status));
    assert!(st
        .iter()
        .any(|t| t.key == TargetKey::Probe("new".into()) && t.success == Some(true)));
    assert!(samples(&store, "drop").last().unwrap().is_stale());
    // Keep ran continuously through the reload: no gap much beyond its interval.
    let keep = samples(&store, "keep");
    for w in keep.windows(2) {
        assert!(w[1].t - w[0].t <= 600, "gap {}", w[1].t - w[0].t);
    }
}

#[tokio::test]
async fn changing_an_inline_secret_restarts_its_target() {
    let ok = http_server().await;
    let store = Arc::new(MemStorage::new());
    let y = |tok: &str| {
        cfg(&format!(
            "probes:\n  - {{ name: a, http: {{ url: 'http://{ok}/ok', authorization: {{ credentials: {tok} }} }}, interval: 1s }}\n"
        ))
    };
    let c = Collector::start(&y("one"), store, Arc::new(SystemClock), Options::default()).unwrap();
    assert_eq!(c.reconcile(&y("one")).unwrap().restarted, 0);
    assert_eq!(c.reconcile(&y("two")).unwrap().restarted, 1);
}
