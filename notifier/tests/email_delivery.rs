//! Email delivery with lettre to a real SMTP server on loopback (Python's aiosmtpd, see
//! `support/smtp_sink.py`): STARTTLS required by default, implicit TLS on port 465, AUTH,
//! HTML and plain-text bodies, custom headers, one thread per group.
//!
//! Needs `python3` with `aiosmtpd` (`pip install aiosmtpd`) and `openssl`; the tests fail with a
//! clear message when they are missing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use model::storage::MemStorage;
use model::{Alert, FakeClock, Labels};
#[path = "support/logs.rs"]
mod logs;

use notifier::config::NotifierConfig;
use notifier::{Notifier, NotifierOptions};

const T0: i64 = 1_795_000_000_000;

struct Sink {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_sink(mode: &str, port: u16) -> Sink {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "python3 with aiosmtpd is required for the email tests: pip install aiosmtpd"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(dir.path())
        .arg(port.to_string())
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the SMTP sink");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "READY", "the SMTP sink did not start");
    Sink { child, dir, port }
}

fn messages(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for i in 1.. {
        let p = dir.join(format!("msg{i}.json"));
        let Ok(t) = std::fs::read_to_string(&p) else {
            break;
        };
        out.push(serde_json::from_str(&t).unwrap());
    }
    out
}

fn cfg(sink: &Sink, extra: &str) -> NotifierConfig {
    let pw = sink.dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    NotifierConfig::from_yaml(&format!(
        r#"
global:
  external_url: 'http://alertd:9797'
  smtp_from: 'alertd@example.org'
  smtp_smarthost: '127.0.0.1:{port}'
  smtp_hello: alertd.test
route: {{ receiver: mail, group_by: [alertname], group_wait: 0s, group_interval: 1m, repeat_interval: 1h }}
receivers:
  - name: mail
    email_configs:
      - to: 'oncall@example.org, lead@example.org'
        auth_username: alertd
        auth_password_file: '{pw}'
        send_resolved: true
        tls_config: {{ ca_file: '{ca}', server_name: localhost }}
        headers: {{ X-Team: storage }}
        {extra}
"#,
        port = sink.port,
        pw = pw.display(),
        ca = sink.dir.path().join("ca.pem").display(),
    ))
    .unwrap()
}

fn alert(end: Option<i64>) -> Alert {
    Alert {
        labels: Labels::from_pairs([
            ("alertname", "DiskFull"),
            ("instance", "db1"),
            ("severity", "warning"),
        ]),
        annotations: Labels::from_pairs([("summary", "Disk 95% full")]),
        starts_at: T0,
        ends_at: end,
        generator_url: "http://alertd/graph".into(),
    }
}

fn notifier(c: &NotifierConfig, clock: &FakeClock) -> Arc<Notifier> {
    Arc::new(
        Notifier::new(
            c,
            NotifierOptions::default(),
            Arc::new(MemStorage::new()),
            Arc::new(clock.clone()),
        )
        .unwrap(),
    )
}

fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .map(|l| l[name.len() + 1..].trim())
}

#[tokio::test]
async fn starttls_auth_bodies_headers_and_threading() {
    let sink = start_sink("starttls", free_port());
    let clock = FakeClock::new(T0);
    let n = notifier(&cfg(&sink, ""), &clock);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.delivered, 1, "{:?}", n.history(None).unwrap());
    clock.set_ms(T0 + 120_000);
    n.ingest(vec![alert(Some(T0 + 120_000))]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    let msgs = messages(sink.dir.path());
    assert_eq!(msgs.len(), 2);
    let m = &msgs[0];
    assert_eq!(m["from"], "alertd@example.org");
    assert_eq!(
        m["to"],
        serde_json::json!(["oncall@example.org", "lead@example.org"])
    );
    assert_eq!(m["login"], "alertd");
    assert_eq!(m["starttls"], true);
    let data = m["data"].as_str().unwrap();
    assert_eq!(
        header(data, "Subject"),
        Some("[FIRING:1] DiskFull (db1 warning)")
    );
    assert_eq!(header(data, "X-Team"), Some("storage"));
    assert!(data.contains("multipart/alternative"));
    assert!(data.contains("text/plain") && data.contains("text/html"));
    assert!(data.contains("alertname = DiskFull"), "{data}");
    let d2 = msgs[1]["data"].as_str().unwrap();
    assert_eq!(
        header(d2, "Subject"),
        Some("[RESOLVED] DiskFull (db1 warning)")
    );
    // One thread per group.
    assert!(header(data, "In-Reply-To").is_some());
    assert_eq!(header(data, "In-Reply-To"), header(d2, "In-Reply-To"));
    assert_eq!(header(data, "References"), header(d2, "References"));
}

