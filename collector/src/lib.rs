//! The collector: probes (HTTP, TLS, TCP, ICMP, DNS, gRPC, disk, PostgreSQL, MySQL), Prometheus
//! scrapes and heartbeat tracking, scheduled without drift, writing everything it learns to the
//! store as time series.
//!
//! Public API:
//! - [`config`]: the `probes`, `scrape_configs` and `heartbeats` config sections and their
//!   [`validate`](config::CollectorConfig::validate).
//! - [`Collector::start`] runs every target of a config on the current tokio runtime;
//!   [`Collector::reconcile`] applies a reloaded config (unchanged targets keep running);
//!   [`Collector::status`] tells the status page what each target's last run found.
//! - [`Heartbeats`] (reached through [`Collector::heartbeats`]) takes the pings of the daemon's
//!   `/ping/...` routes ([`heartbeat::parse_ping_path`], [`Heartbeats::ping`]; unknown names are
//!   [`heartbeat::PingError::NotFound`], answer 404) and, after
//!   [`Heartbeats::load_state`], keeps its state in the KV store across restarts.
//! - [`probe_once`] runs one probe now (for checks and tests); [`expfmt`] is the exposition
//!   format parser used by scrapes.
//!
//! Everything is written through [`model::storage::SeriesStore::append`]; time comes from the
//! injected [`model::Clock`].

use std::sync::Arc;

use model::storage::SeriesStore;
use model::{Clock, Labels};

pub mod config;
pub mod expfmt;
pub mod heartbeat;
mod probe;
mod scheduler;
mod scrape;

pub use heartbeat::Heartbeats;
pub use probe::{Failure, FailureKind};
pub use scheduler::{Options, RunCounters, RunStats, TargetKey, TargetStatus};

use config::CollectorConfig;
use scheduler::{Scheduler, Spec};

/// Why the collector refused a configuration.
#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The configuration has semantic errors (all of them are listed).
    #[error("invalid collector configuration: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<config::ConfigError>),
    /// The heartbeats' saved state could not be read.
    #[error("heartbeat state: {0}")]
    State(String),
    /// A target could not be prepared (e.g. an unreadable `ca_file`).
    #[error("{target}: {message}")]
    Target {
        /// The target.
        target: TargetKey,
        /// What went wrong.
        message: String,
    },
}

/// What [`Collector::reconcile`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReconcileSummary {
    /// Targets started.
    pub started: usize,
    /// Targets whose config changed, restarted.
    pub restarted: usize,
    /// Targets removed (their series end with staleness markers).
    pub stopped: usize,
}

/// The running collector. Dropping it stops every target.
pub struct Collector {
    scheduler: Scheduler,
    heartbeats: Heartbeats,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("targets", &self.scheduler.len())
            .finish_non_exhaustive()
    }
}

/// Inline secret values (which `Debug` hides) so that changing one restarts its target.
fn inline_secrets(
    authorization: Option<&config::Authorization>,
    basic: Option<&config::BasicAuth>,
    dbs: [&Option<config::DbProbeConfig>; 2],
) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for s in [
        authorization.and_then(|a| a.credentials.as_ref()),
        basic.and_then(|b| b.password.as_ref()),
    ] {
        if let Some(model::secret::SecretSource::Inline(v)) = s {
            parts.push(v.expose());
        }
    }
    for db in dbs.into_iter().flatten() {
        if let Some(d) = &db.dsn {
            parts.push(d.expose());
        }
    }
    format!("{:x}", scheduler::fingerprint(&parts.join("\u{0}")))
}

