//! The `grpc` probe (blackbox_exporter's `grpc` prober): one `grpc.health.v1.Health/Check` call
//! over HTTP/2 (plain, or TLS with ALPN `h2`), success when the service is `SERVING`.
//!
//! A gRPC client library (tonic with prost and tower) would be a large dependency for one unary
//! call with a one-field request and a one-field response, so this speaks gRPC over hyper's
//! HTTP/2 client directly and encodes the two tiny protobuf messages by hand.
//!
//! Bounds: the response body is read up to [`MAX_RESPONSE`] bytes (a larger one fails the
//! probe); the run ends at its deadline.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use model::{Clock, Labels};

use super::addr::Chosen;
use super::http::connect;
use super::tlsutil::{TlsClient, TlsInfo};
use super::{AbortOnDrop, Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::{host_port_or, GrpcProbeConfig};

/// Largest response body read.
pub(crate) const MAX_RESPONSE: usize = 64 * 1024;

/// `grpc.health.v1.HealthCheckResponse.ServingStatus` names by value.
const SERVING_STATUS: [&str; 4] = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"];

/// gRPC status code names by value (for messages).
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `UNAVAILABLE`: what grpc-go reports when it cannot reach the server.
const UNAVAILABLE: u32 = 14;

/// A prepared `grpc` probe.
pub(crate) struct GrpcProbe {
    pub base: Labels,
    cfg: GrpcProbeConfig,
    host: String,
    port: u16,
    client: Option<TlsClient>,
}

/// What a run learned.
#[derive(Default)]
struct Found {
    chosen: Option<Chosen>,
    check: Option<Instant>,
    status_code: u32,
    serving: Option<usize>,
    tls: Option<TlsInfo>,
}

impl GrpcProbe {
    pub(crate) fn new(
        mut base: Labels,
        cfg: &GrpcProbeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let (host, port) = host_port_or(&cfg.target, if cfg.tls { 443 } else { 80 })?;
        if base.get("instance").is_none() {
            base.set("instance", cfg.target.as_str());
        }
        let client = if cfg.tls {
            Some(TlsClient::new(cfg.tls_config.as_ref(), &[b"h2"], clock)?)
        } else {
            None
        };
        Ok(GrpcProbe {
            base,
            cfg: cfg.clone(),
            host,
            port,
            client,
        })
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut found = Found::default();
        let failure = match tokio::time::timeout_at(deadline, self.exec(&mut found, deadline)).await
        {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => {
                found.status_code = 4; // DEADLINE_EXCEEDED
                Some(Failure::new(
                    FailureKind::Timeout,
                    format!(
                        "no health check answer from {} within {:.3}s",
                        self.cfg.target,
                        started.elapsed().as_secs_f64()
                    ),
                ))
            }
        };
        let mut b = SeriesBuf::new(&self.base);
        b.push_result(started, &failure);
        let resolve = found.chosen.as_ref().map_or(0.0, |c| c.lookup_seconds);
        if let Some(c) = &found.chosen {
            c.push(&mut b);
        }
        b.push(
            "probe_grpc_duration_seconds",
            &[("phase", "resolve")],
            resolve,
        );
        if let Some(t) = found.check {
            b.push(
                "probe_grpc_duration_seconds",
                &[("phase", "check")],
                t.elapsed().as_secs_f64(),
            );
        }
        for (i, name) in SERVING_STATUS.iter().enumerate() {
            let v = if found.serving == Some(i) { 1.0 } else { 0.0 };
            b.push(
                "probe_grpc_healthcheck_response",
                &[("serving_status", name)],
                v,
            );
        }
        b.push("probe_grpc_status_code", &[], f64::from(found.status_code));
        // As blackbox: the TLS series describe a call that got an answer.
        let answered = found.serving.is_some();
        let tls = found.tls.as_ref().filter(|_| answered);
        b.push("probe_grpc_ssl", &[], if tls.is_some() { 1.0 } else { 0.0 });
        if let Some(info) = tls {
            // Only with a certificate: blackbox writes 0 without one, which reads as a
            // certificate that expired in 1970 (certificate alerts, the status page).
            if let Some(e) = info.earliest_expiry() {
                b.push("probe_ssl_earliest_cert_expiry", &[], e);
            }
            b.push("probe_tls_version_info", &[("version", &info.version)], 1.0);
            if let Some(l) = &info.leaf {
                b.push(
                    "probe_ssl_last_chain_info",
                    &[
                        ("fingerprint_sha256", &l.fingerprint_sha256),
                        ("subject", &l.subject),
                        ("issuer", &l.issuer),
                        ("subjectalternative", &l.subjectalternative),
                    ],
                    1.0,
                );
            }
        }
        if let (Some(info), false) = (&found.tls, found.tls.as_ref().is_none_or(|i| i.skipped)) {
            b.push(
                "probe_ssl_chain_valid",
                &[],
                if info.verified.is_ok() { 1.0 } else { 0.0 },
            );
        }
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure,
        }
    }

    async fn exec(&self, found: &mut Found, deadline: tokio::time::Instant) -> Result<(), Failure> {
        let chosen = Chosen::resolve(
            &self.host,
            self.cfg.preferred_ip_protocol,
            self.cfg.ip_protocol_fallback,
            deadline,
        )
        .await;
        found.chosen = Some(chosen.clone());
        let ip = chosen.ip?;
        found.check = Some(Instant::now());
        found.status_code = UNAVAILABLE;
        let tcp = connect(std::net::SocketAddr::new(ip, self.port)).await?;
        let response = match &self.client {
            None => call(tcp, "http", &self.cfg).await?,
            Some(client) => {
                let (stream, info) = client
                    .connect(&self.host, tcp)
                    .await
                    .map_err(|e| Failure::new(FailureKind::Tls, e))?;
                let verified = info.verified.clone();
                found.tls = Some(info);
                verified.map_err(|e| Failure::new(FailureKind::Tls, e))?;
                call(stream, "https", &self.cfg).await?
            }
        };
        found.status_code = response.code;
        if response.code != 0 {
            let name = CODES.get(response.code as usize).copied().unwrap_or("code");
            return Err(Failure::new(
                FailureKind::Unhealthy,
                format!(
                    "health check of service {:?}: {name} ({}){}",
                    self.cfg.service,
                    response.code,
                    if response.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", response.message)
                    }
                ),
            ));
        }
        let serving = response.serving;
        found.serving = Some(usize::try_from(serving).unwrap_or(0).min(3));
        if serving != 1 {
            let name = SERVING_STATUS
                .get(serving as usize)
                .copied()
                .unwrap_or("unknown status");
            return Err(Failure::new(
                FailureKind::Unhealthy,
                format!("service {:?} is {name}", self.cfg.service),
            ));
        }
        Ok(())
    }
}

