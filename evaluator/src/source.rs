//! Rule groups over a remote query API: a group with `source:` sends its expressions (and its
//! templates' `query` calls) to a Prometheus-compatible `/api/v1/query` (Prometheus,
//! VictoriaMetrics, Mimir, Thanos Querier) instead of the local store, as vmalert and Thanos
//! Ruler do. Everything else — alert state, `for:`, templates, `ALERTS`, recorded series — is
//! the group's as for a local group.
//!
//! The evaluator only knows the [`QuerySource`] seam; the HTTP client is the `remote` crate's
//! (alertd hands a [`SourceBuilder`] in [`crate::EvalContext`]). Without a builder (unit tests,
//! `alertctl`) a source group fails every evaluation with [`SourceError::Unavailable`].

use std::sync::Arc;

use model::config::PathError;
use model::http::HttpConfig;
use model::{Duration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::promql::Value;

/// A group's `source:`, or alertd.yaml's `rule_source:` (the default of every group without
/// one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The query API's base URL (`http://vm:8428`, `http://prometheus:9090`,
    /// `http://mimir/prometheus`): queries go to `<url>/api/v1/query`.
    pub url: String,
    /// The timeout of one query (default 10s).
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// Authentication, TLS, proxy: Prometheus's `http_config` (secrets with `_file` twins).
    #[serde(default)]
    pub http_config: HttpConfig,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl SourceConfig {
    /// The URL as shown in status and metrics: without user and password.
    pub fn shown_url(&self) -> String {
        match self.url.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
                format!("{scheme}://{host}{path}")
            }
            None => self.url.clone(),
        }
    }

    /// Problems of the settings that need no IO, each at its key (relative to the `source:`
    /// block), for rule file validation and alertd.yaml's `rule_source:`.
    pub fn check(&self) -> Vec<PathError> {
        let mut out = Vec::new();
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"));
        match rest {
            None => out.push(PathError::new(
                "url",
                format!("{:?} must start with http:// or https://", self.shown_url()),
            )),
            Some(r) if r.split(['/', '?', '#']).next().is_none_or(str::is_empty) => {
                out.push(PathError::new("url", "has no host"))
            }
            Some(r) if r.contains(['?', '#']) => {
                out.push(PathError::new("url", "must not have a query or fragment"))
            }
            Some(_) => {}
        }
        if self.timeout == Duration::ZERO {
            out.push(PathError::new("timeout", "must be greater than zero"));
        }
        let h = &self.http_config;
        let auths = [
            h.authorization.is_some(),
            h.basic_auth.is_some(),
            h.bearer_token.is_some(),
        ];
        if auths.iter().filter(|a| **a).count() > 1 {
            out.push(PathError::new(
                "http_config",
                "at most one of authorization, basic_auth and bearer_token",
            ));
        }
        // A secret and its `_file` twin both set is refused while the settings are read.
        out
    }
}

/// Why a query to a source failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The request did not get an answer (connection, timeout).
    #[error("source {url}: {message}")]
    Request {
        /// The source (without credentials).
        url: String,
        /// What happened (without the URL).
        message: String,
    },
    /// The source answered with an error.
    #[error("source {url}: status {status}: {error_type}: {message}")]
    Answer {
        /// The source (without credentials).
        url: String,
        /// The HTTP status.
        status: u16,
        /// Prometheus's `errorType` (empty when the body had none).
        error_type: String,
        /// Prometheus's `error`, or the start of the body.
        message: String,
    },
    /// The answer could not be read (too large, not the API's JSON).
    #[error("source {url}: invalid answer: {message}")]
    Invalid {
        /// The source (without credentials).
        url: String,
        /// What is wrong.
        message: String,
    },
    /// The source's client could not be made (a secret or CA file unreadable), or this
    /// process has no client for sources.
    #[error("source {url}: {message}")]
    Unavailable {
        /// The source (without credentials).
        url: String,
        /// Why.
        message: String,
    },
}

/// Where a group's queries run: an instant query at `ts` (ms) of an expression as written.
/// Called from a thread that may block (never from an async task).
pub trait QuerySource: Send + Sync + std::fmt::Debug {
    /// Runs `expr` at `ts` (ms).
    fn instant_query(&self, expr: &str, ts: Timestamp) -> Result<Value, SourceError>;
}

/// Makes a group's source from its settings (given by alertd; `None` in tests and tools).
pub type SourceBuilder =
    Arc<dyn Fn(&SourceConfig) -> Result<Arc<dyn QuerySource>, SourceError> + Send + Sync>;

/// A source that could not be made: every query fails with why.
#[derive(Debug)]
pub struct Unavailable(pub SourceError);

impl QuerySource for Unavailable {
    fn instant_query(&self, _expr: &str, _ts: Timestamp) -> Result<Value, SourceError> {
        Err(self.0.clone())
    }
}

