//! A full data directory: alertd's store sits on a small tmpfs (mounted by the test; tests run
//! as root, as CI does) that the test fills to the last byte while alertd runs. alertd must
//! degrade (keep probing, evaluating and notifying from memory, refuse writes it cannot make
//! durable with a clear error), alert (`AlertdStoreFailing` delivered to the webhook), and
//! recover when space comes back (the alert resolves, writes work, everything from the outage
//! reaches the disk) without corruption (it restarts on the same directory with its data).

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use e2e::{free_port, http_with, metric_value, start, wait_for, Signal};

/// A tmpfs of `size` on a temporary directory, unmounted on drop.
struct SmallFs(tempfile::TempDir);

impl SmallFs {
    fn mount(size: &str) -> SmallFs {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "this test fills a small tmpfs and needs root to mount it (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallFs(dir)
    }

    /// Writes a filler file until the file system has no byte left.
    fn fill(&self) -> PathBuf {
        let path = self.0.path().join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0x5au8; 16 << 10];
        loop {
            match f.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        // Whatever the last partial block left.
        for _ in 0..4096 {
            if f.write_all(&[0]).is_err() {
                break;
            }
        }
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.0.path()).status();
    }
}

fn post_silence(port: u16, alertname: &str) -> e2e::Response {
    post_silence_with(port, alertname, "maintenance")
}

fn post_silence_with(port: u16, alertname: &str, comment: &str) -> e2e::Response {
    let body = format!(
        r#"{{"matchers":[{{"name":"alertname","value":"{alertname}","isRegex":false}}],
            "startsAt":"2020-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z",
            "createdBy":"disk-full test","comment":"{comment}"}}"#
    );
    http_with(
        port,
        "POST",
        "/api/v2/silences",
        &[("content-type", "application/json")],
        &body,
    )
    .expect("POST /api/v2/silences")
}

