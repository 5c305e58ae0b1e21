//! The `icmp` probe side by side with blackbox_exporter, pinging 127.0.0.1 and ::1: as root (a
//! raw socket; this machine's `net.ipv4.ping_group_range` admits no group), as an unprivileged
//! user in a network namespace whose `ping_group_range` admits it (a datagram socket), and as an
//! unprivileged user admitted by neither (the clear error). The last two re-run this test binary
//! under `unshare -n` + `setpriv`.

mod peers;

use std::process::Command;

use collector::FailureKind;
use peers::*;

const MODULES: &str = "
  icmp4:
    prober: icmp
    timeout: 2s
    icmp: { preferred_ip_protocol: ip4 }
  icmp6:
    prober: icmp
    timeout: 2s
    icmp: { preferred_ip_protocol: ip6 }
";

/// Pings both loopback addresses with blackbox and alertd and compares; returns alertd's
/// failures (kind and message) per address.
async fn compare_both() -> Vec<Option<(FailureKind, String)>> {
    let bb = Blackbox::start(MODULES).await;
    let mut out = Vec::new();
    for (module, target, proto) in [("icmp4", "127.0.0.1", "ip4"), ("icmp6", "::1", "ip6")] {
        let theirs = bb.probe(module, target).await;
        let ours = alertd_probe(&format!(
            "name: t\ntimeout: 2s\nicmp: {{ target: '{target}', preferred_ip_protocol: {proto} }}\n"
        ))
        .await;
        let m = assert_same(&theirs, &ours);
        if ours.failure.is_none() {
            assert_eq!(
                m[&("probe_icmp_reply_hop_limit".into(), Default::default())],
                64.0
            );
        }
        out.push(ours.failure.map(|f| (f.kind, f.message)));
    }
    out
}

fn cap_eff() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

#[tokio::test]
async fn loopback_pings_agree_with_blackbox() {
    let failures = compare_both().await;
    if cap_eff() != 0 || std::env::var_os("ALERTD_ICMP_INNER").is_some() {
        // Root here (raw sockets), or the namespace of the datagram test below.
        assert_eq!(failures, vec![None, None]);
    } else {
        // An unprivileged run on a host that admits no group: the error case.
        assert!(failures
            .iter()
            .all(|f| f.as_ref().is_some_and(|f| f.0 == FailureKind::Local)));
    }
}

/// Inner test of the two below: runs only when they start it.
#[tokio::test]
async fn inner_unprivileged() {
    let Ok(want) = std::env::var("ALERTD_ICMP_INNER") else {
        return;
    };
    assert_eq!(
        cap_eff(),
        0,
        "runs without capabilities: no raw socket possible"
    );
    let failures = compare_both().await;
    match want.as_str() {
        "datagram" => assert_eq!(failures, vec![None, None]),
        _ => {
            for f in failures {
                let (kind, msg) = f.expect("fails");
                eprintln!("{msg}");
                assert_eq!(kind, FailureKind::Local);
                assert!(
                    msg.contains("ping_group_range is \"1 0\"") && msg.contains("CAP_NET_RAW"),
                    "{msg}"
                );
            }
        }
    }
}

/// Re-runs `inner_unprivileged` as nobody in a fresh network namespace with `range` as its
/// `ping_group_range`.
fn run_inner(range: &str, want: &str) {
    if cap_eff() == 0 {
        eprintln!("not root: cannot make a network namespace; skipped");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let script = format!(
        "ip link set lo up && echo '{range}' > /proc/sys/net/ipv4/ping_group_range && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
         --bounding-set=-all \"$0\" --exact inner_unprivileged --nocapture"
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .arg(&exe)
        .env("ALERTD_ICMP_INNER", want)
        .env("TMPDIR", "/tmp")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
    eprintln!("{text}");
}

#[test]
fn unprivileged_datagram_sockets_agree_with_blackbox() {
    run_inner("0 2147483647", "datagram");
}

#[test]
fn neither_socket_kind_is_a_clear_error() {
    run_inner("1 0", "none");
}
