//! Operator overrides ([`Override`]: drain, force-up, force-down, drill) and the names they are
//! set by ([`RegionKey`]), made canonical against the served zones.

use std::time::Duration;

use serde::Serialize;

use crate::zone::{Pool, Region, ZoneSet};

/// An operator's override of a region, set through the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Override {
    /// Out of the answers, even when every region is down (fail-open skips it too).
    Drain,
    /// In the answers whatever the probes say.
    ForceUp,
    /// Out of the answers whatever the probes say (like drain, for incidents).
    ForceDown,
    /// A failover drill: forced down until `until_ms` (milliseconds since the UNIX epoch;
    /// `until`, whole seconds rounded up, for people and for state files written before
    /// milliseconds), then cleared by itself. `length_ms` bounds what is left of it when the
    /// wall clock says more (a restart after the clock stepped back).
    Drill {
        until: u64,
        #[serde(default, skip_serializing_if = "is_zero")]
        until_ms: u64,
        #[serde(default, skip_serializing_if = "is_zero")]
        length_ms: u64,
    },
}

/// The longest drill (1 day), in milliseconds.
pub const MAX_DRILL_MS: u64 = 24 * 3600 * 1000;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Override {
    /// The override's name as the API and the page write it.
    pub fn name(&self) -> &'static str {
        match self {
            Override::Drain => "drain",
            Override::ForceUp => "force-up",
            Override::ForceDown => "force-down",
            Override::Drill { .. } => "drill",
        }
    }

    /// A drill of `length` from `now_ms` (milliseconds since the UNIX epoch).
    pub fn drill(now_ms: u64, length: Duration) -> Override {
        let length_ms = u64::try_from(length.as_millis()).unwrap_or(u64::MAX);
        let until_ms = now_ms.saturating_add(length_ms);
        Override::Drill {
            until: until_ms.div_ceil(1000),
            until_ms,
            length_ms,
        }
    }

    /// When a drill ends, in milliseconds since the UNIX epoch (`None`: not a drill).
    pub fn drill_end_ms(&self) -> Option<u64> {
        match *self {
            Override::Drill { until_ms, .. } if until_ms > 0 => Some(until_ms),
            Override::Drill { until, .. } => Some(until.saturating_mul(1000)),
            _ => None,
        }
    }

    /// A drill's length (`None`: not a drill, or a drill saved before lengths were).
    pub fn drill_length_ms(&self) -> Option<u64> {
        match *self {
            Override::Drill { length_ms, .. } if length_ms > 0 => Some(length_ms),
            _ => None,
        }
    }

    /// True when it takes the region out of the answers.
    pub fn takes_out(&self) -> bool {
        !matches!(self, Override::ForceUp)
    }
}

/// A region named the way operators name it: zone origin, pool key, region name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct RegionKey {
    pub zone: String,
    pub pool: String,
    pub region: String,
}

impl RegionKey {
    pub fn of(zone: &crate::zone::Zone, pool: &Pool, region: &Region) -> Self {
        RegionKey {
            zone: zone.origin_name.to_string(),
            pool: pool.key.clone(),
            region: region.name.clone(),
        }
    }
}

/// Every override in force.
pub type Overrides = std::collections::BTreeMap<RegionKey, Override>;

impl RegionKey {
    /// The key as `zones` spells the region (zone names match in any case, with or without
    /// the final dot); `None` when no such region is served.
    pub fn canonical(&self, zones: &ZoneSet) -> Option<RegionKey> {
        let id = zones.find_region(&self.zone, &self.pool, &self.region)?;
        let (zone, pool, region) = zones.region(id)?;
        Some(RegionKey::of(zone, pool, region))
    }

    /// True when both name the same region, whatever the zone name's case and final dot.
    pub fn same_region(&self, other: &RegionKey) -> bool {
        let zone = |z: &str| z.trim_end_matches('.').to_ascii_lowercase();
        zone(&self.zone) == zone(&other.zone)
            && self.pool == other.pool
            && self.region == other.region
    }
}

/// Rewrites every override to its region's canonical key; those naming no served region are
/// returned apart (orphaned: kept, listed, clearable, never applied).
pub fn canonical_overrides(overrides: &Overrides, zones: &ZoneSet) -> (Overrides, Overrides) {
    let mut known = Overrides::new();
    let mut orphaned = Overrides::new();
    for (key, action) in overrides {
        match key.canonical(zones) {
            Some(k) => {
                known.insert(k, *action);
            }
            None => {
                orphaned.insert(key.clone(), *action);
            }
        }
    }
    (known, orphaned)
}
