//! Crash safety under load: alertd probes a dead service (its rule has a `for:` longer than a
//! life between crashes), sends notifications to a webhook, and a client keeps posting alerts,
//! silences and acks while alertd is `kill -9`ed 20 times at random moments and restarted in
//! the same directory. Every time: the store opens and alertd gets ready; every write answered
//! 2xx (silence, posted alert, ack) is there; at the end every notification was delivered (the
//! `for:` alert fired: its progress survived the crashes) and was repeated only by crashes that
//! caught it between sending and recording: never twice by one process, never after alertd
//! recorded it as delivered.

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

/// A read that must succeed; retried for a while, since a loaded machine may be slow to answer.
fn get(port: u16, path: &str) -> serde_json::Value {
    wait_for(Duration::from_secs(60), || json(port, "GET", path, ""))
        .unwrap_or_else(|| panic!("GET {path} failed for 60 s"))
}

/// Wall-clock ms (the clock alertd and the webhook sink stamp their records with).
fn now_ms() -> i64 {
    use model::Clock;
    model::SystemClock.now_ms()
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

/// The set of `field` values of the objects in a JSON array.
fn names(
    v: &serde_json::Value,
    field: impl Fn(&serde_json::Value) -> &serde_json::Value,
) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| field(x).as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that everything acknowledged before the crash is there after the restart.
fn check_durable(port: u16, got: &Acknowledged, life: usize) {
    let have = names(&get(port, "/api/v2/silences"), |s| &s["id"]);
    let lost: Vec<&String> = got.silences.difference(&have).collect();
    assert!(lost.is_empty(), "life {life}: silences lost: {lost:?}");

    let have = names(&get(port, "/api/v2/alerts"), |a| &a["labels"]["alertname"]);
    let lost: Vec<&String> = got.alerts.difference(&have).collect();
    assert!(lost.is_empty(), "life {life}: posted alerts lost: {lost:?}");

    let have = names(&get(port, "/api/alertd/v1/acks"), |a| {
        &a["labels"]["alertname"]
    });
    let lost: Vec<&String> = got.acks.difference(&have).collect();
    assert!(lost.is_empty(), "life {life}: acks lost: {lost:?}");
}

/// One firing notification the webhook sink received.
#[derive(Debug, Clone, Copy)]
struct Delivery {
    /// The life (process) that sent it: each life posts to its own path `/life/<n>`.
    life: usize,
    /// When the sink had the whole request (wall ms).
    at_ms: i64,
}

/// The firing notifications received so far, by group key, in arrival order; and the alert
/// names of their groups. Every kept request is complete, so a body that is not the webhook
/// JSON is a real defect.
fn firing_deliveries(
    got: &Mutex<Vec<e2e::Received>>,
) -> (BTreeMap<String, Vec<Delivery>>, BTreeSet<String>) {
    let mut by_group: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    let mut alertnames = BTreeSet::new();
    for r in got.lock().unwrap().iter() {
        let life = r
            .request_line
            .split(' ')
            .nth(1)
            .and_then(|p| p.strip_prefix("/life/"))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected request {:?}", r.request_line));
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|e| {
            panic!(
                "a complete webhook request whose body is not JSON ({e}): {:?}",
                r.body
            )
        });
        if v["status"] != "firing" {
            continue;
        }
        let key = v["groupKey"].as_str().expect("groupKey").to_string();
        if let Some(n) = v["groupLabels"]["alertname"].as_str() {
            alertnames.insert(n.to_string());
        }
        by_group.entry(key).or_default().push(Delivery {
            life,
            at_ms: r.at_ms,
        });
    }
    (by_group, alertnames)
}

