//! The timing math: worst-case detection, cutover and recovery for every region, pool and zone.
//!
//! ```text
//! detection   = fall × interval + timeout        # the failure lands just after a good probe
//! cutover     = detection + ttl + 1 s            # resolvers keep the old answer up to the TTL
//! readmission = max(rise × interval, hold_down + interval) + timeout
//! recovery    = readmission + cache + 1 s        # cache = max(ttl, what all-down answers cache)
//! ```
//! `detection` and `readmission` are gslbd's own answers; `cutover` and `recovery` are what a
//! client sees through a resolver, which counts TTLs in whole seconds (the `+ 1 s`) and may
//! cache an all-down answer longer than the TTL: NODATA for min(SOA TTL, SOA minimum)
//! (RFC 2308), SERVFAIL for the zone's `resolver_failure_ttl` (RFC 9520). A pool's figure is its
//! worst region's; a zone's is its worst pool's. The figures hold from a start too: every
//! target is probed right after its prober starts, within interval − timeout, so a region dead
//! at the start is out within `detection`. Pure functions, no I/O.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::zone::timing::{Secondary, Timing};
use crate::zone::{AllDown, Policy, Pool, ProbeSpec, Zone};

/// What a resolver adds to every figure seen through it: it keeps time in whole seconds and
/// hands out TTL 0 for up to one more second (measured with Unbound and Knot Resolver).
pub const RESOLVER_CLOCK: Duration = Duration::from_secs(1);

/// The cached answer that bounds recovery through a resolver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    /// The pool's answers (positive, fallback or failing open), for its TTL.
    #[default]
    Ttl,
    /// The NODATA of `on_all_down = "none"`, for min(SOA TTL, SOA minimum).
    Negative,
    /// The SERVFAIL of `on_all_down = "servfail"`, for the zone's `resolver_failure_ttl`.
    Failure,
}

/// The longest a resolver may keep what the pool answered before a region came back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheTerm {
    pub kind: CacheKind,
    pub seconds: f64,
}

impl CacheTerm {
    /// Words for people: "the 30s TTL", "NODATA cached 60s (SOA minimum)", ….
    pub fn describe(&self) -> String {
        let s = self.seconds;
        match self.kind {
            CacheKind::Ttl => format!("the {s}s TTL"),
            CacheKind::Negative => format!("the all-down NODATA, cached {s}s (SOA minimum)"),
            CacheKind::Failure => {
                format!("the all-down SERVFAIL, cached {s}s (resolver_failure_ttl)")
            }
        }
    }
}

/// Worst-case timings for one probe setting at one TTL, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Failure → out of gslbd's answers.
    pub detection: f64,
    /// Failure → the old answer gone from resolvers' caches.
    pub cutover: f64,
    /// Healthy again → back in gslbd's answers.
    #[serde(default)]
    pub readmission: f64,
    /// Healthy again → resolvers' cached answers (see `recovery_cache`) have expired.
    pub recovery: f64,
    /// The cached answer that bounds `recovery`.
    #[serde(default)]
    pub recovery_cache: CacheTerm,
    /// With zone transfers: the same seen through a secondary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_secondary: Option<ViaSecondary>,
}

impl Figures {
    /// Each figure the larger of the two.
    pub fn max(self, other: Figures) -> Figures {
        Figures {
            detection: self.detection.max(other.detection),
            cutover: self.cutover.max(other.cutover),
            readmission: self.readmission.max(other.readmission),
            recovery: self.recovery.max(other.recovery),
            recovery_cache: if other.recovery > self.recovery {
                other.recovery_cache
            } else {
                self.recovery_cache
            },
            via_secondary: match (self.via_secondary, other.via_secondary) {
                (Some(a), Some(b)) => Some(ViaSecondary {
                    cutover: a.cutover.max(b.cutover),
                    recovery: a.recovery.max(b.recovery),
                    first_version: a.first_version.max(b.first_version),
                }),
                (a, b) => a.or(b),
            },
        }
    }
}

/// What resolvers may cache for `pool` longest before a region comes back: its TTL, or the
/// NODATA or SERVFAIL it answers with every region down when that is cached longer.
pub fn cache_term(zone: &Zone, pool: &Pool) -> CacheTerm {
    let ttl = CacheTerm {
        kind: CacheKind::Ttl,
        seconds: f64::from(pool.ttl),
    };
    all_down_cache(zone, pool)
        .filter(|c| c.seconds > ttl.seconds)
        .unwrap_or(ttl)
}

