//! The engine's side of telemetry: lays out each zone load's series for
//! [`telemetry::Handles`] (zones, pools, regions, tiers, topology, worst-case figures, probe
//! targets), gives the handles to the snapshots as their [`Meter`] (so health and the DNS path
//! name no telemetry type), and renders a scrape of the current snapshot.

use std::sync::Arc;
use std::time::Instant;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::cutover;
use crate::health::{Answered, Live, Meter, Outcome, Snapshot, WEIGHT_SCALE};
use crate::telemetry::{
    self, AllDownKind, Answer, Handles, Layout, PoolLayout, RegionGauges, RegionLayout,
    TargetLayout, ZoneLayout,
};
use crate::xfr::serve::refusals::{Reason, counts};
use crate::zone::{AllDown, Policy, Pool, ProbeKind, ZoneSet};

/// The handles of the load `zones`, continuing the counters of `previous` (the load before)
/// for every series that still exists.
pub fn handles(zones: &ZoneSet, previous: Option<&Handles>) -> Arc<Handles> {
    Arc::new(Handles::new(&layout(zones), previous))
}

/// Renders `/metrics` for the published `snap` as of `now`.
pub fn scrape(handle: &PrometheusHandle, snap: &Snapshot, now: Instant) -> String {
    telemetry::scrape(handle, || {
        snap.metrics.refresh(&snap.zones, &snap.live, now);
        telemetry::xfr_refusals(Reason::ALL.into_iter().map(|r| r.name()).zip(counts()));
    })
}

/// Right after a reload is published: a scrape whose text is thrown away, so the exporter sees
/// the last changes of the series the reload removed now, and drops them from the first real
/// scrape a second later (it keeps a series that changed since the previous render, however
/// long ago).
pub fn settle(snap: &Snapshot, now: Instant) {
    if let Some(handle) = telemetry::installed() {
        drop(scrape(handle, snap, now));
    }
}

/// The labels of every series of the load `zones`.
fn layout(zones: &ZoneSet) -> Layout {
    let zone_layouts = zones
        .zones
        .iter()
        .map(|zone| ZoneLayout {
            name: zone.origin_name.to_string(),
            pools: zone
                .pools
                .iter()
                .map(|pool| PoolLayout {
                    key: pool.key.clone(),
                    worst: cutover::pool(zone, pool, &zones.timing)
                        .worst
                        .map(|f| [f.detection, f.cutover, f.readmission, f.recovery]),
                    regions: pool
                        .regions
                        .iter()
                        .zip(tiers(pool))
                        .map(|(r, tier)| RegionLayout {
                            name: r.name.clone(),
                            tier,
                        })
                        .collect(),
                    topology: topology(pool),
                })
                .collect(),
        })
        .collect();
    let targets = zones
        .targets
        .iter()
        .map(|spec| TargetLayout {
            target: spec.shown(),
            kind: match spec.kind {
                ProbeKind::Http => "http",
                ProbeKind::Https => "https",
                ProbeKind::Tcp => "tcp",
            },
        })
        .collect();
    Layout {
        zones: zone_layouts,
        targets,
        outcomes: &Outcome::LABELS,
    }
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

/// A topology pool's (location, steps' `from` labels), by client location, the default last.
fn topology(pool: &Pool) -> Vec<(String, Vec<String>)> {
    let Some(t) = pool.topology.as_ref() else {
        return Vec::new();
    };
    (0..=t.map.locations.len())
        .map(|l| {
            let (location, list) = t
                .map
                .locations
                .get(l)
                .map_or(("default", t.map.default), |x| (x.name.as_str(), x.list));
            let names = t.map.lists.get(list).map_or(&[][..], |n| &n[..]);
            let steps = t.steps.get(list).map_or(0, Vec::len);
            let from = (0..steps)
                .map(|step| names.get(step).map_or("unlisted", String::as_str).into())
                .collect();
            (location.to_string(), from)
        })
        .collect()
}

impl Meter for Handles {
    fn query(
        &self,
        zone: Option<usize>,
        qtype: hickory_proto::rr::RecordType,
        rcode: hickory_proto::op::ResponseCode,
    ) {
        Handles::query(self, zone, qtype, rcode);
    }

    fn answer(&self, zone: usize, pool: usize, answered: Answered<'_>) {
        let all_down = answered.all_down.map(|a| match a {
            AllDown::All => AllDownKind::All,
            AllDown::None => AllDownKind::None,
            AllDown::Servfail => AllDownKind::Servfail,
            AllDown::Fallback => AllDownKind::Fallback,
        });
        let answer = Answer {
            regions: answered.regions,
            all_down,
            topology: answered.topology,
        };
        Handles::answer(self, zone, pool, &answer);
    }

    fn refresh(&self, zones: &ZoneSet, live: &Live, now: Instant) {
        self.set_regions(|z, p, r| {
            let pool = zones.zones.get(z).and_then(|zone| zone.pools.get(p));
            let Some((pool, region)) = pool.and_then(|pool| Some((pool, pool.regions.get(r)?)))
            else {
                return RegionGauges {
                    up: false,
                    weight: 0.0,
                    overridden: false,
                };
            };
            let w = live.weight(pool, region, now);
            RegionGauges {
                up: w > 0,
                weight: w as f64 / WEIGHT_SCALE as f64,
                overridden: live
                    .region(region.id)
                    .is_some_and(|l| l.override_.is_some()),
            }
        });
        self.touch();
    }
}
