//! The `http` probe, as blackbox_exporter's `http` prober: each phase (resolve, connect, TLS,
//! processing, transfer) is measured by doing it here (tokio + rustls + hyper's HTTP/1.1 client
//! connection), summed over redirects; the same series names and label sets as blackbox.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, HOST, LOCATION, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use model::{Clock, Labels};
use regex::Regex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::tlsutil::{push_tls_series, TlsClient, TlsInfo};
use super::{run_until, Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::{resolve_source, Authorization, BasicAuth, HttpProbeConfig, IpProtocol};

/// Series every run writes (name, phase), in the order of the values in `run`.
const FIXED: [(&str, Option<&str>); 15] = [
    ("probe_success", None),
    ("probe_duration_seconds", None),
    ("probe_dns_lookup_time_seconds", None),
    ("probe_failed_due_to_regex", None),
    ("probe_http_content_length", None),
    ("probe_http_duration_seconds", Some("connect")),
    ("probe_http_duration_seconds", Some("processing")),
    ("probe_http_duration_seconds", Some("resolve")),
    ("probe_http_duration_seconds", Some("tls")),
    ("probe_http_duration_seconds", Some("transfer")),
    ("probe_http_redirects", None),
    ("probe_http_ssl", None),
    ("probe_http_status_code", None),
    ("probe_http_uncompressed_body_length", None),
    ("probe_http_version", None),
];

/// Default cap on a probed body.
const DEFAULT_BODY_LIMIT: u64 = 10 << 20;

/// Any byte stream hyper can speak over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A prepared `http` probe.
pub(crate) struct HttpProbe {
    pub base: Labels,
    cfg: HttpProbeConfig,
    method: Method,
    tls: TlsClient,
    fail_if_matches: Vec<Regex>,
    fail_if_not_matches: Vec<Regex>,
    limit: u64,
}

#[derive(Debug, Default)]
struct State {
    dns: Option<f64>,
    resolve: f64,
    connect: f64,
    tls: f64,
    processing: f64,
    transfer: f64,
    redirects: u32,
    status: u16,
    content_length: f64,
    body_len: f64,
    version: f64,
    ssl: bool,
    ip: Option<IpAddr>,
    failed_regex: bool,
    tls_info: Option<TlsInfo>,
}

/// The URL without user info and query, safe to show as a label.
pub(crate) fn display_url(u: &Uri) -> String {
    let scheme = u.scheme_str().unwrap_or("http");
    let host = u.host().unwrap_or("");
    let port = u.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{scheme}://{host}{port}{}", u.path())
}

/// FNV-1a 32 of the address bytes, as blackbox's `probe_ip_addr_hash`.
fn ip_hash(ip: &IpAddr) -> f64 {
    let bytes = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    f64::from(h)
}

/// Resolves `host` preferring `pref`; `fallback` allows the other family. Gives up at
/// `deadline` with a DNS failure (see [`super::dns`] for why a hanging lookup costs no more).
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    pref: IpProtocol,
    fallback: bool,
    deadline: tokio::time::Instant,
) -> Result<SocketAddr, Failure> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs = super::dns::lookup(host, deadline).await?;
    let wanted = |a: &&IpAddr| match pref {
        IpProtocol::Ip4 => a.is_ipv4(),
        IpProtocol::Ip6 => a.is_ipv6(),
    };
    addrs
        .iter()
        .find(wanted)
        .or_else(|| if fallback { addrs.first() } else { None })
        .map(|ip| SocketAddr::new(*ip, port))
        .ok_or_else(|| Failure::new(FailureKind::Dns, format!("{host} has no {pref:?} address")))
}

/// Connects, mapping errors to refused / connect failures.
pub(crate) async fn connect(addr: SocketAddr) -> Result<TcpStream, Failure> {
    TcpStream::connect(addr).await.map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
            FailureKind::Refused
        } else {
            FailureKind::Connect
        };
        Failure::new(kind, format!("connecting to {addr}: {e}"))
    })
}

