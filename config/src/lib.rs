//! `alertd.yaml`: parsing (serde-saphyr, unknown keys refused) and validation, in a crate of
//! its own so that `alertctl check config` validates a file without linking the store, the HTTP
//! server or the database clients (the daemon uses it as `crate::config`).
//!
//! Loading reports every error of a file in one run, sorted by position, each as
//! `FILE:LINE:COL: message` at the offending node itself ([`model::config::ConfigError`]):
//!
//! 1. The document is read into a tree of positions ([`tree`]); a YAML syntax error stops here.
//! 2. Every unknown key of alertd's own sections is found on the tree ([`keys`]).
//! 3. The typed (serde) parse. When it fails, each top-level section, and each item of a list
//!    section, is parsed on its own ([`raw::check_section`]), so that one schema error does not
//!    hide another; within one section or item, key by key: the innermost key an error lies
//!    under is reported, left out (`http.method`, `webhook_configs[0].url`), and the node parsed
//!    again until it parses (an error at the node itself, such as a missing key, ends this), so
//!    independent errors nested under one key (two bad fields of one probe's `http:`) all show
//!    in one run. Each error's path is read off the tree at its position.
//! 4. Validation (durations, addresses, URLs, references between sections, ...) of what parsed:
//!    alertd's sections here, the collector's and notifier's by their own `validate()`, whose
//!    paths are looked up in the tree; `global`, `route` and list items are validated with
//!    their failing keys left out (at their defaults). A stage whose sections had schema errors
//!    is not validated (its errors would follow from them), except for errors in `global`,
//!    whose keys are independent defaults.

mod keys;
mod raw;
pub mod tls;
mod tree;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use model::config::Segment;
use model::Duration;
use serde::Serialize;
use serde_saphyr::{Location, MessageFormatter, Spanned};
use tree::Node;

use model::secret::{Secret, SecretSource};
use raw::{
    RawApi, RawApiLimits, RawConfig, RawConnections, RawPingRateLimit, RawStorage, RawWatchdog,
};

pub use model::config::{ConfigError, ConfigErrors, ConfigPath};

/// Why a configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: cannot read configuration file: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration.
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `global:` settings (Prometheus and Alertmanager global keys).
    pub global: GlobalConfig,
    /// `storage:` settings.
    pub storage: StorageConfig,
    /// `api:` settings.
    pub api: ApiConfig,
    /// `probes:`, `scrape_configs:` and `heartbeats:` (defaults taken from `global`).
    pub collector: collector::config::CollectorConfig,
    /// `rule_files:` globs, relative to the configuration file's directory.
    pub rule_files: Vec<String>,
    /// The Alertmanager sections (`route`, `receivers`, `inhibit_rules`, `time_intervals`,
    /// `mute_time_intervals`) and `escalations`, with `global`'s notification defaults.
    pub notifier: notifier::config::NotifierConfig,
    /// `watchdog:` — alertd's own outgoing heartbeat (absent when no `url` is set).
    pub watchdog: Option<WatchdogConfig>,
    /// `remote_write:` — receivers every stored sample is sent to (the `remote` crate).
    pub remote_write: Vec<remote::RemoteWriteConfig>,
    /// `rule_source:` — the query API every rule group without a `source:` of its own
    /// evaluates over (`None`: alertd's store; a group's `source: local` keeps it there).
    pub rule_source: Option<evaluator::SourceConfig>,
}

impl Config {
    /// The URL notifications and alerts link to (`externalURL`, the start of `generatorURL`):
    /// `global.external_url` without a trailing `/`, or else derived from `api.listen`
    /// (`https` with `api.tls_config`), the host name standing in for an unspecified address
    /// (`0.0.0.0`, `::`) as Prometheus does.
    pub fn external_url(&self) -> String {
        effective_external_url(self.global.external_url.as_deref(), &self.api)
    }

    /// Whether `api.listen` is reachable from other machines while `global.external_url` is
    /// unset: links derived from the listen address may not open elsewhere.
    pub fn external_url_needed(&self) -> bool {
        self.global.external_url.is_none() && !self.api.listen.ip().is_loopback()
    }
}

fn effective_external_url(configured: Option<&str>, api: &ApiConfig) -> String {
    if let Some(u) = configured {
        return u.trim_end_matches('/').to_string();
    }
    let scheme = if api.tls.is_some() { "https" } else { "http" };
    let ip = api.listen.ip();
    let host = if ip.is_unspecified() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("{scheme}://{host}:{}", api.listen.port())
}

/// `watchdog:` — the dead man's switch alertd pings while its pipeline is healthy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WatchdogConfig {
    /// The URL to ping (`url` or `url_file`); a secret, as it usually embeds a check's token.
    pub url: SecretSource,
    /// How often to ping (1m).
    pub interval: Duration,
    /// Timeout of one ping (10s, at most `interval`).
    pub timeout: Duration,
}

/// `global:` — Prometheus's and Alertmanager's global keys with their defaults (one
/// definition in `model`, shared with the notifier).
pub use model::global::Global as GlobalConfig;

/// Prometheus's `tls_config` (one definition in `model`).
pub use model::http::TlsConfig;

/// The embedded store's engine (`sled` or `redb`).
pub use model::storage::Engine as StorageEngine;

/// `storage:` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageConfig {
    /// The store's directory (`data`), relative paths from the working directory.
    pub path: PathBuf,
    /// The engine (`redb`; `sled` is supported, see README "Benchmarks" for why redb is the
    /// default).
    pub engine: StorageEngine,
    /// How long raw samples are kept (30d).
    pub retention: Duration,
    /// How long downsampled history is kept (365d).
    pub rollup_retention: Duration,
    /// How often in-memory state is checkpointed to disk (60s); a checkpoint empties the
    /// write-ahead log.
    pub checkpoint_interval: Duration,
    /// How often the samples' write-ahead log is fsynced (1s): what a power loss can lose (a
    /// killed process loses nothing). `0s` syncs every append, one disk flush per probe or
    /// scrape result.
    pub wal_fsync_interval: Duration,
}

