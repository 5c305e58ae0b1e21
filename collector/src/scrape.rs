//! Prometheus scrapes: GET `<scheme>://<target><metrics_path>?<params>`, parse the text
//! exposition format with [`crate::expfmt`], add `job`/`instance` and static labels as Prometheus
//! does (`honor_labels: false` renames clashing scraped labels to `exported_<name>`), and the
//! synthetic `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling`. A failed scrape (unreachable, non-200, body over the
//! limit, a malformed line, over `sample_limit`) ingests no scraped sample, sets `up` to 0 and
//! records why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use model::{Clock, Labels, Sample};

use crate::config::{split_host_port, IpProtocol, Scheme, ScrapeConfig};
use crate::probe::http::{auth_header, connect, resolve, Io};
use crate::probe::tlsutil::TlsClient;
use crate::probe::{AbortOnDrop, Failure, FailureKind, Outcome};

/// Default cap on a scraped body (Prometheus has none by default; a monitor should).
const DEFAULT_BODY_LIMIT: u64 = 10 << 20;

/// One scrape target of a job.
pub(crate) struct ScrapeTarget {
    /// `job`, `instance` and the static labels.
    pub base: Labels,
    cfg: ScrapeConfig,
    host: String,
    port: u16,
    path_and_query: String,
    tls: Option<TlsClient>,
    timeout_secs: f64,
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl ScrapeTarget {
    pub(crate) fn new(
        cfg: &ScrapeConfig,
        target: &str,
        labels: &BTreeMap<String, String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let (host, port) = split_host_port(target)?;
        let mut base = Labels::from_pairs(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        base.set("job", cfg.job_name.as_str());
        base.set("instance", target);
        let mut pq = cfg.metrics_path.clone();
        let params: Vec<String> = cfg
            .params
            .iter()
            .flat_map(|(k, vs)| {
                vs.iter()
                    .map(move |v| format!("{}={}", encode(k), encode(v)))
            })
            .collect();
        if !params.is_empty() {
            pq.push('?');
            pq.push_str(&params.join("&"));
        }
        pq.parse::<hyper::http::uri::PathAndQuery>()
            .map_err(|e| format!("invalid metrics_path/params: {e}"))?;
        let tls = match cfg.scheme {
            Scheme::Https => Some(TlsClient::new(
                cfg.tls_config.as_ref(),
                &[b"http/1.1"],
                clock,
            )?),
            Scheme::Http => None,
        };
        Ok(ScrapeTarget {
            base,
            host,
            port,
            path_and_query: pq,
            tls,
            timeout_secs: cfg.scrape_timeout.map_or(10.0, |t| t.as_secs_f64()),
            cfg: cfg.clone(),
        })
    }

    fn synthetic(&self, up: bool, elapsed: f64, scraped: usize) -> Vec<(Labels, f64)> {
        let mk = |name: &str, v: f64| {
            let mut l = self.base.clone();
            l.set("__name__", name);
            (l, v)
        };
        vec![
            mk("up", if up { 1.0 } else { 0.0 }),
            mk("scrape_duration_seconds", elapsed),
            mk("scrape_samples_scraped", scraped as f64),
            mk(
                "scrape_samples_post_metric_relabeling",
                if up { scraped as f64 } else { 0.0 },
            ),
        ]
    }

    pub(crate) fn failed(&self, elapsed: f64, failure: Failure) -> Outcome {
        Outcome {
            series: self.synthetic(false, elapsed, 0),
            explicit: Vec::new(),
            failure: Some(failure),
        }
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let body = match tokio::time::timeout_at(deadline, self.fetch(deadline)).await {
            Ok(Ok(b)) => b,
            Ok(Err(f)) => return self.failed(started.elapsed().as_secs_f64(), f),
            Err(_) => {
                return self.failed(
                    started.elapsed().as_secs_f64(),
                    Failure::new(
                        FailureKind::Timeout,
                        format!(
                            "scrape timed out after {:.3}s",
                            started.elapsed().as_secs_f64()
                        ),
                    ),
                )
            }
        };
        let text = match std::str::from_utf8(&body) {
            Ok(t) => t,
            Err(e) => {
                return self.failed(
                    started.elapsed().as_secs_f64(),
                    Failure::new(FailureKind::Protocol, format!("body is not UTF-8: {e}")),
                )
            }
        };
        let parsed = match crate::expfmt::parse(text) {
            Ok(p) => p,
            Err(e) => {
                return self.failed(
                    started.elapsed().as_secs_f64(),
                    Failure::new(FailureKind::Protocol, format!("invalid exposition: {e}")),
                )
            }
        };
        let n = parsed.len();
        if self.cfg.sample_limit > 0 && n as u64 > self.cfg.sample_limit {
            let mut o = self.failed(
                started.elapsed().as_secs_f64(),
                Failure::new(
                    FailureKind::Body,
                    format!("{n} samples exceed sample_limit {}", self.cfg.sample_limit),
                ),
            );
            o.series = self.synthetic(false, started.elapsed().as_secs_f64(), n);
            return o;
        }
        let mut series = Vec::with_capacity(n + 4);
        let mut explicit = Vec::new();
        for s in parsed {
            let mut l = Labels::from_pairs(s.labels);
            for t in self.base.iter() {
                match l.get(&t.name) {
                    Some(_) if self.cfg.honor_labels => {}
                    Some(v) => {
                        let v = v.to_string();
                        l.set(format!("exported_{}", t.name), v);
                        l.set(t.name.as_str(), t.value.as_str());
                    }
                    None => l.set(t.name.as_str(), t.value.as_str()),
                }
            }
            l.set("__name__", s.name);
            match s.timestamp {
                Some(t) => explicit.push((l, Sample::new(t, s.value))),
                None => series.push((l, s.value)),
            }
        }
        series.extend(self.synthetic(true, started.elapsed().as_secs_f64(), n));
        Outcome {
            series,
            explicit,
            failure: None,
        }
    }

    async fn fetch(&self, deadline: tokio::time::Instant) -> Result<Bytes, Failure> {
        let auth = auth_header(
            self.cfg.authorization.as_ref(),
            self.cfg.basic_auth.as_ref(),
        )?;
        let addr = resolve(&self.host, self.port, IpProtocol::Ip4, true, deadline).await?;
        let tcp = connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Io> = match &self.tls {
            Some(tls) => {
                let (s, info) = tls
                    .connect(&self.host, tcp)
                    .await
                    .map_err(|e| Failure::new(FailureKind::Tls, e))?;
                info.verified
                    .map_err(|e| Failure::new(FailureKind::Tls, e))?;
                Box::new(s)
            }
            None => Box::new(tcp),
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::new(FailureKind::Protocol, format!("HTTP handshake: {e}")))?;
        // Aborted however this ends, a cut-off scrape included: the connection goes with it.
        let _driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        let host = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let mut req = Request::get(self.path_and_query.as_str())
            .header(HOST, host)
            .header(USER_AGENT, "alertd")
            .header(ACCEPT, "text/plain;version=0.0.4;q=1,*/*;q=0.1")
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                HeaderValue::from_str(&format!("{}", self.timeout_secs))
                    .unwrap_or(HeaderValue::from_static("10")),
            );
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| Failure::new(FailureKind::Local, format!("building request: {e}")))?;
        let resp = sender.send_request(req).await.map_err(|e| {
            Failure::new(FailureKind::Protocol, format!("HTTP request failed: {e}"))
        })?;
        let status = resp.status();
        if status != hyper::StatusCode::OK {
            return Err(Failure::new(
                FailureKind::Status,
                format!("server returned HTTP status {status}"),
            ));
        }
        if let Some(ct) = resp.headers().get(hyper::header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if ct.starts_with("application/openmetrics-text")
                || ct.starts_with("application/vnd.google.protobuf")
            {
                return Err(Failure::new(
                    FailureKind::Protocol,
                    format!("unsupported exposition format {ct:?} (only the text format 0.0.4 is supported)"),
                ));
            }
        }
        let limit = self.cfg.body_size_limit.map_or(DEFAULT_BODY_LIMIT, |b| b.0);
        let collected = Limited::new(
            resp.into_body(),
            usize::try_from(limit).unwrap_or(usize::MAX),
        )
        .collect()
        .await;
        collected.map(|c| c.to_bytes()).map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                let which = if self.cfg.body_size_limit.is_some() {
                    "body_size_limit"
                } else {
                    "the default body size limit"
                };
                Failure::new(
                    FailureKind::Body,
                    format!("body larger than {which} ({limit} bytes)"),
                )
            } else {
                Failure::new(FailureKind::Protocol, format!("reading body: {e}"))
            }
        })
    }
}
