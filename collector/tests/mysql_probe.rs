//! The `mysql` probe against a real MariaDB primary and replica started in temp directories
//! (as the mysql user), including a NULL lag ending the lag series with a staleness marker.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use collector::config::Defaults;
use collector::{probe_once, FailureKind, ProbeReport, TargetKey, TargetStatus};
use common::probe;
use model::storage::{MemStorage, SeriesStore};
use model::SystemClock;
use mysql_async::prelude::Queryable;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Server {
    dir: PathBuf,
    id: u32,
    port: u16,
    child: Option<std::process::Child>,
}

impl Server {
    /// Creates a data directory and starts a server on it.
    fn start(dir: &Path, id: u32) -> Self {
        let data = dir.join(format!("d{id}"));
        let out = Command::new("mariadb-install-db")
            .args([
                "--user=mysql",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut s = Server {
            dir: dir.to_path_buf(),
            id,
            port: free_port(),
            child: None,
        };
        s.launch();
        s
    }

    /// Starts mariadbd on this server's data directory and port; waits until it listens.
    fn launch(&mut self) {
        let (dir, id, port) = (self.dir.display(), self.id, self.port);
        let child = Command::new("runuser")
            .args(["-u", "mysql", "--", "/usr/sbin/mariadbd", "--no-defaults"])
            .arg(format!("--datadir={dir}/d{id}"))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={dir}/s{id}.sock"))
            .arg(format!("--pid-file={dir}/s{id}.pid"))
            .arg(format!("--log-error={dir}/s{id}.err"))
            .arg(format!("--server-id={id}"))
            .arg("--log-bin=mysql-bin")
            .arg("--skip-name-resolve")
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..300 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("mariadbd on {port} did not start");
    }

    fn pid(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join(format!("s{}.pid", self.id)))
            .ok()
            .map(|p| p.trim().to_string())
    }

    /// Sends `sig` to mariadbd (runuser's child, found by its pid file).
    fn signal(&self, sig: &str) {
        let pid = self.pid().expect("mariadbd has a pid file");
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -{sig} {pid}");
    }

    /// Sends `sig` to mariadbd and waits for it to exit.
    fn kill(&mut self, sig: &str) {
        self.signal(sig);
        self.reap();
    }

    /// Waits for mariadbd (and runuser) to exit after a signal.
    fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            // runuser stops itself when its child is stopped (as su does): let it go on, so
            // that it reaps mariadbd and exits.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some() {
            if let Some(pid) = self.pid() {
                let _ = Command::new("kill").args(["-CONT", &pid]).status();
                let _ = Command::new("kill").arg(&pid).status();
            }
        }
        self.reap();
    }
}

async fn sql(url: &str, q: &str) {
    let mut c = mysql_async::Conn::from_url(url).await.unwrap();
    c.query_drop(q).await.unwrap();
    c.disconnect().await.unwrap();
}

fn dsn_file(dir: &Path, url: &str) -> PathBuf {
    let f = dir.join(format!("dsn{}", url.len() + url.rfind(':').unwrap_or(0)));
    std::fs::write(&f, format!("{url}\n")).unwrap();
    f
}