/// `api:` settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiConfig {
    /// Address the HTTP API listens on (`127.0.0.1:9797`).
    pub listen: SocketAddr,
    /// Largest accepted request body in bytes (4 MiB).
    pub max_body_bytes: u64,
    /// `api.tokens_file`: one bearer token per line (`#` comments); when set, every
    /// state-changing request needs one of its tokens. Relative to the configuration file.
    pub tokens_file: Option<PathBuf>,
    /// The tokens read from `tokens_file` by [`load_file`] (re-read on every reload).
    pub tokens: Vec<Secret>,
    /// `api.auth_reads`: read requests need a token too (false).
    pub auth_reads: bool,
    /// `api.public_status`: serve the public status page at `/status` (probe names, states
    /// and uptime only).
    pub public_status: bool,
    /// Where `tokens_file` is written, for errors about its content.
    #[serde(skip)]
    tokens_file_at: (u64, u64),
    /// `api.tls_config`: serve HTTPS with this certificate and key (paths resolved against
    /// the configuration file's directory); plain HTTP without it.
    pub tls: Option<ServerTls>,
    /// `api.ping_rate_limit`: the per-client limit on `/ping/...` (applies on reload).
    pub ping_rate_limit: PingRateLimitConfig,
    /// `api.connections`: how many connections the listener holds and for how long (read at
    /// startup).
    pub connections: ConnectionLimits,
    /// `api.limits`: what a client can make alertd hold (applies on reload).
    pub limits: ApiLimits,
}

/// `api.connections`: the listener accepts at most `max` connections, fewer when the open
/// files limit (`RLIMIT_NOFILE`) minus `reserved_fds` is lower, so that probes, scrapes, the
/// store and notifications always find file descriptors. At the cap the longest-idle
/// connection is closed to make room for a new one; when none is idle, new connections wait
/// in the kernel's backlog. A connection is closed after `idle_timeout` without a request, and
/// when a request's headers take longer than `header_read_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionLimits {
    /// Connections open at once at most (512).
    pub max: u32,
    /// File descriptors kept free for everything else alertd does (256).
    pub reserved_fds: u32,
    /// Time a client has to send a request's headers (10s).
    pub header_read_timeout: Duration,
    /// Time a connection may stay open without a request in progress (60s).
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max: 512,
            reserved_fds: 256,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// `api.limits`: bounds on what API clients can make alertd hold. Over a limit the request is
/// refused as a whole (4xx naming the limit); nothing of it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ApiLimits {
    /// Alerts in one `POST /api/v2/alerts` (10000; Prometheus sends at most 64 by default).
    pub alerts_per_request: u32,
    /// Labels of one alert, and annotations of one alert (128).
    pub labels_per_alert: u32,
    /// Bytes of a label or annotation name (1024).
    pub label_name_bytes: u32,
    /// Bytes of a label value (16384).
    pub label_value_bytes: u32,
    /// Bytes of an annotation value, and of a silence's comment (65536).
    pub annotation_bytes: u32,
    /// Active alerts received through the API held at once (50000); resolved ones do not
    /// count, nor alerts sent again.
    pub api_alerts: u32,
    /// Rows of each list on the status page `/` before it is cut with a count of the rest
    /// (500).
    pub status_page_rows: u32,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            alerts_per_request: 10_000,
            labels_per_alert: 128,
            label_name_bytes: 1024,
            label_value_bytes: 16 * 1024,
            annotation_bytes: 64 * 1024,
            api_alerts: 50_000,
            status_page_rows: 500,
        }
    }
}

/// `api.ping_rate_limit`: each client address (IPv4, or IPv6 /64) may send `burst` pings at
/// once and then `per_second` per second; more get 429 with `Retry-After` and are not recorded.
/// At most `max_clients` addresses are tracked; beyond that, new ones share one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PingRateLimitConfig {
    /// Whether the limit is on (true).
    pub enabled: bool,
    /// Sustained pings per second per client (10).
    pub per_second: NonZeroU32,
    /// Pings a client may send at once (300): many cron jobs on one host, starting together.
    pub burst: NonZeroU32,
    /// Client addresses tracked at most (10000); new ones share one bucket beyond that.
    pub max_clients: NonZeroU32,
}

/// Default `api.ping_rate_limit.per_second`.
pub const DEFAULT_PING_PER_SECOND: NonZeroU32 = NonZeroU32::new(10).unwrap();
/// Default `api.ping_rate_limit.burst`.
pub const DEFAULT_PING_BURST: NonZeroU32 = NonZeroU32::new(300).unwrap();
/// Default `api.ping_rate_limit.max_clients`.
pub const DEFAULT_PING_MAX_CLIENTS: NonZeroU32 = NonZeroU32::new(10_000).unwrap();
/// The largest `api.ping_rate_limit.max_clients` (a tracked client costs a few dozen bytes).
pub const MAX_PING_MAX_CLIENTS: u32 = 1_000_000;

impl Default for PingRateLimitConfig {
    fn default() -> Self {
        PingRateLimitConfig {
            enabled: true,
            per_second: DEFAULT_PING_PER_SECOND,
            burst: DEFAULT_PING_BURST,
            max_clients: DEFAULT_PING_MAX_CLIENTS,
        }
    }
}

/// `api.tls_config`: the listener's certificate chain and private key (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerTls {
    /// PEM certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// Reads `api.tokens_file` (relative to the configuration file) into `config.api.tokens`.
fn load_tokens(config: &mut Config, path: &Path) -> Result<(), ConfigErrors> {
    let Some(file) = &config.api.tokens_file else {
        return Ok(());
    };
    let full = match rules_base(path) {
        Some(base) if file.is_relative() => base.join(file),
        _ => file.clone(),
    };
    let err = |message: String| {
        ConfigErrors(vec![ConfigError {
            file: path.display().to_string(),
            line: config.api.tokens_file_at.0,
            column: config.api.tokens_file_at.1,
            path: ConfigPath::from("api.tokens_file"),
            message,
        }])
    };
    let text = std::fs::read_to_string(&full).map_err(|e| {
        err(format!(
            "`api.tokens_file`: cannot read {}: {e}",
            full.display()
        ))
    })?;
    let tokens = parse_tokens(&text);
    if tokens.is_empty() {
        return Err(err(format!(
            "`api.tokens_file`: {} contains no token (one token per line; # starts a comment)",
            full.display()
        )));
    }
    config.api.tokens = tokens;
    Ok(())
}

/// The tokens of a tokens file: one per line, blank lines and `#` comment lines skipped.
pub fn parse_tokens(text: &str) -> Vec<Secret> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(Secret::new)
        .collect()
}

/// Default `api.listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9797";
/// Default `api.max_body_bytes`.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        // An empty document is a valid configuration with every default.
        match parse_str("", "<default>") {
            Ok(c) => c,
            Err(e) => unreachable!("defaults must validate: {e}"),
        }
    }
}