fn build_specs(cfg: &CollectorConfig, clock: &Arc<dyn Clock>) -> Result<Vec<Spec>, CollectorError> {
    cfg.validate().map_err(CollectorError::Invalid)?;
    let d = &cfg.defaults;
    let mut specs = Vec::new();
    for p in &cfg.probes {
        let key = TargetKey::Probe(p.name.clone());
        let task =
            probe::build_probe(p, clock.clone()).map_err(|message| CollectorError::Target {
                target: key.clone(),
                message,
            })?;
        specs.push(Spec {
            fingerprint: scheduler::fingerprint(&format!(
                "{p:?}|{:?}|{:?}|{}",
                p.interval(d),
                p.timeout(d),
                inline_secrets(
                    p.http.as_ref().and_then(|h| h.authorization.as_ref()),
                    p.http.as_ref().and_then(|h| h.basic_auth.as_ref()),
                    [&p.postgres, &p.mysql],
                )
            )),
            interval: p.interval(d).to_std(),
            timeout: p.timeout(d).to_std(),
            task: Arc::new(task),
            key,
        });
    }
    for s in &cfg.scrape_configs {
        for sc in &s.static_configs {
            for t in &sc.targets {
                let key = TargetKey::Scrape {
                    job: s.job_name.clone(),
                    instance: t.clone(),
                };
                let task = scrape::ScrapeTarget::new(s, t, &sc.labels, clock.clone()).map_err(
                    |message| CollectorError::Target {
                        target: key.clone(),
                        message,
                    },
                )?;
                let mut job = s.clone();
                job.static_configs.clear();
                specs.push(Spec {
                    fingerprint: scheduler::fingerprint(&format!(
                        "{job:?}|{:?}|{:?}|{:?}|{}",
                        sc.labels,
                        s.interval(d),
                        s.timeout(d),
                        inline_secrets(
                            s.authorization.as_ref(),
                            s.basic_auth.as_ref(),
                            [&None, &None]
                        )
                    )),
                    interval: s.interval(d).to_std(),
                    timeout: s.timeout(d).to_std(),
                    task: Arc::new(probe::Task::Scrape(task)),
                    key,
                });
            }
        }
    }
    Ok(specs)
}

/// A checked collector config with its targets built ([`Collector::prepare`]).
pub struct Prepared {
    specs: Vec<Spec>,
    heartbeats: Vec<config::HeartbeatConfig>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("targets", &self.specs.len())
            .field("heartbeats", &self.heartbeats.len())
            .finish()
    }
}

impl Collector {
    /// Validates `cfg` and starts every target on the current tokio runtime (must be called
    /// inside one). Results are appended to `store`.
    pub fn start(
        cfg: &CollectorConfig,
        store: Arc<dyn SeriesStore>,
        clock: Arc<dyn Clock>,
        opts: Options,
    ) -> Result<Self, CollectorError> {
        Self::start_with_state(cfg, store, None, clock, opts)
    }

    /// Like [`Collector::start`], but first restores the heartbeats' state from `state` (and
    /// keeps it there on every ping, see [`Heartbeats::load_state`]), before anything is
    /// exported, so a restart neither forgets a failed run nor restarts a first deadline.
    pub fn start_with_state(
        cfg: &CollectorConfig,
        store: Arc<dyn SeriesStore>,
        state: Option<Arc<dyn model::storage::KvStore>>,
        clock: Arc<dyn Clock>,
        opts: Options,
    ) -> Result<Self, CollectorError> {
        let specs = build_specs(cfg, &clock)?;
        let heartbeats = Heartbeats::new(&cfg.heartbeats, store.clone(), clock.clone())
            .map_err(CollectorError::Invalid)?;
        if let Some(kv) = state {
            heartbeats
                .load_state(kv)
                .map_err(|e| CollectorError::State(e.to_string()))?;
        }
        let scheduler = Scheduler::new(store, clock.clone(), opts);
        scheduler.reconcile(specs);
        heartbeats.spawn_exporter();
        Ok(Collector {
            scheduler,
            heartbeats,
            clock,
        })
    }

    /// Applies a reloaded config: only fully valid configs are applied (on error nothing
    /// changes). Unchanged targets keep running on their schedule.
    pub fn reconcile(&self, cfg: &CollectorConfig) -> Result<ReconcileSummary, CollectorError> {
        let prepared = self.prepare(cfg)?;
        Ok(self.apply(prepared))
    }

