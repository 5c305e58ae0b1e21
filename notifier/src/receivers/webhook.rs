//! Webhook integration: POSTs Alertmanager's version 4 JSON message.

use crate::config::WebhookConfig;
use crate::payload::Notification;

use super::{classify, http_client, read_secret, transport_error, BuildError, SendError};

/// A webhook target.
pub struct Webhook {
    url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    max_alerts: u64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &"<secret>")
            .field("max_alerts", &self.max_alerts)
            .finish_non_exhaustive()
    }
}

impl Webhook {
    /// Builds the integration (reads `url_file`); without its own `http_config` it uses the
    /// global one.
    pub fn new(
        path: &str,
        c: &WebhookConfig,
        global_http: Option<&crate::config::HttpConfig>,
        timeout: std::time::Duration,
    ) -> Result<Self, BuildError> {
        let url = read_secret(path, c.url.as_ref(), c.url_file.as_ref())?.ok_or_else(|| {
            BuildError::Invalid {
                path: path.to_string(),
                message: "missing url".into(),
            }
        })?;
        let url = reqwest::Url::parse(url.expose().trim()).map_err(|e| BuildError::Invalid {
            path: format!("{path}.url"),
            message: format!("not a valid URL: {e}"),
        })?;
        let (client, auth) = http_client(path, c.http_config.as_ref().or(global_http), timeout)?;
        Ok(Webhook {
            url,
            client,
            auth,
            max_alerts: c.max_alerts,
        })
    }

    /// POSTs the message (cut to `max_alerts`).
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let body = if self.max_alerts > 0 && n.alerts.len() as u64 > self.max_alerts {
            serde_json::to_vec(&n.truncated(self.max_alerts))
        } else {
            serde_json::to_vec(n)
        }
        .map_err(|e| SendError::Permanent(e.to_string()))?;
        let mut req = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::USER_AGENT, "alertd")
            .body(body);
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
