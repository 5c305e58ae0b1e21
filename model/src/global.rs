//! The `global:` section of `alertd.yaml`: Prometheus's global keys (scrape and evaluation
//! defaults, external labels and URL) and Alertmanager's (notification defaults). One definition,
//! read by the config loader (which validates it) and by the notifier (which uses the
//! notification defaults).
//!
//! Every secret is a [`SecretSource`] written as Alertmanager writes it, inline or through its
//! `_file` twin (`smtp_auth_password` / `smtp_auth_password_file`); setting both is an error at
//! the second one written, and an empty `_file` is an error at its value.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::http::HttpConfig;
use crate::secret::{SecretSource, TwinSeed};
use crate::Duration;

/// Prometheus's default `scrape_interval`.
pub const DEFAULT_SCRAPE_INTERVAL: Duration = Duration::from_secs(15);
/// Prometheus's default `scrape_timeout`.
pub const DEFAULT_SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);
/// Prometheus's default `evaluation_interval`.
pub const DEFAULT_EVALUATION_INTERVAL: Duration = Duration::from_secs(15);
/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT: Duration = Duration::from_secs(300);

/// The keys of [`Global`] that are Prometheus's, not Alertmanager's: left out where the section
/// is shown as an Alertmanager configuration (`/api/v2/status`, which amtool decodes strictly).
/// `external_url` is among them: Alertmanager takes it from `--web.external-url`.
pub const PROMETHEUS_ONLY_KEYS: [&str; 5] = [
    "scrape_interval",
    "scrape_timeout",
    "evaluation_interval",
    "external_labels",
    "external_url",
];

/// A setting Alertmanager has and this version does not implement: any value is read (and
/// dropped) so that validation can name the setting instead of failing on an unknown key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unsupported;

impl<'de> Deserialize<'de> for Unsupported {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        de::IgnoredAny::deserialize(d)?;
        Ok(Unsupported)
    }
}

/// `global:` — Prometheus's and Alertmanager's global keys with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Global {
    /// Default scrape interval (15s).
    pub scrape_interval: Duration,
    /// Default scrape timeout (10s, at most `scrape_interval`).
    pub scrape_timeout: Duration,
    /// Default rule evaluation interval (15s).
    pub evaluation_interval: Duration,
    /// Labels added to alerts sent out.
    pub external_labels: BTreeMap<String, String>,
    /// The URL under which alertd is reached from outside (links in notifications). The config
    /// loader gives the notifier the effective one (derived from `api.listen` when unset).
    pub external_url: Option<String>,
    /// Time after which an alert without `endsAt` is considered resolved (5m).
    pub resolve_timeout: Duration,
    /// Default sender address of email notifications.
    pub smtp_from: Option<String>,
    /// Default SMTP server, `host:port`.
    pub smtp_smarthost: Option<String>,
    /// Host name sent in SMTP HELO (`localhost`).
    pub smtp_hello: String,
    /// SMTP AUTH user name.
    pub smtp_auth_username: Option<String>,
    /// SMTP AUTH password (`smtp_auth_password` or `smtp_auth_password_file`).
    pub smtp_auth_password: Option<SecretSource>,
    /// SMTP AUTH identity (PLAIN).
    pub smtp_auth_identity: Option<String>,
    /// SMTP AUTH secret (CRAM-MD5, refused by the notifier's validation)
    /// (`smtp_auth_secret` or `smtp_auth_secret_file`).
    pub smtp_auth_secret: Option<SecretSource>,
    /// Whether SMTP requires STARTTLS (true).
    pub smtp_require_tls: bool,
    /// Default Slack webhook URL (`slack_api_url` or `slack_api_url_file`).
    pub slack_api_url: Option<SecretSource>,
    /// Default PagerDuty Events API v2 URL.
    pub pagerduty_url: Option<String>,
    /// Default Opsgenie API URL.
    pub opsgenie_api_url: Option<String>,
    /// Default Opsgenie API key (`opsgenie_api_key` or `opsgenie_api_key_file`).
    pub opsgenie_api_key: Option<SecretSource>,
    /// Default Telegram Bot API URL.
    pub telegram_api_url: Option<String>,
    /// Default Webex messages URL.
    pub webex_api_url: Option<String>,
    /// Default VictorOps API URL.
    pub victorops_api_url: Option<String>,
    /// Default VictorOps API key (`victorops_api_key` or `victorops_api_key_file`).
    pub victorops_api_key: Option<SecretSource>,
    /// Default HTTP client settings of receivers without their own (`None`: reqwest's defaults).
    pub http_config: Option<HttpConfig>,
    /// Alertmanager's `wechat_api_url` (wechat receivers are not supported yet).
    #[serde(skip)]
    pub wechat_api_url: Option<Unsupported>,
    /// Alertmanager's `wechat_api_secret` (not supported yet).
    #[serde(skip)]
    pub wechat_api_secret: Option<Unsupported>,
    /// Alertmanager's `wechat_api_corp_id` (not supported yet).
    #[serde(skip)]
    pub wechat_api_corp_id: Option<Unsupported>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_timeout: DEFAULT_SCRAPE_TIMEOUT,
            evaluation_interval: DEFAULT_EVALUATION_INTERVAL,
            external_labels: BTreeMap::new(),
            external_url: None,
            resolve_timeout: DEFAULT_RESOLVE_TIMEOUT,
            smtp_from: None,
            smtp_smarthost: None,
            smtp_hello: "localhost".into(),
            smtp_auth_username: None,
            smtp_auth_password: None,
            smtp_auth_identity: None,
            smtp_auth_secret: None,
            smtp_require_tls: true,
            slack_api_url: None,
            pagerduty_url: None,
            opsgenie_api_url: None,
            opsgenie_api_key: None,
            telegram_api_url: None,
            webex_api_url: None,
            victorops_api_url: None,
            victorops_api_key: None,
            http_config: None,
            wechat_api_url: None,
            wechat_api_secret: None,
            wechat_api_corp_id: None,
        }
    }
}