    /// Checks `cfg` and builds its targets without changing what runs: the fallible half of
    /// [`Collector::reconcile`], so a daemon can check every stage before applying any.
    pub fn prepare(&self, cfg: &CollectorConfig) -> Result<Prepared, CollectorError> {
        let specs = build_specs(cfg, &self.clock)?;
        heartbeat::check(&cfg.heartbeats).map_err(CollectorError::Invalid)?;
        Ok(Prepared {
            specs,
            heartbeats: cfg.heartbeats.clone(),
        })
    }

    /// Applies what [`Collector::prepare`] built.
    pub fn apply(&self, prepared: Prepared) -> ReconcileSummary {
        let Prepared { specs, heartbeats } = prepared;
        if let Err(errs) = self.heartbeats.reconcile(&heartbeats) {
            // Checked by `prepare`; kept running as they were.
            for e in errs {
                tracing::error!(error = %e, "collector: heartbeat not applied");
            }
        }
        let (started, restarted, stopped) = self.scheduler.reconcile(specs);
        tracing::info!(
            started,
            restarted,
            stopped,
            "collector: configuration applied"
        );
        ReconcileSummary {
            started,
            restarted,
            stopped,
        }
    }

    /// The last result of every scheduled target, sorted by key.
    pub fn status(&self) -> Vec<TargetStatus> {
        self.scheduler.status()
    }

    /// Run counters by kind of target (probe kinds and `scrape`), for alertd's own metrics.
    pub fn run_counters(&self) -> RunCounters {
        self.scheduler.counters().clone()
    }

    /// The heartbeat tracker, for the daemon's `/ping/...` routes.
    pub fn heartbeats(&self) -> &Heartbeats {
        &self.heartbeats
    }

    /// Stops every target and waits (at most `timeout`) until every finished run's samples are
    /// in the store, so that a graceful shutdown loses none. A run in progress is abandoned.
    /// Returns whether everything was written in time.
    pub async fn shutdown(&self, timeout: std::time::Duration) -> bool {
        self.scheduler.shutdown(timeout).await
    }
}

/// What one run of a probe found.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// The series and their values, fully labelled.
    pub series: Vec<(Labels, f64)>,
    /// Why the run failed, if it did.
    pub failure: Option<Failure>,
}

impl ProbeReport {
    /// The value of the series named `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series
            .iter()
            .find(|(l, _)| {
                l.get("__name__") == Some(name) && labels.iter().all(|(k, v)| l.get(k) == Some(*v))
            })
            .map(|(_, v)| *v)
    }
}

/// Runs one probe once, now, with its timeout (for `alertctl`-style checks and tests). The
/// config is validated first.
pub async fn probe_once(
    p: &config::ProbeConfig,
    defaults: &config::Defaults,
    clock: Arc<dyn Clock>,
) -> Result<ProbeReport, CollectorError> {
    let cfg = CollectorConfig {
        probes: vec![p.clone()],
        defaults: *defaults,
        ..CollectorConfig::default()
    };
    cfg.validate().map_err(CollectorError::Invalid)?;
    let key = TargetKey::Probe(p.name.clone());
    let task = probe::build_probe(p, clock).map_err(|message| CollectorError::Target {
        target: key,
        message,
    })?;
    let timeout = p.timeout(defaults).to_std();
    let started = std::time::Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    let backstop = deadline + std::time::Duration::from_millis(100);
    let out = match tokio::time::timeout_at(backstop, task.run(deadline)).await {
        Ok(o) => o,
        Err(_) => task.failed(
            started.elapsed().as_secs_f64(),
            Failure::new(FailureKind::Timeout, "timed out"),
        ),
    };
    Ok(ProbeReport {
        series: out.series,
        failure: out.failure,
    })
}
