//! The `postgres` and `mysql` probes: replication lag with the semantics of docs/design.md
//! "Replication lag", under postgres_exporter / mysqld_exporter names.
//!
//! PostgreSQL, on a replica: `pg_replication_lag_seconds` is 0 only while the WAL receiver
//! streams, replay has reached the received position and replay is not paused; otherwise it is
//! `now() - pg_last_xact_replay_timestamp()` (so an idle primary does not look like growing lag,
//! and a stalled replay with equal LSNs does not look like zero). On a primary: per standby
//! write/flush/replay lag and byte lag.
//!
//! MySQL/MariaDB: `SHOW REPLICA STATUS` (falling back to `SHOW SLAVE STATUS`); a NULL
//! `Seconds_Behind_*` ends `mysql_slave_status_seconds_behind_master` with a staleness marker
//! (the scheduler writes one for every series that disappears) and fails the probe.
//!
//! The DSN is read from `dsn_file` on every run (so it can be rotated) and never logged.
//!
//! Every run opens its own connection and closes it (nothing is cached, so a restarted server
//! is simply reconnected to), and ends by its deadline: a PostgreSQL statement still running
//! then is cancelled on the server, since a backend waiting on a lock does not notice that its
//! client went away, and each later run would leave one more behind.

use std::time::{Duration, Instant};

use model::Labels;

