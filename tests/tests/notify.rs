//! End-to-end: the real `alertd` probes a dead target, its rule fires, and the notifier delivers
//! Alertmanager's webhook (version 4) to a real HTTP sink on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use e2e::{free_port, start, wait_for, Signal};

/// A webhook receiver: answers 200 to every POST and keeps the bodies.
fn sink() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let keep = bodies.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_ok() {
                keep.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (port, bodies)
}

#[test]
fn a_firing_rule_is_delivered_to_a_webhook_as_alertmanager_does() {
    let port = free_port();
    let (hook, bodies) = sink();
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: up\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        \
         expr: probe_success == 0\n        labels: { severity: critical }\n        \
         annotations: { summary: '{{ $labels.probe }} is down' }\n",
    )
    .unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?} }}
probes:
  - name: dead
    http: {{ url: 'http://127.0.0.1:1/' }}
    interval: 1s
    timeout: 1s
rule_files: [{rules:?}]
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}]
",
        data = work.path().join("data"),
    );
    let mut d = start(port, &config, &[]).unwrap();
    let body = wait_for(Duration::from_secs(30), || {
        bodies.lock().unwrap().first().cloned()
    });
    let body = body.unwrap_or_else(|| panic!("nothing delivered:\n{}", d.log()));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], "4", "{body}");
    assert_eq!(v["status"], "firing", "{body}");
    assert_eq!(v["receiver"], "hook", "{body}");
    assert_eq!(v["groupLabels"]["alertname"], "ProbeDown", "{body}");
    let a = &v["alerts"][0];
    assert_eq!(a["labels"]["probe"], "dead", "{body}");
    assert_eq!(a["labels"]["severity"], "critical", "{body}");
    assert_eq!(a["annotations"]["summary"], "dead is down", "{body}");
    assert_eq!(a["status"], "firing", "{body}");

    // A change of the routing sections needs a restart, and says so; the old ones keep running.
    d.write_config(&config.replace("group_wait: 1s", "group_wait: 2s"));
    let r = d.http("POST", "/-/reload").unwrap();
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.body.contains("restart"), "{}", r.body);

    d.signal(Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(15)).unwrap().success(),
        "{}",
        d.log()
    );
}
