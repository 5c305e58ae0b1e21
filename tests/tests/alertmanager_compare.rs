//! Side by side with the real thing: Debian's Alertmanager 0.25 (`prometheus-alertmanager`) and
//! alertd run the same notification configuration (loopback ports, temporary directories,
//! `group_wait: 1s`, `group_interval: 1s`), get the same timed alert stream through the
//! Alertmanager API v2, and the notifications their webhook receivers get are compared,
//! normalised (timestamps, URLs and silence ids left out), as the sequence of messages per
//! receiver and group key. The stream covers nested routes with `continue`, `group_by` with
//! several labels, `[]` (inherits) and `'...'`, a legacy `match_re` (its anchored form is in the
//! group key), inhibition, a silence added and expired, resolve and re-fire, `send_resolved:
//! false`, `max_alerts`, and mute/active time intervals. `/api/v2/alerts/groups` (all, and
//! filtered by receiver) is compared while the silence and the inhibition hold.
//!
//! Determinism: the steps are 3 s apart, three group intervals, and within a step each group is
//! changed by one request at most (an inhibiting alert arrives a step before the alerts it
//! mutes change), so each step changes a group at most once and both daemons send one message
//! for it, whichever of their ticks picks it up (Alertmanager's dispatcher and inhibitor take
//! posted alerts asynchronously; a tick between two requests touching one group would split
//! the change into two messages on one side only). What is compared is what was sent, not
//! when: Alertmanager's own timing (its 30 s cleanup of empty groups, its timers) decides only
//! whether a re-fire goes out at a group's next tick or after `group_wait`, which does not change
//! the message.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{free_port, start, wait_for, Daemon, Received};
use serde_json::{json, Value};

const ALERTMANAGER: &str = "prometheus-alertmanager";
/// Time between two steps of the stream.
const STEP: Duration = Duration::from_secs(3);

/// The notification sections both daemons run; `SINK` becomes each one's webhook receiver.
const ROUTING: &str = r#"
route:
  receiver: r-default
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: [team="db"]
      receiver: r-db
      continue: true
      group_by: [alertname, cluster, service]
      routes:
        - matchers: [severity="critical"]
          receiver: r-db-pager
          group_by: []
    - match_re: { team: "fr.*" }
      receiver: r-front
      group_by: ['...']
    - matchers: [team="db"]
      receiver: r-all
    - matchers: [alertname="Bulk"]
      receiver: r-max2
    - matchers: [team="muted"]
      receiver: r-default
      mute_time_intervals: [always]
    - matchers: [team="offhours"]
      receiver: r-default
      active_time_intervals: [never]
    - matchers: [team="onhours"]
      receiver: r-quiet
      active_time_intervals: [always]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [cluster]
time_intervals:
  - name: always
    time_intervals: [{ weekdays: ['sunday:saturday'] }]
  - name: never
    time_intervals: [{ years: ['1999'] }]
receivers:
  - name: r-default
    webhook_configs: [{ url: 'SINK/r-default' }]
  - name: r-db
    webhook_configs: [{ url: 'SINK/r-db' }]
  - name: r-db-pager
    webhook_configs: [{ url: 'SINK/r-db-pager' }]
  - name: r-front
    webhook_configs: [{ url: 'SINK/r-front' }]
  - name: r-all
    webhook_configs: [{ url: 'SINK/r-all' }]
  - name: r-max2
    webhook_configs: [{ url: 'SINK/r-max2', max_alerts: 2 }]
  - name: r-quiet
    webhook_configs: [{ url: 'SINK/r-quiet', send_resolved: false }]
"#;

/// One daemon under comparison: where its API listens and what its webhook sink got.
struct Peer {
    name: &'static str,
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    /// Silence ids by the stream's own name for them.
    silences: BTreeMap<&'static str, String>,
}

/// Alertmanager in a temporary directory, killed on drop.
struct Alertmanager {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("am.log")).unwrap_or_default()
    }
}

fn start_alertmanager(port: u16, config: &str) -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("am.yml"), config).unwrap();
    let log = std::fs::File::create(dir.path().join("am.log")).unwrap();
    let child = Command::new(ALERTMANAGER)
        .arg("--config.file=am.yml")
        .arg("--storage.path=data")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No cluster: no gossip port, no waiting for peers before the first notification.
        .arg("--cluster.listen-address=")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start prometheus-alertmanager");
    let am = Alertmanager { child, dir };
    let ready = wait_for(Duration::from_secs(15), || {
        (get(port, "/-/ready").ok()?.0 == 200).then_some(())
    });
    assert!(ready.is_some(), "Alertmanager not ready:\n{}", am.log());
    am
}