impl Global {
    /// The keys the section accepts.
    pub const KEYS: &'static [&'static str] = &[
        "scrape_interval",
        "scrape_timeout",
        "evaluation_interval",
        "external_labels",
        "external_url",
        "resolve_timeout",
        "smtp_from",
        "smtp_smarthost",
        "smtp_hello",
        "smtp_auth_username",
        "smtp_auth_password",
        "smtp_auth_password_file",
        "smtp_auth_identity",
        "smtp_auth_secret",
        "smtp_auth_secret_file",
        "smtp_require_tls",
        "slack_api_url",
        "slack_api_url_file",
        "pagerduty_url",
        "opsgenie_api_url",
        "opsgenie_api_key",
        "opsgenie_api_key_file",
        "telegram_api_url",
        "webex_api_url",
        "victorops_api_url",
        "victorops_api_key",
        "victorops_api_key_file",
        "http_config",
        "wechat_api_url",
        "wechat_api_secret",
        "wechat_api_corp_id",
    ];

    /// `http_config` with nothing set when the section has none.
    pub fn http(&self) -> &HttpConfig {
        self.http_config.as_ref().unwrap_or(&HttpConfig::NONE)
    }

    /// The Alertmanager keys present that configure a receiver type this version lacks, with
    /// the type's name.
    pub fn unsupported(&self) -> Vec<(&'static str, &'static str)> {
        [
            ("wechat_api_url", "wechat", &self.wechat_api_url),
            ("wechat_api_secret", "wechat", &self.wechat_api_secret),
            ("wechat_api_corp_id", "wechat", &self.wechat_api_corp_id),
        ]
        .into_iter()
        .filter_map(|(k, t, v)| v.map(|_| (k, t)))
        .collect()
    }
}

