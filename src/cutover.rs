//! The timing math: worst-case detection, cutover and recovery for every region, pool and zone.
//!
//! ```text
//! detection = fall × interval + timeout     # the failure lands just after a good probe
//! cutover   = detection + ttl               # resolvers keep the old answer up to the TTL
//! recovery  = max(rise × interval, hold_down + interval) + timeout + ttl
//! ```
//! A pool's figure is its worst region's; a zone's is its worst pool's. Pure functions, no I/O.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::zone::{AllDown, Pool, ProbeSpec, Zone};

/// Worst-case timings for one probe setting at one TTL, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub detection: f64,
    pub cutover: f64,
    pub recovery: f64,
}

impl Figures {
    fn max(self, other: Figures) -> Figures {
        Figures {
            detection: self.detection.max(other.detection),
            cutover: self.cutover.max(other.cutover),
            recovery: self.recovery.max(other.recovery),
        }
    }
}

/// The figures for one probe at one TTL.
pub fn figures(spec: &ProbeSpec, ttl: u32) -> Figures {
    let ttl = Duration::from_secs(u64::from(ttl));
    let detection = spec.interval * spec.fall + spec.timeout;
    let rise = spec.interval * spec.rise;
    let held = spec.hold_down.map_or(Duration::ZERO, |h| h + spec.interval);
    Figures {
        detection: detection.as_secs_f64(),
        cutover: (detection + ttl).as_secs_f64(),
        recovery: (rise.max(held) + spec.timeout + ttl).as_secs_f64(),
    }
}

/// One region's figures (`None`: not probed, so failures are never detected).
#[derive(Debug, Clone, Serialize)]
pub struct RegionCutover {
    pub region: String,
    pub figures: Option<Figures>,
}

/// A pool's figures: the worst region, plus each region where they differ.
#[derive(Debug, Clone, Serialize)]
pub struct PoolCutover {
    pub pool: String,
    pub name: String,
    pub ttl: u32,
    /// Worst over the probed regions; `None` when no region is probed.
    pub worst: Option<Figures>,
    pub regions: Vec<RegionCutover>,
    /// Regions that are never probed (their failures are never detected).
    pub unprobed: Vec<String>,
    /// With `on_all_down = "none"`: how long resolvers may cache the empty answer (SOA minimum).
    pub negative_cache: Option<u32>,
    /// True when regions have different probe settings (the table then lists each).
    pub per_region_differs: bool,
}

/// A zone's figures: the worst pool.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneCutover {
    pub zone: String,
    pub file: String,
    pub worst: Option<Figures>,
    pub pools: Vec<PoolCutover>,
}

pub fn pool(zone: &Zone, pool: &Pool) -> PoolCutover {
    let regions: Vec<RegionCutover> = pool
        .regions
        .iter()
        .map(|r| RegionCutover {
            region: r.name.clone(),
            figures: r.probe.as_ref().map(|p| figures(p, pool.ttl)),
        })
        .collect();
    let worst = regions
        .iter()
        .filter_map(|r| r.figures)
        .reduce(Figures::max);
    let first = regions.first().and_then(|r| r.figures);
    PoolCutover {
        pool: pool.key.clone(),
        name: pool.name.to_string(),
        ttl: pool.ttl,
        worst,
        per_region_differs: regions.iter().any(|r| r.figures != first),
        unprobed: regions
            .iter()
            .filter(|r| r.figures.is_none())
            .map(|r| r.region.clone())
            .collect(),
        regions,
        negative_cache: (pool.on_all_down == AllDown::None).then_some(zone.negative_ttl),
    }
}

pub fn zone(zone: &Zone) -> ZoneCutover {
    let pools: Vec<PoolCutover> = zone.pools.iter().map(|p| pool(zone, p)).collect();
    ZoneCutover {
        zone: zone.origin_name.to_string(),
        file: zone.file.display().to_string(),
        worst: pools.iter().filter_map(|p| p.worst).reduce(Figures::max),
        pools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(interval: u64, timeout_ms: u64, fall: u32, rise: u32) -> ProbeSpec {
        ProbeSpec::for_test(
            Duration::from_secs(interval),
            Duration::from_millis(timeout_ms),
            fall,
            rise,
        )
    }

    #[test]
    fn readme_example_ten_seconds_three_misses_sixty_ttl() {
        // 10 s interval × 3 misses = 30 s detection (+ timeout), + 60 s TTL = cutover.
        let f = figures(&spec(10, 0, 3, 2), 60);
        assert_eq!(f.detection, 30.0);
        assert_eq!(f.cutover, 90.0);
        assert_eq!(f.recovery, 80.0);
    }

    #[test]
    fn timeout_adds_to_detection_and_recovery() {
        let f = figures(&spec(1, 500, 3, 2), 30);
        assert_eq!(f.detection, 3.5);
        assert_eq!(f.cutover, 33.5);
        assert_eq!(f.recovery, 32.5);
    }

    #[test]
    fn hold_down_can_dominate_recovery() {
        let mut s = spec(1, 500, 3, 2);
        s.hold_down = Some(Duration::from_secs(10));
        let f = figures(&s, 0);
        assert_eq!(f.recovery, 11.5);
        s.hold_down = Some(Duration::from_millis(500));
        assert_eq!(figures(&s, 0).recovery, 2.5);
    }

    #[test]
    fn max_takes_each_figure_separately() {
        let a = Figures {
            detection: 1.0,
            cutover: 5.0,
            recovery: 2.0,
        };
        let b = Figures {
            detection: 3.0,
            cutover: 4.0,
            recovery: 1.0,
        };
        assert_eq!(
            a.max(b),
            Figures {
                detection: 3.0,
                cutover: 5.0,
                recovery: 2.0
            }
        );
    }
}