/// One HTTP/1.0 request (so that Go answers without chunked encoding); (status, body).
fn request(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    request(port, "GET", path, "")
}

fn now_ms() -> i64 {
    use model::Clock;
    model::SystemClock.now_ms()
}

/// An alert as posted: labels, started at `start`, resolved at `end` when given.
fn alert(labels: &[(&str, &str)], start: i64, end: Option<i64>) -> Value {
    let labels: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut a = json!({
        "labels": labels,
        "annotations": { "summary": format!("{} on {}",
            labels["alertname"].as_str().unwrap_or(""),
            labels.get("instance").and_then(Value::as_str).unwrap_or("-")) },
        "startsAt": model::api::api_time(start),
        "generatorURL": "http://prometheus.invalid/graph",
    });
    if let Some(e) = end {
        a["endsAt"] = json!(model::api::api_time(e));
    }
    a
}

/// One change of the stream.
enum Action {
    /// Post these alerts (labels, resolved or not).
    Alerts(Vec<(Vec<(&'static str, &'static str)>, bool)>),
    /// Add a silence (name, label, value).
    Silence(&'static str, &'static str, &'static str),
    /// Expire the silence of that name.
    Expire(&'static str),
}

fn apply(p: &mut Peer, t0: i64, actions: &[Action]) {
    let now = now_ms();
    for a in actions {
        match a {
            Action::Alerts(v) => {
                let body: Vec<Value> = v
                    .iter()
                    .map(|(l, resolved)| alert(l, t0, resolved.then_some(now)))
                    .collect();
                let (code, text) = request(
                    p.port,
                    "POST",
                    "/api/v2/alerts",
                    &Value::Array(body).to_string(),
                )
                .unwrap();
                assert_eq!(code, 200, "{}: {text}", p.name);
            }
            Action::Silence(name, label, value) => {
                let body = json!({
                    "matchers": [{ "name": label, "value": value, "isRegex": false, "isEqual": true }],
                    "startsAt": model::api::api_time(now),
                    "endsAt": model::api::api_time(now + 3_600_000),
                    "createdBy": "compare", "comment": "side by side",
                });
                let (code, text) =
                    request(p.port, "POST", "/api/v2/silences", &body.to_string()).unwrap();
                assert_eq!(code, 200, "{}: {text}", p.name);
                let v: Value = serde_json::from_str(&text).unwrap();
                p.silences
                    .insert(name, v["silenceID"].as_str().unwrap().to_string());
            }
            Action::Expire(name) => {
                let id = &p.silences[name];
                let (code, text) =
                    request(p.port, "DELETE", &format!("/api/v2/silence/{id}"), "").unwrap();
                assert_eq!(code, 200, "{}: {text}", p.name);
            }
        }
    }
}

/// What is compared of a webhook message: everything but times and URLs.
fn normalise(body: &str) -> Value {
    let mut v: Value = serde_json::from_str(body).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("externalURL");
    for a in o["alerts"].as_array_mut().unwrap() {
        let a = a.as_object_mut().unwrap();
        for k in ["startsAt", "endsAt", "generatorURL"] {
            a.remove(k);
        }
    }
    v
}

/// The messages per (receiver, group key), in the order they arrived.
fn by_group(got: &Mutex<Vec<Received>>) -> BTreeMap<(String, String), Vec<Value>> {
    let mut out: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
    for r in got.lock().unwrap().iter() {
        let v = normalise(&r.body);
        let key = (
            v["receiver"].as_str().unwrap_or("").to_string(),
            v["groupKey"].as_str().unwrap_or("").to_string(),
        );
        out.entry(key).or_default().push(v);
    }
    out
}

/// `/api/v2/alerts/groups` without times and silence ids (counted instead).
fn groups(port: u16, query: &str) -> Value {
    let (code, text) = get(port, &format!("/api/v2/alerts/groups{query}")).unwrap();
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let groups: Vec<Value> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let alerts: Vec<Value> = g["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    json!({
                        "labels": a["labels"],
                        "fingerprint": a["fingerprint"],
                        "receivers": a["receivers"],
                        "state": a["status"]["state"],
                        "inhibitedBy": a["status"]["inhibitedBy"],
                        "silenced": a["status"]["silencedBy"].as_array().map_or(0, Vec::len),
                    })
                })
                .collect();
            json!({ "labels": g["labels"], "receiver": g["receiver"]["name"], "alerts": alerts })
        })
        .collect();
    Value::Array(groups)
}

fn pretty(m: &BTreeMap<(String, String), Vec<Value>>) -> String {
    let mut s = String::new();
    for ((r, k), msgs) in m {
        s.push_str(&format!("{r} {k}\n"));
        for v in msgs {
            s.push_str(&format!("  {v}\n"));
        }
    }
    s
}

