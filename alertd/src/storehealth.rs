//! Watches whether the store's writes reach the disk, and says so when they don't.
//!
//! When the data directory fills up (or its disk fails), the store keeps samples in memory and
//! defers state writes ([`store::Store::health`]); the pipeline goes on probing, evaluating and
//! notifying. This loop makes that visible: it fires the `AlertdStoreFailing` alert through the
//! notifier (routed like any alert) while writes fail, resolves it when they work again, retries
//! the deferred writes meanwhile, and the watchdog stops pinging (see `watchdog::Pulse`).

use std::sync::Arc;
use std::time::Duration;

use model::storage::{KvBatch, KvStore};
use model::{Alert, Labels, Timestamp};
use tracing::warn;

use crate::daemon::App;

/// How often the store's health is checked and deferred writes are retried.
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The key-value namespace of the health check's own small write.
const CANARY_NAMESPACE: &str = "alertd_health";

/// The alert about the store at `now`: firing while `health` says writes fail (its end a few
/// checks ahead, renewed at every check, as Prometheus does for its alerts), resolved at `now`
/// once they work again (`None` when there is nothing to say: healthy and not failing before).
pub(crate) fn alert(
    health: &store::StoreHealth,
    failing_since_before: Option<Timestamp>,
    dir: &std::path::Path,
    now: Timestamp,
) -> Option<Alert> {
    let (starts_at, ends_at) = match (health.failing_since, failing_since_before) {
        (Some(since), _) => (since, now + 4 * CHECK_EVERY.as_millis() as i64),
        (None, Some(since)) => (since, now),
        (None, None) => return None,
    };
    let mut annotations = Labels::from_pairs([
        (
            "summary",
            format!(
                "alertd cannot write to its data directory {}",
                dir.display()
            ),
        ),
        (
            "description",
            "Samples and state are kept in memory and written when the disk takes them again; \
             a restart meanwhile loses what is only in memory. Free space in the data \
             directory's file system."
                .to_string(),
        ),
    ]);
    if let Some(e) = &health.last_error {
        annotations.set("error", e.clone());
    }
    Some(Alert {
        labels: Labels::from_pairs([
            ("alertname", "AlertdStoreFailing"),
            ("severity", "critical"),
        ]),
        annotations,
        starts_at,
        ends_at: Some(ends_at),
        generator_url: String::new(),
    })
}

/// Runs for as long as the daemon runs.
pub(crate) async fn run(app: Arc<App>) {
    let mut every = tokio::time::interval(CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing_since: Option<Timestamp> = None;
    loop {
        every.tick().await;
        let store = app.pipeline().store().clone();
        let now = app.clock().now_ms();
        let health = match tokio::task::spawn_blocking(move || {
            // A small durable write at every check: a full disk is noticed within one check
            // even when nothing else is written, and so is its end (the store writes its
            // deferred entries first). The store logs when writes start and stop failing.
            let mut canary = KvBatch::new();
            canary.put(
                CANARY_NAMESPACE,
                b"last_check".to_vec(),
                now.to_be_bytes().to_vec(),
            );
            let _ = store.write(canary);
            store.health()
        })
        .await
        {
            Ok(h) => h,
            Err(e) => {
                warn!("store health check failed: {e}");
                continue;
            }
        };
        let dir = app.pipeline().storage_dir().to_path_buf();
        if let Some(a) = alert(&health, failing_since, &dir, now) {
            if let Err(e) = app.pipeline().notifier().ingest_eventually(vec![a]) {
                warn!("raising AlertdStoreFailing failed: {e}");
            }
        }
        failing_since = health.failing_since;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_while_failing_and_resolves_once() {
        let dir = std::path::Path::new("/var/lib/alertd");
        let ok = store::StoreHealth::default();
        assert_eq!(alert(&ok, None, dir, 1_000), None);
        let failing = store::StoreHealth {
            failing_since: Some(500),
            last_error: Some("No space left on device".into()),
            write_errors: 3,
            deferred_entries: 2,
        };
        let a = alert(&failing, None, dir, 1_000).expect("fires");
        assert_eq!(a.labels.get("alertname"), Some("AlertdStoreFailing"));
        assert_eq!(a.starts_at, 500);
        assert!(a.ends_at.unwrap() > 1_000, "firing: ends in the future");
        assert_eq!(a.annotations.get("error"), Some("No space left on device"));
        assert!(a
            .annotations
            .get("summary")
            .unwrap()
            .contains("/var/lib/alertd"));
        let resolved = alert(&ok, Some(500), dir, 9_000).expect("resolves");
        assert_eq!((resolved.starts_at, resolved.ends_at), (500, Some(9_000)));
        assert_eq!(
            resolved.labels, a.labels,
            "same alert, so it resolves the firing one"
        );
    }
}
