//! Microsoft Teams: Alertmanager 0.26's `msteams_configs` request, an Office 365 connector card
//! (`MessageCard`: `@context`, `type`, `title`, `text`, `themeColor` red while firing, green when
//! resolved) posted to the channel's incoming webhook. Alertmanager 0.25 has no Teams receiver,
//! so the unit tests check the card against that published format.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::MsteamsConfig;
use super::{http_client, parse_url, read_secret, render, send_json, BuildError, SendError};

const COLOR_RED: &str = "8C1A1A";
const COLOR_GREEN: &str = "2DC72D";
const DEFAULT_TITLE: &str = r#"{{ template "msteams.default.title" . }}"#;
const DEFAULT_TEXT: &str = r#"{{ template "msteams.default.text" . }}"#;

/// A Teams target.
pub struct Msteams {
    url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: MsteamsConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Msteams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Msteams")
            .field("webhook_url", &"<secret>")
            .finish_non_exhaustive()
    }
}

impl Msteams {
    /// Builds the integration (reads `webhook_url_file`).
    pub fn new(
        path: &str,
        c: &MsteamsConfig,
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
        Ok(Msteams {
            url,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    /// The card Alertmanager 0.26 posts for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let t = &self.templates;
        json!({
            "@context": "http://schema.org/extensions",
            "type": "MessageCard",
            "title": render(t, "title", self.cfg.title.as_deref(), DEFAULT_TITLE, n),
            "text": render(t, "text", self.cfg.text.as_deref(), DEFAULT_TEXT, n),
            "themeColor": if n.status == "firing" { COLOR_RED } else { COLOR_GREEN },
        })
    }

    /// Posts the card.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::NotifiedAlert;
    use model::Labels;

    #[test]
    fn the_card_is_alertmanager_026s_message_card() {
        let c: MsteamsConfig =
            serde_saphyr::from_str("webhook_url: 'https://example.webhook.office.com/x'\n")
                .unwrap();
        assert!(c.send_resolved);
        let m = Msteams::new(
            "m",
            &c,
            std::time::Duration::from_secs(1),
            Arc::new(Templates::load(&[], None).unwrap()),
        )
        .unwrap();
        let a = |status: &str| NotifiedAlert {
            status: status.into(),
            labels: Labels::from_pairs([("alertname", "DiskFull"), ("instance", "h1")]),
            annotations: Labels::from_pairs([("summary", "disk full")]),
            starts_at: String::new(),
            ends_at: String::new(),
            generator_url: "http://gen".into(),
            fingerprint: String::new(),
        };
        let n = |status: &str| {
            Notification::new(
                "teams",
                "{}:{}",
                Labels::from_pairs([("alertname", "DiskFull")]),
                vec![a(status)],
                "http://alertd",
            )
        };
        // Alertmanager 0.26's MessageCard with its default.tmpl's msteams.default.* rendered.
        assert_eq!(
            m.message(&n("firing")),
            json!({
                "@context": "http://schema.org/extensions",
                "type": "MessageCard",
                "title": "[FIRING:1] DiskFull (h1)",
                "text": "\n\n# Alerts Firing:\n\nLabels:\n  - alertname = DiskFull\n  - instance = h1\n\n\
                         Annotations:\n  - summary = disk full\n\nSource: http://gen\n\n\n\n\n",
                "themeColor": "8C1A1A",
            })
        );
        let r = m.message(&n("resolved"));
        assert_eq!(r["themeColor"], "2DC72D");
        assert!(r["text"].as_str().unwrap().contains("# Alerts Resolved:"));
    }
}
