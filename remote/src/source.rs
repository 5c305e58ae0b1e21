//! The HTTP client of rule groups with a `source:` ([`evaluator::source`]): an instant query
//! per expression to `<url>/api/v1/query` (POST form `query`, `time`), as vmalert and Thanos
//! Ruler send them, the answer read up to [`MAX_BODY_BYTES`] and parsed from Prometheus's
//! JSON (`vector` and `scalar` results; a `matrix` or `string` is an error for a rule).
//!
//! The group evaluates on a thread that may block and waits there for the answer; requests
//! run on a runtime of their own (one worker thread, `rule-source`), not on alertd's: while a
//! group waits with its lock held, alertd's workers may be blocked on that lock (a status or
//! metrics request), and the request must still make progress.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use evaluator::promql::{InstantSample, Value};
use evaluator::source::{QuerySource, SourceBuilder, SourceConfig, SourceError};
use model::{Labels, Timestamp};
use serde::Deserialize;

/// The largest answer read (larger ones are an error): 32 MiB, a few hundred thousand series.
pub const MAX_BODY_BYTES: usize = 32 << 20;

/// A source over HTTP.
#[derive(Debug)]
pub struct HttpSource {
    client: reqwest::Client,
    endpoint: String,
    shown: String,
    runtime: tokio::runtime::Handle,
}

/// The sources' own runtime, made once and kept for the life of the process.
fn runtime() -> Result<tokio::runtime::Handle, String> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("rule-source")
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the sources' runtime: {e}"))
        })
        .as_ref()
        .map(|r| r.handle().clone())
        .map_err(Clone::clone)
}

/// The [`SourceBuilder`] alertd hands the evaluator.
pub fn builder() -> SourceBuilder {
    Arc::new(|cfg: &SourceConfig| {
        let runtime = runtime().map_err(|message| SourceError::Unavailable {
            url: cfg.shown_url(),
            message,
        })?;
        HttpSource::new(cfg, runtime).map(|s| Arc::new(s) as Arc<dyn QuerySource>)
    })
}

/// Checks that the client of `cfg` can be made (its secret and CA files are readable) without
/// making a source: the reload path checks before it applies.
pub fn check(cfg: &SourceConfig) -> Result<(), SourceError> {
    client(cfg).map(|_| ())
}

fn client(cfg: &SourceConfig) -> Result<reqwest::Client, SourceError> {
    httpclient::build_with_auth(
        Some(&cfg.http_config),
        httpclient::Timeouts::new(cfg.timeout.to_std()),
    )
    .map_err(|e| SourceError::Unavailable {
        url: cfg.shown_url(),
        message: format!("http_config.{e}"),
    })
}

impl HttpSource {
    /// A source for `cfg` whose requests run on `runtime`.
    pub fn new(cfg: &SourceConfig, runtime: tokio::runtime::Handle) -> Result<Self, SourceError> {
        Ok(HttpSource {
            client: client(cfg)?,
            endpoint: format!("{}/api/v1/query", cfg.url.trim_end_matches('/')),
            shown: cfg.shown_url(),
            runtime,
        })
    }

    /// The query, asynchronously.
    pub async fn query(&self, expr: &str, ts: Timestamp) -> Result<Value, SourceError> {
        let time = format!("{}.{:03}", ts.div_euclid(1000), ts.rem_euclid(1000));
        let req_err = |e: reqwest::Error| {
            // reqwest's own message is "error sending request": the causes say why.
            let e = e.without_url();
            let mut message = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                message.push_str(": ");
                message.push_str(&c.to_string());
                cause = c.source();
            }
            SourceError::Request {
                url: self.shown.clone(),
                message,
            }
        };
        let resp = self
            .client
            .post(&self.endpoint)
            .header(
                reqwest::header::USER_AGENT,
                concat!("alertd/", env!("CARGO_PKG_VERSION")),
            )
            .form(&[("query", expr), ("time", time.as_str())])
            .send()
            .await
            .map_err(req_err)?;
        let status = resp.status().as_u16();
        let body = httpclient::read_body_limited(resp, MAX_BODY_BYTES)
            .await
            .map_err(|e| SourceError::Invalid {
                url: self.shown.clone(),
                message: e.to_string(),
            })?;
        parse_answer(&self.shown, status, &body, ts)
    }
}

