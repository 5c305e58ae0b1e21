//! The configuration as written: what serde reads, with source positions kept for validation.
//! Values that need checking (durations, addresses, URLs) stay strings here so that
//! [`super::validate`] can report every bad one, not only the first.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use crate::secret::Secret;
use collector::config::{HeartbeatConfig, ProbeConfig, ScrapeConfig};
use notifier::config::{Escalation, InhibitRule, NamedTimeInterval, Receiver, Route, Unsupported};

/// Top-level keys alertd knows.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "global",
    "storage",
    "api",
    "probes",
    "scrape_configs",
    "heartbeats",
    "rule_files",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "escalations",
    "watchdog",
    "templates",
];

thread_local! {
    /// The top-level key whose value is being read, so that a serde error path (which cannot
    /// see through the span-carrying keys) can be completed.
    pub(crate) static CURRENT_SECTION: std::cell::Cell<Option<&'static str>> =
        const { std::cell::Cell::new(None) };
}

/// A list section: where its key is, and its items with their positions.
pub(crate) type Section<T> = (Option<Location>, Option<Vec<Spanned<T>>>);

/// The whole file.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub global: Option<Spanned<RawGlobal>>,
    pub storage: Option<Spanned<RawStorage>>,
    pub api: Option<Spanned<RawApi>>,
    pub probes: Section<ProbeConfig>,
    pub scrape_configs: Section<ScrapeConfig>,
    pub heartbeats: Section<HeartbeatConfig>,
    pub rule_files: Section<String>,
    pub route: (Option<Location>, Option<Spanned<Route>>),
    pub receivers: Section<Receiver>,
    pub inhibit_rules: Section<InhibitRule>,
    pub time_intervals: Section<NamedTimeInterval>,
    pub mute_time_intervals: Section<NamedTimeInterval>,
    pub escalations: Section<Escalation>,
    pub watchdog: Option<Spanned<RawWatchdog>>,
    pub templates: Section<String>,
    /// Unknown top-level keys with their positions (all of them are reported).
    pub unknown: Vec<(String, Location)>,
}

impl<'de> Deserialize<'de> for RawConfig {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawConfig;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping with the top-level keys ")?;
                f.write_str(&TOP_LEVEL_KEYS.join(", "))
            }
            fn visit_unit<E: de::Error>(self) -> Result<RawConfig, E> {
                Ok(RawConfig::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawConfig, A::Error> {
                let mut cfg = RawConfig::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let at = key.referenced;
                    let known = TOP_LEVEL_KEYS.iter().find(|k| **k == key.value).copied();
                    CURRENT_SECTION.with(|c| c.set(known));
                    match key.value.as_str() {
                        "global" => cfg.global = map.next_value()?,
                        "storage" => cfg.storage = map.next_value()?,
                        "api" => cfg.api = map.next_value()?,
                        "probes" => cfg.probes = (Some(at), map.next_value()?),
                        "scrape_configs" => cfg.scrape_configs = (Some(at), map.next_value()?),
                        "heartbeats" => cfg.heartbeats = (Some(at), map.next_value()?),
                        "rule_files" => cfg.rule_files = (Some(at), map.next_value()?),
                        "route" => cfg.route = (Some(at), map.next_value()?),
                        "receivers" => cfg.receivers = (Some(at), map.next_value()?),
                        "inhibit_rules" => cfg.inhibit_rules = (Some(at), map.next_value()?),
                        "time_intervals" => cfg.time_intervals = (Some(at), map.next_value()?),
                        "mute_time_intervals" => {
                            cfg.mute_time_intervals = (Some(at), map.next_value()?)
                        }
                        "escalations" => cfg.escalations = (Some(at), map.next_value()?),
                        "watchdog" => cfg.watchdog = map.next_value()?,
                        "templates" => cfg.templates = (Some(at), map.next_value()?),
                        other => {
                            map.next_value::<IgnoredAny>()?;
                            cfg.unknown.push((other.to_string(), at));
                        }
                    }
                }
                Ok(cfg)
            }
        }
        d.deserialize_map(V)
    }
}

