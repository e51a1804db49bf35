//! What the DNS path knows about each region ([`Live`]): serving or not, its override, and its
//! live weight (slow start ramps it from a floor).

use std::time::Instant;

use super::Override;
use crate::zone::{Pool, Region, RegionId};

/// What the DNS path knows about one region.
#[derive(Debug, Clone, Copy)]
pub struct RegionLive {
    pub serving: bool,
    /// Set while a `slow_start` ramp may apply.
    pub recovered_at: Option<Instant>,
    pub override_: Option<Override>,
    /// Its target has no verdict yet and its latest probe failed (nothing else decided it):
    /// DNS still answers it (as `initial`), but a transferred version, which cannot be taken
    /// back, leaves it out.
    pub unproven_failing: bool,
}

/// Share of full weight a region gets at the start of its slow-start ramp.
pub const SLOW_START_FLOOR: f64 = 0.1;
/// Live weights are scaled by this so that a ramp is smooth even for weight 1.
pub const WEIGHT_SCALE: u64 = 1000;

/// The live state of every region, indexed by [`RegionId`].
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub(super) regions: Vec<RegionLive>,
}

impl Live {
    pub fn region(&self, id: RegionId) -> Option<&RegionLive> {
        self.regions.get(id)
    }

    /// The live weight of a region, scaled by [`WEIGHT_SCALE`]; 0 when it must not be answered.
    pub fn weight(&self, pool: &Pool, region: &Region, now: Instant) -> u64 {
        let full = u64::from(region.weight) * WEIGHT_SCALE;
        let Some(live) = self.regions.get(region.id) else {
            return full;
        };
        if !live.serving {
            return 0;
        }
        match (pool.slow_start, live.recovered_at) {
            (Some(ramp), Some(at)) => {
                let share = (now.saturating_duration_since(at).as_secs_f64() / ramp.as_secs_f64())
                    .clamp(SLOW_START_FLOOR, 1.0);
                ((full as f64) * share).round().max(1.0) as u64
            }
            _ => full,
        }
    }

    /// The live view as secondaries get it: a region whose target has no verdict yet and
    /// whose latest probe failed is not serving.
    pub fn for_transfer(&self) -> Live {
        let regions = self
            .regions
            .iter()
            .map(|r| RegionLive {
                serving: r.serving && !r.unproven_failing,
                ..*r
            })
            .collect();
        Live { regions }
    }

    /// The weight a region gets when every region is down and the pool fails open: its
    /// configured weight, unless an operator drained or forced it down.
    pub fn fail_open_weight(&self, region: &Region) -> u64 {
        match self.regions.get(region.id).and_then(|l| l.override_) {
            Some(o) if o.takes_out() => 0,
            _ => u64::from(region.weight) * WEIGHT_SCALE,
        }
    }
}
