//! The `[transfer]` section of the instance file, validated: which secondaries follow the
//! zones by transfer (hidden primary), with what key, how often, and what they add to the
//! figures.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name};

/// The `[transfer]` section, validated.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// May transfer (by address); NOTIFY goes to each (port 53 unless given).
    pub secondaries: Vec<SocketAddr>,
    /// When set, transfers must be signed with it, and NOTIFY is.
    pub key: Option<Arc<crate::xfr::tsig::Key>>,
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
    pub fn timing(&self) -> crate::zone::timing::Secondary {
        crate::zone::timing::Secondary {
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