/// The `Authorization` header value from `authorization` or `basic_auth` (files read now).
pub(crate) fn auth_header(
    authorization: Option<&Authorization>,
    basic: Option<&BasicAuth>,
) -> Result<Option<HeaderValue>, Failure> {
    let local = |e: String| Failure::new(FailureKind::Local, e);
    let value = if let Some(a) = authorization {
        let cred = resolve_source(a.credentials.as_ref()).map_err(local)?;
        Some(format!("{} {cred}", a.kind))
    } else if let Some(b) = basic {
        let pw = resolve_source(b.password.as_ref()).map_err(local)?;
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{}:{pw}", b.username));
        Some(format!("Basic {enc}"))
    } else {
        None
    };
    value
        .map(|v| {
            let mut h = HeaderValue::from_str(&v).map_err(|_| {
                local("credentials contain characters not allowed in a header".into())
            })?;
            h.set_sensitive(true);
            Ok(h)
        })
        .transpose()
}

impl HttpProbe {
    pub(crate) fn new(
        mut base: Labels,
        cfg: &HttpProbeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let uri: Uri = cfg.url.parse().map_err(|e| format!("invalid URL: {e}"))?;
        if base.get("instance").is_none() {
            base.set("instance", display_url(&uri));
        }
        let method = Method::from_bytes(cfg.method.as_bytes())
            .map_err(|_| format!("invalid method {:?}", cfg.method))?;
        let compile = |v: &[String]| -> Result<Vec<Regex>, String> {
            v.iter()
                .map(|r| Regex::new(r).map_err(|e| format!("invalid regexp {r:?}: {e}")))
                .collect()
        };
        Ok(HttpProbe {
            base,
            method,
            tls: TlsClient::new(cfg.tls_config.as_ref(), &[b"http/1.1"], clock)?,
            fail_if_matches: compile(&cfg.fail_if_body_matches_regexp)?,
            fail_if_not_matches: compile(&cfg.fail_if_body_not_matches_regexp)?,
            limit: cfg.body_size_limit.map_or(DEFAULT_BODY_LIMIT, |b| b.0),
            cfg: cfg.clone(),
        })
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut st = State::default();
        let failure = run_until(deadline, started, self.exec(&mut st, deadline), |secs| {
            format!("timed out after {:.3}s", secs)
        })
        .await;
        let values = [
            if failure.is_none() { 1.0 } else { 0.0 },
            started.elapsed().as_secs_f64(),
            st.dns.unwrap_or(0.0),
            f64::from(u8::from(st.failed_regex)),
            st.content_length,
            st.connect,
            st.processing,
            st.resolve,
            st.tls,
            st.transfer,
            f64::from(st.redirects),
            f64::from(u8::from(st.ssl)),
            f64::from(st.status),
            st.body_len,
            st.version,
        ];
        let mut b = SeriesBuf::new(&self.base);
        b.out.reserve(values.len() + 6);
        // Built per run rather than cached: with thousands of probes the cached label sets
        // cost more memory than building them costs CPU.
        for ((name, phase), v) in FIXED.iter().zip(values) {
            match phase {
                Some(p) => b.push(name, &[("phase", p)], v),
                None => b.push(name, &[], v),
            }
        }
        if let Some(ip) = &st.ip {
            b.push("probe_ip_addr_hash", &[], ip_hash(ip));
            b.push(
                "probe_ip_protocol",
                &[],
                if ip.is_ipv4() { 4.0 } else { 6.0 },
            );
        }
        if let Some(info) = &st.tls_info {
            push_tls_series(&mut b, info);
        }
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure,
        }
    }

    async fn exec(&self, st: &mut State, deadline: tokio::time::Instant) -> Result<(), Failure> {
        let mut url: Uri = self
            .cfg
            .url
            .parse()
            .map_err(|e| Failure::new(FailureKind::Local, format!("invalid URL: {e}")))?;
        let mut method = self.method.clone();
        let mut body = self.cfg.body.clone();
        let auth = auth_header(
            self.cfg.authorization.as_ref(),
            self.cfg.basic_auth.as_ref(),
        )?;
        loop {
            let (status, headers, bytes) = self
                .hop(&url, &method, body.clone(), auth.as_ref(), st, deadline)
                .await?;
            if self.cfg.follow_redirects && status.is_redirection() {
                if let Some(loc) = headers.get(LOCATION).and_then(|l| l.to_str().ok()) {
                    if st.redirects >= self.cfg.max_redirects {
                        return Err(Failure::new(
                            FailureKind::Redirects,
                            format!("more than {} redirects", self.cfg.max_redirects),
                        ));
                    }
                    st.redirects += 1;
                    url = join(&url, loc).ok_or_else(|| {
                        Failure::new(
                            FailureKind::Protocol,
                            format!("invalid redirect location {loc:?}"),
                        )
                    })?;
                    let code = status.as_u16();
                    if code == 303 || ((code == 301 || code == 302) && method == Method::POST) {
                        method = Method::GET;
                        body = None;
                    }
                    continue;
                }
            }
            return self.evaluate(status.as_u16(), &bytes, st);
        }
    }

    fn evaluate(&self, status: u16, body: &[u8], st: &mut State) -> Result<(), Failure> {
        let ok = if self.cfg.valid_status_codes.is_empty() {
            (200..300).contains(&status)
        } else {
            self.cfg.valid_status_codes.contains(&status)
        };
        if !ok {
            let expected = if self.cfg.valid_status_codes.is_empty() {
                "2xx".to_string()
            } else {
                format!("{:?}", self.cfg.valid_status_codes)
            };
            return Err(Failure::new(
                FailureKind::Status,
                format!("status code {status}, expected {expected}"),
            ));
        }
        let text = String::from_utf8_lossy(body);
        if let Some(r) = self.fail_if_matches.iter().find(|r| r.is_match(&text)) {
            st.failed_regex = true;
            return Err(Failure::new(
                FailureKind::Body,
                format!("body matched fail_if_body_matches_regexp {:?}", r.as_str()),
            ));
        }
        if let Some(r) = self.fail_if_not_matches.iter().find(|r| !r.is_match(&text)) {
            st.failed_regex = true;
            return Err(Failure::new(
                FailureKind::Body,
                format!(
                    "body did not match fail_if_body_not_matches_regexp {:?}",
                    r.as_str()
                ),
            ));
        }
        if self.cfg.fail_if_ssl && st.ssl {
            return Err(Failure::new(
                FailureKind::Tls,
                "final response used TLS (fail_if_ssl)",
            ));
        }
        if self.cfg.fail_if_not_ssl && !st.ssl {
            return Err(Failure::new(
                FailureKind::Tls,
                "final response did not use TLS (fail_if_not_ssl)",
            ));
        }
        Ok(())
    }

    async fn hop(
        &self,
        url: &Uri,
        method: &Method,
        body: Option<String>,
        auth: Option<&HeaderValue>,
        st: &mut State,
        deadline: tokio::time::Instant,
    ) -> Result<(hyper::StatusCode, hyper::HeaderMap, Bytes), Failure> {
        let https = match url.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => {
                return Err(Failure::new(
                    FailureKind::Protocol,
                    format!("unsupported scheme {other:?}"),
                ))
            }
        };
        let host = url
            .host()
            .ok_or_else(|| Failure::new(FailureKind::Protocol, "URL has no host"))?
            .to_string();
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });

        let t = Instant::now();
        let addr = resolve(
            &host,
            port,
            self.cfg.preferred_ip_protocol,
            self.cfg.ip_protocol_fallback,
            deadline,
        )
        .await;
        let dt = t.elapsed().as_secs_f64();
        st.resolve += dt;
        st.dns.get_or_insert(dt);
        let addr = addr?;
        st.ip = Some(addr.ip());

        let t = Instant::now();
        let tcp = connect(addr).await;
        st.connect += t.elapsed().as_secs_f64();
        let tcp = tcp?;
        let _ = tcp.set_nodelay(true);

        st.ssl = https;
        let io: Box<dyn Io> = if https {
            let t = Instant::now();
            let r = self.tls.connect(&host, tcp).await;
            st.tls += t.elapsed().as_secs_f64();
            let (stream, info) = r.map_err(|e| Failure::new(FailureKind::Tls, e))?;
            let verified = info.verified.clone();
            st.tls_info = Some(info);
            if let Err(e) = verified {
                return Err(Failure::new(FailureKind::Tls, e));
            }
            Box::new(stream)
        } else {
            Box::new(tcp)
        };

        let t = Instant::now();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| Failure::new(FailureKind::Protocol, format!("HTTP handshake: {e}")))?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(url.path_and_query().map_or("/", |p| p.as_str()));
        let host_header = match url.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        req = req.header(HOST, host_header).header(USER_AGENT, "alertd");
        if let Some(a) = auth {
            req = req.header(AUTHORIZATION, a.clone());
        }
        for (k, v) in &self.cfg.headers {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| Failure::new(FailureKind::Local, format!("invalid header {k:?}")))?;
            let value = HeaderValue::from_str(v).map_err(|_| {
                Failure::new(FailureKind::Local, format!("invalid value of header {k:?}"))
            })?;
            if let Some(h) = req.headers_mut() {
                h.insert(name, value);
            }
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Failure::new(FailureKind::Local, format!("building request: {e}")))?;
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        // The exchange and the connection are driven by this task (no helper task per run).
        let exchange = async {
            let resp = sender.send_request(req).await;
            let processing = t.elapsed().as_secs_f64();
            let resp = match resp {
                Ok(r) => r,
                Err(e) => return (processing, Err(e), None, 0.0),
            };
            let (parts, incoming) = resp.into_parts();
            let t = Instant::now();
            let collected = Limited::new(incoming, limit).collect().await;
            (
                processing,
                Ok(parts),
                Some(collected),
                t.elapsed().as_secs_f64(),
            )
        };
        tokio::pin!(conn);
        tokio::pin!(exchange);
        let mut conn_done = false;
        let (processing, parts, collected, transfer) = loop {
            tokio::select! {
                biased;
                r = &mut exchange => break r,
                _ = &mut conn, if !conn_done => conn_done = true,
            }
        };
        st.processing += processing;
        st.transfer += transfer;
        let parts = parts.map_err(|e| {
            Failure::new(FailureKind::Protocol, format!("HTTP request failed: {e}"))
        })?;
        st.status = parts.status.as_u16();
        st.version = match parts.version {
            hyper::Version::HTTP_10 => 1.0,
            hyper::Version::HTTP_11 => 1.1,
            hyper::Version::HTTP_2 => 2.0,
            _ => 0.0,
        };
        st.content_length = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<f64>().ok())
            .unwrap_or(-1.0);
        let bytes = collected
            .ok_or_else(|| Failure::new(FailureKind::Protocol, "no response body"))?
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    Failure::new(
                        FailureKind::Body,
                        format!("body larger than the limit of {} bytes", self.limit),
                    )
                } else {
                    Failure::new(FailureKind::Protocol, format!("reading body: {e}"))
                }
            })?
            .to_bytes();
        st.body_len = bytes.len() as f64;
        Ok((parts.status, parts.headers, bytes))
    }
}

