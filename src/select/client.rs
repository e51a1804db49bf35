//! The client identity answers are decided on: the address (from EDNS Client Subnet, to its
//! source prefix, or the source address) that topology looks up, and the subnet the `hashed`
//! policy keys on, truncated to /24 (IPv4) or /56 (IPv6). IPv4-mapped IPv6 clients are IPv4
//! clients whose ECS scopes are returned in IPv6 terms (96 + the IPv4 scope).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Prefix lengths a hashed answer is keyed on.
pub const V4_PREFIX: u8 = 24;
pub const V6_PREFIX: u8 = 56;

/// Where IPv4 addresses sit inside IPv6: `::ffff:0:0/96`.
const MAPPED_PREFIX: u8 = 96;

/// A client: the prefix it is known by (an ECS subnet, or the source address as a /32 or
/// /128), and the masked subnet the `hashed` policy keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The subnet, masked to at most /24 or /56.
    pub addr: IpAddr,
    pub prefix: u8,
    /// The address the topology map is looked up with (IPv4-mapped IPv6 as IPv4), masked to
    /// `source`.
    pub ip: IpAddr,
    /// How many leading bits of `ip` are the client's (in `ip`'s family).
    pub source: u8,
    /// The client came as IPv4-mapped IPv6: scopes it is answered with are 96 + the IPv4 one.
    pub mapped: bool,
}

impl ClientKey {
    /// The client of a source address.
    pub fn from_source(ip: IpAddr) -> Self {
        Self::from_ecs(ip, u8::MAX)
    }

    /// The client of an ECS option: decided on the address to `source_prefix` bits, hashed on
    /// no longer than that, /24 or /56. An IPv4-mapped subnet (`::ffff:10.1.2.0/120`) is the
    /// IPv4 one (`10.1.2.0/24`).
    pub fn from_ecs(ip: IpAddr, source_prefix: u8) -> Self {
        let (ip, source, mapped) = match ip {
            IpAddr::V6(v6) if source_prefix >= MAPPED_PREFIX => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), source_prefix - MAPPED_PREFIX, true),
                None => (ip, source_prefix, false),
            },
            _ => (ip, source_prefix, false),
        };
        let (ip, source) = mask(ip, source);
        let (addr, prefix) = mask(
            ip,
            source.min(if ip.is_ipv4() { V4_PREFIX } else { V6_PREFIX }),
        );
        ClientKey {
            addr,
            prefix,
            ip,
            source,
            mapped,
        }
    }

    /// The prefix the client is decided on (`10.1.2.3/32`, `10.1.2.0/24`, `2001:db8::/56`).
    pub fn subnet(&self) -> String {
        format!("{}/{}", self.ip, self.source)
    }

    /// The ECS scope for an answer that holds over `prefix` bits of `ip`, in the family the
    /// client came in (a mapped client's /24 is /120).
    /// An IPv6 scope never covers `::ffff:0:0/96`, whose clients are answered as IPv4: near it
    /// (in `::/56`, where `::1` is) the scope narrows to where the client parts from it.
    pub fn scope(&self, prefix: u8) -> u8 {
        if self.mapped {
            return MAPPED_PREFIX + prefix.min(32);
        }
        if let IpAddr::V6(v6) = self.ip {
            let (a, mapped) = (u128::from(v6), 0xffff_u128 << 32);
            let keep = u128::MAX
                .checked_shl(128 - u32::from(prefix.min(128)))
                .unwrap_or(0);
            if prefix <= MAPPED_PREFIX && a & keep == mapped & keep {
                let apart = (a ^ mapped).leading_zeros() + 1;
                return u8::try_from(apart.min(128)).unwrap_or(128).max(prefix);
            }
        }
        prefix
    }

    /// Bytes that identify the subnet, stable across instances and versions.
    pub fn bytes(&self) -> smallvec::SmallVec<[u8; 17]> {
        let mut out: smallvec::SmallVec<[u8; 17]> = match self.addr {
            IpAddr::V4(v4) => v4.octets().into_iter().collect(),
            IpAddr::V6(v6) => v6.octets().into_iter().collect(),
        };
        out.push(self.prefix);
        out
    }
}

