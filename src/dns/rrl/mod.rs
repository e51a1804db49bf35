//! Response rate limiting, the BIND/Knot/NSD model: UDP responses are counted per client
//! prefix (/24, /56), response class and [`Key`], and a bucket over its rate has its responses
//! dropped, except every `slip`-th, which is sent truncated (TC=1, no records) so that a real
//! client behind a spoofed address retries over TCP. TCP, and queries with a valid server
//! cookie or a TSIG that verified, are never limited (their source address is proven).
//! [`response`] reads a response's class and key and writes its truncated form.
//!
//! The table is a fixed array of atomic cells running the generic cell rate algorithm: a
//! response costs one keyed hash (SipHash-1-3 with a per-process random key, so no client can
//! compute which queries share another client's cell) and one compare-and-swap, with no lock
//! and no allocation. Buckets that land in one cell share its count (see [`Limiter::check`]).

pub(super) mod response;

use std::hash::Hasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use ipnet::IpNet;
use rand::Rng;
use siphasher::sip::SipHasher13;

/// How many cells the table has (a power of two).
const CELLS: usize = 1 << 16;
/// The clock's unit per second, and the burst a bucket may send at once (one second's worth).
const BURST: u64 = 1_000_000;
/// Past this uptime (146,000 years) the times would overflow, and nothing is limited.
const MAX_NOW: u64 = 1 << 62;
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
    /// NOERROR with no answer (keyed by name: random types at one name share a bucket).
    NoData,
    /// NXDOMAIN (keyed by zone: random subdomains of one zone share a bucket).
    NxDomain,
    /// A referral (keyed by the delegation point: random names below it share a bucket).
    Referral,
    /// Any error rcode (keyed by the client prefix alone).
    Error,
}

/// What, besides the client prefix and the class, tells buckets apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    /// Nothing (errors).
    None,
    /// A zone, by its index.
    Zone(usize),
    /// A name in lowercase wire form.
    Name(&'a [u8]),
    /// A name in lowercase wire form and a type.
    NameType(&'a [u8], u16),
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
    /// The SipHash key of the cell hash, random per process.
    key: (u64, u64),
    /// Time between two responses of a bucket at the rate, in microseconds (at least 1).
    interval: u64,
    /// Per cell, its theoretical arrival time: microseconds since the limiter started, plus
    /// [`BURST`] (so a fresh cell, 0, has its full burst).
    cells: Box<[AtomicU64]>,
    start: Instant,
    limited: AtomicU64,
}

impl Limiter {
    /// `None` when `config.rate` is 0 (rate limiting off).
    pub fn new(config: RrlConfig) -> Option<Limiter> {
        let mut rng = rand::rng();
        Self::keyed(config, (rng.random(), rng.random()))
    }

    /// [`Limiter::new`] with a given hash key.
    fn keyed(config: RrlConfig, key: (u64, u64)) -> Option<Limiter> {
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
            interval: (BURST / u64::from(config.rate)).max(1),
            config,
            exempt_v4,
            exempt_v6,
            key,
            cells: (0..CELLS).map(|_| AtomicU64::new(0)).collect(),
            start: Instant::now(),
            limited: AtomicU64::new(0),
        })
    }

    /// Counts one response to `client` of `class` about `key` and says what to do with it.
    ///
    /// Buckets that land in one cell share its count: a bucket that finds the cell idle (its
    /// burst unused) starts with the full burst, one that finds it busy inherits its state and
    /// is held to the rate from there. So buckets in one cell together get one bucket's rate
    /// while either is busy, and no bucket, whatever others do, ever gets more than its rate:
    /// a collision fails closed. It lets no one limit a bucket they could not already flood
    /// (the hash is keyed per process, and a spoofer can flood a victim's bucket directly),
    /// and a slipped reply still lets a real client retry over TCP. An earlier table let a
    /// newcomer take a busy cell over and be sent; two colliding buckets queried in turn were
    /// then never limited (#24).
    pub fn check(&self, client: IpAddr, class: Class, key: Key<'_>) -> Verdict {
        if self.exempt(client) {
            return Verdict::Send;
        }
        let now = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
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

    /// [`Limiter::check`] at `now` microseconds since the start.
    fn check_at(&self, client: IpAddr, class: Class, key: Key<'_>, now: u64) -> Verdict {
        if now >= MAX_NOW {
            return Verdict::Send;
        }
        let cell = &self.cells[(self.hash(client, class, key) as usize) & (CELLS - 1)];
        let interval = self.interval;
        // `now + BURST` keeps the times positive.
        let now = now + BURST;
        let mut seen = cell.load(Ordering::Relaxed);
        loop {
            let next = seen.max(now) + interval;
            if next - now > BURST + interval {
                break;
            }
            match cell.compare_exchange_weak(seen, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Verdict::Send,
                Err(s) => seen = s,
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

    /// The bucket of a response, keyed: the client's prefix, the class and the key.
    fn hash(&self, client: IpAddr, class: Class, key: Key<'_>) -> u64 {
        let mut prefix = [0u8; 8];
        match client {
            IpAddr::V4(v4) => {
                prefix[..3].copy_from_slice(&v4.octets()[..usize::from(V4_PREFIX / 8)])
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => prefix[..3].copy_from_slice(&v4.octets()[..usize::from(V4_PREFIX / 8)]),
                None => {
                    prefix[0] = 6;
                    prefix[1..8].copy_from_slice(&v6.octets()[..usize::from(V6_PREFIX / 8)]);
                }
            },
        }
        // Errors are counted per prefix alone.
        let key = if class == Class::Error {
            Key::None
        } else {
            key
        };
        let mut h = SipHasher13::new_with_keys(self.key.0, self.key.1);
        h.write(&prefix);
        h.write_u8(class as u8);
        // Each key kind has its own layout; a wire name ends itself (its root label).
        match key {
            Key::None => h.write_u8(0),
            Key::Zone(z) => {
                h.write_u8(1);
                h.write_u64(z as u64);
            }
            Key::Name(name) => {
                h.write_u8(2);
                h.write(name);
            }
            Key::NameType(name, qtype) => {
                h.write_u8(3);
                h.write_u16(qtype);
                h.write(name);
            }
        }
        h.finish()
    }
}

#[cfg(test)]
mod tests;
