//! The `icmp` probe (blackbox_exporter's `icmp` prober): one echo request to an IPv4 or IPv6
//! address, success when the matching echo reply comes back before the deadline.
//!
//! Sockets, as blackbox opens them: an unprivileged ICMP datagram socket first (Linux allows it
//! to the groups in `net.ipv4.ping_group_range`, which also governs IPv6), else a raw socket
//! (needs CAP_NET_RAW); when neither can be opened the run fails with a local error naming both
//! causes. The reply's TTL (hop limit) is read from the socket's control messages.
//!
//! Bounds: one datagram buffer of 64 KiB per run; packets from other peers, or replies to other
//! requests, are skipped until the deadline.

use std::io::IoSliceMut;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::LazyLock;
use std::time::Instant;

use model::Labels;
use nix::sys::socket::{
    self, sockopt, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockProtocol, SockType,
    SockaddrStorage,
};
use tokio::io::Interest;

use super::addr::Chosen;
use super::{run_until, Failure, FailureKind, Outcome, SeriesBuf};
use crate::config::IcmpProbeConfig;

/// The echo data blackbox sends (and pads with zeros to `payload_size`).
const PAYLOAD: &[u8] = b"Prometheus Blackbox Exporter";

/// Sequence numbers: shared by every probe, starting at a random offset as in blackbox.
static SEQUENCE: LazyLock<AtomicU16> = LazyLock::new(|| {
    let mut b = [0u8; 2];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b);
    AtomicU16::new(u16::from_be_bytes(b))
});

/// A prepared `icmp` probe.
pub(crate) struct IcmpProbe {
    pub base: Labels,
    cfg: IcmpProbeConfig,
    payload: Vec<u8>,
}

/// What a run learned.
#[derive(Default)]
struct Found {
    chosen: Option<Chosen>,
    setup: f64,
    rtt: f64,
    hop_limit: Option<f64>,
}

/// An open ICMP socket and whether it is a datagram ("unprivileged") one.
struct Sock {
    fd: tokio::net::UdpSocket,
    datagram: bool,
}

impl IcmpProbe {
    pub(crate) fn new(mut base: Labels, cfg: &IcmpProbeConfig) -> Self {
        if base.get("instance").is_none() {
            base.set("instance", cfg.target.as_str());
        }
        let payload = match cfg.payload_size {
            Some(n) if n > 0 => {
                let mut p = vec![0u8; usize::from(n)];
                let k = PAYLOAD.len().min(p.len());
                p[..k].copy_from_slice(&PAYLOAD[..k]);
                p
            }
            _ => PAYLOAD.to_vec(),
        };
        IcmpProbe {
            base,
            cfg: cfg.clone(),
            payload,
        }
    }

    pub(crate) async fn run(&self, deadline: tokio::time::Instant) -> Outcome {
        let started = Instant::now();
        let mut found = Found::default();
        let failure = run_until(deadline, started, self.exec(&mut found, deadline), |secs| {
            format!("no echo reply from {} within {:.3}s", self.cfg.target, secs)
        })
        .await;
        let mut b = SeriesBuf::new(&self.base);
        b.push_result(started, &failure);
        let resolve = found.chosen.as_ref().map_or(0.0, |c| c.lookup_seconds);
        if let Some(c) = &found.chosen {
            c.push(&mut b);
        }
        for (phase, v) in [
            ("resolve", resolve),
            ("setup", found.setup),
            ("rtt", found.rtt),
        ] {
            b.push("probe_icmp_duration_seconds", &[("phase", phase)], v);
        }
        if let (None, Some(h)) = (&failure, found.hop_limit) {
            b.push("probe_icmp_reply_hop_limit", &[], h);
        }
        Outcome {
            explicit: Vec::new(),
            series: b.out,
            failure,
        }
    }

