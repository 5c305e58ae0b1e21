//! Discord: Alertmanager's `discord_configs` request, one embed (title, description, colour
//! red while firing, green when resolved) posted to the channel's webhook URL.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::config::Global;
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::DiscordConfig;
use super::{http_client, parse_url, read_secret, render, send_json, BuildError, SendError};

const COLOR_RED: u32 = 0x99_2D22;
const COLOR_GREEN: u32 = 0x2E_CC71;
const DEFAULT_TITLE: &str = r#"{{ template "discord.default.title" . }}"#;
const DEFAULT_MESSAGE: &str = r#"{{ template "discord.default.message" . }}"#;

/// A Discord target.
pub struct Discord {
    url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: DiscordConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Discord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discord")
            .field("webhook_url", &"<secret>")
            .finish_non_exhaustive()
    }
}

impl Discord {
    /// Builds the integration (reads `webhook_url_file`).
    pub fn new(
        path: &str,
        c: &DiscordConfig,
        _g: &Global,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let url = read_secret(path, c.webhook_url.as_ref(), c.webhook_url_file.as_ref())?
            .ok_or_else(|| BuildError::Invalid {
                path: path.to_string(),
                message: "missing webhook_url".into(),
            })?;
        let url = parse_url(&format!("{path}.webhook_url"), url.expose())?;
        Ok(Discord {
            url,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    /// The message Alertmanager posts for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let title = render(
            &self.templates,
            "title",
            self.cfg.title.as_deref(),
            DEFAULT_TITLE,
            n,
        );
        let description = render(
            &self.templates,
            "message",
            self.cfg.message.as_deref(),
            DEFAULT_MESSAGE,
            n,
        );
        let color = if n.status == "firing" {
            COLOR_RED
        } else {
            COLOR_GREEN
        };
        json!({
            "content": "",
            "embeds": [{ "title": title, "description": description, "color": color }],
        })
    }

    /// Posts the message.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        send_json(
            &self.client,
            self.auth.as_ref(),
            reqwest::Method::POST,
            self.url.as_str(),
            None,
            &self.message(n),
        )
        .await
        .map(|_| ())
    }
}
