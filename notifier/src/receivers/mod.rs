//! The integrations that deliver notifications: webhook (Alertmanager's JSON), Slack (incoming
//! webhook or bot), email (SMTP with lettre), and Alertmanager's PagerDuty, Opsgenie, Discord,
//! Telegram, Microsoft Teams, Webex, VictorOps and Pushover requests, plus ntfy. Each
//! integration reports whether a failure is worth retrying and how long the peer asked to wait
//! (`Retry-After`). [`build_all`] is the one place a receiver type is registered.

pub mod config;
pub mod discord;
pub mod email;
pub mod msteams;
pub mod ntfy;
pub mod opsgenie;
pub mod pagerduty;
pub mod pushover;
pub mod slack;
pub mod telegram;
pub mod victorops;
pub mod webex;
pub mod webhook;

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::Quota;

/// governor's clock on alertd's injected clock, so rate limits run in virtual time in tests.
#[derive(Debug, Clone)]
pub struct LimiterClock(Arc<dyn model::Clock>);

impl governor::clock::Clock for LimiterClock {
    type Instant = std::time::Duration;
    fn now(&self) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0.now_ms()).unwrap_or(0))
    }
}

type Limiter = governor::RateLimiter<
    governor::state::NotKeyed,
    governor::state::InMemoryState,
    LimiterClock,
    governor::middleware::NoOpMiddleware<std::time::Duration>,
>;

use crate::config::{HttpConfig, NotifierConfig, Secret};
use crate::payload::Notification;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// Worth retrying (network error, 5xx, 429), after `retry_after_ms` when the peer said so.
    #[error("{message}")]
    Retryable {
        /// What happened.
        message: String,
        /// The peer's `Retry-After`, in ms.
        retry_after_ms: Option<u64>,
    },
    /// Retrying will not help (4xx other than 429, a refused address).
    #[error("{0}")]
    Permanent(String),
}

