//! Rule groups with the same interval evaluate at different instants, each at an offset
//! derived from its file and name: checked against Debian's Prometheus 2.42, whose recorded
//! samples carry the evaluation times of their group.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evaluator::manager::group_offset_ms;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.0 GET on localhost: the status line's code and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

#[test]
fn offsets_equal_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("offsets.rules.yml");
    let names = ["node", "probes", "heartbeats", "a-much-longer-group-name"];
    let mut text = String::from("groups:\n");
    for (i, n) in names.iter().enumerate() {
        text.push_str(&format!(
            "  - name: {n}\n    interval: 1s\n    rules:\n      - record: r{i}\n        expr: vector(1)\n"
        ));
    }
    std::fs::write(&rules, text).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  evaluation_interval: 1s\nrule_files:\n  - {}\n",
            rules.display()
        ),
    )
    .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("prometheus is required for this test (apt-get install -y prometheus): {e}")
        });
    let _guard = Killed(child);
    let file = rules.to_string_lossy();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut pending: Vec<usize> = (0..names.len()).collect();
    while !pending.is_empty() {
        assert!(
            Instant::now() < deadline,
            "Prometheus recorded no series of groups {pending:?} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(500));
        pending.retain(|&i| {
            let Some((200, body)) = get(port, &format!("/api/v1/query?query=r{i}%5B1m%5D")) else {
                return true;
            };
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            let Some(series) = v["data"]["result"].as_array().and_then(|r| r.first()) else {
                return true;
            };
            let times: Vec<i64> = series["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64)
                .collect();
            if times.len() < 2 {
                return true;
            }
            let want = group_offset_ms(&file, names[i], 1000);
            for t in &times {
                assert_eq!(
                    t.rem_euclid(1000),
                    want,
                    "group {}: Prometheus evaluated at {times:?}",
                    names[i]
                );
            }
            false
        });
    }
    let offsets: Vec<i64> = names
        .iter()
        .map(|n| group_offset_ms(&file, n, 1000))
        .collect();
    assert!(
        offsets.windows(2).any(|w| w[0] != w[1]),
        "groups of the same interval start apart: {offsets:?}"
    );
}
