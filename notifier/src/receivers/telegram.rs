//! Telegram: Alertmanager's `telegram_configs` request, the Bot API's `sendMessage` as the
//! telebot library Alertmanager uses sends it (a JSON object of strings: `chat_id`, `text`,
//! `parse_mode`, `disable_web_page_preview`, `disable_notification` when set). With `parse_mode`
//! `HTML` (Alertmanager's default) the values the template inserts are HTML-escaped, as Go's
//! `html/template` does, and the template's own text (tags) is kept; cut to 4096 characters.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::{Global, Secret};
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::{TelegramConfig, DEFAULT_TELEGRAM_API_URL};
use super::{
    http_client, parse_url, read_secret, render, send_json, truncate_runes, BuildError, SendError,
};

const MAX_MESSAGE_RUNES: usize = 4096;
const DEFAULT_MESSAGE: &str = r#"{{ template "telegram.default.message" . }}"#;

/// A Telegram target.
pub struct Telegram {
    token: Secret,
    api_url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: TelegramConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("chat_id", &self.cfg.chat_id)
            .finish_non_exhaustive()
    }
}

/// Go's `html/template` escaping of text (`HTMLEscapeString` plus the characters
/// `html/template` escapes in text: `'`, `"`, `+`, NUL).
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `n` with every text a template can print HTML-escaped, so that rendering it gives what Go's
/// `html/template` gives (it escapes the values actions insert, not the template's own text).
pub(crate) fn html_escaped(n: &Notification) -> Notification {
    let labels = |l: &model::Labels| {
        model::Labels::from_pairs(
            l.iter()
                .map(|l| (html_escape(&l.name), html_escape(&l.value)))
                .collect::<Vec<_>>(),
        )
    };
    let mut e = n.clone();
    e.receiver = html_escape(&n.receiver);
    e.external_url = html_escape(&n.external_url);
    e.group_labels = labels(&n.group_labels);
    e.common_labels = labels(&n.common_labels);
    e.common_annotations = labels(&n.common_annotations);
    for a in &mut e.alerts {
        a.labels = labels(&a.labels);
        a.annotations = labels(&a.annotations);
        a.generator_url = html_escape(&a.generator_url);
    }
    e
}

impl Telegram {
    /// Builds the integration (reads `bot_token_file`).
    pub fn new(
        path: &str,
        c: &TelegramConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let token = read_secret(path, c.bot_token.as_ref(), c.bot_token_file.as_ref())?
            .ok_or_else(|| BuildError::Invalid {
                path: path.to_string(),
                message: "missing bot_token".into(),
            })?;
        let url = c
            .api_url
            .as_deref()
            .or(g.telegram_api_url.as_deref())
            .unwrap_or(DEFAULT_TELEGRAM_API_URL);
        let api_url = parse_url(&format!("{path}.api_url"), url)?;
        Ok(Telegram {
            token,
            api_url,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    fn parse_mode(&self) -> &str {
        self.cfg.parse_mode.as_deref().unwrap_or("HTML")
    }

    /// The `sendMessage` parameters for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let text = if self.parse_mode() == "HTML" {
            let e = html_escaped(n);
            render(
                &self.templates,
                "message",
                self.cfg.message.as_deref(),
                DEFAULT_MESSAGE,
                &e,
            )
        } else {
            render(
                &self.templates,
                "message",
                self.cfg.message.as_deref(),
                DEFAULT_MESSAGE,
                n,
            )
        };
        let mut m = Map::new();
        m.insert("chat_id".into(), json!(self.cfg.chat_id.to_string()));
        m.insert(
            "text".into(),
            json!(truncate_runes(text, MAX_MESSAGE_RUNES)),
        );
        if !self.parse_mode().is_empty() {
            m.insert("parse_mode".into(), json!(self.parse_mode()));
        }
        m.insert("disable_web_page_preview".into(), json!("true"));
        if self.cfg.disable_notifications {
            m.insert("disable_notification".into(), json!("true"));
        }
        Value::Object(m)
    }

    /// Calls `sendMessage`; a reply without `"ok": true` is an error.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let url = format!(
            "{}/bot{}/sendMessage",
            self.api_url.as_str().trim_end_matches('/'),
            self.token.expose()
        );
        let reply = send_json(
            &self.client,
            self.auth.as_ref(),
            reqwest::Method::POST,
            &url,
            None,
            &self.message(n),
        )
        .await?;
        let v: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
        if v["ok"].as_bool() == Some(true) {
            Ok(())
        } else {
            let d = v["description"].as_str().unwrap_or("no ok in the reply");
            Err(SendError::Retryable {
                message: format!("telegram: {d}"),
                retry_after_ms: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_mode_escapes_values_and_keeps_the_templates_tags() {
        let c: TelegramConfig = serde_saphyr::from_str(
            "bot_token: t\nchat_id: 1\nmessage: '<b>{{ .CommonLabels.x }}</b>'\n",
        )
        .unwrap();
        let t = Telegram::new(
            "t",
            &c,
            &Global::default(),
            std::time::Duration::from_secs(1),
            Arc::new(Templates::load(&[], None).unwrap()),
        )
        .unwrap();
        let n = Notification::new(
            "r",
            "{}:{}",
            model::Labels::from_pairs([("x", "a<b")]),
            vec![crate::payload::NotifiedAlert {
                status: "firing".into(),
                labels: model::Labels::from_pairs([("x", "a<b")]),
                annotations: model::Labels::empty(),
                starts_at: String::new(),
                ends_at: String::new(),
                generator_url: String::new(),
                fingerprint: String::new(),
            }],
            "http://alertd",
        );
        assert_eq!(t.message(&n)["text"], "<b>a&lt;b</b>");
    }

    #[test]
    fn html_is_escaped_as_go_does() {
        assert_eq!(
            html_escape("<a href=\"x\">'&+"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#43;"
        );
    }
}
