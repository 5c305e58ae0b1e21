//! The `dns` probe side by side with blackbox_exporter, both asking Debian's nsd serving a test
//! zone on loopback (UDP and TCP, 127.0.0.1 and ::1): answers checked by regexps in each
//! section, SOA serial, NXDOMAIN with and without it being valid, a wrong answer, and a server
//! that never answers.

mod peers;

use collector::FailureKind;
use peers::*;

/// Cases: (module name, the `dns:` settings shared by blackbox's module and alertd's probe,
/// target host, expected failure kind).
const CASES: &[(&str, &str, &str, Option<FailureKind>)] = &[
    (
        "a_udp",
        r"{ query_name: www.example.test, query_type: A, preferred_ip_protocol: ip4,
            validate_answer_rrs: { fail_if_not_matches_regexp: ['^www\.example\.test\.\t3600\tIN\tA\t192\.0\.2\.10$'] },
            validate_authority_rrs: { fail_if_none_matches_regexp: ['\tNS\tns1\.example\.test\.$'] } }",
        "127.0.0.1",
        None,
    ),
    (
        "aaaa_tcp_v6",
        r"{ query_name: www.example.test, query_type: AAAA, transport_protocol: tcp, preferred_ip_protocol: ip6,
            validate_answer_rrs: { fail_if_all_match_regexp: ['\tAAAA\t2001:db8::10$'] } }",
        "::1",
        None,
    ),
    (
        "soa_tcp",
        "{ query_name: example.test, query_type: SOA, transport_protocol: tcp, preferred_ip_protocol: ip4 }",
        "127.0.0.1",
        None,
    ),
    (
        "mx_additional",
        r"{ query_name: example.test, query_type: MX, preferred_ip_protocol: ip4, recursion_desired: false,
            validate_answer_rrs: { fail_if_matches_regexp: ['\tMX\t20 '] },
            validate_additional_rrs: { fail_if_none_matches_regexp: ['^mail\.example\.test\.\t3600\tIN\tA\t'] } }",
        "127.0.0.1",
        None,
    ),
    (
        "txt_quoted",
        r#"{ query_name: txt.example.test, query_type: TXT, preferred_ip_protocol: ip4,
            validate_answer_rrs: { fail_if_not_matches_regexp: ['\tTXT\t"hello world" "second"$'] } }"#,
        "127.0.0.1",
        None,
    ),
    (
        "nxdomain",
        "{ query_name: nope.example.test, query_type: A, preferred_ip_protocol: ip4 }",
        "127.0.0.1",
        Some(FailureKind::Answer),
    ),
    (
        "nxdomain_valid",
        "{ query_name: nope.example.test, query_type: A, preferred_ip_protocol: ip4, valid_rcodes: [NXDOMAIN],
            validate_authority_rrs: { fail_if_not_matches_regexp: ['\tSOA\t'] } }",
        "127.0.0.1",
        None,
    ),
    (
        "wrong_answer",
        r"{ query_name: www.example.test, query_type: A, preferred_ip_protocol: ip4,
            validate_answer_rrs: { fail_if_none_matches_regexp: ['192\.0\.2\.99'] } }",
        "127.0.0.1",
        Some(FailureKind::Answer),
    ),
    (
        "refused_zone",
        "{ query_name: other.invalid, query_type: A, preferred_ip_protocol: ip4 }",
        "127.0.0.1",
        Some(FailureKind::Answer),
    ),
];

fn with_target(settings: &str, target: &str) -> String {
    settings.replacen('{', &format!("{{ target: '{target}', "), 1)
}

#[tokio::test]
async fn queries_agree_with_blackbox() {
    let dir = tempfile::tempdir().unwrap();
    let (port, _nsd) = nsd(dir.path()).await;
    let modules: String = CASES
        .iter()
        .map(|(m, s, _, _)| {
            format!(
                "  {m}:\n    prober: dns\n    timeout: 2s\n    dns: {}\n",
                s.replace('\n', " ")
            )
        })
        .collect();
    let bb = Blackbox::start(&modules).await;
    for (module, settings, host, want) in CASES {
        let target = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let theirs = bb.probe(module, &target).await;
        let ours = alertd_probe(&format!(
            "name: t\ntimeout: 2s\ndns: {}\n",
            with_target(settings, &target).replace('\n', " ")
        ))
        .await;
        assert_eq!(
            ours.failure.as_ref().map(|f| f.kind),
            *want,
            "{module}: {:?}",
            ours.failure
        );
        let m = assert_same(&theirs, &ours);
        let v = |n: &str| m[&(n.to_string(), Default::default())];
        assert_eq!(v("probe_dns_query_succeeded"), 1.0, "{module}");
        match *module {
            "soa_tcp" => assert_eq!(v("probe_dns_serial"), 2026120701.0),
            "aaaa_tcp_v6" => assert_eq!(v("probe_ip_protocol"), 6.0),
            "nxdomain_valid" => assert_eq!(v("probe_dns_authority_rrs"), 1.0),
            "mx_additional" => assert!(v("probe_dns_additional_rrs") >= 1.0),
            _ => {}
        }
    }
}

#[tokio::test]
async fn silent_server_times_out_like_blackbox() {
    // A UDP socket that reads nothing and answers nothing.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let settings = "{ query_name: www.example.test, query_type: A, preferred_ip_protocol: ip4 }";
    let bb = Blackbox::start(&format!(
        "  a:\n    prober: dns\n    timeout: 1s\n    dns: {settings}\n"
    ))
    .await;
    let theirs = bb.probe("a", &target).await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 1s\ndns: {}\n",
        with_target(settings, &target)
    ))
    .await;
    let f = ours.failure.clone().expect("fails");
    assert_eq!(f.kind, FailureKind::Timeout, "{f:?}");
    assert!(f.message.contains(&target), "{f:?}");
    let m = assert_same(&theirs, &ours);
    assert_eq!(
        m[&("probe_dns_query_succeeded".into(), Default::default())],
        0.0
    );
}
