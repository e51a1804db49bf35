//! Hidden primary: standard secondaries (Knot, NSD, BIND, a provider) follow live health by
//! zone transfer (`[transfer]` in `gslbd.toml`).
//!
//! [`render`] turns a zone and the live state into static records; [`Xfr`] (owned by the
//! engine, [`versions`]) decides which change becomes a new version and when, numbers it with
//! a serial that only rises, and hands it to [`notify`]; [`journal`] keeps the published
//! versions, from which [`serve`] answers AXFR and IXFR, TSIG-protected ([`crate::wire::tsig`]); [`service`] is
//! what the DNS transports hand transfers to (slots, refusals before a slot, IXFR over UDP).

pub mod journal;
pub mod notify;
pub mod render;
pub mod serve;
pub mod service;
mod signing;
mod versions;

use hickory_proto::rr::Name;

pub use crate::config::transfer::TransferConfig;
pub use journal::{Journal, Published, Shared, Version};
pub use service::Service;
pub use versions::Xfr;

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
