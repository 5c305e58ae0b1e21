//! Opsgenie: Alertmanager's `opsgenie_configs` requests. A firing group creates an alert
//! (`POST v2/alerts`, alias = SHA-256 of the group key); with `update_alerts` the message and
//! description of an existing alert are updated as well (`PUT v2/alerts/{alias}/message`,
//! `.../description`); a resolved group closes it (`POST v2/alerts/{alias}/close`). Every request
//! carries `Authorization: GenieKey <api_key>`.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::config::{Global, Secret};
use crate::gotemplate::Templates;
use crate::payload::Notification;

use super::config::{OpsgenieConfig, DEFAULT_OPSGENIE_API_URL};
use super::{
    group_key_hash, http_client, parse_url, read_secret, read_source, render, send_json,
    truncate_runes, BuildError, SendError,
};

/// Opsgenie cuts messages at 130 characters.
const MAX_MESSAGE_RUNES: usize = 130;
const DEFAULT_MESSAGE: &str = r#"{{ template "opsgenie.default.message" . }}"#;
const DEFAULT_DESCRIPTION: &str = r#"{{ template "opsgenie.default.description" . }}"#;
const DEFAULT_SOURCE: &str = r#"{{ template "opsgenie.default.source" . }}"#;

/// An Opsgenie target.
pub struct Opsgenie {
    api_key: Secret,
    api_url: reqwest::Url,
    client: reqwest::Client,
    auth: Option<(String, String)>,
    cfg: OpsgenieConfig,
    templates: Arc<Templates>,
}

impl std::fmt::Debug for Opsgenie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opsgenie")
            .field("api_url", &self.api_url.as_str())
            .finish_non_exhaustive()
    }
}

/// One request of a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// `POST` or `PUT`.
    pub method: reqwest::Method,
    /// The whole URL.
    pub url: String,
    /// The JSON body.
    pub body: Value,
}

