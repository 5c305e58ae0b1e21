//! Helpers for the end-to-end tests: locating the real `alertd` and `alertctl` binaries,
//! starting alertd on a free loopback port with a temporary configuration and data directory,
//! a minimal HTTP/1.1 client over `TcpStream`, and signals.
//!
//! The binaries are looked up next to the test executable (`target/<profile>/`), where
//! `cargo test --workspace` builds them. With `cargo test -p e2e` alone, build them first:
//! `cargo build -p alertd -p alertctl`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
pub use nix::sys::signal::Signal;

/// The path of a workspace binary (`alertd`, `alertctl`) built next to the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test>-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo test --workspace`, or `cargo build -p alertd -p alertctl` \
         before `cargo test -p e2e`",
        path.display()
    );
    path
}

/// `name` on the `PATH`, if it is there.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// For a test whose peer or tool may be missing on a developer's machine: outside CI it prints
/// `SKIPPED: {why}` (the caller then returns); in CI (`CI=true`) a missing piece is a failure,
/// and the panic says what `.ci/run` must provide.
pub fn skip_outside_ci(why: &str, ci_must: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{why}, and CI=true: {ci_must}"
    );
    eprintln!("SKIPPED: {why}");
}

/// The repository root (for `examples/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// `examples/quickstart.yaml` rewritten to listen on `port` and store data in `data_dir`.
pub fn quickstart_config(port: u16, data_dir: &Path) -> String {
    let text = std::fs::read_to_string(repo_root().join("examples/quickstart.yaml"))
        .expect("read examples/quickstart.yaml");
    let listen = "listen: 127.0.0.1:9797";
    let path = "path: data ";
    assert!(
        text.contains(listen) && text.contains(path),
        "quickstart layout changed"
    );
    let rules = repo_root().join("rules");
    text.replace("127.0.0.1:9797", &format!("127.0.0.1:{port}"))
        .replace("../rules/", &format!("{}/", rules.display()))
        .replace(
            path,
            &format!("path: {:?} ", data_dir.display().to_string()),
        )
}

/// A minimal configuration listening on `port`, with `extra` appended.
pub fn minimal_config(port: u16, extra: &str) -> String {
    format!("api:\n  listen: 127.0.0.1:{port}\nstorage:\n  path: data\n{extra}")
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl Response {
    /// The first header named `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request to `127.0.0.1:port` and reads the whole response.
pub fn http(port: u16, method: &str, path: &str) -> Result<Response> {
    http_with(port, method, path, &[], "")
}

/// The value of an unlabelled sample `name` in an exposition text.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Polls `f` every 20 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running alertd in its own temporary directory (its working directory), killed on drop.
pub struct Daemon {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// Its working directory (config file, data directory, log file).
    pub dir: tempfile::TempDir,
    status: Option<ExitStatus>,
}

impl Daemon {
    /// The configuration file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("alertd.yaml")
    }

    /// Replaces the configuration file's content.
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(self.config_path(), yaml).expect("write config");
    }

    /// Everything alertd logged so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertd.log")).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig` to alertd.
    pub fn signal(&self, sig: Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, sig).expect("kill");
    }

    /// `GET`/`POST`/... against this daemon.
    pub fn http(&self, method: &str, path: &str) -> Result<Response> {
        http(self.port, method, path)
    }

    /// `/metrics` as text.
    pub fn metrics(&self) -> String {
        let r = self.http("GET", "/metrics").expect("GET /metrics");
        assert_eq!(r.status, 200, "{r:?}");
        r.body
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(s) = self.status {
            return Some(s);
        }
        let child = &mut self.child;
        let status = wait_for(timeout, || child.try_wait().ok().flatten());
        self.status = status;
        status
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        self.status.is_none() && matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Writes `config` to `alertd.yaml` in a new temporary directory and starts alertd there with
/// `extra_args`, stderr going to `alertd.log` in that directory. Does not wait.
pub fn spawn(port: u16, config: &str, extra_args: &[&str]) -> Daemon {
    spawn_wrapped(port, config, &[], extra_args)
}

/// As [`spawn`], with alertd started by `wrapper` (a command that runs the rest of its command
/// line, e.g. `["prlimit", "--nofile=1024", "--"]`, which execs alertd in its own process).
pub fn spawn_wrapped(port: u16, config: &str, wrapper: &[&str], extra_args: &[&str]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("alertd.yaml"), config).expect("write config");
    let child = spawn_child(dir.path(), wrapper, extra_args);
    Daemon {
        child,
        port,
        dir,
        status: None,
    }
}

