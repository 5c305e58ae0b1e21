//! Links in notifications open something useful in alertd: without `global.external_url`,
//! `externalURL` is derived from `api.listen`, and an alert's `generatorURL`
//! (`<externalURL>/graph?g0.expr=...`) opens alertd's page of that expression: its current
//! result and the rule with its firing alert.

use std::time::Duration;

use e2e::{free_port, start, wait_for};

#[test]
fn notification_links_are_absolute_and_open_the_rules_page() {
    let port = free_port();
    let (hook, got) = e2e::webhook_sink();
    let work = tempfile::tempdir().unwrap();
    let rules = work.path().join("r.yml");
    std::fs::write(
        &rules,
        "groups:\n  - name: up\n    interval: 1s\n    rules:\n      - alert: ProbeDown\n        \
         expr: probe_success == 0\n",
    )
    .unwrap();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: {data:?} }}
probes:
  - {{ name: dead, http: {{ url: 'http://127.0.0.1:1/' }}, interval: 1s, timeout: 1s }}
rule_files: [{rules:?}]
route: {{ receiver: hook, group_wait: 0s }}
receivers:
  - name: hook
    webhook_configs: [{{ url: 'http://127.0.0.1:{hook}/alerts' }}]
",
        data = work.path().join("data"),
    );
    let d = start(port, &config, &[]).unwrap();
    let body = wait_for(Duration::from_secs(30), || {
        e2e::bodies(&got).first().cloned()
    })
    .unwrap_or_else(|| panic!("nothing delivered:\n{}", d.log()));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(v["externalURL"], base.as_str(), "{body}");
    let gen = v["alerts"][0]["generatorURL"].as_str().unwrap();
    let path = gen
        .strip_prefix(&base)
        .unwrap_or_else(|| panic!("generatorURL {gen} is not under {base}"));
    assert!(path.starts_with("/graph?g0.expr="), "{gen}");
    let page = d.http("GET", path).unwrap();
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{page:?}"
    );
    let html = &page.body;
    // The expression, its current result (the dead probe's series), the rule and its alert.
    assert!(html.contains("probe_success == 0"), "{html}");
    assert!(
        html.contains("<span class=\"label\">probe=dead</span>"),
        "{html}"
    );
    assert!(html.contains("Rule ProbeDown"), "{html}");
    assert!(html.contains(">firing</span>"), "{html}");
    // A broken expression is a page with its error, not a failure.
    let bad = d.http("GET", "/graph?g0.expr=sum(").unwrap();
    assert_eq!(bad.status, 200);
    assert!(bad.body.contains("parse error"), "{}", bad.body);
}
