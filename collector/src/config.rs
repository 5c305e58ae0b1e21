//! Configuration of the collector: the `probes`, `scrape_configs` and `heartbeats` sections of
//! `alertd.yaml`, as serde types (unknown keys are errors), plus [`CollectorConfig::validate`]
//! which reports every semantic error at once.
//!
//! Credentials follow Prometheus's `http_config` names (`authorization`, `basic_auth`,
//! `tls_config`); every secret has a `_file` twin and is held in a [`Secret`] that prints as
//! `<secret>`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use model::secret::SecretSource;
use model::Duration;
use serde::{Deserialize, Serialize};

pub use model::Secret;

/// Default interval of probes and scrapes, and their default timeout (Prometheus's globals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// `global.scrape_interval` (15s): default `interval` of probes and scrapes.
    pub interval: Duration,
    /// `global.scrape_timeout` (10s): default timeout, capped at the interval.
    pub timeout: Duration,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The collector's part of the configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// Blackbox-style probes.
    #[serde(default)]
    pub probes: Vec<ProbeConfig>,
    /// Prometheus scrape jobs.
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Jobs that must check in.
    #[serde(default)]
    pub heartbeats: Vec<HeartbeatConfig>,
    /// Defaults from the `global` section; set by the daemon, not read from the collector's keys.
    #[serde(skip)]
    pub defaults: Defaults,
}

