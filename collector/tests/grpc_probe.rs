//! The `grpc` probe side by side with blackbox_exporter against a real gRPC health server
//! (Python grpcio's), plain and TLS: a serving service, the whole server, a NOT_SERVING service,
//! an unknown service, a closed port; and a peer that never speaks HTTP/2 (timeout).

mod common;
mod peers;

use collector::FailureKind;
use peers::*;

fn modules(ca: &str) -> String {
    let mut m = String::new();
    for (name, service) in [
        ("up", "up"),
        ("all", ""),
        ("down", "down"),
        ("nope", "nope"),
    ] {
        m.push_str(&format!(
            "  {name}:\n    prober: grpc\n    timeout: 3s\n    grpc: {{ service: '{service}', preferred_ip_protocol: ip4 }}\n"
        ));
        m.push_str(&format!(
            "  {name}_tls:\n    prober: grpc\n    timeout: 3s\n    grpc: {{ service: '{service}', preferred_ip_protocol: ip4, tls: true, tls_config: {{ ca_file: '{ca}', server_name: localhost }} }}\n"
        ));
    }
    m
}

#[tokio::test]
async fn health_checks_agree_with_blackbox() {
    let dir = tempfile::tempdir().unwrap();
    let cert = self_signed(dir.path());
    let ca = cert.cert.display().to_string();
    let bb = Blackbox::start(&modules(&ca)).await;
    let (plain, _p) = grpc_health_server(None).await;
    let (tls, _t) = grpc_health_server(Some(&cert)).await;
    let closed = common::closed_port().await.port();
    let cases = [
        ("up", plain, None, 0.0, Some("SERVING")),
        ("all", plain, None, 0.0, Some("SERVING")),
        (
            "down",
            plain,
            Some(FailureKind::Unhealthy),
            0.0,
            Some("NOT_SERVING"),
        ),
        ("nope", plain, Some(FailureKind::Unhealthy), 5.0, None),
        ("up", closed, Some(FailureKind::Refused), 14.0, None),
        ("up_tls", tls, None, 0.0, Some("SERVING")),
        (
            "down_tls",
            tls,
            Some(FailureKind::Unhealthy),
            0.0,
            Some("NOT_SERVING"),
        ),
        ("nope_tls", tls, Some(FailureKind::Unhealthy), 5.0, None),
    ];
    for (module, port, want, code, serving) in cases {
        let target = format!("127.0.0.1:{port}");
        let theirs = bb.probe(module, &target).await;
        let service = module.trim_end_matches("_tls");
        let service = if service == "all" { "" } else { service };
        let tls_opts = if module.ends_with("_tls") {
            format!(", tls: true, tls_config: {{ ca_file: '{ca}', server_name: localhost }}")
        } else {
            String::new()
        };
        let ours = alertd_probe(&format!(
            "name: t\ntimeout: 3s\ngrpc: {{ target: '{target}', service: '{service}'{tls_opts} }}\n"
        ))
        .await;
        assert_eq!(
            ours.failure.as_ref().map(|f| f.kind),
            want,
            "{module} on {port}: {:?}",
            ours.failure
        );
        let m = assert_same(&theirs, &ours);
        assert_eq!(
            m[&("probe_grpc_status_code".into(), Default::default())],
            code,
            "{module}"
        );
        for s in ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] {
            let key = (
                "probe_grpc_healthcheck_response".to_string(),
                [("serving_status".to_string(), s.to_string())].into(),
            );
            let v = if serving == Some(s) { 1.0 } else { 0.0 };
            assert_eq!(m[&key], v, "{module} {s}");
        }
        if let Some(f) = &ours.failure {
            match module {
                "down" | "down_tls" => assert!(f.message.contains("NOT_SERVING"), "{f:?}"),
                "nope" | "nope_tls" => assert!(f.message.contains("NOT_FOUND"), "{f:?}"),
                _ => assert!(f.message.contains(&target), "{f:?}"),
            }
        }
    }
}

/// Not compared: blackbox 0.23 calls Check with `context.Background()`, so against a peer that
/// never answers its request waits for grpc-go's own connection timeout (20 s), not the probe's.
#[tokio::test]
async fn silent_peer_times_out() {
    let a = common::hanging_server().await;
    let ours = alertd_probe(&format!(
        "name: t\ntimeout: 1s\ngrpc: {{ target: '{a}', service: up }}\n"
    ))
    .await;
    let f = ours.failure.clone().expect("fails");
    assert_eq!(f.kind, FailureKind::Timeout, "{f:?}");
    assert_eq!(ours.value("probe_success", &[]), Some(0.0));
    assert_eq!(ours.value("probe_grpc_status_code", &[]), Some(4.0));
}
