//! Waiting is not blind: while a rule's condition holds but its `for:` has not passed,
//! `alertctl alert query` and the status page `/` list the alert as pending with the time it
//! fires (activeAt + for), from the real binaries.

use std::time::Duration;

use e2e::{alertctl, free_port, start, wait_for};

#[test]
fn pending_alerts_are_listed_with_the_time_they_fire() {
    let port = free_port();
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: SlowBurn\n        \
         expr: vector(1)\n        for: 1h\n        labels: { severity: warning }\n        \
         annotations: { summary: 'burning slowly' }\n",
    )
    .unwrap();
    let config = format!(
        "api: {{ listen: 127.0.0.1:{port} }}\nstorage: {{ path: {:?} }}\nrule_files: [{rules:?}]\n",
        work.path().join("data")
    );
    let d = start(port, &config, &[]).unwrap();
    let env = [("ALERTD_URL", format!("http://127.0.0.1:{port}"))];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = wait_for(Duration::from_secs(15), || {
        let (code, out, _) = alertctl(&["alert", "query"], &env);
        (code == 0 && out.contains("Pending")).then_some(out)
    })
    .unwrap_or_else(|| panic!("no pending alert listed:\n{}", d.log()));
    let line = out
        .lines()
        .find(|l| l.starts_with("SlowBurn"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("burning slowly"), "{out}");
    // Pending since T, fires at T + 1h: two times an hour apart.
    let times: Vec<&str> = line.split("  ").filter(|c| c.ends_with(" UTC")).collect();
    assert_eq!(times.len(), 2, "{line}");
    let parse = |t: &str| {
        let t = t.trim().trim_end_matches(" UTC").replace(' ', "T") + "Z";
        model::api::parse_time(&t).unwrap().unwrap()
    };
    assert_eq!(parse(times[1]) - parse(times[0]), 3_600_000, "{line}");
    // JSON stays Alertmanager's list (nothing fires yet).
    let (_, json, _) = alertctl(&["-o", "json", "alert", "query"], &env);
    assert_eq!(json.trim(), "[]");

    let page = d.http("GET", "/").unwrap();
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Pending alerts (1)") && page.body.contains("SlowBurn"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("(in 59 min)") || page.body.contains("(in 1 h)"),
        "{}",
        page.body
    );
}