impl<'de> Deserialize<'de> for Global {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Global;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of global settings")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Global, E> {
                Ok(Global::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Global, E> {
                Ok(Global::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Global, A::Error> {
                let mut g = Global::default();
                while let Some(key) = map.next_key::<String>()? {
                    let k = key.as_str();
                    let secret = match crate::secret::twin_base(k).0 {
                        "smtp_auth_password" => Some(&mut g.smtp_auth_password),
                        "smtp_auth_secret" => Some(&mut g.smtp_auth_secret),
                        "slack_api_url" => Some(&mut g.slack_api_url),
                        "opsgenie_api_key" => Some(&mut g.opsgenie_api_key),
                        "victorops_api_key" => Some(&mut g.victorops_api_key),
                        _ => None,
                    };
                    if let Some(slot) = secret {
                        let seed = TwinSeed {
                            prefix: "global.",
                            key: k,
                            set: slot.is_some(),
                        };
                        if let Some(v) = map.next_value_seed(seed)? {
                            *slot = Some(v);
                        }
                        continue;
                    }
                    match k {
                        "scrape_interval" => g.scrape_interval = map.next_value()?,
                        "scrape_timeout" => g.scrape_timeout = map.next_value()?,
                        "evaluation_interval" => g.evaluation_interval = map.next_value()?,
                        "external_labels" => {
                            g.external_labels = map
                                .next_value::<Option<BTreeMap<String, String>>>()?
                                .unwrap_or_default()
                        }
                        "external_url" => g.external_url = map.next_value()?,
                        "resolve_timeout" => g.resolve_timeout = map.next_value()?,
                        "smtp_from" => g.smtp_from = map.next_value()?,
                        "smtp_smarthost" => g.smtp_smarthost = map.next_value()?,
                        "smtp_hello" => {
                            if let Some(h) = map.next_value()? {
                                g.smtp_hello = h;
                            }
                        }
                        "smtp_auth_username" => g.smtp_auth_username = map.next_value()?,
                        "smtp_auth_identity" => g.smtp_auth_identity = map.next_value()?,
                        "smtp_require_tls" => g.smtp_require_tls = map.next_value()?,
                        "pagerduty_url" => g.pagerduty_url = map.next_value()?,
                        "opsgenie_api_url" => g.opsgenie_api_url = map.next_value()?,
                        "telegram_api_url" => g.telegram_api_url = map.next_value()?,
                        "webex_api_url" => g.webex_api_url = map.next_value()?,
                        "victorops_api_url" => g.victorops_api_url = map.next_value()?,
                        "http_config" => g.http_config = map.next_value()?,
                        "wechat_api_url" => g.wechat_api_url = Some(map.next_value()?),
                        "wechat_api_secret" => g.wechat_api_secret = Some(map.next_value()?),
                        "wechat_api_corp_id" => g.wechat_api_corp_id = Some(map.next_value()?),
                        other => return Err(de::Error::unknown_field(other, Global::KEYS)),
                    }
                }
                Ok(g)
            }
        }
        d.deserialize_struct("Global", Global::KEYS, V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn secrets_take_either_twin_and_refuse_both() {
        let g: Global = serde_json::from_str(
            r#"{"smtp_auth_password_file": "/pw", "slack_api_url": "https://x/", "smtp_hello": "h"}"#,
        )
        .unwrap();
        assert_eq!(g.smtp_auth_password, Some(SecretSource::File("/pw".into())));
        assert_eq!(
            g.slack_api_url,
            Some(SecretSource::Inline(Secret::new("https://x/")))
        );
        assert_eq!(g.smtp_hello, "h");
        assert!(g.smtp_require_tls);
        let e = serde_json::from_str::<Global>(
            r#"{"opsgenie_api_key": "a", "opsgenie_api_key_file": "b"}"#,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains(
                "at most one of `global.opsgenie_api_key` and `global.opsgenie_api_key_file`"
            ),
            "{e}"
        );
        let e = serde_json::from_str::<Global>(r#"{"victorops_api_key_file": " "}"#).unwrap_err();
        assert!(e.to_string().contains("must not be empty"), "{e}");
        let e = serde_json::from_str::<Global>(r#"{"smtp_auth_passwd": "a"}"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `smtp_auth_passwd`"),
            "{e}"
        );
        assert_eq!(Global::default().http(), &HttpConfig::default());
    }
}