async fn run(dir: &Path, url: &str) -> ProbeReport {
    let f = dsn_file(dir, url);
    probe_once(
        &probe(&format!(
            "name: my\nmysql: {{ dsn_file: {} }}\n",
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

#[tokio::test]
async fn replica_lag_threads_and_null_lag_staleness() {
    let tmp = tempfile::Builder::new()
        .prefix("alertd-my")
        .tempdir()
        .unwrap();
    let d = tmp.path().to_path_buf();
    Command::new("chown")
        .args(["mysql:mysql", d.to_str().unwrap()])
        .status()
        .unwrap();
    let (primary, replica) =
        tokio::task::spawn_blocking(move || (Server::start(&d, 1), Server::start(&d, 2)))
            .await
            .unwrap();
    let dir = tmp.path();
    sql(
        &replica.url(),
        &format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=no, MASTER_LOG_FILE='mysql-bin.000001', MASTER_LOG_POS=4",
            primary.port
        ),
    )
    .await;
    sql(&replica.url(), "START SLAVE").await;
    sql(&primary.url(), "CREATE DATABASE shop").await;

    // Primary (not a replica): up, no replication series.
    let r = run(dir, &primary.url()).await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "mysql_up"), 1.0);
    assert!(r
        .value("mysql_slave_status_seconds_behind_master", &[])
        .is_none());

    // Replica: threads running, lag 0.
    let mut ok = None;
    for _ in 0..100 {
        let r = run(dir, &replica.url()).await;
        if r.failure.is_none()
            && r.value("mysql_slave_status_seconds_behind_master", &[]) == Some(0.0)
        {
            ok = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = ok.expect("replica never caught up");
    assert_eq!(v(&r, "mysql_slave_status_slave_io_running"), 1.0);
    assert_eq!(v(&r, "mysql_slave_status_slave_sql_running"), 1.0);
    assert_eq!(v(&r, "mysql_slave_status_last_errno"), 0.0);
    let (l, _) = r
        .series
        .iter()
        .find(|(l, _)| l.get("__name__") == Some("mysql_slave_status_seconds_behind_master"))
        .unwrap();
    assert_eq!(l.get("probe"), Some("my"));
    assert_eq!(l.get("master_host"), Some("127.0.0.1"));

    // Scheduled, then the SQL thread stops: lag becomes NULL and the series ends with a
    // staleness marker instead of a stale or zero value.
    let f = dsn_file(dir, &replica.url());
    let (store, c) = common::start(&format!(
        "probes:\n  - {{ name: my, mysql: {{ dsn_file: {} }}, interval: 300ms }}\n",
        f.display()
    ));
    let lag_series = |store: &MemStorage| {
        store
            .select(
                &["__name__=\"mysql_slave_status_seconds_behind_master\""
                    .parse()
                    .unwrap()],
                0,
                i64::MAX,
            )
            .unwrap()
    };
    for _ in 0..50 {
        if !lag_series(&store).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(lag_series(&store)[0].samples.last().unwrap().v, 0.0);
    sql(&replica.url(), "STOP SLAVE SQL_THREAD").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let s = lag_series(&store);
    assert!(
        s[0].samples.last().unwrap().is_stale(),
        "NULL lag ends the series: {:?}",
        s[0].samples
    );
    let st = c.status();
    let my = st
        .iter()
        .find(|t| t.key == TargetKey::Probe("my".into()))
        .unwrap();
    assert_eq!(my.failure_kind, Some(FailureKind::Replication));
    assert!(
        my.last_error
            .as_deref()
            .unwrap()
            .contains("SQL thread stopped"),
        "{:?}",
        my.last_error
    );
    let r = run(dir, &replica.url()).await;
    assert_eq!(v(&r, "mysql_up"), 1.0);
    assert_eq!(v(&r, "mysql_slave_status_slave_sql_running"), 0.0);
    assert_eq!(v(&r, "mysql_slave_status_slave_io_running"), 1.0);
    assert_eq!(v(&r, "probe_success"), 0.0);
    drop(c);

    // IO thread pointed at a closed port: IO not running, its error number is reported.
    sql(&replica.url(), "STOP SLAVE").await;
    sql(
        &replica.url(),
        &format!(
            "CHANGE MASTER TO MASTER_PORT={}, MASTER_CONNECT_RETRY=1",
            free_port()
        ),
    )
    .await;
    sql(&replica.url(), "START SLAVE").await;
    let mut seen = None;
    for _ in 0..60 {
        let r = run(dir, &replica.url()).await;
        if r.value("mysql_slave_status_last_io_errno", &[])
            .unwrap_or(0.0)
            != 0.0
        {
            seen = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = seen.expect("IO error reported");
    assert_eq!(v(&r, "mysql_slave_status_slave_io_running"), 0.0);
    assert_eq!(v(&r, "mysql_slave_status_last_io_errno"), 2003.0);
    assert_eq!(r.failure.unwrap().kind, FailureKind::Replication);
}

#[tokio::test]
async fn system_server_and_unreachable() {
    let tmp = tempfile::tempdir().unwrap();
    let r = run(tmp.path(), "mysql://root@127.0.0.1:3306/").await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "mysql_up"), 1.0);
    let r = run(
        tmp.path(),
        &format!("mysql://root@127.0.0.1:{}/", free_port()),
    )
    .await;
    assert_eq!(v(&r, "mysql_up"), 0.0);
    assert_eq!(r.failure.unwrap().kind, FailureKind::Refused);
}

/// Runs `f` on the server off the runtime (it waits for processes).
async fn on(s: &Arc<std::sync::Mutex<Server>>, f: impl FnOnce(&mut Server) + Send + 'static) {
    let s = s.clone();
    tokio::task::spawn_blocking(move || f(&mut s.lock().unwrap()))
        .await
        .unwrap()
}

#[tokio::test]
async fn restarts_and_a_hung_server_show_mysql_up_0_and_recover() {
    let tmp = tempfile::Builder::new()
        .prefix("alertd-my")
        .tempdir()
        .unwrap();
    let d = tmp.path().to_path_buf();
    Command::new("chown")
        .args(["mysql:mysql", d.to_str().unwrap()])
        .status()
        .unwrap();
    let server = tokio::task::spawn_blocking(move || Server::start(&d, 3))
        .await
        .unwrap();
    let server = Arc::new(std::sync::Mutex::new(server));
    let (url, port) = {
        let s = server.lock().unwrap();
        (s.url(), s.port)
    };
    let f = dsn_file(tmp.path(), &url);
    let (store, c) = common::start(&format!(
        "probes:\n  - {{ name: my, mysql: {{ dsn_file: {} }}, interval: 1s, timeout: 1s }}\n",
        f.display()
    ));
    let runs = common::Runs::record(c.clone(), TargetKey::Probe("my".into()));
    let ok = |r: &TargetStatus| r.success == Some(true);
    runs.wait(0, 1, 30, "a first successful run", ok).await;

    // Shut down cleanly (SIGTERM), then crashed (SIGKILL): refused, mysql_up 0; started again
    // on the same port and data directory: up, same collector.
    for sig in ["TERM", "KILL"] {
        on(&server, move |s| s.kill(sig)).await;
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
        on(&server, Server::launch).await;
        let n = runs.len();
        runs.wait(n, 1, 60, &format!("recovery after SIG{sig}"), ok)
            .await;
    }

    // Hung (SIGSTOP): the greeting never comes; runs end at their timeout and leave no
    // connection open. Then killed while hung and started again: recovers.
    on(&server, |s| s.signal("STOP")).await;
    let n = runs.len();
    let t = runs
        .wait(n, 2, 30, "runs against the hung server", |r| {
            r.failure_kind == Some(FailureKind::Timeout)
        })
        .await;
    assert!(
        t.last_error
            .as_deref()
            .unwrap()
            .contains("mysql: connecting"),
        "{t:?}"
    );
    let open = common::established_to(port);
    on(&server, |s| s.kill("KILL")).await;
    assert!(open <= 1, "{open} connections to the hung server left open");
    on(&server, Server::launch).await;
    let n = runs.len();
    runs.wait(n, 1, 60, "recovery after the hang", ok).await;
    common::check_runs(&store, &runs, 1.0, "mysql_up", "mysql").await;
}
