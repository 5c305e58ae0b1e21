//! Configuration of the receiver types beyond webhook, Slack and email, with Alertmanager's
//! keys and defaults (`config/notifiers.go`), so a pasted Alertmanager config loads unchanged.
//! Templated fields are `None` when unset and take Alertmanager's default template then.
//! [`validate`] checks them with the paths `NotifierConfig::validate` reports.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{check_http, check_template, Global, HttpConfig, Receiver, Secret};

/// Alertmanager's default `global.pagerduty_url`.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// The Events API v1 endpoint (used with `service_key`; Alertmanager 0.25 always posts there).
pub const PAGERDUTY_V1_URL: &str =
    "https://events.pagerduty.com/generic/2010-04-15/create_event.json";
/// Alertmanager's default `global.opsgenie_api_url`.
pub const DEFAULT_OPSGENIE_API_URL: &str = "https://api.opsgenie.com/";
/// ntfy's public server, the default `url` of `ntfy_configs`.
pub const DEFAULT_NTFY_URL: &str = "https://ntfy.sh";
/// Alertmanager's default `global.webex_api_url`.
pub const DEFAULT_WEBEX_API_URL: &str = "https://webexapis.com/v1/messages";
/// Alertmanager's default `global.victorops_api_url`.
pub const DEFAULT_VICTOROPS_API_URL: &str =
    "https://alert.victorops.com/integrations/generic/20131114/alert/";
/// Pushover's messages API (fixed in Alertmanager; alertd's `api_url` can change it).
pub const DEFAULT_PUSHOVER_API_URL: &str = "https://api.pushover.net/1/messages.json";
/// Alertmanager's default `global.telegram_api_url`.
pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";

fn yes() -> bool {
    true
}

/// A link of a PagerDuty event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyLink {
    /// URL (templated).
    pub href: String,
    /// Text (templated).
    pub text: String,
}

/// An image of a PagerDuty event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyImage {
    /// Image URL (templated).
    pub src: String,
    /// Alt text (templated).
    pub alt: String,
    /// Link (templated).
    pub href: String,
}

/// PagerDuty integration (Alertmanager's `pagerduty_configs`): Events API v2 with
/// `routing_key`, v1 with `service_key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerdutyConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// Events API v1 integration key.
    pub service_key: Option<Secret>,
    /// File holding the v1 key.
    pub service_key_file: Option<String>,
    /// Events API v2 integration key.
    pub routing_key: Option<Secret>,
    /// File holding the v2 key.
    pub routing_key_file: Option<String>,
    /// API URL (default `global.pagerduty_url`; with `service_key` the v1 endpoint).
    pub url: Option<String>,
    /// `client` (default `{{ template "pagerduty.default.client" . }}`).
    pub client: Option<String>,
    /// `client_url` (default `{{ template "pagerduty.default.clientURL" . }}`).
    pub client_url: Option<String>,
    /// Summary / description (default `{{ template "pagerduty.default.description" .}}`).
    pub description: Option<String>,
    /// Custom details; Alertmanager's `firing`, `resolved`, `num_firing` and `num_resolved` are
    /// added unless given.
    pub details: BTreeMap<String, String>,
    /// Images.
    pub images: Vec<PagerdutyImage>,
    /// Links.
    pub links: Vec<PagerdutyLink>,
    /// `payload.source` (default: the `client` template).
    pub source: Option<String>,
    /// `payload.severity` (default `error`).
    pub severity: Option<String>,
    /// `payload.class`.
    pub class: Option<String>,
    /// `payload.component`.
    pub component: Option<String>,
    /// `payload.group`.
    pub group: Option<String>,
}

impl Default for PagerdutyConfig {
    fn default() -> Self {
        PagerdutyConfig {
            send_resolved: true,
            http_config: None,
            service_key: None,
            service_key_file: None,
            routing_key: None,
            routing_key_file: None,
            url: None,
            client: None,
            client_url: None,
            description: None,
            details: BTreeMap::new(),
            images: Vec::new(),
            links: Vec::new(),
            source: None,
            severity: None,
            class: None,
            component: None,
            group: None,
        }
    }
}