/// `global:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGlobal {
    pub scrape_interval: Option<Spanned<String>>,
    pub scrape_timeout: Option<Spanned<String>>,
    pub evaluation_interval: Option<Spanned<String>>,
    pub external_labels: Option<Spanned<BTreeMap<String, String>>>,
    pub external_url: Option<Spanned<String>>,
    pub resolve_timeout: Option<Spanned<String>>,
    pub smtp_from: Option<String>,
    pub smtp_smarthost: Option<Spanned<String>>,
    pub smtp_hello: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<Spanned<Secret>>,
    pub smtp_auth_password_file: Option<Spanned<String>>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_auth_secret: Option<Spanned<Secret>>,
    pub smtp_auth_secret_file: Option<Spanned<String>>,
    pub smtp_require_tls: Option<bool>,
    pub slack_api_url: Option<Spanned<Secret>>,
    pub slack_api_url_file: Option<Spanned<String>>,
    pub pagerduty_url: Option<Spanned<String>>,
    pub opsgenie_api_url: Option<Spanned<String>>,
    pub opsgenie_api_key: Option<Spanned<Secret>>,
    pub opsgenie_api_key_file: Option<Spanned<String>>,
    pub telegram_api_url: Option<Spanned<String>>,
    pub webex_api_url: Option<Spanned<String>>,
    pub victorops_api_url: Option<Spanned<String>>,
    pub victorops_api_key: Option<Spanned<Secret>>,
    pub victorops_api_key_file: Option<Spanned<String>>,
    pub http_config: Option<Spanned<RawHttpConfig>>,
    // Alertmanager 0.25's global keys for a receiver type this version lacks (wechat): read so
    // that the validator names them (`RawGlobal::unsupported`).
    pub wechat_api_url: Option<Spanned<Unsupported>>,
    pub wechat_api_secret: Option<Spanned<Unsupported>>,
    pub wechat_api_corp_id: Option<Spanned<Unsupported>>,
}

impl RawGlobal {
    /// The Alertmanager keys present that configure a receiver type this version lacks, with
    /// their positions and the type's name.
    pub fn unsupported(&self) -> Vec<(&'static str, &'static str, Location)> {
        [
            ("wechat_api_url", "wechat", &self.wechat_api_url),
            ("wechat_api_secret", "wechat", &self.wechat_api_secret),
            ("wechat_api_corp_id", "wechat", &self.wechat_api_corp_id),
        ]
        .into_iter()
        .filter_map(|(k, t, v)| v.as_ref().map(|v| (k, t, v.referenced)))
        .collect()
    }
}

/// Prometheus's `http_config` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttpConfig {
    pub authorization: Option<Spanned<RawAuthorization>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub tls_config: Option<RawTlsConfig>,
    pub proxy_url: Option<Spanned<Secret>>,
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
}

/// `authorization:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<Spanned<Secret>>,
    pub credentials_file: Option<Spanned<String>>,
}

/// `basic_auth:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<Spanned<Secret>>,
    pub password_file: Option<Spanned<String>>,
}

/// `tls_config:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: Option<bool>,
}

/// `storage:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStorage {
    pub path: Option<Spanned<String>>,
    pub engine: Option<Spanned<String>>,
    pub retention: Option<Spanned<String>>,
    pub rollup_retention: Option<Spanned<String>>,
    pub checkpoint_interval: Option<Spanned<String>>,
    pub wal_fsync_interval: Option<Spanned<String>>,
}

/// `watchdog:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWatchdog {
    pub url: Option<Spanned<Secret>>,
    pub url_file: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

/// `api:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApi {
    pub listen: Option<Spanned<String>>,
    pub tokens_file: Option<Spanned<String>>,
    pub auth_reads: Option<Spanned<bool>>,
    pub public_status: Option<Spanned<bool>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    pub tls_config: Option<Spanned<RawServerTls>>,
    pub ping_rate_limit: Option<Spanned<RawPingRateLimit>>,
    pub connections: Option<Spanned<RawConnections>>,
    pub limits: Option<Spanned<RawApiLimits>>,
}

/// `api.connections:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnections {
    pub max: Option<Spanned<u64>>,
    pub reserved_fds: Option<Spanned<u64>>,
    pub header_read_timeout: Option<Spanned<String>>,
    pub idle_timeout: Option<Spanned<String>>,
}

/// `api.limits:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApiLimits {
    pub alerts_per_request: Option<Spanned<u64>>,
    pub labels_per_alert: Option<Spanned<u64>>,
    pub label_name_bytes: Option<Spanned<u64>>,
    pub label_value_bytes: Option<Spanned<u64>>,
    pub annotation_bytes: Option<Spanned<u64>>,
    pub api_alerts: Option<Spanned<u64>>,
    pub status_page_rows: Option<Spanned<u64>>,
}

/// `api.ping_rate_limit:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPingRateLimit {
    pub enabled: Option<Spanned<bool>>,
    pub per_second: Option<Spanned<u64>>,
    pub burst: Option<Spanned<u64>>,
    pub max_clients: Option<Spanned<u64>>,
}

/// `api.tls_config:` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServerTls {
    pub cert_file: Option<Spanned<String>>,
    pub key_file: Option<Spanned<String>>,
}