#[test]
fn twenty_kill_9s_under_load_lose_nothing_acknowledged() {
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| now_ms().unsigned_abs());
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
    // Every group holds one alert that fires until the end (resolve_timeout and repeat_interval
    // are far longer than the test, however slow the machine), so each group is notified once
    // and a second notification can only be a repeat. Each life posts to its own path.
    let config = |life: usize| {
        format!(
            "api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: data, checkpoint_interval: 1s }}
global: {{ evaluation_interval: 1s, resolve_timeout: 2h }}
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
  repeat_interval: 2h
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/life/{life}' }}]
"
        )
    };
    let mut d = start(port, &config(0), &[]).unwrap();
    let got = Arc::new(Mutex::new(Acknowledged::default()));
    let started = Instant::now();
    let mut killed_at: Vec<i64> = Vec::new();
    let mut n = 0u64;
    let ready = |d: &e2e::Daemon| {
        wait_for(Duration::from_secs(120), || {
            d.http("GET", "/-/ready")
                .ok()
                .filter(|r| r.status == 200)
                .map(|_| ())
        })
        .is_some()
    };
    for life in 0..KILLS {
        assert!(ready(&d), "life {life}: not ready in 120 s\n{}", d.log());
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
        killed_at.push(now_ms());
        d.signal(Signal::SIGKILL);
        stop.store(true, Ordering::SeqCst);
        n = writer.join().unwrap();
        d.write_config(&config(life + 1));
        d.respawn(&[]);
    }
    assert!(
        ready(&d),
        "not ready in 120 s after the last crash\n{}",
        d.log()
    );
    check_durable(port, &got.lock().unwrap(), KILLS);
    let posted = {
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
        g.alerts.clone()
    };

    // At least once: every posted alert answered 2xx is notified, and so is the `for: 12s`
    // alert although no life lasted 12 s (its progress was kept); the queue drains.
    let mut expected = posted;
    expected.insert("ServiceDown".to_string());
    let queue_len = || {
        d.http("GET", "/metrics")
            .ok()
            .and_then(|r| e2e::metric_value(&r.body, "alertd_notification_queue_length"))
    };
    let drained = wait_for(Duration::from_secs(180), || {
        let (_, notified) = firing_deliveries(&deliveries);
        (expected.is_subset(&notified) && queue_len() == Some(0.0)).then_some(())
    });
    let mut problems = Vec::new();
    if drained.is_none() {
        let (_, notified) = firing_deliveries(&deliveries);
        let missing: Vec<&String> = expected.difference(&notified).collect();
        let am = d
            .http("GET", "/api/v2/alerts?filter=alertname%3DServiceDown")
            .map(|r| r.body)
            .unwrap_or_default();
        problems.push(format!(
            "not every notification was delivered in 180 s (queue length {:?}): never \
             notified: {missing:?}\nServiceDown: {am}",
            queue_len()
        ));
    }
    // Room for a repeat that should not come.
    std::thread::sleep(Duration::from_secs(2));

    // At most once per crash, per notification (docs/design.md "Durability": at-least-once, a crash
    // between sending and recording may repeat a notification). A crash repeats each message
    // in flight at that moment, however many they are, so what is checked is each group's
    // story against alertd's own record of its deliveries (the history, on disk):
    // - no group is notified twice by one process: every repeat comes from a later life, i.e.
    //   after a crash;
    // - each group has exactly one successful firing delivery recorded (a recorded delivery
    //   leaves the queue in the same write, so it is never sent again), and the sink got
    //   nothing for that group after it was recorded.
    let (by_group, _) = firing_deliveries(&deliveries);
    let history: Vec<model::api::HistoryItem> =
        serde_json::from_value(get(port, "/api/alertd/v1/history?limit=100000000"))
            .expect("history");
    let mut recorded: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for h in &history {
        if h.status == "firing" && h.result == "success" {
            let at = model::api::parse_time(&h.at)
                .expect("history time")
                .expect("history time set");
            recorded.entry(h.group_key.as_str()).or_default().push(at);
        }
    }
    for (g, ds) in &by_group {
        if ds.windows(2).any(|w| w[1].life <= w[0].life) {
            problems.push(format!(
                "{g}: notified more than once by one process: {ds:?}"
            ));
        }
        match recorded.get(g.as_str()).map(Vec::as_slice) {
            Some([at]) => {
                if let Some(late) = ds.iter().find(|x| x.at_ms > *at) {
                    problems.push(format!(
                        "{g}: delivered at {} ms, after alertd had recorded its delivery at \
                         {at} ms: {ds:?}",
                        late.at_ms
                    ));
                }
            }
            other => problems.push(format!(
                "{g}: {} successful deliveries recorded ({other:?}), expected exactly one; \
                 sink got {ds:?}",
                other.map_or(0, <[i64]>::len)
            )),
        }
    }
    for g in recorded.keys() {
        if !by_group.contains_key(*g) {
            problems.push(format!(
                "{g}: recorded as delivered, but the sink never got it"
            ));
        }
    }

    // Figures: how many repeats, which crashes caused them, and how long before the kill the
    // repeated message had reached the sink (its window between sending and recording).
    let duplicates: usize = by_group.values().map(|ds| ds.len() - 1).sum();
    let mut per_crash: BTreeMap<usize, usize> = BTreeMap::new();
    let mut before_kill: Vec<i64> = Vec::new();
    for ds in by_group.values() {
        for w in ds.windows(2) {
            *per_crash.entry(w[0].life).or_default() += 1;
            if let Some(k) = killed_at.get(w[0].life) {
                before_kill.push(k - w[0].at_ms);
            }
        }
    }
    before_kill.sort_unstable();
    let spread = |v: &[i64]| match v {
        [] => "none".to_string(),
        _ => format!(
            "min {}, median {}, max {}",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        ),
    };
    // How long alertd took from a delivery reaching the sink to recording it (the window in
    // which a crash repeats it).
    let mut window: Vec<i64> = by_group
        .iter()
        .filter_map(|(g, ds)| Some(recorded.get(g.as_str())?.first()? - ds.last()?.at_ms))
        .collect();
    window.sort_unstable();
    eprintln!(
        "{} groups notified, {duplicates} repeated notifications; repeats by crash (life: \
         count): {per_crash:?}; ms from reaching the sink to the kill, for repeated ones \
         (negative: the sink read it after the kill): {}; ms from reaching the sink to being \
         recorded: {}",
        by_group.len(),
        spread(&before_kill),
        spread(&window)
    );
    assert!(
        problems.is_empty(),
        "{} notification problems (the first 20):\n{}",
        problems.len(),
        problems[..problems.len().min(20)].join("\n")
    );

    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{}", d.log());
}
