//! Heartbeats: jobs that must check in (`/ping/<name>`), by `period` or cron `schedule` in a
//! time zone, with `grace`. Each heartbeat is new / up / running / late (in grace) / down, and is
//! exported as `heartbeat_*` series carrying `heartbeat="<name>"` plus its configured labels.
//!
//! Semantics (docs/design.md "Heartbeats"): late after the last success + `period` + `grace`
//! (cron: the next scheduled time after the last success, + `grace`); a new heartbeat's first
//! deadline counts from when it was configured; `heartbeat_up` is 0 when late, after `/fail` or
//! a non-zero exit code (until the next success), and when a `/start` has no end within `grace`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{TimeZone, Utc};
use model::storage::{KvBatch, KvStore, SeriesStore, StorageError};
use model::{Clock, Duration, Labels, Sample, Timestamp};

use crate::config::{resolve_secret, ConfigError, HeartbeatConfig};

/// Bytes of a ping's body kept for the status page.
pub const BODY_LIMIT: usize = 10 * 1024;

/// How often the exporter writes the `heartbeat_*` series.
const EXPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// When a heartbeat is expected: every `period`, or at the times of a cron expression in a zone.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// At least every period.
    Period(Duration),
    /// At cron times in a time zone.
    Cron {
        /// The parsed expression.
        cron: Box<croner::Cron>,
        /// Its zone.
        tz: chrono_tz::Tz,
    },
}

impl Schedule {
    /// Builds the schedule of a heartbeat config, or says what is wrong with it.
    pub(crate) fn from_config(h: &HeartbeatConfig) -> Result<Self, String> {
        match (&h.period, &h.schedule) {
            (Some(_), Some(_)) => Err("period and schedule are mutually exclusive".to_string()),
            (None, None) => Err("one of period or schedule is required".to_string()),
            (Some(p), None) => {
                if h.timezone.is_some() {
                    return Err("timezone applies only to schedule".to_string());
                }
                if *p == Duration::ZERO {
                    return Err("period must be greater than 0s".to_string());
                }
                Ok(Schedule::Period(*p))
            }
            (None, Some(s)) => {
                let cron = croner::Cron::from_str(s)
                    .map_err(|e| format!("invalid cron schedule {s:?}: {e}"))?;
                let tz = match &h.timezone {
                    None => chrono_tz::UTC,
                    Some(z) => z.parse::<chrono_tz::Tz>().map_err(|_| {
                        format!("unknown timezone {z:?} (expected e.g. Europe/Oslo)")
                    })?,
                };
                Ok(Schedule::Cron {
                    cron: Box::new(cron),
                    tz,
                })
            }
        }
    }

    /// The first expected time strictly after `t` (for a period: `t + period`).
    pub(crate) fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        match self {
            Schedule::Period(p) => t.checked_add(p.as_millis_i64()),
            Schedule::Cron { cron, tz } => {
                let at = Utc.timestamp_millis_opt(t).single()?.with_timezone(tz);
                cron.find_next_occurrence(&at, false)
                    .ok()
                    .map(|d| d.timestamp_millis())
            }
        }
    }
}

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingKind {
    /// `/ping/<name>`: the job succeeded.
    Success,
    /// `/ping/<name>/start`: the job started.
    Start,
    /// `/ping/<name>/fail`: the job failed.
    Fail,
    /// `/ping/<name>/<code>`: the job ended with this exit code (0 is success).
    ExitCode(i32),
}

/// A ping the daemon could not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// No heartbeat has this name or token (answer 404; no state is created).
    #[error("no heartbeat named {0:?}")]
    NotFound(String),
    /// The path after `/ping/` is not `<name>[/start|/fail|/<exit-code>]` (answer 400).
    #[error(
        "invalid ping path {0:?}: expected <name>, <name>/start, <name>/fail or <name>/<exit-code>"
    )]
    BadPath(String),
}

/// Splits the path after `/ping/` into the heartbeat (name or token) and the ping kind.
pub fn parse_ping_path(path: &str) -> Result<(&str, PingKind), PingError> {
    let bad = || PingError::BadPath(path.to_string());
    let path = path.trim_matches('/');
    let (name, kind) = match path.split_once('/') {
        None => (path, PingKind::Success),
        Some((name, "start")) => (name, PingKind::Start),
        Some((name, "fail")) => (name, PingKind::Fail),
        Some((name, code)) => (
            name,
            PingKind::ExitCode(code.parse::<u8>().map(i32::from).map_err(|_| bad())?),
        ),
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name, kind))
}

