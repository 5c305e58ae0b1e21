//! The `postgres` probe against a real PostgreSQL 15 primary and streaming replica created in
//! temp directories (as the postgres user), covering both known postgres_exporter failure cases.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use collector::config::Defaults;
use collector::{probe_once, Collector, FailureKind, ProbeReport, TargetKey, TargetStatus};
use common::probe;
use model::storage::MemStorage;
use model::SystemClock;

const BIN: &str = "/usr/lib/postgresql/15/bin";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn as_postgres(args: &[&str]) {
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Cluster {
    _dir: tempfile::TempDir,
    primary: PathBuf,
    replica: PathBuf,
    p1: u16,
    p2: u16,
}

impl Cluster {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("alertd-pg")
            .tempdir()
            .unwrap();
        let d = dir.path();
        Command::new("chown")
            .args(["postgres:postgres", d.to_str().unwrap()])
            .status()
            .unwrap();
        let primary = d.join("primary");
        let replica = d.join("replica");
        let (p1, p2) = (free_port(), free_port());
        as_postgres(&[
            &format!("{BIN}/initdb"),
            "-D",
            primary.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {p1}\nunix_socket_directories = '{}'\nwal_level = replica\nmax_wal_senders = 5\nhot_standby = on\nfsync = off\nwal_receiver_status_interval = 1s\n",
            d.display()
        );
        append(&primary.join("postgresql.conf"), &conf);
        pg_ctl(&primary, "start");
        as_postgres(&[
            &format!("{BIN}/pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            &p1.to_string(),
            "-U",
            "postgres",
            "-D",
            replica.to_str().unwrap(),
            "-R",
            "-X",
            "stream",
            "--no-sync",
        ]);
        append(&replica.join("postgresql.conf"), &format!("port = {p2}\n"));
        pg_ctl(&replica, "start");
        Cluster {
            _dir: dir,
            primary,
            replica,
            p1,
            p2,
        }
    }
}

fn append(p: &Path, s: &str) {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().append(true).open(p).unwrap();
    f.write_all(s.as_bytes()).unwrap();
}

fn pg_ctl(data: &Path, action: &str) {
    let log = data.with_extension("log");
    as_postgres(&[
        &format!("{BIN}/pg_ctl"),
        "-D",
        data.to_str().unwrap(),
        "-l",
        log.to_str().unwrap(),
        "-w",
        "-m",
        "immediate",
        action,
    ]);
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in [&self.replica, &self.primary] {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D"])
                .arg(d)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

async fn sql(port: u16, q: &str) {
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    c.batch_execute(q).await.unwrap();
}

async fn run(dir: &Path, port: u16) -> ProbeReport {
    let f = dir.join(format!("dsn-{port}"));
    std::fs::write(
        &f,
        format!("postgres://postgres@127.0.0.1:{port}/postgres\n"),
    )
    .unwrap();
    probe_once(
        &probe(&format!(
            "name: pg\npostgres: {{ dsn_file: {} }}\n",
            f.display()
        )),
        &Defaults::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap()
}

fn v(r: &ProbeReport, name: &str) -> f64 {
    r.value(name, &[])
        .unwrap_or_else(|| panic!("no {name} in {:#?}", r.series))
}

/// Polls the replica until `pred` holds (replication is asynchronous).
async fn until(
    dir: &Path,
    port: u16,
    what: &str,
    pred: impl Fn(&ProbeReport) -> bool,
) -> ProbeReport {
    for _ in 0..100 {
        let r = run(dir, port).await;
        if pred(&r) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timed out waiting for {what}: {:#?}",
        run(dir, port).await.series
    );
}

#[tokio::test]
async fn primary_and_replica_lag_semantics() {
    let c = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    sql(c.p1, "CREATE TABLE t (x int); INSERT INTO t VALUES (1);").await;

    // Primary: one streaming standby with byte lag and lag series.
    let r = until(dir, c.p1, "a streaming standby", |r| {
        r.value(
            "pg_stat_replication_pg_wal_lsn_diff",
            &[("state", "streaming")],
        )
        .is_some()
    })
    .await;
    assert_eq!(v(&r, "pg_up"), 1.0);
    assert_eq!(v(&r, "pg_replication_is_replica"), 0.0);
    let (l, _) = r
        .series
        .iter()
        .find(|(l, _)| l.get("__name__") == Some("pg_stat_replication_replay_lag_seconds"))
        .unwrap();
    assert_eq!(l.get("client_addr"), Some("127.0.0.1"));
    assert_eq!(l.get("application_name"), Some("walreceiver"));
    assert!(r
        .value("pg_stat_replication_write_lag_seconds", &[])
        .is_some());
    assert!(r
        .value("pg_stat_replication_flush_lag_seconds", &[])
        .is_some());

    // Replica caught up, primary idle for a while: lag is 0, not the time since the last commit
    // (postgres_exporter's first failure case).
    until(dir, c.p2, "replica caught up", |r| {
        r.value("pg_replication_lag_seconds", &[]) == Some(0.0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = run(dir, c.p2).await;
    assert_eq!(v(&r, "pg_replication_is_replica"), 1.0);
    assert_eq!(
        v(&r, "pg_replication_lag_seconds"),
        0.0,
        "idle primary is not lag"
    );
    assert_eq!(v(&r, "pg_replication_replay_paused"), 0.0);
    assert_eq!(v(&r, "pg_replication_lag_bytes"), 0.0);

    // Paused replay while the primary writes: lag grows, byte lag > 0.
    sql(c.p2, "SELECT pg_wal_replay_pause();").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    sql(c.p1, "INSERT INTO t SELECT generate_series(1, 10000);").await;
    let r1 = until(dir, c.p2, "WAL received but not replayed", |r| {
        r.value("pg_replication_lag_bytes", &[]).unwrap_or(0.0) > 0.0
    })
    .await;
    assert_eq!(v(&r1, "pg_replication_replay_paused"), 1.0);
    let lag1 = v(&r1, "pg_replication_lag_seconds");
    assert!(lag1 > 1.0, "paused replay shows lag, got {lag1}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let lag2 = v(&run(dir, c.p2).await, "pg_replication_lag_seconds");
    assert!(lag2 > lag1, "lag grows while paused: {lag1} -> {lag2}");
    let p = run(dir, c.p1).await;
    assert!(
        v(&p, "pg_stat_replication_pg_wal_lsn_diff") > 0.0,
        "primary sees byte lag"
    );

    // Resume: back to 0.
    sql(c.p2, "SELECT pg_wal_replay_resume();").await;
    until(dir, c.p2, "replica caught up again", |r| {
        r.value("pg_replication_lag_seconds", &[]) == Some(0.0)
    })
    .await;

    // Stalled with equal LSNs (postgres_exporter's second failure case): the WAL receiver is
    // stopped, so received == replayed although the primary moves on. Must not read 0.
    sql(c.p2, "ALTER SYSTEM SET primary_conninfo = ''").await;
    sql(c.p2, "SELECT pg_reload_conf()").await;
    until(dir, c.p2, "WAL receiver stopped", |r| {
        r.value("pg_replication_wal_receiver_streaming", &[]) == Some(0.0)
    })
    .await;
    sql(c.p1, "INSERT INTO t VALUES (2);").await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = run(dir, c.p2).await;
    assert_eq!(v(&r, "pg_replication_lag_bytes"), 0.0, "LSNs are equal");
    assert!(
        v(&r, "pg_replication_lag_seconds") > 1.0,
        "stalled replica with equal LSNs must not show zero lag: {:#?}",
        r.series
    );
}

#[tokio::test]
async fn unreachable_database_is_pg_up_0_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(tmp.path(), port).await;
    assert_eq!(v(&r, "pg_up"), 0.0);
    assert_eq!(r.failure.unwrap().kind, FailureKind::Refused);
}

#[tokio::test]
async fn system_server_is_a_primary_without_standbys() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), 5432).await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "pg_up"), 1.0);
    assert_eq!(v(&r, "pg_replication_is_replica"), 0.0);
    assert!(r.value("pg_replication_lag_seconds", &[]).is_none());
}

/// One PostgreSQL server in a temp dir, to stop, start, restart and freeze.
struct Single {
    dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
}

impl Single {
    fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("alertd-pg")
            .tempdir()
            .unwrap();
        let d = dir.path();
        Command::new("chown")
            .args(["postgres:postgres", d.to_str().unwrap()])
            .status()
            .unwrap();
        let data = d.join("data");
        let port = free_port();
        as_postgres(&[
            &format!("{BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        append(
            &data.join("postgresql.conf"),
            &format!(
                "listen_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nfsync = off\n",
                d.display()
            ),
        );
        let s = Single { dir, data, port };
        s.ctl(&["start"]);
        s
    }

    /// `pg_ctl -w ARGS` on this server.
    fn ctl(&self, args: &[&str]) {
        let log = self.data.with_extension("log");
        let mut all = vec![
            format!("{BIN}/pg_ctl"),
            "-D".into(),
            self.data.display().to_string(),
            "-l".into(),
            log.display().to_string(),
            "-w".into(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        as_postgres(&all.iter().map(String::as_str).collect::<Vec<_>>());
    }

    fn signal_postmaster(&self, sig: &str) {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig} {pid}");
    }

    fn dsn_file(&self) -> PathBuf {
        let f = self.dir.path().join("dsn");
        std::fs::write(
            &f,
            format!("postgres://postgres@127.0.0.1:{}/postgres\n", self.port),
        )
        .unwrap();
        f
    }
}

impl Drop for Single {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.data.join("postmaster.pid")) {
            let pid = pid.lines().next().unwrap_or("").trim().to_string();
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
        }
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "-D"])
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Runs the postgres probe through the real scheduler at `interval` (= its timeout).
fn scheduled(s: &Single, interval: &str) -> (Arc<MemStorage>, Arc<Collector>, common::Runs) {
    let (store, c) = common::start(&format!(
        "probes:\n  - {{ name: pg, postgres: {{ dsn_file: {} }}, interval: {interval}, timeout: {interval} }}\n",
        s.dsn_file().display()
    ));
    let runs = common::Runs::record(c.clone(), TargetKey::Probe("pg".into()));
    (store, c, runs)
}

#[tokio::test]
async fn restarts_show_pg_up_0_with_a_reason_and_recover_without_restarting_the_probe() {
    let s = tokio::task::spawn_blocking(Single::start).await.unwrap();
    let s = Arc::new(s);
    let ctl = |args: &'static [&'static str]| {
        let s = s.clone();
        async move {
            tokio::task::spawn_blocking(move || s.ctl(args))
                .await
                .unwrap()
        }
    };
    let (store, _c, runs) = scheduled(&s, "1s");
    let ok = |r: &TargetStatus| r.success == Some(true);
    runs.wait(0, 1, 30, "a first successful run", ok).await;

    // Stopped (fast, then immediate): refused, pg_up 0; started again: up, same collector.
    for mode in ["fast", "immediate"] {
        let stop: &'static [&'static str] = if mode == "fast" {
            &["-m", "fast", "stop"]
        } else {
            &["-m", "immediate", "stop"]
        };
        ctl(stop).await;
        let n = runs.len();
        let down = runs
            .wait(n, 2, 30, "runs against the stopped server", |r| {
                r.failure_kind == Some(FailureKind::Refused)
            })
            .await;
        assert!(
            down.last_error.as_deref().unwrap().contains("refused"),
            "{down:?}"
        );
        ctl(&["start"]).await;
        let n = runs.len();
        runs.wait(n, 1, 30, &format!("recovery after a {mode} stop"), ok)
            .await;
    }

    // Restarted again and again while the probe keeps running every second.
    for delay in [300, 800, 1300, 500, 1000] {
        tokio::time::sleep(Duration::from_millis(delay)).await;
        ctl(&["-m", "fast", "restart"]).await;
    }
    ctl(&["-m", "immediate", "restart"]).await;
    let n = runs.len();
    runs.wait(n, 2, 30, "recovery after the restarts", ok).await;
    common::check_runs(&store, &runs, 1.0, "pg_up", "postgres").await;
}

/// Backends of the probe (`application_name` alertd) waiting on a lock.
async fn probe_backends_waiting(port: u16) -> i64 {
    let (c, conn) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    c.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'alertd' AND wait_event_type = 'Lock'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn a_probe_stuck_in_flight_is_cut_off_cancelled_and_recovers() {
    let s = Arc::new(tokio::task::spawn_blocking(Single::start).await.unwrap());
    let (store, _c, runs) = scheduled(&s, "2s");
    let ok = |r: &TargetStatus| r.success == Some(true);
    runs.wait(0, 1, 30, "a first successful run", ok).await;

    // A session holds a lock the probe's query needs: each run waits on it until its timeout,
    // is reported as a timeout, and its statement is cancelled on the server rather than left
    // waiting (one more backend with every run).
    let (locker, conn) = tokio_postgres::connect(
        &format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            s.port
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    locker
        .batch_execute("BEGIN; LOCK TABLE pg_catalog.pg_stat_wal_receiver IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let n = runs.len();
    let t = runs
        .wait(n, 3, 30, "runs cut off by their timeout", |r| {
            r.failure_kind == Some(FailureKind::Timeout)
        })
        .await;
    assert!(
        t.last_error.as_deref().unwrap().contains("postgres: query"),
        "{t:?}"
    );
    let end = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting = probe_backends_waiting(s.port).await;
        if waiting <= 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "{waiting} probe statements left waiting on the server"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The server restarts while a probe's statement is in flight (waiting on the lock): the run
    // ends at once with the server's reason, well before its timeout.
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while probe_backends_waiting(s.port).await < 1 {
        assert!(
            std::time::Instant::now() < end,
            "no probe statement in flight"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let n = runs.len();
    let s2 = s.clone();
    tokio::task::spawn_blocking(move || s2.ctl(&["-m", "fast", "restart"]))
        .await
        .unwrap();
    let cut = runs
        .wait(n, 1, 30, "the in-flight run to end", |_| true)
        .await;
    assert_eq!(cut.success, Some(false), "{cut:?}");
    assert_ne!(cut.failure_kind, Some(FailureKind::Timeout), "{cut:?}");
    assert!(cut.last_duration_seconds < 1.9, "{cut:?}");
    drop(locker);
    let n = runs.len();
    runs.wait(n, 1, 30, "recovery after the restart", ok).await;

    // The postmaster hangs (SIGSTOP): connecting never completes; runs end at their timeout and
    // leave no connection open; after SIGCONT the probe recovers.
    s.signal_postmaster("STOP");
    let n = runs.len();
    let t = runs
        .wait(n, 2, 30, "runs against the frozen server", |r| {
            r.failure_kind == Some(FailureKind::Timeout)
        })
        .await;
    assert!(
        t.last_error.as_deref().unwrap().contains("connecting"),
        "{t:?}"
    );
    let open = common::established_to(s.port);
    s.signal_postmaster("CONT");
    assert!(
        open <= 1,
        "{open} connections to the frozen server left open"
    );
    let n = runs.len();
    runs.wait(n, 1, 30, "recovery after the freeze", ok).await;
    common::check_runs(&store, &runs, 2.0, "pg_up", "postgres").await;
}
