//! End-to-end: the status page and the public page of the real `alertd`, looked at with Debian's
//! Chromium in headless mode. alertd probes loopback peers in several states (an HTTP server
//! answering 200, one answering 500, a closed port, a disk, PostgreSQL) and tracks heartbeats;
//! its store is seeded beforehand with 90 days of known history for one probe, so the uptime
//! figures over 7/30/90 days are known. Chromium renders the page (`--dump-dom` for the DOM
//! after layout, `--screenshot` at desktop and phone sizes, saved under
//! `target/artifacts/status-page/`).
//!
//! Without `chromium` on the PATH the browser tests are skipped, except in CI (`CI=true`), where
//! they fail: `.ci/run` installs it.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{free_port, repo_root, start, wait_for, Daemon, Signal};
use model::{Clock, Labels, Sample};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The Chromium binary, or `None` (test skipped) outside CI; panics in CI without it.
fn chromium() -> Option<PathBuf> {
    let found = e2e::on_path("chromium");
    if found.is_none() {
        e2e::skip_outside_ci(
            "chromium is not installed (apt-get install chromium)",
            ".ci/run must install the Debian package `chromium`",
        );
    }
    found
}

/// Runs headless Chromium with `args` then `url`; returns stdout. Killed after 60 s.
fn run_chromium(bin: &Path, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let status = wait_for(Duration::from_secs(60), || child.try_wait().ok().flatten());
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("chromium did not finish within 60 s ({args:?} {url})");
    }
    reader.join().expect("reader")
}

/// The page's DOM as Chromium built it.
fn dump_dom(bin: &Path, profile: &Path, url: &str) -> String {
    let dom = run_chromium(bin, profile, &["--dump-dom"], url);
    assert!(dom.contains("</html>"), "no DOM from chromium: {dom:?}");
    dom
}

/// Screenshots `url` at `width`x`height` into the artefacts directory as `name`.
fn screenshot(bin: &Path, profile: &Path, url: &str, name: &str, size: (u32, u32)) -> PathBuf {
    let dir = repo_root().join("target/artifacts/status-page");
    std::fs::create_dir_all(&dir).expect("artefacts dir");
    let out = dir.join(name);
    let _ = std::fs::remove_file(&out);
    run_chromium(
        bin,
        profile,
        &[
            &format!("--screenshot={}", out.display()),
            &format!("--window-size={},{}", size.0, size.1),
        ],
        url,
    );
    let png = std::fs::read(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} is not a real screenshot ({} bytes)",
        out.display(),
        png.len()
    );
    out
}

/// An HTTP server on loopback answering every request with `status`, until the test ends.
fn http_server(status: u16) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = if status == 200 { "ok\n" } else { "broken\n" };
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// 1-minute checks of `api` for the last 90 days: down for 36 h 20 days ago and for 2 h
/// 3 days ago. Also 24 h of response times.
fn api_down(now: i64, t: i64) -> bool {
    let outages = [
        (now - 20 * DAY, now - 20 * DAY + 36 * HOUR),
        (now - 3 * DAY, now - 3 * DAY + 2 * HOUR),
    ];
    outages.iter().any(|(a, b)| t >= *a && t < *b)
}

fn seed_store(data: &Path, now: i64) {
    let s = store::Store::open(store::StoreOptions {
        path: data.to_path_buf(),
        engine: store::Engine::Redb,
        retention_raw: "30d".parse().unwrap(),
        retention_rollups: "365d".parse().unwrap(),
        checkpoint_interval: "60s".parse().unwrap(),
        ..store::StoreOptions::default()
    })
    .expect("open store");
    let ok = Labels::from_pairs([
        ("__name__", "probe_success"),
        ("probe", "api"),
        ("seeded", "yes"),
    ]);
    let dur = Labels::from_pairs([
        ("__name__", "probe_duration_seconds"),
        ("probe", "api"),
        ("seeded", "yes"),
    ]);
    let mut batch = Vec::new();
    // Stop two minutes before now: the live probe's series continues from there.
    let mut t = now - 90 * DAY;
    while t < now - 2 * MINUTE {
        batch.push((
            ok.clone(),
            Sample::new(t, if api_down(now, t) { 0.0 } else { 1.0 }),
        ));
        if t > now - DAY {
            let phase = (t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU;
            let spike = if (t / MINUTE) % 97 == 0 { 0.12 } else { 0.0 };
            batch.push((
                dur.clone(),
                Sample::new(t, 0.045 + 0.02 * phase.sin() + spike),
            ));
        }
        if batch.len() >= 20_000 {
            s.append(&batch).expect("append");
            batch.clear();
        }
        t += MINUTE;
    }
    s.append(&batch).expect("append");
    s.close().expect("close store");
}

/// The expected uptime of `api` over `w` before `now` from the pattern seeded at `seeded`
/// alone (the live checks move it by less than 0.01 percentage points).
fn api_expected(seeded: i64, now: i64, w: i64) -> f64 {
    // Windows start at the first 5-minute boundary (24 h) or full hour (longer) after now - w.
    let step = if w <= DAY { 5 * MINUTE } else { HOUR };
    let start = (now - w + step - 1).div_euclid(step) * step;
    let (mut up, mut total) = (0u64, 0u64);
    let mut t = seeded - 90 * DAY;
    while t < seeded - 2 * MINUTE {
        if t >= start {
            total += 1;
            if !api_down(seeded, t) {
                up += 1;
            }
        }
        t += MINUTE;
    }
    up as f64 / total as f64 * 100.0
}

/// The `<article>` of probe `name` in `dom`.
fn card<'a>(dom: &'a str, name: &str) -> &'a str {
    let at = dom
        .find(&format!("data-probe=\"{name}\""))
        .unwrap_or_else(|| panic!("no card for {name} in {dom}"));
    let rest = &dom[at..];
    &rest[..rest.find("</article>").expect("card end")]
}

