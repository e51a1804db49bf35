//! Drills on paper: what every pool would answer with some regions down (or drained), without
//! changing any state. `gslbd check --fail` runs it on the configured weights (every other
//! region up), `POST /simulate` on the live ones. Per pool: the rule that would fire, the
//! regions (or, for topology pools, each client location's regions) in the answers, the
//! traffic shares and capacity overflows, `min_serving`, and the worst case until resolvers
//! see the change.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::check::{self, Share};
use crate::cutover::{self, RESOLVER_CLOCK};
use crate::health::WEIGHT_SCALE;
use crate::select::Rule;
use crate::status::{LocationNow, outcome};
use crate::zone::{Pool, Region, RegionId, ZoneSet};

/// How the regions are taken out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// They fail: probes must detect it first.
    Down,
    /// An operator drains them: DNS changes at once.
    Drain,
}

/// The region ids `selectors` name: `REGION` (in every pool), `POOL/REGION` or
/// `ZONE/POOL/REGION` (the zone with or without its final dot, any case).
pub fn resolve(zones: &ZoneSet, selectors: &[String]) -> Result<HashSet<RegionId>, String> {
    let mut out = HashSet::new();
    for sel in selectors.iter().flat_map(|s| s.split(',')).map(str::trim) {
        let parts: Vec<&str> = sel.split('/').collect();
        let mut found = false;
        for zone in &zones.zones {
            let zname = zone.origin_name.to_string();
            for pool in &zone.pools {
                for r in &pool.regions {
                    let hit = match parts[..] {
                        [region] => r.name == region,
                        [p, region] => pool.key == p && r.name == region,
                        [z, p, region] => {
                            zname
                                .trim_end_matches('.')
                                .eq_ignore_ascii_case(z.trim_end_matches('.'))
                                && pool.key == p
                                && r.name == region
                        }
                        _ => false,
                    };
                    if hit {
                        out.insert(r.id);
                        found = true;
                    }
                }
            }
        }
        if !found {
            return Err(format!(
                "no region matches {sel:?} (REGION, POOL/REGION or ZONE/POOL/REGION)"
            ));
        }
    }
    Ok(out)
}

/// The simulated answers of every pool.
#[derive(Debug, Serialize)]
pub struct Simulation {
    pub mode: Mode,
    /// The regions taken out, as `zone/pool/region`.
    pub failed: Vec<String>,
    pub pools: Vec<PoolSim>,
}

#[derive(Debug, Serialize)]
pub struct PoolSim {
    pub zone: String,
    pub pool: String,
    pub policy: String,
    /// True when a region taken out is in this pool.
    pub affected: bool,
    pub rule: Rule,
    pub summary: String,
    /// The regions that can be in the answers.
    pub answering: Vec<String>,
    /// Topology pools: where each client location would be answered from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<LocationNow>,
    /// Each serving region's expected share of the traffic, with its capacity.
    pub shares: Vec<Share>,
    /// Regions pushed past their `capacity`.
    pub over_capacity: Vec<String>,
    /// The pool's `min_serving` would be broken (an override doing this is refused).
    pub below_min_serving: bool,
    /// Worst case until resolvers see the change, in seconds (`None`: a failed region is not
    /// probed, so its failure is never detected).
    pub seen_within: Option<f64>,
}

/// Simulates taking `failed` out; `weight(pool, region)` gives every region's serving weight
/// and fail-open weight before the change (in [`WEIGHT_SCALE`] units).
pub fn run(
    zones: &ZoneSet,
    failed: &HashSet<RegionId>,
    mode: Mode,
    weight: impl Fn(&Pool, &Region) -> (u64, u64),
) -> Simulation {
    let mut names = Vec::new();
    let mut pools = Vec::new();
    for zone in &zones.zones {
        let zname = zone.origin_name.to_string();
        for pool in &zone.pools {
            let out = |r: &Region| failed.contains(&r.id);
            let (weights, fail_open): (Vec<u64>, Vec<u64>) = pool
                .regions
                .iter()
                .map(|r| if out(r) { (0, 0) } else { weight(pool, r) })
                .unzip();
            let (answering, answered) = outcome::decide(pool, &weights, &fail_open);
            let up: Vec<bool> = weights.iter().map(|w| *w > 0).collect();
            let shares: Vec<Share> = check::shares(pool, &up)
                .into_iter()
                .filter(|s| s.share > 0.0)
                .collect();
            let over_capacity = check::over_capacity(&shares);
            let cache = cutover::cache_term(zone, pool);
            let affected: Vec<&Region> = pool.regions.iter().filter(|r| out(r)).collect();
            names.extend(
                affected
                    .iter()
                    .map(|r| format!("{zname}/{}/{}", pool.key, r.name)),
            );
            let seen_within = match mode {
                Mode::Drain => Some(f64::from(pool.ttl) + RESOLVER_CLOCK.as_secs_f64()),
                Mode::Down => affected
                    .iter()
                    .map(|r| {
                        r.probe
                            .as_ref()
                            .map(|p| cutover::figures(p, pool.ttl, cache, &zones.timing).cutover)
                    })
                    .try_fold(0.0f64, |worst, f| f.map(|f| worst.max(f))),
            };
            pools.push(PoolSim {
                zone: zname.clone(),
                pool: pool.key.clone(),
                policy: crate::status::json_name(&pool.policy),
                affected: !affected.is_empty(),
                rule: answering.rule,
                summary: answering.summary,
                answering: pool
                    .regions
                    .iter()
                    .zip(&answered)
                    .filter(|(_, a)| **a)
                    .map(|(r, _)| r.name.clone())
                    .collect(),
                locations: outcome::locations(pool, &weights),
                shares,
                over_capacity,
                below_min_serving: pool.min_serving > 0
                    && up.iter().filter(|u| **u).count() < pool.min_serving,
                seen_within: seen_within.filter(|_| !affected.is_empty()),
            });
        }
    }
    Simulation {
        mode,
        failed: names,
        pools,
    }
}

/// Every region up at its configured weight (for `gslbd check --fail`).
pub fn configured(_: &Pool, r: &Region) -> (u64, u64) {
    let w = u64::from(r.weight) * WEIGHT_SCALE;
    (w, w)
}

impl fmt::Display for Simulation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.mode {
            Mode::Down => "down",
            Mode::Drain => "drained",
        };
        writeln!(f, "drill: {} {verb}", self.failed.join(", "))?;
        for p in self.pools.iter().filter(|p| p.affected) {
            let when = p.seen_within.map_or_else(
                || "never detected (not probed)".to_string(),
                |s| format!("resolvers see it within {s}s"),
            );
            let mark = if p.rule == Rule::Policy { "" } else { "!! " };
            writeln!(
                f,
                "  {mark}{} {} ({}): {}; {when}",
                p.zone, p.pool, p.policy, p.summary
            )?;
            for l in &p.locations {
                let from = if l.answered_from.is_empty() {
                    "the all-down rule".to_string()
                } else {
                    l.answered_from.join(", ")
                };
                let off = if l.off_first_choice {
                    " (off its first choice)"
                } else {
                    ""
                };
                writeln!(f, "    {} -> {from}{off}", l.location)?;
            }
            if !p.shares.is_empty() {
                writeln!(f, "    shares: {}", check::share_list(&p.shares))?;
            }
            if !p.over_capacity.is_empty() {
                writeln!(f, "    OVER CAPACITY: {}", p.over_capacity.join(", "))?;
            }
            if p.below_min_serving {
                writeln!(
                    f,
                    "    BELOW min_serving: an override doing this is refused"
                )?;
            }
        }
        Ok(())
    }
}
