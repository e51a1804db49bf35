//! The client identity the `hashed` policy keys on: a subnet, from EDNS Client Subnet or the
//! source address, truncated to /24 (IPv4) or /56 (IPv6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Prefix lengths a hashed answer is keyed on.
pub const V4_PREFIX: u8 = 24;
pub const V6_PREFIX: u8 = 56;

/// A client: its address as given (source, or the ECS address), and the masked subnet the
/// `hashed` policy keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey {
    /// The subnet, masked to at most /24 or /56.
    pub addr: IpAddr,
    pub prefix: u8,
    /// The address the topology map is looked up with (IPv4-mapped IPv6 as IPv4).
    pub ip: IpAddr,
}

impl ClientKey {
    /// The subnet of a source address.
    pub fn from_source(ip: IpAddr) -> Self {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        Self::masked(ip, u8::MAX)
    }

    /// The subnet of an ECS option: never longer than the client sent, nor than /24 or /56.
    pub fn from_ecs(ip: IpAddr, source_prefix: u8) -> Self {
        Self::masked(ip, source_prefix)
    }

    fn masked(ip: IpAddr, prefix: u8) -> Self {
        match ip {
            IpAddr::V4(v4) => {
                let prefix = prefix.min(V4_PREFIX);
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                ClientKey {
                    addr: IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask)),
                    prefix,
                    ip,
                }
            }
            IpAddr::V6(v6) => {
                let prefix = prefix.min(V6_PREFIX);
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                ClientKey {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)),
                    prefix,
                    ip,
                }
            }
        }
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
}
