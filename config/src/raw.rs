//! The configuration as written: what serde reads, with source positions kept for validation.
//! Values that need checking (durations, addresses, URLs) stay strings here so that
//! [`super::validate`] can report every bad one, not only the first.

use std::collections::BTreeMap;
use std::fmt;

use std::marker::PhantomData;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use collector::config::{HeartbeatConfig, ProbeConfig, ScrapeConfig};
use model::secret::Secret;
use notifier::config::{Escalation, InhibitRule, NamedTimeInterval, Receiver, Route, Unsupported};

/// Top-level keys alertd knows.
pub(crate) const TOP_LEVEL_KEYS: &[&str] = &[
    "global",
    "storage",
    "api",
    "probes",
    "scrape_configs",
    "heartbeats",
    "remote_write",
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
    pub remote_write: Section<remote::RemoteWriteConfig>,
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
        RawSeed { skip: &[] }.deserialize(d)
    }
}

/// Reads the whole file except the top-level sections in `skip` (read as absent): what is left
/// to validate once those sections failed their own parse.
pub(crate) struct RawSeed<'a> {
    pub skip: &'a [String],
}

impl<'de> DeserializeSeed<'de> for RawSeed<'_> {
    type Value = RawConfig;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<RawConfig, D::Error> {
        struct V<'a>(&'a [String]);
        impl<'de> Visitor<'de> for V<'_> {
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
                    if self.0.contains(&key.value) {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                    match key.value.as_str() {
                        "global" => cfg.global = map.next_value()?,
                        "storage" => cfg.storage = map.next_value()?,
                        "api" => cfg.api = map.next_value()?,
                        "probes" => cfg.probes = (Some(at), map.next_value()?),
                        "scrape_configs" => cfg.scrape_configs = (Some(at), map.next_value()?),
                        "heartbeats" => cfg.heartbeats = (Some(at), map.next_value()?),
                        "remote_write" => cfg.remote_write = (Some(at), map.next_value()?),
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
        d.deserialize_map(V(self.skip))
    }
}

/// Reads only one top-level section of the file (or, for a list section, only its item
/// `item`) as its type, ignoring everything else: so that one section's schema error does not
/// hide another's. The error, if any, is serde-saphyr's (with its position).
pub(crate) fn check_section(
    text: &str,
    section: &str,
    item: Option<usize>,
) -> Result<(), serde_saphyr::Error> {
    fn one<T: DeserializeOwned>(
        text: &str,
        section: &str,
        item: Option<usize>,
    ) -> Result<(), serde_saphyr::Error> {
        serde_saphyr::with_deserializer_from_str(text, |d| {
            Only::<T> {
                section,
                item,
                ty: PhantomData,
            }
            .deserialize(d)
        })
    }
    match section {
        "global" => one::<RawGlobal>(text, section, item),
        "storage" => one::<RawStorage>(text, section, item),
        "api" => one::<RawApi>(text, section, item),
        "watchdog" => one::<RawWatchdog>(text, section, item),
        "route" => one::<Route>(text, section, item),
        "probes" => one::<ProbeConfig>(text, section, item),
        "scrape_configs" => one::<ScrapeConfig>(text, section, item),
        "heartbeats" => one::<HeartbeatConfig>(text, section, item),
        "remote_write" => one::<remote::RemoteWriteConfig>(text, section, item),
        "rule_files" | "templates" => one::<String>(text, section, item),
        "receivers" => one::<Receiver>(text, section, item),
        "inhibit_rules" => one::<InhibitRule>(text, section, item),
        "time_intervals" | "mute_time_intervals" => one::<NamedTimeInterval>(text, section, item),
        "escalations" => one::<Escalation>(text, section, item),
        _ => Ok(()),
    }
}

/// The top-level sections that hold a list.
pub(crate) const LIST_SECTIONS: &[&str] = &[
    "probes",
    "scrape_configs",
    "heartbeats",
    "remote_write",
    "rule_files",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "escalations",
    "templates",
];

struct Only<'a, T> {
    section: &'a str,
    item: Option<usize>,
    ty: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Only<'_, T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Only<'_, T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key != self.section {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match self.item {
                None => {
                    map.next_value::<Option<T>>()?;
                }
                Some(i) => map.next_value_seed(Item::<T> {
                    index: i,
                    ty: PhantomData,
                })?,
            }
        }
        Ok(())
    }
}

/// Reads item `index` of a list as `T`, skipping the others.
struct Item<T> {
    index: usize,
    ty: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Item<T> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Item<T> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let more = if i == self.index {
                seq.next_element::<T>()?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
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
    pub http_config: Option<Spanned<model::http::HttpConfig>>,
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