#[test]
fn alertd_notifies_as_alertmanager_does_on_the_same_config_and_stream() {
    if e2e::on_path(ALERTMANAGER).is_none() {
        e2e::skip_outside_ci(
            "prometheus-alertmanager is not installed",
            ".ci/run must install the Debian package prometheus-alertmanager",
        );
        return;
    }
    let (am_sink, am_got) = e2e::webhook_sink();
    let (ad_sink, ad_got) = e2e::webhook_sink();
    let am_port = free_port();
    let ad_port = free_port();
    let am = start_alertmanager(
        am_port,
        &ROUTING.replace("SINK", &format!("http://127.0.0.1:{am_sink}")),
    );
    let data = tempfile::tempdir().unwrap();
    let d: Daemon = start(
        ad_port,
        &format!(
            "api: {{ listen: 127.0.0.1:{ad_port} }}\nstorage: {{ path: {:?} }}\n{}",
            data.path().join("data"),
            ROUTING.replace("SINK", &format!("http://127.0.0.1:{ad_sink}"))
        ),
        &[],
    )
    .unwrap();
    let mut peers = [
        Peer {
            name: "alertmanager",
            port: am_port,
            got: am_got,
            silences: BTreeMap::new(),
        },
        Peer {
            name: "alertd",
            port: ad_port,
            got: ad_got,
            silences: BTreeMap::new(),
        },
    ];

    let db = |inst, sev| {
        vec![
            (
                "alertname",
                if sev == "critical" {
                    "DBCrit"
                } else {
                    "DBDown"
                },
            ),
            ("cluster", "c1"),
            ("service", "pg"),
            ("team", "db"),
            ("severity", sev),
            ("instance", inst),
        ]
    };
    let front = |inst| {
        vec![
            ("alertname", "FrontSlow"),
            ("team", "frontend"),
            ("job", "web"),
            ("instance", inst),
        ]
    };
    let bulk = |job, inst| vec![("alertname", "Bulk"), ("job", job), ("instance", inst)];
    let d1 = vec![
        ("alertname", "Other"),
        ("cluster", "c2"),
        ("severity", "warning"),
    ];
    let d2 = vec![
        ("alertname", "Other"),
        ("cluster", "c2"),
        ("severity", "warning"),
        ("instance", "d2"),
    ];
    let one = |name, team| vec![("alertname", name), ("team", team)];
    let firing = |v: Vec<Vec<(&'static str, &'static str)>>| {
        Action::Alerts(v.into_iter().map(|l| (l, false)).collect())
    };
    let resolved = |v: Vec<Vec<(&'static str, &'static str)>>| {
        Action::Alerts(v.into_iter().map(|l| (l, true)).collect())
    };
    let everything = vec![
        db("db1", "warning"),
        db("db2", "warning"),
        db("db3", "warning"),
        front("f1"),
        front("f2"),
        front("f3"),
        bulk("a", "1"),
        bulk("a", "2"),
        bulk("b", "3"),
        bulk("c", "4"),
        bulk("b", "5"),
        d1.clone(),
        d2.clone(),
        one("Muted", "muted"),
        one("Off", "offhours"),
        one("Quiet", "onhours"),
    ];
    let steps: Vec<Vec<Action>> = vec![
        // 0: the first groups.
        vec![firing(vec![
            db("db1", "warning"),
            db("db2", "warning"),
            front("f1"),
            front("f2"),
            bulk("a", "1"),
            bulk("c", "4"),
            bulk("b", "3"),
            bulk("a", "2"),
            bulk("b", "5"),
            d1.clone(),
            d2.clone(),
            one("Muted", "muted"),
            one("Off", "offhours"),
            one("Quiet", "onhours"),
        ])],
        // 1: a critical alert inhibits the warnings of its cluster; silences on f1 (its own
        // group) and d2; Quiet and one Bulk resolve.
        vec![
            firing(vec![db("db0", "critical")]),
            Action::Silence("f1", "instance", "f1"),
            Action::Silence("d2", "instance", "d2"),
            resolved(vec![one("Quiet", "onhours"), bulk("b", "3")]),
        ],
        // 2: db3 joins its group, inhibited: nothing to send; Other/c2's d1 resolves while d2
        // is silenced; the f1 silence expires (f1 was sent before it: nothing to send).
        vec![
            Action::Alerts(vec![(db("db3", "warning"), false), (d1.clone(), true)]),
            Action::Expire("f1"),
        ],
        // 3: the critical one resolves (db1..3 come back, db3 is new); re-fire of d1 and of
        // Quiet (its group emptied in step 1); f3 is new.
        vec![Action::Alerts(vec![
            (db("db0", "critical"), true),
            (d1.clone(), false),
            (one("Quiet", "onhours"), false),
            (front("f3"), false),
        ])],
        // 4: the d2 silence expires: Other/c2 is sent with d2 again.
        vec![Action::Expire("d2")],
        // 5: everything resolves.
        vec![resolved(everything)],
    ];

    let t0 = now_ms();
    let began = Instant::now();
    let mut api: Vec<[Value; 2]> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        let at = STEP * u32::try_from(i).unwrap();
        std::thread::sleep(at.saturating_sub(began.elapsed()));
        // Alternate who hears of a change first.
        let order: [usize; 2] = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for p in order {
            apply(&mut peers[p], t0, step);
        }
        if i == 1 {
            // While the inhibition and the silences hold: the groups API side by side.
            std::thread::sleep(Duration::from_millis(2000));
            for q in ["", "?receiver=r-all", "?receiver=r-db.*&silenced=false"] {
                api.push([groups(am_port, q), groups(ad_port, q)]);
            }
        }
    }
    // The last changes go out within a group interval or two.
    std::thread::sleep(
        (STEP * u32::try_from(steps.len()).unwrap()).saturating_sub(began.elapsed()),
    );

    for [am_groups, ad_groups] in &api {
        assert_eq!(
            ad_groups, am_groups,
            "/api/v2/alerts/groups differs\nalertd:       {ad_groups}\nalertmanager: {am_groups}"
        );
    }

    let am_msgs = by_group(&peers[0].got);
    let ad_msgs = by_group(&peers[1].got);
    let differ = |a: &BTreeMap<_, Vec<Value>>, b: &BTreeMap<_, Vec<Value>>| {
        let mut x = a.clone();
        x.retain(|k, v| b.get(k) != Some(v));
        x
    };
    assert!(
        ad_msgs == am_msgs,
        "notifications differ\n--- alertd only:\n{}--- alertmanager only:\n{}--- alertd log:\n{}",
        pretty(&differ(&ad_msgs, &am_msgs)),
        pretty(&differ(&am_msgs, &ad_msgs)),
        d.log()
    );
    drop(am);

    // The comparison is not vacuous: what Alertmanager sent covers every case.
    let keys: Vec<&(String, String)> = am_msgs.keys().collect();
    let has =
        |recv: &str, key_part: &str| keys.iter().any(|(r, k)| r == recv && k.contains(key_part));
    assert!(
        has(
            "r-db-pager",
            r#"{}/{team="db"}/{severity="critical"}:{alertname="DBCrit", cluster="c1", service="pg"}"#
        ),
        "nested route, group_by: [] inherited:\n{}",
        pretty(&am_msgs)
    );
    assert!(has(
        "r-all",
        r#"{}/{team="db"}:{alertname="DBCrit", cluster="c1"}"#
    ));
    assert!(has(
        "r-front",
        r#"{}/{team=~"^(?:fr.*)$"}:{alertname="FrontSlow""#
    ));
    assert!(!keys
        .iter()
        .any(|(_, k)| k.contains("Muted") || k.contains("Off")));
    let max2 = &am_msgs
        .iter()
        .find(|((r, _), _)| r == "r-max2")
        .expect("r-max2 notified")
        .1[0];
    assert_eq!(max2["truncatedAlerts"], 3, "{max2}");
    assert_eq!(
        max2["commonLabels"],
        json!({"alertname": "Bulk", "job": "a"})
    );
    let quiet = &am_msgs
        .iter()
        .find(|((r, _), _)| r == "r-quiet")
        .expect("r-quiet notified")
        .1;
    assert!(
        quiet.len() == 2 && quiet.iter().all(|m| m["status"] == "firing"),
        "send_resolved: false, fired twice: {quiet:?}"
    );
    let db = &am_msgs[&(
        "r-db".to_string(),
        r#"{}/{team="db"}:{alertname="DBDown", cluster="c1", service="pg"}"#.to_string(),
    )];
    // Fired (db1, db2); no message while inhibited; db3 after the inhibition; resolved.
    assert_eq!(db.len(), 3, "{db:?}");
    assert_eq!(db[1]["alerts"].as_array().unwrap().len(), 3, "{db:?}");
    let other = &am_msgs[&(
        "r-default".to_string(),
        r#"{}:{alertname="Other", cluster="c2"}"#.to_string(),
    )];
    // Fired (d1, d2); d1 resolved (d2 silenced); d1 re-fired; d2's silence expired; resolved.
    let sizes: Vec<usize> = other
        .iter()
        .map(|m| m["alerts"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, [2, 1, 1, 2, 2], "{other:?}");
    assert!(
        api[0][0].as_array().is_some_and(|g| g.len() > 5),
        "groups API compared on too little: {}",
        api[0][0]
    );
}
