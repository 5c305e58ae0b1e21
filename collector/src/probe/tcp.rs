//! The `tcp` probe (blackbox_exporter's `tcp` prober): connect, optionally speak TLS from the
//! start, then run the `query_response` dialogue: wait for a line matching `expect`, `send` a
//! line (with the match's groups expanded), upgrade with `starttls`. SMTP, IMAP, POP3, SSH
//! banners, Redis `PING` and the like are all dialogues.
//!
//! Bounds: a line is at most [`MAX_LINE`] bytes (blackbox's scanner limit; a longer one fails the
//! probe), and the whole run ends at its deadline.

use std::sync::Arc;
use std::time::Instant;

use model::{Clock, Labels};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::addr::Chosen;
use super::http::connect;
use super::tlsutil::{push_tls_series, TlsClient, TlsInfo};
use super::{run_until, Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::{split_host_port, TcpProbeConfig};

/// Longest line read (Go's `bufio.Scanner` default, which blackbox uses).
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// A byte stream the dialogue runs over: plain TCP or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One dialogue step, its regexp compiled.
struct Step {
    expect: Option<regex::bytes::Regex>,
    send: Option<String>,
    starttls: bool,
}

/// A prepared `tcp` probe.
pub(crate) struct TcpProbe {
    pub base: Labels,
    cfg: TcpProbeConfig,
    host: String,
    port: u16,
    client: Option<TlsClient>,
    steps: Vec<Step>,
}

/// What a run learned besides success.
#[derive(Default)]
struct Found {
    chosen: Option<Chosen>,
    tls: Option<TlsInfo>,
    failed_due_to_regex: bool,
}

impl TcpProbe {
    pub(crate) fn new(
        mut base: Labels,
        cfg: &TcpProbeConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let (host, port) = split_host_port(&cfg.target)?;
        if base.get("instance").is_none() {
            base.set("instance", cfg.target.as_str());
        }
        let needs_tls = cfg.tls || cfg.query_response.iter().any(|q| q.starttls);
        let client = if needs_tls {
            Some(TlsClient::new(cfg.tls_config.as_ref(), &[], clock)?)
        } else {
            None
        };
        let steps = cfg
            .query_response
            .iter()
            .map(|q| {
                Ok(Step {
                    expect: q
                        .expect
                        .as_deref()
                        .map(regex::bytes::Regex::new)
                        .transpose()
                        .map_err(|e| e.to_string())?,
                    send: q.send.clone(),
                    starttls: q.starttls,
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(TcpProbe {
            base,
            cfg: cfg.clone(),
            host,
            port,
            client,
            steps,
        })
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut found = Found::default();
        let failure = run_until(deadline, started, self.exec(&mut found, deadline), |secs| {
            format!("timed out after {:.3}s", secs)
        })
        .await;
        let mut b = SeriesBuf::new(&self.base);
        b.push_result(started, &failure);
        if let Some(c) = &found.chosen {
            c.push(&mut b);
        }
        // Always written, as blackbox registers it before anything else.
        b.push(
            "probe_failed_due_to_regex",
            &[],
            if found.failed_due_to_regex { 1.0 } else { 0.0 },
        );
        if let Some(info) = &found.tls {
            push_tls_series(&mut b, info);
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
        let tcp = connect(std::net::SocketAddr::new(ip, self.port)).await?;
        let mut stream: Box<dyn Stream> = Box::new(tcp);
        if self.cfg.tls {
            stream = self.handshake(stream, found).await?;
        }
        let mut r = BufReader::new(stream);
        for (i, step) in self.steps.iter().enumerate() {
            let mut send = step.send.clone();
            if let Some(re) = &step.expect {
                let expanded = expect(&mut r, re, step.send.as_deref()).await;
                match expanded {
                    Ok(s) => send = s,
                    Err(f) => {
                        found.failed_due_to_regex = f.kind == FailureKind::Expect;
                        return Err(Failure::new(
                            f.kind,
                            format!("query_response[{i}]: {}", f.message),
                        ));
                    }
                }
            }
            if let Some(line) = send.filter(|s| !s.is_empty()) {
                let w = r.get_mut();
                let sent = async {
                    w.write_all(format!("{line}\n").as_bytes()).await?;
                    w.flush().await
                };
                sent.await.map_err(|e| {
                    Failure::new(
                        FailureKind::Connect,
                        format!("query_response[{i}]: sending: {e}"),
                    )
                })?;
            }
            if step.starttls {
                // Anything the peer sent ahead is dropped with the buffer, as blackbox does.
                let plain = r.into_inner();
                r = BufReader::new(self.handshake(plain, found).await.map_err(|f| {
                    Failure::new(
                        f.kind,
                        format!("query_response[{i}]: STARTTLS: {}", f.message),
                    )
                })?);
            }
        }
        Ok(())
    }

    /// TLS over `io`; the certificate series are kept even when the chain does not verify.
    async fn handshake(
        &self,
        io: Box<dyn Stream>,
        found: &mut Found,
    ) -> Result<Box<dyn Stream>, Failure> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| Failure::new(FailureKind::Local, "no TLS client prepared"))?;
        let (stream, info) = client
            .connect(&self.host, io)
            .await
            .map_err(|e| Failure::new(FailureKind::Tls, e))?;
        let verified = info.verified.clone();
        found.tls = Some(info);
        verified.map_err(|e| Failure::new(FailureKind::Tls, e))?;
        Ok(Box::new(stream))
    }
}

/// Reads lines until one matches `re`; returns `send` with the match's groups expanded.
async fn expect<R: AsyncBufRead + Unpin>(
    r: &mut R,
    re: &regex::bytes::Regex,
    send: Option<&str>,
) -> Result<Option<String>, Failure> {
    let mut last = Vec::new();
    loop {
        let Some(line) = read_line(r).await? else {
            return Err(Failure::new(
                FailureKind::Expect,
                format!(
                    "no line matched {:?} before the peer closed (last line {:?})",
                    re.as_str(),
                    String::from_utf8_lossy(&last)
                ),
            ));
        };
        if let Some(caps) = re.captures(&line) {
            return Ok(send.map(|s| {
                let mut out = Vec::new();
                caps.expand(s.as_bytes(), &mut out);
                String::from_utf8_lossy(&out).into_owned()
            }));
        }
        last = line;
    }
}

/// One line without its `\n` (and a `\r` before it); `None` at the end of the stream.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<Option<Vec<u8>>, Failure> {
    let mut line = Vec::new();
    loop {
        let buf = r
            .fill_buf()
            .await
            .map_err(|e| Failure::new(FailureKind::Connect, format!("reading: {e}")))?;
        if buf.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (take, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..take]);
        r.consume(take);
        if line.len() > MAX_LINE + 1 {
            return Err(Failure::new(
                FailureKind::Protocol,
                format!("a line longer than {MAX_LINE} bytes"),
            ));
        }
        if done {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_bounded_and_expanded() {
        let mut r = BufReader::new(&b"220 mail ESMTP\r\nlast"[..]);
        assert_eq!(read_line(&mut r).await.unwrap().unwrap(), b"220 mail ESMTP");
        assert_eq!(read_line(&mut r).await.unwrap().unwrap(), b"last");
        assert_eq!(read_line(&mut r).await.unwrap(), None);

        let long = vec![b'a'; MAX_LINE + 10];
        let mut r = BufReader::new(&long[..]);
        assert_eq!(
            read_line(&mut r).await.unwrap_err().kind,
            FailureKind::Protocol
        );

        let re = regex::bytes::Regex::new("^SSH-2.0-(?P<v>.+)$").unwrap();
        let mut r = BufReader::new(&b"hello\nSSH-2.0-OpenSSH_9.2\n"[..]);
        let s = expect(&mut r, &re, Some("got ${v}")).await.unwrap();
        assert_eq!(s.as_deref(), Some("got OpenSSH_9.2"));
        let mut r = BufReader::new(&b"hello\n"[..]);
        let f = expect(&mut r, &re, None).await.unwrap_err();
        assert_eq!(f.kind, FailureKind::Expect);
        assert!(f.message.contains("\"hello\""), "{f:?}");
    }
}