/// The webhook bodies about `AlertdStoreFailing` with the given status.
fn store_alerts(
    got: &std::sync::Mutex<Vec<e2e::Received>>,
    status: &str,
) -> Vec<serde_json::Value> {
    e2e::bodies(got)
        .iter()
        .filter_map(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .filter(|v| {
            v["alerts"].as_array().is_some_and(|a| {
                a.iter().any(|a| {
                    a["labels"]["alertname"] == "AlertdStoreFailing" && a["status"] == status
                })
            })
        })
        .collect()
}

fn probe_points(port: u16, from: u64, to: u64) -> usize {
    let r = e2e::http(
        port,
        "GET",
        &format!("/api/v1/query_range?query=probe_success&start={from}&end={to}&step=1"),
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    v["data"]["result"][0]["values"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn a_full_data_directory_degrades_alerts_and_recovers() {
    let fs = SmallFs::mount("24m");
    let data: PathBuf = fs.0.path().join("data");
    let port = free_port();
    let (hook, got) = e2e::webhook_sink();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?}, checkpoint_interval: 2s }}
probes:
  - name: self
    http: {{ url: 'http://127.0.0.1:{port}/-/healthy' }}
    interval: 1s
    timeout: 1s
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}]
"
    );
    let mut d = start(port, &config, &[]).unwrap();
    assert!(
        wait_for(Duration::from_secs(30), || (d
            .http("GET", "/-/ready")
            .ok()?
            .status
            == 200)
            .then_some(()))
        .is_some(),
        "not ready:\n{}",
        d.log()
    );
    let before = post_silence(port, "Before");
    assert_eq!(before.status, 200, "{before:?}");

    // The disk fills up.
    let filler = fs.fill();
    let full_at = e2e::now_secs();

    // alertd notices within a few seconds and says so through its own notifications.
    let fired = wait_for(Duration::from_secs(40), || {
        store_alerts(&got, "firing").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no AlertdStoreFailing delivered:\n{}", d.log()));
    let a = &fired["alerts"][0];
    assert_eq!(a["labels"]["severity"], "critical", "{fired}");
    assert!(
        a["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains(&data.display().to_string()),
        "{fired}"
    );
    assert!(
        a["annotations"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{fired}"
    );
    let m = d.metrics();
    assert_eq!(
        metric_value(&m, "alertd_store_write_failing"),
        Some(1.0),
        "{m}"
    );
    assert!(metric_value(&m, "alertd_store_write_errors_total").unwrap_or(0.0) >= 1.0);

    // Degraded, not down: it serves, a write it cannot make durable gets a clear error and
    // is not half-applied. redb may still fit a few writes into free pages inside its file,
    // which are then durable: silences of 32 KiB go in until one is refused, and every one
    // answered 2xx must be there after the restart.
    assert_eq!(d.http("GET", "/-/healthy").unwrap().status, 200);
    let big = "x".repeat(32 << 10);
    let mut accepted = Vec::new();
    let during = loop {
        let r = post_silence_with(port, &format!("During{}", accepted.len()), &big);
        if r.status != 200 {
            break r;
        }
        accepted.push(format!("\"During{}\"", accepted.len()));
        assert!(
            accepted.len() < 100,
            "a full disk took 100 silences of 32 KiB:\n{}",
            d.log()
        );
    };
    let refused = format!("\"During{}\"", accepted.len());
    assert!(
        (500..600).contains(&during.status),
        "a silence that cannot reach the disk must not be answered 2xx: {during:?}"
    );
    // Alertmanager answers a failed silence write with 500 and a JSON string (its API's
    // shape for internal errors, which amtool prints).
    let err: serde_json::Value = serde_json::from_str(&during.body).expect("JSON error");
    assert!(
        err.as_str()
            .is_some_and(|m| m.contains("No space left on device")),
        "{during:?}"
    );
    let listed = e2e::http(port, "GET", "/api/v2/silences").unwrap().body;
    assert!(!listed.contains(&refused), "{listed}");
    assert!(listed.contains("\"Before\""), "{listed}");
    assert!(
        accepted.iter().all(|a| listed.contains(a.as_str())),
        "{listed}"
    );

    // Probes go on meanwhile (kept in memory).
    std::thread::sleep(Duration::from_secs(4));
    let outage_end = e2e::now_secs();
    assert!(
        probe_points(port, full_at, outage_end) >= 2,
        "probes stopped during the outage:\n{}",
        d.log()
    );

    // Space comes back: the alert resolves, writes work again.
    std::fs::remove_file(&filler).unwrap();
    let resolved = wait_for(Duration::from_secs(40), || {
        store_alerts(&got, "resolved").into_iter().next()
    });
    assert!(
        resolved.is_some(),
        "AlertdStoreFailing not resolved:\n{}",
        d.log()
    );
    assert_eq!(
        metric_value(&d.metrics(), "alertd_store_write_failing"),
        Some(0.0)
    );
    let after = post_silence(port, "After");
    assert_eq!(after.status, 200, "{after:?}");
    assert!(
        d.log().contains("writes reach the disk again"),
        "{}",
        d.log()
    );

    // A clean restart on the same directory: it opens and holds everything, including the
    // samples taken while the disk was full.
    d.signal(Signal::SIGTERM);
    assert!(
        d.wait_exit(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "{}",
        d.log()
    );
    d.respawn(&[]);
    assert!(
        wait_for(Duration::from_secs(30), || (d
            .http("GET", "/-/ready")
            .ok()?
            .status
            == 200)
            .then_some(()))
        .is_some(),
        "not ready after the restart:\n{}",
        d.log()
    );
    let listed = e2e::http(port, "GET", "/api/v2/silences").unwrap().body;
    assert!(
        listed.contains("\"Before\"") && listed.contains("\"After\""),
        "{listed}"
    );
    assert!(!listed.contains(&refused), "{listed}");
    assert!(
        accepted.iter().all(|a| listed.contains(a.as_str())),
        "{listed}"
    );
    assert!(
        probe_points(port, full_at, outage_end) >= 2,
        "the outage's samples did not reach the disk:\n{}",
        d.log()
    );
}
