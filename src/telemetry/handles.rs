//! The metric handles of one zone load: queries, pool answers and region gauges
//! ([`Handles`], kept with the snapshot) and probe results ([`ProbeMetrics`], inside it), built
//! from the labels the caller lays out ([`Layout`]); nothing here names a zone, health or
//! selection type.
//!
//! A query increments an atomic through a handle made here; it never looks a name up in the
//! registry. Series appear on first use, so a zone with 10,000 pools exports only what it
//! serves. [`Handles::touch`] marks every series of the load as current at each scrape, so the
//! series of regions and targets a reload removed are dropped from the exporter.

use std::sync::OnceLock;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use metrics::{Counter, Gauge};

use super::*;

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
mod probes;

pub use probes::ProbeMetrics;

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
    pub fn new(layout: &Layout, previous: Option<&Handles>) -> Self {
        let handles = Self::fresh(layout);
        if let Some(old) = previous {
            handles.inherit(old);
        }
        handles
    }

    fn fresh(layout: &Layout) -> Self {
        let mut labels = vec![String::new()];
        let mut pools = Vec::with_capacity(layout.zones.len());
        let mut gauges = Vec::new();
        for zone in &layout.zones {
            let zl = zone.name.clone();
            labels.push(zl.clone());
            let mut zp = Vec::with_capacity(zone.pools.len());
            for pool in &zone.pools {
                if let Some(worst) = pool.worst {
                    for (kind, v) in ["detection", "cutover", "readmission", "recovery"]
                        .into_iter()
                        .zip(worst)
                    {
                        let g = metrics::gauge!(CUTOVER_WORST_CASE_SECONDS, "zone" => zl.clone(),
                            "pool" => pool.key.clone(), "kind" => kind);
                        g.set(v);
                        gauges.push(g);
                    }
                }
                let regions = pool
                    .regions
                    .iter()
                    .map(|r| {
                        let l = [
                            ("zone", zl.clone()),
                            ("pool", pool.key.clone()),
                            ("region", r.name.clone()),
                        ];
                        RegionHandles {
                            name: r.name.clone(),
                            tier: r.tier.to_string(),
                            policy: Lazy::default(),
                            all_down: Lazy::default(),
                            up: metrics::gauge!(HEALTH_REGION_UP, &l),
                            weight: metrics::gauge!(HEALTH_REGION_WEIGHT, &l),
                            overridden: metrics::gauge!(HEALTH_REGION_OVERRIDDEN, &l),
                        }
                    })
                    .collect();
                let topology = pool
                    .topology
                    .iter()
                    .map(|(location, steps)| {
                        steps
                            .iter()
                            .map(|from| TopologyCell {
                                counter: Lazy::default(),
                                location: location.clone(),
                                from: from.clone(),
                            })
                            .collect()
                    })
                    .collect();
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
            probes: ProbeMetrics::new(layout),
        }
    }

    /// Marks every series of this load current (without changing a value), so that the
    /// exporter keeps them and drops those of earlier loads; the same for the transition
    /// counters of its regions (those of regions it does not serve are forgotten).
    pub fn touch(&self) {
        touch_transitions(self);
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
    pub fn answer(&self, zone: usize, pool: usize, answer: &Answer<'_>) {
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
        if let Some(kind) = answer.all_down {
            p.all_down[kind.index()]
                .get(|| {
                    metrics::counter!(DNS_ALL_DOWN_TOTAL, "zone" => p.zone.clone(),
                        "pool" => p.pool.clone(), "kind" => kind.label())
                })
                .increment(1);
        }
        if let Some((location, step)) = answer.topology {
            let l = location.unwrap_or(p.topology.len().saturating_sub(1));
            if let Some(c) = p.topology.get(l).and_then(|c| c.get(step)) {
                c.counter
                    .get(|| {
                        metrics::counter!(DNS_TOPOLOGY_ANSWERS_TOTAL, "zone" => p.zone.clone(),
                            "pool" => p.pool.clone(), "location" => c.location.clone(),
                            "from" => c.from.clone())
                    })
                    .increment(1);
            }
        }
        if answer.all_down == Some(AllDownKind::Fallback) {
            p.fallback
                .get(|| metrics::counter!(DNS_ANSWERS_TOTAL, &labels("fallback", "fallback")))
                .increment(1);
            return;
        }
        for i in answer.regions {
            let Some(r) = p.regions.get(*i) else { continue };
            let counter = if answer.all_down == Some(AllDownKind::All) {
                r.all_down
                    .get(|| metrics::counter!(DNS_ANSWERS_TOTAL, &labels(&r.name, "all_down")))
            } else {
                r.policy
                    .get(|| metrics::counter!(DNS_ANSWERS_TOTAL, &labels(&r.name, &r.tier)))
            };
            counter.increment(1);
        }
    }

    /// Sets the region gauges (called when metrics are scraped, so a slow-start ramp shows as
    /// it is): `value(zone, pool, region)` gives each region's, by index.
    pub fn set_regions(&self, mut value: impl FnMut(usize, usize, usize) -> RegionGauges) {
        for (z, pools) in self.pools.iter().enumerate() {
            for (p, ph) in pools.iter().enumerate() {
                for (r, rh) in ph.regions.iter().enumerate() {
                    let v = value(z, p, r);
                    rh.up.set(if v.up { 1.0 } else { 0.0 });
                    rh.weight.set(v.weight);
                    rh.overridden.set(if v.overridden { 1.0 } else { 0.0 });
                }
            }
        }
    }

    /// Every region of this load, as (zone, pool, region) labels.
    pub(super) fn regions(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.pools.iter().flatten().flat_map(|p| {
            p.regions
                .iter()
                .map(|r| (p.zone.as_str(), p.pool.as_str(), r.name.as_str()))
        })
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
