//! Pushover: Alertmanager's `pushover_configs` request — every parameter in the query string of
//! an empty `POST` (`Content-Type: text/plain`), sorted and escaped as Go's `url.Values.Encode`
//! does: `expire`, `message` (cut to 1024 characters, `(no details)` when empty), `priority`,
//! `retry`, `sound`, `title` (250), `token`, `url` (512), `url_title`, `user`, and `html=1` with
//! `html: true`. Alertmanager's URL is fixed; alertd's `api_url` can point elsewhere.

use std::sync::Arc;

use crate::config::Secret;
use crate::gotemplate::Templates;
use crate::payload::Notification;
use crate::template::query_escape;

use super::config::{PushoverConfig, DEFAULT_PUSHOVER_API_URL};
use super::{
    classify, http_client, parse_url, read_secret, render, transport_error, truncate_runes,
    BuildError, SendError,
};

const MAX_TITLE_RUNES: usize = 250;
const MAX_MESSAGE_RUNES: usize = 1024;
const MAX_URL_RUNES: usize = 512;
const DEFAULT_TITLE: &str = r#"{{ template "pushover.default.title" . }}"#;
const DEFAULT_MESSAGE: &str = r#"{{ template "pushover.default.message" . }}"#;
const DEFAULT_URL: &str = r#"{{ template "pushover.default.url" . }}"#;
const DEFAULT_PRIORITY: &str = r#"{{ if eq .Status "firing" }}2{{ else }}0{{ end }}"#;

/// A Pushover target.
pub struct Pushover {
    user_key: Secret,
    token: Secret,
    api_url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: PushoverConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Pushover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pushover")
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Pushover {
    /// Builds the integration (reads `user_key_file` / `token_file`).
    pub fn new(
        path: &str,
        c: &PushoverConfig,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let missing = |k: &str| BuildError::Invalid {
            path: path.to_string(),
            message: format!("missing {k}"),
        };
        let user_key = read_secret(path, c.user_key.as_ref(), c.user_key_file.as_ref())?
            .ok_or_else(|| missing("user_key"))?;
        let token = read_secret(path, c.token.as_ref(), c.token_file.as_ref())?
            .ok_or_else(|| missing("token"))?;
        let api_url = parse_url(
            &format!("{path}.api_url"),
            c.api_url.as_deref().unwrap_or(DEFAULT_PUSHOVER_API_URL),
        )?;
        Ok(Pushover {
            user_key,
            token,
            api_url,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    fn t(&self, name: &str, v: Option<&str>, default: &str, n: &Notification) -> String {
        render(&self.templates, name, v, default, n)
    }

    /// The query string Alertmanager sends for `n` (it holds the token and user key).
    pub fn query(&self, n: &Notification) -> String {
        let c = &self.cfg;
        let message = if c.html {
            let e = super::telegram::html_escaped(n);
            self.t("message", c.message.as_deref(), DEFAULT_MESSAGE, &e)
        } else {
            self.t("message", c.message.as_deref(), DEFAULT_MESSAGE, n)
        };
        let message = truncate_runes(message, MAX_MESSAGE_RUNES);
        let message = match message.trim() {
            "" => "(no details)".to_string(),
            m => m.to_string(),
        };
        let mut params: Vec<(&str, String)> = vec![
            ("token", self.t("token", Some(self.token.expose()), "", n)),
            (
                "user",
                self.t("user_key", Some(self.user_key.expose()), "", n),
            ),
            (
                "title",
                truncate_runes(
                    self.t("title", c.title.as_deref(), DEFAULT_TITLE, n),
                    MAX_TITLE_RUNES,
                ),
            ),
            ("message", message),
            (
                "url",
                truncate_runes(
                    self.t("url", c.url.as_deref(), DEFAULT_URL, n),
                    MAX_URL_RUNES,
                ),
            ),
            (
                "url_title",
                self.t("url_title", c.url_title.as_deref(), "", n),
            ),
            (
                "priority",
                self.t("priority", c.priority.as_deref(), DEFAULT_PRIORITY, n),
            ),
            ("retry", (c.retry.as_millis() / 1000).to_string()),
            ("expire", (c.expire.as_millis() / 1000).to_string()),
            ("sound", self.t("sound", c.sound.as_deref(), "", n)),
        ];
        if c.html {
            params.push(("html", "1".into()));
        }
        params.sort_by(|a, b| a.0.cmp(b.0));
        params
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// Posts the message.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let mut url = self.api_url.clone();
        url.set_query(Some(&self.query(n)));
        let mut req = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain")
            .header(reqwest::header::USER_AGENT, "alertd");
        if let Some((k, v)) = &self.auth {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        classify(status, &headers, &text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::NotifiedAlert;
    use model::Labels;

    #[test]
    fn query_is_sorted_and_escaped_like_go() {
        let c: PushoverConfig =
            serde_saphyr::from_str("user_key: 'u k'\ntoken: t~*\nsound: siren\nretry: 30s\n")
                .unwrap();
        let p = Pushover::new(
            "p",
            &c,
            std::time::Duration::from_secs(1),
            Arc::new(Templates::load(&[], None).unwrap()),
        )
        .unwrap();
        let a = NotifiedAlert {
            status: "firing".into(),
            labels: Labels::from_pairs([("alertname", "DiskFull")]),
            annotations: Labels::from_pairs([("summary", "full")]),
            starts_at: String::new(),
            ends_at: String::new(),
            generator_url: "http://gen".into(),
            fingerprint: String::new(),
        };
        let n = Notification::new(
            "po",
            "{}:{}",
            Labels::from_pairs([("alertname", "DiskFull")]),
            vec![a],
            "http://alertd",
        );
        // Alertmanager's pushover.default.message for this alert, trimmed.
        let message = "full\n\nAlerts Firing:\nLabels:\n - alertname = DiskFull\nAnnotations:\n \
                       - summary = full\nSource: http://gen";
        assert_eq!(
            p.query(&n),
            format!(
                "expire=3600&message={}&priority=2&retry=30&sound=siren&title=%5BFIRING%3A1%5D+\
                 DiskFull+&token=t~%2A&url=http%3A%2F%2Falertd%2F%23%2Falerts%3Freceiver%3Dpo&\
                 url_title=&user=u+k",
                query_escape(message)
            )
        );
    }
}
