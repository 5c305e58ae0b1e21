//! The status pages and badges (docs/design.md "Pages"):
//!
//! - `/`: the full status page, server-rendered HTML with inline CSS and SVG, refreshing itself
//!   every 30 s with a meta refresh: probes (state, last check, failure reason, uptime over
//!   24 h / 7 d / 30 d / 90 d, a 24 h response-time chart), certificates, disks (usage and
//!   predicted full date), database replication lag, heartbeats, firing alerts (severity, since
//!   when, silenced / inhibited / acknowledged, escalation tier) and active silences.
//! - `/status`: the public page, only when `api.public_status: true` (404 otherwise): probe
//!   names, their state and uptime, nothing internal (no labels, targets, errors or alerts);
//!   built at most once every [`PUBLIC_CACHE_MS`] and served from a cache in between.
//! - `/badge/<probe>/uptime.svg?window=24h|7d|30d|90d` and `/badge/<probe>/status.svg`.
//! - `/graph?g0.expr=EXPR`: where notification links lead ([`graph`]).
//! - `/runbooks`: the default rule pack's runbooks ([`runbooks`]), where their `runbook_url`s lead.
//! - `/report?since=30d`: the alert-fatigue report ([`report`]).
//!
//! A page is built from in-memory state (collector, heartbeats, notifier or evaluator) plus a
//! few store queries ([`data`]) in a blocking task, into a [`Snapshot`], then rendered
//! ([`render`]). Probe states: `up` and `down` follow the last check; `flapping` when the last
//! [`data::FLAP_CHECKS`] checks changed state at least [`data::FLAP_CHANGES`] times;
//! `maintenance` when an active silence matches the probe's labels (its `probe` label, its
//! configured labels and the `instance` of its series); `pending` before the first check.

pub mod data;
pub(crate) mod graph;
pub(crate) mod render;
pub(crate) mod report;
pub(crate) mod runbooks;
pub(crate) mod svg;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use model::{AlertState, Labels, Silence, SilenceState, Timestamp};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::api::error::ApiError;
use crate::daemon::App;
use data::{eq, Counts, MINUTE, WINDOWS};

/// How long browsers and proxies may cache an uptime badge (seconds).
pub(crate) const UPTIME_BADGE_MAX_AGE: u32 = 300;
/// How long browsers and proxies may cache a status badge (seconds).
pub(crate) const STATUS_BADGE_MAX_AGE: u32 = 60;

/// How long the public page is served from its cache (ms): it may face many visitors, and
/// building it reads the store.
pub(crate) const PUBLIC_CACHE_MS: i64 = 10_000;

/// The last public page built: when (clock ms) and the HTML.
#[derive(Debug, Default)]
struct PublicCache(std::sync::Mutex<Option<(Timestamp, Arc<String>)>>);

/// The routes of this module, merged into the API router.
pub(crate) fn routes() -> Router<Arc<App>> {
    let cache = Arc::new(PublicCache::default());
    Router::new()
        .route("/", get(page))
        .route(
            "/status",
            get(move |app: State<Arc<App>>| public_page(app, cache.clone())),
        )
        .route("/badge/{probe}/{file}", get(badge))
        .route("/graph", get(graph_page))
        .route("/runbooks", get(|| async { html(runbooks::PAGE.clone()) }))
        .route("/report", get(report::page))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}

/// The pages' and badges' `Content-Security-Policy`: no script, no outside resource, no
/// form, not framed by another site; the pages' own `<style>` and `style` attributes only.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A probe's state on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ProbeState {
    /// The last check failed.
    Down,
    /// At least [`data::FLAP_CHANGES`] state changes among the last [`data::FLAP_CHECKS`].
    Flapping,
    /// An active silence matches the probe's labels.
    Maintenance,
    /// Not checked yet.
    Pending,
    /// The last check succeeded.
    Up,
}

impl ProbeState {
    /// Lower-case name, also the CSS class.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ProbeState::Down => "down",
            ProbeState::Flapping => "flapping",
            ProbeState::Maintenance => "maintenance",
            ProbeState::Pending => "pending",
            ProbeState::Up => "up",
        }
    }
}

/// One probe as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct ProbeView {
    /// Its name (the `probe` label).
    pub name: String,
    /// `http`, `tls`, `disk`, `postgres`, `mysql`.
    pub kind: &'static str,
    /// What it checks: the `instance` of its series (URLs without credentials or query), the
    /// TLS target, or the disk path; empty for databases (their DSN is a secret).
    pub target: String,
    /// Its configured labels.
    pub labels: BTreeMap<String, String>,
    /// State now.
    pub state: ProbeState,
    /// Whether the last check succeeded (`None` before the first).
    pub last_success: Option<bool>,
    /// Start of the last check (ms).
    pub last_check: Option<Timestamp>,
    /// Duration of the last check (seconds).
    pub last_duration: Option<f64>,
    /// Why the last check failed: `kind: message`.
    pub reason: Option<String>,
    /// Consecutive failed checks.
    pub consecutive_failures: u64,
    /// Uptime counts over [`WINDOWS`].
    pub uptime: [Counts; 4],
    /// 5 m average response times over the last 24 h (bucket start, seconds).
    pub response: Vec<(Timestamp, f64)>,
    /// Ids of the active silences matching it.
    pub silenced_by: Vec<String>,
}

/// A certificate expiry.
#[derive(Debug, Clone)]
pub(crate) struct CertView {
    /// The probe.
    pub probe: String,
    /// Host and port or URL.
    pub instance: String,
    /// `probe_ssl_earliest_cert_expiry` (ms).
    pub expires: Timestamp,
}

