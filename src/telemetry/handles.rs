//! The metric handles of one zone load: queries, pool answers and region gauges
//! ([`Handles`], kept with the snapshot) and probe results ([`ProbeMetrics`], inside it).
//!
//! A query increments an atomic through a handle made here; it never looks a name up in the
//! registry. Series appear on first use, so a zone with 10,000 pools exports only what it
//! serves. [`Handles::touch`] marks every series of the load as current at each scrape, so the
//! series of regions and targets a reload removed are dropped from the exporter.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use metrics::{Counter, Gauge, Histogram};

use super::*;
use crate::cutover;
use crate::health::{Live, Outcome, WEIGHT_SCALE};
use crate::select::{Rule, Selection};
use crate::zone::{Policy, Pool, ProbeKind, ZoneSet};

/// The `qtype` label values; anything else is `other`.
const QTYPES: [RecordType; 13] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::NS,
    RecordType::SOA,
    RecordType::TXT,
    RecordType::SRV,
    RecordType::CAA,
    RecordType::PTR,
    RecordType::DS,
    RecordType::ANY,
    RecordType::HTTPS,
];
/// The `rcode` label values (as dig prints them); anything else is `other`.
const RCODES: [(ResponseCode, &str); 7] = [
    (ResponseCode::NoError, "NOERROR"),
    (ResponseCode::NXDomain, "NXDOMAIN"),
    (ResponseCode::Refused, "REFUSED"),
    (ResponseCode::ServFail, "SERVFAIL"),
    (ResponseCode::FormErr, "FORMERR"),
    (ResponseCode::NotImp, "NOTIMP"),
    (ResponseCode::BADVERS, "BADVERS"),
];
const NQ: usize = QTYPES.len() + 1;
const NR: usize = RCODES.len() + 1;

fn qtype_index(t: RecordType) -> usize {
    QTYPES.iter().position(|q| *q == t).unwrap_or(QTYPES.len())
}

fn rcode_index(r: ResponseCode) -> usize {
    RCODES.iter().position(|c| c.0 == r).unwrap_or(RCODES.len())
}

fn qtype_label(i: usize) -> String {
    QTYPES
        .get(i)
        .map_or_else(|| "other".into(), |t| t.to_string())
}

fn rcode_label(i: usize) -> &'static str {
    RCODES.get(i).map_or("other", |r| r.1)
}

mod carry;

/// A counter registered on first use.
#[derive(Default)]
pub(super) struct Lazy(pub(super) OnceLock<Counter>);

impl Lazy {
    pub(super) fn get(&self, make: impl FnOnce() -> Counter) -> &Counter {
        self.0.get_or_init(make)
    }

    /// Marks the series current (when it exists) without changing it.
    pub(super) fn touch(&self) {
        if let Some(c) = self.0.get() {
            c.increment(0);
        }
    }
}

struct RegionHandles {
    name: String,
    /// The tier label of its policy answers (its failover tier rank, else `1`).
    tier: String,
    policy: Lazy,
    all_down: Lazy,
    up: Gauge,
    weight: Gauge,
    overridden: Gauge,
}

struct PoolHandles {
    zone: String,
    pool: String,
    regions: Vec<RegionHandles>,
    fallback: Lazy,
    /// By [`Rule`]: all, none, servfail, fallback.
    all_down: [Lazy; 4],
    /// Topology pools: `[client location][step]` (the last location is the default).
    topology: Vec<Vec<TopologyCell>>,
}

/// One (client location, step) series of a topology pool, with its label values.
struct TopologyCell {
    counter: Lazy,
    location: String,
    from: String,
}

/// The handles of one zone load: queries, answers, region gauges and probe results.
pub struct Handles {
    /// Label per zone; index 0 is "no zone".
    zones: Vec<String>,
    queries: Box<[Lazy]>,
    /// `[zone][pool]`.
    pools: Vec<Vec<PoolHandles>>,
    /// The computed worst-case gauges, set once per load.
    cutover: Vec<Gauge>,
    /// Probe results, by target id.
    pub probes: ProbeMetrics,
}

/// The tier rank (1-based) of each region: its priority's position among the pool's
/// distinct priorities for failover pools, 1 for the other policies.
fn tiers(pool: &Pool) -> Vec<usize> {
    if pool.policy != Policy::Failover {
        return vec![1; pool.regions.len()];
    }
    let mut prios: Vec<u32> = pool.regions.iter().map(|r| r.priority).collect();
    prios.sort_unstable();
    prios.dedup();
    pool.regions
        .iter()
        .map(|r| prios.iter().position(|p| *p == r.priority).unwrap_or(0) + 1)
        .collect()
}

impl std::fmt::Debug for Handles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handles")
            .field("zones", &self.zones)
            .finish_non_exhaustive()
    }
}