/// The figures through a secondary (hidden primary), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ViaSecondary {
    /// detection + coalesce + transfer_time + TTL + 1 s.
    pub cutover: f64,
    /// recovery + coalesce + transfer_time.
    pub recovery: f64,
    /// After a start, the first version waits for every target's first probe result: at
    /// most interval + timeout (secondaries keep their last version meanwhile).
    #[serde(default)]
    pub first_version: f64,
}

/// The figures for one probe at one TTL, with `cache` the longest answer resolvers keep.
pub fn figures(spec: &ProbeSpec, ttl: u32, cache: CacheTerm, timing: &Timing) -> Figures {
    let ttl = Duration::from_secs(u64::from(ttl));
    let detection = spec.interval.saturating_mul(spec.fall) + spec.timeout + timing.consensus;
    let rise = spec.interval.saturating_mul(spec.rise);
    let held = spec.hold_down.map_or(Duration::ZERO, |h| h + spec.interval);
    let readmission = rise.max(held) + spec.timeout + timing.consensus;
    let clock = RESOLVER_CLOCK.as_secs_f64();
    Figures {
        detection: detection.as_secs_f64(),
        cutover: (detection + ttl).as_secs_f64() + clock,
        readmission: readmission.as_secs_f64(),
        recovery: readmission.as_secs_f64() + cache.seconds + clock,
        recovery_cache: cache,
        via_secondary: None,
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
    /// What resolvers cache when every region is down and for how long, when it is an
    /// answer without the pool's addresses (NODATA or SERVFAIL).
    pub all_down_cache: Option<CacheTerm>,
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

pub fn pool(zone: &Zone, pool: &Pool, timing: &Timing) -> PoolCutover {
    let cache = cache_term(zone, pool);
    let regions: Vec<RegionCutover> = pool
        .regions
        .iter()
        .map(|r| RegionCutover {
            region: r.name.clone(),
            figures: r.probe.as_ref().map(|p| {
                let mut f = figures(p, pool.ttl, cache, timing);
                let via = timing.secondary.as_ref();
                if let Some(s) = via.filter(|s| pool.transfer && s.covers(zone)) {
                    let delay = (s.coalesce + s.transfer_time).as_secs_f64();
                    f.via_secondary = Some(ViaSecondary {
                        cutover: f.cutover + delay,
                        recovery: f.recovery + delay,
                        first_version: (p.interval + p.timeout).as_secs_f64(),
                    });
                }
                f
            }),
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
        all_down_cache: all_down_cache(zone, pool),
    }
}

/// The NODATA or SERVFAIL a pool answers with every region down, if it does (fallback and
/// fail-open answers carry the pool's TTL).
fn all_down_cache(zone: &Zone, pool: &Pool) -> Option<CacheTerm> {
    // A failover pool with fallback addresses answers them when every tier is down, whatever
    // `on_all_down` says.
    if pool.policy == Policy::Failover && !pool.fallback.is_empty() {
        return None;
    }
    match pool.on_all_down {
        AllDown::None => Some(CacheTerm {
            kind: CacheKind::Negative,
            seconds: f64::from(zone.negative_ttl),
        }),
        AllDown::Servfail => Some(CacheTerm {
            kind: CacheKind::Failure,
            seconds: zone.failure_ttl.as_secs_f64(),
        }),
        AllDown::All | AllDown::Fallback => None,
    }
}

pub fn zone(zone: &Zone, timing: &Timing) -> ZoneCutover {
    let pools: Vec<PoolCutover> = zone.pools.iter().map(|p| pool(zone, p, timing)).collect();
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

    fn ttl(seconds: f64) -> CacheTerm {
        CacheTerm {
            kind: CacheKind::Ttl,
            seconds,
        }
    }

    #[test]
    fn readme_example_ten_seconds_three_misses_sixty_ttl() {
        // 10 s interval × 3 misses = 30 s detection (+ timeout), + 60 s TTL + 1 s resolver
        // clock = cutover.
        let f = figures(&spec(10, 0, 3, 2), 60, ttl(60.0), &Timing::default());
        assert_eq!(f.detection, 30.0);
        assert_eq!(f.cutover, 91.0);
        assert_eq!(f.readmission, 20.0);
        assert_eq!(f.recovery, 81.0);
    }

    #[test]
    fn timeout_adds_to_detection_and_recovery() {
        let f = figures(&spec(1, 500, 3, 2), 30, ttl(30.0), &Timing::default());
        assert_eq!(f.detection, 3.5);
        assert_eq!(f.cutover, 34.5);
        assert_eq!(f.readmission, 2.5);
        assert_eq!(f.recovery, 33.5);
    }

    #[test]
    fn hold_down_can_dominate_recovery() {
        let mut s = spec(1, 500, 3, 2);
        s.hold_down = Some(Duration::from_secs(10));
        let f = figures(&s, 0, ttl(0.0), &Timing::default());
        assert_eq!(f.readmission, 11.5);
        assert_eq!(f.recovery, 12.5);
        s.hold_down = Some(Duration::from_millis(500));
        assert_eq!(
            figures(&s, 0, ttl(0.0), &Timing::default()).readmission,
            2.5
        );
    }

    fn zone_with(
        on_all_down: &str,
        policy: &str,
        minimum: u32,
        extra: &str,
    ) -> crate::zone::ZoneSet {
        let text = format!(
            "origin = \"z.example.\"\nttl = 300\n{extra}\n\
             [soa]\nmname = \"ns.z.example.\"\nrname = \"h.z.example.\"\nminimum = {minimum}\n\
             [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.other.example.\"]\n\
             [pools.www]\ntype = \"A\"\nttl = 20\npolicy = \"{policy}\"\non_all_down = \"{on_all_down}\"\n\
             fallback = [\"198.51.100.1\"]\n\
             [pools.www.probe]\ninterval = \"1s\"\ntimeout = \"500ms\"\nfall = 3\nrise = 2\n\
             [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"127.0.0.1:1\"\n"
        );
        crate::config::from_str(std::path::Path::new("z.toml"), &text).expect("valid zone")
    }

    #[test]
    fn all_down_answers_cached_longer_than_the_ttl_bound_recovery() {
        let recovery = |set: &crate::zone::ZoneSet| {
            let z = &set.zones[0];
            let f = pool(z, &z.pools[0], &Timing::default())
                .worst
                .expect("probed");
            (f.recovery, f.recovery_cache.kind)
        };
        // NODATA cached for min(SOA TTL 300, minimum 60) = 60 s > TTL 20.
        let set = zone_with("none", "weighted", 60, "");
        assert_eq!(recovery(&set), (2.5 + 60.0 + 1.0, CacheKind::Negative));
        // A minimum below the TTL leaves the TTL in charge.
        let set = zone_with("none", "weighted", 5, "");
        assert_eq!(recovery(&set), (2.5 + 20.0 + 1.0, CacheKind::Ttl));
        // SERVFAIL: the zone's resolver_failure_ttl.
        let set = zone_with("servfail", "weighted", 60, "resolver_failure_ttl = \"45s\"");
        assert_eq!(recovery(&set), (2.5 + 45.0 + 1.0, CacheKind::Failure));
        // A failover pool with fallback addresses answers them (at its TTL), never NODATA.
        let set = zone_with("none", "failover", 60, "");
        assert_eq!(recovery(&set), (2.5 + 20.0 + 1.0, CacheKind::Ttl));
        // Fallback and fail-open answers carry the pool's TTL.
        let set = zone_with("fallback", "weighted", 60, "");
        assert_eq!(recovery(&set), (2.5 + 20.0 + 1.0, CacheKind::Ttl));
    }

    #[test]
    fn max_takes_each_figure_separately() {
        let a = Figures {
            detection: 1.0,
            cutover: 5.0,
            readmission: 1.0,
            recovery: 2.0,
            recovery_cache: ttl(1.0),
            via_secondary: None,
        };
        let b = Figures {
            detection: 3.0,
            cutover: 4.0,
            readmission: 0.5,
            recovery: 1.0,
            recovery_cache: CacheTerm {
                kind: CacheKind::Negative,
                seconds: 0.5,
            },
            via_secondary: Some(ViaSecondary {
                cutover: 9.0,
                recovery: 8.0,
                first_version: 1.5,
            }),
        };
        assert_eq!(
            a.max(b),
            Figures {
                detection: 3.0,
                cutover: 5.0,
                readmission: 1.0,
                recovery: 2.0,
                recovery_cache: ttl(1.0),
                via_secondary: Some(ViaSecondary {
                    cutover: 9.0,
                    recovery: 8.0,
                    first_version: 1.5,
                }),
            }
        );
    }
}