impl QuerySource for HttpSource {
    /// Blocks until the answer: called on a blocking thread (the rule manager evaluates
    /// source groups with `spawn_blocking`), never from an async task.
    fn instant_query(&self, expr: &str, ts: Timestamp) -> Result<Value, SourceError> {
        self.runtime.block_on(self.query(expr, ts))
    }
}

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: String,
    #[serde(default)]
    error: String,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct Series {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Prometheus's sample values: decimal numbers, `NaN`, `+Inf`, `-Inf`.
fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Parses an answer of `/api/v1/query` (status `status`, body `body`) for a query at `ts`.
pub fn parse_answer(
    url: &str,
    status: u16,
    body: &[u8],
    ts: Timestamp,
) -> Result<Value, SourceError> {
    let invalid = |message: String| SourceError::Invalid {
        url: url.to_string(),
        message,
    };
    let answer: Answer = match serde_json::from_slice(body) {
        Ok(a) => a,
        Err(e) if (200..300).contains(&status) => return Err(invalid(e.to_string())),
        Err(_) => {
            return Err(SourceError::Answer {
                url: url.to_string(),
                status,
                error_type: String::new(),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            })
        }
    };
    if answer.status != "success" || !(200..300).contains(&status) {
        return Err(SourceError::Answer {
            url: url.to_string(),
            status,
            error_type: answer.error_type,
            message: answer.error,
        });
    }
    let data = answer
        .data
        .ok_or_else(|| invalid("no \"data\" in a success answer".into()))?;
    let bad_value = |v: &str| invalid(format!("sample value {v:?} is not a number"));
    match data.result_type.as_str() {
        "vector" => {
            let series: Vec<Series> =
                serde_json::from_value(data.result).map_err(|e| invalid(e.to_string()))?;
            series
                .into_iter()
                .map(|s| {
                    Ok(InstantSample {
                        labels: Labels::from_pairs(s.metric),
                        t: ts,
                        v: parse_value(&s.value.1).ok_or_else(|| bad_value(&s.value.1))?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Vector)
        }
        "scalar" => {
            let (_, v): (f64, String) =
                serde_json::from_value(data.result).map_err(|e| invalid(e.to_string()))?;
            Ok(Value::Scalar {
                t: ts,
                v: parse_value(&v).ok_or_else(|| bad_value(&v))?,
            })
        }
        other => Err(invalid(format!(
            "result type {other:?}: a rule needs a vector or a scalar"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_of_prometheus_are_parsed() {
        let v = parse_answer(
            "u",
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000.5,"1"]},{"metric":{},"value":[1700000000.5,"NaN"]}]}}"#,
            1_700_000_000_500,
        )
        .unwrap();
        let Value::Vector(v) = v else { panic!() };
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].labels.get("job"), Some("a"));
        assert_eq!(v[0].v, 1.0);
        assert_eq!(v[0].t, 1_700_000_000_500);
        assert!(v[1].v.is_nan());
        let s = parse_answer(
            "u",
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}"#,
            1000,
        )
        .unwrap();
        assert_eq!(
            s,
            Value::Scalar {
                t: 1000,
                v: f64::INFINITY
            }
        );
    }

    #[test]
    fn errors_are_typed() {
        let e = parse_answer(
            "http://p",
            400,
            br#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
            0,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "source http://p: status 400: bad_data: parse error"
        );
        let e = parse_answer("http://p", 502, b"<html>bad gateway</html>", 0).unwrap_err();
        assert!(matches!(e, SourceError::Answer { status: 502, .. }), "{e}");
        let e = parse_answer("http://p", 200, b"{", 0).unwrap_err();
        assert!(matches!(e, SourceError::Invalid { .. }), "{e}");
        let e = parse_answer(
            "http://p",
            200,
            br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
            0,
        )
        .unwrap_err();
        assert!(e.to_string().contains("matrix"), "{e}");
        let e = parse_answer(
            "http://p",
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[0,"x"]}]}}"#,
            0,
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
    }
}