/// A heartbeat's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatState {
    /// Never pinged, first deadline not passed.
    New,
    /// Last success on time.
    Up,
    /// Started, no end yet, within grace.
    Running,
    /// Past its expected time, within grace.
    Late,
    /// Past its deadline, failed, or a start without an end within grace.
    Down,
}

impl HeartbeatState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            HeartbeatState::New => "new",
            HeartbeatState::Up => "up",
            HeartbeatState::Running => "running",
            HeartbeatState::Late => "late",
            HeartbeatState::Down => "down",
        }
    }
}

/// One heartbeat as the status page and `alertctl heartbeat ls` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatStatus {
    /// The name.
    pub name: String,
    /// The state now.
    pub state: HeartbeatState,
    /// Last ping of any kind (ms).
    pub last_ping: Option<Timestamp>,
    /// Last success (ms).
    pub last_success: Option<Timestamp>,
    /// When it turns down if no success arrives (ms).
    pub deadline: Option<Timestamp>,
    /// Exit code of the last end (0 for a success, 1 for `/fail`).
    pub last_exit_code: Option<i32>,
    /// Duration of the last run that had a matching start, in seconds.
    pub last_duration_seconds: Option<f64>,
    /// Body of the last ping (up to [`BODY_LIMIT`] bytes, lossy UTF-8).
    pub last_body: Option<String>,
}

#[derive(Debug)]
struct Beat {
    cfg: HeartbeatConfig,
    schedule: Schedule,
    base: Labels,
    token: Option<String>,
    /// What survives a restart.
    saved: Persisted,
    last_body: Option<String>,
    /// Series written last export, to end them with staleness markers.
    exported: Vec<Labels>,
}