/// A responder of an Opsgenie alert.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsgenieResponder {
    /// Responder id (templated).
    pub id: String,
    /// Name (templated; with type `teams`, a comma-separated list of teams).
    pub name: String,
    /// User name (templated).
    pub username: String,
    /// `team`, `teams`, `user`, `escalation` or `schedule` (or a template).
    #[serde(rename = "type")]
    pub type_: String,
}

/// Opsgenie integration (Alertmanager's `opsgenie_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsgenieConfig {
    /// Send resolved notifications (default true): closes the alert.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// API key (default `global.opsgenie_api_key`).
    pub api_key: Option<Secret>,
    /// File holding the API key.
    pub api_key_file: Option<String>,
    /// API URL (default `global.opsgenie_api_url`).
    pub api_url: Option<String>,
    /// Message (default `{{ template "opsgenie.default.message" . }}`).
    pub message: Option<String>,
    /// Description (default `{{ template "opsgenie.default.description" . }}`).
    pub description: Option<String>,
    /// Source (default `{{ template "opsgenie.default.source" . }}`).
    pub source: Option<String>,
    /// Details, added to the common labels.
    pub details: BTreeMap<String, String>,
    /// Entity.
    pub entity: Option<String>,
    /// Responders.
    pub responders: Vec<OpsgenieResponder>,
    /// Actions (comma-separated).
    pub actions: Option<String>,
    /// Tags (comma-separated).
    pub tags: Option<String>,
    /// Note.
    pub note: Option<String>,
    /// Priority (P1..P5).
    pub priority: Option<String>,
    /// Also update the message and description of an existing alert.
    pub update_alerts: bool,
}

impl Default for OpsgenieConfig {
    fn default() -> Self {
        OpsgenieConfig {
            send_resolved: true,
            http_config: None,
            api_key: None,
            api_key_file: None,
            api_url: None,
            message: None,
            description: None,
            source: None,
            details: BTreeMap::new(),
            entity: None,
            responders: Vec::new(),
            actions: None,
            tags: None,
            note: None,
            priority: None,
            update_alerts: false,
        }
    }
}

/// Discord integration (Alertmanager's `discord_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// The webhook URL.
    pub webhook_url: Option<Secret>,
    /// File holding the webhook URL (Alertmanager 0.27's key).
    pub webhook_url_file: Option<String>,
    /// Embed title (default `{{ template "discord.default.title" . }}`).
    pub title: Option<String>,
    /// Embed description (default `{{ template "discord.default.message" . }}`).
    pub message: Option<String>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        DiscordConfig {
            send_resolved: true,
            http_config: None,
            webhook_url: None,
            webhook_url_file: None,
            title: None,
            message: None,
        }
    }
}

/// Telegram integration (Alertmanager's `telegram_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// Bot API URL (default `global.telegram_api_url`).
    pub api_url: Option<String>,
    /// Bot token.
    pub bot_token: Option<Secret>,
    /// File holding the bot token (Alertmanager 0.26's key).
    pub bot_token_file: Option<String>,
    /// Chat id.
    pub chat_id: i64,
    /// Message (default `{{ template "telegram.default.message" . }}`).
    pub message: Option<String>,
    /// Send silently.
    pub disable_notifications: bool,
    /// `HTML` (default), `Markdown`, `MarkdownV2` or empty.
    pub parse_mode: Option<String>,
}

impl Default for TelegramConfig {
    fn default() -> Self {
        TelegramConfig {
            send_resolved: true,
            http_config: None,
            api_url: None,
            bot_token: None,
            bot_token_file: None,
            chat_id: 0,
            message: None,
            disable_notifications: false,
            parse_mode: None,
        }
    }
}

/// Microsoft Teams integration (Alertmanager 0.26's `msteams_configs`: an Office 365 connector
/// card posted to an incoming webhook).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsteamsConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// The incoming webhook URL.
    pub webhook_url: Option<Secret>,
    /// File holding the webhook URL (Alertmanager 0.27's key).
    pub webhook_url_file: Option<String>,
    /// Card title (default `{{ template "msteams.default.title" . }}`).
    pub title: Option<String>,
    /// Card text, Markdown (default `{{ template "msteams.default.text" . }}`).
    pub text: Option<String>,
}

