//! The `gslbd check` report: cutover figures per pool and zone, and the N-1 table (the share of
//! traffic every surviving region gets when one region fails, against its declared capacity).

use std::fmt::{self, Write as _};

use serde::Serialize;

mod signing;

pub use signing::{KeyReport, ZoneSigning};

use crate::cutover::{self, CacheKind, Figures, ZoneCutover};
use crate::select;
use crate::zone::{Pool, ZoneSet};

/// Everything `check` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub valid: bool,
    /// With a cluster: seconds added to detection and readmission (poll_interval +
    /// poll_timeout: a peer's verdict arrives up to one poll late).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consensus_delay: Option<f64>,
    /// With zone transfers: (coalesce, transfer_time) seconds, added through a secondary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_delay: Option<(f64, f64)>,
    pub zones: Vec<ZoneReport>,
}

#[derive(Debug, Serialize)]
pub struct ZoneReport {
    #[serde(flatten)]
    pub cutover: ZoneCutover,
    pub n_minus_1: Vec<PoolShares>,
    /// Per topology pool, where each client location lands.
    pub topology: Vec<TopologyPlan>,
    /// A signed zone's keys, DS and signing figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnssec: Option<ZoneSigning>,
}

/// Where every client location of a topology pool is answered from, and where it goes when
/// that region fails.
#[derive(Debug, Serialize)]
pub struct TopologyPlan {
    pub pool: String,
    pub locations: Vec<LocationPlan>,
}

#[derive(Debug, Serialize)]
pub struct LocationPlan {
    /// The client location (`default` for clients no network matches).
    pub location: String,
    /// Its share of the traffic (given in the map, or an even split of the rest).
    pub share: f64,
    /// The regions it is answered from with every region up.
    pub lands_on: Vec<String>,
    /// For each of those, where its clients go when it fails.
    pub on_failure: Vec<Failover>,
    /// The worst case over the regions it lands on.
    pub figures: Option<Figures>,
}

#[derive(Debug, Serialize)]
pub struct Failover {
    pub down: String,
    pub moves_to: Vec<String>,
}