/// Resolves a `Location` against the current URL.
fn join(base: &Uri, loc: &str) -> Option<Uri> {
    if let Ok(u) = loc.parse::<Uri>() {
        if u.scheme().is_some() {
            return Some(u);
        }
    }
    let scheme = base.scheme_str()?;
    let authority = base.authority()?.as_str();
    if let Some(rest) = loc.strip_prefix("//") {
        return format!("{scheme}://{rest}").parse().ok();
    }
    let path = if loc.starts_with('/') {
        loc.to_string()
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{loc}")
    };
    format!("{scheme}://{authority}{path}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_hash_matches_blackbox() {
        // blackbox_probe_ok.txt: probe_ip_addr_hash 3.668918509e+09 for 127.0.0.1
        assert_eq!(ip_hash(&"127.0.0.1".parse().unwrap()), 3_668_918_509.0);
    }

    #[test]
    fn joins_redirect_locations() {
        let b: Uri = "http://h:1/a/b?q".parse().unwrap();
        assert_eq!(join(&b, "/x").unwrap().to_string(), "http://h:1/x");
        assert_eq!(join(&b, "c").unwrap().to_string(), "http://h:1/a/c");
        assert_eq!(join(&b, "https://o/").unwrap().to_string(), "https://o/");
        assert_eq!(join(&b, "//o:2/p").unwrap().to_string(), "http://o:2/p");
    }

    #[test]
    fn display_url_hides_credentials_and_query() {
        let u: Uri = "https://user:pw@h:8443/p?token=s".parse().unwrap();
        assert_eq!(display_url(&u), "https://h:8443/p");
    }
}
