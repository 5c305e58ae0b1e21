//! Slack integration: an incoming webhook (Alertmanager's `slack_configs`) or, in bot mode
//! (`bot_token`/`bot_token_file`), the Web API: the first notification of a group is posted with
//! `chat.postMessage`; later ones update that message (`chat.update`) and are posted in its
//! thread. The message id (`channel:ts`) is kept by the notifier so this survives restarts.

use serde_json::{json, Value};

use crate::config::{Global, SlackConfig};
use crate::payload::Notification;
use crate::template;

use super::{
    classify, http_client, read_secret, read_source, transport_error, BuildError, SendError,
};

enum Mode {
    Webhook(reqwest::Url),
    Bot { token: String, api: String },
}

/// A Slack target.
pub struct Slack {
    templates: std::sync::Arc<crate::gotemplate::Templates>,
    mode: Mode,
    signing_secret: Option<model::Secret>,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: SlackConfig,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Slack")
            .field("channel", &self.cfg.channel)
            .field("bot", &matches!(self.mode, Mode::Bot { .. }))
            .finish_non_exhaustive()
    }
}

/// Slack Web API errors worth retrying.
const RETRYABLE: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "ratelimited",
];

impl Slack {
    /// Builds the integration (reads `api_url_file` / `bot_token_file`).
    pub fn new(
        path: &str,
        c: &SlackConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: std::sync::Arc<crate::gotemplate::Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(
            path,
            c.http_config.as_ref().or(g.http_config.as_ref()),
            timeout,
        )?;
        let bot = read_secret(path, c.bot_token.as_ref(), c.bot_token_file.as_ref())?;
        let mode = if let Some(token) = bot {
            Mode::Bot {
                token: token.expose().trim().to_string(),
                api: c
                    .bot_api_url
                    .clone()
                    .unwrap_or_else(|| "https://slack.com/api".into())
                    .trim_end_matches('/')
                    .to_string(),
            }
        } else {
            let url = read_secret(path, c.api_url.as_ref(), c.api_url_file.as_ref())?
                .or(read_source("global", g.slack_api_url.as_ref())?)
                .ok_or_else(|| BuildError::Invalid {
                    path: path.to_string(),
                    message: "no api_url".into(),
                })?;
            Mode::Webhook(reqwest::Url::parse(url.expose().trim()).map_err(|e| {
                BuildError::Invalid {
                    path: format!("{path}.api_url"),
                    message: format!("not a valid URL: {e}"),
                }
            })?)
        };
        let signing_secret = read_secret(
            path,
            c.signing_secret.as_ref(),
            c.signing_secret_file.as_ref(),
        )?;
        Ok(Slack {
            templates,
            mode,
            signing_secret,
            client,
            auth,
            cfg: c.clone(),
        })
    }

    /// The signing secret of the Slack app whose bot posts here (bot mode with the button).
    pub fn signing_secret(&self) -> Option<&model::Secret> {
        self.signing_secret.as_ref()
    }

    /// The HTTP client (for replies to Slack interactions).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// What a rate limit is shared by: the webhook URL, or the bot token and channel.
    pub fn target_key(&self) -> String {
        match &self.mode {
            Mode::Webhook(u) => u.to_string(),
            Mode::Bot { token, api } => {
                format!(
                    "{api}\u{0}{token}\u{0}{}",
                    self.cfg.channel.as_deref().unwrap_or("")
                )
            }
        }
    }