impl Handles {
    /// Handles for `zones`, continuing the counters of `previous` (the load before) for every
    /// series that still exists; also sets the per-pool cutover gauges.
    pub fn new(zones: &ZoneSet, previous: Option<&Handles>) -> Self {
        let handles = Self::fresh(zones);
        if let Some(old) = previous {
            handles.inherit(old);
        }
        handles
    }

    fn fresh(zones: &ZoneSet) -> Self {
        let mut labels = vec![String::new()];
        let mut pools = Vec::with_capacity(zones.zones.len());
        let mut gauges = Vec::new();
        for zone in &zones.zones {
            let zl = zone.origin_name.to_string();
            labels.push(zl.clone());
            let mut zp = Vec::with_capacity(zone.pools.len());
            for pool in &zone.pools {
                if let Some(f) = cutover::pool(zone, pool, &zones.timing).worst {
                    for (kind, v) in [
                        ("detection", f.detection),
                        ("cutover", f.cutover),
                        ("readmission", f.readmission),
                        ("recovery", f.recovery),
                    ] {
                        let g = metrics::gauge!(CUTOVER_WORST_CASE_SECONDS, "zone" => zl.clone(),
                            "pool" => pool.key.clone(), "kind" => kind);
                        g.set(v);
                        gauges.push(g);
                    }
                }
                let regions = pool
                    .regions
                    .iter()
                    .zip(tiers(pool))
                    .map(|(r, tier)| {
                        let l = [
                            ("zone", zl.clone()),
                            ("pool", pool.key.clone()),
                            ("region", r.name.clone()),
                        ];
                        RegionHandles {
                            name: r.name.clone(),
                            tier: tier.to_string(),
                            policy: Lazy::default(),
                            all_down: Lazy::default(),
                            up: metrics::gauge!(HEALTH_REGION_UP, &l),
                            weight: metrics::gauge!(HEALTH_REGION_WEIGHT, &l),
                            overridden: metrics::gauge!(HEALTH_REGION_OVERRIDDEN, &l),
                        }
                    })
                    .collect();
                let topology = pool.topology.as_ref().map_or_else(Vec::new, |t| {
                    (0..=t.map.locations.len())
                        .map(|l| {
                            let (location, list) = t
                                .map
                                .locations
                                .get(l)
                                .map_or(("default", t.map.default), |x| (x.name.as_str(), x.list));
                            let names = t.map.lists.get(list).map_or(&[][..], |n| &n[..]);
                            let steps = t.steps.get(list).map_or(0, Vec::len);
                            (0..steps)
                                .map(|step| TopologyCell {
                                    counter: Lazy::default(),
                                    location: location.to_string(),
                                    from: names.get(step).map_or("unlisted", String::as_str).into(),
                                })
                                .collect()
                        })
                        .collect()
                });
                zp.push(PoolHandles {
                    zone: zl.clone(),
                    pool: pool.key.clone(),
                    regions,
                    fallback: Lazy::default(),
                    all_down: Default::default(),
                    topology,
                });
            }
            pools.push(zp);
        }
        let queries = (0..labels.len() * NQ * NR)
            .map(|_| Lazy::default())
            .collect();
        Handles {
            zones: labels,
            queries,
            pools,
            cutover: gauges,
            probes: ProbeMetrics::new(zones),
        }
    }

    /// Marks every series of this load current (without changing a value), so that the
    /// exporter keeps them and drops those of earlier loads.
    pub fn touch(&self) {
        self.queries.iter().for_each(Lazy::touch);
        for g in &self.cutover {
            g.increment(0.0);
        }
        for p in self.pools.iter().flatten() {
            p.fallback.touch();
            p.all_down.iter().for_each(Lazy::touch);
            p.topology.iter().flatten().for_each(|c| c.counter.touch());
            for r in &p.regions {
                r.policy.touch();
                r.all_down.touch();
                r.up.increment(0.0);
                r.weight.increment(0.0);
                r.overridden.increment(0.0);
            }
        }
        for t in &self.probes.targets {
            t.results.iter().for_each(Lazy::touch);
        }
    }

    /// Counts one response.
    pub fn query(&self, zone: Option<usize>, qtype: RecordType, rcode: ResponseCode) {
        let z = zone.map_or(0, |z| z + 1);
        let (q, r) = (qtype_index(qtype), rcode_index(rcode));
        let Some(cell) = self.queries.get((z * NQ + q) * NR + r) else {
            return;
        };
        cell.get(|| {
            let zone = self.zones.get(z).cloned().unwrap_or_default();
            metrics::counter!(DNS_QUERIES_TOTAL, "zone" => zone,
                "qtype" => qtype_label(q), "rcode" => rcode_label(r))
        })
        .increment(1);
    }