/// One probe: a name, exactly one kind (see [`PROBE_KINDS`]), its schedule and extra labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Unique name; becomes the `probe` label.
    pub name: String,
    /// HTTP(S) request probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpProbeConfig>,
    /// TLS handshake and certificate probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsProbeConfig>,
    /// Filesystem usage probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk: Option<DiskProbeConfig>,
    /// PostgreSQL replication probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<DbProbeConfig>,
    /// MySQL/MariaDB replication probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mysql: Option<DbProbeConfig>,
    /// TCP connect probe (blackbox's `tcp` prober), with optional TLS and dialogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpProbeConfig>,
    /// DNS query probe (blackbox's `dns` prober).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsProbeConfig>,
    /// ICMP echo probe (blackbox's `icmp` prober).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpProbeConfig>,
    /// gRPC health check probe (blackbox's `grpc` prober).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcProbeConfig>,
    /// Start-to-start interval (default `global.scrape_interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Timeout of one run (default `global.scrape_timeout`, capped at the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Labels added to every series of this probe.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The kind of a probe, borrowed from its config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProbeKind<'a> {
    /// `http:`
    Http(&'a HttpProbeConfig),
    /// `tls:`
    Tls(&'a TlsProbeConfig),
    /// `disk:`
    Disk(&'a DiskProbeConfig),
    /// `postgres:`
    Postgres(&'a DbProbeConfig),
    /// `mysql:`
    Mysql(&'a DbProbeConfig),
    /// `tcp:`
    Tcp(&'a TcpProbeConfig),
    /// `dns:`
    Dns(&'a DnsProbeConfig),
    /// `icmp:`
    Icmp(&'a IcmpProbeConfig),
    /// `grpc:`
    Grpc(&'a GrpcProbeConfig),
}

/// The kinds a probe may have, as listed in errors.
pub const PROBE_KINDS: &str = "http, tls, disk, postgres, mysql, tcp, dns, icmp, grpc";

impl ProbeConfig {
    /// The probe's kind, or `None` unless exactly one kind is set (refused by `validate`).
    pub fn kind(&self) -> Option<ProbeKind<'_>> {
        let mut kinds = Vec::new();
        if let Some(h) = &self.http {
            kinds.push(ProbeKind::Http(h));
        }
        if let Some(t) = &self.tls {
            kinds.push(ProbeKind::Tls(t));
        }
        if let Some(d) = &self.disk {
            kinds.push(ProbeKind::Disk(d));
        }
        if let Some(p) = &self.postgres {
            kinds.push(ProbeKind::Postgres(p));
        }
        if let Some(m) = &self.mysql {
            kinds.push(ProbeKind::Mysql(m));
        }
        if let Some(t) = &self.tcp {
            kinds.push(ProbeKind::Tcp(t));
        }
        if let Some(d) = &self.dns {
            kinds.push(ProbeKind::Dns(d));
        }
        if let Some(i) = &self.icmp {
            kinds.push(ProbeKind::Icmp(i));
        }
        if let Some(g) = &self.grpc {
            kinds.push(ProbeKind::Grpc(g));
        }
        if kinds.len() == 1 {
            kinds.pop()
        } else {
            None
        }
    }

    /// The effective interval.
    pub fn interval(&self, d: &Defaults) -> Duration {
        self.interval.unwrap_or(d.interval)
    }

    /// The effective timeout: as configured, else the default capped at the interval.
    pub fn timeout(&self, d: &Defaults) -> Duration {
        self.timeout.unwrap_or(d.timeout.min(self.interval(d)))
    }
}

/// IP protocol preference for name resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpProtocol {
    /// Prefer IPv4 addresses.
    #[default]
    Ip4,
    /// Prefer IPv6 addresses.
    Ip6,
}

/// `http:` probe settings (blackbox_exporter's `http` prober names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbeConfig {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Request method (default GET).
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Accepted status codes; empty means any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valid_status_codes: Vec<u16>,
    /// The probe fails if the body matches any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_body_matches_regexp: Vec<String>,
    /// The probe fails unless the body matches all of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_body_not_matches_regexp: Vec<String>,
    /// Fail if the final response came over TLS.
    #[serde(default)]
    pub fail_if_ssl: bool,
    /// Fail unless the final response came over TLS.
    #[serde(default)]
    pub fail_if_not_ssl: bool,
    /// Follow redirects (default true).
    #[serde(default = "default_true")]
    pub follow_redirects: bool,
    /// Redirects followed at most (default 10); one more fails the probe.
    #[serde(default = "default_max_redirects")]
    pub max_redirects: u32,
    /// Preferred address family (default ip4).
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Fall back to the other family when the preferred one has no address (default true).
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Body bytes read at most (default 10 MiB); a longer body fails the probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<ByteSize>,
    /// TLS options for `https://`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// `Authorization` header credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
}

fn default_method() -> String {
    "GET".to_string()
}
fn default_true() -> bool {
    true
}
fn default_max_redirects() -> u32 {
    10
}

/// Prometheus's `tls_config`, `authorization` and `basic_auth` (one definition in `model`).
pub use model::http::{Authorization, BasicAuth, TlsConfig};

/// STARTTLS protocols of the `tls` probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Starttls {
    /// SMTP `EHLO` / `STARTTLS`.
    Smtp,
}

/// `tls:` probe settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsProbeConfig {
    /// `host:port` to connect to.
    pub target: String,
    /// Trust and client-certificate options; `server_name` defaults to the target's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Shortcut for `tls_config.server_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Upgrade a plain-text connection first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starttls: Option<Starttls>,
}

/// `tcp:` probe settings (blackbox_exporter's `tcp` prober names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpProbeConfig {
    /// `host:port` to connect to.
    pub target: String,
    /// Preferred address family (default ip4).
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Fall back to the other family when the preferred one has no address (default true).
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Speak TLS from the start.
    #[serde(default)]
    pub tls: bool,
    /// Trust and client-certificate options of `tls` and of a `starttls` step;
    /// `server_name` defaults to the target's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// The dialogue, step by step: wait for a line matching `expect`, `send` a line, upgrade
    /// with `starttls`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_response: Vec<QueryResponse>,
}

/// One step of a `tcp` probe's dialogue (blackbox's `query_response` entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryResponse {
    /// Read lines until one matches this regexp; no match before the peer closes (or the
    /// timeout) fails the probe. `send` may use its groups (`${1}`, `$name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// A line to send (`\n` is appended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
    /// Upgrade the connection to TLS after this step.
    #[serde(default)]
    pub starttls: bool,
}

/// Longest `service` name of a `grpc` probe.
pub const MAX_GRPC_SERVICE: usize = 1024;

/// `grpc:` probe settings (blackbox_exporter's `grpc` prober names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcProbeConfig {
    /// `host:port` of the server (`host` alone: port 80, or 443 with `tls`).
    pub target: String,
    /// The service asked about (default `""`: the server as a whole).
    #[serde(default)]
    pub service: String,
    /// Speak TLS (HTTP/2 negotiated by ALPN).
    #[serde(default)]
    pub tls: bool,
    /// Trust and client-certificate options of `tls`; `server_name` defaults to the target's
    /// host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// Preferred address family (default ip4).
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Fall back to the other family (default true).
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
}

/// Largest `payload_size` of an `icmp` probe.
pub const MAX_ICMP_PAYLOAD: u16 = 65_000;

/// `icmp:` probe settings (blackbox_exporter's `icmp` prober names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IcmpProbeConfig {
    /// The host name or address to ping.
    pub target: String,
    /// Preferred address family (default ip4).
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Fall back to the other family (default true).
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
    /// Bytes of echo data (default: the 28 bytes `Prometheus Blackbox Exporter`; at most
    /// 65000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_size: Option<u16>,
    /// TTL (hop limit) of the request (default 64).
    #[serde(default = "default_ttl")]
    pub ttl: u8,
}

fn default_ttl() -> u8 {
    64
}

/// Transport of a `dns` probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsTransport {
    /// One datagram each way.
    #[default]
    Udp,
    /// A TCP connection, messages with a 2-byte length prefix.
    Tcp,
}

