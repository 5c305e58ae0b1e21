//! The `http` probe against real servers on loopback.

mod common;

use std::sync::Arc;

use collector::config::Defaults;
use collector::{probe_once, FailureKind, ProbeReport};
use common::*;
use model::{FakeClock, SystemClock};

async fn run(yaml: &str) -> ProbeReport {
    probe_once(&probe(yaml), &Defaults::default(), Arc::new(SystemClock))
        .await
        .unwrap()
}

fn v(r: &ProbeReport, name: &str) -> f64 {
    r.value(name, &[])
        .unwrap_or_else(|| panic!("no {name} in {:#?}", r.series))
}

#[tokio::test]
async fn ok_target_has_blackbox_series() {
    let a = http_server().await;
    let r = run(&format!(
        "name: web\nhttp: {{ url: 'http://{a}/ok', fail_if_body_not_matches_regexp: ['^ok$'] }}\nlabels: {{ tier: '1' }}\n"
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_success"), 1.0);
    assert_eq!(v(&r, "probe_http_status_code"), 200.0);
    assert_eq!(v(&r, "probe_http_content_length"), 2.0);
    assert_eq!(v(&r, "probe_http_uncompressed_body_length"), 2.0);
    assert_eq!(v(&r, "probe_http_version"), 1.1);
    assert_eq!(v(&r, "probe_http_ssl"), 0.0);
    assert_eq!(v(&r, "probe_http_redirects"), 0.0);
    assert_eq!(v(&r, "probe_ip_protocol"), 4.0);
    assert_eq!(v(&r, "probe_ip_addr_hash"), 3_668_918_509.0);
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        assert!(
            r.value("probe_http_duration_seconds", &[("phase", phase)])
                .is_some(),
            "phase {phase}"
        );
    }
    assert!(
        r.value("probe_http_duration_seconds", &[("phase", "connect")])
            .unwrap()
            > 0.0
    );
    assert!(
        r.value("probe_http_duration_seconds", &[("phase", "processing")])
            .unwrap()
            > 0.0
    );
    assert!(v(&r, "probe_duration_seconds") > 0.0);
    // Labels: probe name, configured labels, instance without secrets.
    let (l, _) = &r.series[0];
    assert_eq!(l.get("probe"), Some("web"));
    assert_eq!(l.get("tier"), Some("1"));
    assert_eq!(l.get("instance"), Some(format!("http://{a}/ok").as_str()));
}

#[tokio::test]
async fn status_codes_decide_success() {
    let a = http_server().await;
    let r = run(&format!("name: e\nhttp: {{ url: 'http://{a}/500' }}\n")).await;
    assert_eq!(v(&r, "probe_success"), 0.0);
    assert_eq!(v(&r, "probe_http_status_code"), 500.0);
    let f = r.failure.clone().unwrap();
    assert_eq!(f.kind, FailureKind::Status);
    assert!(f.message.contains("500"), "{}", f.message);
    let r = run(&format!(
        "name: e\nhttp: {{ url: 'http://{a}/500', valid_status_codes: [500] }}\n"
    ))
    .await;
    assert_eq!(v(&r, "probe_success"), 1.0);
}

#[tokio::test]
async fn body_regexps() {
    let a = http_server().await;
    let r = run(&format!(
        "name: b\nhttp: {{ url: 'http://{a}/ok', fail_if_body_not_matches_regexp: ['healthy'] }}\n"
    ))
    .await;
    assert_eq!(r.failure.as_ref().unwrap().kind, FailureKind::Body);
    assert_eq!(v(&r, "probe_failed_due_to_regex"), 1.0);
    let r = run(&format!(
        "name: b\nhttp: {{ url: 'http://{a}/ok', fail_if_body_matches_regexp: ['o.'] }}\n"
    ))
    .await;
    assert_eq!(r.failure.as_ref().unwrap().kind, FailureKind::Body);
    assert_eq!(v(&r, "probe_success"), 0.0);
}

#[tokio::test]
async fn redirects_are_followed_up_to_the_limit() {
    let a = http_server().await;
    let r = run(&format!(
        "name: r\nhttp: {{ url: 'http://{a}/redirect/3' }}\n"
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_http_redirects"), 4.0); // 3 -> 2 -> 1 -> 0 -> /ok
    assert_eq!(v(&r, "probe_http_status_code"), 200.0);
    let r = run(&format!(
        "name: r\nhttp: {{ url: 'http://{a}/redirect/3', max_redirects: 2 }}\n"
    ))
    .await;
    assert_eq!(r.failure.unwrap().kind, FailureKind::Redirects);
    let r = run(&format!(
        "name: r\nhttp: {{ url: 'http://{a}/redirect/3', follow_redirects: false, valid_status_codes: [302] }}\n"
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_http_status_code"), 302.0);
}

#[tokio::test]
async fn hanging_target_times_out_with_partial_phases() {
    let a = hanging_server().await;
    let r = run(&format!(
        "name: h\nhttp: {{ url: 'http://{a}/' }}\ntimeout: 500ms\ninterval: 1s\n"
    ))
    .await;
    let f = r.failure.clone().unwrap();
    assert_eq!(f.kind, FailureKind::Timeout);
    let d = v(&r, "probe_duration_seconds");
    assert!((0.45..1.5).contains(&d), "duration {d}");
    assert_eq!(v(&r, "probe_http_status_code"), 0.0);
    assert!(
        r.value("probe_http_duration_seconds", &[("phase", "connect")])
            .unwrap()
            > 0.0
    );
}

#[tokio::test]
async fn refused_connection_is_reported() {
    let a = closed_port().await;
    let r = run(&format!("name: c\nhttp: {{ url: 'http://{a}/' }}\n")).await;
    assert_eq!(r.failure.clone().unwrap().kind, FailureKind::Refused);
    assert_eq!(v(&r, "probe_success"), 0.0);
}

#[tokio::test]
async fn method_headers_body_and_bearer_from_file() {
    let a = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tok");
    std::fs::write(&tok, "t0k3n\n").unwrap();
    let r = run(&format!(
        "name: m\nhttp: {{ url: 'http://{a}/echo', method: POST, body: payload, headers: {{ X-Test: yes }},\n  authorization: {{ credentials_file: {} }},\n  fail_if_body_not_matches_regexp: ['^POST\\|Bearer t0k3n\\|yes\\|payload$'] }}\n",
        tok.display()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
}

#[tokio::test]
async fn basic_auth_from_file() {
    let a = http_server().await;
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "secret").unwrap();
    // base64("alice:secret") = YWxpY2U6c2VjcmV0
    let r = run(&format!(
        "name: m\nhttp: {{ url: 'http://{a}/echo', basic_auth: {{ username: alice, password_file: {} }},\n  fail_if_body_not_matches_regexp: ['Basic YWxpY2U6c2VjcmV0'] }}\n",
        pw.display()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    // A missing secret file is a clear local failure, not a request without credentials.
    let r = run(&format!(
        "name: m\nhttp: {{ url: 'http://{a}/echo', basic_auth: {{ username: alice, password_file: {} }} }}\n",
        pw.display()
    ))
    .await;
    assert!(r.failure.is_none());
    std::fs::remove_file(&pw).unwrap();
    let err = probe_once(
        &probe(&format!(
            "name: m\nhttp: {{ url: 'http://{a}/echo', basic_auth: {{ username: alice, password_file: {} }} }}\n",
            pw.display()
        )),
        &Defaults::default(),
        Arc::new(SystemClock),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("password_file"), "{err}");
}

#[tokio::test]
async fn body_size_limit() {
    let a = http_server().await;
    let r = run(&format!(
        "name: big\nhttp: {{ url: 'http://{a}/big', body_size_limit: 1KiB }}\n"
    ))
    .await;
    let f = r.failure.clone().unwrap();
    assert_eq!(f.kind, FailureKind::Body);
    assert!(f.message.contains("limit"), "{}", f.message);
}

#[tokio::test]
async fn https_with_ca_file_reports_cert_expiry() {
    let ca = Ca::new("test root");
    let (leaf, key) = ca.leaf((2030, 6, 5));
    let a = tls_http_server(vec![leaf], key).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).unwrap();
    let p = probe(&format!(
        "name: s\nhttp: {{ url: 'https://localhost:{}/', tls_config: {{ ca_file: {} }}, fail_if_not_ssl: true }}\n",
        a.port(),
        ca_file.display()
    ));
    let clock = Arc::new(FakeClock::new(NOW_MS));
    let r = probe_once(&p, &Defaults::default(), clock.clone())
        .await
        .unwrap();
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_http_ssl"), 1.0);
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2030, 6, 5)
    );
    assert!(
        r.value("probe_http_duration_seconds", &[("phase", "tls")])
            .unwrap()
            > 0.0
    );
    assert_eq!(
        r.value("probe_tls_version_info", &[("version", "TLS 1.3")]),
        Some(1.0)
    );
    // A week later the same certificate has expired: the probe fails but still reports expiry.
    clock.set_ms(NOW_MS + 7 * 86_400_000);
    let r = probe_once(&p, &Defaults::default(), clock).await.unwrap();
    let f = r.failure.clone().unwrap();
    assert_eq!(f.kind, FailureKind::Tls);
    assert!(f.message.contains("xpired"), "{}", f.message);
    assert_eq!(
        v(&r, "probe_ssl_earliest_cert_expiry"),
        ymd_secs(2030, 6, 5)
    );
    assert_eq!(v(&r, "probe_success"), 0.0);
}

#[tokio::test]
async fn ip_protocol_preference_and_ipv6() {
    let a = http_server().await;
    // localhost has only an IPv4 address here.
    let r = run(&format!(
        "name: v\nhttp: {{ url: 'http://localhost:{}/ok', preferred_ip_protocol: ip6, ip_protocol_fallback: false }}\n",
        a.port()
    ))
    .await;
    assert_eq!(r.failure.clone().unwrap().kind, FailureKind::Dns);
    let r = run(&format!(
        "name: v\nhttp: {{ url: 'http://localhost:{}/ok', preferred_ip_protocol: ip6 }}\n",
        a.port()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_ip_protocol"), 4.0);
    // A server on ::1.
    let l = tokio::net::TcpListener::bind("[::1]:0").await.unwrap();
    let a6 = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            l,
            axum::Router::new().route("/", axum::routing::get(|| async { "v6" })),
        )
        .await
        .unwrap()
    });
    let r = run(&format!(
        "name: v\nhttp: {{ url: 'http://[::1]:{}/' }}\n",
        a6.port()
    ))
    .await;
    assert!(r.failure.is_none(), "{:?}", r.failure);
    assert_eq!(v(&r, "probe_ip_protocol"), 6.0);
    assert_eq!(
        r.series[0].0.get("instance"),
        Some(format!("http://[::1]:{}/", a6.port()).as_str())
    );
}