    /// Counts the regions (or fallback) a pool answered with.
    pub fn answer(&self, zone: usize, pool: usize, sel: &Selection) {
        let Some(p) = self.pools.get(zone).and_then(|z| z.get(pool)) else {
            return;
        };
        let labels = |region: &str, tier: &str| {
            [
                ("zone", p.zone.clone()),
                ("pool", p.pool.clone()),
                ("region", region.to_string()),
                ("tier", tier.to_string()),
            ]
        };
        let all_down = match sel.rule {
            Rule::Policy => None,
            Rule::AllDownAll => Some(0),
            Rule::AllDownNone => Some(1),
            Rule::AllDownServfail => Some(2),
            Rule::Fallback => Some(3),
        };
        if let Some(k) = all_down {
            p.all_down[k]
                .get(|| {
                    let kind = ["all", "none", "servfail", "fallback"][k];
                    metrics::counter!(DNS_ALL_DOWN_TOTAL, "zone" => p.zone.clone(),
                        "pool" => p.pool.clone(), "kind" => kind)
                })
                .increment(1);
        }
        if let Some(t) = sel.topology {
            let l = t.location.unwrap_or(p.topology.len().saturating_sub(1));
            if let Some(c) = p.topology.get(l).and_then(|c| c.get(t.step)) {
                c.counter
                    .get(|| {
                        metrics::counter!(DNS_TOPOLOGY_ANSWERS_TOTAL, "zone" => p.zone.clone(),
                            "pool" => p.pool.clone(), "location" => c.location.clone(),
                            "from" => c.from.clone())
                    })
                    .increment(1);
            }
        }
        if sel.rule == Rule::Fallback {
            p.fallback
                .get(|| metrics::counter!(DNS_ANSWERS_TOTAL, &labels("fallback", "fallback")))
                .increment(1);
            return;
        }
        for i in &sel.regions {
            let Some(r) = p.regions.get(*i) else { continue };
            let counter = if sel.rule == Rule::AllDownAll {
                r.all_down
                    .get(|| metrics::counter!(DNS_ANSWERS_TOTAL, &labels(&r.name, "all_down")))
            } else {
                r.policy
                    .get(|| metrics::counter!(DNS_ANSWERS_TOTAL, &labels(&r.name, &r.tier)))
            };
            counter.increment(1);
        }
    }

    /// Sets the region gauges from `live` as of `now` (called when metrics are scraped, so a
    /// slow-start ramp shows as it is).
    pub fn refresh(&self, zones: &ZoneSet, live: &Live, now: Instant) {
        for (zone, handles) in zones.zones.iter().zip(&self.pools) {
            for (pool, ph) in zone.pools.iter().zip(handles) {
                for (region, rh) in pool.regions.iter().zip(&ph.regions) {
                    let w = live.weight(pool, region, now);
                    rh.up.set(if w > 0 { 1.0 } else { 0.0 });
                    rh.weight.set(w as f64 / WEIGHT_SCALE as f64);
                    let overridden = live
                        .region(region.id)
                        .is_some_and(|l| l.override_.is_some());
                    rh.overridden.set(if overridden { 1.0 } else { 0.0 });
                }
            }
        }
    }
}

/// Probe handles for one zone load, kept by the engine.
pub struct ProbeMetrics {
    targets: Vec<TargetHandles>,
}

struct TargetHandles {
    target: String,
    /// One per outcome, in [`Outcome::LABELS`] order.
    results: [Lazy; Outcome::LABELS.len()],
    duration: Histogram,
    lateness: Histogram,
}

impl ProbeMetrics {
    pub fn new(zones: &ZoneSet) -> Self {
        let targets = zones
            .targets
            .iter()
            .map(|spec| {
                let kind = match spec.kind {
                    ProbeKind::Http => "http",
                    ProbeKind::Https => "https",
                    ProbeKind::Tcp => "tcp",
                };
                TargetHandles {
                    target: spec.shown(),
                    results: Default::default(),
                    duration: metrics::histogram!(PROBE_DURATION_SECONDS, "kind" => kind),
                    lateness: metrics::histogram!(PROBE_LATENESS_SECONDS, "kind" => kind),
                }
            })
            .collect();
        ProbeMetrics { targets }
    }

    /// Records one probe result.
    pub fn record(&self, target: usize, outcome: Outcome, latency: Duration, lateness: Duration) {
        let Some(t) = self.targets.get(target) else {
            return;
        };
        t.results[outcome.index()]
            .get(|| {
                metrics::counter!(PROBE_RESULTS_TOTAL, "target" => t.target.clone(),
                    "outcome" => outcome.label())
            })
            .increment(1);
        t.duration.record(latency.as_secs_f64());
        t.lateness.record(lateness.as_secs_f64());
        LAST_PROBE_MS.store(since_start_ms(), std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_cover_the_common_types_and_codes() {
        assert_eq!(qtype_label(qtype_index(RecordType::AAAA)), "AAAA");
        assert_eq!(qtype_label(qtype_index(RecordType::NULL)), "other");
        assert_eq!(rcode_label(rcode_index(ResponseCode::NXDomain)), "NXDOMAIN");
        assert_eq!(rcode_label(rcode_index(ResponseCode::NoError)), "NOERROR");
        assert_eq!(rcode_label(rcode_index(ResponseCode::YXRRSet)), "other");
    }
}