    async fn exec(&self, found: &mut Found, deadline: tokio::time::Instant) -> Result<(), Failure> {
        let chosen = Chosen::resolve(
            &self.cfg.target,
            self.cfg.preferred_ip_protocol,
            self.cfg.ip_protocol_fallback,
            deadline,
        )
        .await;
        found.chosen = Some(chosen.clone());
        let ip = chosen.ip?;
        let setup = Instant::now();
        let sock = open(ip, self.cfg.ttl)?;
        let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        // The kernel replaces the id of a datagram socket's requests with its own.
        let id = (std::process::id() & 0xffff) as u16;
        let request = echo(ip.is_ipv6(), id, seq, &self.payload);
        found.setup = setup.elapsed().as_secs_f64();
        let rtt = Instant::now();
        let dst = SockaddrStorage::from(SocketAddr::new(ip, 0));
        send(&sock.fd, &request, &dst).await.map_err(|e| {
            Failure::new(
                FailureKind::Connect,
                format!("sending an echo request to {ip}: {e}"),
            )
        })?;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from, hop) = recv(&sock.fd, &mut buf).await.map_err(|e| {
                Failure::new(
                    FailureKind::Connect,
                    format!("reading from the ICMP socket: {e}"),
                )
            })?;
            if from != Some(ip) {
                continue;
            }
            let mut packet = &buf[..n];
            if ip.is_ipv4() && !sock.datagram {
                // A raw IPv4 socket reads the IP header too.
                let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
                packet = packet.get(ihl..).unwrap_or_default();
            }
            if is_reply(
                packet,
                ip.is_ipv6(),
                (!sock.datagram).then_some(id),
                seq,
                &self.payload,
            ) {
                found.rtt = rtt.elapsed().as_secs_f64();
                found.hop_limit = hop.map(f64::from);
                return Ok(());
            }
        }
    }
}

/// Opens a datagram ICMP socket, else a raw one; a local failure naming both causes.
fn open(ip: IpAddr, ttl: u8) -> Result<Sock, Failure> {
    let (family, proto) = match ip {
        IpAddr::V4(_) => (AddressFamily::Inet, SockProtocol::Icmp),
        IpAddr::V6(_) => (AddressFamily::Inet6, SockProtocol::IcmpV6),
    };
    let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
    let (fd, datagram) = match socket::socket(family, SockType::Datagram, flags, proto) {
        Ok(fd) => (fd, true),
        Err(dgram_err) => match socket::socket(family, SockType::Raw, flags, proto) {
            Ok(fd) => (fd, false),
            Err(raw_err) => {
                let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
                    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                    .unwrap_or_else(|_| "unknown".to_string());
                return Err(Failure::new(
                    FailureKind::Local,
                    format!(
                        "cannot open an ICMP socket: unprivileged ICMP refused ({dgram_err}; \
                         net.ipv4.ping_group_range is \"{range}\", gid {}) and a raw socket \
                         refused ({raw_err}; it needs CAP_NET_RAW)",
                        egid()
                    ),
                ));
            }
        },
    };
    let local = |what: &str, e: nix::Error| {
        Failure::new(FailureKind::Local, format!("ICMP socket: {what}: {e}"))
    };
    match ip {
        IpAddr::V4(_) => {
            socket::setsockopt(&fd, sockopt::Ipv4RecvTtl, &true)
                .map_err(|e| local("IP_RECVTTL", e))?;
            socket::setsockopt(&fd, sockopt::Ipv4Ttl, &i32::from(ttl))
                .map_err(|e| local("IP_TTL", e))?;
        }
        IpAddr::V6(_) => {
            socket::setsockopt(&fd, sockopt::Ipv6RecvHopLimit, &true)
                .map_err(|e| local("IPV6_RECVHOPLIMIT", e))?;
            socket::setsockopt(&fd, sockopt::Ipv6Ttl, &i32::from(ttl))
                .map_err(|e| local("IPV6_UNICAST_HOPS", e))?;
        }
    }
    // Datagram I/O on any socket type: tokio's UdpSocket is only sendto/recvmsg readiness here.
    let fd = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(fd))
        .map_err(|e| Failure::new(FailureKind::Local, format!("ICMP socket: {e}")))?;
    Ok(Sock { fd, datagram })
}

