//! Side by side with blackbox_exporter: Debian's `prometheus-blackbox-exporter` (0.23) runs with
//! the test's modules, probes the same target as alertd, and the two results are compared
//! series by series (names, labels, values; durations aside). Also the real servers these tests
//! probe: `openssl s_server`, aiosmtpd, sshd, nsd.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use collector::ProbeReport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A child process killed (and reaped) when dropped.
pub struct Proc(pub Child, pub &'static str);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback TCP port free right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until something accepts TCP connections on `port`; panics with the
/// process's name otherwise.
pub async fn wait_listening(port: u16, p: &mut Proc) {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(st)) = p.0.try_wait() {
            panic!("{} exited: {st}", p.1);
        }
        assert!(Instant::now() < until, "{} does not listen on {port}", p.1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running blackbox_exporter.
pub struct Blackbox {
    port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

/// Where Debian installs blackbox_exporter.
pub const BLACKBOX: &str = "/usr/bin/prometheus-blackbox-exporter";

impl Blackbox {
    /// Starts blackbox_exporter with `modules` (the YAML under `modules:`, indented by 2).
    pub async fn start(modules: &str) -> Blackbox {
        assert!(
            Path::new(BLACKBOX).exists(),
            "{BLACKBOX} is missing: .ci/run installs prometheus-blackbox-exporter"
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("blackbox.yml");
        std::fs::write(&cfg, format!("modules:\n{modules}")).unwrap();
        let port = free_port();
        let child = Command::new(BLACKBOX)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut p = Proc(child, "blackbox_exporter");
        wait_listening(port, &mut p).await;
        Blackbox {
            port,
            _proc: p,
            _dir: dir,
        }
    }

    /// `/probe?module=..&target=..`: blackbox's series, without their HELP/TYPE lines.
    pub async fn probe(&self, module: &str, target: &str) -> Vec<collector::expfmt::ParsedSample> {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("module", module)
            .append_pair("target", target)
            .finish();
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .unwrap();
        s.write_all(
            format!("GET /probe?{q} HTTP/1.0\r\nHost: localhost\r\nX-Prometheus-Scrape-Timeout-Seconds: 5\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut body = String::new();
        tokio::time::timeout(Duration::from_secs(15), s.read_to_string(&mut body))
            .await
            .expect("blackbox answers")
            .unwrap();
        let (head, body) = body.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200"), "{head}\n{body}");
        collector::expfmt::parse(body).unwrap()
    }
}

/// Series whose values are durations: compared by presence only.
fn is_duration(name: &str) -> bool {
    name == "probe_duration_seconds"
        || name == "probe_dns_lookup_time_seconds"
        || name.ends_with("_duration_seconds")
}

/// Series alertd adds to blackbox's (by name), allowed in `ours` only.
pub const ALERTD_EXTRAS: &[&str] = &["probe_ssl_chain_valid"];

type Key = (String, BTreeMap<String, String>);

/// Compares blackbox's series with alertd's, leaving out alertd's `probe`/`instance` labels and
/// the values of durations. Returns the common series (for further checks).
#[track_caller]
pub fn assert_same(
    bb: &[collector::expfmt::ParsedSample],
    ours: &ProbeReport,
) -> BTreeMap<Key, f64> {
    let theirs: BTreeMap<Key, f64> = bb
        .iter()
        // blackbox's grpc prober writes a 0 expiry when there is no certificate; alertd writes
        // none (0 would read as a certificate that expired in 1970).
        .filter(|s| !(s.name == "probe_ssl_earliest_cert_expiry" && s.value == 0.0))
        .map(|s| {
            let labels = s.labels.iter().cloned().collect();
            (
                (s.name.clone(), labels),
                if is_duration(&s.name) { 0.0 } else { s.value },
            )
        })
        .collect();
    let mine: BTreeMap<Key, f64> = ours
        .series
        .iter()
        .filter_map(|(l, v)| {
            let name = l.get("__name__")?.to_string();
            if ALERTD_EXTRAS.contains(&name.as_str()) {
                return None;
            }
            let labels = l
                .iter()
                .filter(|l| !matches!(l.name.as_str(), "__name__" | "probe" | "instance"))
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let v = if is_duration(&name) { 0.0 } else { *v };
            Some(((name, labels), v))
        })
        .collect();
    let show = |m: &BTreeMap<Key, f64>| {
        m.iter()
            .map(|((n, l), v)| format!("  {n}{l:?} {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        theirs,
        mine,
        "\nblackbox_exporter:\n{}\nalertd:\n{}\nalertd's failure: {:?}",
        show(&theirs),
        show(&mine),
        ours.failure
    );
    theirs
}

/// A self-signed certificate for `localhost` (and 127.0.0.1), written as PEM files.
pub struct Cert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn self_signed(dir: &Path) -> Cert {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "alertd test");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "alertd, tests");
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.self_signed(&key).unwrap();
    let c = Cert {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&c.cert, cert.pem()).unwrap();
    std::fs::write(&c.key, key.serialize_pem()).unwrap();
    c
}

/// `openssl s_server` on a loopback port with `cert` (`extra` adds e.g. `-starttls smtp`).
pub async fn openssl_server(cert: &Cert, extra: &[&str]) -> (u16, Proc) {
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert.cert)
        .arg("-key")
        .arg(&cert.key)
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child, "openssl s_server");
    wait_listening(port, &mut p).await;
    (port, p)
}

/// Runs one alertd probe (its YAML) now, with the system clock.
pub async fn alertd_probe(yaml: &str) -> ProbeReport {
    let p: collector::config::ProbeConfig =
        serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad probe yaml: {e}\n{yaml}"));
    collector::probe_once(
        &p,
        &collector::config::Defaults::default(),
        std::sync::Arc::new(model::SystemClock),
    )
    .await
    .unwrap()
}

/// Debian's sshd on a loopback port, with a fresh host key in a temp dir.
pub async fn sshd(dir: &Path) -> (u16, Proc) {
    assert!(
        Path::new("/usr/sbin/sshd").exists(),
        "/usr/sbin/sshd is missing: .ci/run installs openssh-server"
    );
    let key = dir.join("host_ed25519");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    // sshd's privilege separation directory (made by the package's service, which is not run).
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nUsePAM no\n",
            key.display(),
            dir.join("sshd.pid").display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child, "sshd");
    wait_listening(port, &mut p).await;
    (port, p)
}

/// aiosmtpd (Python) on a loopback port, offering STARTTLS with `cert`.
pub async fn aiosmtpd(cert: &Cert) -> (u16, Proc) {
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--tlscert")
        .arg(&cert.cert)
        .arg("--tlskey")
        .arg(&cert.key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child, "aiosmtpd");
    wait_listening(port, &mut p).await;
    (port, p)
}

/// The test zone served by [`nsd`] (shared with the end-to-end tests).
pub fn zone_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dns/example.test.zone")
}

/// Debian's nsd (authoritative DNS) serving [`zone_file`] on a loopback port, UDP and TCP, on
/// 127.0.0.1 and ::1.
pub async fn nsd(dir: &Path) -> (u16, Proc) {
    assert!(
        Path::new("/usr/sbin/nsd").exists(),
        "/usr/sbin/nsd is missing: .ci/run installs nsd"
    );
    std::fs::copy(zone_file(), dir.join("example.test.zone")).unwrap();
    let port = free_port();
    let d = dir.display();
    let conf = dir.join("nsd.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  ip-address: ::1@{port}\n  port: {port}\n  \
             username: \"\"\n  chroot: \"\"\n  zonesdir: \"{d}\"\n  zonelistfile: \"{d}/zone.list\"\n  \
             database: \"\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  \
             logfile: \"{d}/nsd.log\"\n  server-count: 1\n  verbosity: 0\n  hide-version: yes\n\
             remote-control:\n  control-enable: no\n\
             zone:\n  name: example.test\n  zonefile: example.test.zone\n"
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/nsd")
        .arg("-d")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child, "nsd");
    wait_listening(port, &mut p).await;
    (port, p)
}

/// The gRPC health server script shared with the end-to-end tests (`tests/fixtures/`).
pub fn grpc_health_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/grpc_health_server.py")
}

/// Starts the gRPC health server on a loopback port, with TLS when `cert` is given: `""` and
/// `up` are SERVING, `down` is NOT_SERVING, any other service is unknown (NOT_FOUND).
pub async fn grpc_health_server(cert: Option<&Cert>) -> (u16, Proc) {
    let port = free_port();
    let mut cmd = Command::new("python3");
    cmd.arg(grpc_health_script())
        .arg(format!("127.0.0.1:{port}"));
    if let Some(c) = cert {
        cmd.arg(&c.cert).arg(&c.key);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut p = Proc(
        child,
        "python3 grpc health server (.ci/run installs grpcio-health-checking)",
    );
    wait_listening(port, &mut p).await;
    (port, p)
}