impl Default for MsteamsConfig {
    fn default() -> Self {
        MsteamsConfig {
            send_resolved: true,
            http_config: None,
            webhook_url: None,
            webhook_url_file: None,
            title: None,
            text: None,
        }
    }
}

/// ntfy integration (alertd's own `ntfy_configs`): ntfy's JSON publish API (`POST` to the server
/// root with `topic`, `title`, `message`, `priority`, `tags`, `click`, `markdown`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NtfyConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings (`basic_auth` for a user and password).
    pub http_config: Option<HttpConfig>,
    /// The server (default `https://ntfy.sh`).
    pub url: Option<String>,
    /// The topic (templated; required).
    pub topic: Option<String>,
    /// An access token (`tk_...`), sent as `Authorization: Bearer`.
    pub access_token: Option<Secret>,
    /// File holding the access token.
    pub access_token_file: Option<String>,
    /// Title (default `{{ template "ntfy.default.title" . }}`).
    pub title: Option<String>,
    /// Message (default `{{ template "ntfy.default.message" . }}`: each alert's summary).
    pub message: Option<String>,
    /// Priority: `min`, `low`, `default`, `high`, `max`/`urgent` or 1..5 (default
    /// `{{ template "ntfy.default.priority" . }}`: high while firing, default when resolved).
    pub priority: Option<String>,
    /// Tags, comma-separated (default `{{ template "ntfy.default.tags" . }}`).
    pub tags: Option<String>,
    /// Link opened on click (default `{{ template "ntfy.default.click" . }}`).
    pub click: Option<String>,
    /// Render the message as Markdown.
    pub markdown: bool,
}

impl Default for NtfyConfig {
    fn default() -> Self {
        NtfyConfig {
            send_resolved: true,
            http_config: None,
            url: None,
            topic: None,
            access_token: None,
            access_token_file: None,
            title: None,
            message: None,
            priority: None,
            tags: None,
            click: None,
            markdown: false,
        }
    }
}

/// Webex integration (Alertmanager's `webex_configs`; the bot token goes in
/// `http_config.authorization`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebexConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings (required: `authorization`).
    pub http_config: Option<HttpConfig>,
    /// Messages URL (default `global.webex_api_url`).
    pub api_url: Option<String>,
    /// Markdown message (default `{{ template "webex.default.message" . }}`).
    pub message: Option<String>,
    /// The room.
    pub room_id: String,
}

impl Default for WebexConfig {
    fn default() -> Self {
        WebexConfig {
            send_resolved: true,
            http_config: None,
            api_url: None,
            message: None,
            room_id: String::new(),
        }
    }
}

/// VictorOps (Splunk On-Call) integration (Alertmanager's `victorops_configs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VictoropsConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// API key (default `global.victorops_api_key`).
    pub api_key: Option<Secret>,
    /// File holding the API key.
    pub api_key_file: Option<String>,
    /// API URL (default `global.victorops_api_url`).
    pub api_url: Option<String>,
    /// Routing key (templated; required).
    pub routing_key: String,
    /// `CRITICAL` (default), `WARNING` or `INFO` while firing.
    pub message_type: Option<String>,
    /// State message (default `{{ template "victorops.default.state_message" . }}`).
    pub state_message: Option<String>,
    /// Display name (default `{{ template "victorops.default.entity_display_name" . }}`).
    pub entity_display_name: Option<String>,
    /// Monitoring tool (default `{{ template "victorops.default.monitoring_tool" . }}`).
    pub monitoring_tool: Option<String>,
    /// More fields of the event.
    pub custom_fields: BTreeMap<String, String>,
}

impl Default for VictoropsConfig {
    fn default() -> Self {
        VictoropsConfig {
            send_resolved: true,
            http_config: None,
            api_key: None,
            api_key_file: None,
            api_url: None,
            routing_key: String::new(),
            message_type: None,
            state_message: None,
            entity_display_name: None,
            monitoring_tool: None,
            custom_fields: BTreeMap::new(),
        }
    }
}

