//! The watchdog: alertd's own outgoing heartbeat. Every `watchdog.interval` it checks that its
//! pipeline is healthy — ready, every rule group evaluated recently, the collector still
//! finishing runs, the notifier's loop still turning — and only then pings `watchdog.url` (a
//! dead man's switch such as healthchecks.io, or a second alertd's `/ping/...`). A dead, hung or
//! stuck alertd therefore stops pinging, and the outside notices.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use model::Timestamp;
use tracing::{debug, warn};

use crate::daemon::App;

/// A rule group is stale when its last evaluation is older than this many intervals.
const MISSED_EVALUATIONS: i64 = 3;
/// Slack on top of every staleness bound (scheduling jitter, slow storage).
const SLACK_MS: i64 = 10_000;
/// The notifier counts as stuck when its loop has not completed a pass for this long (a pass
/// may wait for receivers up to their send timeout).
const NOTIFIER_STUCK_MS: i64 = 120_000;

/// What the watchdog looks at, taken from the running daemon at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Pulse {
    /// Readiness conditions not met yet (by name).
    pub not_ready: Vec<&'static str>,
    /// Per rule group: name, interval (ms) and last evaluation (ms).
    pub groups: Vec<(String, i64, Option<Timestamp>)>,
    /// The collector: number of targets, the latest finished run (ms) and the longest
    /// configured interval plus timeout (ms). `None` without probes and scrapes.
    pub collector: Option<(usize, Option<Timestamp>, i64)>,
    /// The notifier's last completed pass, when a notifier runs (`Some(None)`: none yet).
    pub notifier: Option<Option<Timestamp>>,
    /// Since when the store's writes fail, and the error (a full disk).
    pub store_failing: Option<(Timestamp, String)>,
}

impl Pulse {
    /// Reads the pulse of the running daemon.
    pub(crate) fn of(app: &App) -> Pulse {
        let cfg = app.config();
        let pipeline = app.pipeline();
        let collector = Some(pipeline.collector()).and_then(|c| {
            let status = c.status();
            if status.is_empty() {
                return None;
            }
            let d = &cfg.collector.defaults;
            let probes = cfg
                .collector
                .probes
                .iter()
                .map(|p| p.interval(d).as_millis_i64());
            let scrapes = cfg
                .collector
                .scrape_configs
                .iter()
                .map(|s| s.interval(d).as_millis_i64());
            let longest = probes.chain(scrapes).max().unwrap_or(0) + d.timeout.as_millis_i64();
            let newest = status.iter().filter_map(|t| t.last_run).max();
            Some((status.len(), newest, longest))
        });
        Pulse {
            not_ready: app.readiness().pending().iter().map(|c| c.name()).collect(),
            groups: pipeline
                .rule_groups()
                .into_iter()
                .map(|g| {
                    let interval_ms = (g.interval_seconds * 1000.0) as i64;
                    (g.name, interval_ms, g.last_evaluation)
                })
                .collect(),
            collector,
            notifier: Some(pipeline.notifier().last_pass_at()),
            store_failing: {
                let h = pipeline.store().health();
                h.failing_since
                    .map(|t| (t, h.last_error.unwrap_or_default()))
            },
        }
    }

    /// Why the pipeline is not healthy at `now`; empty when it is.
    pub(crate) fn problems(&self, now: Timestamp) -> Vec<String> {
        let mut out = Vec::new();
        if !self.not_ready.is_empty() {
            out.push(format!(
                "not ready: waiting for {}",
                self.not_ready.join(", ")
            ));
        }
        for (name, interval_ms, last) in &self.groups {
            let bound = MISSED_EVALUATIONS * interval_ms + SLACK_MS;
            match last {
                Some(t) if now - t <= bound => {}
                Some(t) => out.push(format!(
                    "rule group {name:?} last evaluated {}s ago (interval {}s)",
                    (now - t) / 1000,
                    interval_ms / 1000
                )),
                None => out.push(format!("rule group {name:?} not evaluated yet")),
            }
        }
        if let Some((targets, newest, longest)) = self.collector {
            let bound = MISSED_EVALUATIONS * longest + SLACK_MS;
            match newest {
                Some(t) if now - t <= bound => {}
                Some(t) => out.push(format!(
                    "collector: none of {targets} targets finished a run in the last {}s",
                    (now - t) / 1000
                )),
                None => out.push(format!("collector: none of {targets} targets ran yet")),
            }
        }
        match self.notifier {
            Some(Some(t)) if now - t > NOTIFIER_STUCK_MS => out.push(format!(
                "notifier: its loop has not completed a pass for {}s",
                (now - t) / 1000
            )),
            Some(None) => out.push("notifier: its loop has not run yet".to_string()),
            _ => {}
        }
        if let Some((since, error)) = &self.store_failing {
            out.push(format!(
                "store: writes fail since {}s ago: {error}",
                (now - since).max(0) / 1000
            ));
        }
        out
    }
}