/// A filesystem's usage.
#[derive(Debug, Clone)]
pub(crate) struct DiskView {
    /// The probe (or the scrape `instance` for node_exporter data).
    pub source: String,
    /// Mount point.
    pub mountpoint: String,
    /// Device.
    pub device: String,
    /// Size in bytes.
    pub size: f64,
    /// Available bytes.
    pub avail: f64,
    /// When it fills up on the line fitted over [`data::DISK_FIT_WINDOW`] (ms).
    pub full_at: Option<Timestamp>,
}

/// A replication lag reading.
#[derive(Debug, Clone)]
pub(crate) struct DbView {
    /// The probe.
    pub probe: String,
    /// `postgres` or `mysql`.
    pub kind: &'static str,
    /// `replica`, or `standby <application_name> (<client_addr>)` seen from a primary.
    pub role: String,
    /// Lag in seconds; `None` when unknown (replication broken).
    pub lag: Option<f64>,
    /// Extra state: threads stopped, replay paused, the probe's failure.
    pub note: Option<String>,
}

/// A heartbeat as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct HeartbeatView {
    /// The tracker's state.
    pub status: collector::heartbeat::HeartbeatStatus,
    /// When the next ping is expected: the deadline less the grace period (ms).
    pub expected: Option<Timestamp>,
}

/// An alert as the page shows it.
#[derive(Debug, Clone)]
pub(crate) struct AlertRow {
    /// Its labels.
    pub labels: Labels,
    /// The `summary` or `description` annotation.
    pub summary: String,
    /// Firing since (ms).
    pub since: Timestamp,
    /// Silence ids muting it.
    pub silenced_by: Vec<String>,
    /// Fingerprints inhibiting it.
    pub inhibited_by: Vec<String>,
    /// Acknowledgement: author and comment.
    pub ack: Option<(String, String)>,
    /// Escalation policy and the highest tier notified (1-based) with the number of tiers.
    pub tier: Option<(String, usize, usize)>,
    /// Response targets (`response_targets`): acknowledge by and resolve by (ms).
    pub respond_by: (Option<Timestamp>, Option<Timestamp>),
}

/// An alert whose rule's condition holds, waiting out its `for:`.
#[derive(Debug, Clone)]
pub(crate) struct PendingRow {
    /// Its labels.
    pub labels: Labels,
    /// The `summary` or `description` annotation.
    pub summary: String,
    /// Since when the condition holds (ms).
    pub active_since: Timestamp,
    /// When it fires if the condition keeps holding (ms): `active_since` + `for:` (at the rule
    /// group's first evaluation from then on; notifications follow after the route's
    /// `group_wait`).
    pub fires_at: Timestamp,
}

/// Where the alerts on the page come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertSource {
    /// The notifier (silences, acks and escalation tiers shown).
    Notifier,
    /// The evaluator's firing alerts (no receivers: no silences, acks or escalations).
    Evaluator,
}

/// Everything the full page shows.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    /// When it was taken (ms).
    pub now: Timestamp,
    /// Probes, problems first.
    pub probes: Vec<ProbeView>,
    /// Certificates, soonest expiry first.
    pub certs: Vec<CertView>,
    /// Filesystems.
    pub disks: Vec<DiskView>,
    /// Replication lag readings.
    pub databases: Vec<DbView>,
    /// Heartbeats.
    pub heartbeats: Vec<HeartbeatView>,
    /// `remote_write` queues.
    pub remote_write: Vec<remote::QueueStats>,
    /// Firing alerts.
    pub alerts: Vec<AlertRow>,
    /// Where `alerts` come from.
    pub alert_source: AlertSource,
    /// Alerts not firing yet, soonest first.
    pub pending: Vec<PendingRow>,
    /// Active and pending silences.
    pub silences: Vec<Silence>,
    /// Store queries that failed (the page shows what it could gather).
    pub errors: Vec<String>,
    /// Rows shown of the alerts and silences, which API clients create
    /// (`api.limits.status_page_rows`); the rest are counted.
    pub max_rows: usize,
}

/// What to gather.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Everything.
    Full,
    /// Probe names, states and uptime only.
    Public,
}

fn probe_kind(p: &collector::config::ProbeConfig) -> &'static str {
    use collector::config::ProbeKind;
    match p.kind() {
        Some(ProbeKind::Http(_)) => "http",
        Some(ProbeKind::Tls(_)) => "tls",
        Some(ProbeKind::Disk(_)) => "disk",
        Some(ProbeKind::Postgres(_)) => "postgres",
        Some(ProbeKind::Mysql(_)) => "mysql",
        Some(ProbeKind::Tcp(_)) => "tcp",
        Some(ProbeKind::Dns(_)) => "dns",
        Some(ProbeKind::Icmp(_)) => "icmp",
        Some(ProbeKind::Grpc(_)) => "grpc",
        None => "",
    }
}

