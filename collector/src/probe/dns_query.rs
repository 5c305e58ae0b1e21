//! The `dns` probe (blackbox_exporter's `dns` prober): one query to a DNS server over UDP or
//! TCP, then checks of the response code and of each section's records against regexps.
//! Messages are encoded and decoded by hickory-proto.
//!
//! Bounds: a UDP response is at most 65535 bytes (one datagram); a TCP one at most 65535 (its
//! length prefix); datagrams from elsewhere or with another id are skipped; the run ends at its
//! deadline.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Instant;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use model::Labels;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::addr::Chosen;
use super::{run_until, Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::{host_port_or, DnsProbeConfig, DnsTransport, RrValidator};

/// Response codes by name (miekg/dns's names, which blackbox's `valid_rcodes` use).
const RCODES: &[(&str, u16)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADSIG", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

/// The numeric rcode of a name (`NXDOMAIN` → 3).
pub(crate) fn rcode_value(name: &str) -> Option<u16> {
    RCODES.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn rcode_name(v: u16) -> String {
    RCODES
        .iter()
        .find(|(_, c)| *c == v)
        .map_or_else(|| format!("RCODE{v}"), |(n, _)| (*n).to_string())
}

/// The query name as an absolute name.
pub(crate) fn parse_name(s: &str) -> Result<Name, String> {
    let mut n = Name::from_utf8(s).map_err(|e| format!("invalid name {s:?}: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// A record type by its name (`A`, `AAAA`, `MX`, `SOA`, `ANY`, ...).
pub(crate) fn parse_type(s: &str) -> Result<RecordType, String> {
    match RecordType::from_str(s) {
        Ok(RecordType::Unknown(_)) | Err(_) => Err(format!("unknown query type {s:?}")),
        Ok(t) => Ok(t),
    }
}

/// A class by its name (`IN`, `CH`, `HS`, `NONE`, `ANY`).
pub(crate) fn parse_class(s: &str) -> Result<DNSClass, String> {
    DNSClass::from_str(s).map_err(|_| format!("unknown query class {s:?} (IN, CH, HS, NONE, ANY)"))
}

/// A record in zone-file form with tabs between the header fields, as miekg/dns's
/// `RR.String()` writes it and blackbox's regexps see it: `www.example.\t3600\tIN\tA\t192.0.2.1`.
pub(crate) fn record_text(r: &Record) -> String {
    let data = match &r.data {
        RData::TXT(t) => t
            .txt_data
            .iter()
            .map(|s| quote_txt(s))
            .collect::<Vec<_>>()
            .join(" "),
        d => d.to_string(),
    };
    format!(
        "{}\t{}\t{}\t{}\t{data}",
        r.name,
        r.ttl,
        r.dns_class,
        r.record_type()
    )
}

/// A character-string as miekg/dns quotes it: `"..."` with `"` and `\` escaped and bytes
/// outside printable ASCII as `\DDD`.
fn quote_txt(s: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in s {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// Compiled regexps of one [`RrValidator`].
struct Validator {
    section: &'static str,
    matches: Vec<regex::Regex>,
    all_match: Vec<regex::Regex>,
    not_matches: Vec<regex::Regex>,
    none_matches: Vec<regex::Regex>,
}

fn compile(res: &[String]) -> Result<Vec<regex::Regex>, String> {
    res.iter()
        .map(|r| regex::Regex::new(r).map_err(|e| e.to_string()))
        .collect()
}

impl Validator {
    fn new(section: &'static str, v: &RrValidator) -> Result<Self, String> {
        Ok(Validator {
            section,
            matches: compile(&v.fail_if_matches_regexp)?,
            all_match: compile(&v.fail_if_all_match_regexp)?,
            not_matches: compile(&v.fail_if_not_matches_regexp)?,
            none_matches: compile(&v.fail_if_none_matches_regexp)?,
        })
    }

    /// blackbox's `validRRs`: why the records fail, if they do.
    fn check(&self, rrs: &[Record]) -> Result<(), String> {
        let s = format!("{} section", self.section);
        if rrs.is_empty() && !self.not_matches.is_empty() {
            return Err(format!(
                "{s}: no records, but fail_if_not_matches_regexp is set"
            ));
        }
        if rrs.is_empty() && !self.none_matches.is_empty() {
            return Err(format!(
                "{s}: no records, but fail_if_none_matches_regexp is set"
            ));
        }
        let texts: Vec<String> = rrs.iter().map(record_text).collect();
        for t in &texts {
            if let Some(re) = self.matches.iter().find(|re| re.is_match(t)) {
                return Err(format!("{s}: {t:?} matches {:?}", re.as_str()));
            }
            if let Some(re) = self.not_matches.iter().find(|re| !re.is_match(t)) {
                return Err(format!("{s}: {t:?} does not match {:?}", re.as_str()));
            }
        }
        for re in &self.all_match {
            if let Some(t) = texts.iter().find(|t| !re.is_match(t)) {
                return Err(format!("{s}: {t:?} does not match {:?}", re.as_str()));
            }
        }
        if !self.none_matches.is_empty()
            && !texts
                .iter()
                .any(|t| self.none_matches.iter().any(|re| re.is_match(t)))
        {
            return Err(format!(
                "{s}: no record matches any of {:?} (records: {texts:?})",
                self.none_matches
                    .iter()
                    .map(regex::Regex::as_str)
                    .collect::<Vec<_>>()
            ));
        }
        Ok(())
    }
}

/// A prepared `dns` probe.
pub(crate) struct DnsProbe {
    pub base: Labels,
    cfg: DnsProbeConfig,
    host: String,
    port: u16,
    name: Name,
    qtype: RecordType,
    qclass: DNSClass,
    rcodes: Vec<u16>,
    validators: [Validator; 3],
}

/// What a run learned.
#[derive(Default)]
struct Found {
    chosen: Option<Chosen>,
    connect: f64,
    request: f64,
    response: Option<Message>,
}

impl DnsProbe {
    pub(crate) fn new(mut base: Labels, cfg: &DnsProbeConfig) -> Result<Self, String> {
        let (host, port) = host_port_or(&cfg.target, 53)?;
        if base.get("instance").is_none() {
            base.set("instance", cfg.target.as_str());
        }
        let rcodes = if cfg.valid_rcodes.is_empty() {
            vec![0]
        } else {
            cfg.valid_rcodes
                .iter()
                .map(|r| rcode_value(r).ok_or_else(|| format!("unknown rcode {r:?}")))
                .collect::<Result<_, _>>()?
        };
        Ok(DnsProbe {
            base,
            host,
            port,
            name: parse_name(&cfg.query_name)?,
            qtype: parse_type(&cfg.query_type)?,
            qclass: parse_class(&cfg.query_class)?,
            rcodes,
            validators: [
                Validator::new("answer", &cfg.validate_answer_rrs)?,
                Validator::new("authority", &cfg.validate_authority_rrs)?,
                Validator::new("additional", &cfg.validate_additional_rrs)?,
            ],
            cfg: cfg.clone(),
        })
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut found = Found::default();
        let failure = run_until(deadline, started, self.exec(&mut found, deadline), |secs| {
            format!("no answer from {} within {:.3}s", self.cfg.target, secs)
        })
        .await;
        let mut b = SeriesBuf::new(&self.base);
        b.push_result(started, &failure);
        let resolve = found.chosen.as_ref().map_or(0.0, |c| c.lookup_seconds);
        if let Some(c) = &found.chosen {
            c.push(&mut b);
        }
        for (phase, v) in [
            ("resolve", resolve),
            ("connect", found.connect),
            ("request", found.request),
        ] {
            b.push("probe_dns_duration_seconds", &[("phase", phase)], v);
        }
        let counts = found.response.as_ref().map_or((0, 0, 0), |m| {
            (m.answers.len(), m.authorities.len(), m.additionals.len())
        });
        b.push("probe_dns_answer_rrs", &[], counts.0 as f64);
        b.push("probe_dns_authority_rrs", &[], counts.1 as f64);
        b.push("probe_dns_additional_rrs", &[], counts.2 as f64);
        b.push(
            "probe_dns_query_succeeded",
            &[],
            if found.response.is_some() { 1.0 } else { 0.0 },
        );
        if let (Some(m), RecordType::SOA) = (&found.response, self.qtype) {
            let serial = m
                .answers
                .iter()
                .rev()
                .find_map(|r| match &r.data {
                    RData::SOA(soa) => Some(f64::from(soa.serial)),
                    _ => None,
                })
                .unwrap_or(0.0);
            b.push("probe_dns_serial", &[], serial);
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
        let server = SocketAddr::new(chosen.ip?, self.port);
        let id: u16 = rand_id();
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = self.cfg.recursion_desired;
        let mut q = Query::query(self.name.clone(), self.qtype);
        q.set_query_class(self.qclass);
        msg.add_query(q);
        let wire = msg
            .to_vec()
            .map_err(|e| Failure::new(FailureKind::Local, format!("encoding the query: {e}")))?;
        let response = match self.cfg.transport_protocol {
            DnsTransport::Udp => udp_exchange(server, &wire, id, found).await?,
            DnsTransport::Tcp => tcp_exchange(server, &wire, id, found).await?,
        };
        let m = Message::from_vec(&response).map_err(|e| {
            Failure::new(
                FailureKind::Protocol,
                format!("undecodable response from {server}: {e}"),
            )
        })?;
        let rcode = u16::from(m.metadata.response_code);
        found.response = Some(m);
        let m = found.response.as_ref().expect("just set");
        if !self.rcodes.contains(&rcode) {
            return Err(Failure::new(
                FailureKind::Answer,
                format!(
                    "{} {} answered {} (valid: {})",
                    self.cfg.query_name,
                    self.cfg.query_type,
                    rcode_name(rcode),
                    self.rcodes
                        .iter()
                        .map(|c| rcode_name(*c))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (v, rrs) in self
            .validators
            .iter()
            .zip([&m.answers, &m.authorities, &m.additionals])
        {
            v.check(rrs)
                .map_err(|e| Failure::new(FailureKind::Answer, e))?;
        }
        Ok(())
    }
}

/// A query id: not predictable from outside (it is the only protection of a UDP exchange).
fn rand_id() -> u16 {
    let mut b = [0u8; 2];
    // The system's random source does not fail on Linux; were it to, a fixed id is still a
    // valid query.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    u16::from_be_bytes(b)
}

fn io_failure(what: &str, server: SocketAddr, e: &std::io::Error) -> Failure {
    let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
        FailureKind::Refused
    } else {
        FailureKind::Connect
    };
    Failure::new(kind, format!("{what} {server}: {e}"))
}

async fn udp_exchange(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    found: &mut Found,
) -> Result<Vec<u8>, Failure> {
    let connecting = Instant::now();
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("address")
    } else {
        "[::]:0".parse().expect("address")
    };
    let sock = tokio::net::UdpSocket::bind(bind)
        .await
        .map_err(|e| io_failure("binding a socket for", server, &e))?;
    sock.connect(server)
        .await
        .map_err(|e| io_failure("connecting to", server, &e))?;
    found.connect = connecting.elapsed().as_secs_f64();
    let asking = Instant::now();
    sock.send(wire)
        .await
        .map_err(|e| io_failure("sending to", server, &e))?;
    let mut buf = vec![0u8; 65535];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| io_failure("reading from", server, &e))?;
        // A connected UDP socket only receives from `server`; skip answers to other queries.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            found.request = asking.elapsed().as_secs_f64();
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn tcp_exchange(
    server: SocketAddr,
    wire: &[u8],
    id: u16,
    found: &mut Found,
) -> Result<Vec<u8>, Failure> {
    let connecting = Instant::now();
    let mut s = super::http::connect(server).await?;
    found.connect = connecting.elapsed().as_secs_f64();
    let asking = Instant::now();
    let len = u16::try_from(wire.len())
        .map_err(|_| Failure::new(FailureKind::Local, "query longer than 65535 bytes"))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(wire);
    s.write_all(&framed)
        .await
        .map_err(|e| io_failure("sending to", server, &e))?;
    loop {
        let n = s
            .read_u16()
            .await
            .map_err(|e| io_failure("reading from", server, &e))?;
        let mut buf = vec![0u8; usize::from(n)];
        s.read_exact(&mut buf)
            .await
            .map_err(|e| io_failure("reading from", server, &e))?;
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            found.request = asking.elapsed().as_secs_f64();
            return Ok(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, TXT};

    #[test]
    fn records_are_written_as_miekg_writes_them() {
        let name = parse_name("www.example.test").unwrap();
        let a = Record::from_rdata(name.clone(), 3600, RData::A(A::new(192, 0, 2, 1)));
        assert_eq!(record_text(&a), "www.example.test.\t3600\tIN\tA\t192.0.2.1");
        let t = Record::from_rdata(
            name,
            60,
            RData::TXT(TXT::new(vec!["say \"hi\"".into(), "b".into()])),
        );
        assert_eq!(
            record_text(&t),
            "www.example.test.\t60\tIN\tTXT\t\"say \\\"hi\\\"\" \"b\""
        );
    }

    #[test]
    fn names_types_classes_and_rcodes() {
        assert!(parse_type("AAAA").is_ok() && parse_type("ANY").is_ok());
        assert!(parse_type("AAAAA").is_err());
        assert!(parse_class("IN").is_ok() && parse_class("XX").is_err());
        assert_eq!(rcode_value("NXDOMAIN"), Some(3));
        assert_eq!(rcode_value("nxdomain"), None);
        assert_eq!(rcode_name(3), "NXDOMAIN");
        assert!(parse_name("a..b").is_err());
    }
}
