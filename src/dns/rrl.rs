//! Response rate limiting, the BIND/Knot/NSD model: UDP responses are counted per client
//! prefix (/24, /56), response class and name, and a bucket over its rate has its responses
//! dropped, except every `slip`-th, which is sent truncated (TC=1, no records) so that a real
//! client behind a spoofed address retries over TCP. TCP, and queries with a valid server
//! cookie, are never limited (their source address is proven).
//!
//! The table is a fixed array of atomic cells running the generic cell rate algorithm: a
//! response costs one hash and one compare-and-swap, with no lock and no allocation. Buckets
//! that hash to the same cell share it, which can only limit sooner, never later.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipnet::IpNet;
use xxhash_rust::xxh3::xxh3_64;

/// How many cells the table has (a power of two).
const CELLS: usize = 1 << 16;
const NANOS: u64 = 1_000_000_000;
/// Client prefixes responses are counted per.
pub const V4_PREFIX: u8 = 24;
pub const V6_PREFIX: u8 = 56;

/// `gslbd serve --rrl-*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RrlConfig {
    /// Responses per second per bucket (a burst of one second's worth is allowed); 0 is off.
    pub rate: u32,
    /// Every `slip`-th limited response is sent truncated instead of dropped; 0 drops all.
    pub slip: u32,
    /// Clients never limited. Loopback by default: the kernel drops packets from the network
    /// that claim a loopback source, so those clients are local and cannot be spoofed victims.
    pub exempt: Vec<IpNet>,
}

impl Default for RrlConfig {
    fn default() -> Self {
        RrlConfig {
            rate: 200,
            slip: 2,
            exempt: loopback(),
        }
    }
}

/// 127.0.0.0/8 and ::1/128.
pub fn loopback() -> Vec<IpNet> {
    ["127.0.0.0/8", "::1/128"]
        .iter()
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The kind of response a bucket counts (a flood of one kind does not limit another).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Records for the name asked (keyed by name and type).
    Answer,
    /// NOERROR with no answer (keyed by name and type).
    NoData,
    /// NXDOMAIN (keyed by zone: random subdomains of one zone share a bucket).
    NxDomain,
    /// A referral (keyed by name and type).
    Referral,
    /// Any error rcode (keyed by the client prefix alone).
    Error,
}

/// What to do with one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Send,
    /// Send it truncated (TC=1, no records).
    Slip,
    Drop,
}

/// The shared limiter of every UDP thread.
pub struct Limiter {
    config: RrlConfig,
    /// `config.exempt` as (network, mask) pairs, for a test per query without the generic
    /// prefix arithmetic.
    exempt_v4: Vec<(u32, u32)>,
    exempt_v6: Vec<(u128, u128)>,
    /// Per cell, the theoretical arrival time of the next response (ns since `start`).
    cells: Box<[AtomicU64]>,
    start: Instant,
    limited: AtomicU64,
}

impl Limiter {
    /// `None` when `config.rate` is 0 (rate limiting off).
    pub fn new(config: RrlConfig) -> Option<Limiter> {
        let mut exempt_v4 = Vec::new();
        let mut exempt_v6 = Vec::new();
        for net in &config.exempt {
            match net {
                IpNet::V4(n) => exempt_v4.push((u32::from(n.network()), u32::from(n.netmask()))),
                IpNet::V6(n) => {
                    exempt_v6.push((u128::from(n.network()), u128::from(n.netmask())));
                }
            }
        }
        (config.rate > 0).then(|| Limiter {
            config,
            exempt_v4,
            exempt_v6,
            cells: (0..CELLS).map(|_| AtomicU64::new(0)).collect(),
            start: Instant::now(),
            limited: AtomicU64::new(0),
        })
    }

    /// Counts one response to `client` of `class` about `key` (a hash of the name and type,
    /// or of the zone) and says what to do with it.
    pub fn check(&self, client: IpAddr, class: Class, key: u64) -> Verdict {
        if self.exempt(client) {
            return Verdict::Send;
        }
        let now = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.check_at(client, class, key, now)
    }

    /// True for a client that is never limited.
    pub fn exempt(&self, client: IpAddr) -> bool {
        let v4 = match client {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        match (v4, client) {
            (Some(v4), _) => {
                let a = u32::from(v4);
                self.exempt_v4.iter().any(|(net, mask)| a & mask == *net)
            }
            (None, IpAddr::V6(v6)) => {
                let a = u128::from(v6);
                self.exempt_v6.iter().any(|(net, mask)| a & mask == *net)
            }
            (None, IpAddr::V4(_)) => false,
        }
    }

    fn check_at(&self, client: IpAddr, class: Class, key: u64, now: u64) -> Verdict {
        let cell = &self.cells[bucket(client, class, key) & (CELLS - 1)];
        let interval = NANOS / u64::from(self.config.rate);
        // A burst of one second's worth is allowed; `now + NANOS` keeps the times positive.
        let now = now + NANOS;
        let mut tat = cell.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now) + interval;
            if next - now > NANOS + interval {
                break;
            }
            match cell.compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Verdict::Send,
                Err(seen) => tat = seen,
            }
        }
        let n = self.limited.fetch_add(1, Ordering::Relaxed) + 1;
        let slip = u64::from(self.config.slip);
        if slip > 0 && n.is_multiple_of(slip) {
            Verdict::Slip
        } else {
            Verdict::Drop
        }
    }
}

