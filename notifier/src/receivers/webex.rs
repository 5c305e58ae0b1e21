//! Webex: Alertmanager's `webex_configs` request, `{"markdown", "roomId"}` posted to the messages
//! API with the bot token from `http_config.authorization`; the message is cut to 7439 bytes.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::Global;
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::{WebexConfig, DEFAULT_WEBEX_API_URL};
use super::{http_client, parse_url, render, send_json, truncate_bytes, BuildError, SendError};

const MAX_MESSAGE_BYTES: usize = 7439;
const DEFAULT_MESSAGE: &str = r#"{{ template "webex.default.message" . }}"#;

/// A Webex target.
pub struct Webex {
    url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: WebexConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Webex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webex")
            .field("room_id", &self.cfg.room_id)
            .finish_non_exhaustive()
    }
}

impl Webex {
    /// Builds the integration.
    pub fn new(
        path: &str,
        c: &WebexConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let url = c
            .api_url
            .as_deref()
            .or(g.webex_api_url.as_deref())
            .unwrap_or(DEFAULT_WEBEX_API_URL);
        let url = parse_url(&format!("{path}.api_url"), url)?;
        Ok(Webex {
            url,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    /// The message for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let text = render(
            &self.templates,
            "message",
            self.cfg.message.as_deref(),
            DEFAULT_MESSAGE,
            n,
        );
        let mut m = Map::new();
        m.insert(
            "markdown".into(),
            json!(truncate_bytes(text, MAX_MESSAGE_BYTES)),
        );
        if !self.cfg.room_id.is_empty() {
            m.insert("roomId".into(), json!(self.cfg.room_id));
        }
        Value::Object(m)
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