/// Reads and validates the configuration file at `path`.
pub fn load_file(path: &Path) -> Result<Config, LoadError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: name.clone(),
        source,
    })?;
    let mut config = parse_str(&text, &name)?;
    check_rule_files(&config, path)?;
    load_tokens(&mut config, path)?;
    Ok(config)
}

/// The directory relative `rule_files` are resolved against: the configuration file's.
pub fn rules_base(config_path: &Path) -> Option<&Path> {
    config_path.parent().filter(|p| !p.as_os_str().is_empty())
}

/// Loads every rule file the configuration names, as the daemon will, so that an invalid rule
/// refuses the configuration with the rule file's own `FILE:LINE:COL`.
fn check_rule_files(config: &Config, path: &Path) -> Result<(), ConfigErrors> {
    if config.rule_files.is_empty() {
        return Ok(());
    }
    match evaluator::RuleSet::load_with_source(
        &config.rule_files,
        rules_base(path),
        config.rule_source.as_ref(),
    ) {
        Ok(_) => Ok(()),
        Err(errs) => Err(ConfigErrors(
            errs.into_iter()
                .map(|e| {
                    let file = e.file.display().to_string();
                    let full = e.to_string();
                    let prefix = if e.line > 0 {
                        format!("{file}:{}:{}: ", e.line, e.column)
                    } else {
                        format!("{file}: ")
                    };
                    ConfigError {
                        message: full.strip_prefix(&prefix).unwrap_or(&full).to_string(),
                        path: ConfigPath::root(),
                        file,
                        line: e.line,
                        column: e.column,
                    }
                })
                .collect(),
        )),
    }
}

/// Parses and validates configuration `text`; `file` names it in errors.
pub fn parse_str(text: &str, file: &str) -> Result<Config, ConfigErrors> {
    let tree = match Node::parse(text) {
        Ok(t) => t,
        // Not YAML: nothing else can be read.
        Err(e) => {
            let empty = Node::parse("").unwrap_or_else(|_| unreachable!("empty text parses"));
            return Err(ConfigErrors(vec![schema_error(file, &empty, &e)]));
        }
    };
    let mut v = Validator {
        file,
        tree: &tree,
        errors: Vec::new(),
        skip_collector: false,
        skip_notifier: false,
    };
    // Every unknown key of alertd's own sections, not only the first one serde stops at.
    for (at, path, msg) in keys::unknown_keys(&tree) {
        v.push(at, path, msg);
    }
    let config = match serde_saphyr::from_str::<RawConfig>(text) {
        Ok(raw) => Some(v.config(raw)),
        Err(whole) => {
            let schema = v.schema_errors(text, &whole);
            // A stage whose sections had schema errors is not validated (its errors would
            // follow from those), except for `global`: its keys are independent defaults, so
            // only a `global` that did not parse at all holds the stages back.
            let failed = |s: &&str| {
                let list = if *s == "global" {
                    &schema.failed
                } else {
                    &schema.errored
                };
                list.iter().any(|f| f == s)
            };
            v.skip_collector = ["global", "probes", "scrape_configs", "heartbeats"]
                .iter()
                .any(failed);
            v.skip_notifier = [
                "global",
                "route",
                "receivers",
                "inhibit_rules",
                "time_intervals",
            ]
            .iter()
            .chain(&["mute_time_intervals", "escalations", "templates"])
            .chain(&["oncall_schedules", "response_targets"])
            .any(failed);
            // What parsed is still validated, so that one run shows every error.
            let rest = serde_saphyr::with_deserializer_from_str(text, |d| {
                serde::de::DeserializeSeed::deserialize(
                    raw::RawSeed {
                        skip: &schema.failed,
                        drops: &schema.drops,
                    },
                    d,
                )
            });
            if let Ok(raw) = rest {
                v.config(raw);
            }
            None
        }
    };
    let mut errors = v.errors;
    errors.sort_by(|a, b| (a.line, a.column, &a.message).cmp(&(b.line, b.column, &b.message)));
    errors.dedup();
    // The pre-pass and the typed parse may both report one unknown key.
    errors.dedup_by(|a, b| {
        (a.line, a.column, &a.path) == (b.line, b.column, &b.path)
            && a.message.starts_with("unknown ")
            && b.message.starts_with("unknown ")
    });
    match config {
        Some(c) if errors.is_empty() => Ok(c),
        _ if errors.is_empty() => Err(ConfigErrors(vec![ConfigError {
            file: file.to_string(),
            line: 0,
            column: 0,
            path: ConfigPath::root(),
            message: "invalid configuration".into(),
        }])),
        _ => Err(ConfigErrors(errors)),
    }
}

/// A serde-saphyr error as a [`ConfigError`]: at the error's own position, its path read off
/// the tree.
fn schema_error(file: &str, tree: &Node, e: &serde_saphyr::Error) -> ConfigError {
    let at = e.location().unwrap_or(Location::UNKNOWN);
    let mut path = tree.path_at(at);
    if let serde_saphyr::Error::SerdeMissingField { .. } = e.without_snippet() {
        // At the mapping's start, which in block style is its first key: the mapping lacks it.
        if matches!(path.segments().last(), Some(Segment::Key(_)))
            && tree.first_key_at(&path.parent(), at)
        {
            path = path.parent();
        }
    }
    let (line, column) = (at.line(), at.column());
    let inner = e.without_snippet();
    let message = match inner {
        serde_saphyr::Error::SerdeUnknownField {
            field, expected, ..
        } => {
            // The position is the unknown key's own: its path ends in it.
            let parent = match path.segments().last() {
                Some(model::config::Segment::Key(k)) if k == field => path.parent(),
                _ => path.clone(),
            };
            let parent = parent.to_string();
            format!(
                "unknown key `{field}` in `{}`; allowed keys: {}",
                if parent.is_empty() {
                    "(top level)"
                } else {
                    &parent
                },
                expected.join(", ")
            )
        }
        other => {
            let msg = friendly_message(other);
            if path.is_root()
                && matches!(other, serde_saphyr::Error::Unexpected { expected, .. } if *expected == "mapping start")
            {
                format!(
                    "expected a mapping with the top-level keys {}",
                    raw::TOP_LEVEL_KEYS.join(", ")
                )
            } else if path.is_root() || msg.contains(&format!("`{path}`")) {
                // The message names its node already (a check of a type's own, such as
                // `global`'s twin secrets).
                msg
            } else {
                format!("`{path}`: {msg}")
            }
        }
    };
    ConfigError {
        file: file.to_string(),
        line,
        column,
        path,
        message,
    }
}

