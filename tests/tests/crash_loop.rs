//! Crash safety under load: alertd probes a dead service (its rule has a `for:` longer than a
//! life between crashes), sends notifications to a webhook, and a client keeps posting alerts,
//! silences and acks while alertd is `kill -9`ed 20 times at random moments and restarted in
//! the same directory. Every time: the store opens and alertd gets ready; every write answered
//! 2xx (silence, posted alert, ack) is there; at the end the `for:` alert has fired (its progress
//! survived the crashes) and no notification was repeated beyond the at-least-once window (at
//! most one duplicate per crash).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::{free_port, http_with, start, wait_for, webhook_sink, Signal};

const KILLS: usize = 20;

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// What the client got a 2xx for.
#[derive(Default)]
struct Acknowledged {
    silences: BTreeSet<String>,
    alerts: BTreeSet<String>,
    acks: BTreeSet<String>,
}

fn json(port: u16, method: &str, path: &str, body: &str) -> Option<serde_json::Value> {
    let r = http_with(
        port,
        method,
        path,
        &[("content-type", "application/json")],
        body,
    )
    .ok()?;
    if !(200..300).contains(&r.status) {
        return None;
    }
    Some(serde_json::from_str(&r.body).unwrap_or(serde_json::Value::Null))
}

/// Posts an alert, a silence and an ack for it, recording what was answered with 2xx.
fn write_load(port: u16, n: u64, got: &Mutex<Acknowledged>) {
    let name = format!("Posted{n}");
    let alert = format!(r#"[{{"labels":{{"alertname":"{name}","source":"crash-loop"}}}}]"#);
    if json(port, "POST", "/api/v2/alerts", &alert).is_some() {
        got.lock().unwrap().alerts.insert(name.clone());
    } else {
        return;
    }
    let silence = format!(
        r#"{{"matchers":[{{"name":"silenced","value":"s{n}","isRegex":false,"isEqual":true}}],
            "startsAt":"2026-01-01T00:00:00Z","endsAt":"2099-01-01T00:00:00Z",
            "createdBy":"crash-loop","comment":"load {n}"}}"#
    );
    if let Some(v) = json(port, "POST", "/api/v2/silences", &silence) {
        if let Some(id) = v["silenceID"].as_str() {
            got.lock().unwrap().silences.insert(id.to_string());
        }
    }
    let ack =
        format!(r#"{{"matchers":["alertname={name}"],"author":"crash-loop","comment":"mine"}}"#);
    if json(port, "POST", "/api/alertd/v1/acks", &ack).is_some() {
        got.lock().unwrap().acks.insert(name);
    }
}

/// Checks that everything acknowledged before the crash is there after the restart.
fn check_durable(port: u16, got: &Acknowledged, life: usize) {
    let silences = json(port, "GET", "/api/v2/silences", "").expect("GET silences");
    let have: BTreeSet<String> = silences
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = got.silences.difference(&have).collect();
    assert!(lost.is_empty(), "life {life}: silences lost: {lost:?}");

    let alerts = json(port, "GET", "/api/v2/alerts", "").expect("GET alerts");
    let have: BTreeSet<String> = alerts
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = got.alerts.difference(&have).collect();
    assert!(lost.is_empty(), "life {life}: posted alerts lost: {lost:?}");

    let acks = json(port, "GET", "/api/alertd/v1/acks", "").expect("GET acks");
    let have: BTreeSet<String> = acks
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect();
    let lost: Vec<&String> = got.acks.difference(&have).collect();
    assert!(lost.is_empty(), "life {life}: acks lost: {lost:?}");
}