impl Beat {
    fn new(cfg: &HeartbeatConfig, now: Timestamp) -> Result<Self, String> {
        let schedule = Schedule::from_config(cfg)?;
        let token = resolve_secret(cfg.token.as_ref(), cfg.token_file.as_deref())?;
        let mut base = Labels::from_pairs(cfg.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        base.set("heartbeat", cfg.name.as_str());
        Ok(Beat {
            cfg: cfg.clone(),
            schedule,
            base,
            token,
            saved: Persisted {
                created: now,
                last_ping: None,
                last_success: None,
                failed: false,
                last_exit_code: None,
                last_duration: None,
                starts: HashMap::new(),
            },
            last_body: None,
            exported: Vec::new(),
        })
    }

    fn grace_ms(&self) -> i64 {
        self.cfg.grace.as_millis_i64()
    }

    /// (expected, deadline) after the last success, or after creation.
    fn expected(&self) -> Option<(Timestamp, Timestamp)> {
        let base = self.saved.last_success.unwrap_or(self.saved.created);
        let exp = self.schedule.next_after(base)?;
        Some((exp, exp.saturating_add(self.grace_ms())))
    }

    fn state(&self, now: Timestamp) -> HeartbeatState {
        if self.saved.failed {
            return HeartbeatState::Down;
        }
        if let Some(oldest) = self.saved.starts.values().min() {
            if now > oldest.saturating_add(self.grace_ms()) {
                return HeartbeatState::Down;
            }
        }
        let Some((expected, deadline)) = self.expected() else {
            return HeartbeatState::Down;
        };
        if now > deadline {
            HeartbeatState::Down
        } else if !self.saved.starts.is_empty() {
            HeartbeatState::Running
        } else if now > expected {
            HeartbeatState::Late
        } else if self.saved.last_success.is_none() && self.saved.last_ping.is_none() {
            HeartbeatState::New
        } else {
            HeartbeatState::Up
        }
    }

    fn ping(&mut self, now: Timestamp, kind: PingKind, rid: Option<&str>, body: &[u8]) {
        self.saved.last_ping = Some(now);
        if !body.is_empty() {
            let b = &body[..body.len().min(BODY_LIMIT)];
            self.last_body = Some(String::from_utf8_lossy(b).into_owned());
        }
        let rid = rid.unwrap_or("").to_string();
        let code = match kind {
            PingKind::Start => {
                self.saved.starts.insert(rid, now);
                return;
            }
            PingKind::Success => 0,
            PingKind::Fail => 1,
            PingKind::ExitCode(c) => c,
        };
        // Pair with the start of the same run id; without one, with the latest start.
        let start = if self.saved.starts.contains_key(&rid) {
            self.saved.starts.remove(&rid)
        } else if rid.is_empty() {
            let latest = self
                .saved
                .starts
                .iter()
                .max_by_key(|(_, t)| **t)
                .map(|(k, _)| k.clone());
            latest.and_then(|k| self.saved.starts.remove(&k))
        } else {
            None
        };
        if let Some(s) = start {
            self.saved.last_duration = Some((now - s) as f64 / 1000.0);
        }
        self.saved.last_exit_code = Some(code);
        if code == 0 {
            self.saved.last_success = Some(now);
            self.saved.failed = false;
        } else {
            self.saved.failed = true;
        }
    }

    fn status(&self, now: Timestamp) -> HeartbeatStatus {
        HeartbeatStatus {
            name: self.cfg.name.clone(),
            state: self.state(now),
            last_ping: self.saved.last_ping,
            last_success: self.saved.last_success,
            deadline: self.expected().map(|(_, d)| d),
            last_exit_code: self.saved.last_exit_code,
            last_duration_seconds: self.saved.last_duration,
            last_body: self.last_body.clone(),
        }
    }

    fn series(&self, now: Timestamp) -> Vec<(Labels, f64)> {
        let state = self.state(now);
        let mut out = Vec::new();
        let mut push = |name: &str, v: f64| {
            let mut l = self.base.clone();
            l.set("__name__", name);
            out.push((l, v));
        };
        push(
            "heartbeat_up",
            if state == HeartbeatState::Down {
                0.0
            } else {
                1.0
            },
        );
        push(
            "heartbeat_running",
            if self.saved.starts.is_empty() {
                0.0
            } else {
                1.0
            },
        );
        if let Some(t) = self.saved.last_ping {
            push("heartbeat_last_ping_timestamp_seconds", t as f64 / 1000.0);
        }
        if let Some(t) = self.saved.last_success {
            push(
                "heartbeat_last_success_timestamp_seconds",
                t as f64 / 1000.0,
            );
        }
        if let Some(d) = self.saved.last_duration {
            push("heartbeat_last_duration_seconds", d);
        }
        if let Some(c) = self.saved.last_exit_code {
            push("heartbeat_last_exit_code", f64::from(c));
        }
        if let Some((_, d)) = self.expected() {
            push("heartbeat_deadline_timestamp_seconds", d as f64 / 1000.0);
        }
        out
    }
}

struct Inner {
    beats: Mutex<Vec<Beat>>,
    store: Arc<dyn SeriesStore>,
    clock: Arc<dyn Clock>,
    kv: Mutex<Option<Arc<dyn KvStore>>>,
}

/// The key-value namespace holding heartbeat state.
pub const KV_NAMESPACE: &str = "heartbeats";

/// What survives a restart of one heartbeat.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Persisted {
    created: Timestamp,
    last_ping: Option<Timestamp>,
    last_success: Option<Timestamp>,
    /// The last end was a failure (and no success since).
    failed: bool,
    last_exit_code: Option<i32>,
    last_duration: Option<f64>,
    /// Pending starts by run id ("" without one).
    starts: HashMap<String, Timestamp>,
}

fn save(kv: &dyn KvStore, b: &Beat) -> Result<(), StorageError> {
    let v = serde_json::to_vec(&b.saved).map_err(|e| StorageError(e.to_string()))?;
    let mut batch = KvBatch::new();
    batch.put(KV_NAMESPACE, b.cfg.name.as_bytes().to_vec(), v);
    kv.write_eventually(batch)
}

/// The heartbeat tracker. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Heartbeats(Arc<Inner>);

impl std::fmt::Debug for Heartbeats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heartbeats").finish_non_exhaustive()
    }
}

fn build(cfgs: &[HeartbeatConfig], now: Timestamp) -> Result<Vec<Beat>, Vec<ConfigError>> {
    let mut errs = Vec::new();
    let mut beats = Vec::new();
    for (i, c) in cfgs.iter().enumerate() {
        match Beat::new(c, now) {
            Ok(b) => beats.push(b),
            Err(message) => errs.push(ConfigError::new(format!("heartbeats[{i}]"), message)),
        }
    }
    if errs.is_empty() {
        Ok(beats)
    } else {
        Err(errs)
    }
}