/// The uptime figures of a card: window → (shown text, data-up, data-total).
fn uptimes(card: &str) -> Vec<(String, String, f64, u64)> {
    card.split("<dd data-window=\"")
        .skip(1)
        .map(|s| {
            let attr = |name: &str| {
                let i = s.find(&format!("{name}=\"")).expect("attr") + name.len() + 2;
                s[i..i + s[i..].find('"').expect("quote")].to_string()
            };
            let window = s[..s.find('"').expect("quote")].to_string();
            let text = s[s.find('>').expect(">") + 1..s.find("</dd>").expect("</dd>")].to_string();
            (
                window,
                text,
                attr("data-up").parse().expect("data-up"),
                attr("data-total").parse().expect("data-total"),
            )
        })
        .collect()
}

fn percent(text: &str) -> f64 {
    text.trim_end_matches('%').parse().expect("a percentage")
}

struct Setup {
    daemon: Daemon,
    /// When the store was seeded (ms).
    seeded: i64,
    work: tempfile::TempDir,
    ok_port: u16,
    bad_port: u16,
    closed_port: u16,
}

fn start_alertd(public_status: bool) -> Setup {
    let work = tempfile::tempdir().expect("tempdir");
    let data = work.path().join("data");
    let now = model::SystemClock.now_ms();
    seed_store(&data, now);
    let (ok_port, bad_port, closed_port) = (http_server(200), http_server(500), free_port());
    let port = free_port();
    let disk = work.path().join("disk");
    std::fs::create_dir_all(&disk).expect("disk dir");
    let pg_dsn = work.path().join("pg.dsn");
    std::fs::write(
        &pg_dsn,
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres\n",
    )
    .expect("dsn");
    let rules = work.path().join("probes.rules.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: probes\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        \
         expr: probe_success == 0\n        labels: { severity: critical }\n        \
         annotations: { summary: 'probe {{ $labels.probe }} fails' }\n",
    )
    .expect("rules");
    let config = format!(
        "\
global: {{ evaluation_interval: 1s }}
api: {{ listen: 127.0.0.1:{port}, public_status: {public_status} }}
storage: {{ path: {data:?}, checkpoint_interval: 1s }}
rule_files: [{rules:?}]
probes:
  - name: api
    http: {{ url: 'http://127.0.0.1:{ok_port}/health' }}
    interval: 1s
    timeout: 1s
    labels: {{ team: payments-squad }}
  - name: checkout
    http: {{ url: 'http://127.0.0.1:{bad_port}/cart' }}
    interval: 1s
    timeout: 1s
    labels: {{ team: storefront-crew }}
  - name: legacy-admin
    http: {{ url: 'http://127.0.0.1:{closed_port}/' }}
    interval: 1s
    timeout: 1s
  - name: data-disk
    disk: {{ path: {disk:?} }}
    interval: 1s
  - name: main-db
    postgres: {{ dsn_file: {pg_dsn:?} }}
    interval: 1s
    timeout: 1s
heartbeats:
  - name: nightly-backup
    period: 24h
    grace: 30m
  - name: weekly-report
    period: 7d
    grace: 1h
"
    );
    let daemon = start(port, &config, &[]).expect("alertd starts");
    let r = daemon
        .http("GET", "/ping/nightly-backup")
        .expect("ping heartbeat");
    assert_eq!(r.status, 200, "{r:?}");
    // Wait until the collector has judged every probe and the rule fired.
    let ready = wait_for(Duration::from_secs(30), || {
        let badge = |p: &str| {
            daemon
                .http("GET", &format!("/badge/{p}/status.svg"))
                .ok()
                .map(|r| r.body)
        };
        let ok = badge("api")?.contains(">up</text>")
            && badge("checkout")?.contains(">down</text>")
            && badge("legacy-admin")?.contains(">down</text>")
            && badge("data-disk")?.contains(">up</text>");
        let page = daemon.http("GET", "/").ok()?.body;
        // Two checks of each HTTP probe stored, so that the page's counts compared with the
        // store's below are more than a single check (on a loaded machine the page can
        // otherwise be built within a second of the first one).
        let q = daemon
            .http(
                "GET",
                "/api/v1/query?query=min(count_over_time(probe_success\
                 %7Bprobe%3D~%22api%7Ccheckout%7Clegacy-admin%22%7D%5B1m%5D))",
            )
            .ok()?
            .body;
        let q: serde_json::Value = serde_json::from_str(&q).ok()?;
        let checks: f64 = q["data"]["result"][0]["value"][1].as_str()?.parse().ok()?;
        (ok && page.contains("ProbeDown") && checks >= 2.0).then_some(())
    });
    assert!(
        ready.is_some(),
        "probes not judged in 30 s:\n{}",
        daemon.log()
    );
    Setup {
        daemon,
        seeded: now,
        work,
        ok_port,
        bad_port,
        closed_port,
    }
}