/// The effective group id (the owner group of `/proc/self`), for the error message.
fn egid() -> String {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map_or_else(|_| "unknown".to_string(), |m| m.gid().to_string())
}

async fn send(
    fd: &tokio::net::UdpSocket,
    packet: &[u8],
    dst: &SockaddrStorage,
) -> std::io::Result<()> {
    fd.async_io(Interest::WRITABLE, || {
        socket::sendto(fd.as_raw_fd(), packet, dst, MsgFlags::empty()).map_err(std::io::Error::from)
    })
    .await
    .map(|_| ())
}

/// One datagram: its length, sender and TTL / hop limit if the kernel told it.
async fn recv(
    fd: &tokio::net::UdpSocket,
    buf: &mut [u8],
) -> std::io::Result<(usize, Option<IpAddr>, Option<u8>)> {
    fd.async_io(Interest::READABLE, || {
        let mut iov = [IoSliceMut::new(&mut *buf)];
        let mut cmsg = nix::cmsg_space!(nix::libc::c_int, nix::libc::c_int);
        let msg = socket::recvmsg::<SockaddrStorage>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(std::io::Error::from)?;
        let from = msg.address.and_then(|a| {
            a.as_sockaddr_in()
                .map(|s| IpAddr::V4(s.ip()))
                .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
        });
        let mut hop = None;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv4Ttl(t) => hop = u8::try_from(t).ok(),
                    ControlMessageOwned::Ipv6HopLimit(h) => hop = u8::try_from(h).ok(),
                    _ => {}
                }
            }
        }
        Ok((msg.bytes, from, hop))
    })
    .await
}

/// An echo request: type 8 (ICMPv4) or 128 (ICMPv6), code 0, checksum (the kernel computes
/// ICMPv6's), id, sequence, data.
fn echo(v6: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(8 + data.len());
    p.extend_from_slice(&[if v6 { 128 } else { 8 }, 0, 0, 0]);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(data);
    if !v6 {
        let c = checksum(&p);
        p[2..4].copy_from_slice(&c.to_be_bytes());
    }
    p
}

/// The Internet checksum (RFC 1071).
fn checksum(p: &[u8]) -> u16 {
    let mut sum: u32 = p
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Whether `p` is the echo reply to our request (the id is checked only where we chose it).
fn is_reply(p: &[u8], v6: bool, id: Option<u16>, seq: u16, data: &[u8]) -> bool {
    p.len() >= 8
        && p[0] == if v6 { 129 } else { 0 }
        && p[1] == 0
        && id.is_none_or(|id| p[4..6] == id.to_be_bytes())
        && p[6..8] == seq.to_be_bytes()
        && &p[8..] == data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_packets_and_replies() {
        let p = echo(false, 0x1234, 7, PAYLOAD);
        assert_eq!(&p[..2], &[8, 0]);
        // A packet including its checksum sums to zero.
        assert_eq!(checksum(&p), 0);
        let mut reply = p.clone();
        reply[0] = 0;
        assert!(is_reply(&reply, false, Some(0x1234), 7, PAYLOAD));
        assert!(!is_reply(&reply, false, Some(0x1235), 7, PAYLOAD));
        assert!(is_reply(&reply, false, None, 7, PAYLOAD));
        assert!(!is_reply(&reply, false, None, 8, PAYLOAD));
        assert!(
            !is_reply(&p, false, None, 7, PAYLOAD),
            "a request is no reply"
        );
        assert!(!is_reply(&reply[..6], false, None, 7, PAYLOAD));
        let p6 = echo(true, 1, 2, b"x");
        assert_eq!(p6[0], 128);
    }

    proptest::proptest! {
        /// Any datagram is a reply or not; none panics the check.
        #[test]
        fn any_datagram_is_checked_without_panic(b in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let _ = is_reply(&b, false, Some(1), 1, PAYLOAD);
            let _ = is_reply(&b, true, None, 1, b"");
        }
    }
}