#[tokio::test]
async fn wrong_password_and_missing_starttls_fail_clearly() {
    let sink = start_sink("starttls", free_port());
    let clock = FakeClock::new(T0);
    let c = cfg(&sink, "auth_password: wrong");
    let c = NotifierConfig {
        receivers: {
            let mut r = c.receivers.clone();
            r[0].email_configs[0].auth_password_file = None;
            r
        },
        ..c
    };
    let n = notifier(&c, &clock);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    let (logs, guard) = logs::capture();
    let r = n.deliver_due().await.unwrap();
    drop(guard);
    assert_eq!(r.failed, 1, "authentication failure is permanent");
    let h = n.history(None).unwrap();
    assert!(h[0].error.as_deref().unwrap().contains("smtp"), "{h:?}");
    // Logged at WARN with the SMTP server's reply, never the password.
    let text = logs.text();
    for want in [" WARN ", "integration=email[0]", "attempt=1", "smtp", "535"] {
        assert!(text.contains(want), "{want:?} not in {text}");
    }
    assert!(
        !text.contains("wrong"),
        "the password reached the log: {text}"
    );
    assert!(messages(sink.dir.path()).is_empty());

    // A server without STARTTLS: refused, since TLS is required by default.
    let plain = start_sink("plain", free_port());
    let n = notifier(&cfg(&plain, ""), &clock);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.delivered, 0);
    assert!(messages(plain.dir.path()).is_empty());
    // With require_tls: false it goes through in clear text.
    let n = notifier(&cfg(&plain, "require_tls: false"), &clock);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 1);
    assert_eq!(messages(plain.dir.path()).len(), 1);
}

#[tokio::test]
async fn implicit_tls_on_port_465() {
    // Alertmanager uses implicit TLS when the smarthost port is 465. Binding it needs root.
    if std::net::TcpListener::bind("127.0.0.1:465").is_err() {
        panic!("this test needs to bind 127.0.0.1:465 (run as root, port free)");
    }
    let sink = start_sink("implicit", 465);
    let clock = FakeClock::new(T0);
    let n = notifier(&cfg(&sink, ""), &clock);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.delivered, 1, "{:?}", n.history(None).unwrap());
    assert_eq!(messages(sink.dir.path())[0]["login"], "alertd");
}

#[tokio::test]
async fn lettre_and_reqwest_share_one_rustls_provider() {
    // One process, both TLS clients: lettre (STARTTLS) and reqwest (HTTPS) complete real
    // handshakes; rustls must not panic over a missing or ambiguous crypto provider.
    let sink = start_sink("starttls", free_port());
    let web = start_sink("https", free_port());
    let clock = FakeClock::new(T0);
    let mut c = cfg(&sink, "");
    let extra = NotifierConfig::from_yaml(&format!(
        r#"
route: {{ receiver: mail }}
receivers:
  - name: https
    webhook_configs:
      - url: 'https://localhost:{port}/hook'
        http_config: {{ tls_config: {{ ca_file: '{ca}' }} }}
"#,
        port = web.port,
        ca = web.dir.path().join("ca.pem").display(),
    ))
    .unwrap();
    c.receivers.extend(extra.receivers);
    let n = notifier(&c, &clock);
    let mail = n.test_receiver("mail").await.unwrap();
    assert!(mail[0].1.is_ok(), "{:?}", mail[0].1);
    let https = n.test_receiver("https").await.unwrap();
    assert!(https[0].1.is_ok(), "{:?}", https[0].1);
    assert_eq!(messages(sink.dir.path()).len(), 1);
    let hook = &messages(web.dir.path())[0];
    assert!(hook["data"]
        .as_str()
        .unwrap()
        .contains("AlertdTestNotification"));
}

#[tokio::test]
async fn mail_queued_while_the_server_is_down_goes_out_when_it_is_back() {
    let port = free_port();
    let mut first = start_sink("plain", port);
    let c = cfg(&first, "require_tls: false");
    // The SMTP server goes down.
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let clock = FakeClock::new(T0);
    let n = notifier(&c, &clock);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!((r.delivered, r.failed, r.retrying), (0, 0, 1), "{r:?}");
    let h = n.history(None).unwrap();
    assert!(h[0].error.is_some(), "{h:?}");
    // Still down at the next attempts: kept, not dropped.
    // (The alert keeps firing: its source sends it again, as the evaluator does.)
    for minute in 1..=3 {
        clock.set_ms(T0 + minute * 60_000);
        n.ingest(vec![alert(None)]).unwrap();
        n.tick().unwrap();
        let r = n.deliver_due().await.unwrap();
        assert_eq!((r.delivered, r.failed), (0, 0), "{r:?}");
    }
    // Back on the same address: the queued message goes out, once.
    let back = start_sink("plain", port);
    clock.set_ms(T0 + 10 * 60_000);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    let r = n.deliver_due().await.unwrap();
    assert_eq!(r.delivered, 1, "{r:?} {:?}", n.history(None).unwrap());
    clock.set_ms(T0 + 11 * 60_000);
    n.ingest(vec![alert(None)]).unwrap();
    n.tick().unwrap();
    assert_eq!(n.deliver_due().await.unwrap().delivered, 0);
    let msgs = messages(back.dir.path());
    assert_eq!(msgs.len(), 1);
    let data = msgs[0]["data"].as_str().unwrap();
    assert_eq!(
        header(data, "Subject"),
        Some("[FIRING:1] DiskFull (db1 warning)")
    );
}