#[test]
fn status_page_shows_true_state_in_a_browser() {
    let Some(chrome) = chromium() else {
        return;
    };
    let mut s = start_alertd(false);
    let url = format!("http://127.0.0.1:{}/", s.daemon.port);
    let profile = s.work.path().join("chromium");
    let dom = dump_dom(&chrome, &profile, &url);

    // The down probes show as down, with their reasons.
    let checkout = card(&dom, "checkout");
    assert!(checkout.contains("data-state=\"down\""), "{checkout}");
    assert!(
        checkout.contains("class=\"reason\">status: status code 500"),
        "{checkout}"
    );
    let legacy = card(&dom, "legacy-admin");
    assert!(legacy.contains("data-state=\"down\""), "{legacy}");
    assert!(legacy.contains("class=\"reason\">refused"), "{legacy}");
    let api = card(&dom, "api");
    assert!(api.contains("data-state=\"up\""), "{api}");
    assert!(!api.contains("class=\"reason\""), "{api}");
    assert!(
        api.contains("<path class=\"line\""),
        "no response chart: {api}"
    );
    assert!(card(&dom, "data-disk").contains("data-state=\"up\""));
    // The alert from the rules, the disk and the heartbeats.
    assert!(dom.contains("ProbeDown") && dom.contains("probe checkout fails"));
    assert!(dom.contains("id=\"disks\""), "{dom}");
    let backup = &dom[dom
        .find("data-heartbeat=\"nightly-backup\"")
        .expect("heartbeat")..];
    let backup = &backup[..backup.find("</tr>").unwrap()];
    assert!(backup.contains(">up</span>"), "{backup}");
    // Pinged just now with period 24h and grace 30m: expected in a day, down after 24h30m.
    assert!(
        backup.contains(">in 23 h 59 min</span>") && backup.contains(">in 1 d</span>"),
        "{backup}"
    );
    let weekly = &dom[dom
        .find("data-heartbeat=\"weekly-report\"")
        .expect("heartbeat")..];
    assert!(weekly[..weekly.find("</tr>").unwrap()].contains(">never<"));

    // Uptime of api over 7/30/90 days is the seeded history's; checkout has only failed.
    let now: i64 = {
        let i = dom.find("data-ms=\"").expect("page time") + 9;
        dom[i..i + dom[i..].find('"').unwrap()].parse().unwrap()
    };
    let api_up = uptimes(api);
    assert_eq!(api_up.len(), 4, "{api}");
    for (window, text, _, _) in &api_up {
        let w = match window.as_str() {
            "24h" => DAY,
            "7d" => 7 * DAY,
            "30d" => 30 * DAY,
            _ => 90 * DAY,
        };
        let want = api_expected(s.seeded, now, w);
        assert!(
            (percent(text) - want).abs() < 0.015,
            "api {window}: page says {text}, history says {want:.4}%"
        );
    }
    assert_eq!(api_up[0].1, "100%");
    assert!(percent(&api_up[2].1) < 95.0, "{api_up:?}");
    for (window, text, up, total) in uptimes(checkout) {
        assert_eq!((text.as_str(), up), ("0.00%", 0.0), "checkout {window}");
        assert!(total > 0, "checkout {window}");
    }

    // Screenshots at desktop and phone widths.
    screenshot(&chrome, &profile, &url, "desktop.png", (1280, 900));
    screenshot(&chrome, &profile, &url, "phone.png", (390, 844));

    // The page's counts are the store's: after shutdown, count the raw checks of the last
    // 24 h up to the page's time. One check per probe may differ: one that started before the
    // page's time but was stored after the page was built, or one stored while the page was
    // being built, after its time (the open 5-minute rollup bucket has it).
    s.daemon.signal(Signal::SIGTERM);
    assert!(s.daemon.wait_exit(Duration::from_secs(30)).is_some());
    let st = store::Store::open(store::StoreOptions {
        path: s.work.path().join("data"),
        engine: store::Engine::Redb,
        retention_raw: "30d".parse().unwrap(),
        retention_rollups: "365d".parse().unwrap(),
        checkpoint_interval: "60s".parse().unwrap(),
        ..store::StoreOptions::default()
    })
    .expect("reopen store");
    for (name, c) in [
        ("api", api),
        ("checkout", checkout),
        ("legacy-admin", legacy),
    ] {
        // The page's window starts at the first 5-minute boundary at or after now - 24h.
        let from = (now - DAY + 299_999).div_euclid(300_000) * 300_000;
        let ms = [
            model::Matcher::new("__name__", model::MatchOp::Equal, "probe_success").unwrap(),
            model::Matcher::new("probe", model::MatchOp::Equal, name).unwrap(),
        ];
        let (mut up, mut total) = (0.0, 0u64);
        for series in st.select(&ms, from, now).unwrap() {
            for x in series.samples.iter().filter(|x| !x.is_stale()) {
                up += x.v;
                total += 1;
            }
        }
        let (_, _, page_up, page_total) = uptimes(c)[0].clone();
        assert!(
            total.abs_diff(page_total) <= 1 && (up - page_up).abs() <= 1.0 && total >= 2,
            "{name} 24h: page {page_up}/{page_total}, store {up}/{total}"
        );
    }
}