/// The answer of one call: gRPC status code and message, and the serving status.
struct Answer {
    code: u32,
    message: String,
    serving: u64,
}

/// One `Health/Check` call over a fresh HTTP/2 connection on `io`.
async fn call<IO>(io: IO, scheme: &str, cfg: &GrpcProbeConfig) -> Result<Answer, Failure>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let proto = |e: String| Failure::new(FailureKind::Protocol, e);
    let (mut sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Full<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| proto(format!("HTTP/2 handshake: {e}")))?;
    let _driver = AbortOnDrop(tokio::spawn(conn));
    let req = hyper::Request::post(format!(
        "{scheme}://{}/grpc.health.v1.Health/Check",
        cfg.target
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("user-agent", "alertd")
    .body(Full::new(Bytes::from(frame(&request_message(
        &cfg.service,
    )))))
    .map_err(|e| proto(format!("request: {e}")))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| proto(format!("HTTP/2 request: {e}")))?;
    if resp.status() != hyper::StatusCode::OK {
        return Err(proto(format!("HTTP status {} (not gRPC)", resp.status())));
    }
    let (parts, body) = resp.into_parts();
    let collected = Limited::new(body, MAX_RESPONSE)
        .collect()
        .await
        .map_err(|e| {
            proto(format!(
                "reading the response (at most {MAX_RESPONSE} bytes): {e}"
            ))
        })?;
    // A trailers-only response carries the status in its headers.
    let trailers = collected.trailers().cloned();
    let headers = trailers.as_ref().unwrap_or(&parts.headers);
    let code: u32 = headers
        .get("grpc-status")
        .or_else(|| parts.headers.get("grpc-status"))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| proto("response without grpc-status".to_string()))?;
    let message = headers
        .get("grpc-message")
        .or_else(|| parts.headers.get("grpc-message"))
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    let serving = if code == 0 {
        let body = collected.to_bytes();
        let msg = unframe(&body).map_err(proto)?;
        serving_status(msg).map_err(proto)?
    } else {
        0
    };
    Ok(Answer {
        code,
        message,
        serving,
    })
}