/// Starts alertd in `dir` (config `alertd.yaml`, log appended to `alertd.log`).
fn spawn_child(dir: &Path, wrapper: &[&str], extra_args: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("alertd.log"))
        .expect("log file");
    let mut cmd = match wrapper.split_first() {
        None => Command::new(bin("alertd")),
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin("alertd"));
            c
        }
    };
    cmd.arg("--config")
        .arg("alertd.yaml")
        .args(extra_args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn alertd")
}

impl Daemon {
    /// Starts alertd again in the same directory (same config and data) after the previous
    /// process exited or was killed; does not wait for it to serve.
    pub fn respawn(&mut self, extra_args: &[&str]) {
        if self.is_running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.child = spawn_child(self.dir.path(), &[], extra_args);
        self.status = None;
    }
}

/// Starts alertd with `config` (which must listen on `port`) and waits until `/-/healthy`
/// answers 200.
pub fn start(port: u16, config: &str, extra_args: &[&str]) -> Result<Daemon> {
    start_wrapped(port, config, &[], extra_args)
}

/// As [`start`], with alertd started by `wrapper` (see [`spawn_wrapped`]).
pub fn start_wrapped(
    port: u16,
    config: &str,
    wrapper: &[&str],
    extra_args: &[&str],
) -> Result<Daemon> {
    let mut d = spawn_wrapped(port, config, wrapper, extra_args);
    let healthy = wait_for(Duration::from_secs(15), || {
        if !d.is_running() {
            return Some(false);
        }
        match d.http("GET", "/-/healthy") {
            Ok(r) if r.status == 200 => Some(true),
            _ => None,
        }
    });
    match healthy {
        Some(true) => Ok(d),
        Some(false) => bail!("alertd exited during startup:\n{}", d.log()),
        None => bail!("alertd did not become healthy in 15s:\n{}", d.log()),
    }
}

/// Runs `alertctl` with `args` (and extra environment), returning (exit code, stdout, stderr).
pub fn alertctl(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(bin("alertctl"))
        .args(args)
        .env_remove("ALERTD_URL")
        .env_remove("ALERTD_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run alertctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Sends one HTTP/1.1 request with `headers` and `body` to `127.0.0.1:port` and reads the whole
/// response.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Response> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).context("response is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("no header/body separator in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        bail!("chunked responses are not supported by this test client");
    }
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

/// One request a [`recording_server`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET /path HTTP/1.1`.
    pub request_line: String,
    /// The body.
    pub body: String,
    /// When the whole request had arrived (wall clock, ms since the Unix epoch; the same clock
    /// alertd stamps its history with).
    pub at_ms: i64,
}

/// An HTTP server on a loopback port that answers every request with `reply` (a whole raw
/// response) and keeps what it received.
///
/// Only complete requests are kept: the header section up to its blank line and then the whole
/// body (`Content-Length` bytes, or a chunked body up to its last chunk). A request whose
/// connection ends before that (its sender was killed mid-request) was not delivered: it is
/// neither kept nor answered. Each connection is served on its own thread, so a slow or stalled
/// peer does not hold up the others; a request is kept before it is answered, so requests that
/// a client sends one after another are kept in that order.
pub fn recording_server(
    reply: &'static [u8],
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let port = l.local_addr().expect("sink addr").port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let keep = keep.clone();
            std::thread::spawn(move || {
                // A peer that stops sending for this long has gone; its request is incomplete.
                let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
                match read_request(&conn) {
                    Ok((request_line, body)) => {
                        if let Ok(mut g) = keep.lock() {
                            g.push(Received {
                                request_line,
                                body: String::from_utf8_lossy(&body).into_owned(),
                                at_ms: {
                                    use model::Clock;
                                    model::SystemClock.now_ms()
                                },
                            });
                        }
                        let _ = conn.write_all(reply);
                    }
                    Err(why) => eprintln!("recording server on port {port}: not kept: {why}"),
                }
            });
        }
    });
    (port, got)
}