/// `dns:` probe settings (blackbox_exporter's `dns` prober names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsProbeConfig {
    /// The DNS server: `host:port`, or `host` for port 53.
    pub target: String,
    /// The name asked for.
    pub query_name: String,
    /// The record type asked for (default `ANY`).
    #[serde(default = "default_query_type")]
    pub query_type: String,
    /// The class asked for (default `IN`).
    #[serde(default = "default_query_class")]
    pub query_class: String,
    /// `udp` (default) or `tcp`.
    #[serde(default)]
    pub transport_protocol: DnsTransport,
    /// Set the RD flag (default true).
    #[serde(default = "default_true")]
    pub recursion_desired: bool,
    /// Accepted response codes (`NOERROR`, `NXDOMAIN`, ...); empty means `NOERROR` only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub valid_rcodes: Vec<String>,
    /// Checks of the answer section's records.
    #[serde(default, skip_serializing_if = "RrValidator::is_empty")]
    pub validate_answer_rrs: RrValidator,
    /// Checks of the authority section's records.
    #[serde(default, skip_serializing_if = "RrValidator::is_empty")]
    pub validate_authority_rrs: RrValidator,
    /// Checks of the additional section's records.
    #[serde(default, skip_serializing_if = "RrValidator::is_empty")]
    pub validate_additional_rrs: RrValidator,
    /// Preferred address family of the server's name (default ip4).
    #[serde(default)]
    pub preferred_ip_protocol: IpProtocol,
    /// Fall back to the other family (default true).
    #[serde(default = "default_true")]
    pub ip_protocol_fallback: bool,
}

fn default_query_type() -> String {
    "ANY".to_string()
}
fn default_query_class() -> String {
    "IN".to_string()
}

/// Regexp checks of one section's records, each record written in zone-file form with tabs
/// (`www.example.\t3600\tIN\tA\t192.0.2.1`), as blackbox matches them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrValidator {
    /// Fail if any record matches any of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_matches_regexp: Vec<String>,
    /// Fail unless every record matches every one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_all_match_regexp: Vec<String>,
    /// Fail if a record does not match one of these (or there is no record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_not_matches_regexp: Vec<String>,
    /// Fail unless some record matches one of these (or there is no record).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fail_if_none_matches_regexp: Vec<String>,
}

impl RrValidator {
    /// No check configured.
    pub fn is_empty(&self) -> bool {
        self.fail_if_matches_regexp.is_empty()
            && self.fail_if_all_match_regexp.is_empty()
            && self.fail_if_not_matches_regexp.is_empty()
            && self.fail_if_none_matches_regexp.is_empty()
    }
}

/// `disk:` probe settings: one path, or every real mount when `path` is absent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskProbeConfig {
    /// A path; reported for the mount that contains it. Absent: every real mount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// `postgres:` and `mysql:` probe settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbProbeConfig {
    /// The DSN inline (prefer `dsn_file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn: Option<Secret>,
    /// A file holding the DSN (trailing newline trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsn_file: Option<PathBuf>,
}

/// A size in bytes: an integer or a string with a unit (`512KiB`, `10MB`, `1GiB`, `100B`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("not a byte size: {s:?} (expected e.g. 10MB, 512KiB)"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "KB" | "kB" => 1_000,
            "KiB" => 1 << 10,
            "MB" => 1_000_000,
            "MiB" => 1 << 20,
            "GB" => 1_000_000_000,
            "GiB" => 1 << 30,
            other => return Err(format!("unknown byte size unit {other:?} in {s:?}")),
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("byte size out of range: {s:?}"))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size in bytes such as 1048576 or \"10MB\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("byte size must not be negative"))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// URL scheme of a scrape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTP over TLS.
    Https,
}

/// One Prometheus `scrape_configs` entry (relabelling is not supported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    /// The `job` label.
    pub job_name: String,
    /// Start-to-start interval (default `global.scrape_interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_interval: Option<Duration>,
    /// Timeout (default `global.scrape_timeout`, capped at the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_timeout: Option<Duration>,
    /// Path of the metrics endpoint (default `/metrics`).
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    /// `http` or `https`.
    #[serde(default)]
    pub scheme: Scheme,
    /// URL query parameters.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the target's `job`/`instance` labels on conflict instead of renaming them
    /// `exported_*`.
    #[serde(default)]
    pub honor_labels: bool,
    /// Largest body accepted (default 10 MiB); a larger one fails the scrape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_size_limit: Option<ByteSize>,
    /// Most samples accepted per scrape (0 = no limit); more fails the scrape.
    #[serde(default)]
    pub sample_limit: u64,
    /// Targets and their labels.
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    /// TLS options for `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    /// `Authorization` header credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// HTTP basic authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

impl ScrapeConfig {
    /// The effective interval.
    pub fn interval(&self, d: &Defaults) -> Duration {
        self.scrape_interval.unwrap_or(d.interval)
    }
    /// The effective timeout.
    pub fn timeout(&self, d: &Defaults) -> Duration {
        self.scrape_timeout
            .unwrap_or(d.timeout.min(self.interval(d)))
    }
}

