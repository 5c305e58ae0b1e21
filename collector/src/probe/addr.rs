//! Choosing the address to probe as blackbox_exporter's `chooseProtocol` does, with its series:
//! `probe_ip_protocol` (4, 6, or 0 when nothing resolved), `probe_ip_addr_hash` (FNV-1a of the
//! address bytes, to notice an address change) and `probe_dns_lookup_time_seconds`.

use std::net::IpAddr;
use std::time::Instant;

use super::{Failure, SeriesBuf};
use crate::config::IpProtocol;

/// The chosen address (or why there is none) and how long choosing took.
#[derive(Debug, Clone)]
pub(crate) struct Chosen {
    pub ip: Result<IpAddr, Failure>,
    pub lookup_seconds: f64,
}

impl Chosen {
    /// Resolves `host` (an address literal is taken as it is) preferring `pref`.
    pub(crate) async fn resolve(
        host: &str,
        pref: IpProtocol,
        fallback: bool,
        deadline: tokio::time::Instant,
    ) -> Chosen {
        let started = Instant::now();
        let ip = super::http::resolve(host, 0, pref, fallback, deadline)
            .await
            .map(|a| a.ip());
        Chosen {
            ip,
            lookup_seconds: started.elapsed().as_secs_f64(),
        }
    }

    /// Pushes the three series (blackbox registers them whether or not resolving worked).
    pub(crate) fn push(&self, b: &mut SeriesBuf<'_>) {
        let (proto, hash) = match &self.ip {
            Ok(ip @ IpAddr::V4(_)) => (4.0, ip_hash(ip)),
            Ok(ip @ IpAddr::V6(_)) => (6.0, ip_hash(ip)),
            Err(_) => (0.0, 0.0),
        };
        b.push("probe_dns_lookup_time_seconds", &[], self.lookup_seconds);
        b.push("probe_ip_protocol", &[], proto);
        b.push("probe_ip_addr_hash", &[], hash);
    }
}

/// 32-bit FNV-1a of the address's 4 or 16 bytes (an IPv4-mapped IPv6 address as its 4).
pub(crate) fn ip_hash(ip: &IpAddr) -> f64 {
    let bytes: Vec<u8> = match ip.to_canonical() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    f64::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_fnv1a_of_the_address_bytes() {
        // FNV-1a 32 of [127, 0, 0, 1], computed by hand from the algorithm's definition
        // (offset basis 2166136261, prime 16777619).
        let mut h: u64 = 2_166_136_261;
        for b in [127u64, 0, 0, 1] {
            h = ((h ^ b) * 16_777_619) % (1 << 32);
        }
        assert_eq!(ip_hash(&"127.0.0.1".parse().unwrap()), h as f64);
        assert_eq!(
            ip_hash(&"::ffff:127.0.0.1".parse().unwrap()),
            ip_hash(&"127.0.0.1".parse().unwrap())
        );
        assert_ne!(ip_hash(&"::1".parse().unwrap()), h as f64);
    }
}
