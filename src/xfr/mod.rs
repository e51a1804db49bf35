//! Hidden primary: standard secondaries (Knot, NSD, BIND, a provider) follow live health by
//! zone transfer (`[transfer]` in `gslbd.toml`).
//!
//! [`render`] turns a zone and the live state into static records; [`Xfr`] (owned by the
//! engine, [`versions`]) decides which change becomes a new version and when, numbers it with
//! a serial that only rises, and hands it to [`notify`]; [`journal`] keeps the published
//! versions, from which [`serve`] answers AXFR and IXFR, TSIG-protected ([`tsig`]); [`service`] is
//! what the DNS transports hand transfers to (slots, refusals before a slot, IXFR over UDP).

pub mod journal;
pub mod notify;
pub mod render;
pub mod serve;
pub mod service;
mod versions;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name};

/// TSIG lives in `wire`; this path stays for the config that parses the transfer key.
pub use crate::wire::tsig;
pub use journal::{Journal, Published, Shared, Version};
pub use service::Service;
pub use versions::Xfr;

/// The `[transfer]` section, validated.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// May transfer (by address); NOTIFY goes to each (port 53 unless given).
    pub secondaries: Vec<SocketAddr>,
    /// When set, transfers must be signed with it, and NOTIFY is.
    pub key: Option<Arc<tsig::Key>>,
    /// The zones transferred (`None`: every zone), lower case.
    pub zones: Option<Vec<Name>>,
    /// At most one new serial per zone per this long.
    pub coalesce: Duration,
    /// Versions kept per zone for IXFR.
    pub journal: usize,
    /// NOTIFY → transfer done, for the figures.
    pub transfer_time: Duration,
    /// The address NOTIFY leaves from (`notify_source`); `None`: the listen address.
    pub notify_source: Option<IpAddr>,
}

impl TransferConfig {
    /// What secondaries add to the figures.
    pub fn timing(&self) -> crate::cutover::Secondary {
        crate::cutover::Secondary {
            coalesce: self.coalesce,
            transfer_time: self.transfer_time,
            zones: self.zones.clone(),
        }
    }

    /// The names in `zones` that no zone of `set` has (a typo transfers nothing).
    pub fn unknown_zones<'a>(&'a self, set: &crate::zone::ZoneSet) -> Vec<&'a Name> {
        self.zones
            .iter()
            .flatten()
            .filter(|n| {
                let n = LowerName::new(n);
                !set.zones.iter().any(|z| z.origin == n)
            })
            .collect()
    }

    /// Whether `origin` is transferred.
    pub fn covers(&self, origin: &LowerName) -> bool {
        self.zones
            .as_ref()
            .is_none_or(|z| z.iter().any(|n| LowerName::new(n) == *origin))
    }
}

/// A new version to announce.
#[derive(Debug, Clone)]
pub struct Announce {
    pub zone: Name,
    pub serial: u32,
}

/// The serial of a new version: UNIX seconds (so a restart continues upwards), never below the
/// configured serial, always above the last one (RFC 1982 arithmetic).
pub fn next_serial(last: Option<u32>, configured: u32, unix: u64) -> u32 {
    let now = u32::try_from(unix).unwrap_or(u32::MAX).max(configured);
    match last {
        Some(l) if !newer(now, l) => l.wrapping_add(1),
        _ => now,
    }
}

/// `a` is newer than `b` in serial number arithmetic (RFC 1982).
pub fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_clock_and_always_grow() {
        assert_eq!(next_serial(None, 1, 1_700_000_000), 1_700_000_000);
        assert_eq!(
            next_serial(Some(1_700_000_000), 1, 1_700_000_000),
            1_700_000_001
        );
        assert_eq!(
            next_serial(Some(1_700_000_005), 1, 1_700_000_001),
            1_700_000_006
        );
        assert_eq!(
            next_serial(None, 2_000_000_000, 1_700_000_000),
            2_000_000_000
        );
        assert!(newer(1, u32::MAX));
        assert!(!newer(5, 5));
    }
}
