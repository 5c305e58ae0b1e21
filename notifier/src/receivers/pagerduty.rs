//! PagerDuty: Alertmanager's `pagerduty_configs` requests. With `routing_key` an Events API v2
//! event (`event_action` trigger/resolve, `dedup_key`, `payload` with summary, source, severity,
//! class, component, group and custom details, images, links); with `service_key` an Events API
//! v1 event (`event_type`, `incident_key`, `description`, `details`). The dedup / incident key is
//! the SHA-256 of the group key, as Alertmanager computes it, so PagerDuty folds the
//! notifications of one group into one incident and a resolve closes it.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::{Global, Secret};
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::{PagerdutyConfig, DEFAULT_PAGERDUTY_URL, PAGERDUTY_V1_URL};
use super::{
    group_key_hash, http_client, parse_url, read_secret, render, send_json, truncate_runes,
    BuildError, SendError,
};

/// The largest event PagerDuty accepts; bigger ones lose their custom details (as in
/// Alertmanager).
const MAX_EVENT_SIZE: usize = 512_000;
/// v1 `description` and v2 `summary` are cut to this many characters.
const MAX_SUMMARY_RUNES: usize = 1024;

/// Alertmanager's default `details`.
const DEFAULT_DETAILS: [(&str, &str); 4] = [
    (
        "firing",
        r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
    ),
    (
        "resolved",
        r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
    ),
    ("num_firing", r#"{{ .Alerts.Firing | len }}"#),
    ("num_resolved", r#"{{ .Alerts.Resolved | len }}"#),
];
const DEFAULT_CLIENT: &str = r#"{{ template "pagerduty.default.client" . }}"#;
const DEFAULT_CLIENT_URL: &str = r#"{{ template "pagerduty.default.clientURL" . }}"#;
const DEFAULT_DESCRIPTION: &str = r#"{{ template "pagerduty.default.description" .}}"#;

enum Api {
    V1 { service_key: Secret },
    V2 { routing_key: Secret },
}

/// A PagerDuty target.
pub struct Pagerduty {
    api: Api,
    url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: PagerdutyConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Pagerduty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pagerduty")
            .field("v1", &matches!(self.api, Api::V1 { .. }))
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl Pagerduty {
    /// Builds the integration (reads `routing_key_file` / `service_key_file`).
    pub fn new(
        path: &str,
        c: &PagerdutyConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let service = read_secret(path, c.service_key.as_ref(), c.service_key_file.as_ref())?;
        let (api, url) = if let Some(service_key) = service {
            // Alertmanager 0.25 posts v1 events to the fixed v1 endpoint; alertd takes an
            // explicit `url` (a relay, a test server) and that endpoint otherwise.
            (
                Api::V1 { service_key },
                c.url.as_deref().unwrap_or(PAGERDUTY_V1_URL),
            )
        } else {
            let routing_key =
                read_secret(path, c.routing_key.as_ref(), c.routing_key_file.as_ref())?
                    .ok_or_else(|| BuildError::Invalid {
                        path: path.to_string(),
                        message: "missing service or routing key in PagerDuty config".into(),
                    })?;
            (
                Api::V2 { routing_key },
                c.url
                    .as_deref()
                    .or(g.pagerduty_url.as_deref())
                    .unwrap_or(DEFAULT_PAGERDUTY_URL),
            )
        };
        let url = parse_url(&format!("{path}.url"), url)?;
        Ok(Pagerduty {
            api,
            url,
            client,
            auth,
            cfg: c.clone(),
            templates,
        })
    }

    fn tmpl(
        &self,
        name: &str,
        configured: Option<&str>,
        default: &str,
        n: &Notification,
    ) -> String {
        render(&self.templates, name, configured, default, n)
    }

    /// The event Alertmanager sends for `n`.
    pub fn message(&self, n: &Notification) -> Value {
        let c = &self.cfg;
        let t = |name: &str, v: &Option<String>| self.tmpl(name, v.as_deref(), "", n);
        let resolved = n.status == "resolved";
        let event = if resolved { "resolve" } else { "trigger" };
        let mut details = Map::new();
        for (k, v) in &c.details {
            details.insert(k.clone(), json!(self.tmpl(k, Some(v), "", n)));
        }
        for (k, v) in DEFAULT_DETAILS {
            if !c.details.contains_key(k) {
                details.insert(k.into(), json!(self.tmpl(k, None, v, n)));
            }
        }
        let key = group_key_hash(&n.group_key);
        let description = truncate_runes(
            self.tmpl(
                "description",
                c.description.as_deref(),
                DEFAULT_DESCRIPTION,
                n,
            ),
            MAX_SUMMARY_RUNES,
        );
        let client = self.tmpl("client", c.client.as_deref(), DEFAULT_CLIENT, n);
        let client_url = self.tmpl("client_url", c.client_url.as_deref(), DEFAULT_CLIENT_URL, n);
        let mut m = Map::new();
        match &self.api {
            Api::V1 { service_key } => {
                m.insert(
                    "service_key".into(),
                    json!(self.tmpl("service_key", Some(service_key.expose()), "", n)),
                );
                m.insert("incident_key".into(), json!(key));
                m.insert("event_type".into(), json!(event));
                if !description.is_empty() {
                    m.insert("description".into(), json!(description));
                }
                // Go's struct has no omitempty on these two.
                m.insert("event_action".into(), json!(""));
                m.insert("payload".into(), Value::Null);
                if !resolved {
                    if !client.is_empty() {
                        m.insert("client".into(), json!(client));
                    }
                    if !client_url.is_empty() {
                        m.insert("client_url".into(), json!(client_url));
                    }
                }
                if !details.is_empty() {
                    m.insert("details".into(), Value::Object(details));
                }
            }
            Api::V2 { routing_key } => {
                m.insert(
                    "routing_key".into(),
                    json!(self.tmpl("routing_key", Some(routing_key.expose()), "", n)),
                );
                m.insert("dedup_key".into(), json!(key));
                m.insert("event_action".into(), json!(event));
                // `source` defaults to the `client` template.
                let source = self.tmpl(
                    "source",
                    c.source.as_deref().or(c.client.as_deref()),
                    DEFAULT_CLIENT,
                    n,
                );
                let severity = self.tmpl("severity", c.severity.as_deref(), "error", n);
                let mut payload = Map::new();
                payload.insert("summary".into(), json!(description));
                payload.insert("source".into(), json!(source));
                payload.insert("severity".into(), json!(severity));
                for (k, v) in [
                    ("class", &c.class),
                    ("component", &c.component),
                    ("group", &c.group),
                ] {
                    let s = t(k, v);
                    if !s.is_empty() {
                        payload.insert(k.into(), json!(s));
                    }
                }
                if !details.is_empty() {
                    payload.insert("custom_details".into(), Value::Object(details));
                }
                m.insert("payload".into(), Value::Object(payload));
                if !client.is_empty() {
                    m.insert("client".into(), json!(client));
                }
                if !client_url.is_empty() {
                    m.insert("client_url".into(), json!(client_url));
                }
                let images: Vec<Value> = c
                    .images
                    .iter()
                    .map(|i| {
                        (
                            self.tmpl("images.src", Some(&i.src), "", n),
                            self.tmpl("images.alt", Some(&i.alt), "", n),
                            self.tmpl("images.href", Some(&i.href), "", n),
                        )
                    })
                    .filter(|(src, _, _)| !src.is_empty())
                    .map(|(src, alt, href)| json!({ "src": src, "alt": alt, "href": href }))
                    .collect();
                if !images.is_empty() {
                    m.insert("images".into(), Value::Array(images));
                }
                let links: Vec<Value> = c
                    .links
                    .iter()
                    .map(|l| {
                        (
                            self.tmpl("links.href", Some(&l.href), "", n),
                            self.tmpl("links.text", Some(&l.text), "", n),
                        )
                    })
                    .filter(|(href, _)| !href.is_empty())
                    .map(|(href, text)| json!({ "href": href, "text": text }))
                    .collect();
                if !links.is_empty() {
                    m.insert("links".into(), Value::Array(links));
                }
            }
        }
        let mut msg = Value::Object(m);
        if serde_json::to_vec(&msg).map_or(0, |v| v.len()) > MAX_EVENT_SIZE {
            let note = json!({ "error": "Custom details have been removed because the original \
                event exceeds the maximum size of 512kB" });
            match self.api {
                Api::V1 { .. } => msg["details"] = note,
                Api::V2 { .. } => msg["payload"]["custom_details"] = note,
            }
        }
        msg
    }

    /// Sends the event. v1 retries 403 (PagerDuty's rate limit there), v2 429; both 5xx.
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let msg = self.message(n);
        let key = match &self.api {
            Api::V1 { .. } => "service_key",
            Api::V2 { .. } => "routing_key",
        };
        if msg[key].as_str().is_none_or(str::is_empty) {
            return Err(SendError::Permanent(format!("{key} cannot be empty")));
        }
        let r = send_json(
            &self.client,
            self.auth.as_ref(),
            reqwest::Method::POST,
            self.url.as_str(),
            None,
            &msg,
        )
        .await;
        match (r, &self.api) {
            (Err(SendError::Permanent(m)), Api::V1 { .. })
                if m.starts_with("unexpected status code 403") =>
            {
                Err(SendError::Retryable {
                    message: m,
                    retry_after_ms: None,
                })
            }
            (r, _) => r.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::NotifiedAlert;
    use model::Labels;

    fn note(status: &str) -> Notification {
        let a = NotifiedAlert {
            status: status.into(),
            labels: Labels::from_pairs([("alertname", "DiskFull"), ("instance", "h1")]),
            annotations: Labels::from_pairs([("summary", "disk full")]),
            starts_at: "2026-01-01T00:00:00Z".into(),
            ends_at: "0001-01-01T00:00:00Z".into(),
            generator_url: "http://gen".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        Notification::new(
            "pd",
            "{}:{alertname=\"DiskFull\"}",
            Labels::from_pairs([("alertname", "DiskFull")]),
            vec![a],
            "http://alertd",
        )
    }

    fn build(yaml: &str) -> Pagerduty {
        let c: PagerdutyConfig = serde_saphyr::from_str(yaml).unwrap();
        Pagerduty::new(
            "p",
            &c,
            &Global::default(),
            std::time::Duration::from_secs(1),
            Arc::new(Templates::load(&[], None).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn dedup_key_is_the_sha256_of_the_group_key() {
        // FIPS 180-2's example.
        assert_eq!(
            group_key_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn v1_events_have_alertmanagers_shape() {
        let p = build("service_key: abc\n");
        assert_eq!(p.url.as_str(), PAGERDUTY_V1_URL);
        let m = p.message(&note("firing"));
        assert_eq!(m["service_key"], "abc");
        assert_eq!(m["event_type"], "trigger");
        assert_eq!(m["event_action"], "");
        assert!(m["payload"].is_null() && m.get("payload").is_some());
        assert_eq!(m["description"], "[FIRING:1] DiskFull (h1)");
        assert_eq!(m["client"], "alertd");
        assert_eq!(m["client_url"], "http://alertd/#/alerts?receiver=pd");
        assert_eq!(m["details"]["num_firing"], "1");
        assert_eq!(m["details"]["num_resolved"], "0");
        assert_eq!(
            m["details"]["firing"],
            "Labels:\n - alertname = DiskFull\n - instance = h1\nAnnotations:\n - summary = \
             disk full\nSource: http://gen\n"
        );
        assert_eq!(m["incident_key"], group_key_hash(&note("firing").group_key));
        let r = p.message(&note("resolved"));
        assert_eq!(r["event_type"], "resolve");
        assert!(r.get("client").is_none(), "{r}");
    }

    #[test]
    fn v2_fields_are_templated_and_empty_ones_left_out() {
        let p = build(
            "routing_key: rk\nseverity: '{{ .CommonLabels.instance }}'\nclass: c\n\
             details: { firing: mine, extra: '{{ .Status }}' }\n\
             links: [{ href: 'http://l', text: t }, { text: no-href }]\n\
             images: [{ src: '', alt: a }]\n",
        );
        let m = p.message(&note("firing"));
        assert_eq!(m["routing_key"], "rk");
        assert_eq!(m["event_action"], "trigger");
        assert_eq!(m["payload"]["severity"], "h1");
        assert_eq!(m["payload"]["class"], "c");
        assert!(m["payload"].get("component").is_none());
        assert_eq!(m["payload"]["source"], "alertd");
        assert_eq!(m["payload"]["custom_details"]["firing"], "mine");
        assert_eq!(m["payload"]["custom_details"]["extra"], "firing");
        assert_eq!(m["links"], json!([{ "href": "http://l", "text": "t" }]));
        assert!(m.get("images").is_none());
        assert_eq!(
            build("routing_key: rk\n").message(&note("firing"))["payload"]["severity"],
            "error"
        );
    }

    #[test]
    fn summaries_are_cut_like_alertmanager() {
        let p = build(&format!(
            "routing_key: rk\ndescription: '{}'\n",
            "é".repeat(2000)
        ));
        let s = p.message(&note("firing"))["payload"]["summary"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(s.chars().count(), 1024);
        assert!(s.ends_with('…'));
    }
}