#[test]
fn public_page_shows_names_and_states_and_nothing_internal() {
    let Some(chrome) = chromium() else {
        return;
    };
    let s = start_alertd(true);
    let url = format!("http://127.0.0.1:{}/status", s.daemon.port);
    let profile = s.work.path().join("chromium");
    let dom = dump_dom(&chrome, &profile, &url);
    for (name, state) in [
        ("api", "up"),
        ("checkout", "down"),
        ("legacy-admin", "down"),
        ("data-disk", "up"),
    ] {
        let c = card(&dom, name);
        assert!(
            c.contains(&format!("data-state=\"{state}\"")),
            "{name} not {state}: {c}"
        );
        assert_eq!(uptimes(c).len(), 4, "{c}");
    }
    // Nothing internal: targets, addresses, ports, paths, labels, errors, alerts, heartbeats.
    let ports = [s.ok_port, s.bad_port, s.closed_port, s.daemon.port].map(|p| p.to_string());
    let internal = [
        "127.0.0.1",
        "http://",
        "/health",
        "/cart",
        "team",
        "payments-squad",
        "storefront-crew",
        "status code",
        "500",
        "refused",
        "ProbeDown",
        "critical",
        "fails",
        "nightly-backup",
        "weekly-report",
        "postgres",
        "5432",
        "seeded",
        s.work.path().to_str().expect("utf-8 path"),
    ];
    for needle in internal
        .iter()
        .copied()
        .chain(ports.iter().map(String::as_str))
    {
        assert!(
            !dom.contains(needle),
            "public page leaks {needle:?}:\n{dom}"
        );
    }
    // The internal page is still there, and has them.
    let full = s.daemon.http("GET", "/").expect("GET /").body;
    assert!(full.contains("payments-squad") && full.contains("refused"));
    screenshot(&chrome, &profile, &url, "public-desktop.png", (1280, 900));
    screenshot(&chrome, &profile, &url, "public-phone.png", (390, 844));
}

#[test]
fn public_page_is_404_when_off() {
    // Needs no browser.
    let port = free_port();
    let d = start(port, &e2e::minimal_config(port, ""), &[]).expect("alertd starts");
    let r = d.http("GET", "/status").expect("GET /status");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, r#"{"error":"not found: /status"}"#);
    let r = d.http("GET", "/").expect("GET /");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    // Where the default rules' runbook_url leads: a section per alert, under the pages' CSP.
    let r = d.http("GET", "/runbooks").expect("GET /runbooks");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        r.body.contains("<h3 id=\"probedown\">ProbeDown</h3>"),
        "{}",
        r.body
    );
    assert!(
        r.header("content-security-policy")
            .is_some_and(|c| c.starts_with("default-src 'none'")),
        "{r:?}"
    );
}