#[test]
fn twenty_kill_9s_under_load_lose_nothing_acknowledged() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            use model::Clock;
            model::SystemClock.now_ms().unsigned_abs()
        });
    eprintln!("crash loop seed {seed} (replay with CRASH_SEED={seed})");
    let mut rng = Lcg(seed);

    let (hook, deliveries) = webhook_sink();
    let rules_dir = tempfile::tempdir().unwrap();
    let rules = rules_dir.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: crash\n    interval: 1s\n    rules:\n      - alert: ServiceDown\n        \
         expr: probe_success{probe=\"dead\"} == 0\n        for: 12s\n",
    )
    .unwrap();
    let port = free_port();
    let config = format!(
        "api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: data, checkpoint_interval: 1s }}
global: {{ evaluation_interval: 1s }}
probes:
  - name: dead
    http: {{ url: 'http://127.0.0.1:1/' }}
    interval: 1s
    timeout: 1s
rule_files: [{rules:?}]
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/' }}]
"
    );
    let mut d = start(port, &config, &[]).unwrap();
    let got = Arc::new(Mutex::new(Acknowledged::default()));
    let started = Instant::now();
    let mut n = 0u64;
    for life in 0..KILLS {
        let ready = wait_for(Duration::from_secs(30), || {
            d.http("GET", "/-/ready")
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| ())
        });
        assert!(ready.is_some(), "life {life}: not ready\n{}", d.log());
        check_durable(port, &got.lock().unwrap(), life);

        // Load while the clock runs towards a random kill (0.3–1.8 s into this life).
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, got) = (stop.clone(), got.clone());
            let first = n;
            std::thread::spawn(move || {
                let mut i = first;
                while !stop.load(Ordering::SeqCst) {
                    write_load(port, i, &got);
                    i += 1;
                }
                i
            })
        };
        std::thread::sleep(Duration::from_millis(300 + rng.next(1500)));
        d.signal(Signal::SIGKILL);
        stop.store(true, Ordering::SeqCst);
        n = writer.join().unwrap();
        d.respawn(&[]);
    }
    let ready = wait_for(Duration::from_secs(30), || {
        d.http("GET", "/-/ready")
            .ok()
            .filter(|r| r.status == 200)
            .map(|_| ())
    });
    assert!(
        ready.is_some(),
        "not ready after the last crash\n{}",
        d.log()
    );
    check_durable(port, &got.lock().unwrap(), KILLS);
    {
        let g = got.lock().unwrap();
        assert!(
            g.silences.len() > KILLS && g.alerts.len() > KILLS && g.acks.len() > KILLS,
            "too little load to mean anything: {} silences, {} alerts, {} acks",
            g.silences.len(),
            g.alerts.len(),
            g.acks.len()
        );
        eprintln!(
            "{} silences, {} alerts, {} acks written across {KILLS} crashes in {:?}",
            g.silences.len(),
            g.alerts.len(),
            g.acks.len(),
            started.elapsed()
        );
    }

    // The `for: 12s` alert fires although no life lasted 12 s: its progress was kept.
    let fired = wait_for(Duration::from_secs(40), || {
        e2e::bodies(&deliveries)
            .iter()
            .any(|b| b.contains("\"ServiceDown\"") && b.contains("\"firing\""))
            .then_some(())
    });
    if fired.is_none() {
        let rules = d
            .http("GET", "/api/v1/alerts")
            .map(|r| r.body)
            .unwrap_or_default();
        let am = d
            .http("GET", "/api/v2/alerts?filter=alertname%3DServiceDown")
            .map(|r| r.body)
            .unwrap_or_default();
        let n = e2e::bodies(&deliveries).len();
        panic!("ServiceDown never notified ({n} deliveries)\nrules: {rules}\nalerts: {am}");
    }

    // At-least-once, never more than one duplicate per crash: count firing notifications per
    // group (group_by alertname, repeat_interval 1h, so each group is notified once).
    std::thread::sleep(Duration::from_secs(2));
    let mut per_group: BTreeMap<String, usize> = BTreeMap::new();
    for b in e2e::bodies(&deliveries) {
        let v: serde_json::Value = serde_json::from_str(&b).unwrap();
        if v["status"] == "firing" {
            let g = v["groupLabels"]["alertname"]
                .as_str()
                .unwrap_or("")
                .to_string();
            *per_group.entry(g).or_default() += 1;
        }
    }
    let duplicates: usize = per_group.values().map(|c| c - 1).sum();
    eprintln!(
        "{} groups notified, {duplicates} duplicate notifications",
        per_group.len()
    );
    assert!(
        duplicates <= KILLS,
        "{duplicates} duplicates for {KILLS} crashes: {per_group:?}"
    );
    assert!(
        per_group.values().all(|c| *c <= 2),
        "a group was notified more than twice: {per_group:?}"
    );

    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{}", d.log());
}