/// Why receivers could not be built from the config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A secret file could not be read.
    #[error("{path}: cannot read secret file {file:?}: {error}")]
    SecretFile {
        /// Config path.
        path: String,
        /// The file.
        file: String,
        /// The OS error.
        error: String,
    },
    /// Something else in the receiver's config.
    #[error("{path}: {message}")]
    Invalid {
        /// Config path.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a secret given inline or through its `_file` twin (`model::secret::read_file`: one
/// trailing line break removed).
pub(crate) fn read_secret<F: AsRef<std::path::Path>>(
    path: &str,
    inline: Option<&Secret>,
    file: Option<&F>,
) -> Result<Option<Secret>, BuildError> {
    if let Some(s) = inline {
        return Ok(Some(s.clone()));
    }
    let Some(f) = file else { return Ok(None) };
    model::secret::read_file(f.as_ref())
        .map(Some)
        .map_err(|e| BuildError::SecretFile {
            path: path.to_string(),
            file: f.as_ref().display().to_string(),
            error: e.source.to_string(),
        })
}

/// Reads a `global` secret ([`model::secret::SecretSource`]), inline or from its file.
pub(crate) fn read_source(
    path: &str,
    source: Option<&model::secret::SecretSource>,
) -> Result<Option<Secret>, BuildError> {
    match source {
        None => Ok(None),
        Some(model::secret::SecretSource::Inline(s)) => read_secret::<&str>(path, Some(s), None),
        Some(model::secret::SecretSource::File(f)) => read_secret(path, None, Some(f)),
    }
}

/// The kind of an integration.
#[derive(Debug)]
pub enum Kind {
    /// Webhook.
    Webhook(webhook::Webhook),
    /// Slack.
    Slack(Box<slack::Slack>),
    /// Email.
    Email(email::Email),
    /// PagerDuty.
    Pagerduty(Box<pagerduty::Pagerduty>),
    /// Opsgenie.
    Opsgenie(Box<opsgenie::Opsgenie>),
    /// Discord.
    Discord(discord::Discord),
    /// Telegram.
    Telegram(telegram::Telegram),
    /// Microsoft Teams.
    Msteams(msteams::Msteams),
    /// ntfy.
    Ntfy(ntfy::Ntfy),
    /// Webex.
    Webex(webex::Webex),
    /// VictorOps.
    Victorops(victorops::Victorops),
    /// Pushover.
    Pushover(pushover::Pushover),
}

/// One configured integration of a receiver.
#[derive(Debug)]
pub struct Integration {
    /// The receiver's name.
    pub receiver: String,
    /// Position among the receiver's integrations (all kinds, in webhook, Slack, email,
    /// PagerDuty, Opsgenie, Discord, Telegram, MS Teams, ntfy, Webex, VictorOps, Pushover order).
    pub index: usize,
    /// Whether resolved alerts are sent.
    pub send_resolved: bool,
    /// The implementation.
    pub kind: Kind,
    /// Messages allowed per second, if limited.
    /// Shared by every integration posting to the same Slack webhook (or bot channel).
    limiter: Option<(Arc<Limiter>, LimiterClock)>,
}

impl Integration {
    /// `webhook[0]`, `slack[1]`...: the integration's name in history and logs.
    pub fn name(&self) -> String {
        format!("{}[{}]", self.kind_name(), self.index)
    }

    /// `webhook`, `slack` or `email`: Alertmanager's `integration` label value.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            Kind::Webhook(_) => "webhook",
            Kind::Slack(_) => "slack",
            Kind::Email(_) => "email",
            Kind::Pagerduty(_) => "pagerduty",
            Kind::Opsgenie(_) => "opsgenie",
            Kind::Discord(_) => "discord",
            Kind::Telegram(_) => "telegram",
            Kind::Msteams(_) => "msteams",
            Kind::Ntfy(_) => "ntfy",
            Kind::Webex(_) => "webex",
            Kind::Victorops(_) => "victorops",
            Kind::Pushover(_) => "pushover",
        }
    }

    /// Whether this integration has a rate limit.
    pub fn is_rate_limited(&self) -> bool {
        self.limiter.is_some()
    }

    /// Whether the rate limit lets a message through now; otherwise the wait in ms.
    pub fn rate_check(&self) -> Result<(), u64> {
        let Some((l, clock)) = &self.limiter else {
            return Ok(());
        };
        l.check().map_err(|nu| {
            let w = nu.wait_time_from(governor::clock::Clock::now(clock));
            u64::try_from(w.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// Delivers one notification.
    /// `thread` is the message id an earlier send returned for the same group (Slack bot mode);
    /// the result is the id to keep, if any.
    pub async fn send(
        &self,
        n: &Notification,
        thread: Option<&str>,
    ) -> Result<Option<String>, SendError> {
        match &self.kind {
            Kind::Webhook(w) => w.send(n).await.map(|()| None),
            Kind::Slack(s) => s.send(n, thread).await,
            Kind::Email(e) => e.send(n).await.map(|()| None),
            Kind::Pagerduty(p) => p.send(n).await.map(|()| None),
            Kind::Opsgenie(o) => o.send(n).await.map(|()| None),
            Kind::Discord(d) => d.send(n).await.map(|()| None),
            Kind::Telegram(t) => t.send(n).await.map(|()| None),
            Kind::Msteams(m) => m.send(n).await.map(|()| None),
            Kind::Ntfy(m) => m.send(n).await.map(|()| None),
            Kind::Webex(w) => w.send(n).await.map(|()| None),
            Kind::Victorops(v) => v.send(n).await.map(|()| None),
            Kind::Pushover(p) => p.send(n).await.map(|()| None),
        }
    }
}

/// Renders a templated field with Alertmanager's semantics: the configured text, or `default`
/// (one of Alertmanager's default template references) when unset. A template that fails at
/// send time is logged and the default rendered instead, so the notification still goes out.
pub(crate) fn render(
    t: &crate::gotemplate::Templates,
    name: &str,
    configured: Option<&str>,
    default: &str,
    n: &Notification,
) -> String {
    let text = configured.unwrap_or(default);
    match t.render(name, text, n) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(receiver = %n.receiver, "{e}; sending the default text instead");
            t.render(name, default, n).unwrap_or_default()
        }
    }
}

/// Alertmanager's `TruncateInRunes`: at most `max` characters, the last one `…` when cut.
pub(crate) fn truncate_runes(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    if max <= 3 {
        return s.chars().take(max).collect();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Alertmanager's `TruncateInBytes`: at most `max` bytes, ending in `…` when cut.
pub(crate) fn truncate_bytes(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    if max <= 3 {
        return if max == 3 {
            "…".into()
        } else {
            ".".repeat(max)
        };
    }
    let mut cut = max - 3;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = s[..cut].to_string();
    out.push('…');
    out
}

/// Alertmanager's `Key.Hash()`: the SHA-256 of the group key, in lower-case hex.
pub fn group_key_hash(group_key: &str) -> String {
    use std::fmt::Write;
    let d = ring::digest::digest(&ring::digest::SHA256, group_key.as_bytes());
    let mut s = String::with_capacity(64);
    for b in d.as_ref() {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Sends one JSON request as Alertmanager's `notify.PostJSON` does (its `Content-Type`; the
/// `http_config` authorization), and classifies the answer.
pub(crate) async fn send_json(
    client: &reqwest::Client,
    auth: Option<&(String, String)>,
    method: reqwest::Method,
    url: &str,
    extra: Option<(&str, &str)>,
    body: &serde_json::Value,
) -> Result<String, SendError> {
    let body = serde_json::to_vec(body).map_err(|e| SendError::Permanent(e.to_string()))?;
    let mut req = client
        .request(method, url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::USER_AGENT, "alertd")
        .body(body);
    if let Some((k, v)) = auth {
        req = req.header(k.as_str(), v.as_str());
    }
    if let Some((k, v)) = extra {
        req = req.header(k, v);
    }
    let resp = req.send().await.map_err(transport_error)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    classify(status, &headers, &text)?;
    Ok(text)
}

/// A URL of the config, checked when the receiver is built.
pub(crate) fn parse_url(path: &str, u: &str) -> Result<reqwest::Url, BuildError> {
    reqwest::Url::parse(u.trim()).map_err(|e| BuildError::Invalid {
        path: path.to_string(),
        message: format!("not a valid URL: {e}"),
    })
}

pub use httpclient::install_crypto_provider;

/// A receiver's client from its `http_config` (the one builder: the `httpclient` crate) and
/// the `Authorization` header it sends per request.
pub(crate) fn http_client(
    path: &str,
    h: Option<&HttpConfig>,
    timeout: std::time::Duration,
) -> Result<(reqwest::Client, Option<(String, String)>), BuildError> {
    let timeouts = httpclient::Timeouts {
        request: timeout,
        connect: std::time::Duration::from_secs(10),
    };
    let built = httpclient::build(h, timeouts).map_err(|e| {
        let at = match e.key() {
            "" => path.to_string(),
            k => format!("{path}.http_config.{k}"),
        };
        match e {
            httpclient::HttpClientError::ReadFile { file, source, .. } => BuildError::SecretFile {
                path: at,
                file: file.display().to_string(),
                error: source.to_string(),
            },
            httpclient::HttpClientError::Invalid { message, .. } => {
                BuildError::Invalid { path: at, message }
            }
        }
    })?;
    let auth = built
        .authorization
        .and_then(|v| v.to_str().ok().map(str::to_string))
        .map(|v| ("Authorization".to_string(), v));
    Ok((built.client, auth))
}

/// Classifies an HTTP response status like Alertmanager (`5xx` and 429 retry, other 4xx do not).
pub(crate) fn classify(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> Result<(), SendError> {
    if status.is_success() {
        return Ok(());
    }
    let retry_after_ms = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s * 1000);
    let snippet: String = body.chars().take(200).collect();
    let message = format!("unexpected status code {}: {snippet}", status.as_u16());
    if status.as_u16() == 429 || status.is_server_error() {
        Err(SendError::Retryable {
            message,
            retry_after_ms,
        })
    } else {
        Err(SendError::Permanent(message))
    }
}

/// Connection-level errors are retryable; the message never includes the URL (it may hold a
/// token).
pub(crate) fn transport_error(e: reqwest::Error) -> SendError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    let e = e.without_url();
    SendError::Retryable {
        message: format!("{kind}: {e}"),
        retry_after_ms: None,
    }
}

/// Builds every integration of every receiver, keyed by receiver name; each send gives up after
/// `timeout`.
pub fn build_all(
    cfg: &NotifierConfig,
    timeout: std::time::Duration,
    clock: Arc<dyn model::Clock>,
) -> Result<std::collections::HashMap<String, Vec<Arc<Integration>>>, BuildError> {
    let templates = Arc::new(
        crate::gotemplate::Templates::load(&cfg.templates, None).map_err(|e| {
            BuildError::Invalid {
                path: "templates".into(),
                message: e.to_string(),
            }
        })?,
    );
    let mut out = std::collections::HashMap::new();
    let mut shared: std::collections::HashMap<String, Arc<Limiter>> =
        std::collections::HashMap::new();
    for (ri, r) in cfg.receivers.iter().enumerate() {
        let mut v = Vec::new();
        let mut idx = 0;
        for (j, w) in r.webhook_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].webhook_configs[{j}]");
            v.push(Arc::new(Integration {
                receiver: r.name.clone(),
                index: idx,
                send_resolved: w.send_resolved,
                kind: Kind::Webhook(webhook::Webhook::new(
                    &path,
                    w,
                    cfg.global.http_config.as_ref(),
                    timeout,
                )?),
                limiter: None,
            }));
            idx += 1;
        }
        for (j, s) in r.slack_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].slack_configs[{j}]");
            let slack = slack::Slack::new(&path, s, &cfg.global, timeout, templates.clone())?;
            let limiter = NonZeroU32::new(s.rate_limit_per_second.unwrap_or(1)).map(|n| {
                let c = LimiterClock(clock.clone());
                let l = shared
                    .entry(format!("{}\u{0}{n}", slack.target_key()))
                    .or_insert_with(|| {
                        Arc::new(Limiter::direct_with_clock(Quota::per_second(n), c.clone()))
                    })
                    .clone();
                (l, c)
            });
            v.push(Arc::new(Integration {
                receiver: r.name.clone(),
                index: idx,
                send_resolved: s.send_resolved,
                kind: Kind::Slack(Box::new(slack)),
                limiter,
            }));
            idx += 1;
        }
        for (j, e) in r.email_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].email_configs[{j}]");
            v.push(Arc::new(Integration {
                receiver: r.name.clone(),
                index: idx,
                send_resolved: e.send_resolved,
                kind: Kind::Email(email::Email::new(
                    &path,
                    e,
                    &cfg.global,
                    timeout,
                    templates.clone(),
                )?),
                limiter: None,
            }));
            idx += 1;
        }
        let mut push = |kind: Kind, send_resolved: bool| {
            v.push(Arc::new(Integration {
                receiver: r.name.clone(),
                index: idx,
                send_resolved,
                kind,
                limiter: None,
            }));
            idx += 1;
        };
        let g = &cfg.global;
        for (j, c) in r.pagerduty_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].pagerduty_configs[{j}]");
            let p = pagerduty::Pagerduty::new(&path, c, g, timeout, templates.clone())?;
            push(Kind::Pagerduty(Box::new(p)), c.send_resolved);
        }
        for (j, c) in r.opsgenie_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].opsgenie_configs[{j}]");
            let o = opsgenie::Opsgenie::new(&path, c, g, timeout, templates.clone())?;
            push(Kind::Opsgenie(Box::new(o)), c.send_resolved);
        }
        for (j, c) in r.discord_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].discord_configs[{j}]");
            let d = discord::Discord::new(&path, c, g, timeout, templates.clone())?;
            push(Kind::Discord(d), c.send_resolved);
        }
        for (j, c) in r.telegram_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].telegram_configs[{j}]");
            let t = telegram::Telegram::new(&path, c, g, timeout, templates.clone())?;
            push(Kind::Telegram(t), c.send_resolved);
        }
        for (j, c) in r.msteams_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].msteams_configs[{j}]");
            let m = msteams::Msteams::new(&path, c, timeout, templates.clone())?;
            push(Kind::Msteams(m), c.send_resolved);
        }
        for (j, c) in r.ntfy_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].ntfy_configs[{j}]");
            let m = ntfy::Ntfy::new(&path, c, timeout, templates.clone())?;
            push(Kind::Ntfy(m), c.send_resolved);
        }
        for (j, c) in r.webex_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].webex_configs[{j}]");
            let w = webex::Webex::new(&path, c, g, timeout, templates.clone())?;
            push(Kind::Webex(w), c.send_resolved);
        }
        for (j, c) in r.victorops_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].victorops_configs[{j}]");
            let v = victorops::Victorops::new(&path, c, g, timeout, templates.clone())?;
            push(Kind::Victorops(v), c.send_resolved);
        }
        for (j, c) in r.pushover_configs.iter().enumerate() {
            let path = format!("receivers[{ri}].pushover_configs[{j}]");
            let p = pushover::Pushover::new(&path, c, timeout, templates.clone())?;
            push(Kind::Pushover(p), c.send_resolved);
        }
        out.insert(r.name.clone(), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_files_without_trailing_newline() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("s");
        std::fs::write(&f, "https://hooks/x\n").unwrap();
        let s = read_secret("p", None, Some(&f.display().to_string()))
            .unwrap()
            .unwrap();
        assert_eq!(s.expose(), "https://hooks/x");
        let e = read_secret("p", None, Some(&"/nonexistent/x".to_string())).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/x"));
    }
}
