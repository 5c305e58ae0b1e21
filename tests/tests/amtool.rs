//! End-to-end: Debian's `amtool` (0.25, package prometheus-alertmanager) and Prometheus 2.42
//! against the real `alertd` binary's Alertmanager API v2.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{free_port, minimal_config, start, wait_for, webhook_sink};

/// Runs amtool against alertd on `port`; returns (exit code, stdout, stderr).
fn amtool(port: u16, args: &[&str]) -> (i32, String, String) {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url=http://127.0.0.1:{port}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run amtool (package prometheus-alertmanager)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(port: u16, args: &[&str]) -> String {
    let (code, out, err) = amtool(port, args);
    assert_eq!(code, 0, "amtool {args:?} failed: {out}{err}");
    out
}

#[test]
fn amtool_alerts_and_silences_work_against_alertd() {
    let port = free_port();
    let d = start(port, &minimal_config(port, ""), &[]).unwrap();

    ok(
        port,
        &[
            "alert",
            "add",
            "alertname=Y",
            "instance=i2",
            "--annotation=summary=hi",
        ],
    );
    let table = ok(port, &["alert", "query"]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        table.starts_with("Alertname")
            && row.starts_with("Y ")
            && row.contains("hi")
            && row.contains("active"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(port, &["-o", "json", "alert", "query", "alertname=Y"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    assert_eq!(json[0]["labels"]["instance"], "i2");
    assert_eq!(json[0]["status"]["state"], "active");
    assert_eq!(json[0]["receivers"][0]["name"], "log");

    // amtool requires a comment by default (its own check, before any request).
    let (code, _, err) = amtool(port, &["silence", "add", "alertname=Y", "--duration=1h"]);
    assert_ne!(code, 0);
    assert!(err.contains("comment required"), "{err}");

    let id = ok(
        port,
        &[
            "silence",
            "add",
            "alertname=Y",
            "--comment=test",
            "--duration=1h",
        ],
    );
    let id = id.trim().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id:?}");
    let table = ok(port, &["silence", "query"]);
    assert!(
        table.contains(&id) && table.contains("alertname=\"Y\"") && table.contains("test"),
        "{table}"
    );
    assert_eq!(ok(port, &["silence", "query", "-q"]).trim(), id);
    let exported = ok(port, &["-o", "json", "silence", "query", "alertname=Y"]);
    let json: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(json[0]["id"], id.as_str());
    assert_eq!(json[0]["status"]["state"], "active");
    assert_eq!(json[0]["matchers"][0]["name"], "alertname");
    assert!(ok(port, &["silence", "query", "alertname=Nope", "-q"])
        .trim()
        .is_empty());

    // The silence mutes the alert: it leaves the default (active) list.
    let silenced = ok(port, &["alert", "query", "--silenced"]);
    assert!(silenced.contains("suppressed"), "{silenced}");
    assert!(!ok(port, &["alert", "query"]).contains("Y "));

    // A regex silence with an author.
    let id2 = ok(
        port,
        &[
            "silence",
            "add",
            "alertname=~Y|Z",
            "instance!=i9",
            "--comment=regex",
            "--author=bench",
            "--duration=10m",
        ],
    );
    let table = ok(port, &["silence", "query"]);
    assert!(
        table.contains(id2.trim())
            && table.contains("alertname=~\"Y|Z\"")
            && table.contains("bench"),
        "{table}"
    );

    // Expire both; they show only with --expired.
    ok(port, &["silence", "expire", &id, id2.trim()]);
    assert!(ok(port, &["silence", "query", "-q"]).trim().is_empty());
    let expired = ok(port, &["silence", "query", "--expired", "-q"]);
    assert!(
        expired.contains(&id) && expired.contains(id2.trim()),
        "{expired}"
    );
    // Expiring twice succeeds, as with Alertmanager 0.25; an unknown id is an error.
    ok(port, &["silence", "expire", &id]);
    let (code, _, err) = amtool(
        port,
        &["silence", "expire", "d3b46d1e-0000-4000-8000-000000000000"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("404"), "{err}");

    // Import the exported (now expired) silence: alertd re-creates it under a new id.
    let file = d.dir.path().join("silences.json");
    std::fs::write(&file, &exported).unwrap();
    ok(port, &["silence", "import", file.to_str().unwrap()]);
    let now = ok(port, &["silence", "query", "-q"]);
    let ids: Vec<&str> = now.lines().collect();
    assert_eq!(ids.len(), 1, "{now}");
    assert_ne!(ids[0], id);
    let json: serde_json::Value =
        serde_json::from_str(&ok(port, &["-o", "json", "silence", "query"])).unwrap();
    assert_eq!(json[0]["comment"], "test");
    assert!(!json[0]["createdBy"].as_str().unwrap().is_empty());

    // The status page amtool reads first; `config show` prints the Alertmanager sections.
    let cfg = ok(port, &["config", "show"]);
    assert!(
        cfg.contains("receiver: log") && cfg.contains("resolve_timeout: 5m"),
        "{cfg}"
    );
    assert_eq!(
        ok(port, &["config", "routes", "test", "alertname=Y"]).trim(),
        "log"
    );
    assert!(ok(port, &["cluster", "show"]).contains("disabled"));
}

/// A Prometheus server killed on drop.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn prometheus_sends_its_alerts_to_alertd_which_delivers_them() {
    let port = free_port();
    let (hook, bodies) = webhook_sink();
    let extra = format!(
        "route: {{ receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s }}\n\
         receivers: [{{ name: hook, webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}] }}]\n"
    );
    let _d = start(port, &minimal_config(port, &extra), &[]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: g\n    rules:\n      - alert: FromPrometheus\n        expr: vector(1)\n        \
         labels: { severity: page }\n        annotations: { summary: sent by prometheus }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global: {{ evaluation_interval: 1s }}\nrule_files: [rules.yml]\nalerting:\n  \
             alertmanagers:\n    - api_version: v2\n      static_configs: [{{ targets: ['127.0.0.1:{port}'] }}]\n"
        ),
    )
    .unwrap();
    let web = free_port();
    let prom = Command::new("prometheus")
        .arg("--config.file=prometheus.yml")
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .arg("--storage.tsdb.path=data")
        // Alerts evaluated before the Alertmanager target is discovered are dropped; resend
        // every second instead of every minute.
        .arg("--rules.alert.resend-delay=1s")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .expect("run prometheus (package prometheus)");
    let _prom = Prometheus(prom);

    let body = wait_for(Duration::from_secs(30), || {
        e2e::bodies(&bodies)
            .into_iter()
            .find(|b| b.contains("FromPrometheus"))
    })
    .unwrap_or_else(|| {
        panic!(
            "Prometheus's alert did not reach the webhook through alertd\nprometheus:\n{}\nalertd:\n{}",
            std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default(),
            _d.log()
        )
    });
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["version"], "4");
    assert_eq!(v["receiver"], "hook");
    assert_eq!(v["status"], "firing");
    assert_eq!(v["alerts"][0]["labels"]["severity"], "page");
    assert_eq!(
        v["alerts"][0]["annotations"]["summary"],
        "sent by prometheus"
    );
    let gen = v["alerts"][0]["generatorURL"].as_str().unwrap();
    assert!(gen.contains("/graph?g0.expr=vector"), "{gen}");
}