/// The YAML layer's message, reworded to say what was expected where its wording is terse.
fn friendly_message(e: &serde_saphyr::Error) -> String {
    use serde_saphyr::Error as E;
    match e {
        E::Unexpected { expected, .. } => match *expected {
            "mapping start" => "expected a mapping (key: value pairs)".to_string(),
            "sequence start" => "expected a list".to_string(),
            "string scalar" => "expected a string".to_string(),
            other => format!("expected {other}"),
        },
        E::InvalidBooleanStrict { .. } => "expected true or false".to_string(),
        E::InvalidScalar { ty, .. } if ty.contains("bool") => "expected true or false".to_string(),
        E::InvalidScalar { ty, .. } if ty.starts_with('u') => {
            format!("expected a non-negative integer (fits in {ty})")
        }
        E::InvalidScalar { ty, .. } if ty.starts_with('i') => {
            format!("expected an integer (fits in {ty})")
        }
        E::InvalidScalar { ty, .. } if ty.starts_with('f') => "expected a number".to_string(),
        E::MultipleDocuments { .. } => {
            "expected a single YAML document, found a second one (`---`)".to_string()
        }
        other => serde_saphyr::DefaultMessageFormatter
            .format_message(other)
            .into_owned(),
    }
}

/// A list section's items.
fn split_section<T>(s: raw::Section<T>) -> Vec<T> {
    s.1.unwrap_or_default()
}

/// The notifier's sections as read, with positions.
struct RawNotifier {
    templates: raw::Section<String>,
    route: (Option<Location>, Option<notifier::config::Route>),
    receivers: raw::Section<notifier::config::Receiver>,
    inhibit_rules: raw::Section<notifier::config::InhibitRule>,
    time_intervals: raw::Section<notifier::config::NamedTimeInterval>,
    mute_time_intervals: raw::Section<notifier::config::NamedTimeInterval>,
    escalations: raw::Section<notifier::config::Escalation>,
    oncall_schedules: raw::Section<notifier::config::OncallSchedule>,
    response_targets: raw::Section<notifier::config::ResponseTarget>,
}

/// What [`Validator::schema_errors`] found.
#[derive(Default)]
struct SchemaErrors {
    /// Sections with a schema error.
    errored: Vec<String>,
    /// Sections that do not parse even with their failing keys left out.
    failed: Vec<String>,
    /// The failing keys left out of the nodes that parse without them.
    drops: raw::Drops,
}

struct Validator<'a> {
    file: &'a str,
    /// The document's positions.
    tree: &'a Node,
    errors: Vec<ConfigError>,
    /// The collector's sections did not parse: their validation would only repeat that.
    skip_collector: bool,
    /// The notifier's sections did not parse.
    skip_notifier: bool,
}