/// Runs the watchdog for as long as the daemon runs. The configuration is re-read before every
/// ping, so a reload that adds, changes or removes `watchdog` takes effect at the next one.
pub(crate) async fn run(app: Arc<App>) {
    let client = match reqwest::Client::builder()
        .user_agent(concat!("alertd/", env!("CARGO_PKG_VERSION"), " (watchdog)"))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!("watchdog disabled: cannot build an HTTP client: {e}");
            return;
        }
    };
    loop {
        let Some(cfg) = app.config().watchdog.clone() else {
            tokio::time::sleep(StdDuration::from_secs(1)).await;
            continue;
        };
        tokio::time::sleep(cfg.interval.to_std()).await;
        let problems = Pulse::of(&app).problems(app.clock().now_ms());
        if !problems.is_empty() {
            app.metrics().record_watchdog(false, false);
            warn!(
                problems = %problems.join("; "),
                "watchdog: pipeline unhealthy, not pinging"
            );
            continue;
        }
        let url = match cfg.url.resolve() {
            Ok(u) => u,
            Err(e) => {
                app.metrics().record_watchdog(true, false);
                warn!("watchdog: {e}");
                continue;
            }
        };
        let sent = client
            .get(url.expose())
            .timeout(cfg.timeout.to_std())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match sent {
            Ok(_) => {
                app.metrics().record_watchdog(true, true);
                debug!("watchdog ping sent");
            }
            Err(e) => {
                app.metrics().record_watchdog(true, false);
                // reqwest's error names the URL, which is a secret: print only the kind.
                let why = e
                    .status()
                    .map(|s| format!("status {s}"))
                    .unwrap_or_else(|| {
                        if e.is_timeout() {
                            "timeout".into()
                        } else if e.is_connect() {
                            "connection failed".into()
                        } else {
                            "request failed".into()
                        }
                    });
                warn!("watchdog: ping failed ({why}); URL not shown: it is a secret");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_000_000_000;

    fn healthy() -> Pulse {
        Pulse {
            not_ready: vec![],
            groups: vec![("g".into(), 15_000, Some(NOW - 15_000))],
            collector: Some((3, Some(NOW - 1_000), 25_000)),
            notifier: Some(Some(NOW - 250)),
            store_failing: None,
        }
    }

    #[test]
    fn a_running_pipeline_is_healthy() {
        assert_eq!(healthy().problems(NOW), Vec::<String>::new());
        // Without probes, rules or notifier there is nothing to be stuck.
        assert!(Pulse::default().problems(NOW).is_empty());
    }

    #[test]
    fn each_stuck_stage_is_named() {
        let mut p = healthy();
        p.not_ready = vec!["first_eval_done"];
        assert_eq!(p.problems(NOW), ["not ready: waiting for first_eval_done"]);

        let mut p = healthy();
        p.groups[0].2 = Some(NOW - 3 * 15_000 - SLACK_MS);
        assert!(p.problems(NOW).is_empty(), "at the bound still healthy");
        p.groups[0].2 = Some(NOW - 3 * 15_000 - SLACK_MS - 1);
        assert_eq!(
            p.problems(NOW),
            ["rule group \"g\" last evaluated 55s ago (interval 15s)"]
        );

        let mut p = healthy();
        p.collector = Some((3, Some(NOW - 3 * 25_000 - SLACK_MS - 1), 25_000));
        assert_eq!(
            p.problems(NOW),
            ["collector: none of 3 targets finished a run in the last 85s"]
        );
        p.collector = Some((3, None, 25_000));
        assert_eq!(p.problems(NOW), ["collector: none of 3 targets ran yet"]);

        let mut p = healthy();
        p.notifier = Some(Some(NOW - NOTIFIER_STUCK_MS - 1));
        assert_eq!(
            p.problems(NOW),
            ["notifier: its loop has not completed a pass for 120s"]
        );
        p.notifier = Some(None);
        assert_eq!(p.problems(NOW), ["notifier: its loop has not run yet"]);

        let mut p = healthy();
        p.store_failing = Some((NOW - 30_000, "No space left on device".into()));
        assert_eq!(
            p.problems(NOW),
            ["store: writes fail since 30s ago: No space left on device"]
        );
    }
}