/// Gathers a [`Snapshot`] of `app` at its clock's now. Blocking (store queries): run it off the
/// async workers.
pub(crate) fn gather(app: &App, scope: Scope) -> Snapshot {
    let now = app.clock().now_ms();
    let config = app.config();
    let pipeline = app.pipeline();
    let store = pipeline.store();
    let mut errors = Vec::new();
    let status: HashMap<String, collector::TargetStatus> = pipeline
        .collector()
        .status()
        .into_iter()
        .filter_map(|s| match &s.key {
            collector::TargetKey::Probe(n) => Some((n.clone(), s)),
            collector::TargetKey::Scrape { .. } => None,
        })
        .collect();
    let uptimes = ok(&mut errors, data::uptimes(store, now, None), "uptime");
    let notifier = pipeline.notifier();
    let silences: Vec<Silence> = notifier
        .silences()
        .list()
        .into_iter()
        .filter(|s| s.state_at(now) != SilenceState::Expired)
        .collect();
    let (response, instances) = if scope == Scope::Full {
        let r = ok(
            &mut errors,
            data::history_24h(store, "probe_duration_seconds", now),
            "response times",
        );
        let mut inst: HashMap<String, String> = HashMap::new();
        for l in store.series(&[eq("__name__", "probe_success")]) {
            if let (Some(p), Some(i)) = (l.get("probe"), l.get("instance")) {
                inst.insert(p.to_string(), i.to_string());
            }
        }
        (r, inst)
    } else {
        (HashMap::new(), HashMap::new())
    };

    let defaults = &config.collector.defaults;
    let mut probes = Vec::with_capacity(config.collector.probes.len());
    for p in &config.collector.probes {
        let st = status.get(&p.name);
        let last_success = st.and_then(|s| s.success);
        let mut labels = Labels::from_pairs(p.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        labels.set("probe", p.name.as_str());
        if let Some(i) = instances.get(&p.name) {
            labels.set("instance", i.as_str());
        }
        let silenced_by: Vec<String> = silences
            .iter()
            .filter(|s| s.mutes(&labels, now))
            .map(|s| s.id.clone())
            .collect();
        let state = if !silenced_by.is_empty() {
            ProbeState::Maintenance
        } else {
            match last_success {
                None => ProbeState::Pending,
                Some(up) => {
                    let interval = p.interval(defaults).as_millis_i64();
                    let recent = ok(
                        &mut errors,
                        data::recent_checks(store, &p.name, interval, now),
                        "recent checks",
                    );
                    if data::is_flapping(&recent) {
                        ProbeState::Flapping
                    } else if up {
                        ProbeState::Up
                    } else {
                        ProbeState::Down
                    }
                }
            }
        };
        let target = match p.kind() {
            Some(collector::config::ProbeKind::Tls(t)) => t.target.clone(),
            Some(collector::config::ProbeKind::Tcp(t)) => t.target.clone(),
            Some(collector::config::ProbeKind::Icmp(i)) => i.target.clone(),
            Some(collector::config::ProbeKind::Grpc(g)) => g.target.clone(),
            Some(collector::config::ProbeKind::Dns(d)) => {
                format!("{} {} @{}", d.query_name, d.query_type, d.target)
            }
            Some(collector::config::ProbeKind::Disk(d)) => d
                .path
                .as_ref()
                .map(|x| x.display().to_string())
                .unwrap_or_else(|| "all mounts".into()),
            Some(collector::config::ProbeKind::Http(_)) => {
                instances.get(&p.name).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        probes.push(ProbeView {
            name: p.name.clone(),
            kind: probe_kind(p),
            target,
            labels: p.labels.clone(),
            state,
            last_success,
            last_check: st.and_then(|s| s.last_run),
            last_duration: st.and_then(|s| s.last_run.map(|_| s.last_duration_seconds)),
            reason: st.and_then(|s| {
                s.last_error.as_ref().map(|e| match s.failure_kind {
                    Some(k) => format!("{}: {e}", k.as_str()),
                    None => e.clone(),
                })
            }),
            consecutive_failures: st.map(|s| s.consecutive_failures).unwrap_or(0),
            uptime: uptimes.get(&p.name).copied().unwrap_or_default(),
            response: response.get(&p.name).cloned().unwrap_or_default(),
            silenced_by,
        });
    }
    probes.sort_by(|a, b| a.state.cmp(&b.state).then_with(|| a.name.cmp(&b.name)));

    if scope == Scope::Public {
        return Snapshot {
            now,
            probes,
            certs: Vec::new(),
            disks: Vec::new(),
            databases: Vec::new(),
            heartbeats: Vec::new(),
            remote_write: Vec::new(),
            alerts: Vec::new(),
            alert_source: AlertSource::Evaluator,
            pending: Vec::new(),
            silences: Vec::new(),
            errors,
            max_rows: config.api.limits.status_page_rows as usize,
        };
    }

    // Latest values look back two of the longest probe interval (at least 5 minutes).
    let lookback = config
        .collector
        .probes
        .iter()
        .map(|p| p.interval(defaults).as_millis_i64())
        .chain(
            config
                .collector
                .scrape_configs
                .iter()
                .map(|s| s.interval(defaults).as_millis_i64()),
        )
        .max()
        .unwrap_or(0)
        .saturating_mul(2)
        .max(5 * MINUTE);

    let mut certs: Vec<CertView> = ok(
        &mut errors,
        data::latest(
            store,
            &[eq("__name__", "probe_ssl_earliest_cert_expiry")],
            now,
            lookback,
        ),
        "certificates",
    )
    .into_iter()
    .map(|(l, s)| CertView {
        probe: l.get_or_empty("probe").to_string(),
        instance: l.get_or_empty("instance").to_string(),
        expires: (s.v * 1000.0) as Timestamp,
    })
    .collect();
    certs.sort_by(|a, b| a.expires.cmp(&b.expires).then(a.probe.cmp(&b.probe)));

    let disks = gather_disks(store, now, lookback, &mut errors);
    let databases = gather_databases(store, &config, &status, now, lookback, &mut errors);

    let heartbeats = pipeline
        .collector()
        .heartbeats()
        .status()
        .into_iter()
        .map(|h| {
            let grace = config
                .collector
                .heartbeats
                .iter()
                .find(|c| c.name == h.name)
                .map(|c| c.grace.as_millis_i64())
                .unwrap_or(0);
            HeartbeatView {
                expected: h.deadline.map(|d| d - grace),
                status: h,
            }
        })
        .collect();

    let (alerts, alert_source) = (
        notifier_alerts(notifier, &config, now),
        AlertSource::Notifier,
    );

    Snapshot {
        now,
        probes,
        certs,
        disks,
        databases,
        heartbeats,
        remote_write: pipeline.remote().stats(),
        alerts,
        alert_source,
        pending: pending_alerts(pipeline),
        silences,
        errors,
        max_rows: config.api.limits.status_page_rows as usize,
    }
}

/// `r`'s value, or the default with the error noted in `errors`.
fn ok<T: Default>(errors: &mut Vec<String>, r: Result<T, store::StoreError>, what: &str) -> T {
    r.unwrap_or_else(|e| {
        errors.push(format!("{what}: {e}"));
        T::default()
    })
}

fn gather_disks(
    store: &store::Store,
    now: Timestamp,
    lookback: i64,
    errors: &mut Vec<String>,
) -> Vec<DiskView> {
    let key = |l: &Labels| l.drop_names(&["__name__"]);
    let mut latest = |name: &str| match data::latest(store, &[eq("__name__", name)], now, lookback)
    {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("disks: {e}"));
            Vec::new()
        }
    };
    let sizes: HashMap<Labels, f64> = latest("node_filesystem_size_bytes")
        .into_iter()
        .map(|(l, s)| (key(&l), s.v))
        .collect();
    let mut out = Vec::new();
    for (l, s) in latest("node_filesystem_avail_bytes") {
        let k = key(&l);
        let Some(size) = sizes.get(&k).copied() else {
            continue;
        };
        let mut sel: Vec<model::Matcher> = l.iter().map(|x| eq(&x.name, &x.value)).collect();
        sel.retain(|m| m.name != "__name__");
        sel.push(eq("__name__", "node_filesystem_avail_bytes"));
        let full_at = match store.select(&sel, now - data::DISK_FIT_WINDOW, now) {
            Ok(series) => series
                .iter()
                .find(|x| x.labels == l)
                .and_then(|x| data::predict_full(&x.samples, now)),
            Err(e) => {
                errors.push(format!("disk prediction: {e}"));
                None
            }
        };
        out.push(DiskView {
            source: l
                .get("probe")
                .or_else(|| l.get("instance"))
                .unwrap_or_default()
                .to_string(),
            mountpoint: l.get_or_empty("mountpoint").to_string(),
            device: l.get_or_empty("device").to_string(),
            size,
            avail: s.v,
            full_at,
        });
    }
    out.sort_by(|a, b| {
        a.source
            .cmp(&b.source)
            .then_with(|| a.mountpoint.cmp(&b.mountpoint))
    });
    out
}

fn gather_databases(
    store: &store::Store,
    config: &crate::config::Config,
    status: &HashMap<String, collector::TargetStatus>,
    now: Timestamp,
    lookback: i64,
    errors: &mut Vec<String>,
) -> Vec<DbView> {
    let mut latest = |name: &str, probe: &str| match data::latest(
        store,
        &[eq("__name__", name), eq("probe", probe)],
        now,
        lookback,
    ) {
        Ok(v) => v,
        Err(e) => {
            errors.push(format!("databases: {e}"));
            Vec::new()
        }
    };
    let mut out = Vec::new();
    for p in &config.collector.probes {
        let kind = probe_kind(p);
        if kind != "postgres" && kind != "mysql" {
            continue;
        }
        let failure = status.get(&p.name).and_then(|s| s.last_error.clone());
        let before = out.len();
        if kind == "postgres" {
            let paused = latest("pg_replication_replay_paused", &p.name)
                .first()
                .is_some_and(|(_, s)| s.v > 0.0);
            for (_, s) in latest("pg_replication_lag_seconds", &p.name) {
                out.push(DbView {
                    probe: p.name.clone(),
                    kind,
                    role: "replica".into(),
                    lag: Some(s.v),
                    note: paused.then(|| "replay paused".to_string()),
                });
            }
            for (l, s) in latest("pg_stat_replication_replay_lag_seconds", &p.name) {
                out.push(DbView {
                    probe: p.name.clone(),
                    kind,
                    role: format!(
                        "primary → standby {} ({}, {})",
                        l.get_or_empty("application_name"),
                        l.get_or_empty("client_addr"),
                        l.get_or_empty("state")
                    ),
                    lag: Some(s.v),
                    note: None,
                });
            }
        } else {
            let io = latest("mysql_slave_status_slave_io_running", &p.name)
                .first()
                .map(|(_, s)| s.v > 0.0);
            let sql = latest("mysql_slave_status_slave_sql_running", &p.name)
                .first()
                .map(|(_, s)| s.v > 0.0);
            let lag = latest("mysql_slave_status_seconds_behind_master", &p.name)
                .first()
                .map(|(_, s)| s.v);
            if io.is_some() || lag.is_some() {
                let mut notes = Vec::new();
                if io == Some(false) {
                    notes.push("IO thread stopped");
                }
                if sql == Some(false) {
                    notes.push("SQL thread stopped");
                }
                if lag.is_none() {
                    notes.push("lag unknown: replication broken");
                }
                out.push(DbView {
                    probe: p.name.clone(),
                    kind,
                    role: "replica".into(),
                    lag,
                    note: (!notes.is_empty()).then(|| notes.join(", ")),
                });
            }
        }
        if out.len() == before {
            // Not a replica, no standbys, or the probe failed: say so.
            out.push(DbView {
                probe: p.name.clone(),
                kind,
                role: "no replication".into(),
                lag: None,
                note: failure,
            });
        }
    }
    out
}

fn notifier_alerts(
    n: &notifier::Notifier,
    config: &crate::config::Config,
    now: Timestamp,
) -> Vec<AlertRow> {
    let groups = n.groups();
    let deadlines: BTreeMap<Labels, (Option<Timestamp>, Option<Timestamp>)> = n
        .response_deadlines()
        .into_iter()
        .map(|d| (d.labels, (d.ack_by, d.resolve_by)))
        .collect();
    let mut tiers: HashMap<String, (String, usize)> = HashMap::new();
    for g in &groups {
        let Some(policy) = g.receiver.strip_prefix("escalation:") else {
            continue;
        };
        let Some(max) = g.tiers_notified.iter().max() else {
            continue;
        };
        for fp in &g.alerts {
            let e = tiers
                .entry(fp.clone())
                .or_insert_with(|| (policy.to_string(), 0));
            e.1 = e.1.max(max + 1);
        }
    }
    n.alerts()
        .into_iter()
        .filter(|a| !a.alert.is_resolved_at(now))
        .map(|a| {
            let fp = a.alert.fingerprint().to_string();
            let tier = tiers.get(&fp).map(|(policy, t)| {
                let of = config
                    .notifier
                    .escalations
                    .iter()
                    .find(|e| &e.name == policy)
                    .map(|e| e.tiers.len())
                    .unwrap_or(0);
                (policy.clone(), *t, of)
            });
            AlertRow {
                respond_by: deadlines.get(&a.alert.labels).copied().unwrap_or_default(),
                summary: summary(&a.alert.annotations),
                labels: a.alert.labels,
                since: a.alert.starts_at,
                silenced_by: a.silenced_by,
                inhibited_by: a.inhibited_by,
                ack: a.ack.map(|k| (k.author, k.comment)),
                tier,
            }
        })
        .collect()
}

/// The evaluator's pending alerts with the time each fires, soonest first.
pub(crate) fn pending_alerts(pipeline: &crate::daemon::Pipeline) -> Vec<PendingRow> {
    let mut out: Vec<PendingRow> = pipeline
        .rule_groups()
        .into_iter()
        .flat_map(|g| g.rules)
        .flat_map(|r| {
            let hold = (r.duration_seconds * 1000.0) as i64;
            r.alerts
                .into_iter()
                .filter(|a| a.state == AlertState::Pending)
                .map(move |a| PendingRow {
                    summary: summary(&a.annotations),
                    labels: a.labels,
                    active_since: a.active_at,
                    fires_at: a.active_at.saturating_add(hold),
                })
        })
        .collect();
    out.sort_by(|a, b| (a.fires_at, &a.labels).cmp(&(b.fires_at, &b.labels)));
    out
}

fn summary(annotations: &Labels) -> String {
    annotations
        .get("summary")
        .or_else(|| annotations.get("description"))
        .unwrap_or_default()
        .to_string()
}

/// Renders the full page of `app` now.
pub fn page_html(app: &App) -> String {
    let started = std::time::Instant::now();
    let snap = gather(app, Scope::Full);
    render::full_page(&snap, started)
}

/// Renders the public page of `app` now.
pub fn public_html(app: &App) -> String {
    let snap = gather(app, Scope::Public);
    render::public_page(&snap)
}

fn html(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

async fn page(State(app): State<Arc<App>>) -> Response {
    match tokio::task::spawn_blocking(move || page_html(&app)).await {
        Ok(body) => html(body),
        Err(e) => ApiError::own(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("status page: {e}"),
        )
        .into_response(),
    }
}

/// How long `/graph` may evaluate its expression.
const GRAPH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn graph_page(
    State(app): State<Arc<App>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let expr = q
        .into_iter()
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let work = tokio::task::spawn_blocking(move || graph::gather(&app, &expr));
    match tokio::time::timeout(GRAPH_TIMEOUT, work).await {
        Ok(Ok(v)) => html(render::graph_page(&v)),
        Ok(Err(e)) => {
            ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, format!("graph: {e}")).into_response()
        }
        Err(_) => ApiError::own(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the expression took longer than {} s to evaluate",
                GRAPH_TIMEOUT.as_secs()
            ),
        )
        .into_response(),
    }
}