/// A `static_configs` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` targets.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels added to every series of these targets.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// One heartbeat (a job that must check in): `period` or cron `schedule`, and `grace`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// Unique name; the `heartbeat` label and the ping URL `/ping/<name>`.
    pub name: String,
    /// Expected at least every `period`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Duration>,
    /// Expected at the times of this cron expression (5 fields, or 6 with seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// IANA time zone of `schedule` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Allowed lateness, and the longest a started run may take (default 1h).
    #[serde(default = "default_grace")]
    pub grace: Duration,
    /// Labels added to every `heartbeat_*` series.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// An alternative URL segment for pings (`/ping/<token>`), kept secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// A file holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
}

fn default_grace() -> Duration {
    Duration::from_secs(3600)
}

/// One semantic configuration error, located by its path in the file (`probes[2].http.url`);
/// the loader finds its position.
pub use model::config::PathError as ConfigError;

/// Reads a secret from a `_file` (`model::secret::read_file`: one trailing line break removed).
pub(crate) fn read_secret_file(path: &Path) -> Result<String, String> {
    model::secret::read_file(path)
        .map(|s| s.expose().to_string())
        .map_err(|e| format!("cannot read {}: {}", path.display(), e.source))
}

/// The value of an `http_config` secret (inline or its `_file`; unset: empty).
pub(crate) fn resolve_source(source: Option<&SecretSource>) -> Result<String, String> {
    match source {
        None => Ok(String::new()),
        Some(s) => s
            .resolve()
            .map(|s| s.expose().to_string())
            .map_err(|e| format!("cannot read {}: {}", e.path.display(), e.source)),
    }
}

/// Resolves an inline-or-file secret.
pub(crate) fn resolve_secret(
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Result<Option<String>, String> {
    match (inline, file) {
        (Some(s), None) => Ok(Some(s.expose().to_string())),
        (None, Some(f)) => read_secret_file(f).map(Some),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err("both the value and its _file are set".to_string()),
    }
}

struct Errs(Vec<ConfigError>);

impl Errs {
    fn push(&mut self, path: impl Into<model::config::ConfigPath>, message: impl Into<String>) {
        self.0.push(ConfigError::new(path, message));
    }
}

fn check_labels(errs: &mut Errs, at: &str, labels: &BTreeMap<String, String>) {
    for name in labels.keys() {
        if !model::labels::is_valid_label_name(name) {
            errs.push(
                format!("{at}.labels"),
                format!("invalid label name {name:?}: expected [a-zA-Z_][a-zA-Z0-9_]*"),
            );
        }
    }
}

fn check_file(errs: &mut Errs, at: String, path: &Path) {
    if let Err(e) = std::fs::metadata(path) {
        errs.push(at, format!("cannot read {}: {e}", path.display()));
    }
}

fn check_tls(errs: &mut Errs, at: &str, tls: &TlsConfig) {
    if let Some(f) = &tls.ca_file {
        check_file(errs, format!("{at}.ca_file"), f);
    }
    match (&tls.cert_file, &tls.key_file) {
        (Some(c), Some(k)) => {
            check_file(errs, format!("{at}.cert_file"), c);
            check_file(errs, format!("{at}.key_file"), k);
        }
        (None, None) => {}
        _ => errs.push(at, "cert_file and key_file must be set together"),
    }
}

fn check_auth(
    errs: &mut Errs,
    at: &str,
    authorization: Option<&Authorization>,
    basic: Option<&BasicAuth>,
) {
    if authorization.is_some() && basic.is_some() {
        errs.push(at, "at most one of authorization and basic_auth may be set");
    }
    if let Some(a) = authorization {
        if a.kind.is_empty() || a.kind.contains(char::is_whitespace) {
            errs.push(
                format!("{at}.authorization.type"),
                "must be one word, e.g. Bearer",
            );
        }
        match &a.credentials {
            None => errs.push(
                format!("{at}.authorization"),
                "one of credentials or credentials_file is required",
            ),
            Some(SecretSource::File(f)) => {
                check_file(errs, format!("{at}.authorization.credentials_file"), f)
            }
            Some(SecretSource::Inline(_)) => {}
        }
    }
    if let Some(b) = basic {
        if b.username.is_empty() {
            errs.push(format!("{at}.basic_auth"), "username is required");
        }
        if let Some(SecretSource::File(f)) = &b.password {
            check_file(errs, format!("{at}.basic_auth.password_file"), f);
        }
    }
}

/// Splits `host:port` (`[v6]:port` allowed), refusing a missing or bad port.
pub(crate) fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest
            .split_once("]:")
            .ok_or_else(|| format!("{s:?} is not host:port"))?;
        (h.to_string(), p)
    } else {
        let (h, p) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not host:port (port missing)"))?;
        if h.contains(':') {
            return Err(format!("{s:?}: write IPv6 addresses as [addr]:port"));
        }
        (h.to_string(), p)
    };
    if host.is_empty() {
        return Err(format!("{s:?}: host is empty"));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{s:?}: port {port:?} is not a number 0-65535"))?;
    Ok((host, port))
}

