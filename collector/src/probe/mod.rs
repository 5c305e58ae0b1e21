//! Probe kinds and what one run of a target yields: its series and, when it failed, why.

use std::sync::Arc;

use model::{Clock, Labels};

pub(crate) mod addr;
#[cfg(feature = "db-probes")]
pub(crate) mod db;
pub(crate) mod disk;
pub(crate) mod dns;
pub(crate) mod dns_query;
pub(crate) mod grpc;
pub(crate) mod http;
pub(crate) mod icmp;
pub(crate) mod tcp;
pub(crate) mod tls;
pub(crate) mod tlsutil;

/// Why a run failed, in one word: shown by the status page and in log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The run did not finish within its timeout.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// The connection was refused.
    Refused,
    /// Another connection error (unreachable, reset, ...).
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// An unexpected HTTP status code.
    Status,
    /// The body matched (or did not match) a configured regexp, or was too large.
    Body,
    /// The peer spoke something unexpected (bad HTTP, bad SMTP, bad exposition format).
    Protocol,
    /// Too many redirects.
    Redirects,
    /// The database answered with an error, or a query failed.
    Database,
    /// Replication is broken (a replication thread stopped, or lag unknown).
    Replication,
    /// A local error: unreadable secret file, failed `statvfs`, no ICMP socket, ...
    Local,
    /// A `tcp` dialogue's `expect` regexp matched no line before the peer closed.
    Expect,
    /// A DNS answer was refused: unexpected rcode, or the records failed a regexp check.
    Answer,
    /// A gRPC health check answered, but not `SERVING`.
    Unhealthy,
}

impl FailureKind {
    /// The one-word name (`timeout`, `dns`, `refused`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Timeout => "timeout",
            FailureKind::Dns => "dns",
            FailureKind::Refused => "refused",
            FailureKind::Connect => "connect",
            FailureKind::Tls => "tls",
            FailureKind::Status => "status",
            FailureKind::Body => "body",
            FailureKind::Protocol => "protocol",
            FailureKind::Redirects => "redirects",
            FailureKind::Database => "database",
            FailureKind::Replication => "replication",
            FailureKind::Local => "local",
            FailureKind::Expect => "expect",
            FailureKind::Answer => "answer",
            FailureKind::Unhealthy => "unhealthy",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed run: the kind and a message (never containing a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The kind.
    pub kind: FailureKind,
    /// What happened.
    pub message: String,
}

impl Failure {
    /// A failure.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

/// Runs a probe's steps until `deadline`: `None` when they succeed, their failure, or a timeout
/// whose message `timed_out` writes from the seconds since `started`.
pub(crate) async fn run_until(
    deadline: tokio::time::Instant,
    started: std::time::Instant,
    steps: impl std::future::Future<Output = Result<(), Failure>>,
    timed_out: impl FnOnce(f64) -> String,
) -> Option<Failure> {
    match tokio::time::timeout_at(deadline, steps).await {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(_) => Some(Failure::new(
            FailureKind::Timeout,
            timed_out(started.elapsed().as_secs_f64()),
        )),
    }
}

/// What one run produced: fully labelled series values, and the failure if any.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub series: Vec<(Labels, f64)>,
    /// Samples with their own timestamps (scraped with explicit timestamps): written as they
    /// are and not tracked for staleness, as in Prometheus.
    pub explicit: Vec<(Labels, model::Sample)>,
    pub failure: Option<Failure>,
}

/// Builds series that share a base label set.
#[derive(Debug, Clone)]
pub(crate) struct SeriesBuf<'a> {
    base: &'a Labels,
    pub out: Vec<(Labels, f64)>,
}

impl<'a> SeriesBuf<'a> {
    pub(crate) fn new(base: &'a Labels) -> Self {
        SeriesBuf {
            base,
            out: Vec::new(),
        }
    }
    /// Adds `name{base..., extra...} v`; extra labels override base labels.
    pub(crate) fn push(&mut self, name: &str, extra: &[(&str, &str)], v: f64) {
        let mut l = self.base.clone();
        for (k, val) in extra {
            l.set(*k, *val);
        }
        l.set("__name__", name);
        self.out.push((l, v));
    }
    /// Adds blackbox's `probe_success` (1 unless `failure`) and `probe_duration_seconds`
    /// (since `started`).
    pub(crate) fn push_result<F>(&mut self, started: std::time::Instant, failure: &Option<F>) {
        self.push(
            "probe_success",
            &[],
            if failure.is_none() { 1.0 } else { 0.0 },
        );
        self.push(
            "probe_duration_seconds",
            &[],
            started.elapsed().as_secs_f64(),
        );
    }
}