/// Pushover integration (Alertmanager's `pushover_configs`, with 0.26's `_file` keys).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushoverConfig {
    /// Send resolved notifications (default true).
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// HTTP client settings.
    pub http_config: Option<HttpConfig>,
    /// The recipient's user key.
    pub user_key: Option<Secret>,
    /// File holding the user key.
    pub user_key_file: Option<String>,
    /// The application token.
    pub token: Option<Secret>,
    /// File holding the application token.
    pub token_file: Option<String>,
    /// Title (default `{{ template "pushover.default.title" . }}`).
    pub title: Option<String>,
    /// Message (default `{{ template "pushover.default.message" . }}`).
    pub message: Option<String>,
    /// Supplementary URL (default `{{ template "pushover.default.url" . }}`).
    pub url: Option<String>,
    /// Title of the URL.
    pub url_title: Option<String>,
    /// Sound.
    pub sound: Option<String>,
    /// Priority (default `{{ if eq .Status "firing" }}2{{ else }}0{{ end }}`).
    pub priority: Option<String>,
    /// Retry interval of emergency messages (default 1m).
    pub retry: model::Duration,
    /// Expiry of emergency messages (default 1h).
    pub expire: model::Duration,
    /// The message is HTML.
    pub html: bool,
    /// alertd: the messages API URL (default `https://api.pushover.net/1/messages.json`).
    pub api_url: Option<String>,
}

impl Default for PushoverConfig {
    fn default() -> Self {
        PushoverConfig {
            send_resolved: true,
            http_config: None,
            user_key: None,
            user_key_file: None,
            token: None,
            token_file: None,
            title: None,
            message: None,
            url: None,
            url_title: None,
            sound: None,
            priority: None,
            retry: model::Duration::from_secs(60),
            expire: model::Duration::from_secs(3600),
            html: false,
            api_url: None,
        }
    }
}

fn check_url(err: &mut impl FnMut(String, String), path: String, u: &Option<String>) {
    if let Some(u) = u {
        match reqwest::Url::parse(u) {
            Ok(v) if matches!(v.scheme(), "http" | "https") => {}
            _ => err(path, format!("not a valid http(s) URL: {u:?}")),
        }
    }
}

fn at_most_one(err: &mut impl FnMut(String, String), p: &str, a: (&str, bool), b: (&str, bool)) {
    if a.1 && b.1 {
        err(
            p.to_string(),
            format!("at most one of {} and {} must be configured", a.0, b.0),
        );
    }
}

/// A setting that must be given once, inline or as its `_file` twin.
fn required_twin(err: &mut impl FnMut(String, String), p: &str, k: &str, inline: bool, file: bool) {
    if !inline && !file {
        err(format!("{p}.{k}"), format!("missing {k} or {k}_file"));
    }
    at_most_one(err, p, (k, inline), (&format!("{k}_file"), file));
}

/// A webhook URL given inline must parse (one from a file is read when the receiver is built).
fn check_inline_url(err: &mut impl FnMut(String, String), p: &str, u: &Option<Secret>) {
    if u.as_ref()
        .is_some_and(|u| reqwest::Url::parse(u.expose()).is_err())
    {
        err(format!("{p}.webhook_url"), "not a valid URL".into());
    }
}