fn check_interval(errs: &mut Errs, at: &str, interval: Duration, timeout: Duration) {
    if interval == Duration::ZERO {
        errs.push(format!("{at}.interval"), "must be greater than 0s");
    }
    if timeout == Duration::ZERO {
        errs.push(format!("{at}.timeout"), "must be greater than 0s");
    }
    if timeout > interval {
        errs.push(
            format!("{at}.timeout"),
            format!("timeout {timeout} is longer than the interval {interval}"),
        );
    }
}

fn check_regexes(errs: &mut Errs, at: &str, field: &str, res: &[String]) {
    for (i, r) in res.iter().enumerate() {
        if let Err(e) = regex::Regex::new(r) {
            errs.push(
                format!("{at}.{field}[{i}]"),
                format!("invalid regexp {r:?}: {}", model::matcher::regex_error(&e)),
            );
        }
    }
}

fn check_db(errs: &mut Errs, at: &str, db: &DbProbeConfig) {
    match (&db.dsn, &db.dsn_file) {
        (Some(_), Some(_)) => errs.push(at, "dsn and dsn_file are mutually exclusive"),
        (None, None) => errs.push(at, "one of dsn or dsn_file is required"),
        (None, Some(f)) => check_file(errs, format!("{at}.dsn_file"), f),
        _ => {}
    }
}

fn check_http(errs: &mut Errs, at: &str, h: &HttpProbeConfig) {
    match h.url.parse::<hyper::Uri>() {
        Ok(u) => {
            if !matches!(u.scheme_str(), Some("http" | "https")) {
                errs.push(format!("{at}.url"), "scheme must be http or https");
            }
            if u.host().is_none_or(str::is_empty) {
                errs.push(format!("{at}.url"), "URL has no host");
            }
        }
        Err(e) => errs.push(format!("{at}.url"), format!("invalid URL {:?}: {e}", h.url)),
    }
    if hyper::Method::from_bytes(h.method.as_bytes()).is_err() {
        errs.push(
            format!("{at}.method"),
            format!("invalid method {:?}", h.method),
        );
    }
    for name in h.headers.keys() {
        if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            errs.push(
                format!("{at}.headers"),
                format!("invalid header name {name:?}"),
            );
        }
    }
    for (name, value) in &h.headers {
        if hyper::header::HeaderValue::from_str(value).is_err() {
            errs.push(format!("{at}.headers.{name}"), "invalid header value");
        }
    }
    for c in &h.valid_status_codes {
        if !(100..=599).contains(c) {
            errs.push(
                format!("{at}.valid_status_codes"),
                format!("{c} is not an HTTP status code (100-599)"),
            );
        }
    }
    if h.fail_if_ssl && h.fail_if_not_ssl {
        errs.push(at, "fail_if_ssl and fail_if_not_ssl contradict each other");
    }
    check_regexes(
        errs,
        at,
        "fail_if_body_matches_regexp",
        &h.fail_if_body_matches_regexp,
    );
    check_regexes(
        errs,
        at,
        "fail_if_body_not_matches_regexp",
        &h.fail_if_body_not_matches_regexp,
    );
    if let Some(t) = &h.tls_config {
        check_tls(errs, &format!("{at}.tls_config"), t);
    }
    check_auth(errs, at, h.authorization.as_ref(), h.basic_auth.as_ref());
}

fn check_tcp(errs: &mut Errs, at: &str, t: &TcpProbeConfig) {
    if let Err(e) = split_host_port(&t.target) {
        errs.push(format!("{at}.target"), e);
    }
    if let Some(c) = &t.tls_config {
        check_tls(errs, &format!("{at}.tls_config"), c);
    }
    for (i, q) in t.query_response.iter().enumerate() {
        let at = format!("{at}.query_response[{i}]");
        if let Some(e) = &q.expect {
            if let Err(err) = regex::Regex::new(e) {
                errs.push(
                    format!("{at}.expect"),
                    format!(
                        "invalid regexp {e:?}: {}",
                        model::matcher::regex_error(&err)
                    ),
                );
            }
        }
        if q.send.as_deref().is_some_and(|s| s.contains(['\n', '\r'])) {
            errs.push(
                format!("{at}.send"),
                "one line: must not contain a line break",
            );
        }
        if q.starttls && (t.tls || t.query_response[..i].iter().any(|p| p.starttls)) {
            errs.push(format!("{at}.starttls"), "the connection is already TLS");
        }
        if q.expect.is_none() && q.send.is_none() && !q.starttls {
            errs.push(at, "a step needs expect, send or starttls");
        }
    }
}