/// The source of a group with settings `cfg`: built by `builder`, or one failing with why.
pub fn make(builder: Option<&SourceBuilder>, cfg: &SourceConfig) -> Arc<dyn QuerySource> {
    let built = match builder {
        Some(b) => b(cfg),
        None => Err(SourceError::Unavailable {
            url: cfg.shown_url(),
            message: "no client for rule sources in this process".into(),
        }),
    };
    built.unwrap_or_else(|e| Arc::new(Unavailable(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> SourceConfig {
        SourceConfig {
            url: url.into(),
            timeout: default_timeout(),
            http_config: HttpConfig::default(),
        }
    }

    #[test]
    fn urls_are_checked_and_shown_without_credentials() {
        let check = |url: &str| -> Vec<String> {
            cfg(url).check().iter().map(ToString::to_string).collect()
        };
        assert!(check("http://vm:8428").is_empty());
        assert!(check("https://u:p@mimir.example/prometheus").is_empty());
        assert_eq!(
            cfg("https://u:p@mimir.example/prometheus").shown_url(),
            "https://mimir.example/prometheus"
        );
        assert_eq!(
            check("vm:8428"),
            vec!["url: \"vm:8428\" must start with http:// or https://"]
        );
        assert_eq!(check("http:///x"), vec!["url: has no host"]);
        assert_eq!(
            check("http://vm/?a=b"),
            vec!["url: must not have a query or fragment"]
        );
    }

    /// A source answering `up == 0` with one series while `down`, nothing otherwise, and
    /// failing while `fail`; it records the queries it got.
    #[derive(Debug, Default)]
    struct Scripted {
        down: std::sync::atomic::AtomicBool,
        fail: std::sync::atomic::AtomicBool,
        asked: std::sync::Mutex<Vec<(String, Timestamp)>>,
    }

    impl QuerySource for Scripted {
        fn instant_query(&self, expr: &str, ts: Timestamp) -> Result<Value, SourceError> {
            use std::sync::atomic::Ordering::SeqCst;
            self.asked.lock().unwrap().push((expr.to_string(), ts));
            if self.fail.load(SeqCst) {
                return Err(SourceError::Request {
                    url: "http://vm:8428".into(),
                    message: "connection refused".into(),
                });
            }
            let mut v = Vec::new();
            if self.down.load(SeqCst) {
                v.push(crate::promql::InstantSample {
                    labels: model::Labels::from_pairs([("instance", "a")]),
                    t: ts,
                    v: 0.0,
                });
            }
            Ok(Value::Vector(v))
        }
    }

    /// A failed evaluation changes no alert state: a pending alert keeps its `activeAt`, a
    /// firing one keeps firing (and is re-sent), the rule's health is `err` with the error, and
    /// `source_up` is false until the source answers again. Time is the evaluation timestamp.
    #[test]
    fn a_failing_source_freezes_alert_state() {
        use crate::group::{EvalContext, GroupState, RuleHealth};
        use model::AlertState;
        use std::sync::atomic::Ordering::SeqCst;
        let text = "groups:\n  - name: fleet\n    interval: 1m\n    source: { url: 'http://vm:8428', timeout: 5s }\n    rules:\n      - alert: Down\n        expr: up == 0\n        for: 3m\n      - alert: DownLong\n        expr: up == 0\n        for: 1h\n        annotations: { n: '{{ query \"count(up)\" | len }}' }\n      - record: fleet:up\n        expr: up\n";
        let g = crate::rules::parse_rule_file(std::path::Path::new("f.yml"), text)
            .unwrap()
            .remove(0);
        assert_eq!(g.source.as_ref().unwrap().timeout, Duration::from_secs(5));
        let src = Arc::new(Scripted::default());
        let store = Arc::new(model::storage::MemStorage::new());
        let mut ctx = EvalContext::new(store.clone());
        let given: Arc<dyn QuerySource> = src.clone();
        ctx.sources = Some(Arc::new(move |_: &SourceConfig| Ok(given.clone())));
        let mut gs = GroupState::new(g, ctx);
        const M: i64 = 60_000;
        src.down.store(true, SeqCst);
        assert!(gs.eval(0).is_empty());
        assert_eq!(gs.source_up, Some(true));
        // Queries (the rules' and the template's) went to the source at the evaluation time.
        let asked = src.asked.lock().unwrap().clone();
        assert!(asked.contains(&("up == 0".to_string(), 0)), "{asked:?}");
        assert!(asked.contains(&("count(up)".to_string(), 0)), "{asked:?}");
        let sent = (1..=3).flat_map(|i| gs.eval(i * M)).count();
        assert_eq!(sent, 1, "Down fires at 3m");
        let state = |gs: &GroupState, r: usize| {
            let a = gs.rules[r].active.values().next().unwrap();
            (a.state, a.active_at)
        };
        assert_eq!(state(&gs, 0), (AlertState::Firing, 0));
        assert_eq!(state(&gs, 1), (AlertState::Pending, 0));
        // The source fails for 10 minutes.
        src.fail.store(true, SeqCst);
        for i in 4..14 {
            let sent = gs.eval(i * M);
            assert!(
                sent.iter().all(|a| a.ends_at > Some(i * M)),
                "nothing resolves"
            );
        }
        assert_eq!(gs.source_up, Some(false));
        assert_eq!(state(&gs, 0), (AlertState::Firing, 0));
        assert_eq!(state(&gs, 1), (AlertState::Pending, 0));
        for r in &gs.rules {
            assert_eq!(r.health, RuleHealth::Err);
            assert!(
                r.last_error.contains("connection refused"),
                "{}",
                r.last_error
            );
        }
        // It answers again, the condition still holds: the alerts go on from where they were.
        src.fail.store(false, SeqCst);
        gs.eval(14 * M);
        assert_eq!(gs.source_up, Some(true));
        assert_eq!(state(&gs, 0), (AlertState::Firing, 0));
        assert_eq!(state(&gs, 1), (AlertState::Pending, 0));
        assert!(gs.rules.iter().all(|r| r.health == RuleHealth::Ok));
        // Recorded series are stored locally.
        let rec = model::storage::SeriesStore::select(
            store.as_ref(),
            &["__name__=\"fleet:up\"".parse().unwrap()],
            0,
            i64::MAX,
        )
        .unwrap();
        assert_eq!(rec.len(), 1);
        // The condition ends: Down resolves.
        src.down.store(false, SeqCst);
        let sent = gs.eval(15 * M);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].ends_at, Some(15 * M));
    }

    #[test]
    fn source_groups_are_validated_with_positions() {
        let text = "groups:\n  - name: fleet\n    source:\n      url: vm:8428\n    rules:\n      - record: r\n        expr: up\n";
        let e = crate::rules::parse_rule_file(std::path::Path::new("f.yml"), text).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "f.yml:4:7: group \"fleet\", source: url: \"vm:8428\" must start with http:// or https://"
        );
        // What alertd's engine does not evaluate is the source's business: syntax only.
        let text = "groups:\n  - name: fleet\n    source: { url: 'http://vm:8428' }\n    rules:\n      - record: r\n        expr: up{job=\"a\" or job=\"b\"}\n";
        assert!(crate::rules::parse_rule_file(std::path::Path::new("f.yml"), text).is_ok());
        let local = text.replace("    source: { url: 'http://vm:8428' }\n", "");
        assert!(crate::rules::parse_rule_file(std::path::Path::new("f.yml"), &local).is_err());
        let text = "groups:\n  - name: fleet\n    source: { url: 'http://vm:8428', tls: {} }\n    rules: []\n";
        assert!(crate::rules::parse_rule_file(std::path::Path::new("f.yml"), text).is_err());
    }

    /// Issue 19: a default source (alertd.yaml's `rule_source:`) applies to every group without
    /// a `source:` of its own, whose expressions are then checked for syntax only; a group's own
    /// `source:` wins; `source: local` keeps a group on the local engine (checked as such).
    #[test]
    fn a_default_source_applies_to_groups_without_their_own() {
        let default = cfg("http://vm:8428");
        let text = "groups:\n  - name: fleet\n    rules:\n      - record: r\n        expr: up{job=\"a\" or job=\"b\"}\n  - name: own\n    source: { url: 'http://mimir/prometheus' }\n    rules: []\n  - name: here\n    source: local\n    rules:\n      - record: one\n        expr: vector(1)\n";
        let f = std::path::Path::new("f.yml");
        let groups = crate::rules::parse_rule_file_with_source(f, text, Some(&default)).unwrap();
        let sources: Vec<Option<&str>> = groups
            .iter()
            .map(|g| g.source.as_ref().map(|s| s.url.as_str()))
            .collect();
        assert_eq!(
            sources,
            [
                Some("http://vm:8428"),
                Some("http://mimir/prometheus"),
                None
            ]
        );
        // Without the default, the first group is local: its expression is refused.
        let e = crate::rules::parse_rule_file(f, text).unwrap_err();
        assert!(e[0].to_string().contains("group \"fleet\""), "{e:?}");
        // `source: local` is checked against the local engine even with a default.
        let local = text.replace("expr: vector(1)", "expr: up{job=\"a\" or job=\"b\"}");
        assert!(crate::rules::parse_rule_file_with_source(f, &local, Some(&default)).is_err());
        // Anything else than `local` or a mapping is refused at its position.
        let bad = text.replace("source: local", "source: remote");
        let e = crate::rules::parse_rule_file_with_source(f, &bad, Some(&default)).unwrap_err();
        assert!(e[0].to_string().starts_with("f.yml:10:"), "{e:?}");
        assert!(e[0].to_string().contains("expected `local`"), "{e:?}");
    }

    #[test]
    fn without_a_builder_every_query_fails() {
        let s = make(None, &cfg("http://u:secret@vm:8428"));
        let e = s.instant_query("up", 0).unwrap_err();
        assert!(matches!(e, SourceError::Unavailable { .. }));
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
