//! The receivers and query APIs the peer tests start: Debian's `prometheus` 2.42 and
//! `victoria-metrics` 1.79 on a loopback port in a temporary directory, ready when `start`
//! returns, stopped on drop. Shared by `remote/tests/peers.rs` (remote_write) and
//! `tests/tests/rule_source.rs` (rule groups with a `source:`), included with `#[path]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant};

use model::clock::{Clock, SystemClock};

pub const PROMETHEUS: &str = "/usr/bin/prometheus";
pub const VICTORIA: &str = "/usr/bin/victoria-metrics";

/// `true` when the binary is there; otherwise skips loudly (fails under CI).
pub fn have(bin: &str) -> bool {
    if Path::new(bin).exists() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{bin} is missing: CI installs it (.ci/run)");
    }
    eprintln!("\n\n*** SKIPPED: {bin} is not installed (apt-get install prometheus victoria-metrics) ***\n");
    false
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Prometheus,
    Victoria,
}

/// A receiver process.
pub struct Peer {
    pub kind: Kind,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// A target the peer scrapes every second (`host:port`), if any.
    scrape: Option<String>,
}

impl Peer {
    pub fn start(kind: Kind, dir: &Path, port: u16) -> Peer {
        Self::start_scraping(kind, dir, port, None)
    }

    /// Starts the peer scraping `target` (`host:port`, path `/metrics`) every second.
    pub fn start_scraping(kind: Kind, dir: &Path, port: u16, target: Option<&str>) -> Peer {
        let mut p = Peer {
            kind,
            port,
            dir: dir.to_path_buf(),
            child: None,
            scrape: target.map(str::to_string),
        };
        p.restart();
        p
    }

    /// The scrape configuration both peers read (Prometheus's format).
    fn scrape_yaml(&self) -> String {
        match &self.scrape {
            None => "global: {}\n".into(),
            Some(t) => format!(
                "global: {{ scrape_interval: 1s, scrape_timeout: 1s }}\n\
                 scrape_configs:\n  - job_name: target\n    static_configs: [{{ targets: ['{t}'] }}]\n"
            ),
        }
    }

    /// Starts the process (again, on the same directory and port) and waits until it is ready.
    pub fn restart(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("peer.log"))
            .unwrap();
        let mut cmd = match self.kind {
            Kind::Prometheus => {
                let cfg = self.dir.join("prometheus.yml");
                std::fs::write(&cfg, self.scrape_yaml()).unwrap();
                let mut c = Command::new(PROMETHEUS);
                c.arg(format!("--config.file={}", cfg.display()))
                    .arg(format!(
                        "--storage.tsdb.path={}",
                        self.dir.join("tsdb").display()
                    ))
                    .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
                    .arg("--web.enable-remote-write-receiver");
                c
            }
            Kind::Victoria => {
                let mut c = Command::new(VICTORIA);
                c.arg(format!(
                    "-storageDataPath={}",
                    self.dir.join("vm").display()
                ))
                .arg(format!("-httpListenAddr=127.0.0.1:{}", self.port))
                .arg("-search.latencyOffset=0s")
                .arg("-search.disableCache");
                if self.scrape.is_some() {
                    let cfg = self.dir.join("scrape.yml");
                    std::fs::write(&cfg, self.scrape_yaml()).unwrap();
                    c.arg(format!("-promscrape.config={}", cfg.display()));
                }
                c
            }
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the receiver");
        self.child = Some(child);
        let ready = match self.kind {
            Kind::Prometheus => "/-/ready",
            Kind::Victoria => "/health",
        };
        let url = format!("http://127.0.0.1:{}{ready}", self.port);
        let begin = Instant::now();
        loop {
            if http_get(&url).is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                begin.elapsed() < StdDuration::from_secs(30),
                "{:?} not ready after 30 s; see {}",
                self.kind,
                self.dir.join("peer.log").display()
            );
            std::thread::sleep(StdDuration::from_millis(100));
        }
    }

    /// Stops the process with SIGTERM (victoria-metrics holds the last seconds of ingested
    /// samples in memory: a SIGKILL loses them) and waits for it (SIGKILL after 20 s).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let begin = Instant::now();
            while c.try_wait().ok().flatten().is_none() {
                if begin.elapsed() > StdDuration::from_secs(20) {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(StdDuration::from_millis(50));
            }
        }
    }

    pub fn write_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// The base URL of its Prometheus-compatible query API.
    pub fn query_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every sample of the `rw_*` series the receiver holds, per series (labels as a map),
    /// repeats removed.
    pub fn samples(&self) -> BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> {
        let mut out: BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>> = BTreeMap::new();
        let sel = "%7B__name__%3D~%22rw_.%2B%22%7D";
        match self.kind {
            Kind::Prometheus => {
                // A range selector returns the raw samples.
                let now = SystemClock.now_ms() / 1000 + 60;
                let url = format!(
                    "http://127.0.0.1:{}/api/v1/query?query={sel}%5B1h%5D&time={now}",
                    self.port
                );
                let (code, body) = http_get(&url).expect("query prometheus");
                assert_eq!(code, 200, "{body}");
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                for r in v["data"]["result"].as_array().unwrap() {
                    let labels = json_labels(&r["metric"]);
                    let samples = r["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| {
                            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
                            let v: f64 = p[1].as_str().unwrap().parse().unwrap();
                            (t, v)
                        })
                        .collect();
                    out.insert(labels, samples);
                }
            }
            Kind::Victoria => {
                let _ = http_get(&format!(
                    "http://127.0.0.1:{}/internal/force_flush",
                    self.port
                ));
                let url = format!(
                    "http://127.0.0.1:{}/api/v1/export?match%5B%5D={sel}",
                    self.port
                );
                let (code, body) = http_get(&url).expect("export from victoria-metrics");
                assert_eq!(code, 200, "{body}");
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let labels = json_labels(&v["metric"]);
                    let ts = v["timestamps"].as_array().unwrap();
                    let vs = v["values"].as_array().unwrap();
                    let e = out.entry(labels).or_default();
                    for (t, x) in ts.iter().zip(vs) {
                        e.push((t.as_i64().unwrap(), x.as_f64().unwrap()));
                    }
                }
            }
        }
        for v in out.values_mut() {
            v.sort_by_key(|a| a.0);
            v.dedup();
        }
        out
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn json_labels(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// A plain HTTP/1.1 GET on loopback: (status, body); `None` when the connection fails.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_at(rest.find('/')?);
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(StdDuration::from_secs(30))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((code, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}