/// `host:port`, or a host (or address) alone with `default_port`.
pub(crate) fn host_port_or(s: &str, default_port: u16) -> Result<(String, u16), String> {
    match split_host_port(s) {
        Ok(hp) => Ok(hp),
        Err(e) => {
            let bare = s.trim_start_matches('[').trim_end_matches(']');
            if !bare.is_empty() && (bare.parse::<std::net::IpAddr>().is_ok() || !s.contains(':')) {
                Ok((bare.to_string(), default_port))
            } else {
                Err(e)
            }
        }
    }
}

fn check_dns(errs: &mut Errs, at: &str, d: &DnsProbeConfig) {
    if let Err(e) = host_port_or(&d.target, 53) {
        errs.push(format!("{at}.target"), e);
    }
    if d.query_name.is_empty() {
        errs.push(format!("{at}.query_name"), "must not be empty");
    } else if let Err(e) = crate::probe::dns_query::parse_name(&d.query_name) {
        errs.push(format!("{at}.query_name"), e);
    }
    if let Err(e) = crate::probe::dns_query::parse_type(&d.query_type) {
        errs.push(format!("{at}.query_type"), e);
    }
    if let Err(e) = crate::probe::dns_query::parse_class(&d.query_class) {
        errs.push(format!("{at}.query_class"), e);
    }
    for (i, r) in d.valid_rcodes.iter().enumerate() {
        if crate::probe::dns_query::rcode_value(r).is_none() {
            errs.push(
                format!("{at}.valid_rcodes[{i}]"),
                format!("unknown rcode {r:?} (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)"),
            );
        }
    }
    for (field, v) in [
        ("validate_answer_rrs", &d.validate_answer_rrs),
        ("validate_authority_rrs", &d.validate_authority_rrs),
        ("validate_additional_rrs", &d.validate_additional_rrs),
    ] {
        let at = format!("{at}.{field}");
        check_regexes(
            errs,
            &at,
            "fail_if_matches_regexp",
            &v.fail_if_matches_regexp,
        );
        check_regexes(
            errs,
            &at,
            "fail_if_all_match_regexp",
            &v.fail_if_all_match_regexp,
        );
        check_regexes(
            errs,
            &at,
            "fail_if_not_matches_regexp",
            &v.fail_if_not_matches_regexp,
        );
        check_regexes(
            errs,
            &at,
            "fail_if_none_matches_regexp",
            &v.fail_if_none_matches_regexp,
        );
    }
}

