//! The `tls` probe against real TLS servers with rcgen certificates (valid and expiring soon,
//! expired, untrusted, chain with an earlier-expiring intermediate, SMTP STARTTLS).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use collector::config::Defaults;
use collector::{probe_once, FailureKind, ProbeReport};
use common::*;
use model::FakeClock;

fn write_ca(dir: &tempfile::TempDir, ca: &Ca) -> PathBuf {
    let p = dir.path().join("ca.pem");
    std::fs::write(&p, ca.pem()).unwrap();
    p
}

async fn run(yaml: &str) -> ProbeReport {
    probe_once(
        &probe(yaml),
        &Defaults::default(),
        Arc::new(FakeClock::new(NOW_MS)),
    )
    .await
    .unwrap()
}

fn v(r: &ProbeReport, name: &str) -> f64 {
    r.value(name, &[])
        .unwrap_or_else(|| panic!("no {name} in {:#?}", r.series))
}

#[tokio::test]
async fn valid_cert_expiring_in_four_days() {
    let ca = Ca::new("root");
    let (leaf, key) = ca.leaf((2030, 6, 5));
    let a = tls_http_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = write_ca(&dir, &ca);
    let r = run(&format!(
        "name: c\ntls: {{ target: '127.0.0.1:{}', server_name: localhost, tls_config: {{ ca_file: {} }} }}\n",
        a.port(),
        caf.display()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_success"), 1.0);
    assert_eq!(v(&r, "probe_ssl_chain_valid"), 1.0);
    let exp = ymd_secs(2030, 6, 5);
    assert_eq!(v(&r, "probe_ssl_earliest_cert_expiry"), exp);
    assert_eq!(v(&r, "probe_ssl_last_chain_expiry_timestamp_seconds"), exp);
    assert!((exp - NOW_MS as f64 / 1000.0 - 4.0 * 86400.0).abs() < 1.0);
    assert_eq!(
        r.value("probe_tls_version_info", &[("version", "TLS 1.3")]),
        Some(1.0)
    );
    assert_eq!(
        r.series[0].0.get("instance"),
        Some(format!("127.0.0.1:{}", a.port()).as_str())
    );
}

#[tokio::test]
async fn expired_cert_fails_but_reports_expiry() {
    let ca = Ca::new("root");
    let (leaf, key) = ca.leaf((2030, 5, 1));
    let a = tls_http_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = write_ca(&dir, &ca);
    let r = run(&format!(
        "name: c\ntls: {{ target: 'localhost:{}', tls_config: {{ ca_file: {} }} }}\n",
        a.port(),
        caf.display()
    ))
    .await;
    let f = r.failure.clone().unwrap();
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(f.message.contains("xpired"), "{}", f.message);
    assert_eq!(v(&r, "probe_success"), 0.0);
    assert_eq!(v(&r, "probe_ssl_chain_valid"), 0.0);
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2030, 5, 1)
    );
}

#[tokio::test]
async fn untrusted_self_signed_fails_but_reports_expiry_and_insecure_passes() {
    let rogue = Ca::new("rogue");
    let trusted = Ca::new("trusted");
    let (leaf, key) = rogue.leaf((2031, 1, 1));
    let a = tls_http_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = write_ca(&dir, &trusted);
    let r = run(&format!(
        "name: c\ntls: {{ target: 'localhost:{}', tls_config: {{ ca_file: {} }} }}\n",
        a.port(),
        caf.display()
    ))
    .await;
    let f = r.failure.clone().unwrap();
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(f.message.contains("UnknownIssuer"), "{}", f.message);
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2031, 1, 1)
    );
    assert_eq!(v(&r, "probe_ssl_chain_valid"), 0.0);
    // Without a ca_file the Mozilla roots are used: still untrusted.
    let r = run(&format!(
        "name: c\ntls: {{ target: 'localhost:{}' }}\n",
        a.port()
    ))
    .await;
    assert_eq!(r.failure.unwrap().kind, FailureKind::Tls);
    let r = run(&format!(
        "name: c\ntls: {{ target: 'localhost:{}', tls_config: {{ insecure_skip_verify: true }} }}\n",
        a.port()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert!(r.value("probe_ssl_chain_valid", &[]).is_none());
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2031, 1, 1)
    );
}

#[tokio::test]
async fn wrong_server_name_is_a_verification_failure() {
    let ca = Ca::new("root");
    let (leaf, key) = ca.leaf((2031, 1, 1));
    let a = tls_http_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = write_ca(&dir, &ca);
    let r = run(&format!(
        "name: c\ntls: {{ target: 'localhost:{}', server_name: other.example, tls_config: {{ ca_file: {} }} }}\n",
        a.port(),
        caf.display()
    ))
    .await;
    assert_eq!(r.failure.unwrap().kind, FailureKind::Tls);
}

#[tokio::test]
async fn chain_expiry_is_the_earliest_certificate() {
    let root = Ca::new("root");
    let inter = root.intermediate("intermediate", (2030, 9, 1));
    let (leaf, key) = inter.leaf((2031, 1, 1));
    let a = tls_http_server(vec![leaf, inter.der()], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = write_ca(&dir, &root);
    let r = run(&format!(
        "name: c\ntls: {{ target: 'localhost:{}', tls_config: {{ ca_file: {} }} }}\n",
        a.port(),
        caf.display()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2030, 9, 1)
    );
}

#[tokio::test]
async fn smtp_starttls() {
    let ca = Ca::new("root");
    let (leaf, key) = ca.leaf((2030, 7, 1));
    let a = smtp_starttls_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let caf = write_ca(&dir, &ca);
    let r = run(&format!(
        "name: mail\ntls: {{ target: 'localhost:{}', starttls: smtp, tls_config: {{ ca_file: {} }} }}\n",
        a.port(),
        caf.display()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2030, 7, 1)
    );
    // A plain HTTP server is not an SMTP server: a protocol failure, not a hang.
    let h = http_server().await;
    let r = run(&format!(
        "name: mail\ntls: {{ target: '127.0.0.1:{}', starttls: smtp }}\ntimeout: 2s\ninterval: 5s\n",
        h.port()
    ))
    .await;
    assert!(r.failure.is_some());
}
