//! Pools: names answered live from their regions, how they pick regions (policy), what they
//! answer with every region down, and a topology pool's steps per preference list.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{Name, Record, RecordType};

use super::{ProbeSpec, RegionId, TargetId, topology};

/// How a pool picks the regions it answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// `answers` distinct regions drawn at random by live weight.
    Weighted,
    /// The lowest-priority tier with a healthy region, weighted inside the tier.
    Failover,
    /// Every healthy region.
    All,
    /// The same client subnet keeps the same region (consistent hashing).
    Hashed,
    /// The first location in the client's list (from the topology map) with a serving region,
    /// weighted inside it.
    Topology,
}

/// What a pool answers when no region is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AllDown {
    /// Fail open: answer as if every region were healthy.
    All,
    /// NOERROR with an empty answer and the SOA (resolvers cache it for the SOA minimum).
    None,
    /// SERVFAIL.
    Servfail,
    /// The pool's static fallback records.
    Fallback,
}

/// A name whose answer is chosen live from its regions.
#[derive(Debug)]
pub struct Pool {
    /// The key under `[pools.KEY]` in the file.
    pub key: String,
    /// The owner name answered (the key, or `name` when set).
    pub name: Name,
    pub rtype: RecordType,
    pub ttl: u32,
    pub policy: Policy,
    /// How many regions one answer carries (`weighted`, `failover`, `hashed`).
    pub answers: usize,
    pub on_all_down: AllDown,
    /// Records answered when every region is down and `on_all_down = "fallback"`; also the
    /// last tier of a `failover` pool.
    pub fallback: Vec<Record>,
    /// Ramp-up time for a recovered region's weight.
    pub slow_start: Option<Duration>,
    pub regions: Vec<Region>,
    /// `policy = "topology"`: the map and, per preference list, the regions to try in order.
    pub topology: Option<PoolTopology>,
    /// Overrides that would leave fewer serving regions are refused unless forced (0: none).
    pub min_serving: usize,
    /// Included in zone transfers to secondaries (`transfer = false` leaves it out).
    pub transfer: bool,
    /// Answers of several regions are drawn as a window on a ring: the policy's first pick,
    /// then the regions after it in the pool's order, `answers` in all, those not eligible left
    /// out. Set for signed pools whose every set of `answers` regions would be too many to sign
    /// ahead: the windows are `regions × 2^(answers-1)` sets at most.
    pub ring: bool,
}

/// A topology pool's steps: for each preference list of the map, the groups of region indexes
/// tried in order (one per listed location, empty when the pool has no region there, then
/// every region in no listed location).
#[derive(Debug, Clone)]
pub struct PoolTopology {
    pub map: Arc<topology::TopologyMap>,
    /// `steps[list][step]` = region indexes.
    pub steps: Vec<Vec<Vec<usize>>>,
}

impl PoolTopology {
    /// The steps of `pool` for every list of `map`.
    pub fn new(map: Arc<topology::TopologyMap>, regions: &[Region]) -> Self {
        let steps = map
            .lists
            .iter()
            .map(|list| {
                let mut steps: Vec<Vec<usize>> = list
                    .iter()
                    .map(|loc| {
                        (0..regions.len())
                            .filter(|i| regions[*i].location == *loc)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let rest: Vec<usize> = (0..regions.len())
                    .filter(|i| !list.contains(&regions[*i].location))
                    .collect();
                if !rest.is_empty() {
                    steps.push(rest);
                }
                steps
            })
            .collect();
        PoolTopology { map, steps }
    }
}

/// One region of a pool: the addresses it answers with and how it is probed.
#[derive(Debug)]
pub struct Region {
    pub id: RegionId,
    pub name: String,
    pub weight: u32,
    pub priority: u32,
    pub addresses: Vec<IpAddr>,
    /// The answer records, built once (owner = pool name, TTL = pool TTL).
    pub records: Vec<Record>,
    /// Share of peak traffic the region can carry, for the N-1 table.
    pub capacity: Option<f64>,
    /// Where it is, for `topology` pools (default: its name).
    pub location: String,
    /// How the region is probed, or `None` when the pool has no health checks (always up).
    pub probe: Option<ProbeSpec>,
    /// The shared probe target for `probe`, assigned when the set is assembled.
    pub target: Option<TargetId>,
}