async fn public_page(State(app): State<Arc<App>>, cache: Arc<PublicCache>) -> Response {
    if !app.config().api.public_status {
        return ApiError::own(StatusCode::NOT_FOUND, "not found: /status").into_response();
    }
    let now = app.clock().now_ms();
    let cached = cache
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let body = match cached {
        Some((t, body)) if (0..PUBLIC_CACHE_MS).contains(&(now - t)) => body,
        _ => match tokio::task::spawn_blocking(move || public_html(&app)).await {
            Ok(body) => {
                let body = Arc::new(body);
                *cache
                    .0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((now, body.clone()));
                body
            }
            Err(e) => {
                return ApiError::own(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("status page: {e}"),
                )
                .into_response()
            }
        },
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
            (
                header::CACHE_CONTROL,
                format!("public, max-age={}", PUBLIC_CACHE_MS / 1000),
            ),
        ],
        (*body).clone(),
    )
        .into_response()
}

/// `?window=` of the uptime badge.
#[derive(Debug, serde::Deserialize)]
struct BadgeQuery {
    window: Option<String>,
}

async fn badge(
    State(app): State<Arc<App>>,
    Path((probe, file)): Path<(String, String)>,
    Query(q): Query<BadgeQuery>,
) -> Response {
    let config = app.config();
    if !config.collector.probes.iter().any(|p| p.name == probe) {
        return ApiError::own(StatusCode::NOT_FOUND, format!("unknown probe {probe:?}"))
            .into_response();
    }
    match file.as_str() {
        "uptime.svg" => {
            let window = q.window.as_deref().unwrap_or("30d");
            let Some(i) = WINDOWS.iter().position(|(n, _)| *n == window) else {
                return ApiError::own(
                    StatusCode::BAD_REQUEST,
                    format!("window must be one of 24h, 7d, 30d, 90d, got {window:?}"),
                )
                .into_response();
            };
            let app2 = app.clone();
            let name = probe.clone();
            let counts = tokio::task::spawn_blocking(move || {
                let now = app2.clock().now_ms();
                data::uptimes(app2.pipeline().store(), now, Some(&name))
                    .map(|m| m.get(&name).map(|c| c[i]).unwrap_or_default())
            })
            .await;
            let counts = match counts {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    return ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}"))
                        .into_response()
                }
                Err(e) => {
                    return ApiError::own(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
                        .into_response()
                }
            };
            let label = format!("uptime {window}");
            let svg = match counts.ratio() {
                Some(r) => svg::badge(&label, &render::percent(r), svg::BadgeColor::for_uptime(r)),
                None => svg::badge(&label, "no data", svg::BadgeColor::Grey),
            };
            badge_response(svg, UPTIME_BADGE_MAX_AGE)
        }
        "status.svg" => {
            let status = app
                .pipeline()
                .collector()
                .status()
                .into_iter()
                .find(|s| s.key == collector::TargetKey::Probe(probe.clone()));
            let (value, color) = match status.and_then(|s| s.success) {
                Some(true) => ("up", svg::BadgeColor::Green),
                Some(false) => ("down", svg::BadgeColor::Red),
                None => ("pending", svg::BadgeColor::Grey),
            };
            badge_response(svg::badge("status", value, color), STATUS_BADGE_MAX_AGE)
        }
        other => ApiError::own(
            StatusCode::NOT_FOUND,
            format!("not found: /badge/{probe}/{other} (uptime.svg or status.svg)"),
        )
        .into_response(),
    }
}

