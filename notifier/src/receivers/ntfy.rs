//! ntfy (alertd's own `ntfy_configs`): one message per notification through ntfy's JSON publish
//! API — `POST` to the server's root URL with `{"topic", "title", "message", "priority",
//! "tags", "click", "markdown"}` (<https://docs.ntfy.sh/publish/#publish-as-json>), an access
//! token as `Authorization: Bearer`, or `http_config.basic_auth` for a user and password.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::Secret;
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::{NtfyConfig, DEFAULT_NTFY_URL};
use super::{http_client, parse_url, read_secret, render, send_json, BuildError, SendError};

const DEFAULT_TITLE: &str = r#"{{ template "ntfy.default.title" . }}"#;
const DEFAULT_MESSAGE: &str = r#"{{ template "ntfy.default.message" . }}"#;
const DEFAULT_PRIORITY: &str = r#"{{ template "ntfy.default.priority" . }}"#;
const DEFAULT_TAGS: &str = r#"{{ template "ntfy.default.tags" . }}"#;
const DEFAULT_CLICK: &str = r#"{{ template "ntfy.default.click" . }}"#;
/// ntfy refuses messages over 4096 bytes by default (its `message-size-limit`).
const MAX_MESSAGE_BYTES: usize = 4096;

/// ntfy's priority number for a name or digit (`min` 1 .. `max`/`urgent` 5).
pub fn priority(s: &str) -> Option<u8> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "min" => Some(1),
        "2" | "low" => Some(2),
        "3" | "default" => Some(3),
        "4" | "high" => Some(4),
        "5" | "max" | "urgent" => Some(5),
        _ => None,
    }
}

/// An ntfy target.
pub struct Ntfy {
    url: reqwest::Url,
    token: Option<Secret>,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: NtfyConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Ntfy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ntfy")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Ntfy {
    /// Builds the integration (reads `access_token_file`).
    pub fn new(
        path: &str,
        c: &NtfyConfig,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let token = read_secret(path, c.access_token.as_ref(), c.access_token_file.as_ref())?;
        let mut url = parse_url(
            &format!("{path}.url"),
            c.url.as_deref().unwrap_or(DEFAULT_NTFY_URL),
        )?;
        // JSON messages are published to the server's root.
        if !url.path().ends_with('/') {
            let p = format!("{}/", url.path());
            url.set_path(&p);
        }
        Ok(Ntfy {
            url,
            token,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    /// The JSON message for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let c = &self.cfg;
        let t = |name: &str, v: &Option<String>, d: &str| {
            render(&self.templates, name, v.as_deref(), d, n)
        };
        let mut m = Map::new();
        m.insert("topic".into(), json!(t("topic", &c.topic, "").trim()));
        let title = t("title", &c.title, DEFAULT_TITLE);
        if !title.is_empty() {
            m.insert("title".into(), json!(title.trim_end()));
        }
        let mut message = t("message", &c.message, DEFAULT_MESSAGE);
        if message.len() > MAX_MESSAGE_BYTES {
            let mut cut = MAX_MESSAGE_BYTES - '…'.len_utf8();
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        m.insert("message".into(), json!(message.trim_end()));
        if let Some(p) = priority(&t("priority", &c.priority, DEFAULT_PRIORITY)) {
            m.insert("priority".into(), json!(p));
        }
        let tags: Vec<String> = t("tags", &c.tags, DEFAULT_TAGS)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if !tags.is_empty() {
            m.insert("tags".into(), json!(tags));
        }
        let click = t("click", &c.click, DEFAULT_CLICK);
        if !click.trim().is_empty() {
            m.insert("click".into(), json!(click.trim()));
        }
        if c.markdown {
            m.insert("markdown".into(), json!(true));
        }
        Value::Object(m)
    }

    /// Publishes the message.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let bearer = self
            .token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose()));
        send_json(
            &self.client,
            self.auth.as_ref(),
            reqwest::Method::POST,
            self.url.as_str(),
            bearer.as_deref().map(|b| ("Authorization", b)),
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

    fn note(statuses: &[&str]) -> Notification {
        let alerts = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| NotifiedAlert {
                status: (*s).into(),
                labels: Labels::from_pairs([
                    ("alertname", "DiskFull".to_string()),
                    ("instance", format!("h{i}")),
                ]),
                annotations: if i == 0 {
                    Labels::from_pairs([("summary", "disk full on h0")])
                } else {
                    Labels::empty()
                },
                starts_at: String::new(),
                ends_at: String::new(),
                generator_url: "http://gen".into(),
                fingerprint: String::new(),
            })
            .collect();
        Notification::new(
            "phone",
            "{}:{}",
            Labels::from_pairs([("alertname", "DiskFull")]),
            alerts,
            "http://alertd",
        )
    }

    fn build(yaml: &str) -> Ntfy {
        let c: NtfyConfig = serde_saphyr::from_str(yaml).unwrap();
        Ntfy::new(
            "n",
            &c,
            std::time::Duration::from_secs(1),
            Arc::new(Templates::load(&[], None).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn messages_follow_ntfys_json_publish_format() {
        let n = build("url: https://ntfy.example.com\ntopic: alerts\n");
        assert_eq!(n.url.as_str(), "https://ntfy.example.com/");
        assert_eq!(
            n.message(&note(&["firing", "firing"])),
            json!({
                "topic": "alerts",
                "title": "[FIRING:2] DiskFull",
                "message": "disk full on h0\nDiskFull",
                "priority": 4,
                "tags": ["rotating_light"],
                "click": "http://alertd/#/alerts?receiver=phone",
            })
        );
        let r = n.message(&note(&["resolved"]));
        assert_eq!(r["priority"], 3);
        assert_eq!(r["tags"], json!(["white_check_mark"]));
        assert_eq!(r["message"], "disk full on h0 (resolved)");
    }

    #[test]
    fn fields_are_templated() {
        let n = build(
            "topic: '{{ .CommonLabels.alertname | toLower }}'\npriority: urgent\n\
             tags: 'warning, {{ .Status }}'\nclick: ''\nmarkdown: true\n",
        );
        let m = n.message(&note(&["firing"]));
        assert_eq!(m["topic"], "diskfull");
        assert_eq!(m["priority"], 5);
        assert_eq!(m["tags"], json!(["warning", "firing"]));
        assert!(m.get("click").is_none());
        assert_eq!(m["markdown"], true);
        assert_eq!(priority("2"), Some(2));
        assert_eq!(priority("loud"), None);
    }
}
