//! VictorOps (Splunk On-Call): Alertmanager's `victorops_configs` request, a REST endpoint event
//! posted to `<api_url><api_key>/<routing_key>`: `message_type` (`CRITICAL`, `WARNING` or `INFO`
//! while firing, `RECOVERY` when resolved), `entity_id` (SHA-256 of the group key),
//! `entity_display_name`, `state_message`, `monitoring_tool` and the custom fields.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::{Global, Secret};
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::{VictoropsConfig, DEFAULT_VICTOROPS_API_URL};
use super::{
    group_key_hash, http_client, parse_url, read_secret, read_source, render, send_json,
    truncate_runes, BuildError, SendError,
};

const MAX_MESSAGE_RUNES: usize = 20480;
const DEFAULT_STATE_MESSAGE: &str = r#"{{ template "victorops.default.state_message" . }}"#;
const DEFAULT_DISPLAY_NAME: &str = r#"{{ template "victorops.default.entity_display_name" . }}"#;
const DEFAULT_MONITORING_TOOL: &str = r#"{{ template "victorops.default.monitoring_tool" . }}"#;

/// A VictorOps target.
pub struct Victorops {
    api_key: Secret,
    api_url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: VictoropsConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Victorops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Victorops")
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

impl Victorops {
    /// Builds the integration (reads `api_key_file`, or the global key).
    pub fn new(
        path: &str,
        c: &VictoropsConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let api_key = match read_secret(path, c.api_key.as_ref(), c.api_key_file.as_ref())? {
            Some(k) => k,
            None => read_source("global", g.victorops_api_key.as_ref())?.ok_or_else(|| {
                BuildError::Invalid {
                    path: path.to_string(),
                    message: "no api_key, api_key_file or global victorops_api_key".into(),
                }
            })?,
        };
        let url = c
            .api_url
            .as_deref()
            .or(g.victorops_api_url.as_deref())
            .unwrap_or(DEFAULT_VICTOROPS_API_URL);
        let api_url = parse_url(&format!("{path}.api_url"), url)?;
        Ok(Victorops {
            api_key: Secret::new(api_key.expose().trim()),
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

    /// The URL the event goes to (it holds the API key).
    fn url(&self, n: &Notification) -> String {
        let mut u = self.api_url.clone();
        let routing = self.t("routing_key", Some(&self.cfg.routing_key), "", n);
        let p = format!("{}{}/{routing}", u.path(), self.api_key.expose());
        u.set_path(&p);
        u.to_string()
    }

    /// The event for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let c = &self.cfg;
        let mut message_type = self.t("message_type", c.message_type.as_deref(), "CRITICAL", n);
        if n.status == "resolved" {
            message_type = "RECOVERY".into();
        } else if !matches!(message_type.as_str(), "INFO" | "WARNING" | "CRITICAL") {
            message_type = "CRITICAL".into();
        }
        let mut m = Map::new();
        m.insert("message_type".into(), json!(message_type));
        m.insert("entity_id".into(), json!(group_key_hash(&n.group_key)));
        m.insert(
            "entity_display_name".into(),
            json!(self.t(
                "entity_display_name",
                c.entity_display_name.as_deref(),
                DEFAULT_DISPLAY_NAME,
                n
            )),
        );
        m.insert(
            "state_message".into(),
            json!(truncate_runes(
                self.t(
                    "state_message",
                    c.state_message.as_deref(),
                    DEFAULT_STATE_MESSAGE,
                    n
                ),
                MAX_MESSAGE_RUNES
            )),
        );
        m.insert(
            "monitoring_tool".into(),
            json!(self.t(
                "monitoring_tool",
                c.monitoring_tool.as_deref(),
                DEFAULT_MONITORING_TOOL,
                n
            )),
        );
        for (k, v) in &c.custom_fields {
            m.insert(k.clone(), json!(self.t(k, Some(v), "", n)));
        }
        Value::Object(m)
    }

    /// Posts the event.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        send_json(
            &self.client,
            self.auth.as_ref(),
            reqwest::Method::POST,
            &self.url(n),
            None,
            &self.message(n),
        )
        .await
        .map(|_| ())
    }
}
