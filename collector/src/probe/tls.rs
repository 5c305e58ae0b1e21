//! The `tls` probe: connects to `host:port` (optionally upgrading an SMTP session with
//! STARTTLS), completes a handshake whatever the certificate, then verifies the chain on its own,
//! so that expired or untrusted certificates still report their expiry dates.

use std::sync::Arc;
use std::time::Instant;

use model::{Clock, Labels};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::http::{connect, resolve};
use super::tlsutil::{push_tls_series, TlsClient, TlsInfo};
use super::{Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::{split_host_port, IpProtocol, Starttls, TlsConfig, TlsProbeConfig};

/// A prepared `tls` probe.
pub(crate) struct TlsProbe {
    pub base: Labels,
    host: String,
    port: u16,
    client: TlsClient,
    starttls: Option<Starttls>,
}

impl TlsProbe {
    pub(crate) fn new(
        mut base: Labels,
        cfg: &TlsProbeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let (host, port) = split_host_port(&cfg.target)?;
        if base.get("instance").is_none() {
            base.set("instance", cfg.target.as_str());
        }
        let mut tls = cfg.tls_config.clone().unwrap_or_default();
        if cfg.server_name.is_some() {
            tls.server_name.clone_from(&cfg.server_name);
        }
        Ok(TlsProbe {
            base,
            host,
            port,
            client: TlsClient::new(Some(&tls as &TlsConfig), &[], clock)?,
            starttls: cfg.starttls,
        })
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut info: Option<TlsInfo> = None;
        let mut ip = None;
        let failure = match tokio::time::timeout_at(
            deadline,
            self.exec(&mut info, &mut ip, deadline),
        )
        .await
        {
            Ok(Ok(())) => None,
            Ok(Err(f)) => Some(f),
            Err(_) => Some(Failure::new(
                FailureKind::Timeout,
                format!("timed out after {:.3}s", started.elapsed().as_secs_f64()),
            )),
        };
        let mut b = SeriesBuf::new(&self.base);
        b.push_result(started, &failure);
        if let Some(ip) = ip {
            b.push("probe_ip_protocol", &[], if ip { 4.0 } else { 6.0 });
        }
        if let Some(info) = &info {
            push_tls_series(&mut b, info);
        }
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure,
        }
    }

    async fn exec(
        &self,
        info: &mut Option<TlsInfo>,
        ip: &mut Option<bool>,
        deadline: tokio::time::Instant,
    ) -> Result<(), Failure> {
        let addr = resolve(&self.host, self.port, IpProtocol::Ip4, true, deadline).await?;
        *ip = Some(addr.is_ipv4());
        let mut tcp = connect(addr).await?;
        if let Some(Starttls::Smtp) = self.starttls {
            tcp = smtp_starttls(tcp).await?;
        }
        let (_stream, i) = self
            .client
            .connect(&self.host, tcp)
            .await
            .map_err(|e| Failure::new(FailureKind::Tls, e))?;
        let verified = i.verified.clone();
        *info = Some(i);
        verified.map_err(|e| Failure::new(FailureKind::Tls, e))
    }
}

/// Reads one SMTP reply (all its lines) and returns its code.
async fn smtp_reply(r: &mut BufReader<TcpStream>) -> Result<(u16, Vec<String>), Failure> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = r
            .read_line(&mut line)
            .await
            .map_err(|e| Failure::new(FailureKind::Connect, format!("SMTP read: {e}")))?;
        if n == 0 {
            return Err(Failure::new(
                FailureKind::Protocol,
                "SMTP server closed the connection",
            ));
        }
        let line = line.trim_end().to_string();
        let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| {
            Failure::new(
                FailureKind::Protocol,
                format!("not an SMTP reply: {line:?}"),
            )
        })?;
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line);
        if !more {
            return Ok((code, lines));
        }
    }
}

async fn smtp_starttls(tcp: TcpStream) -> Result<TcpStream, Failure> {
    let mut r = BufReader::new(tcp);
    let expect = |what: &str, got: (u16, Vec<String>), want: u16| {
        if got.0 == want {
            Ok(got.1)
        } else {
            Err(Failure::new(
                FailureKind::Protocol,
                format!("SMTP {what}: expected {want}, got {:?}", got.1.join(" / ")),
            ))
        }
    };
    expect("greeting", smtp_reply(&mut r).await?, 220)?;
    let write_err =
        |e: std::io::Error| Failure::new(FailureKind::Connect, format!("SMTP write: {e}"));
    r.get_mut()
        .write_all(b"EHLO alertd\r\n")
        .await
        .map_err(write_err)?;
    let caps = expect("EHLO", smtp_reply(&mut r).await?, 250)?;
    if !caps.iter().any(|l| {
        l.get(4..)
            .is_some_and(|c| c.eq_ignore_ascii_case("STARTTLS"))
    }) {
        return Err(Failure::new(
            FailureKind::Protocol,
            "SMTP server does not offer STARTTLS",
        ));
    }
    r.get_mut()
        .write_all(b"STARTTLS\r\n")
        .await
        .map_err(write_err)?;
    expect("STARTTLS", smtp_reply(&mut r).await?, 220)?;
    if !r.buffer().is_empty() {
        return Err(Failure::new(
            FailureKind::Protocol,
            "SMTP server sent data after STARTTLS",
        ));
    }
    Ok(r.into_inner())
}
