//! A quickstart-style config with every probe kind, a scrape and a heartbeat, run by the
//! collector against real peers on loopback (HTTP, TLS, this machine's disk, the local
//! PostgreSQL and MariaDB servers, a metrics endpoint).

mod common;

use std::time::Duration;

use collector::heartbeat::PingKind;
use common::*;
use model::storage::SeriesStore;

#[tokio::test]
async fn every_probe_kind_runs() {
    let web = http_server().await;
    let ca = Ca::new("root");
    let (leaf, key) = ca.leaf((2099, 1, 1));
    let tls = tls_http_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = dir.path().join("ca.pem");
    std::fs::write(&caf, ca.pem()).unwrap();
    let pg = dir.path().join("pg.dsn");
    std::fs::write(
        &pg,
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres\n",
    )
    .unwrap();
    let my = dir.path().join("my.dsn");
    std::fs::write(&my, "mysql://root@127.0.0.1:3306/\n").unwrap();
    let yaml = format!(
        r#"
probes:
  - name: website
    http: {{ url: "http://{web}/ok", method: GET, valid_status_codes: [200, 301, 302],
            fail_if_body_not_matches_regexp: ["ok"], follow_redirects: true }}
    interval: 1s
    timeout: 1s
    labels: {{ tier: "1" }}
  - name: example-cert
    tls: {{ target: "localhost:{tp}", tls_config: {{ ca_file: {caf} }} }}
    interval: 1s
  - name: root-disk
    disk: {{ path: "/" }}
    interval: 1s
  - name: main-db
    postgres: {{ dsn_file: {pg} }}
    interval: 1s
  - name: shop-db
    mysql: {{ dsn_file: {my} }}
    interval: 1s
scrape_configs:
  - job_name: web
    static_configs: [{{ targets: ["{web}"] }}]
    scrape_interval: 1s
heartbeats:
  - name: nightly-backup
    schedule: "0 2 * * *"
    timezone: Europe/Oslo
    grace: 30m
    labels: {{ severity: critical }}
"#,
        tp = tls.port(),
        caf = caf.display(),
        pg = pg.display(),
        my = my.display(),
    );
    let (store, c) = common::start(&yaml);
    for _ in 0..30 {
        if c.status().iter().all(|s| s.last_run.is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let st = c.status();
    assert_eq!(st.len(), 6);
    for s in &st {
        assert_eq!(s.success, Some(true), "{s:?}");
    }
    c.heartbeats()
        .ping("nightly-backup", PingKind::Success, None, b"")
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    for probe in ["website", "example-cert", "root-disk", "main-db", "shop-db"] {
        let s = store
            .select(
                &[
                    "__name__=\"probe_success\"".parse().unwrap(),
                    format!("probe=\"{probe}\"").parse().unwrap(),
                ],
                0,
                i64::MAX,
            )
            .unwrap();
        assert_eq!(s[0].samples.last().unwrap().v, 1.0, "{probe}");
    }
    let hb = store
        .select(&["__name__=\"heartbeat_up\"".parse().unwrap()], 0, i64::MAX)
        .unwrap();
    assert_eq!(hb[0].labels.get("severity"), Some("critical"));
    assert_eq!(hb[0].samples.last().unwrap().v, 1.0);
    let up = store
        .select(
            &[
                "__name__=\"up\"".parse().unwrap(),
                "job=\"web\"".parse().unwrap(),
            ],
            0,
            i64::MAX,
        )
        .unwrap();
    assert_eq!(up[0].samples.last().unwrap().v, 1.0);
}