    /// The message Alertmanager sends (one attachment), with alertd's default texts.
    pub fn message(&self, n: &Notification) -> Value {
        let c = &self.cfg;
        let t = &self.templates;
        let title = t.field("title", c.title.as_deref(), n, || template::subject(n));
        let title_link = t.field("title_link", c.title_link.as_deref(), n, || {
            template::alertmanager_url(n)
        });
        let text = t.field("text", c.text.as_deref(), n, || template::slack_text(n));
        let fallback = t.field("fallback", c.fallback.as_deref(), n, || {
            format!("{title} | {title_link}")
        });
        let color = t.field("color", c.color.as_deref(), n, || template::slack_color(n));
        let mut att = json!({
            "title": title,
            "title_link": title_link,
            "text": text,
            "fallback": fallback,
            "color": color,
            "mrkdwn_in": c.mrkdwn_in,
        });
        for (k, v) in [
            ("pretext", &c.pretext),
            ("footer", &c.footer),
            ("callback_id", &c.callback_id),
            ("image_url", &c.image_url),
            ("thumb_url", &c.thumb_url),
        ] {
            if let Some(v) = t.optional(k, v.as_deref(), n) {
                att[k] = json!(v);
            }
        }
        if !c.fields.is_empty() {
            att["fields"] = c
                .fields
                .iter()
                .map(|f| {
                    json!({
                        "title": t.field("fields.title", Some(&f.title), n, String::new),
                        "value": t.field("fields.value", Some(&f.value), n, String::new),
                        "short": f.short.unwrap_or(c.short_fields),
                    })
                })
                .collect();
        }
        let mut msg = json!({ "attachments": [att] });
        if self.signing_secret.is_some() && n.status == "firing" {
            // The text is what Slack shows in notifications when blocks are present.
            msg["text"] = json!(title);
            msg["blocks"] = json!([{
                "type": "actions",
                "block_id": crate::interactions::ACK_ACTION,
                "elements": [{
                    "type": "button",
                    "action_id": crate::interactions::ACK_ACTION,
                    "text": { "type": "plain_text", "text": "Acknowledge" },
                    "style": "primary",
                    "value": crate::interactions::button_value(&n.group_key),
                }],
            }]);
        }
        msg["username"] = json!(t.field("username", c.username.as_deref(), n, || "alertd".into()));
        if let Some(ch) = t.optional("channel", c.channel.as_deref(), n) {
            msg["channel"] = json!(ch);
        }
        if let Some(e) = &c.icon_emoji {
            msg["icon_emoji"] = json!(e);
        }
        if let Some(u) = &c.icon_url {
            msg["icon_url"] = json!(u);
        }
        if c.link_names {
            msg["link_names"] = json!(true);
        }
        msg
    }

    /// Sends `n`. In bot mode `thread` is the group's message id from an earlier send
    /// (`channel:ts`); returns the id to keep.
    pub async fn send(
        &self,
        n: &Notification,
        thread: Option<&str>,
    ) -> Result<Option<String>, SendError> {
        let msg = self.message(n);
        match &self.mode {
            Mode::Webhook(url) => {
                let mut req = self.client.post(url.clone()).json(&msg);
                if let Some((k, v)) = &self.auth {
                    req = req.header(k.as_str(), v.as_str());
                }
                let resp = req.send().await.map_err(transport_error)?;
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.text().await.unwrap_or_default();
                classify(status, &headers, &body)?;
                Ok(None)
            }
            Mode::Bot { token, api } => {
                if let Some((channel, ts)) = thread.and_then(|t| t.split_once(':')) {
                    let mut upd = msg.clone();
                    upd["channel"] = json!(channel);
                    upd["ts"] = json!(ts);
                    self.call(api, token, "chat.update", &upd).await?;
                    let mut reply = msg;
                    reply["channel"] = json!(channel);
                    reply["thread_ts"] = json!(ts);
                    self.call(api, token, "chat.postMessage", &reply).await?;
                    Ok(Some(format!("{channel}:{ts}")))
                } else {
                    let r = self.call(api, token, "chat.postMessage", &msg).await?;
                    let channel = r["channel"].as_str().unwrap_or_default();
                    let ts = r["ts"].as_str().unwrap_or_default();
                    Ok((!ts.is_empty()).then(|| format!("{channel}:{ts}")))
                }
            }
        }
    }

    async fn call(
        &self,
        api: &str,
        token: &str,
        method: &str,
        body: &Value,
    ) -> Result<Value, SendError> {
        let resp = self
            .client
            .post(format!("{api}/{method}"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        classify(status, &headers, &text)?;
        let v: Value = serde_json::from_str(&text).map_err(|e| SendError::Retryable {
            message: format!("{method}: invalid JSON reply: {e}"),
            retry_after_ms: None,
        })?;
        if v["ok"].as_bool() == Some(true) {
            return Ok(v);
        }
        let err = v["error"].as_str().unwrap_or("unknown error").to_string();
        let message = format!("{method}: {err}");
        if RETRYABLE.contains(&err.as_str()) {
            Err(SendError::Retryable {
                message,
                retry_after_ms: None,
            })
        } else {
            Err(SendError::Permanent(message))
        }
    }
}