impl Validator<'_> {
    fn push(&mut self, at: Location, path: ConfigPath, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line: at.line(),
            column: at.column(),
            path,
            message: message.into(),
        });
    }

    /// An error at a position (the path is the node written there).
    fn err(&mut self, at: Location, message: impl Into<String>) {
        let path = self.tree.path_at(at);
        self.push(at, path, message);
    }

    /// A stage's error: at the node its path names, the path leading the message.
    fn err_path(&mut self, e: model::config::PathError) {
        let at = self.tree.locate(&e.path);
        let message = format!("`{}`: {}", e.path, e.message);
        self.push(at, e.path, message);
    }

    /// The schema errors of a file whose typed parse failed (`whole`): each section parsed on
    /// its own, each item of a list section on its own, and within one section or item, key
    /// by key: the innermost key a failing value lies under is reported and left out, and the
    /// node parsed again, until it parses or fails at the node itself (a missing key, a list
    /// where a mapping belongs); see [`Validator::node_errors`].
    fn schema_errors(&mut self, text: &str, whole: &serde_saphyr::Error) -> SchemaErrors {
        let mut out = SchemaErrors::default();
        let sections: Vec<(String, usize)> = self
            .tree
            .entries()
            .iter()
            .map(|(k, _, n)| (k.clone(), n.len()))
            .collect();
        for (section, items) in sections {
            let nodes: Vec<Option<usize>> =
                if raw::LIST_SECTIONS.contains(&section.as_str()) && items > 0 {
                    (0..items).map(Some).collect()
                } else {
                    vec![None]
                };
            let (mut errored, mut failed) = (false, false);
            for item in nodes {
                let (ok, drop) = self.node_errors(text, &section, item);
                errored |= !drop.is_empty() || !ok;
                if !ok || (!drop.is_empty() && !raw::drop_aware(&section)) {
                    failed = true;
                } else if !drop.is_empty() {
                    out.drops.insert((section.clone(), item), drop);
                }
            }
            if errored {
                out.errored.push(section.clone());
            }
            if failed {
                out.failed.push(section);
            }
        }
        if out.errored.is_empty() {
            // Not tied to one section (e.g. a second document): the whole parse's error.
            let err = schema_error(self.file, self.tree, whole);
            self.errors.push(err);
            out.failed = self.tree.entries().iter().map(|e| e.0.clone()).collect();
            out.errored = out.failed.clone();
        }
        out
    }

    /// The schema errors of one node (a section, or item `item` of a list section), key by key
    /// (see [`Validator::schema_errors`]): whether it parses once what is returned is left out.
    ///
    /// Each error leaves out the innermost key it lies under (`http.method`, not `http`), so
    /// the rest of that mapping is still read and its other errors found. A key required where
    /// it was left out then shows as missing at its mapping: that error is ours, not the
    /// file's, so it is not reported and the key holding the mapping is left out instead. An
    /// error at a mapping itself (a required key the file lacks) leaves out the key holding it.
    fn node_errors(
        &mut self,
        text: &str,
        section: &str,
        item: Option<usize>,
    ) -> (bool, raw::DropTree) {
        let mut node = ConfigPath::root().key(section);
        if let Some(i) = item {
            node = node.index(i);
        }
        let mut drop = raw::DropTree::default();
        // The path last left out (relative to the node).
        let mut last: Option<Vec<Segment>> = None;
        // Each round leaves out one more key, or a key holding one left out before, so this
        // ends; the bound only guards a parser that reports a key it was told to skip.
        for _ in 0..=self.tree.entries().len().max(64) * 4 {
            let Err(e) = raw::check_section(text, section, item, &drop) else {
                return (true, drop);
            };
            let err = schema_error(self.file, self.tree, &e);
            let Some(rel) = err.path.segments().strip_prefix(node.segments()) else {
                self.errors.push(err);
                return (false, drop);
            };
            let (target, ours) = match e.without_snippet() {
                serde_saphyr::Error::SerdeMissingField { field, .. } => {
                    // The error's path is the mapping lacking the field (see `schema_error`).
                    let mapping = rel;
                    let ours = last.as_deref().is_some_and(|l| {
                        l.split_last().is_some_and(|(k, parent)| {
                            *k == Segment::Key((*field).to_string()) && parent == mapping
                        })
                    });
                    (mapping, ours)
                }
                _ => (rel, false),
            };
            // Left out is a key: the innermost one on the way to the error.
            let end = target
                .iter()
                .rposition(|s| matches!(s, Segment::Key(_)))
                .map_or(0, |i| i + 1);
            let target = target[..end].to_vec();
            if !ours {
                self.errors.push(err);
            }
            if target.is_empty() || drop.covers(&target) {
                return (false, drop);
            }
            drop.insert(&target);
            last = Some(target);
        }
        (false, drop)
    }

    fn config(&mut self, raw: RawConfig) -> Config {
        for (key, at) in &raw.unknown {
            self.err(
                *at,
                format!(
                    "unknown top-level key `{key}`; allowed keys: {}",
                    raw::TOP_LEVEL_KEYS.join(", ")
                ),
            );
        }
        let global = self.global(raw.global.unwrap_or_default());
        let storage = self.storage(raw.storage.map(|s| s.value).unwrap_or_default());
        let api = self.api(raw.api.map(|s| s.value).unwrap_or_default());
        let collector = self.collector(&global, raw.probes, raw.scrape_configs, raw.heartbeats);
        let raw_notifier = RawNotifier {
            templates: raw.templates,
            route: raw.route,
            receivers: raw.receivers,
            inhibit_rules: raw.inhibit_rules,
            time_intervals: raw.time_intervals,
            mute_time_intervals: raw.mute_time_intervals,
            escalations: raw.escalations,
            oncall_schedules: raw.oncall_schedules,
            response_targets: raw.response_targets,
        };
        let rule_files = split_section(raw.rule_files);
        let external_url = effective_external_url(global.external_url.as_deref(), &api);
        let notifier = self.notifier(&global, &external_url, raw_notifier);
        let watchdog = raw.watchdog.and_then(|w| self.watchdog(w));
        let remote_write = split_section(raw.remote_write);
        for e in remote::validate(&remote_write, &ConfigPath::root().key("remote_write")) {
            self.err_path(e);
        }
        let rule_source = raw.rule_source;
        if let Some(s) = &rule_source {
            for e in s.check() {
                let mut path = ConfigPath::root().key("rule_source");
                path.0.extend(e.path.0);
                self.err_path(model::config::PathError::new(path, e.message));
            }
        }
        Config {
            global,
            storage,
            api,
            collector,
            rule_files,
            notifier,
            watchdog,
            remote_write,
            rule_source,
        }
    }

    /// The notifier's sections with `global`'s defaults, validated by the notifier itself; its
    /// errors (paths such as `receivers[1].slack_configs[0].api_url`) are placed at the list
    /// item (or the `route` key).
    fn notifier(
        &mut self,
        g: &GlobalConfig,
        external_url: &str,
        raw: RawNotifier,
    ) -> notifier::config::NotifierConfig {
        let global = notifier::config::Global {
            external_url: Some(external_url.to_string()),
            ..g.clone()
        };
        let route = raw.route.1.unwrap_or_default();
        let receivers = split_section(raw.receivers);
        let inhibit_rules = split_section(raw.inhibit_rules);
        let time_intervals = split_section(raw.time_intervals);
        let mute_time_intervals = split_section(raw.mute_time_intervals);
        let escalations = split_section(raw.escalations);
        let oncall_schedules = split_section(raw.oncall_schedules);
        let response_targets = split_section(raw.response_targets);
        let templates = split_section(raw.templates);
        let cfg = notifier::config::NotifierConfig {
            global,
            route,
            receivers,
            inhibit_rules,
            time_intervals,
            mute_time_intervals,
            escalations,
            oncall_schedules,
            response_targets,
            // Relative globs are relative to the configuration file, as in Alertmanager.
            templates: templates
                .into_iter()
                .map(|g| match Path::new(self.file).parent() {
                    Some(dir) if Path::new(&g).is_relative() && !dir.as_os_str().is_empty() => {
                        dir.join(&g).display().to_string()
                    }
                    _ => g,
                })
                .collect(),
        };
        // Without receivers and with an empty route, nothing is routed: alerts are only logged.
        let configured =
            !cfg.receivers.is_empty() || cfg.route != notifier::config::Route::default();
        let mut errs = if configured && !self.skip_notifier {
            cfg.validate()
        } else {
            Vec::new()
        };
        if configured && matches!(g.smtp_auth_secret, Some(SecretSource::File(_))) {
            errs.push(notifier::config::ConfigError::new(
                "global.smtp_auth_secret_file",
                "is not supported by the notifier in this version; use smtp_auth_secret",
            ));
        }
        let has_route = self.tree.entries().iter().any(|e| e.0 == "route");
        for e in errs {
            if e.path.section() == Some("route") && !has_route {
                // Without a `route` key, a route error belongs to the `receivers` section.
                let at = (self.tree.entries().iter())
                    .find(|e| e.0 == "receivers")
                    .map_or(Location::UNKNOWN, |e| e.1);
                let message = format!("`{}`: {}", e.path, e.message);
                self.push(at, e.path, message);
            } else {
                self.err_path(e);
            }
        }
        cfg
    }

    /// The collector's sections, validated by the collector itself; its errors (which name a
    /// path such as `probes[2].timeout`) are placed at that node.
    fn collector(
        &mut self,
        global: &GlobalConfig,
        probes: raw::Section<collector::config::ProbeConfig>,
        scrapes: raw::Section<collector::config::ScrapeConfig>,
        heartbeats: raw::Section<collector::config::HeartbeatConfig>,
    ) -> collector::config::CollectorConfig {
        let probes = split_section(probes);
        let scrape_configs = split_section(scrapes);
        let heartbeats = split_section(heartbeats);
        let cfg = collector::config::CollectorConfig {
            probes,
            scrape_configs,
            heartbeats,
            defaults: collector::config::Defaults {
                interval: global.scrape_interval,
                timeout: global.scrape_timeout,
            },
        };
        if self.skip_collector {
            return cfg;
        }
        if let Err(errs) = cfg.validate() {
            for e in errs {
                self.err_path(e);
            }
        }
        cfg
    }

    fn duration(
        &mut self,
        key: &str,
        v: Option<Spanned<String>>,
        default: Duration,
        allow_zero: bool,
    ) -> (Duration, Option<Location>) {
        let Some(s) = v else {
            return (default, None);
        };
        match s.value.parse::<Duration>() {
            Ok(d) if d == Duration::ZERO && !allow_zero => {
                self.err(
                    s.referenced,
                    format!("`{key}` must be greater than 0s (got {:?})", s.value),
                );
                (default, Some(s.referenced))
            }
            Ok(d) => (d, Some(s.referenced)),
            Err(e) => {
                self.err(s.referenced, format!("`{key}`: {e}"));
                (default, Some(s.referenced))
            }
        }
    }

    /// A secret given inline or as a file, never both.
    fn secret(
        &mut self,
        key: &str,
        inline: Option<Spanned<Secret>>,
        file: Option<Spanned<String>>,
    ) -> Option<SecretSource> {
        let file = file.map(|f| PathBuf::from(f.value));
        if !self.twin(key, inline.is_some(), file.as_ref()) {
            return None;
        }
        match (inline, file) {
            (Some(s), _) => Some(SecretSource::Inline(s.value)),
            (None, Some(f)) => Some(SecretSource::File(f)),
            (None, None) => None,
        }
    }

    /// Where the value at `path` is written.
    fn value_at(&self, path: &str) -> Location {
        self.tree.value_at(&ConfigPath::from(path))
    }

    /// `global:` as read (its twin secrets already checked by its deserializer), checked:
    /// durations, URLs, label names and `http_config`. A value found wrong is reported at its
    /// position and replaced by its default.
    fn global(&mut self, mut g: GlobalConfig) -> GlobalConfig {
        let d = GlobalConfig::default();
        for (key, v, default) in [
            ("scrape_interval", &mut g.scrape_interval, d.scrape_interval),
            ("scrape_timeout", &mut g.scrape_timeout, d.scrape_timeout),
            (
                "evaluation_interval",
                &mut g.evaluation_interval,
                d.evaluation_interval,
            ),
            ("resolve_timeout", &mut g.resolve_timeout, d.resolve_timeout),
        ] {
            if *v == Duration::ZERO {
                let at = self.value_at(&format!("global.{key}"));
                self.err(
                    at,
                    format!("`global.{key}` must be greater than 0s (got \"{v}\")"),
                );
                *v = default;
            }
        }
        if g.scrape_timeout > g.scrape_interval {
            if self
                .tree
                .contains(&ConfigPath::from("global.scrape_timeout"))
            {
                let at = self.value_at("global.scrape_timeout");
                self.err(
                    at,
                    format!(
                        "`global.scrape_timeout` ({}) must not be greater than \
                         `global.scrape_interval` ({})",
                        g.scrape_timeout, g.scrape_interval
                    ),
                );
            } else {
                // Prometheus: an unset timeout follows a shorter interval.
                g.scrape_timeout = g.scrape_interval;
            }
        }
        let bad: Vec<String> = (g.external_labels.keys())
            .filter(|n| !model::labels::is_valid_label_name(n) || n.starts_with("__"))
            .cloned()
            .collect();
        for name in bad {
            let at = self.value_at("global.external_labels");
            self.err(
                at,
                format!(
                    "`global.external_labels`: invalid label name {name:?} \
                     (expected [a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                ),
            );
            g.external_labels.remove(&name);
        }
        if let Some(h) = g.smtp_smarthost.take() {
            if is_host_port(&h) {
                g.smtp_smarthost = Some(h);
            } else {
                let at = self.value_at("global.smtp_smarthost");
                self.err(
                    at,
                    format!(
                        "`global.smtp_smarthost`: expected host:port, e.g. smtp.example.com:587, \
                         got {h:?}"
                    ),
                );
            }
        }
        if let Some(SecretSource::Inline(u)) = &g.slack_api_url {
            if !is_http_url(u.expose()) {
                // Never echo the value: it is a secret.
                let at = self.value_at("global.slack_api_url");
                self.err(
                    at,
                    "`global.slack_api_url`: expected an absolute http:// or https:// URL \
                     (value not shown: it is a secret)",
                );
                g.slack_api_url = None;
            }
        }
        for (key, url) in [
            ("external_url", &mut g.external_url),
            ("pagerduty_url", &mut g.pagerduty_url),
            ("opsgenie_api_url", &mut g.opsgenie_api_url),
            ("telegram_api_url", &mut g.telegram_api_url),
            ("webex_api_url", &mut g.webex_api_url),
            ("victorops_api_url", &mut g.victorops_api_url),
        ] {
            if let Some(u) = url.take_if(|u| !is_http_url(u)) {
                let at = self.value_at(&format!("global.{key}"));
                self.err(
                    at,
                    format!(
                        "`global.{key}`: expected an absolute http:// or https:// URL, got {u:?}"
                    ),
                );
            }
        }
        for (key, kind) in g.unsupported() {
            let at = self.value_at(&format!("global.{key}"));
            self.err(
                at,
                format!(
                    "`global.{key}`: {kind} receivers are not supported yet (see the README's list of \
                     receiver types)"
                ),
            );
        }
        if let Some(h) = &g.http_config {
            self.http_config("global.http_config", h);
        }
        // Nothing set: receivers keep reqwest's defaults.
        g.http_config = g
            .http_config
            .filter(|h| *h != model::http::HttpConfig::NONE);
        g
    }

    /// A secret's inline value and `_file` twin (`name` and `name_file`): never both, and the
    /// file not empty (false, reported at the file, when not).
    fn twin(&mut self, name: &str, inline: bool, file: Option<&PathBuf>) -> bool {
        let Some(f) = file else { return true };
        let at = self.value_at(&format!("{name}_file"));
        if inline {
            self.err(
                at,
                format!("at most one of `{name}` and `{name}_file` may be set"),
            );
            false
        } else if f.as_os_str().to_string_lossy().trim().is_empty() {
            self.err(at, format!("`{name}_file` must not be empty"));
            false
        } else {
            true
        }
    }

    /// `http_config` (the shared `model::http` type) checked at `key`, positions from the
    /// tree.
    fn http_config(&mut self, key: &str, h: &model::http::HttpConfig) {
        if let (Some(_), Some(_)) = (&h.authorization, &h.basic_auth) {
            let at = self.value_at(&format!("{key}.basic_auth"));
            self.err(
                at,
                format!("`{key}`: at most one of `authorization` and `basic_auth` may be set"),
            );
        }
        // Its secrets' twins were checked while it was read (`model::secret::TwinSeed`).
        if let Some(b) = &h.basic_auth {
            if b.username.is_empty() {
                let at = self.value_at(&format!("{key}.basic_auth"));
                self.err(at, format!("`{key}.basic_auth`: `username` is required"));
            }
        }
        if let Some(p) = &h.proxy_url {
            if !is_http_url(p.expose()) {
                let at = self.value_at(&format!("{key}.proxy_url"));
                self.err(
                    at,
                    format!(
                        "`{key}.proxy_url`: expected an absolute http:// or https:// URL \
                         (value not shown: it may hold a password)"
                    ),
                );
            }
        }
    }

    fn storage(&mut self, s: RawStorage) -> StorageConfig {
        let path = match s.path {
            Some(p) if p.value.trim().is_empty() => {
                self.err(p.referenced, "`storage.path` must not be empty");
                PathBuf::from("data")
            }
            Some(p) => PathBuf::from(p.value),
            None => PathBuf::from("data"),
        };
        let engine = match s.engine {
            None => StorageEngine::Redb,
            Some(e) => match e.value.as_str() {
                "sled" => StorageEngine::Sled,
                "redb" => StorageEngine::Redb,
                other => {
                    self.err(
                        e.referenced,
                        format!("`storage.engine`: expected `sled` or `redb`, got {other:?}"),
                    );
                    StorageEngine::Sled
                }
            },
        };
        let (retention, _) = self.duration(
            "storage.retention",
            s.retention,
            Duration::from_secs(30 * 86_400),
            false,
        );
        let (rollup_retention, rollup_at) = self.duration(
            "storage.rollup_retention",
            s.rollup_retention,
            Duration::from_secs(365 * 86_400),
            false,
        );
        if rollup_retention < retention {
            if let Some(at) = rollup_at {
                self.err(
                    at,
                    format!(
                        "`storage.rollup_retention` ({rollup_retention}) must not be shorter \
                         than `storage.retention` ({retention})"
                    ),
                );
            }
        }
        let (checkpoint_interval, _) = self.duration(
            "storage.checkpoint_interval",
            s.checkpoint_interval,
            Duration::from_secs(60),
            false,
        );
        let (wal_fsync_interval, _) = self.duration(
            "storage.wal_fsync_interval",
            s.wal_fsync_interval,
            Duration::from_secs(1),
            true,
        );
        StorageConfig {
            path,
            engine,
            retention,
            rollup_retention,
            checkpoint_interval,
            wal_fsync_interval,
        }
    }

    /// `watchdog:`; an empty section (`watchdog: {}`) means no watchdog.
    fn watchdog(&mut self, w: Spanned<RawWatchdog>) -> Option<WatchdogConfig> {
        let at = w.referenced;
        let w = w.value;
        let empty =
            w.url.is_none() && w.url_file.is_none() && w.interval.is_none() && w.timeout.is_none();
        if empty {
            return None;
        }
        if let Some(u) = &w.url {
            if !is_http_url(u.value.expose()) {
                self.err(
                    u.referenced,
                    "`watchdog.url`: expected an absolute http:// or https:// URL \
                     (value not shown: it is a secret)",
                );
            }
        }
        let (interval, _) = self.duration(
            "watchdog.interval",
            w.interval,
            Duration::from_secs(60),
            false,
        );
        let timeout_given = w.timeout.is_some();
        let (mut timeout, timeout_at) = self.duration(
            "watchdog.timeout",
            w.timeout,
            Duration::from_secs(10),
            false,
        );
        if timeout > interval {
            if timeout_given {
                self.err(
                    timeout_at.unwrap_or(at),
                    format!(
                        "`watchdog.timeout` ({timeout}) must not be greater than \
                         `watchdog.interval` ({interval})"
                    ),
                );
            }
            timeout = interval;
        }
        let url = self.secret("watchdog.url", w.url, w.url_file);
        if url.is_none() {
            self.err(
                at,
                "`watchdog` needs `url` (or `url_file`): the dead man's switch to ping, \
                 e.g. https://hc-ping.com/<uuid>",
            );
        }
        Some(WatchdogConfig {
            url: url?,
            interval,
            timeout,
        })
    }

    fn api(&mut self, a: RawApi) -> ApiConfig {
        let listen = match a.listen {
            None => default_listen(),
            Some(l) => match parse_listen(&l.value) {
                Some(addr) => addr,
                None => {
                    self.err(
                        l.referenced,
                        format!(
                            "`api.listen`: expected IP:PORT such as 127.0.0.1:9797, [::1]:9797 \
                             or :9797, got {:?}",
                            l.value
                        ),
                    );
                    default_listen()
                }
            },
        };
        let tokens_file_at = a
            .tokens_file
            .as_ref()
            .map_or((0, 0), |t| (t.referenced.line(), t.referenced.column()));
        let tokens_file = match a.tokens_file {
            Some(t) if t.value.trim().is_empty() => {
                self.err(t.referenced, "`api.tokens_file` must not be empty");
                None
            }
            Some(t) => Some(PathBuf::from(t.value)),
            None => None,
        };
        let auth_reads = match a.auth_reads {
            Some(r) if r.value && tokens_file.is_none() => {
                self.err(
                    r.referenced,
                    "`api.auth_reads: true` needs `api.tokens_file` (the tokens to check)",
                );
                false
            }
            Some(r) => r.value,
            None => false,
        };
        let public_status = a.public_status.is_some_and(|p| p.value);
        let tls = a.tls_config.and_then(|t| self.server_tls(t));
        let max_body_bytes = match a.max_body_bytes {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(m) if m.value == 0 => {
                self.err(m.referenced, "`api.max_body_bytes` must be greater than 0");
                DEFAULT_MAX_BODY_BYTES
            }
            Some(m) => m.value,
        };
        let ping_rate_limit = a
            .ping_rate_limit
            .map(|p| self.ping_rate_limit(p.value))
            .unwrap_or_default();
        let connections = a
            .connections
            .map(|c| self.connections(c.value))
            .unwrap_or_default();
        let limits = a
            .limits
            .map(|l| self.api_limits(l.value))
            .unwrap_or_default();
        ApiConfig {
            listen,
            max_body_bytes,
            tokens_file,
            tokens: Vec::new(),
            auth_reads,
            tokens_file_at,
            public_status,
            tls,
            ping_rate_limit,
            connections,
            limits,
        }
    }

    /// A count under `section`: at least 1, at most `u32::MAX`.
    fn count(&mut self, section: &str, key: &str, v: Option<Spanned<u64>>, default: u32) -> u32 {
        let Some(v) = v else { return default };
        match u32::try_from(v.value) {
            Ok(n) if n > 0 => n,
            _ => {
                self.err(
                    v.referenced,
                    format!(
                        "`{section}.{key}` must be between 1 and {}, got {}",
                        u32::MAX,
                        v.value
                    ),
                );
                default
            }
        }
    }

    /// `api.connections`.
    fn connections(&mut self, c: RawConnections) -> ConnectionLimits {
        let d = ConnectionLimits::default();
        let section = "api.connections";
        let max = self.count(section, "max", c.max, d.max);
        let reserved_fds = match c.reserved_fds {
            None => d.reserved_fds,
            Some(v) => match u32::try_from(v.value) {
                Ok(n) => n,
                Err(_) => {
                    self.err(
                        v.referenced,
                        format!("`{section}.reserved_fds` is too large, got {}", v.value),
                    );
                    d.reserved_fds
                }
            },
        };
        let (header_read_timeout, _) = self.duration(
            "api.connections.header_read_timeout",
            c.header_read_timeout,
            d.header_read_timeout,
            false,
        );
        let (idle_timeout, _) = self.duration(
            "api.connections.idle_timeout",
            c.idle_timeout,
            d.idle_timeout,
            false,
        );
        ConnectionLimits {
            max,
            reserved_fds,
            header_read_timeout,
            idle_timeout,
        }
    }

    /// `api.limits`: every number at least 1.
    fn api_limits(&mut self, l: RawApiLimits) -> ApiLimits {
        let d = ApiLimits::default();
        let s = "api.limits";
        ApiLimits {
            alerts_per_request: self.count(
                s,
                "alerts_per_request",
                l.alerts_per_request,
                d.alerts_per_request,
            ),
            labels_per_alert: self.count(
                s,
                "labels_per_alert",
                l.labels_per_alert,
                d.labels_per_alert,
            ),
            label_name_bytes: self.count(
                s,
                "label_name_bytes",
                l.label_name_bytes,
                d.label_name_bytes,
            ),
            label_value_bytes: self.count(
                s,
                "label_value_bytes",
                l.label_value_bytes,
                d.label_value_bytes,
            ),
            annotation_bytes: self.count(
                s,
                "annotation_bytes",
                l.annotation_bytes,
                d.annotation_bytes,
            ),
            api_alerts: self.count(s, "api_alerts", l.api_alerts, d.api_alerts),
            status_page_rows: self.count(
                s,
                "status_page_rows",
                l.status_page_rows,
                d.status_page_rows,
            ),
        }
    }

    /// `api.ping_rate_limit`: every number at least 1, `max_clients` at most
    /// [`MAX_PING_MAX_CLIENTS`].
    fn ping_rate_limit(&mut self, p: RawPingRateLimit) -> PingRateLimitConfig {
        let d = PingRateLimitConfig::default();
        let mut count = |key: &str, v: Option<Spanned<u64>>, default: NonZeroU32, max: u32| {
            let Some(v) = v else { return default };
            match u32::try_from(v.value).ok().and_then(NonZeroU32::new) {
                Some(n) if n.get() <= max => n,
                _ => {
                    let hint = if key == "per_second" {
                        " (to turn the limit off, set `enabled: false`)"
                    } else {
                        ""
                    };
                    self.err(
                        v.referenced,
                        format!(
                            "`api.ping_rate_limit.{key}` must be between 1 and {max}, got {}{hint}",
                            v.value
                        ),
                    );
                    default
                }
            }
        };
        PingRateLimitConfig {
            enabled: p.enabled.is_none_or(|e| e.value),
            per_second: count("per_second", p.per_second, d.per_second, u32::MAX),
            burst: count("burst", p.burst, d.burst, u32::MAX),
            max_clients: count(
                "max_clients",
                p.max_clients,
                d.max_clients,
                MAX_PING_MAX_CLIENTS,
            ),
        }
    }

    /// `api.tls_config`: both files given, relative ones resolved against the configuration
    /// file's directory, and loadable as a certificate and key.
    fn server_tls(&mut self, t: Spanned<raw::RawServerTls>) -> Option<ServerTls> {
        let at = t.referenced;
        let base = Path::new(self.file).parent().map(Path::to_path_buf);
        let mut path = |key: &str, v: Option<Spanned<String>>| match v {
            Some(p) if !p.value.trim().is_empty() => {
                let f = PathBuf::from(p.value);
                Some(match &base {
                    Some(b) if f.is_relative() && !b.as_os_str().is_empty() => b.join(f),
                    _ => f,
                })
            }
            Some(p) => {
                self.err(
                    p.referenced,
                    format!("`api.tls_config.{key}` must not be empty"),
                );
                None
            }
            None => {
                self.err(
                    at,
                    format!("`api.tls_config` needs `{key}` (cert_file and key_file, PEM)"),
                );
                None
            }
        };
        let cert_file = path("cert_file", t.value.cert_file);
        let key_file = path("key_file", t.value.key_file);
        let (cert_file, key_file) = (cert_file?, key_file?);
        if let Err(e) = crate::tls::server_config(&cert_file, &key_file) {
            self.err(at, format!("`api.tls_config`: {e}"));
            return None;
        }
        Some(ServerTls {
            cert_file,
            key_file,
        })
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9797))
}

/// Parses `api.listen`: `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT` or `:PORT` (all interfaces,
/// as in Prometheus's `--web.listen-address`).
pub fn parse_listen(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    match host {
        "" => Some(SocketAddr::from(([0, 0, 0, 0], port))),
        "localhost" => Some(SocketAddr::from(([127, 0, 0, 1], port))),
        _ => None,
    }
}

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(r) => {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !host.contains(char::is_whitespace)
        }
        None => false,
    }
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty() && !host.contains(char::is_whitespace) && port.parse::<u16>().is_ok()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;
