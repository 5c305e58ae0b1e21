//! Wiring: the running [`App`] (current config, metrics, readiness, the [`Pipeline`]), the one
//! reload code path shared by SIGHUP and `POST /-/reload`, and [`run`], which serves the HTTP
//! API until SIGTERM/SIGINT and then shuts down gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration as StdDuration;

use model::Clock;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{self, Config, LoadError, StorageConfig};
use crate::metrics::Metrics;
use crate::readiness::Readiness;

/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
pub(crate) const SHUTDOWN_GRACE: StdDuration = StdDuration::from_secs(30);

/// Why the daemon could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    /// The configuration could not be loaded at startup.
    #[error("{0}")]
    Config(#[from] LoadError),
    /// The pipeline could not be started.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address from `api.listen`.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    /// The HTTP server failed.
    #[error("HTTP server error: {0}")]
    Serve(#[source] std::io::Error),
    /// `api.tls_config` could not be loaded.
    #[error("api.tls_config: {0}")]
    Tls(String),
}

/// A failure of the pipeline's lifecycle (opening the store, starting the collector, flushing).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The notifier could not start (a receiver could not be built, or its state not loaded).
    #[error("notifier: {0}")]
    Notifier(#[from] notifier::NotifierError),
    /// The rules could not be loaded or their saved state restored.
    #[error("rules: {0}")]
    Rules(#[from] evaluator::ReloadError),
    /// The collector refused its configuration (e.g. an unreadable `ca_file`).
    #[error("collector: {0}")]
    Collector(#[from] collector::CollectorError),
    /// A `remote_write` queue could not start (e.g. an unreadable `ca_file`).
    #[error("{0}")]
    Remote(#[from] remote::RemoteError),
    /// The store could not be opened or flushed.
    #[error("store at {path}: {source}")]
    Store {
        /// `storage.path`.
        path: PathBuf,
        /// Why.
        #[source]
        source: store::StoreError,
    },
}

/// The receiver (without integrations) the notifier routes to when none is configured.
pub(crate) const LOG_RECEIVER: &str = "log";

/// The notifier configuration the daemon runs: `cfg`, or without receivers one routing
/// everything to [`LOG_RECEIVER`].
pub(crate) fn effective_notifier_config(
    cfg: &notifier::config::NotifierConfig,
) -> std::borrow::Cow<'_, notifier::config::NotifierConfig> {
    if !cfg.receivers.is_empty() {
        return std::borrow::Cow::Borrowed(cfg);
    }
    let mut c = cfg.clone();
    c.receivers = vec![notifier::config::Receiver {
        name: LOG_RECEIVER.into(),
        ..Default::default()
    }];
    c.route.receiver = Some(LOG_RECEIVER.into());
    std::borrow::Cow::Owned(c)
}

/// How often retention runs.
const RETENTION_EVERY: StdDuration = StdDuration::from_secs(3600);

/// How often the notifier's loop looks for due work when no alert arrives.
const NOTIFIER_POLL: StdDuration = StdDuration::from_millis(250);

/// The pipeline the daemon runs, built in one step from a validated config by
/// [`Pipeline::start`]: the store, the notifier, the evaluator (rule files) reading from the
/// store and sending its alerts to the notifier, and the collector (probes, scrapes,
/// heartbeats) writing into the store. [`Pipeline::reload`] applies a new config to the same
/// stages: every stage checks its part first, and only when all accept is any of it applied.
#[derive(Debug)]
pub struct Pipeline {
    storage_dir: PathBuf,
    store: store::Store,
    notifier: Arc<notifier::Notifier>,
    evaluator: Arc<std::sync::Mutex<evaluator::Manager>>,
    collector: collector::Collector,
    /// No receivers are configured: alerts are logged (the notifier runs with
    /// [`LOG_RECEIVER`], which sends nothing). Follows reloads.
    log_only: Arc<AtomicBool>,
    /// `remote_write:` queues.
    remote: Arc<crate::remotewrite::RemoteWriters>,
    notifier_task: std::sync::Mutex<Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>>,
}

/// The evaluator's settings from `global`.
fn eval_context(config: &Config, store: &store::Store) -> evaluator::EvalContext {
    let mut ctx = evaluator::EvalContext::new(Arc::new(store.clone()));
    ctx.kv = Some(Arc::new(store.clone()));
    ctx.external_labels = model::Labels::from_pairs(config.global.external_labels.clone());
    ctx.external_url = config.external_url();
    ctx.default_interval_ms = config.global.evaluation_interval.as_millis_i64();
    // Rule groups with a `source:` query it over HTTP.
    ctx.sources = Some(remote::source::builder());
    ctx
}

/// Opens the store from `storage` (recovering checkpointed heads and replaying its log).
fn open_store(storage: &StorageConfig) -> Result<store::Store, PipelineError> {
    let opts = store::StoreOptions {
        path: storage.path.clone(),
        engine: storage.engine,
        retention_raw: storage.retention,
        retention_rollups: storage.rollup_retention,
        checkpoint_interval: storage.checkpoint_interval,
        wal_fsync_interval: storage.wal_fsync_interval,
    };
    store::Store::open(opts).map_err(|source| PipelineError::Store {
        path: storage.path.clone(),
        source,
    })
}

impl Pipeline {
    /// Builds and starts every stage from `config` (rule files relative to `rules_base`) on
    /// the current tokio runtime, in order: the store (readiness `StoreOpen`), the notifier over
    /// the store's state (silences, acks, notification log, queue and escalation timers survive
    /// restarts), the evaluator with its alert state restored (`RulesLoaded`; `FirstEvalDone`
    /// is marked by [`run`] once every group has been evaluated), and last the collector.
    /// Without receivers the notifier still runs (the Alertmanager API, silences and acks need
    /// it) with one receiver, [`LOG_RECEIVER`], that has no integrations: alerts are logged
    /// instead of sent.
    pub fn start(
        config: &Config,
        rules_base: Option<&Path>,
        clock: Arc<dyn Clock>,
        readiness: &Readiness,
    ) -> Result<Self, PipelineError> {
        let store = open_store(&config.storage)?;
        readiness.set(crate::readiness::Condition::StoreOpen);
        let remote = Arc::new(crate::remotewrite::RemoteWriters::start(
            store.clone(),
            &config.remote_write,
            model::Labels::from_pairs(config.global.external_labels.clone()),
        )?);

        let kv: Arc<dyn model::storage::KvStore> = Arc::new(store.clone());
        let notifier = Arc::new(notifier::Notifier::new(
            &effective_notifier_config(&config.notifier),
            notifier::NotifierOptions::default(),
            kv.clone(),
            clock.clone(),
        )?);

        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<model::Alert>>(1024);
        let mut evaluator =
            evaluator::Manager::new(eval_context(config, &store), clock.clone(), tx);
        let rules = evaluator::RuleSet::load_with_source(
            &config.rule_files,
            rules_base,
            config.rule_source.as_ref(),
        )
        .map_err(evaluator::ReloadError::Rules)?;
        evaluator
            .apply(rules)
            .map_err(evaluator::ReloadError::Storage)?;
        readiness.set(crate::readiness::Condition::RulesLoaded);

        // The evaluator's alerts pass a logger on their way to the notifier, which logs them
        // while no receiver is configured.
        let log_only = Arc::new(AtomicBool::new(config.notifier.receivers.is_empty()));
        let (fwd_tx, fwd_rx) = tokio::sync::mpsc::channel::<Vec<model::Alert>>(1);
        tokio::spawn(forward_alerts(rx, fwd_tx, log_only.clone(), clock.clone()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(notifier.clone().run(Some(fwd_rx), stopped, NOTIFIER_POLL));

        // Heartbeat state (last success, failures, first-configured time) survives restarts.
        let sink: Arc<dyn model::storage::SeriesStore> = Arc::new(store.clone());
        let collector = collector::Collector::start_with_state(
            &config.collector,
            sink,
            Some(kv),
            clock,
            collector::Options::default(),
        )?;
        Ok(Pipeline {
            storage_dir: config.storage.path.clone(),
            store,
            notifier,
            evaluator: Arc::new(std::sync::Mutex::new(evaluator)),
            collector,
            log_only,
            remote,
            notifier_task: std::sync::Mutex::new(Some((stop, task))),
        })
    }

    /// Applies `config` to the running stages: routes, receivers, templates, inhibit rules, time
    /// intervals and escalations (the notifier keeps its alerts, notification log, silences,
    /// acks, queue and escalation timers, see [`notifier::Notifier::apply`]), rule files and
    /// `global`'s evaluation settings (alert state of unchanged rules is kept), and targets
    /// (unchanged ones keep their schedule). Every stage first checks and builds its part;
    /// when any refuses, nothing is applied.
    pub fn reload(&self, config: &Config, rules_base: Option<&Path>) -> Result<(), ReloadError> {
        let rules = evaluator::RuleSet::load_with_source(
            &config.rule_files,
            rules_base,
            config.rule_source.as_ref(),
        )
        .map_err(evaluator::ReloadError::Rules)?;
        let routing = self
            .notifier
            .prepare(&effective_notifier_config(&config.notifier))?;
        let targets = self.collector.prepare(&config.collector)?;
        for c in &config.remote_write {
            remote::check(c)?;
        }
        for g in &rules.groups {
            if let Some(s) = &g.source {
                remote::source::check(s)?;
            }
        }
        {
            let mut m = self
                .evaluator
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let old = m.set_context(eval_context(config, &self.store));
            if let Err(e) = m.apply(rules) {
                // Only restoring saved alert state can fail here; the running rules stay.
                m.set_context(old);
                return Err(evaluator::ReloadError::Storage(e).into());
            }
        }
        self.notifier.apply(routing);
        self.log_only
            .store(config.notifier.receivers.is_empty(), Ordering::Relaxed);
        self.collector.apply(targets);
        // Checked above: a failure here (a file changed in between) keeps the running queues.
        self.remote.apply(
            &config.remote_write,
            model::Labels::from_pairs(config.global.external_labels.clone()),
        )?;
        Ok(())
    }

    /// The notifier.
    pub(crate) fn notifier(&self) -> &Arc<notifier::Notifier> {
        &self.notifier
    }

    /// Stops the notifier's loop (it finishes the delivery in flight) and waits for it.
    pub(crate) async fn stop_notifier(&self) {
        let task = self
            .notifier_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some((stop, handle)) = task {
            let _ = stop.send(true);
            if tokio::time::timeout(StdDuration::from_secs(10), handle)
                .await
                .is_err()
            {
                warn!("notifier did not stop within 10s");
            }
        }
    }

    /// Whether every rule group has been evaluated at least once (true without groups).
    pub(crate) fn rules_evaluated(&self) -> bool {
        self.rule_groups()
            .iter()
            .all(|g| g.last_evaluation.is_some())
    }

    /// The rule manager (shared with the metrics).
    pub(crate) fn evaluator(&self) -> &Arc<std::sync::Mutex<evaluator::Manager>> {
        &self.evaluator
    }

    /// A snapshot of every rule group, rule and alert, for `/api/v1/rules` and
    /// `/api/v1/alerts`.
    pub(crate) fn rule_groups(&self) -> Vec<evaluator::GroupStatus> {
        self.evaluator
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status()
    }

    /// The running collector.
    pub fn collector(&self) -> &collector::Collector {
        &self.collector
    }

    /// The storage directory in use.
    pub(crate) fn storage_dir(&self) -> &Path {
        &self.storage_dir
    }

    /// The store.
    pub fn store(&self) -> &store::Store {
        &self.store
    }

    /// The `remote_write:` queues.
    pub(crate) fn remote(&self) -> &Arc<crate::remotewrite::RemoteWriters> {
        &self.remote
    }

    /// Applies retention now (called periodically by [`run`]); returns what was removed.
    pub(crate) fn apply_retention(
        &self,
        now_ms: i64,
    ) -> Result<store::RetentionReport, PipelineError> {
        self.store
            .apply_retention(now_ms)
            .map_err(|source| PipelineError::Store {
                path: self.storage_dir.clone(),
                source,
            })
    }

    /// Called once at shutdown, after the HTTP server stopped: persists the store's in-memory
    /// heads so that nothing ingested is lost.
    pub fn flush(&self) -> Result<(), PipelineError> {
        self.remote.stop();
        self.store.close().map_err(|source| PipelineError::Store {
            path: self.storage_dir.clone(),
            source,
        })
    }
}

/// Passes the evaluator's alerts on to the notifier, logging each while `log_only` holds.
async fn forward_alerts(
    mut rx: tokio::sync::mpsc::Receiver<Vec<model::Alert>>,
    tx: tokio::sync::mpsc::Sender<Vec<model::Alert>>,
    log_only: Arc<AtomicBool>,
    clock: Arc<dyn Clock>,
) {
    while let Some(alerts) = rx.recv().await {
        if log_only.load(Ordering::Relaxed) {
            let now = clock.now_ms();
            for a in &alerts {
                let state = if a.is_resolved_at(now) {
                    "resolved"
                } else {
                    "firing"
                };
                info!(alert = %a.labels, state, "alert (no receivers configured)");
            }
        }
        if tx.send(alerts).await.is_err() {
            // The notifier stopped (shutdown).
            return;
        }
    }
}

/// Why a reload was refused; the running configuration stays in force.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new file is unreadable or invalid.
    #[error("{0}")]
    Load(#[from] LoadError),
    /// The rule files could not be applied (the running rules stay).
    #[error("{0}")]
    Rules(#[from] evaluator::ReloadError),
    /// The notifier refused the new sections (a receiver or template could not be built).
    #[error("{0}")]
    Notifier(#[from] notifier::NotifierError),
    /// The collector could not apply the new targets (nothing was changed).
    #[error("{0}")]
    Collector(#[from] collector::CollectorError),
    /// A `remote_write` queue could not start (the running queues were started again).
    #[error("{0}")]
    Remote(#[from] remote::RemoteError),
    /// A rule group's `source:` client could not be made (a secret or CA file unreadable).
    #[error("{0}")]
    Source(#[from] evaluator::SourceError),
    /// The new file changes a setting that only a restart can change.
    #[error("{file}: `{key}` cannot change on reload (running: {old}, new: {new}); restart alertd to apply it")]
    NeedsRestart {
        /// The configuration file.
        file: String,
        /// The key.
        key: &'static str,
        /// The running value.
        old: String,
        /// The value in the file.
        new: String,
    },
}

/// The running daemon's shared state.
#[derive(Debug)]
pub struct App {
    config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    reload_lock: tokio::sync::Mutex<()>,
    metrics: Metrics,
    readiness: Arc<Readiness>,
    clock: Arc<dyn Clock>,
    started_at: model::Timestamp,
    pipeline: Pipeline,
    pings: Arc<crate::ratelimit::PingGuard>,
    api_alerts: crate::api::limits::ApiAlerts,
}

impl App {
    /// A daemon state around an already loaded and validated `config`.
    pub fn new(
        config_path: PathBuf,
        config: Config,
        pipeline: Pipeline,
        readiness: Arc<Readiness>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut metrics = Metrics::new(env!("CARGO_PKG_VERSION"));
        metrics.register_store(pipeline.store().clone());
        metrics.register_pipeline(&pipeline);
        metrics.record_reload(true, clock.now_ms());
        let pings = Arc::new(crate::ratelimit::PingGuard::new(
            &config.api.ping_rate_limit,
        ));
        metrics.register_ping_limits(pings.clone());
        App {
            config_path,
            config: RwLock::new(Arc::new(config)),
            reload_lock: tokio::sync::Mutex::new(()),
            metrics,
            readiness,
            started_at: clock.now_ms(),
            clock,
            pipeline,
            pings,
            api_alerts: Default::default(),
        }
    }

    /// The active alerts received through the API (`api.limits.api_alerts`).
    pub(crate) fn api_alerts(&self) -> &crate::api::limits::ApiAlerts {
        &self.api_alerts
    }

    /// The per-client rate limit of heartbeat pings.
    pub(crate) fn pings(&self) -> &crate::ratelimit::PingGuard {
        &self.pings
    }

    /// The clock the daemon runs on.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// When the daemon started (ms).
    pub(crate) fn started_at(&self) -> model::Timestamp {
        self.started_at
    }

    /// The configuration in force.
    pub(crate) fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The configuration file's path.
    #[cfg(test)]
    pub(crate) fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// The metrics.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The readiness conditions.
    pub(crate) fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Re-reads the configuration file and applies it only if it is fully valid; otherwise the
    /// running configuration stays and the error is logged and returned. SIGHUP and
    /// `POST /-/reload` both come here; concurrent reloads run one after the other.
    pub(crate) async fn reload(&self) -> Result<(), ReloadError> {
        let _guard = self.reload_lock.lock().await;
        let result = self.try_reload();
        match &result {
            Ok(()) => {
                self.metrics.record_reload(true, self.clock.now_ms());
                info!(file = %self.config_path.display(), "configuration reloaded");
            }
            Err(e) => {
                self.metrics.record_reload(false, self.clock.now_ms());
                log_reload_error(e);
            }
        }
        result
    }

    fn try_reload(&self) -> Result<(), ReloadError> {
        let new = config::load_file(&self.config_path)?;
        let old = self.config();
        let file = self.config_path.display().to_string();
        let restart = |key: &'static str, old: String, new: String| ReloadError::NeedsRestart {
            file: file.clone(),
            key,
            old,
            new,
        };
        if new.api.listen != old.api.listen {
            return Err(restart(
                "api.listen",
                old.api.listen.to_string(),
                new.api.listen.to_string(),
            ));
        }
        if new.api.tls != old.api.tls {
            let show = |t: &Option<crate::config::ServerTls>| {
                t.as_ref()
                    .map_or("off".to_string(), |t| t.cert_file.display().to_string())
            };
            return Err(restart(
                "api.tls_config",
                show(&old.api.tls),
                show(&new.api.tls),
            ));
        }
        if new.api.max_body_bytes != old.api.max_body_bytes {
            return Err(restart(
                "api.max_body_bytes",
                old.api.max_body_bytes.to_string(),
                new.api.max_body_bytes.to_string(),
            ));
        }
        if new.api.connections != old.api.connections {
            let show = |c: &crate::config::ConnectionLimits| {
                format!(
                    "max {}, reserved_fds {}, header_read_timeout {}, idle_timeout {}",
                    c.max, c.reserved_fds, c.header_read_timeout, c.idle_timeout
                )
            };
            return Err(restart(
                "api.connections",
                show(&old.api.connections),
                show(&new.api.connections),
            ));
        }
        if new.storage.path != old.storage.path {
            return Err(restart(
                "storage.path",
                old.storage.path.display().to_string(),
                new.storage.path.display().to_string(),
            ));
        }
        if new.storage.engine != old.storage.engine {
            return Err(restart(
                "storage.engine",
                old.storage.engine.to_string(),
                new.storage.engine.to_string(),
            ));
        }
        // The store takes these when it opens; a reload must not pretend to apply them.
        if new.storage != old.storage {
            return Err(restart(
                "storage",
                format!("{:?}", old.storage),
                format!("{:?}", new.storage),
            ));
        }
        self.pipeline
            .reload(&new, config::rules_base(&self.config_path))?;
        self.pings.configure(&new.api.ping_rate_limit);
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(new);
        Ok(())
    }
}

fn log_reload_error(e: &ReloadError) {
    match e {
        ReloadError::Load(LoadError::Invalid(errs)) => {
            for err in &errs.0 {
                error!("reload rejected, keeping the running configuration: {err}");
            }
        }
        other => error!("reload rejected, keeping the running configuration: {other}"),
    }
}

/// Logs a startup configuration error, one line per problem.
pub(crate) fn log_load_error(e: &LoadError) {
    match e {
        LoadError::Invalid(errs) => {
            for err in &errs.0 {
                error!("invalid configuration: {err}");
            }
        }
        other => error!("{other}"),
    }
}

/// Loads `config_path`, starts the pipeline, serves the HTTP API on `api.listen` and handles
/// signals: SIGHUP reloads, SIGTERM/SIGINT stop accepting connections, let in-flight requests
/// finish (at most [`SHUTDOWN_GRACE`]), flush the pipeline and return.
pub(crate) async fn run(config_path: PathBuf, clock: Arc<dyn Clock>) -> Result<(), DaemonError> {
    // Installed first so that an early SIGHUP never takes the default action (terminate).
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;

    let config = config::load_file(&config_path)?;
    // Bound before anything runs, so a taken port fails the start before the store is opened.
    let listen = config.api.listen;
    let max_body = config.api.max_body_bytes;
    let connections = config.api.connections;
    let tls = match &config.api.tls {
        Some(t) => Some(
            crate::config::tls::server_config(&t.cert_file, &t.key_file)
                .map_err(DaemonError::Tls)?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| DaemonError::Bind {
            addr: listen,
            source,
        })?;
    let local = listener.local_addr().map_err(DaemonError::Serve)?;
    let readiness = Arc::new(Readiness::new());
    // The collector starts last, right before the server runs: a probe of alertd's own API
    // (the quickstart has one) connects to the bound listener and is answered as soon as the
    // server starts.
    let pipeline = Pipeline::start(
        &config,
        config::rules_base(&config_path),
        clock.clone(),
        &readiness,
    )?;
    let app = Arc::new(App::new(
        config_path.clone(),
        config,
        pipeline,
        readiness,
        clock,
    ));
    info!(
        version = env!("CARGO_PKG_VERSION"),
        config = %config_path.display(),
        listen = %local,
        storage = %app.pipeline().storage_dir().display(),
        "alertd started"
    );
    {
        let c = app.config();
        if c.external_url_needed() {
            warn!(
                listen = %local,
                external_url = %c.external_url(),
                "api.listen is not a loopback address and global.external_url is not set: links \
                 in notifications use the listen address, which may not open from elsewhere; \
                 set global.external_url to the URL people reach alertd at"
            );
        }
    }

    let ready_app = app.clone();
    tokio::spawn(async move {
        while !ready_app.pipeline().rules_evaluated() {
            tokio::time::sleep(StdDuration::from_millis(100)).await;
        }
        ready_app
            .readiness()
            .set(crate::readiness::Condition::FirstEvalDone);
    });

    let watchdog = tokio::spawn(crate::watchdog::run(app.clone()));
    let store_health = tokio::spawn(crate::storehealth::run(app.clone()));

    let retention_app = app.clone();
    let retention = tokio::spawn(async move {
        let mut every = tokio::time::interval(RETENTION_EVERY);
        loop {
            every.tick().await;
            let app = retention_app.clone();
            let now = app.clock.now_ms();
            match tokio::task::spawn_blocking(move || app.pipeline().apply_retention(now)).await {
                Ok(Ok(r)) => info!(
                    chunks = r.chunks_deleted,
                    rollup_blocks = r.rollup_blocks_deleted,
                    series = r.series_dropped,
                    "retention applied"
                ),
                Ok(Err(e)) => error!("retention failed: {e}"),
                Err(e) => error!("retention task failed: {e}"),
            }
        }
    });

    // The ping limiter's table forgets clients whose bucket has refilled.
    let housekeeping_app = app.clone();
    let housekeeping = tokio::spawn(async move {
        let mut every = tokio::time::interval(crate::ratelimit::HOUSEKEEPING_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            housekeeping_app.pings().housekeep();
        }
    });

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let signal_app = app.clone();
    let signals = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = hup.recv() => {
                    info!("SIGHUP received, reloading configuration");
                    let _ = signal_app.reload().await;
                }
                _ = term.recv() => {
                    info!("SIGTERM received, shutting down");
                    break;
                }
                _ = int.recv() => {
                    info!("SIGINT received, shutting down");
                    break;
                }
            }
        }
        let _ = stop_tx.send(true);
    });

    let router = crate::http::router(app.clone(), max_body);
    let mut graceful_rx = stop_rx.clone();
    let graceful = async move {
        let _ = graceful_rx.wait_for(|s| *s).await;
    };
    // The server hands the peer's address to the handlers (`ConnectInfo<SocketAddr>`), which
    // the ping rate limit is keyed by.
    let server = crate::server::serve(listener, tls, router, connections, graceful);
    let deadline = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        r = server => r.map_err(DaemonError::Serve)?,
        () = deadline => warn!(
            grace = ?SHUTDOWN_GRACE,
            "in-flight requests did not finish in time, stopping anyway"
        ),
    }
    signals.abort();
    retention.abort();
    housekeeping.abort();
    watchdog.abort();
    store_health.abort();
    if !app
        .pipeline()
        .collector()
        .shutdown(StdDuration::from_secs(10))
        .await
    {
        warn!("the collector's last samples were not written within 10s");
    }
    app.pipeline().stop_notifier().await;
    app.pipeline().flush()?;
    info!("alertd stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::FakeClock;

    fn app_with(dir: &Path, yaml: &str, clock: FakeClock) -> App {
        let path = dir.join("alertd.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config = config::load_file(&path).unwrap();
        let readiness = Arc::new(Readiness::new());
        let mut running = config.clone();
        running.storage.path = dir.join("data");
        let clock: Arc<dyn Clock> = Arc::new(clock);
        let pipeline = Pipeline::start(&running, None, clock.clone(), &readiness).unwrap();
        App::new(path, config, pipeline, readiness, clock)
    }

    fn gauges(app: &App) -> (String, String) {
        let text = app.metrics().encode().unwrap();
        let get = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")).map(str::to_string))
                .unwrap_or_default()
        };
        (
            get("alertd_config_last_reload_successful"),
            get("alertd_config_last_reload_success_timestamp_seconds"),
        )
    }

    #[tokio::test]
    async fn reload_applies_only_valid_config_and_stamps_with_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let clock = FakeClock::new(1_000_000);
        let app = app_with(
            dir.path(),
            "global:\n  scrape_interval: 30s\n",
            clock.clone(),
        );
        assert_eq!(gauges(&app), ("1".into(), "1000.0".into()));
        assert!(dir.path().join("data").is_dir());

        clock.advance_ms(5_000);
        std::fs::write(app.config_path(), "global:\n  scrape_interval: soon\n").unwrap();
        let err = app.reload().await.unwrap_err().to_string();
        assert!(err.ends_with("alertd.yaml:2:20: `global.scrape_interval`: not a valid duration string: \"soon\" (expected e.g. 30s, 5m, 1h30m, 7d)"), "{err}");
        assert_eq!(app.config().global.scrape_interval, "30s".parse().unwrap());
        assert_eq!(gauges(&app), ("0".into(), "1000.0".into()));

        clock.advance_ms(5_000);
        std::fs::write(app.config_path(), "global:\n  scrape_interval: 1m\n").unwrap();
        app.reload().await.unwrap();
        assert_eq!(app.config().global.scrape_interval, "1m".parse().unwrap());
        assert_eq!(gauges(&app), ("1".into(), "1010.0".into()));
    }

    #[tokio::test]
    async fn reload_refuses_restart_only_changes() {
        let dir = tempfile::tempdir().unwrap();
        let app = app_with(dir.path(), "", FakeClock::new(0));
        for (yaml, key) in [
            ("api:\n  listen: 127.0.0.1:1\n", "api.listen"),
            ("api:\n  max_body_bytes: 10\n", "api.max_body_bytes"),
            ("storage:\n  path: elsewhere\n", "storage.path"),
            ("storage:\n  engine: sled\n", "storage.engine"),
        ] {
            std::fs::write(app.config_path(), yaml).unwrap();
            let err = app.reload().await.unwrap_err();
            assert!(
                matches!(err, ReloadError::NeedsRestart { key: k, .. } if k == key),
                "{err}"
            );
            assert_eq!(*app.config(), Config::default());
        }
        // Settings the store takes when it opens are refused too.
        std::fs::write(app.config_path(), "storage:\n  retention: 7d\n").unwrap();
        let err = app.reload().await.unwrap_err();
        assert!(
            matches!(err, ReloadError::NeedsRestart { key: "storage", .. }),
            "{err}"
        );
        // Restart-free settings apply: the collector's default interval follows `global`, and
        // so do the evaluator's and the notifier's settings, routes and receivers.
        std::fs::write(
            app.config_path(),
            "global:\n  scrape_interval: 30s\n  evaluation_interval: 1m\n  external_url: https://alertd.example/\n\
             route: { receiver: ops }\nreceivers: [{ name: ops }]\n",
        )
        .unwrap();
        app.reload().await.unwrap();
        assert_eq!(app.config().global.scrape_interval, "30s".parse().unwrap());
        assert_eq!(
            app.config().global.evaluation_interval,
            "1m".parse().unwrap()
        );
        assert_eq!(app.pipeline().notifier().receiver_names(), ["ops"]);
    }

    #[test]
    fn unwritable_storage_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "x").unwrap();
        let mut config = Config::default();
        config.storage.path = file.join("sub");
        let clock: Arc<dyn Clock> = Arc::new(model::FakeClock::new(0));
        let err = Pipeline::start(&config, None, clock, &Readiness::new()).unwrap_err();
        assert!(
            err.to_string().starts_with("store at ") && err.to_string().contains("a-file/sub"),
            "{err}"
        );
    }
}