fn badge_response(svg: String, max_age: u32) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml".to_string()),
            (header::CACHE_CONTROL, format!("max-age={max_age}")),
        ],
        svg,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config;
    use crate::daemon::Pipeline;
    use crate::readiness::Readiness;
    use model::{FakeClock, Sample};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const NOW: i64 = 1_800_000_000_000;

    /// An app on `yaml` (collector not started) with `web` up 3 of 4 checks in the last hour.
    async fn serve(yaml: &str) -> (u16, Arc<App>, tempfile::TempDir, FakeClock) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alertd.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config = config::load_file(&path).unwrap();
        let readiness = Arc::new(Readiness::new());
        // The pipeline runs without targets: the samples below are all the store holds.
        let mut running = config.clone();
        running.storage.path = dir.path().join("data");
        running.collector = Default::default();
        let fake = FakeClock::new(NOW);
        let clock: Arc<dyn model::Clock> = Arc::new(fake.clone());
        let pipeline = Pipeline::start(&running, None, clock.clone(), &readiness).unwrap();
        let l = Labels::from_pairs([
            ("__name__", "probe_success"),
            ("probe", "web"),
            ("instance", "http://10.1.2.3:8080/health"),
        ]);
        let batch: Vec<_> = [1.0, 0.0, 1.0, 1.0]
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    l.clone(),
                    Sample::new(NOW - 3_600_000 + i as i64 * 60_000, *v),
                )
            })
            .collect();
        pipeline.store().append(&batch).unwrap();
        let app = Arc::new(App::new(path, config, pipeline, readiness, clock));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = crate::http::router(app.clone(), 1024);
        tokio::spawn(async move { axum::serve(listener, r).await });
        (port, app, dir, fake)
    }

    /// GET `path`: status, lower-cased headers, body.
    async fn get(port: u16, path: &str) -> (u16, String, String) {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        let status = out[9..12].parse().unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    const YAML: &str = "\
probes:
  - name: web
    http: { url: \"http://10.1.2.3:8080/health\" }
    labels: { team: payments }
  - name: \"<script>alert(1)</script>\"
    disk: { path: / }
    labels: { note: \"\\\"><img src=x onerror=alert(1)>\" }
";

    #[tokio::test]
    async fn page_serves_escaped_html_with_uptime_from_the_store() {
        let (port, _app, _dir, _) = serve(YAML).await;
        let (status, head, body) = get(port, "/").await;
        assert_eq!(status, 200, "{body}");
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(
            !body.contains("<script>") && !body.contains("<img"),
            "{body}"
        );
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{body}"
        );
        assert!(
            body.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"),
            "{body}"
        );
        // 3 of 4 checks in the last hour: every window says 75%.
        assert_eq!(body.matches(">75.00%</dd>").count(), 4, "{body}");
        assert!(
            body.contains("data-probe=\"web\" data-state=\"pending\""),
            "{body}"
        );
        assert!(body.contains("http://10.1.2.3:8080/health"), "{body}");
        assert!(body.contains("team=payments"), "{body}");
    }

    #[tokio::test]
    async fn public_page_exists_only_when_enabled_and_leaks_nothing() {
        let (port, app, _dir, clock) = serve(YAML).await;
        let (status, _, body) = get(port, "/status").await;
        assert_eq!(status, 404);
        assert_eq!(body, r#"{"error":"not found: /status"}"#);
        std::fs::write(
            app.config_path(),
            format!("{YAML}api:\n  public_status: true\n"),
        )
        .unwrap();
        app.reload().await.unwrap();
        let (status, _, body) = get(port, "/status").await;
        assert_eq!(status, 200);
        assert!(
            body.contains(">web</h3>") && body.contains(">75.00%</dd>"),
            "{body}"
        );
        for secret in [
            "10.1.2.3", "8080", "health", "payments", "team", "img", "http://",
        ] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
        // Served from a cache for 10 s: a new failed check shows only after that.
        let l = Labels::from_pairs([
            ("__name__", "probe_success"),
            ("probe", "web"),
            ("instance", "http://10.1.2.3:8080/health"),
        ]);
        app.pipeline()
            .store()
            .append(&[(l, Sample::new(NOW - 1_000, 0.0))])
            .unwrap();
        clock.advance_ms(9_000);
        let (_, head, cached) = get(port, "/status").await;
        assert_eq!(cached, body);
        assert!(head.contains("cache-control: public, max-age=10"), "{head}");
        clock.advance_ms(1_000);
        let (_, _, fresh) = get(port, "/status").await;
        assert!(fresh.contains(">60.00%</dd>"), "{fresh}");
    }

    #[tokio::test]
    async fn badges_are_svg_with_cache_headers_and_json_errors() {
        let (port, _app, _dir, _) = serve(YAML).await;
        let (status, head, body) = get(port, "/badge/web/uptime.svg?window=24h").await;
        assert_eq!(status, 200, "{body}");
        assert!(head.contains("content-type: image/svg+xml"), "{head}");
        assert!(head.contains("cache-control: max-age=300"), "{head}");
        assert!(body.contains(">uptime 24h</text>") && body.contains(">75.00%</text>"));
        // Default window 30d.
        let (_, _, body) = get(port, "/badge/web/uptime.svg").await;
        assert!(body.contains(">uptime 30d</text>"), "{body}");
        let (status, head, body) = get(port, "/badge/web/status.svg").await;
        assert_eq!(status, 200);
        assert!(head.contains("cache-control: max-age=60"), "{head}");
        // The collector is not running here: no check has run.
        assert!(body.contains(">pending</text>"), "{body}");
        let (status, head, body) = get(port, "/badge/nope/status.svg").await;
        assert_eq!(status, 404);
        assert!(head.contains("application/json"), "{head}");
        assert_eq!(body, r#"{"error":"unknown probe \"nope\""}"#);
        let (status, _, body) = get(port, "/badge/web/uptime.svg?window=1y").await;
        assert_eq!(status, 400);
        assert!(
            body.contains("window must be one of 24h, 7d, 30d, 90d"),
            "{body}"
        );
        let (status, _, _) = get(port, "/badge/web/other.png").await;
        assert_eq!(status, 404);
    }

    #[tokio::test]
    async fn maintenance_alerts_acks_and_tiers_come_from_the_notifier() {
        let yaml = format!(
            "{YAML}\
route:
  receiver: hook
  routes: [{{ matchers: ['severity=\"critical\"'], receiver: hook, escalation: oncall, group_wait: 0s }}]
receivers: [{{ name: hook, webhook_configs: [{{ url: 'http://127.0.0.1:1/' }}] }}]
escalations:
  - name: oncall
    tiers: [{{ after: 0s, receivers: [hook] }}, {{ after: 5m, receivers: [hook] }}]
response_targets: [{{ severity: critical, acknowledge_within: 5m, resolve_within: 1h }}]
"
        );
        let (_port, app, _dir, _) = serve(&yaml).await;
        let n = app.pipeline().notifier().clone();
        n.silences()
            .set(Silence {
                id: String::new(),
                matchers: "{probe=\"web\"}".parse().unwrap(),
                starts_at: NOW - 1_000,
                ends_at: NOW + 3_600_000,
                updated_at: NOW,
                created_by: "ops".into(),
                comment: "db migration".into(),
            })
            .unwrap();
        let alert = |pairs: &[(&str, &str)]| model::Alert {
            labels: Labels::from_pairs(pairs.iter().copied()),
            annotations: Labels::from_pairs([("summary", "something broke")]),
            starts_at: NOW - 600_000,
            ends_at: None,
            generator_url: String::new(),
        };
        let down = alert(&[
            ("alertname", "ProbeDown"),
            ("probe", "web"),
            ("severity", "critical"),
        ]);
        let disk = alert(&[
            ("alertname", "DiskFull"),
            ("instance", "db1"),
            ("severity", "critical"),
        ]);
        n.ingest(vec![down, disk.clone()]).unwrap();
        n.tick().unwrap();
        n.ack(
            &notifier::AckTarget::Fingerprints(vec![disk.fingerprint()]),
            "alice",
            "on it",
        )
        .unwrap();

        let snap = gather(&app, Scope::Full);
        assert_eq!(snap.alert_source, AlertSource::Notifier);
        let web = snap.probes.iter().find(|p| p.name == "web").unwrap();
        assert_eq!(web.state, ProbeState::Maintenance);
        assert_eq!(web.silenced_by.len(), 1);
        let other = snap.probes.iter().find(|p| p.name != "web").unwrap();
        assert_eq!(other.state, ProbeState::Pending);
        assert_eq!(snap.silences.len(), 1);
        assert_eq!(snap.alerts.len(), 2, "{:?}", snap.alerts);
        let row = |name: &str| {
            snap.alerts
                .iter()
                .find(|a| a.labels.get("alertname") == Some(name))
                .unwrap()
        };
        assert_eq!(row("ProbeDown").silenced_by, web.silenced_by);
        assert_eq!(row("ProbeDown").ack, None);
        assert_eq!(row("DiskFull").ack, Some(("alice".into(), "on it".into())));
        assert_eq!(row("DiskFull").tier, Some(("oncall".into(), 1, 2)));
        assert_eq!(row("DiskFull").since, NOW - 600_000);
        // Response targets: ack 5 min after the first notification (now), resolve 1 h after
        // the start.
        assert_eq!(
            row("DiskFull").respond_by,
            (Some(NOW + 300_000), Some(NOW + 3_000_000))
        );

        let html = render::full_page(&snap, std::time::Instant::now());
        assert!(html.contains("data-probe=\"web\" data-state=\"maintenance\""));
        assert!(html.contains(">acknowledged</span> <span class=\"muted\">by alice: on it"));
        assert!(html.contains(">silenced</span>"));
        assert!(html.contains("oncall: tier 1 of 2"), "{html}");
        // Time left: the acknowledged alert shows only its resolve target.
        assert_eq!(html.matches(">ack in 5 min</span>").count(), 1, "{html}");
        assert_eq!(
            html.matches(">resolve in 50 min</span>").count(),
            2,
            "{html}"
        );
        assert!(html.contains("db migration"));
        // The public page says maintenance, and not why.
        let public = render::public_page(&gather(&app, Scope::Public));
        assert!(public.contains(">Maintenance</span>"));
        assert!(!public.contains("db migration") && !public.contains("DiskFull"));
    }

    #[tokio::test]
    async fn certificates_disks_and_replication_lag_come_from_the_store() {
        let yaml = format!(
            "{YAML}  - name: replica-pg\n    postgres: {{ dsn: 'host=127.0.0.1 port=1' }}\n  \
             - name: replica-my\n    mysql: {{ dsn: 'mysql://root@127.0.0.1:1/' }}\n  \
             - name: primary-pg\n    postgres: {{ dsn: 'host=127.0.0.1 port=2' }}\n"
        );
        let (_port, app, _dir, _) = serve(&yaml).await;
        let store = app.pipeline().store();
        let s = |name: &str, pairs: &[(&str, &str)]| {
            let mut l = Labels::from_pairs(pairs.iter().copied());
            l.set("__name__", name);
            l
        };
        let cert = s(
            "probe_ssl_earliest_cert_expiry",
            &[("probe", "web"), ("instance", "h:443")],
        );
        let fs = [
            ("probe", "root"),
            ("mountpoint", "/"),
            ("device", "/dev/vda1"),
        ];
        let (size, avail) = (
            s("node_filesystem_size_bytes", &fs),
            s("node_filesystem_avail_bytes", &fs),
        );
        let mut batch = vec![(
            cert,
            Sample::new(NOW - 10_000, (NOW / 1000 + 10 * 86_400) as f64),
        )];
        // 100 GB disk losing 1 GB an hour, 40 GB free now: full in 40 h.
        for i in 0..=60 {
            let t = NOW - 6 * 3_600_000 + i * 360_000;
            let free = 40e9 + 1e9 * (NOW - t) as f64 / 3_600_000.0;
            batch.push((size.clone(), Sample::new(t, 100e9)));
            batch.push((avail.clone(), Sample::new(t, free)));
        }
        let at = NOW - 5_000;
        batch.push((
            s("pg_replication_lag_seconds", &[("probe", "replica-pg")]),
            Sample::new(at, 12.5),
        ));
        batch.push((
            s("pg_replication_replay_paused", &[("probe", "replica-pg")]),
            Sample::new(at, 1.0),
        ));
        let standby = [
            ("probe", "primary-pg"),
            ("application_name", "walrcv"),
            ("client_addr", "10.0.0.9"),
            ("state", "streaming"),
        ];
        batch.push((
            s("pg_stat_replication_replay_lag_seconds", &standby),
            Sample::new(at, 0.25),
        ));
        batch.push((
            s(
                "mysql_slave_status_slave_io_running",
                &[("probe", "replica-my")],
            ),
            Sample::new(at, 0.0),
        ));
        batch.push((
            s(
                "mysql_slave_status_slave_sql_running",
                &[("probe", "replica-my")],
            ),
            Sample::new(at, 1.0),
        ));
        let lag = s(
            "mysql_slave_status_seconds_behind_master",
            &[("probe", "replica-my")],
        );
        // The lag series ended (NULL lag): a staleness marker, as the probe writes it.
        batch.push((lag.clone(), Sample::new(at - 1_000, 3.0)));
        batch.push((lag, Sample::stale(at)));
        batch.sort_by_key(|(_, x)| x.t);
        store.append(&batch).unwrap();

        let snap = gather(&app, Scope::Full);
        assert!(snap.errors.is_empty(), "{:?}", snap.errors);
        assert_eq!(snap.certs.len(), 1);
        assert_eq!(
            (
                snap.certs[0].probe.as_str(),
                snap.certs[0].instance.as_str()
            ),
            ("web", "h:443")
        );
        assert_eq!(snap.certs[0].expires, (NOW / 1000 + 10 * 86_400) * 1000);
        assert_eq!(snap.disks.len(), 1);
        let d = &snap.disks[0];
        assert_eq!(
            (d.source.as_str(), d.mountpoint.as_str(), d.size, d.avail),
            ("root", "/", 100e9, 40e9)
        );
        let full = d.full_at.expect("filling");
        assert!(
            (full - (NOW + 40 * 3_600_000)).abs() < 60_000,
            "{}",
            full - NOW
        );
        let db = |probe: &str| {
            snap.databases
                .iter()
                .filter(|d| d.probe == probe)
                .collect::<Vec<_>>()
        };
        let pg = db("replica-pg");
        assert_eq!(pg.len(), 1);
        assert_eq!(
            (pg[0].role.as_str(), pg[0].lag, pg[0].note.as_deref()),
            ("replica", Some(12.5), Some("replay paused"))
        );
        let primary = db("primary-pg");
        assert_eq!(
            primary[0].role,
            "primary → standby walrcv (10.0.0.9, streaming)"
        );
        assert_eq!(primary[0].lag, Some(0.25));
        let my = db("replica-my");
        assert_eq!(my[0].lag, None);
        assert_eq!(
            my[0].note.as_deref(),
            Some("IO thread stopped, lag unknown: replication broken")
        );

        let html = render::full_page(&snap, std::time::Instant::now());
        assert!(html.contains(">10 d</span>"), "{html}");
        assert!(
            html.contains(">60.0%</td>") && html.contains("width:60.0%"),
            "{html}"
        );
        assert!(
            html.contains(">12.5 s</td>") && html.contains(">250 ms</td>"),
            "{html}"
        );
    }
}
