//! The tcp, dns, icmp and grpc probes in the running daemon, shown on the status page `/` like
//! HTTP probes: kind, target, state and, when down, the reason. Real peers on loopback: nsd
//! with a test zone, the Python gRPC health server, Redis on 6379, alertd's own port; down
//! cases: a closed port, NXDOMAIN, a wrong answer, a DNS server that never answers, an
//! unhealthy gRPC service, a dialogue whose `expect` never matches.

use std::time::Duration;

use e2e::{free_port, grpc_health_server, nsd, start, wait_for};

/// The `<article>` of probe `name` in the page.
fn card<'a>(page: &'a str, name: &str) -> Option<&'a str> {
    let at = page.find(&format!("data-probe=\"{name}\""))?;
    let rest = &page[at..];
    Some(&rest[..rest.find("</article>")?])
}

#[test]
fn new_probe_kinds_show_state_target_and_reason_on_the_status_page() {
    let dir = tempfile::tempdir().unwrap();
    let (dns, _nsd) = nsd(dir.path());
    let (grpc, _grpc) = grpc_health_server();
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent = silent.local_addr().unwrap();
    let closed = free_port();
    let port = free_port();
    let config = format!(
        "\
api: {{ listen: 127.0.0.1:{port} }}
storage: {{ path: data }}
global: {{ scrape_interval: 1s }}
probes:
  - name: tcp-up
    tcp: {{ target: '127.0.0.1:{port}' }}
  - name: tcp-refused
    tcp: {{ target: '127.0.0.1:{closed}' }}
  - name: redis-wrong
    tcp:
      target: '127.0.0.1:6379'
      query_response: [{{ send: PING }}, {{ send: QUIT }}, {{ expect: '^SSH-2.0-' }}]
  - name: dns-up
    dns: {{ target: '127.0.0.1:{dns}', query_name: www.example.test, query_type: A }}
  - name: dns-nxdomain
    dns: {{ target: '127.0.0.1:{dns}', query_name: nope.example.test, query_type: A }}
  - name: dns-wrong
    dns:
      target: '127.0.0.1:{dns}'
      query_name: www.example.test
      query_type: A
      validate_answer_rrs: {{ fail_if_not_matches_regexp: ['192\\.0\\.2\\.99'] }}
  - name: dns-silent
    dns: {{ target: '{silent}', query_name: www.example.test }}
  - name: ping4
    icmp: {{ target: 127.0.0.1 }}
  - name: ping6
    icmp: {{ target: '::1', preferred_ip_protocol: ip6 }}
  - name: grpc-up
    grpc: {{ target: '127.0.0.1:{grpc}', service: up }}
  - name: grpc-down
    grpc: {{ target: '127.0.0.1:{grpc}', service: down }}
  - name: grpc-refused
    grpc: {{ target: '127.0.0.1:{closed}' }}
"
    );
    let d = start(port, &config, &[]).unwrap();
    // (probe, kind, target shown, state, reason prefix)
    let want: &[(&str, &str, String, &str, Option<&str>)] = &[
        ("tcp-up", "tcp", format!("127.0.0.1:{port}"), "up", None),
        (
            "tcp-refused",
            "tcp",
            format!("127.0.0.1:{closed}"),
            "down",
            Some("refused: connecting to 127.0.0.1:"),
        ),
        (
            "redis-wrong",
            "tcp",
            "127.0.0.1:6379".into(),
            "down",
            Some("expect: query_response[2]: no line matched &quot;^SSH-2.0-&quot;"),
        ),
        (
            "dns-up",
            "dns",
            format!("www.example.test A @127.0.0.1:{dns}"),
            "up",
            None,
        ),
        (
            "dns-nxdomain",
            "dns",
            format!("nope.example.test A @127.0.0.1:{dns}"),
            "down",
            Some("answer: nope.example.test A answered NXDOMAIN"),
        ),
        (
            "dns-wrong",
            "dns",
            format!("www.example.test A @127.0.0.1:{dns}"),
            "down",
            Some(
                r"answer: answer section: &quot;www.example.test.\t3600\tIN\tA\t192.0.2.10&quot; does not match",
            ),
        ),
        (
            "dns-silent",
            "dns",
            format!("www.example.test ANY @{silent}"),
            "down",
            Some("timeout: "),
        ),
        ("ping4", "icmp", "127.0.0.1".into(), "up", None),
        ("ping6", "icmp", "::1".into(), "up", None),
        ("grpc-up", "grpc", format!("127.0.0.1:{grpc}"), "up", None),
        (
            "grpc-down",
            "grpc",
            format!("127.0.0.1:{grpc}"),
            "down",
            Some("unhealthy: service &quot;down&quot; is NOT_SERVING"),
        ),
        (
            "grpc-refused",
            "grpc",
            format!("127.0.0.1:{closed}"),
            "down",
            Some("refused: connecting to 127.0.0.1:"),
        ),
    ];
    let mut last = String::new();
    let seen = wait_for(Duration::from_secs(20), || {
        last = d.http("GET", "/").ok()?.body;
        want.iter()
            .all(|(name, _, _, state, _)| {
                card(&last, name).is_some_and(|c| c.contains(&format!("data-state=\"{state}\"")))
            })
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "not every probe reached its state:\n{last}\n{}",
        d.log()
    );
    for (name, kind, target, _, reason) in want {
        let c = card(&last, name).unwrap();
        assert!(
            c.contains(&format!("<span class=\"kind\">{kind}</span>")),
            "{name}: {c}"
        );
        assert!(
            c.contains(&format!("<div class=\"target\">{target}</div>")),
            "{name}: {c}"
        );
        match reason {
            Some(r) => assert!(
                c.contains(&format!("<p class=\"reason\">{r}")),
                "{name}: want reason {r:?} in {c}"
            ),
            None => assert!(!c.contains("class=\"reason\""), "{name}: {c}"),
        }
    }
}