impl CollectorConfig {
    /// Every semantic error of the three sections (empty `Vec` inside `Err` never happens).
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errs = Errs(Vec::new());
        let d = &self.defaults;
        let mut names = HashSet::new();
        for (i, p) in self.probes.iter().enumerate() {
            let at = format!("probes[{i}]");
            if p.name.is_empty() {
                errs.push(format!("{at}.name"), "must not be empty");
            } else if !names.insert(p.name.as_str()) {
                errs.push(
                    format!("{at}.name"),
                    format!("duplicate probe name {:?}", p.name),
                );
            }
            check_labels(&mut errs, &at, &p.labels);
            check_interval(&mut errs, &at, p.interval(d), p.timeout(d));
            match p.kind() {
                None => errs.push(
                    at.clone(),
                    format!("exactly one of {PROBE_KINDS} must be set"),
                ),
                Some(ProbeKind::Http(h)) => check_http(&mut errs, &format!("{at}.http"), h),
                Some(ProbeKind::Tls(t)) => {
                    let at = format!("{at}.tls");
                    if let Err(e) = split_host_port(&t.target) {
                        errs.push(format!("{at}.target"), e);
                    }
                    if let Some(c) = &t.tls_config {
                        check_tls(&mut errs, &format!("{at}.tls_config"), c);
                        if c.server_name.is_some() && t.server_name.is_some() {
                            errs.push(at, "server_name is set twice (here and in tls_config)");
                        }
                    }
                }
                Some(ProbeKind::Disk(disk)) => {
                    if let Some(path) = &disk.path {
                        if !path.is_absolute() {
                            errs.push(format!("{at}.disk.path"), "must be an absolute path");
                        }
                    }
                }
                Some(ProbeKind::Postgres(db)) => check_db(&mut errs, &format!("{at}.postgres"), db),
                Some(ProbeKind::Mysql(db)) => check_db(&mut errs, &format!("{at}.mysql"), db),
                Some(ProbeKind::Tcp(t)) => check_tcp(&mut errs, &format!("{at}.tcp"), t),
                Some(ProbeKind::Dns(q)) => check_dns(&mut errs, &format!("{at}.dns"), q),
                Some(ProbeKind::Grpc(g)) => {
                    let at = format!("{at}.grpc");
                    if let Err(e) = host_port_or(&g.target, 443) {
                        errs.push(format!("{at}.target"), e);
                    }
                    if g.service.len() > MAX_GRPC_SERVICE {
                        errs.push(
                            format!("{at}.service"),
                            format!("longer than {MAX_GRPC_SERVICE} bytes"),
                        );
                    }
                    if let Some(c) = &g.tls_config {
                        check_tls(&mut errs, &format!("{at}.tls_config"), c);
                        if !g.tls {
                            errs.push(format!("{at}.tls_config"), "set, but tls is false");
                        }
                    }
                }
                Some(ProbeKind::Icmp(c)) => {
                    let bare = c.target.trim_start_matches('[').trim_end_matches(']');
                    if bare.is_empty()
                        || (bare.contains(':') && bare.parse::<std::net::IpAddr>().is_err())
                    {
                        errs.push(
                            format!("{at}.icmp.target"),
                            format!("{:?} is not a host name or address (no port)", c.target),
                        );
                    }
                    if c.payload_size.is_some_and(|n| n > MAX_ICMP_PAYLOAD) {
                        errs.push(
                            format!("{at}.icmp.payload_size"),
                            format!("at most {MAX_ICMP_PAYLOAD} bytes"),
                        );
                    }
                    if c.ttl == 0 {
                        errs.push(format!("{at}.icmp.ttl"), "must be 1-255");
                    }
                }
            }
        }
        let mut jobs = HashSet::new();
        for (i, s) in self.scrape_configs.iter().enumerate() {
            let at = format!("scrape_configs[{i}]");
            if s.job_name.is_empty() {
                errs.push(format!("{at}.job_name"), "must not be empty");
            } else if !jobs.insert(s.job_name.as_str()) {
                errs.push(
                    format!("{at}.job_name"),
                    format!("duplicate job_name {:?}", s.job_name),
                );
            }
            let (iv, to) = (s.interval(d), s.timeout(d));
            if iv == Duration::ZERO {
                errs.push(format!("{at}.scrape_interval"), "must be greater than 0s");
            }
            if to == Duration::ZERO || to > iv {
                errs.push(
                    format!("{at}.scrape_timeout"),
                    format!("timeout {to} must be greater than 0s and at most the interval {iv}"),
                );
            }
            if !s.metrics_path.starts_with('/') {
                errs.push(format!("{at}.metrics_path"), "must start with /");
            }
            for (j, sc) in s.static_configs.iter().enumerate() {
                let at = format!("{at}.static_configs[{j}]");
                check_labels(&mut errs, &at, &sc.labels);
                for (k, t) in sc.targets.iter().enumerate() {
                    if let Err(e) = split_host_port(t) {
                        errs.push(format!("{at}.targets[{k}]"), e);
                    }
                }
            }
            if let Some(t) = &s.tls_config {
                check_tls(&mut errs, &format!("{at}.tls_config"), t);
            }
            check_auth(
                &mut errs,
                &at,
                s.authorization.as_ref(),
                s.basic_auth.as_ref(),
            );
        }
        let mut hb_names = HashSet::new();
        for (i, h) in self.heartbeats.iter().enumerate() {
            let at = format!("heartbeats[{i}]");
            if h.name.is_empty()
                || !h
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                errs.push(
                    format!("{at}.name"),
                    format!(
                        "{:?} must be non-empty and use only [A-Za-z0-9._-] (it is a URL segment)",
                        h.name
                    ),
                );
            } else if !hb_names.insert(h.name.as_str()) {
                errs.push(
                    format!("{at}.name"),
                    format!("duplicate heartbeat {:?}", h.name),
                );
            }
            check_labels(&mut errs, &at, &h.labels);
            if let Err(e) = crate::heartbeat::Schedule::from_config(h) {
                errs.push(at.clone(), e);
            }
            match (&h.token, &h.token_file) {
                (Some(_), Some(_)) => errs.push(at, "token and token_file are mutually exclusive"),
                (None, Some(f)) => check_file(&mut errs, format!("{at}.token_file"), f),
                _ => {}
            }
        }
        if errs.0.is_empty() {
            Ok(())
        } else {
            Err(errs.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(y: &str) -> CollectorConfig {
        serde_saphyr::from_str(y).expect("parses")
    }

    const EXAMPLE: &str = r#"
probes:
  - name: website
    http: { url: "https://example.com/health", method: GET, valid_status_codes: [200, 301, 302],
            fail_if_body_not_matches_regexp: ["ok"], follow_redirects: true,
            authorization: { credentials: "tok" } }
    interval: 30s
    timeout: 10s
    labels: { tier: "1" }
  - name: example-cert
    tls: { target: "example.com:443", server_name: example.com }
    interval: 1h
  - name: root-disk
    disk: { path: "/" }
    interval: 30s
  - name: main-replica
    postgres: { dsn: "postgres://u:pw@localhost/db" }
    interval: 15s
  - name: shop-replica
    mysql: { dsn: "mysql://root@127.0.0.1:3306/" }
scrape_configs:
  - job_name: node
    static_configs: [{ targets: ["127.0.0.1:9100"] }]
    scrape_interval: 15s
    body_size_limit: 10MB
heartbeats:
  - name: nightly-backup
    schedule: "0 2 * * *"
    timezone: Europe/Oslo
    grace: 30m
    labels: { severity: critical }
  - name: hourly
    period: 1h
"#;

    #[test]
    fn design_examples_parse_and_validate() {
        let c = parse(EXAMPLE);
        assert_eq!(c.probes.len(), 5);
        assert!(
            matches!(c.probes[0].kind(), Some(ProbeKind::Http(h)) if h.valid_status_codes == [200, 301, 302])
        );
        assert_eq!(c.probes[1].interval(&c.defaults), Duration::from_secs(3600));
        assert_eq!(c.probes[1].timeout(&c.defaults), Duration::from_secs(10));
        assert_eq!(c.probes[4].interval(&c.defaults), Duration::from_secs(15));
        assert_eq!(c.scrape_configs[0].metrics_path, "/metrics");
        assert_eq!(
            c.scrape_configs[0].body_size_limit,
            Some(ByteSize(10_000_000))
        );
        assert_eq!(c.heartbeats[0].grace, Duration::from_secs(1800));
        c.validate().expect("valid");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = serde_saphyr::from_str::<CollectorConfig>(
            "probes:\n  - name: a\n    http: { url: \"http://x/\", methd: GET }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("methd"), "{e}");
        assert!(serde_saphyr::from_str::<CollectorConfig>("probez: []\n").is_err());
    }

    #[test]
    fn secrets_never_print() {
        let c = parse(EXAMPLE);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("tok\""), "{dbg}");
        assert!(!dbg.contains("pw@"), "{dbg}");
        assert!(dbg.contains("<secret>"));
        let json = serde_saphyr::to_string(&c).unwrap();
        assert!(!json.contains("pw@") && json.contains("<secret>"), "{json}");
    }

    #[test]
    fn validate_reports_every_error() {
        let c = parse(
            r#"
probes:
  - name: a
    http: { url: "ftp://x/", fail_if_body_matches_regexp: ["("], valid_status_codes: [99] }
    interval: 10s
    timeout: 20s
  - name: a
    disk: {}
  - name: both
    disk: {}
    tls: { target: "x:1" }
  - name: t
    tls: { target: "nohostport" }
  - name: pg
    postgres: { dsn_file: /nonexistent/dsn }
scrape_configs:
  - job_name: j
    static_configs: [{ targets: ["a"] }]
  - job_name: j
    scrape_interval: 5s
    scrape_timeout: 6s
heartbeats:
  - name: h
  - name: h2
    schedule: "not cron"
    timezone: Mars/Base
  - name: h3
    period: 1h
    schedule: "* * * * *"
"#,
        );
        let errs = c.validate().unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let has = |p: &str| text.iter().any(|t| t.contains(p));
        assert!(has("probes[0].timeout: timeout 20s is longer"), "{text:#?}");
        assert!(has("probes[0].http.url: scheme"), "{text:#?}");
        assert!(
            has("fail_if_body_matches_regexp[0]: invalid regexp"),
            "{text:#?}"
        );
        assert!(has("valid_status_codes: 99"), "{text:#?}");
        assert!(has("probes[1].name: duplicate"), "{text:#?}");
        assert!(has("probes[2]: exactly one"), "{text:#?}");
        assert!(has("probes[3].tls.target"), "{text:#?}");
        assert!(has("probes[4].postgres.dsn_file: cannot read"), "{text:#?}");
        assert!(
            has("scrape_configs[0].static_configs[0].targets[0]"),
            "{text:#?}"
        );
        assert!(has("scrape_configs[1].job_name: duplicate"), "{text:#?}");
        assert!(has("scrape_configs[1].scrape_timeout"), "{text:#?}");
        assert!(has("heartbeats[0]: one of period or schedule"), "{text:#?}");
        assert!(has("heartbeats[1]: invalid cron"), "{text:#?}");
        assert!(has("heartbeats[2]: period and schedule"), "{text:#?}");
    }

    #[test]
    fn byte_sizes() {
        assert_eq!("512KiB".parse::<ByteSize>().unwrap(), ByteSize(512 * 1024));
        assert_eq!("100".parse::<ByteSize>().unwrap(), ByteSize(100));
        assert!("10XB".parse::<ByteSize>().is_err());
        assert!("".parse::<ByteSize>().is_err());
    }

    #[test]
    fn host_port_split() {
        assert_eq!(split_host_port("a:1").unwrap(), ("a".to_string(), 1));
        assert_eq!(
            split_host_port("[::1]:443").unwrap(),
            ("::1".to_string(), 443)
        );
        assert!(split_host_port("::1:443").is_err());
        assert!(split_host_port("a:99999").is_err());
    }
}