/// `HealthCheckRequest { string service = 1; }`, protobuf-encoded.
fn request_message(service: &str) -> Vec<u8> {
    let mut m = Vec::new();
    if !service.is_empty() {
        m.push(0x0a); // field 1, length-delimited
        put_varint(&mut m, service.len() as u64);
        m.extend_from_slice(service.as_bytes());
    }
    m
}

/// A gRPC length-prefixed message: uncompressed flag, 4-byte length, bytes.
fn frame(msg: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8];
    f.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    f.extend_from_slice(msg);
    f
}

fn unframe(body: &[u8]) -> Result<&[u8], String> {
    let (head, rest) = body
        .split_at_checked(5)
        .ok_or_else(|| format!("response of {} bytes, no gRPC message", body.len()))?;
    if head[0] != 0 {
        return Err("compressed response (not asked for)".to_string());
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    rest.get(..len)
        .ok_or_else(|| format!("gRPC message of {len} bytes cut short at {}", rest.len()))
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(p: &mut &[u8]) -> Result<u64, String> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = p.split_first().ok_or("truncated varint")?;
        *p = rest;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint longer than 10 bytes".to_string())
}

/// `HealthCheckResponse { ServingStatus status = 1; }`: the status (0, UNKNOWN, when absent);
/// other fields are skipped.
fn serving_status(mut p: &[u8]) -> Result<u64, String> {
    let mut status = 0;
    while !p.is_empty() {
        let key = get_varint(&mut p)?;
        match (key >> 3, key & 7) {
            (1, 0) => status = get_varint(&mut p)?,
            (_, 0) => {
                get_varint(&mut p)?;
            }
            (_, 1) => p = p.get(8..).ok_or("truncated fixed64")?,
            (_, 5) => p = p.get(4..).ok_or("truncated fixed32")?,
            (_, 2) => {
                let n = usize::try_from(get_varint(&mut p)?).map_err(|_| "bad length")?;
                p = p.get(n..).ok_or("truncated field")?;
            }
            (_, w) => return Err(format!("unsupported protobuf wire type {w}")),
        }
    }
    Ok(status)
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b.get(i + 1..i + 3).and_then(|h| {
            std::str::from_utf8(h)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        });
        match (b[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_encode_and_decode() {
        assert_eq!(request_message(""), b"");
        assert_eq!(request_message("up"), b"\x0a\x02up");
        let long = "s".repeat(200);
        let m = request_message(&long);
        assert_eq!(&m[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(frame(b"ab"), b"\x00\x00\x00\x00\x02ab");
        assert_eq!(
            unframe(b"\x00\x00\x00\x00\x02\x08\x01").unwrap(),
            b"\x08\x01"
        );
        assert!(unframe(b"\x00\x00\x00\x00\x09\x08").is_err());
        assert!(unframe(b"\x01\x00\x00\x00\x00").is_err());
        assert_eq!(serving_status(b"\x08\x02").unwrap(), 2);
        assert_eq!(serving_status(b"").unwrap(), 0);
        // Unknown fields (a string, a fixed32) before the status are skipped.
        assert_eq!(
            serving_status(b"\x12\x01x\x1d\x00\x00\x00\x00\x08\x01").unwrap(),
            1
        );
        assert!(serving_status(b"\x08").is_err());
        assert!(serving_status(b"\x12\x05x").is_err());
        assert_eq!(percent_decode("unknown%20service%"), "unknown service%");
    }

    proptest::proptest! {
        /// Whatever a server sends, decoding answers a value or an error, never a panic.
        #[test]
        fn decoding_any_bytes_never_panics(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = unframe(&b);
            let _ = serving_status(&b);
            let _ = percent_decode(&String::from_utf8_lossy(&b));
        }
    }
}