/// The N-1 table of one pool.
#[derive(Debug, Serialize)]
pub struct PoolShares {
    pub pool: String,
    pub policy: crate::zone::Policy,
    pub baseline: Vec<Share>,
    pub failures: Vec<Failure>,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    /// The region that failed.
    pub down: String,
    pub shares: Vec<Share>,
    /// Survivors pushed over their declared capacity.
    pub over_capacity: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Share {
    pub region: String,
    pub share: f64,
    pub capacity: Option<f64>,
}

/// The report of `set`; an error when a signed zone cannot be signed.
pub fn report(set: &ZoneSet) -> Result<Report, crate::dnssec::SignError> {
    let mut signing = signing::report(set)?.into_iter();
    Ok(Report {
        valid: true,
        consensus_delay: (!set.timing.consensus.is_zero())
            .then_some(set.timing.consensus.as_secs_f64()),
        secondary_delay: set
            .timing
            .secondary
            .as_ref()
            .map(|s| (s.coalesce.as_secs_f64(), s.transfer_time.as_secs_f64())),
        zones: set
            .zones
            .iter()
            .map(|z| {
                let cutover = cutover::zone(z, &set.timing);
                let topology = z
                    .pools
                    .iter()
                    .zip(&cutover.pools)
                    .filter_map(|(p, pc)| topology_plan(p, pc))
                    .collect();
                ZoneReport {
                    n_minus_1: z.pools.iter().map(n_minus_1).collect(),
                    cutover,
                    topology,
                    dnssec: signing.next().flatten(),
                }
            })
            .collect(),
    })
}

/// Each serving region's expected share of the traffic with `up[i]` regions serving.
pub fn shares(pool: &Pool, up: &[bool]) -> Vec<Share> {
    select::expected_shares(pool, up)
        .into_iter()
        .zip(&pool.regions)
        .zip(up)
        .filter(|(_, up)| **up)
        .map(|((share, r), _)| Share {
            region: r.name.clone(),
            share,
            capacity: r.capacity,
        })
        .collect()
}

/// The regions whose share is past their declared capacity.
pub fn over_capacity(shares: &[Share]) -> Vec<String> {
    shares
        .iter()
        .filter(|s| s.capacity.is_some_and(|c| s.share > c + 1e-9))
        .map(|s| s.region.clone())
        .collect()
}

pub fn n_minus_1(pool: &Pool) -> PoolShares {
    let n = pool.regions.len();
    let failures = if n < 2 {
        Vec::new()
    } else {
        (0..n)
            .map(|down| {
                let up: Vec<bool> = (0..n).map(|i| i != down).collect();
                let shares = shares(pool, &up);
                let over_capacity = over_capacity(&shares);
                Failure {
                    down: pool.regions[down].name.clone(),
                    shares,
                    over_capacity,
                }
            })
            .collect()
    };
    PoolShares {
        pool: pool.key.clone(),
        policy: pool.policy,
        baseline: shares(pool, &vec![true; n]),
        failures,
    }
}

/// Where each client location of a topology pool lands, and where it goes on a failure.
pub fn topology_plan(pool: &Pool, pc: &cutover::PoolCutover) -> Option<TopologyPlan> {
    let topo = pool.topology.as_ref()?;
    let configured: Vec<u32> = pool.regions.iter().map(|r| r.weight).collect();
    let landing = |steps: &[Vec<usize>], weights: &[u32]| -> Vec<usize> {
        select::first_step(steps, weights).map_or_else(Vec::new, |(_, g)| {
            g.iter().copied().filter(|r| weights[*r] > 0).collect()
        })
    };
    let names = |rs: &[usize]| rs.iter().map(|r| pool.regions[*r].name.clone()).collect();
    let locations = topo
        .map
        .locations
        .iter()
        .map(|l| l.name.as_str())
        .chain(std::iter::once("default"))
        .zip(select::location_shares(&topo.map))
        .map(|(location, (list, share))| {
            let steps = topo.steps.get(list).map_or(&[][..], |s| &s[..]);
            let lands = landing(steps, &configured);
            let on_failure = lands
                .iter()
                .map(|down| {
                    let mut weights = configured.clone();
                    weights[*down] = 0;
                    Failover {
                        down: pool.regions[*down].name.clone(),
                        moves_to: names(&landing(steps, &weights)),
                    }
                })
                .collect();
            let figures = lands
                .iter()
                .filter_map(|r| pc.regions.get(*r).and_then(|rc| rc.figures))
                .reduce(Figures::max);
            LocationPlan {
                location: location.to_string(),
                share,
                lands_on: names(&lands),
                on_failure,
                figures,
            }
        })
        .collect();
    Some(TopologyPlan {
        pool: pool.key.clone(),
        locations,
    })
}

fn secs(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}s")
}

fn row(out: &mut String, label: &str, ttl: String, f: Option<Figures>, note: &str) -> fmt::Result {
    let [d, c, r] = match f {
        Some(f) => [secs(f.detection), secs(f.cutover), secs(f.recovery)],
        None => ["-".to_string(), "-".to_string(), "-".to_string()],
    };
    let line = format!("  {label:<24} {ttl:>6} {d:>10} {c:>10} {r:>10}  {note}");
    writeln!(out, "{}", line.trim_end())
}