use super::{AbortOnDrop, Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::{resolve_secret, DbProbeConfig};

/// How long a cancel request for a timed-out statement may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// The `application_name` a probe's session shows in `pg_stat_activity` unless the DSN sets one.
const PG_APPLICATION_NAME: &str = "alertd";

fn timed_out(what: &str, started: Instant) -> Failure {
    Failure::new(
        FailureKind::Timeout,
        format!(
            "{what} timed out after {:.3}s",
            started.elapsed().as_secs_f64()
        ),
    )
}

fn dsn(cfg: &DbProbeConfig) -> Result<String, Failure> {
    resolve_secret(cfg.dsn.as_ref(), cfg.dsn_file.as_deref())
        .map_err(|e| Failure::new(FailureKind::Local, e))?
        .ok_or_else(|| Failure::new(FailureKind::Local, "no dsn configured"))
}

/// A prepared `postgres` probe.
pub(crate) struct PgProbe {
    pub base: Labels,
    cfg: DbProbeConfig,
}

/// What the replica-side query returns.
struct PgNode {
    in_recovery: bool,
    paused: bool,
    /// `pg_wal_lsn_diff(receive, replay)`, bytes (NULL → 0).
    receive_minus_replay: f64,
    /// `now() - pg_last_xact_replay_timestamp()`, seconds.
    since_last_replay: Option<f64>,
    /// `now() - pg_postmaster_start_time()`, seconds.
    uptime: f64,
    streaming: bool,
}

const PG_NODE_SQL: &str = "
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END,
       COALESCE(pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()), 0)::float8,
       EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))::float8,
       EXTRACT(EPOCH FROM (now() - pg_postmaster_start_time()))::float8,
       (SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming') > 0";

const PG_STANDBYS_SQL: &str = "
SELECT COALESCE(application_name, ''), COALESCE(host(client_addr), ''), COALESCE(state, ''),
       COALESCE(EXTRACT(EPOCH FROM write_lag), 0)::float8,
       COALESCE(EXTRACT(EPOCH FROM flush_lag), 0)::float8,
       COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8,
       COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8
FROM pg_stat_replication";

fn pg_failure(e: &tokio_postgres::Error) -> Failure {
    use std::error::Error as _;
    let io = e
        .source()
        .and_then(|s| s.downcast_ref::<std::io::Error>())
        .map(std::io::Error::kind);
    let kind = match io {
        Some(std::io::ErrorKind::ConnectionRefused) => FailureKind::Refused,
        Some(_) => FailureKind::Connect,
        None => FailureKind::Database,
    };
    let msg = match e.as_db_error() {
        Some(db) => format!("postgres: {}: {}", db.code().code(), db.message()),
        None => {
            // tokio-postgres's own text ("error connecting to server") leaves out the cause
            // ("Connection refused"): add the chain of sources.
            let mut m = format!("postgres: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                let text = s.to_string();
                if !m.ends_with(&text) {
                    m.push_str(": ");
                    m.push_str(&text);
                }
                src = s.source();
            }
            m
        }
    };
    Failure::new(kind, msg)
}

impl PgProbe {
    pub(crate) fn new(base: Labels, cfg: &DbProbeConfig) -> Self {
        PgProbe {
            base,
            cfg: cfg.clone(),
        }
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut b = SeriesBuf::new(&self.base);
        let res = self.collect(&mut b, deadline, started).await;
        let failure = res.err();
        b.push("pg_up", &[], if failure.is_none() { 1.0 } else { 0.0 });
        b.push_result(started, &failure);
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure,
        }
    }

    async fn collect(
        &self,
        b: &mut SeriesBuf<'_>,
        deadline: tokio::time::Instant,
        started: Instant,
    ) -> Result<(), Failure> {
        let dsn = dsn(&self.cfg)?;
        let mut config: tokio_postgres::Config = dsn.parse().map_err(|e| pg_failure(&e))?;
        if config.get_application_name().is_none() {
            config.application_name(PG_APPLICATION_NAME);
        }
        let (client, conn) =
            tokio::time::timeout_at(deadline, config.connect(tokio_postgres::NoTls))
                .await
                .map_err(|_| timed_out("postgres: connecting", started))?
                .map_err(|e| pg_failure(&e))?;
        let _driver = AbortOnDrop(tokio::spawn(async move {
            let _ = conn.await;
        }));
        match tokio::time::timeout_at(deadline, self.query(&client, b)).await {
            Ok(out) => out,
            Err(_) => {
                // Dropping the connection does not stop the statement on the server (a backend
                // waiting on a lock does not notice): cancel it, off this run's clock.
                let token = client.cancel_token();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(
                        CANCEL_TIMEOUT,
                        token.cancel_query(tokio_postgres::NoTls),
                    )
                    .await;
                });
                Err(Failure::new(
                    FailureKind::Timeout,
                    format!(
                        "postgres: query timed out after {:.3}s (cancelled on the server)",
                        started.elapsed().as_secs_f64()
                    ),
                ))
            }
        }
    }

    async fn query(
        &self,
        client: &tokio_postgres::Client,
        b: &mut SeriesBuf<'_>,
    ) -> Result<(), Failure> {
        let row = client
            .query_one(PG_NODE_SQL, &[])
            .await
            .map_err(|e| pg_failure(&e))?;
        let node = PgNode {
            in_recovery: row.get(0),
            paused: row.get(1),
            receive_minus_replay: row.get(2),
            since_last_replay: row.get(3),
            uptime: row.get(4),
            streaming: row.get(5),
        };
        b.push(
            "pg_replication_is_replica",
            &[],
            if node.in_recovery { 1.0 } else { 0.0 },
        );
        if node.in_recovery {
            let caught_up = node.streaming && node.receive_minus_replay <= 0.0 && !node.paused;
            let lag = if caught_up {
                0.0
            } else {
                // No transaction replayed since start: behind for at least as long as it runs.
                node.since_last_replay.unwrap_or(node.uptime).max(0.0)
            };
            b.push("pg_replication_lag_seconds", &[], lag);
            b.push(
                "pg_replication_replay_paused",
                &[],
                if node.paused { 1.0 } else { 0.0 },
            );
            b.push(
                "pg_replication_wal_receiver_streaming",
                &[],
                if node.streaming { 1.0 } else { 0.0 },
            );
            b.push(
                "pg_replication_lag_bytes",
                &[],
                node.receive_minus_replay.max(0.0),
            );
        } else {
            let rows = client
                .query(PG_STANDBYS_SQL, &[])
                .await
                .map_err(|e| pg_failure(&e))?;
            for r in rows {
                let app: String = r.get(0);
                let addr: String = r.get(1);
                let state: String = r.get(2);
                let l = [
                    ("application_name", app.as_str()),
                    ("client_addr", addr.as_str()),
                    ("state", state.as_str()),
                ];
                b.push("pg_stat_replication_write_lag_seconds", &l, r.get(3));
                b.push("pg_stat_replication_flush_lag_seconds", &l, r.get(4));
                b.push("pg_stat_replication_replay_lag_seconds", &l, r.get(5));
                b.push("pg_stat_replication_pg_wal_lsn_diff", &l, r.get(6));
            }
        }
        Ok(())
    }
}

/// A prepared `mysql` probe.
pub(crate) struct MysqlProbe {
    pub base: Labels,
    cfg: DbProbeConfig,
}

fn my_failure(e: &mysql_async::Error) -> Failure {
    let kind = match e {
        mysql_async::Error::Io(io) => {
            let refused = matches!(io, mysql_async::IoError::Io(i) if i.kind() == std::io::ErrorKind::ConnectionRefused);
            if refused {
                FailureKind::Refused
            } else {
                FailureKind::Connect
            }
        }
        mysql_async::Error::Url(_) => {
            return Failure::new(FailureKind::Local, "mysql dsn is not a valid URL");
        }
        _ => FailureKind::Database,
    };
    Failure::new(kind, format!("mysql: {e}"))
}

/// The replication status columns we read, by either naming scheme.
fn col(row: &mysql_async::Row, names: &[&str]) -> Option<mysql_async::Value> {
    let cols = row.columns_ref();
    names.iter().find_map(|n| {
        cols.iter()
            .position(|c| c.name_str() == *n)
            .and_then(|i| row.as_ref(i).cloned())
    })
}