/// Go's `strings.Split` of a trimmed string, empty parts dropped (Alertmanager's `safeSplit`).
fn safe_split(s: &str) -> Vec<String> {
    s.trim()
        .split(',')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

impl Opsgenie {
    /// Builds the integration (reads `api_key_file`, or the global key).
    pub fn new(
        path: &str,
        c: &OpsgenieConfig,
        g: &Global,
        timeout: std::time::Duration,
        templates: Arc<Templates>,
    ) -> Result<Self, BuildError> {
        let (client, auth) = http_client(path, c.http_config.as_ref(), timeout)?;
        let api_key = match read_secret(path, c.api_key.as_ref(), c.api_key_file.as_ref())? {
            Some(k) => k,
            None => read_source("global", g.opsgenie_api_key.as_ref())?.ok_or_else(|| {
                BuildError::Invalid {
                    path: path.to_string(),
                    message: "no api_key, api_key_file or global opsgenie_api_key".into(),
                }
            })?,
        };
        let url = c
            .api_url
            .as_deref()
            .or(g.opsgenie_api_url.as_deref())
            .unwrap_or(DEFAULT_OPSGENIE_API_URL);
        let mut api_url = parse_url(&format!("{path}.api_url"), url)?;
        // Alertmanager appends paths to the URL's path; make sure it ends with one slash.
        if !api_url.path().ends_with('/') {
            let p = format!("{}/", api_url.path());
            api_url.set_path(&p);
        }
        Ok(Opsgenie {
            api_key,
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

    fn url(&self, tail: &str, alias_query: bool) -> String {
        let mut u = self.api_url.clone();
        let p = format!("{}{tail}", u.path());
        u.set_path(&p);
        if alias_query {
            u.query_pairs_mut().append_pair("identifierType", "alias");
        }
        u.to_string()
    }

    /// The requests Alertmanager sends for `n`, in order.
    pub fn requests(&self, n: &Notification) -> Vec<Request> {
        let c = &self.cfg;
        let alias = group_key_hash(&n.group_key);
        let source = self.t("source", c.source.as_deref(), DEFAULT_SOURCE, n);
        if n.status == "resolved" {
            return vec![Request {
                method: reqwest::Method::POST,
                url: self.url(&format!("v2/alerts/{alias}/close"), true),
                body: json!({ "source": source }),
            }];
        }
        let mut details = Map::new();
        for l in n.common_labels.iter() {
            details.insert(l.name.clone(), json!(l.value));
        }
        for (k, v) in &c.details {
            details.insert(k.clone(), json!(self.t(k, Some(v), "", n)));
        }
        let message = truncate_runes(
            self.t("message", c.message.as_deref(), DEFAULT_MESSAGE, n),
            MAX_MESSAGE_RUNES,
        );
        let description = self.t(
            "description",
            c.description.as_deref(),
            DEFAULT_DESCRIPTION,
            n,
        );
        let mut responders = Vec::new();
        for r in &c.responders {
            let id = self.t("responders.id", Some(&r.id), "", n);
            let name = self.t("responders.name", Some(&r.name), "", n);
            let username = self.t("responders.username", Some(&r.username), "", n);
            // Alertmanager 0.25 lower-cases the type only on a copy when it checks it: the request
            // carries the type as written.
            let ty = self.t("responders.type", Some(&r.type_), "", n);
            if id.is_empty() && name.is_empty() && username.is_empty() && ty.is_empty() {
                continue;
            }
            if ty == "teams" {
                for team in safe_split(&name) {
                    responders.push(json!({ "name": team, "type": "team" }));
                }
                continue;
            }
            let mut o = Map::new();
            for (k, v) in [("id", id), ("name", name), ("username", username)] {
                if !v.is_empty() {
                    o.insert(k.into(), json!(v));
                }
            }
            o.insert("type".into(), json!(ty));
            responders.push(Value::Object(o));
        }
        let mut m = Map::new();
        m.insert("alias".into(), json!(alias));
        m.insert("message".into(), json!(message));
        if !description.is_empty() {
            m.insert("description".into(), json!(description));
        }
        m.insert("details".into(), Value::Object(details));
        m.insert("source".into(), json!(source));
        if !responders.is_empty() {
            m.insert("responders".into(), Value::Array(responders));
        }
        let tags = safe_split(&self.t("tags", c.tags.as_deref(), "", n));
        if !tags.is_empty() {
            m.insert("tags".into(), json!(tags));
        }
        for (k, v) in [
            ("note", &c.note),
            ("priority", &c.priority),
            ("entity", &c.entity),
        ] {
            let s = self.t(k, v.as_deref(), "", n);
            if !s.is_empty() {
                m.insert(k.into(), json!(s));
            }
        }
        let actions = safe_split(&self.t("actions", c.actions.as_deref(), "", n));
        if !actions.is_empty() {
            m.insert("actions".into(), json!(actions));
        }
        let mut out = vec![Request {
            method: reqwest::Method::POST,
            url: self.url("v2/alerts", false),
            body: Value::Object(m),
        }];
        if c.update_alerts {
            let mut msg = Map::new();
            if !message.is_empty() {
                msg.insert("message".into(), json!(message));
            }
            out.push(Request {
                method: reqwest::Method::PUT,
                url: self.url(&format!("v2/alerts/{alias}/message"), true),
                body: Value::Object(msg),
            });
            let mut desc = Map::new();
            if !description.is_empty() {
                desc.insert("description".into(), json!(description));
            }
            out.push(Request {
                method: reqwest::Method::PUT,
                url: self.url(&format!("v2/alerts/{alias}/description"), true),
                body: Value::Object(desc),
            });
        }
        out
    }

    /// Sends the requests in order; the first failure stops the rest (and is retried whole).
    pub async fn send(&self, n: &Notification) -> Result<(), SendError> {
        let key = self.t("api_key", Some(self.api_key.expose()), "", n);
        let header = format!("GenieKey {key}");
        for r in self.requests(n) {
            send_json(
                &self.client,
                self.auth.as_ref(),
                r.method,
                &r.url,
                Some(("Authorization", &header)),
                &r.body,
            )
            .await?;
        }
        Ok(())
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
            labels: Labels::from_pairs([("alertname", "DiskFull"), ("team", "db")]),
            annotations: Labels::from_pairs([("summary", "disk full")]),
            starts_at: "2026-01-01T00:00:00Z".into(),
            ends_at: "0001-01-01T00:00:00Z".into(),
            generator_url: "http://gen".into(),
            fingerprint: "0123456789abcdef".into(),
        };
        Notification::new(
            "og",
            "{}:{alertname=\"DiskFull\"}",
            Labels::from_pairs([("alertname", "DiskFull")]),
            vec![a],
            "http://alertd",
        )
    }

    fn build(yaml: &str, g: &Global) -> Opsgenie {
        let c: OpsgenieConfig = serde_saphyr::from_str(yaml).unwrap();
        Opsgenie::new(
            "o",
            &c,
            g,
            std::time::Duration::from_secs(1),
            Arc::new(Templates::load(&[], None).unwrap()),
        )
        .unwrap()
    }

    #[test]
    fn create_close_and_update_requests() {
        let g = Global {
            opsgenie_api_key: Some(model::secret::SecretSource::Inline(Secret::new("k"))),
            opsgenie_api_url: Some("http://og.local/base".into()),
            ..Global::default()
        };
        let o = build(
            "tags: 'a,,b ,{{ .CommonLabels.team }}'\npriority: P2\nupdate_alerts: true\n\
             responders:\n  - { name: 'x,y', type: teams }\n  - { username: u, type: user }\n  \
             - { name: '{{ .CommonLabels.nope }}', type: team }\n",
            &g,
        );
        let alias = group_key_hash("{}:{alertname=\"DiskFull\"}");
        let r = o.requests(&note("firing"));
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].url, "http://og.local/base/v2/alerts");
        let b = &r[0].body;
        assert_eq!(b["alias"], alias);
        assert_eq!(b["message"], "[FIRING:1] DiskFull (db)");
        assert_eq!(
            b["details"],
            json!({ "alertname": "DiskFull", "team": "db" })
        );
        assert_eq!(b["source"], "http://alertd/#/alerts?receiver=og");
        assert_eq!(b["tags"], json!(["a", "b ", "db"]));
        assert_eq!(b["priority"], "P2");
        assert_eq!(
            b["responders"],
            json!([
                { "name": "x", "type": "team" },
                { "name": "y", "type": "team" },
                { "username": "u", "type": "user" },
                { "type": "team" },
            ])
        );
        assert_eq!(
            b["description"],
            "disk full\nAlerts Firing:\nLabels:\n - alertname = DiskFull\n - team = db\n\
             Annotations:\n - summary = disk full\nSource: http://gen\n\n"
        );
        assert_eq!(r[1].method, reqwest::Method::PUT);
        assert_eq!(
            r[1].url,
            format!("http://og.local/base/v2/alerts/{alias}/message?identifierType=alias")
        );
        assert_eq!(r[2].body["description"], b["description"]);
        let c = o.requests(&note("resolved"));
        assert_eq!(
            c[0].url,
            format!("http://og.local/base/v2/alerts/{alias}/close?identifierType=alias")
        );
        assert_eq!(
            c[0].body,
            json!({ "source": "http://alertd/#/alerts?receiver=og" })
        );
    }
}