/// "region 50.0% (cap 70%), …".
pub fn share_list(shares: &[Share]) -> String {
    shares
        .iter()
        .map(|s| match s.capacity {
            Some(c) => format!(
                "{} {:.1}% (cap {:.0}%)",
                s.region,
                s.share * 100.0,
                c * 100.0
            ),
            None => format!("{} {:.1}%", s.region, s.share * 100.0),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        for z in &self.zones {
            let c = &z.cutover;
            writeln!(out, "zone {} ({})", c.zone, c.file)?;
            writeln!(
                out,
                "  {:<24} {:>6} {:>10} {:>10} {:>10}",
                "pool", "ttl", "detection", "cutover", "recovery"
            )?;
            for p in &c.pools {
                let mut note = String::new();
                if !p.unprobed.is_empty() {
                    write!(
                        note,
                        "not probed: {} (failures never detected)",
                        p.unprobed.join(", ")
                    )?;
                }
                match (p.worst, p.all_down_cache) {
                    (Some(w), _) if w.recovery_cache.kind != CacheKind::Ttl => {
                        write!(note, "recovery bound by {}", w.recovery_cache.describe())?;
                    }
                    (_, Some(c)) => {
                        write!(note, "all down: {} (within the TTL)", c.describe())?;
                    }
                    _ => {}
                }
                row(&mut out, &p.pool, p.ttl.to_string(), p.worst, &note)?;
                if p.per_region_differs {
                    for r in &p.regions {
                        row(
                            &mut out,
                            &format!("  {}", r.region),
                            String::new(),
                            r.figures,
                            "",
                        )?;
                    }
                }
            }
            row(&mut out, "zone (worst pool)", String::new(), c.worst, "")?;
            if let (Some(v), Some((coalesce, transfer))) =
                (c.worst.and_then(|w| w.via_secondary), self.secondary_delay)
            {
                writeln!(
                    out,
                    "  via secondaries (+ coalesce {} + NOTIFY/transfer {}): cutover {}, recovery {}; \
                     after a start the first version waits up to {} for first probe results",
                    secs(coalesce),
                    secs(transfer),
                    secs(v.cutover),
                    secs(v.recovery),
                    secs(v.first_version)
                )?;
            }
            for t in &z.topology {
                writeln!(
                    out,
                    "  topology {}: client location -> answered from; on its failure",
                    t.pool
                )?;
                for l in &t.locations {
                    let failures: Vec<String> = l
                        .on_failure
                        .iter()
                        .map(|f| {
                            let to = if f.moves_to.is_empty() {
                                "nothing (all-down rule)".to_string()
                            } else {
                                f.moves_to.join(", ")
                            };
                            format!("{} down -> {to}", f.down)
                        })
                        .collect();
                    let cut = l.figures.map_or_else(String::new, |f| {
                        format!(
                            "; detection {}, cutover {}",
                            secs(f.detection),
                            secs(f.cutover)
                        )
                    });
                    writeln!(
                        out,
                        "    {} ({:.0}%) -> {}; {}{cut}",
                        l.location,
                        l.share * 100.0,
                        l.lands_on.join(", "),
                        failures.join("; ")
                    )?;
                }
            }
            if let Some(d) = &z.dnssec {
                d.write(&mut out)?;
            }
            for s in &z.n_minus_1 {
                if s.failures.is_empty() {
                    continue;
                }
                writeln!(
                    out,
                    "  N-1 {} ({}): baseline {}",
                    s.pool,
                    crate::status::json_name(&s.policy),
                    share_list(&s.baseline)
                )?;
                for fail in &s.failures {
                    let flag = if fail.over_capacity.is_empty() {
                        String::new()
                    } else {
                        format!("  OVER CAPACITY: {}", fail.over_capacity.join(", "))
                    };
                    writeln!(
                        out,
                        "    {} down -> {}{flag}",
                        fail.down,
                        share_list(&fail.shares)
                    )?;
                }
            }
            writeln!(out)?;
        }
        writeln!(
            out,
            "detection: failure -> out of gslbd's answers. cutover, recovery: as clients see it \
             through a resolver (the TTL, or a longer NODATA/SERVFAIL caching, + {}s resolver clock).",
            cutover::RESOLVER_CLOCK.as_secs()
        )?;
        if let Some(d) = self.consensus_delay {
            writeln!(
                out,
                "cluster: detection and readmission include {} for the peers' votes                  (poll_interval + poll_timeout).",
                secs(d)
            )?;
        }
        f.write_str(out.trim_end())
    }
}
