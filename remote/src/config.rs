//! The `remote_write:` section: Prometheus's keys, defaults and checks.

use std::collections::BTreeMap;

use model::config::{ConfigPath, PathError};
use model::http::{Authorization, BasicAuth, TlsConfig};
use model::{Duration, Secret};
use serde::{Deserialize, Serialize};

/// One `remote_write:` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    /// The receiver's endpoint (`http://vm:8428/api/v1/write`).
    pub url: String,
    /// The timeout of one request (30s).
    #[serde(default = "default_timeout")]
    pub remote_timeout: Duration,
    /// Extra headers on every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The queue's name in metrics and logs, and the name its place in the write-ahead log is
    /// kept under across restarts (default: derived from `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Relabelling of each series before it is sent (a series whose labels end up empty, or
    /// that a `keep`/`drop` removes, is not sent).
    #[serde(default)]
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// The queue's sizes and retry timing.
    #[serde(default)]
    pub queue_config: QueueConfig,
    /// `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Basic auth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// TLS settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// HTTP proxy (a secret: it may hold a password).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<Secret>,
    /// Follow redirects (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_redirects: Option<bool>,
    /// Allow HTTP/2 (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_http2: Option<bool>,
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// `queue_config:` (Prometheus 2.42's defaults). alertd reads up to `capacity` samples from
/// the write-ahead log at a time (the queue's memory bound), splits them by series over up to
/// `max_shards` concurrent requests of at most `max_samples_per_send` samples, and moves on
/// once all of them were answered, so samples of one series arrive in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Samples read ahead from the log at a time (2500).
    pub capacity: usize,
    /// Concurrent requests at most (200).
    pub max_shards: usize,
    /// Accepted for Prometheus compatibility (1); shards are started as the data needs them.
    pub min_shards: usize,
    /// Samples per request at most (500).
    pub max_samples_per_send: usize,
    /// The longest a sample waits for a fuller request (5s).
    pub batch_send_deadline: Duration,
    /// The first retry's delay (30ms), doubled per retry up to `max_backoff` (5s).
    pub min_backoff: Duration,
    /// The longest delay between retries (5s).
    pub max_backoff: Duration,
    /// Retry on 429 Too Many Requests (false: the samples are dropped, as on other 4xx).
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: false,
        }
    }
}

/// One `write_relabel_configs` entry (Prometheus's relabelling; `hashmod` is not supported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelabelConfig {
    /// The labels whose values, joined by `separator`, the regex is matched against.
    pub source_labels: Vec<String>,
    /// `;`.
    pub separator: String,
    /// Anchored regular expression (`(.*)`).
    pub regex: String,
    /// The label `replace` writes (may use `$1` references).
    pub target_label: String,
    /// `$1`.
    pub replacement: String,
    /// `replace`, `keep`, `drop`, `labelmap`, `labeldrop`, `labelkeep`, `lowercase`,
    /// `uppercase`, `keepequal`, `dropequal`.
    pub action: String,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: ";".into(),
            regex: "(.*)".into(),
            target_label: String::new(),
            replacement: "$1".into(),
            action: "replace".into(),
        }
    }
}

const ACTIONS: &[&str] = &[
    "replace",
    "keep",
    "drop",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
    "keepequal",
    "dropequal",
];

/// The longest queue name (it names a file in the store).
const MAX_NAME: usize = 100;

impl RemoteWriteConfig {
    /// The entry's client settings as one `http_config` (for the `httpclient` builder; the
    /// keys are written inline in `remote_write:` as in Prometheus).
    pub fn http_config(&self) -> model::http::HttpConfig {
        model::http::HttpConfig {
            follow_redirects: self.follow_redirects,
            enable_http2: self.enable_http2,
            authorization: self.authorization.clone(),
            basic_auth: self.basic_auth.clone(),
            bearer_token: None,
            tls_config: self.tls_config.clone(),
            proxy_url: self.proxy_url.clone(),
        }
    }

    /// The queue's name: `name`, else one derived from `url` (stable across restarts).
    pub fn queue_name(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => {
                // FNV-1a of the URL: the same URL keeps its place in the log after a restart.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in self.url.bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0100_0000_01b3);
                }
                format!("{:06x}", h & 0xff_ffff)
            }
        }
    }
}