fn as_text(v: Option<mysql_async::Value>) -> Option<String> {
    match v? {
        mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        mysql_async::Value::Int(i) => Some(i.to_string()),
        mysql_async::Value::UInt(u) => Some(u.to_string()),
        mysql_async::Value::NULL => None,
        other => Some(format!("{other:?}")),
    }
}

impl MysqlProbe {
    pub(crate) fn new(base: Labels, cfg: &DbProbeConfig) -> Self {
        MysqlProbe {
            base,
            cfg: cfg.clone(),
        }
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut b = SeriesBuf::new(&self.base);
        let res = self.collect(&mut b, deadline, started).await;
        let (up, failure) = match res {
            Ok(f) => (true, f),
            Err(f) => (false, Some(f)),
        };
        b.push("mysql_up", &[], if up { 1.0 } else { 0.0 });
        b.push_result(started, &failure);
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure,
        }
    }

    /// `Err` when the server is unreachable; `Ok(Some)` when it answers but replication is
    /// broken.
    async fn collect(
        &self,
        b: &mut SeriesBuf<'_>,
        deadline: tokio::time::Instant,
        started: Instant,
    ) -> Result<Option<Failure>, Failure> {
        use mysql_async::prelude::Queryable;
        let dsn = dsn(&self.cfg)?;
        let opts = mysql_async::Opts::from_url(&dsn)
            // The parser's message may quote the URL, password included: say less.
            .map_err(|_| {
                Failure::new(
                    FailureKind::Local,
                    "mysql dsn is not a valid URL (expected mysql://user:password@host:port/)",
                )
            })?;
        let mut conn = tokio::time::timeout_at(deadline, mysql_async::Conn::new(opts))
            .await
            .map_err(|_| timed_out("mysql: connecting", started))?
            .map_err(|e| my_failure(&e))?;
        let status = async {
            match conn.query("SHOW REPLICA STATUS").await {
                Ok(r) => Ok(r),
                // Before MySQL 8.0.22 / MariaDB 10.5.1.
                Err(mysql_async::Error::Server(_)) => conn.query("SHOW SLAVE STATUS").await,
                Err(e) => Err(e),
            }
        };
        let rows: Vec<mysql_async::Row> = tokio::time::timeout_at(deadline, status)
            .await
            .map_err(|_| timed_out("mysql: query", started))?
            .map_err(|e| my_failure(&e))?;
        let _ = tokio::time::timeout_at(deadline, conn.disconnect()).await;
        let Some(row) = rows.first() else {
            // Not a replica: up, nothing else to say.
            return Ok(None);
        };
        let channel = as_text(col(row, &["Channel_Name", "Connection_name"])).unwrap_or_default();
        let master = as_text(col(row, &["Source_Host", "Master_Host"])).unwrap_or_default();
        let l = [
            ("channel_name", channel.as_str()),
            ("master_host", master.as_str()),
        ];
        let yes = |v: Option<String>| v.is_some_and(|s| s.eq_ignore_ascii_case("yes"));
        let io = yes(as_text(col(
            row,
            &["Replica_IO_Running", "Slave_IO_Running"],
        )));
        let sql = yes(as_text(col(
            row,
            &["Replica_SQL_Running", "Slave_SQL_Running"],
        )));
        b.push(
            "mysql_slave_status_slave_io_running",
            &l,
            if io { 1.0 } else { 0.0 },
        );
        b.push(
            "mysql_slave_status_slave_sql_running",
            &l,
            if sql { 1.0 } else { 0.0 },
        );
        let errno: f64 = as_text(col(row, &["Last_Errno"]))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0.0);
        b.push("mysql_slave_status_last_errno", &l, errno);
        for (column, name) in [
            ("Last_IO_Errno", "mysql_slave_status_last_io_errno"),
            ("Last_SQL_Errno", "mysql_slave_status_last_sql_errno"),
        ] {
            if let Some(n) = as_text(col(row, &[column])).and_then(|s| s.parse::<f64>().ok()) {
                b.push(name, &l, n);
            }
        }
        let lag = as_text(col(
            row,
            &["Seconds_Behind_Source", "Seconds_Behind_Master"],
        ))
        .and_then(|s| s.parse::<f64>().ok());
        match lag {
            Some(s) => {
                b.push("mysql_slave_status_seconds_behind_master", &l, s);
            }
            None => {
                return Ok(Some(Failure::new(
                    FailureKind::Replication,
                    format!(
                        "replication broken: lag unknown (IO thread {}, SQL thread {}, last errno {errno})",
                        if io { "running" } else { "stopped" },
                        if sql { "running" } else { "stopped" },
                    ),
                )));
            }
        }
        if !io || !sql {
            return Ok(Some(Failure::new(
                FailureKind::Replication,
                "a replication thread is not running",
            )));
        }
        Ok(None)
    }
}