/// The bucket of a response: the client's prefix, the class and the key.
fn bucket(client: IpAddr, class: Class, key: u64) -> usize {
    let mut bytes = [0u8; 26];
    match client {
        IpAddr::V4(v4) => bytes[..3].copy_from_slice(&v4.octets()[..usize::from(V4_PREFIX / 8)]),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => bytes[..3].copy_from_slice(&v4.octets()[..3]),
            None => {
                bytes[0] = 6;
                bytes[1..8].copy_from_slice(&v6.octets()[..usize::from(V6_PREFIX / 8)]);
            }
        },
    }
    bytes[8] = class as u8;
    let key = if class == Class::Error { 0 } else { key };
    bytes[9..17].copy_from_slice(&key.to_le_bytes());
    xxh3_64(&bytes) as usize
}

/// A hash of a name (any case) and type, in wire form, for [`Limiter::check`].
pub fn name_key(name: &[u8], qtype: u16) -> u64 {
    let mut buf = [0u8; 257];
    let n = name.len().min(255);
    for (d, s) in buf.iter_mut().zip(&name[..n]) {
        *d = s.to_ascii_lowercase();
    }
    buf[n..n + 2].copy_from_slice(&qtype.to_be_bytes());
    xxh3_64(&buf[..n + 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(rate: u32, slip: u32) -> Limiter {
        Limiter::new(RrlConfig {
            rate,
            slip,
            exempt: loopback(),
        })
        .expect("on")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_bucket_sends_its_rate_with_a_one_second_burst_then_limits() {
        let l = limiter(10, 0);
        let c = ip("192.0.2.1");
        let sent = (0..100)
            .filter(|_| l.check_at(c, Class::Answer, 1, 0) == Verdict::Send)
            .count();
        assert_eq!(sent, 11, "a second's burst (and the first)");
        // A tenth of a second later, one more.
        assert_eq!(l.check_at(c, Class::Answer, 1, NANOS / 10), Verdict::Send);
        assert_eq!(l.check_at(c, Class::Answer, 1, NANOS / 10), Verdict::Drop);
        // Over ten seconds at 100 a second: about rate × time + burst get through.
        let sent = (0..1000u64)
            .filter(|i| l.check_at(c, Class::Answer, 1, NANOS + i * NANOS / 100) == Verdict::Send)
            .count();
        assert!((100..=112).contains(&sent), "{sent}");
    }

    #[test]
    fn buckets_are_per_prefix_class_and_name() {
        let l = limiter(1, 0);
        let now = 0;
        for (client, class, key) in [
            ("192.0.2.1", Class::Answer, 1),
            ("192.0.2.200", Class::Answer, 1), // the same /24
        ] {
            for _ in 0..5 {
                l.check_at(ip(client), class, key, now);
            }
        }
        assert_eq!(
            l.check_at(ip("192.0.2.9"), Class::Answer, 1, now),
            Verdict::Drop
        );
        assert_eq!(
            l.check_at(ip("192.0.3.9"), Class::Answer, 1, now),
            Verdict::Send
        );
        assert_eq!(
            l.check_at(ip("192.0.2.9"), Class::Answer, 2, now),
            Verdict::Send
        );
        assert_eq!(
            l.check_at(ip("192.0.2.9"), Class::NxDomain, 1, now),
            Verdict::Send
        );
        // Errors ignore the key: one bucket per prefix.
        for _ in 0..5 {
            l.check_at(ip("198.51.100.1"), Class::Error, 7, now);
        }
        assert_eq!(
            l.check_at(ip("198.51.100.1"), Class::Error, 8, now),
            Verdict::Drop
        );
        // IPv6 per /56.
        for _ in 0..5 {
            l.check_at(ip("2001:db8:0:100::1"), Class::Answer, 1, now);
        }
        assert_eq!(
            l.check_at(ip("2001:db8:0:1ff::9"), Class::Answer, 1, now),
            Verdict::Drop
        );
        assert_eq!(
            l.check_at(ip("2001:db8:0:200::9"), Class::Answer, 1, now),
            Verdict::Send
        );
    }

    #[test]
    fn every_slip_th_limited_response_is_truncated() {
        let l = limiter(1, 3);
        let c = ip("192.0.2.1");
        let verdicts: Vec<Verdict> = (0..11)
            .map(|_| l.check_at(c, Class::Answer, 1, 0))
            .collect();
        let limited = &verdicts[2..];
        let slips = limited.iter().filter(|v| **v == Verdict::Slip).count();
        assert_eq!(slips, 3, "{verdicts:?}");
        assert!(
            Limiter::new(RrlConfig {
                rate: 0,
                ..RrlConfig::default()
            })
            .is_none(),
            "0 is off"
        );
        // Exempt clients are never limited.
        let l = limiter(1, 0);
        for client in ["127.0.0.1", "::1", "::ffff:127.0.0.9"] {
            let sent = (0..50)
                .filter(|_| l.check(ip(client), Class::Answer, 1) == Verdict::Send)
                .count();
            assert_eq!(sent, 50, "{client}");
        }
    }

    #[test]
    fn names_hash_the_same_in_any_case() {
        assert_eq!(
            name_key(b"\x03WwW\x01t\x00", 1),
            name_key(b"\x03www\x01T\x00", 1)
        );
        assert_ne!(
            name_key(b"\x03www\x01t\x00", 1),
            name_key(b"\x03www\x01t\x00", 28)
        );
    }
}
