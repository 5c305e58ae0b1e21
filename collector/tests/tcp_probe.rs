//! The `tcp` probe side by side with blackbox_exporter on real peers: plain connect and TLS to
//! `openssl s_server`, SMTP STARTTLS to aiosmtpd, sshd's banner, Redis `PING` on 127.0.0.1:6379;
//! down cases: a closed port, a banner that does not match, a peer that never speaks.

mod common;
mod peers;

use collector::FailureKind;
use peers::*;

const MODULES: &str = r#"
  tcp_connect:
    prober: tcp
    timeout: 2s
    tcp: { preferred_ip_protocol: ip4 }
  tcp_tls:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config: { ca_file: CA, server_name: localhost }
  smtp_starttls:
    prober: tcp
    timeout: 3s
    tcp:
      preferred_ip_protocol: ip4
      tls_config: { ca_file: CA, server_name: localhost }
      query_response:
        - expect: "^220 ([^ ]+) "
          send: "EHLO prober"
        - expect: "^250[- ]STARTTLS"
        - send: "STARTTLS"
        - expect: "^220"
        - starttls: true
        - send: "EHLO prober"
        - expect: "^250 "
        - send: "QUIT"
  ssh_banner:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^SSH-2.0-"
        - send: "SSH-2.0-blackbox-ssh-check"
  ssh_wrong_banner:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - expect: "^SSH-1.5-"
  redis_wrong:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - send: "PING"
        - send: "QUIT"
        - expect: "^SSH-1.5-"
  redis_ping:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      query_response:
        - send: "PING"
        - expect: "^\\+PONG"
        - send: "QUIT"
"#;

const SMTP_STEPS: &str = r#"
    - { expect: "^220 ([^ ]+) ", send: "EHLO prober" }
    - { expect: "^250[- ]STARTTLS" }
    - { send: "STARTTLS" }
    - { expect: "^220" }
    - { starttls: true }
    - { send: "EHLO prober" }
    - { expect: "^250 " }
    - { send: "QUIT" }
"#;

struct Setup {
    bb: Blackbox,
    cert: Cert,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed(dir.path());
    let bb = Blackbox::start(&MODULES.replace("CA", &cert.cert.display().to_string())).await;
    Setup {
        bb,
        cert,
        _dir: dir,
    }
}

#[tokio::test]
async fn connect_and_tls_agree_with_blackbox() {
    let s = setup().await;
    let (port, _srv) = openssl_server(&s.cert, &[]).await;
    let target = format!("127.0.0.1:{port}");

    let bb = s.bb.probe("tcp_connect", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 2s\ntcp: {{ target: '{target}' }}\n"
    ))
    .await;
    assert!(ours.failure.is_none(), "{:?}", ours.failure);
    let m = assert_same(&bb, &ours);
    assert_eq!(m[&("probe_success".into(), Default::default())], 1.0);
    assert_eq!(m[&("probe_ip_protocol".into(), Default::default())], 4.0);

    let bb = s.bb.probe("tcp_tls", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 2s\ntcp: {{ target: '{target}', tls: true, tls_config: {{ ca_file: '{}', server_name: localhost }} }}\n",
        s.cert.cert.display()
    ))
    .await;
    assert!(ours.failure.is_none(), "{:?}", ours.failure);
    let m = assert_same(&bb, &ours);
    assert!(
        m.keys().any(|(n, l)| n == "probe_ssl_last_chain_info"
            && l["subject"] == "CN=alertd test,O=alertd\\, tests"
            && l["subjectalternative"] == "localhost"),
        "{m:#?}"
    );
    assert_eq!(ours.value("probe_ssl_chain_valid", &[]), Some(1.0));
}

#[tokio::test]
async fn smtp_starttls_to_aiosmtpd_agrees_with_blackbox() {
    let s = setup().await;
    let (port, _srv) = aiosmtpd(&s.cert).await;
    let target = format!("127.0.0.1:{port}");
    let bb = s.bb.probe("smtp_starttls", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 3s\ntcp:\n  target: '{target}'\n  tls_config: {{ ca_file: '{}', server_name: localhost }}\n  query_response:{SMTP_STEPS}",
        s.cert.cert.display()
    ))
    .await;
    assert!(ours.failure.is_none(), "{:?}", ours.failure);
    let m = assert_same(&bb, &ours);
    assert_eq!(m[&("probe_success".into(), Default::default())], 1.0);
    assert!(m.keys().any(|(n, _)| n == "probe_ssl_earliest_cert_expiry"));
}