/// Checks the receiver types of this module in `r` (at `receivers[i]` = `p`).
pub(crate) fn validate(
    err: &mut impl FnMut(String, String),
    templates: &Option<crate::gotemplate::Templates>,
    g: &Global,
    p: &str,
    r: &Receiver,
) {
    let tmpl = |err: &mut dyn FnMut(String, String), path: String, v: &Option<String>| {
        let mut e = |a: String, b: String| err(a, b);
        check_template(&mut e, templates, path, v);
    };
    for (j, c) in r.pagerduty_configs.iter().enumerate() {
        let p = format!("{p}.pagerduty_configs[{j}]");
        if c.routing_key.is_none()
            && c.routing_key_file.is_none()
            && c.service_key.is_none()
            && c.service_key_file.is_none()
        {
            err(
                p.clone(),
                "missing service or routing key in PagerDuty config".into(),
            );
        }
        at_most_one(
            err,
            &p,
            ("routing_key", c.routing_key.is_some()),
            ("routing_key_file", c.routing_key_file.is_some()),
        );
        at_most_one(
            err,
            &p,
            ("service_key", c.service_key.is_some()),
            ("service_key_file", c.service_key_file.is_some()),
        );
        check_url(err, format!("{p}.url"), &c.url);
        for (k, v) in [
            ("client", &c.client),
            ("client_url", &c.client_url),
            ("description", &c.description),
            ("source", &c.source),
            ("severity", &c.severity),
            ("class", &c.class),
            ("component", &c.component),
            ("group", &c.group),
        ] {
            tmpl(err, format!("{p}.{k}"), v);
        }
        for (k, v) in &c.details {
            tmpl(err, format!("{p}.details.{k}"), &Some(v.clone()));
        }
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.opsgenie_configs.iter().enumerate() {
        let p = format!("{p}.opsgenie_configs[{j}]");
        at_most_one(
            err,
            &p,
            ("api_key", c.api_key.is_some()),
            ("api_key_file", c.api_key_file.is_some()),
        );
        if c.api_key.is_none() && c.api_key_file.is_none() && g.opsgenie_api_key.is_none() {
            err(
                format!("{p}.api_key"),
                "no api_key, api_key_file or global opsgenie_api_key".into(),
            );
        }
        check_url(err, format!("{p}.api_url"), &c.api_url);
        for (i, rs) in c.responders.iter().enumerate() {
            let rp = format!("{p}.responders[{i}]");
            if rs.id.is_empty() && rs.username.is_empty() && rs.name.is_empty() {
                err(
                    rp.clone(),
                    "a responder needs at least one of id, username or name".into(),
                );
            }
            if rs.type_.contains("{{") {
                tmpl(err, format!("{rp}.type"), &Some(rs.type_.clone()));
            } else if !matches!(
                rs.type_.to_lowercase().as_str(),
                "team" | "teams" | "user" | "escalation" | "schedule"
            ) {
                err(
                    format!("{rp}.type"),
                    format!(
                        "{:?} is not one of team, teams, user, escalation, schedule",
                        rs.type_
                    ),
                );
            }
        }
        for (k, v) in [
            ("message", &c.message),
            ("description", &c.description),
            ("source", &c.source),
            ("entity", &c.entity),
            ("actions", &c.actions),
            ("tags", &c.tags),
            ("note", &c.note),
            ("priority", &c.priority),
        ] {
            tmpl(err, format!("{p}.{k}"), v);
        }
        for (k, v) in &c.details {
            tmpl(err, format!("{p}.details.{k}"), &Some(v.clone()));
        }
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.discord_configs.iter().enumerate() {
        let p = format!("{p}.discord_configs[{j}]");
        let (inline, file) = (c.webhook_url.is_some(), c.webhook_url_file.is_some());
        required_twin(err, &p, "webhook_url", inline, file);
        if !file {
            check_inline_url(err, &p, &c.webhook_url);
        }
        tmpl(err, format!("{p}.title"), &c.title);
        tmpl(err, format!("{p}.message"), &c.message);
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.telegram_configs.iter().enumerate() {
        let p = format!("{p}.telegram_configs[{j}]");
        required_twin(
            err,
            &p,
            "bot_token",
            c.bot_token.is_some(),
            c.bot_token_file.is_some(),
        );
        if c.chat_id == 0 {
            err(format!("{p}.chat_id"), "missing chat_id".into());
        }
        if let Some(m) = &c.parse_mode {
            if !matches!(m.as_str(), "" | "Markdown" | "MarkdownV2" | "HTML") {
                err(
                    format!("{p}.parse_mode"),
                    "must be Markdown, MarkdownV2, HTML or empty".into(),
                );
            }
        }
        check_url(err, format!("{p}.api_url"), &c.api_url);
        tmpl(err, format!("{p}.message"), &c.message);
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.msteams_configs.iter().enumerate() {
        let p = format!("{p}.msteams_configs[{j}]");
        let (inline, file) = (c.webhook_url.is_some(), c.webhook_url_file.is_some());
        required_twin(err, &p, "webhook_url", inline, file);
        if !file {
            check_inline_url(err, &p, &c.webhook_url);
        }
        tmpl(err, format!("{p}.title"), &c.title);
        tmpl(err, format!("{p}.text"), &c.text);
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.ntfy_configs.iter().enumerate() {
        let p = format!("{p}.ntfy_configs[{j}]");
        if c.topic.as_deref().is_none_or(|t| t.trim().is_empty()) {
            err(format!("{p}.topic"), "missing topic".into());
        }
        at_most_one(
            err,
            &p,
            ("access_token", c.access_token.is_some()),
            ("access_token_file", c.access_token_file.is_some()),
        );
        check_url(err, format!("{p}.url"), &c.url);
        if let Some(pr) = &c.priority {
            if !pr.contains("{{") && crate::receivers::ntfy::priority(pr).is_none() {
                err(
                    format!("{p}.priority"),
                    format!("{pr:?} is not one of min, low, default, high, max, urgent, 1..5"),
                );
            }
        }
        for (k, v) in [
            ("topic", &c.topic),
            ("title", &c.title),
            ("message", &c.message),
            ("priority", &c.priority),
            ("tags", &c.tags),
            ("click", &c.click),
        ] {
            tmpl(err, format!("{p}.{k}"), v);
        }
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.webex_configs.iter().enumerate() {
        let p = format!("{p}.webex_configs[{j}]");
        if c.room_id.is_empty() {
            err(format!("{p}.room_id"), "missing room_id".into());
        }
        if c.http_config
            .as_ref()
            .and_then(|h| h.authorization.as_ref())
            .is_none()
        {
            err(
                format!("{p}.http_config.authorization"),
                "missing http_config.authorization (the bot token)".into(),
            );
        }
        check_url(err, format!("{p}.api_url"), &c.api_url);
        tmpl(err, format!("{p}.message"), &c.message);
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.victorops_configs.iter().enumerate() {
        let p = format!("{p}.victorops_configs[{j}]");
        if c.routing_key.is_empty() {
            err(format!("{p}.routing_key"), "missing routing_key".into());
        }
        at_most_one(
            err,
            &p,
            ("api_key", c.api_key.is_some()),
            ("api_key_file", c.api_key_file.is_some()),
        );
        if c.api_key.is_none() && c.api_key_file.is_none() && g.victorops_api_key.is_none() {
            err(
                format!("{p}.api_key"),
                "no api_key, api_key_file or global victorops_api_key".into(),
            );
        }
        for k in [
            "routing_key",
            "message_type",
            "state_message",
            "entity_display_name",
            "monitoring_tool",
            "entity_id",
            "entity_state",
        ] {
            if c.custom_fields.contains_key(k) {
                err(
                    format!("{p}.custom_fields.{k}"),
                    "conflicts with a field alertd sets".into(),
                );
            }
        }
        check_url(err, format!("{p}.api_url"), &c.api_url);
        for (k, v) in [
            ("routing_key", &Some(c.routing_key.clone())),
            ("message_type", &c.message_type),
            ("state_message", &c.state_message),
            ("entity_display_name", &c.entity_display_name),
            ("monitoring_tool", &c.monitoring_tool),
        ] {
            tmpl(err, format!("{p}.{k}"), v);
        }
        for (k, v) in &c.custom_fields {
            tmpl(err, format!("{p}.custom_fields.{k}"), &Some(v.clone()));
        }
        check_http(err, &p, c.http_config.as_ref());
    }
    for (j, c) in r.pushover_configs.iter().enumerate() {
        let p = format!("{p}.pushover_configs[{j}]");
        for (k, inline, file) in [
            ("user_key", c.user_key.is_some(), c.user_key_file.is_some()),
            ("token", c.token.is_some(), c.token_file.is_some()),
        ] {
            required_twin(err, &p, k, inline, file);
        }
        check_url(err, format!("{p}.api_url"), &c.api_url);
        for (k, v) in [
            ("title", &c.title),
            ("message", &c.message),
            ("url", &c.url),
            ("url_title", &c.url_title),
            ("sound", &c.sound),
            ("priority", &c.priority),
        ] {
            tmpl(err, format!("{p}.{k}"), v);
        }
        check_http(err, &p, c.http_config.as_ref());
    }
}

#[cfg(test)]
mod tests {
    use crate::config::NotifierConfig;

    /// Receivers as Alertmanager's documentation writes them load unchanged, with its defaults.
    #[test]
    fn alertmanager_receiver_configs_load_with_their_defaults() {
        let c = NotifierConfig::from_yaml(
            r#"
route: { receiver: all }
receivers:
  - name: all
    pagerduty_configs:
      - routing_key: rk
        severity: '{{ .CommonLabels.severity }}'
        links: [{ href: 'http://x', text: x }]
        images: [{ src: 'http://i', alt: a, href: 'http://h' }]
      - service_key_file: /etc/alertd/pd
    opsgenie_configs:
      - api_key: k
        responders: [{ name: ops, type: team }, { id: '{{ .CommonLabels.id }}', type: '{{ .CommonLabels.t }}' }]
        priority: P1
        tags: a,b
        update_alerts: true
    discord_configs: [{ webhook_url: 'https://discord.com/api/webhooks/1/x' }]
    telegram_configs: [{ bot_token: t, chat_id: -100123, parse_mode: MarkdownV2 }]
    msteams_configs: [{ webhook_url: 'https://example.webhook.office.com/x' }]
    webex_configs:
      - room_id: r
        http_config: { authorization: { credentials: c } }
    victorops_configs: [{ api_key: k, routing_key: team }]
    pushover_configs: [{ user_key: u, token: t, expire: 2h }]
    ntfy_configs: [{ url: 'https://ntfy.example.com', topic: alerts, access_token_file: /t }]
"#,
        )
        .unwrap();
        assert_eq!(c.validate(), vec![]);
        let r = &c.receivers[0];
        assert!(r.pagerduty_configs[0].send_resolved && r.opsgenie_configs[0].send_resolved);
        assert!(r.discord_configs[0].send_resolved && r.telegram_configs[0].send_resolved);
        assert!(r.webex_configs[0].send_resolved && r.victorops_configs[0].send_resolved);
        assert!(r.pushover_configs[0].send_resolved && r.msteams_configs[0].send_resolved);
        assert_eq!(r.pushover_configs[0].retry, model::Duration::from_secs(60));
        assert_eq!(
            r.pushover_configs[0].expire,
            model::Duration::from_secs(7200)
        );
        // Secrets print as <secret>.
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("\"rk\""), "{json}");
        assert!(!json.contains("office.com"), "{json}");
    }

    #[test]
    fn invalid_receivers_are_reported_at_their_paths() {
        let c = NotifierConfig::from_yaml(
            r#"
route: { receiver: all }
receivers:
  - name: all
    pagerduty_configs: [{}, { routing_key: a, routing_key_file: b }]
    opsgenie_configs: [{ responders: [{ type: team }, { name: x, type: crew }] }]
    discord_configs: [{}]
    telegram_configs: [{ bot_token: t, parse_mode: html }]
    webex_configs: [{}]
    victorops_configs: [{ api_key: k, custom_fields: { entity_id: x } }]
    pushover_configs: [{ token: t }]
    ntfy_configs: [{ priority: loud }]
"#,
        )
        .unwrap();
        let errs: Vec<String> = c.validate().iter().map(ToString::to_string).collect();
        let want = [
            "receivers[0].pagerduty_configs[0]: missing service or routing key",
            "receivers[0].pagerduty_configs[1]: at most one of routing_key and routing_key_file",
            "receivers[0].opsgenie_configs[0].api_key: no api_key",
            "receivers[0].opsgenie_configs[0].responders[0]: a responder needs",
            "receivers[0].opsgenie_configs[0].responders[1].type: \"crew\" is not one of",
            "receivers[0].discord_configs[0].webhook_url: missing webhook_url",
            "receivers[0].telegram_configs[0].chat_id: missing chat_id",
            "receivers[0].telegram_configs[0].parse_mode: must be",
            "receivers[0].webex_configs[0].room_id: missing room_id",
            "receivers[0].webex_configs[0].http_config.authorization: missing",
            "receivers[0].victorops_configs[0].routing_key: missing routing_key",
            "receivers[0].victorops_configs[0].custom_fields.entity_id: conflicts",
            "receivers[0].pushover_configs[0].user_key: missing user_key",
            "receivers[0].ntfy_configs[0].topic: missing topic",
            "receivers[0].ntfy_configs[0].priority: \"loud\" is not one of",
        ];
        for w in want {
            assert!(
                errs.iter().any(|e| e.starts_with(w)),
                "missing {w:?} in {errs:#?}"
            );
        }
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
    }
}