/// A spawned task that is aborted when this guard is dropped: a connection driver must not
/// outlive the run that started it (a run cut off by its timeout drops its future, and a
/// dropped `JoinHandle` alone would leave the task, and its connection, running).
pub(crate) struct AbortOnDrop<T>(pub tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Base labels of a probe: its configured labels plus `probe="<name>"`.
pub(crate) fn probe_labels(
    name: &str,
    extra: &std::collections::BTreeMap<String, String>,
) -> Labels {
    let mut l = Labels::from_pairs(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    l.set("probe", name);
    l
}

/// One schedulable unit of work.
pub(crate) enum Task {
    Http(http::HttpProbe),
    Tls(tls::TlsProbe),
    Disk(disk::DiskProbe),
    #[cfg(feature = "db-probes")]
    Postgres(db::PgProbe),
    #[cfg(feature = "db-probes")]
    Mysql(db::MysqlProbe),
    Tcp(tcp::TcpProbe),
    Dns(Box<dns_query::DnsProbe>),
    Icmp(icmp::IcmpProbe),
    Grpc(grpc::GrpcProbe),
    Scrape(crate::scrape::ScrapeTarget),
    /// A scripted task for scheduler tests.
    #[cfg(test)]
    Test(TestTask),
}

/// A scripted task: records start instants and sleeps as told.
#[cfg(test)]
pub(crate) struct TestTask {
    pub base: Labels,
    pub starts: Arc<std::sync::Mutex<Vec<tokio::time::Instant>>>,
    pub sleep: std::time::Duration,
}

impl Task {
    pub(crate) fn kind_name(&self) -> &'static str {
        match self {
            Task::Http(_) => "http",
            Task::Tls(_) => "tls",
            Task::Disk(_) => "disk",
            #[cfg(feature = "db-probes")]
            Task::Postgres(_) => "postgres",
            #[cfg(feature = "db-probes")]
            Task::Mysql(_) => "mysql",
            Task::Tcp(_) => "tcp",
            Task::Dns(_) => "dns",
            Task::Icmp(_) => "icmp",
            Task::Grpc(_) => "grpc",
            Task::Scrape(_) => "scrape",
            #[cfg(test)]
            Task::Test(_) => "test",
        }
    }

    /// One run; finishes by `deadline` where the kind can (the scheduler enforces it anyway).
    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        match self {
            Task::Http(p) => p.run(deadline).await,
            Task::Tls(p) => p.run(deadline).await,
            Task::Disk(p) => p.run().await,
            #[cfg(feature = "db-probes")]
            Task::Postgres(p) => p.run(deadline).await,
            #[cfg(feature = "db-probes")]
            Task::Mysql(p) => p.run(deadline).await,
            Task::Tcp(p) => p.run(deadline).await,
            Task::Dns(p) => p.run(deadline).await,
            Task::Icmp(p) => p.run(deadline).await,
            Task::Grpc(p) => p.run(deadline).await,
            Task::Scrape(s) => s.run(deadline).await,
            #[cfg(test)]
            Task::Test(t) => {
                t.starts
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(tokio::time::Instant::now());
                tokio::time::sleep(t.sleep).await;
                let mut b = SeriesBuf::new(&t.base);
                b.push("probe_success", &[], 1.0);
                Outcome {
                    explicit: Vec::new(),
                    series: b.out,
                    failure: None,
                }
            }
        }
    }

    /// The series of a run that was cut off by the scheduler's timeout.
    pub(crate) fn failed(&self, elapsed: f64, failure: Failure) -> Outcome {
        let (base, extra): (&Labels, &[(&str, f64)]) = match self {
            Task::Http(p) => (&p.base, &[]),
            Task::Tls(p) => (&p.base, &[]),
            Task::Disk(p) => (&p.base, &[]),
            #[cfg(feature = "db-probes")]
            Task::Postgres(p) => (&p.base, &[("pg_up", 0.0)]),
            #[cfg(feature = "db-probes")]
            Task::Mysql(p) => (&p.base, &[("mysql_up", 0.0)]),
            Task::Tcp(p) => (&p.base, &[]),
            Task::Dns(p) => (&p.base, &[]),
            Task::Icmp(p) => (&p.base, &[]),
            Task::Grpc(p) => (&p.base, &[]),
            Task::Scrape(s) => return s.failed(elapsed, failure),
            #[cfg(test)]
            Task::Test(t) => (&t.base, &[]),
        };
        let mut b = SeriesBuf::new(base);
        b.push("probe_success", &[], 0.0);
        b.push("probe_duration_seconds", &[], elapsed);
        for (n, v) in extra {
            b.push(n, &[], *v);
        }
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure: Some(failure),
        }
    }
}

/// Builds the task of a probe config (already validated).
pub(crate) fn build_probe(
    p: &crate::config::ProbeConfig,
    clock: Arc<dyn Clock>,
) -> Result<Task, String> {
    use crate::config::ProbeKind;
    let base = probe_labels(&p.name, &p.labels);
    match p.kind() {
        Some(ProbeKind::Http(h)) => http::HttpProbe::new(base, h, clock).map(Task::Http),
        Some(ProbeKind::Tls(t)) => tls::TlsProbe::new(base, t, clock).map(Task::Tls),
        Some(ProbeKind::Disk(d)) => Ok(Task::Disk(disk::DiskProbe::new(base, d))),
        #[cfg(feature = "db-probes")]
        Some(ProbeKind::Postgres(d)) => Ok(Task::Postgres(db::PgProbe::new(base, d))),
        #[cfg(feature = "db-probes")]
        Some(ProbeKind::Mysql(d)) => Ok(Task::Mysql(db::MysqlProbe::new(base, d))),
        Some(ProbeKind::Tcp(t)) => tcp::TcpProbe::new(base, t, clock).map(Task::Tcp),
        Some(ProbeKind::Dns(d)) => {
            dns_query::DnsProbe::new(base, d).map(|p| Task::Dns(Box::new(p)))
        }
        Some(ProbeKind::Icmp(i)) => Ok(Task::Icmp(icmp::IcmpProbe::new(base, i))),
        Some(ProbeKind::Grpc(g)) => grpc::GrpcProbe::new(base, g, clock).map(Task::Grpc),
        #[cfg(not(feature = "db-probes"))]
        Some(ProbeKind::Postgres(_) | ProbeKind::Mysql(_)) => Err(format!(
            "probe {:?}: this build has no database probes (collector's feature db-probes)",
            p.name
        )),
        None => Err(format!(
            "probe {:?}: exactly one of {} must be set",
            p.name,
            crate::config::PROBE_KINDS
        )),
    }
}
