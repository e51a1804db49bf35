//! What the deployment adds to the cutover figures (a cluster's polling, secondaries fed by
//! transfers): set on a zone set by whoever loads it, read by the timing math in `cutover`.

use std::time::Duration;

use super::Zone;

/// What the deployment adds to the probes' own figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// With a cluster, a peer's verdict reaches this instance up to `poll_interval +
    /// poll_timeout` after the peer reached it: added to detection and readmission.
    pub consensus: Duration,
    /// With zone transfers: what a secondary adds, for the zones it covers.
    pub secondary: Option<Secondary>,
}

/// Secondaries fed by transfers: a change reaches them up to `coalesce + transfer_time` after
/// gslbd's own answers changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secondary {
    pub coalesce: Duration,
    pub transfer_time: Duration,
    /// The zones transferred (`None`: every zone), lower case.
    pub zones: Option<Vec<hickory_proto::rr::Name>>,
}

impl Secondary {
    /// Whether the secondaries carry `zone`.
    pub fn covers(&self, zone: &Zone) -> bool {
        self.zones.as_ref().is_none_or(|z| {
            z.iter()
                .any(|n| hickory_proto::rr::LowerName::new(n) == zone.origin)
        })
    }
}