/// Checks `cfgs` as [`Heartbeats::reconcile`] would, without applying them.
pub(crate) fn check(cfgs: &[HeartbeatConfig]) -> Result<(), Vec<ConfigError>> {
    build(cfgs, 0).map(|_| ())
}

impl Heartbeats {
    /// A tracker for `cfgs`; every heartbeat's first deadline counts from now.
    pub fn new(
        cfgs: &[HeartbeatConfig],
        store: Arc<dyn SeriesStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, Vec<ConfigError>> {
        let beats = build(cfgs, clock.now_ms())?;
        Ok(Heartbeats(Arc::new(Inner {
            beats: Mutex::new(beats),
            store,
            clock,
            kv: Mutex::new(None),
        })))
    }

    /// Restores every configured heartbeat's state from `kv` (last success, failures, pending
    /// starts, and when it was first configured, so a restart neither hides a missed run nor
    /// restarts a new heartbeat's first deadline), then keeps `kv` up to date on every ping.
    pub fn load_state(&self, kv: Arc<dyn KvStore>) -> Result<(), StorageError> {
        {
            let mut beats = self.beats();
            for b in beats.iter_mut() {
                match kv.get(KV_NAMESPACE, b.cfg.name.as_bytes())? {
                    Some(v) => match serde_json::from_slice::<Persisted>(&v) {
                        Ok(p) => b.saved = p,
                        Err(e) => {
                            tracing::warn!(heartbeat = %b.cfg.name, error = %e, "heartbeats: ignoring unreadable saved state")
                        }
                    },
                    // First time configured: remember when, so the first deadline survives.
                    None => save(kv.as_ref(), b)?,
                }
            }
        }
        *self.0.kv.lock().unwrap_or_else(PoisonError::into_inner) = Some(kv);
        Ok(())
    }

    fn beats(&self) -> std::sync::MutexGuard<'_, Vec<Beat>> {
        self.0.beats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies a reloaded config: state of heartbeats that keep their name is kept (with the
    /// new schedule); new ones count from now; removed ones end their series.
    pub fn reconcile(&self, cfgs: &[HeartbeatConfig]) -> Result<(), Vec<ConfigError>> {
        let now = self.0.clock.now_ms();
        let fresh = build(cfgs, now)?;
        let kv = self
            .0
            .kv
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut stale = Vec::new();
        {
            let mut beats = self.beats();
            let mut old: HashMap<String, Beat> =
                beats.drain(..).map(|b| (b.cfg.name.clone(), b)).collect();
            for mut b in fresh {
                if let Some(o) = old.remove(&b.cfg.name) {
                    b.saved = o.saved;
                    b.last_body = o.last_body;
                    b.exported = o.exported;
                } else if let Some(kv) = kv.as_deref() {
                    // Newly configured: restore saved state (it may have been configured
                    // before a restart) or remember when it was first configured.
                    match kv.get(KV_NAMESPACE, b.cfg.name.as_bytes()) {
                        Ok(Some(v)) => {
                            if let Ok(p) = serde_json::from_slice::<Persisted>(&v) {
                                b.saved = p;
                            }
                        }
                        Ok(None) => {
                            if let Err(e) = save(kv, &b) {
                                tracing::error!(error = %e, "heartbeats: saving state failed");
                            }
                        }
                        Err(e) => tracing::error!(error = %e, "heartbeats: reading state failed"),
                    }
                }
                beats.push(b);
            }
            for (_, o) in old {
                stale.extend(o.exported.into_iter().map(|l| (l, Sample::stale(now))));
            }
        }
        if !stale.is_empty() {
            if let Err(e) = self.0.store.append(&stale) {
                tracing::warn!(error = %e, "heartbeats: writing staleness markers failed");
            }
        }
        Ok(())
    }

    /// Records a ping to the heartbeat named (or with the token) `name_or_token`, and writes
    /// its series at once. Unknown names are refused and create no state.
    pub fn ping(
        &self,
        name_or_token: &str,
        kind: PingKind,
        rid: Option<&str>,
        body: &[u8],
    ) -> Result<HeartbeatStatus, PingError> {
        let now = self.0.clock.now_ms();
        let status = {
            let mut beats = self.beats();
            let idx = beats
                .iter()
                .position(|b| b.cfg.name == name_or_token)
                .or_else(|| {
                    beats
                        .iter()
                        .position(|b| b.token.as_deref() == Some(name_or_token))
                })
                .ok_or_else(|| PingError::NotFound(name_or_token.to_string()))?;
            let b = &mut beats[idx];
            b.ping(now, kind, rid, body);
            tracing::debug!(heartbeat = %b.cfg.name, ?kind, "heartbeat ping");
            let kv = self
                .0
                .kv
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            if let Some(kv) = kv {
                if let Err(e) = save(kv.as_ref(), b) {
                    tracing::error!(heartbeat = %b.cfg.name, error = %e, "heartbeats: saving state failed");
                }
            }
            b.status(now)
        };
        if let Err(e) = self.export() {
            tracing::warn!(error = %e, "heartbeats: writing series failed");
        }
        Ok(status)
    }

    /// Every heartbeat's status now, in config order.
    pub fn status(&self) -> Vec<HeartbeatStatus> {
        let now = self.0.clock.now_ms();
        self.beats().iter().map(|b| b.status(now)).collect()
    }

    /// Writes every heartbeat's series at the clock's current time.
    pub fn export(&self) -> Result<(), StorageError> {
        let now = self.0.clock.now_ms();
        let mut batch = Vec::new();
        {
            let mut beats = self.beats();
            for b in beats.iter_mut() {
                let series = b.series(now);
                for l in &b.exported {
                    if !series.iter().any(|(s, _)| s == l) {
                        batch.push((l.clone(), Sample::stale(now)));
                    }
                }
                b.exported = series.iter().map(|(l, _)| l.clone()).collect();
                batch.extend(series.into_iter().map(|(l, v)| (l, Sample::new(now, v))));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.0.store.append(&batch)
    }

    /// Spawns the task that exports the series every few seconds (stops when the last clone of
    /// this tracker is dropped).
    pub(crate) fn spawn_exporter(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPORT_EVERY);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = Heartbeats(inner).export() {
                    tracing::warn!(error = %e, "heartbeats: writing series failed");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::storage::MemStorage;
    use model::FakeClock;

    const H: i64 = 3_600_000;
    const M: i64 = 60_000;

    fn hb(yaml: &str) -> Vec<HeartbeatConfig> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn setup(yaml: &str, t0: Timestamp) -> (Heartbeats, FakeClock, Arc<MemStorage>) {
        let clock = FakeClock::new(t0);
        let store = Arc::new(MemStorage::new());
        let h = Heartbeats::new(&hb(yaml), store.clone(), Arc::new(clock.clone())).unwrap();
        (h, clock, store)
    }

    fn last(store: &MemStorage, name: &str, hb: &str) -> Option<Sample> {
        let m = [
            format!("__name__=\"{name}\"").parse().unwrap(),
            format!("heartbeat=\"{hb}\"").parse().unwrap(),
        ];
        store
            .select(&m, 0, i64::MAX)
            .unwrap()
            .first()
            .and_then(|s| s.samples.last().copied())
    }

    #[test]
    fn ping_paths() {
        assert_eq!(parse_ping_path("a").unwrap(), ("a", PingKind::Success));
        assert_eq!(parse_ping_path("a/start").unwrap(), ("a", PingKind::Start));
        assert_eq!(parse_ping_path("a/fail").unwrap(), ("a", PingKind::Fail));
        assert_eq!(
            parse_ping_path("a/3").unwrap(),
            ("a", PingKind::ExitCode(3))
        );
        assert!(parse_ping_path("a/x").is_err());
        assert!(parse_ping_path("a/256").is_err());
        assert!(parse_ping_path("").is_err());
    }

    #[test]
    fn period_lifecycle_new_up_late_down() {
        let (h, clock, store) = setup(
            "- { name: job, period: 1h, grace: 10m, labels: { severity: critical } }\n",
            0,
        );
        assert_eq!(h.status()[0].state, HeartbeatState::New);
        // First deadline counts from configuration: 1h + 10m.
        clock.set_ms(H + 5 * M);
        assert_eq!(h.status()[0].state, HeartbeatState::Late);
        clock.set_ms(H + 11 * M);
        assert_eq!(h.status()[0].state, HeartbeatState::Down);
        h.export().unwrap();
        assert_eq!(last(&store, "heartbeat_up", "job").unwrap().v, 0.0);
        let up = store
            .select(&["severity=\"critical\"".parse().unwrap()], 0, i64::MAX)
            .unwrap();
        assert!(!up.is_empty(), "configured labels are on the series");
        // A success brings it up and moves the deadline.
        clock.advance_ms(1);
        h.ping("job", PingKind::Success, None, b"done").unwrap();
        let s = &h.status()[0];
        assert_eq!(s.state, HeartbeatState::Up);
        assert_eq!(s.deadline, Some(H + 11 * M + 1 + H + 10 * M));
        assert_eq!(s.last_body.as_deref(), Some("done"));
        assert_eq!(last(&store, "heartbeat_up", "job").unwrap().v, 1.0);
        assert_eq!(
            last(&store, "heartbeat_last_ping_timestamp_seconds", "job")
                .unwrap()
                .v,
            (H + 11 * M + 1) as f64 / 1000.0
        );
    }

    #[test]
    fn fail_and_exit_codes_are_down_until_success() {
        let (h, clock, store) = setup("- { name: j, period: 1h, grace: 5m }\n", 0);
        clock.advance_ms(M);
        h.ping("j", PingKind::ExitCode(2), None, b"").unwrap();
        assert_eq!(h.status()[0].state, HeartbeatState::Down);
        assert_eq!(
            last(&store, "heartbeat_last_exit_code", "j").unwrap().v,
            2.0
        );
        clock.advance_ms(1);
        h.ping("j", PingKind::ExitCode(0), None, b"").unwrap();
        assert_eq!(h.status()[0].state, HeartbeatState::Up);
        clock.advance_ms(1);
        h.ping("j", PingKind::Fail, None, b"").unwrap();
        assert_eq!(h.status()[0].state, HeartbeatState::Down);
        assert_eq!(last(&store, "heartbeat_up", "j").unwrap().v, 0.0);
        clock.advance_ms(1);
        h.ping("j", PingKind::Success, None, b"").unwrap();
        assert_eq!(last(&store, "heartbeat_up", "j").unwrap().v, 1.0);
    }

    #[test]
    fn start_measures_duration_and_is_down_without_end_within_grace() {
        let (h, clock, store) = setup("- { name: j, period: 1d, grace: 30m }\n", 0);
        h.ping("j", PingKind::Start, Some("r1"), b"").unwrap();
        h.ping("j", PingKind::Start, Some("r2"), b"").unwrap();
        assert_eq!(h.status()[0].state, HeartbeatState::Running);
        assert_eq!(last(&store, "heartbeat_running", "j").unwrap().v, 1.0);
        clock.advance_ms(90_000);
        // r2 ends first: paired by rid.
        h.ping("j", PingKind::Success, Some("r2"), b"").unwrap();
        assert_eq!(h.status()[0].last_duration_seconds, Some(90.0));
        // r1 still runs; past grace it is down even though the last success is recent.
        clock.advance_ms(31 * M);
        assert_eq!(h.status()[0].state, HeartbeatState::Down);
        h.ping("j", PingKind::Success, Some("r1"), b"").unwrap();
        assert_eq!(h.status()[0].state, HeartbeatState::Up);
        assert_eq!(
            last(&store, "heartbeat_last_duration_seconds", "j")
                .unwrap()
                .v,
            (90_000 + 31 * M) as f64 / 1000.0
        );
        assert_eq!(last(&store, "heartbeat_running", "j").unwrap().v, 0.0);
    }

    #[test]
    fn unknown_names_are_404_and_tokens_work() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("tok");
        std::fs::write(&tf, "s3cret\n").unwrap();
        let (h, _clock, store) = setup(
            &format!(
                "- {{ name: j, period: 1h, token_file: {} }}\n",
                tf.display()
            ),
            0,
        );
        assert_eq!(
            h.ping("nope", PingKind::Success, None, b""),
            Err(PingError::NotFound("nope".into()))
        );
        assert_eq!(h.status().len(), 1);
        assert!(store.select(&[], 0, i64::MAX).unwrap().is_empty());
        h.ping("s3cret", PingKind::Success, None, b"").unwrap();
        assert!(h.status()[0].last_success.is_some());
    }

    #[test]
    fn cron_schedule_across_dst_in_oslo() {
        // 2026-03-28 01:00 UTC = 02:00 CET; DST starts 2026-03-29 (02:00 CET -> 03:00 CEST).
        let t_28 = Utc
            .with_ymd_and_hms(2026, 3, 28, 1, 0, 0)
            .unwrap()
            .timestamp_millis();
        let (h, clock, _s) = setup(
            "- { name: backup, schedule: \"0 2 * * *\", timezone: Europe/Oslo, grace: 30m }\n",
            t_28 - H,
        );
        clock.set_ms(t_28);
        h.ping("backup", PingKind::Success, None, b"").unwrap();
        // 02:00 does not exist on the 29th; the run is expected right after the jump (03:00
        // CEST = 01:00 UTC), not skipped for a day.
        let d29 = h.status()[0].deadline.unwrap();
        let exp29 = Utc
            .with_ymd_and_hms(2026, 3, 29, 1, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(d29, exp29 + 30 * M);
        clock.set_ms(exp29 + 20 * M);
        assert_eq!(h.status()[0].state, HeartbeatState::Late);
        clock.set_ms(exp29 + 31 * M);
        assert_eq!(h.status()[0].state, HeartbeatState::Down);
        h.ping("backup", PingKind::Success, None, b"").unwrap();
        // From the 30th on, 02:00 CEST is 00:00 UTC: 23 hours after the previous slot.
        let exp30 = Utc
            .with_ymd_and_hms(2026, 3, 30, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        assert_eq!(h.status()[0].deadline.unwrap(), exp30 + 30 * M);
    }

    #[test]
    fn state_survives_a_restart_through_the_kv_store() {
        let kv = Arc::new(MemStorage::new());
        let (h, clock, _s) = setup("- { name: j, period: 1h, grace: 10m }\n", 0);
        h.load_state(kv.clone()).unwrap();
        clock.set_ms(5 * M);
        h.ping("j", PingKind::Start, Some("r"), b"").unwrap();
        clock.set_ms(6 * M);
        h.ping("j", PingKind::Fail, Some("r"), b"").unwrap();
        drop(h);
        // "Restart" two hours later: still down (failed), not a fresh new heartbeat.
        let clock2 = FakeClock::new(2 * H);
        let h2 = Heartbeats::new(
            &hb("- { name: j, period: 1h, grace: 10m }\n"),
            Arc::new(MemStorage::new()),
            Arc::new(clock2.clone()),
        )
        .unwrap();
        h2.load_state(kv.clone()).unwrap();
        let st = &h2.status()[0];
        assert_eq!(st.state, HeartbeatState::Down);
        assert_eq!(st.last_exit_code, Some(1));
        assert_eq!(st.last_duration_seconds, Some(60.0));
        // A never-pinged heartbeat keeps its first-configured time across restarts.
        let (h3, _c, _s) = setup("- { name: k, period: 1h, grace: 10m }\n", 0);
        h3.load_state(kv.clone()).unwrap();
        let h4 = Heartbeats::new(
            &hb("- { name: k, period: 1h, grace: 10m }\n"),
            Arc::new(MemStorage::new()),
            Arc::new(FakeClock::new(H + 30 * M)),
        )
        .unwrap();
        h4.load_state(kv).unwrap();
        assert_eq!(
            h4.status()[0].state,
            HeartbeatState::Down,
            "deadline counted from first configuration"
        );
    }

    #[test]
    fn reconcile_keeps_state_and_ends_removed_series() {
        let (h, clock, store) = setup("- { name: a, period: 1h }\n- { name: b, period: 1h }\n", 0);
        h.ping("a", PingKind::Success, None, b"").unwrap();
        clock.advance_ms(M);
        h.reconcile(&hb("- { name: a, period: 2h }\n")).unwrap();
        let st = h.status();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0].last_success, Some(0));
        assert_eq!(st[0].deadline, Some(2 * H + H));
        let b_up = last(&store, "heartbeat_up", "b").unwrap();
        assert!(
            b_up.is_stale(),
            "removed heartbeat ends with a staleness marker"
        );
        assert!(h.ping("b", PingKind::Success, None, b"").is_err());
    }
}