/// Reads one whole HTTP/1.1 request (request line and body); an error says what was missing.
fn read_request(conn: &TcpStream) -> Result<(String, Vec<u8>)> {
    use std::io::BufRead;
    let mut r = std::io::BufReader::new(conn);
    let mut line = String::new();
    let mut next_line = |r: &mut std::io::BufReader<&TcpStream>, what: &str| -> Result<String> {
        line.clear();
        r.read_line(&mut line)
            .with_context(|| format!("reading the {what}"))?;
        if !line.ends_with('\n') {
            bail!("connection ended in the {what} after {:?}", line);
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    let request_line = next_line(&mut r, "request line")?;
    let mut len: Option<usize> = None;
    let mut chunked = false;
    loop {
        let h = next_line(&mut r, "headers")?;
        if h.is_empty() {
            break;
        }
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| anyhow!("malformed header line {h:?}"))?;
        let name = name.trim().to_ascii_lowercase();
        if name == "content-length" {
            len = Some(value.trim().parse().context("bad content-length")?);
        } else if name == "transfer-encoding" {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = next_line(&mut r, "chunked body")?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .with_context(|| format!("bad chunk size {size_line:?}"))?;
            if size == 0 {
                // Trailer fields, up to the blank line.
                while !next_line(&mut r, "chunked body's trailer")?.is_empty() {}
                break;
            }
            let at = body.len();
            body.resize(at + size, 0);
            r.read_exact(&mut body[at..])
                .with_context(|| format!("connection ended in a chunk of {size} bytes"))?;
            if !next_line(&mut r, "chunked body")?.is_empty() {
                bail!("a chunk is not followed by CRLF");
            }
        }
    } else if let Some(len) = len {
        body.resize(len, 0);
        let mut read = 0;
        while read < len {
            match r.read(&mut body[read..]) {
                Ok(0) => bail!("connection ended after {read} of {len} body bytes"),
                Ok(n) => read += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(e).context(format!("reading the body ({read} of {len} bytes)"))
                }
            }
        }
    }
    Ok((request_line, body))
}

/// The bodies a [`recording_server`] received so far.
pub fn bodies(got: &std::sync::Mutex<Vec<Received>>) -> Vec<String> {
    got.lock()
        .map(|g| g.iter().map(|r| r.body.clone()).collect())
        .unwrap_or_default()
}

/// A webhook receiver on a loopback port: answers 200 to every request and keeps what it got.
pub fn webhook_sink() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    recording_server(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

/// Now, in whole Unix seconds (from the model's system clock).
pub fn now_secs() -> u64 {
    use model::Clock;
    (model::SystemClock.now_ms() / 1000).unsigned_abs()
}

/// A peer process of a test (a DNS or gRPC server), killed on drop.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_tcp(port: u16, child: &mut Child, what: &str) {
    let up = wait_for(Duration::from_secs(10), || {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited: {st}");
        }
        TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()
    });
    assert!(up.is_some(), "{what} did not listen on {port}");
}

/// Debian's nsd serving `tests/fixtures/dns/example.test.zone` on 127.0.0.1 (UDP and TCP) in
/// `dir`; `.ci/run` installs nsd.
pub fn nsd(dir: &Path) -> (u16, Peer) {
    assert!(
        Path::new("/usr/sbin/nsd").exists(),
        "/usr/sbin/nsd is missing: .ci/run installs nsd"
    );
    std::fs::copy(
        repo_root().join("tests/fixtures/dns/example.test.zone"),
        dir.join("example.test.zone"),
    )
    .expect("copy the zone");
    let port = free_port();
    let d = dir.display();
    let conf = dir.join("nsd.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  username: \"\"\n  \
             chroot: \"\"\n  zonesdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  database: \"\"\n  \
             pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  logfile: \"{d}/nsd.log\"\n  \
             server-count: 1\n  verbosity: 0\nremote-control:\n  control-enable: no\n\
             zone:\n  name: example.test\n  zonefile: example.test.zone\n"
        ),
    )
    .expect("write nsd.conf");
    let mut child = Command::new("/usr/sbin/nsd")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn nsd");
    wait_tcp(port, &mut child, "nsd");
    (port, Peer(child))
}

/// The gRPC health server of `tests/fixtures/grpc_health_server.py` on 127.0.0.1 (plain):
/// `""` and `up` SERVING, `down` NOT_SERVING, others unknown. `.ci/run` installs grpcio.
pub fn grpc_health_server() -> (u16, Peer) {
    let port = free_port();
    let mut child = Command::new("python3")
        .arg(repo_root().join("tests/fixtures/grpc_health_server.py"))
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python3");
    wait_tcp(port, &mut child, "the gRPC health server");
    (port, Peer(child))
}