#[tokio::test]
async fn ssh_banner_and_its_mismatch_agree_with_blackbox() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let (port, _sshd) = sshd(dir.path()).await;
    let target = format!("127.0.0.1:{port}");

    let bb = s.bb.probe("ssh_banner", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 2s\ntcp:\n  target: '{target}'\n  query_response:\n    - expect: '^SSH-2.0-'\n    - send: SSH-2.0-blackbox-ssh-check\n"
    ))
    .await;
    assert!(ours.failure.is_none(), "{:?}", ours.failure);
    let m = assert_same(&bb, &ours);
    assert_eq!(
        m[&("probe_failed_due_to_regex".into(), Default::default())],
        0.0
    );

    // sshd closes a connection that does not answer its banner in time: the wrong-banner probe
    // waits for that close (LoginGraceTime) or the timeout. Both fail on the regexp or time.
    let bb = s.bb.probe("ssh_wrong_banner", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 2s\ntcp:\n  target: '{target}'\n  query_response:\n    - expect: '^SSH-1.5-'\n"
    ))
    .await;
    let f = ours.failure.clone().expect("fails");
    assert_eq!(f.kind, FailureKind::Timeout, "{f:?}");
    assert_same(&bb, &ours);
}

#[tokio::test]
async fn redis_ping_agrees_with_blackbox() {
    let s = setup().await;
    let target = "127.0.0.1:6379";
    let bb = s.bb.probe("redis_ping", target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 2s\ntcp:\n  target: '{target}'\n  query_response:\n    - send: PING\n    - expect: '^\\+PONG'\n    - send: QUIT\n"
    ))
    .await;
    assert!(ours.failure.is_none(), "{:?}", ours.failure);
    let m = assert_same(&bb, &ours);
    assert_eq!(m[&("probe_success".into(), Default::default())], 1.0);
}

#[tokio::test]
async fn closed_port_and_wrong_answer_agree_with_blackbox() {
    let s = setup().await;
    let closed = common::closed_port().await;
    let target = closed.to_string();
    let bb = s.bb.probe("tcp_connect", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 2s\ntcp: {{ target: '{target}' }}\n"
    ))
    .await;
    let f = ours.failure.clone().expect("fails");
    assert_eq!(f.kind, FailureKind::Refused, "{f:?}");
    assert!(f.message.contains(&target), "{f:?}");
    assert_same(&bb, &ours);

    // Redis answers PING with +PONG, not what this expects; QUIT makes it close.
    let bb = s.bb.probe("redis_wrong", "127.0.0.1:6379").await;
    let ours = alertd_probe(
        "name: t\ntimeout: 2s\ntcp:\n  target: '127.0.0.1:6379'\n  query_response:\n    - send: PING\n    - send: QUIT\n    - expect: '^SSH-1.5-'\n",
    )
    .await;
    let f = ours.failure.clone().expect("fails");
    assert_eq!(f.kind, FailureKind::Expect, "{f:?}");
    assert!(f.message.contains("\"+OK\""), "{f:?}");
    let m = assert_same(&bb, &ours);
    assert_eq!(
        m[&("probe_failed_due_to_regex".into(), Default::default())],
        1.0
    );
}

#[tokio::test]
async fn silent_peer_times_out() {
    let s = setup().await;
    let a = common::hanging_server().await;
    let target = a.to_string();
    let bb = s.bb.probe("ssh_banner", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 1s\ntcp:\n  target: '{target}'\n  query_response:\n    - expect: '^SSH-2.0-'\n"
    ))
    .await;
    let f = ours.failure.clone().expect("fails");
    assert_eq!(f.kind, FailureKind::Timeout, "{f:?}");
    assert_same(&bb, &ours);
}