/// Checks a whole `remote_write:` list at `path`: every entry's keys, and names unique.
pub fn validate(list: &[RemoteWriteConfig], path: &ConfigPath) -> Vec<PathError> {
    let mut errs = Vec::new();
    let mut names = BTreeMap::new();
    for (i, c) in list.iter().enumerate() {
        let p = path.index(i);
        errs.extend(c.validate(&p));
        if let Some(first) = names.insert(c.queue_name(), i) {
            errs.push(PathError::new(
                p.key("name"),
                format!(
                    "remote_write entries {first} and {i} have the same name {:?} (give each \
                     a distinct `name`)",
                    c.queue_name()
                ),
            ));
        }
    }
    errs
}

impl RemoteWriteConfig {
    /// Checks this entry (at `path`).
    pub fn validate(&self, path: &ConfigPath) -> Vec<PathError> {
        let mut errs = Vec::new();
        let mut err = |p: ConfigPath, m: String| errs.push(PathError::new(p, m));
        match reqwest::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            Ok(_) => err(path.key("url"), "url must be an http or https URL".into()),
            Err(e) => err(path.key("url"), format!("url is not a valid URL: {e}")),
        }
        if self.remote_timeout == Duration::ZERO {
            err(
                path.key("remote_timeout"),
                "remote_timeout must be above 0".into(),
            );
        }
        if let Some(n) = &self.name {
            if n.is_empty() || n.len() > MAX_NAME {
                err(
                    path.key("name"),
                    format!("name must be 1 to {MAX_NAME} characters"),
                );
            }
        }
        for (k, v) in &self.headers {
            let reserved = [
                "authorization",
                "host",
                "content-encoding",
                "content-length",
                "content-type",
                "user-agent",
                "connection",
                "keep-alive",
                "proxy-authenticate",
                "proxy-authorization",
                "www-authenticate",
                "retry-after",
                "x-prometheus-remote-write-version",
            ];
            if reserved.contains(&k.to_ascii_lowercase().as_str()) {
                err(
                    path.key("headers").key(k.clone()),
                    format!("{k} is a reserved header: it cannot be set here"),
                );
            } else if reqwest::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                || reqwest::header::HeaderValue::from_str(v).is_err()
            {
                err(
                    path.key("headers").key(k.clone()),
                    format!("invalid header {k:?}"),
                );
            }
        }
        let q = &self.queue_config;
        let qp = path.key("queue_config");
        for (key, v) in [
            ("capacity", q.capacity),
            ("max_shards", q.max_shards),
            ("max_samples_per_send", q.max_samples_per_send),
        ] {
            if v == 0 {
                err(qp.key(key), format!("{key} must be at least 1"));
            }
        }
        if q.min_shards > q.max_shards {
            err(
                qp.key("min_shards"),
                "min_shards must not exceed max_shards".into(),
            );
        }
        if q.min_backoff > q.max_backoff {
            err(
                qp.key("min_backoff"),
                "min_backoff must not exceed max_backoff".into(),
            );
        }
        if q.batch_send_deadline == Duration::ZERO {
            err(
                qp.key("batch_send_deadline"),
                "batch_send_deadline must be above 0".into(),
            );
        }
        let auths = [
            self.authorization.is_some(),
            self.basic_auth.is_some(),
            self.headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("authorization")),
        ];
        if auths.iter().filter(|a| **a).count() > 1 {
            err(
                path.clone(),
                "at most one of authorization and basic_auth".into(),
            );
        }
        // A secret and its `_file` twin both set is refused while the entry is read.
        if let Some(a) = &self.authorization {
            if a.kind.eq_ignore_ascii_case("basic") {
                err(
                    path.key("authorization").key("type"),
                    "authorization type Basic is written as basic_auth".into(),
                );
            }
        }
        if let Some(t) = &self.tls_config {
            if t.cert_file.is_some() != t.key_file.is_some() {
                err(
                    path.key("tls_config"),
                    "cert_file and key_file go together".into(),
                );
            }
            if t.server_name.is_some() {
                err(
                    path.key("tls_config").key("server_name"),
                    "server_name is not supported for remote_write yet".into(),
                );
            }
        }
        if let Some(p) = &self.proxy_url {
            if reqwest::Proxy::all(p.expose().trim()).is_err() {
                // Not the URL itself: it may carry a password.
                err(path.key("proxy_url"), "invalid proxy URL".into());
            }
        }
        for (i, r) in self.write_relabel_configs.iter().enumerate() {
            let rp = path.key("write_relabel_configs").index(i);
            if !ACTIONS.contains(&r.action.as_str()) {
                let m = if r.action == "hashmod" {
                    "action hashmod is not supported in write_relabel_configs".to_string()
                } else {
                    format!(
                        "unknown relabel action {:?} (one of {})",
                        r.action,
                        ACTIONS.join(", ")
                    )
                };
                err(rp.key("action"), m);
            }
            if let Err(e) = regex::Regex::new(&format!("^(?:{})$", r.regex)) {
                err(rp.key("regex"), format!("invalid regex: {e}"));
            }
            let needs_target = matches!(
                r.action.as_str(),
                "replace" | "lowercase" | "uppercase" | "keepequal" | "dropequal"
            );
            if needs_target && r.target_label.is_empty() {
                err(
                    rp.key("target_label"),
                    format!("action {} needs target_label", r.action),
                );
            }
            if matches!(r.action.as_str(), "labeldrop" | "labelkeep")
                && (!r.source_labels.is_empty() || !r.target_label.is_empty())
            {
                err(
                    rp.clone(),
                    format!(
                        "action {} takes only regex (no source_labels, target_label)",
                        r.action
                    ),
                );
            }
            for (j, l) in r.source_labels.iter().enumerate() {
                if !model::labels::is_valid_label_name(l) {
                    err(
                        rp.key("source_labels").index(j),
                        format!("invalid label name {l:?}"),
                    );
                }
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Vec<RemoteWriteConfig> {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn messages(yaml: &str) -> Vec<String> {
        validate(&parse(yaml), &ConfigPath::root().key("remote_write"))
            .into_iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect()
    }

    #[test]
    fn prometheus_defaults_and_keys() {
        let c = parse(
            "- url: https://vm.example/api/v1/write\n  basic_auth: {username: u, password: p}\n  \
             headers: {X-Scope-OrgID: team}\n  queue_config: {max_shards: 10}\n",
        );
        assert_eq!(c[0].remote_timeout, Duration::from_secs(30));
        assert_eq!(c[0].queue_config.max_shards, 10);
        assert_eq!(c[0].queue_config.capacity, 2500);
        assert_eq!(c[0].queue_config.max_samples_per_send, 500);
        assert_eq!(
            c[0].queue_config.batch_send_deadline,
            Duration::from_secs(5)
        );
        assert!(!c[0].queue_config.retry_on_http_429);
        assert_eq!(c[0].queue_name().len(), 6);
        assert!(messages("- url: https://vm.example/api/v1/write\n").is_empty());
        assert!(serde_saphyr::from_str::<Vec<RemoteWriteConfig>>(
            "- url: http://x\n  metadata_config: {send: false}\n"
        )
        .is_err());
    }

    #[test]
    fn errors_name_their_key() {
        let m = messages(
            "- url: ftp://x\n  name: a\n  queue_config: {max_shards: 0, min_backoff: 10s}\n  \
             headers: {Authorization: x}\n  write_relabel_configs: [{action: hashmod}, \
             {regex: '(', action: keep}, {action: replace}]\n\
             - url: http://y\n  name: a\n",
        );
        let want = [
            "remote_write[0].url: url must be an http or https URL",
            "remote_write[0].headers.Authorization: Authorization is a reserved header",
            "remote_write[0].queue_config.max_shards: max_shards must be at least 1",
            "remote_write[0].queue_config.min_shards: min_shards must not exceed max_shards",
            "remote_write[0].queue_config.min_backoff: min_backoff must not exceed max_backoff",
            "remote_write[0].write_relabel_configs[0].action: action hashmod is not supported",
            "remote_write[0].write_relabel_configs[1].regex: invalid regex",
            "remote_write[0].write_relabel_configs[2].target_label: action replace needs",
            "remote_write[1].name: remote_write entries 0 and 1 have the same name",
        ];
        for w in want {
            assert!(m.iter().any(|m| m.starts_with(w)), "{w} not in {m:#?}");
        }
    }
}