/// `ip` with the bits past `prefix` cleared, and `prefix` capped at the family's width.
fn mask(ip: IpAddr, prefix: u8) -> (IpAddr, u8) {
    match ip {
        IpAddr::V4(v4) => {
            let prefix = prefix.min(32);
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            (IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)), prefix)
        }
        IpAddr::V6(v6) => {
            let prefix = prefix.min(128);
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            (IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)), prefix)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_mask_to_24_and_56() {
        let k = ClientKey::from_source("203.0.113.77".parse().unwrap());
        assert_eq!(
            (k.addr, k.prefix, k.ip),
            (
                "203.0.113.0".parse().unwrap(),
                24,
                "203.0.113.77".parse().unwrap()
            )
        );
        let k = ClientKey::from_source("2001:db8:1:2345:6789::1".parse().unwrap());
        assert_eq!(
            (k.addr, k.prefix),
            ("2001:db8:1:2300::".parse().unwrap(), 56)
        );
        let k = ClientKey::from_source("::ffff:198.51.100.9".parse().unwrap());
        assert_eq!(k.addr, "198.51.100.0".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ecs_never_longer_than_sent() {
        let k = ClientKey::from_ecs("10.1.2.3".parse().unwrap(), 16);
        assert_eq!((k.addr, k.prefix), ("10.1.0.0".parse().unwrap(), 16));
        let k = ClientKey::from_ecs("10.1.2.3".parse().unwrap(), 32);
        assert_eq!(k.prefix, 24);
        let k = ClientKey::from_ecs("10.1.2.3".parse().unwrap(), 0);
        assert_eq!((k.addr, k.prefix), ("0.0.0.0".parse().unwrap(), 0));
    }

    #[test]
    fn ipv4_mapped_ecs_is_the_ipv4_client_with_scopes_in_ipv6_terms() {
        let ecs = |ip: &str, prefix| ClientKey::from_ecs(ip.parse().unwrap(), prefix);
        for (mapped, v4) in [
            (ecs("::ffff:17.3.7.9", 128), ecs("17.3.7.9", 32)),
            (ecs("::ffff:17.3.7.0", 120), ecs("17.3.7.0", 24)),
            (ecs("::ffff:0.0.0.0", 96), ecs("0.0.0.0", 0)),
        ] {
            assert_eq!(
                (mapped.addr, mapped.prefix, mapped.ip, mapped.source),
                (v4.addr, v4.prefix, v4.ip, v4.source)
            );
            assert_eq!(mapped.bytes(), v4.bytes());
            assert!(mapped.mapped && !v4.mapped);
            assert_eq!(mapped.scope(mapped.prefix), 96 + v4.scope(v4.prefix));
        }
        assert_eq!(ecs("::ffff:17.3.7.9", 128).subnet(), "17.3.7.9/32");
        // Shorter than /96 it is an IPv6 subnet (the address bits past it are zero on the wire),
        // and its scope stops short of the mapped range.
        let k = ecs("::", 80);
        assert_eq!((k.prefix, k.mapped, k.scope(56)), (56, false, 81));
    }

    #[test]
    fn no_ipv6_scope_covers_the_ipv4_mapped_range() {
        let ecs = |ip: &str, prefix| ClientKey::from_ecs(ip.parse().unwrap(), prefix);
        // ::1 parts from ::ffff:0:0/96 at bit 80: its /56 would cover every mapped client.
        assert_eq!(ecs("::1", 128).scope(56), 81);
        assert_eq!(ecs("::ffff:0:0", 95).scope(56), 96);
        assert_eq!(ecs("2001:db8::1", 128).scope(56), 56);
        assert_eq!(ecs("::ffff:10.1.2.3", 128).scope(24), 120);
    }

    #[test]
    fn the_subnet_shown_is_the_one_decided_on() {
        let ecs = |ip: &str, prefix| ClientKey::from_ecs(ip.parse().unwrap(), prefix).subnet();
        assert_eq!(ecs("10.1.2.3", 32), "10.1.2.3/32");
        assert_eq!(ecs("10.1.2.3", 8), "10.0.0.0/8");
        let source = ClientKey::from_source("2001:db8::1".parse().unwrap());
        assert_eq!(source.subnet(), "2001:db8::1/128");
    }
}
