//! The validated zone model: zones, static record sets, pools, regions and probe specs.
//!
//! Everything here is immutable once `config` has built it, holds no I/O and no clock, and is
//! shared behind an `Arc` by the DNS path, the prober and the admin API. Regions and probe targets
//! get dense numeric ids so that the health table can be a plain vector indexed by them.
//! [`wire`] holds the same answers pre-encoded, built once per load for the DNS fast path.
//! Pools and regions are in `pool`, probe specs in `spec` (both re-exported here), what the
//! deployment adds to the figures in [`timing`].

pub mod inputs;
mod pool;
pub mod signing;
mod spec;
pub mod timing;
pub mod topology;
pub mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

pub use pool::{AllDown, Policy, Pool, PoolTopology, Region};
pub use spec::{HttpMethod, Initial, ProbeKind, ProbeSpec, redact_userinfo};

/// Index of a region in [`ZoneSet::regions`], dense over the whole set.
pub type RegionId = usize;
/// Index of a probe target in [`ZoneSet::targets`], dense over the whole set.
pub type TargetId = usize;

/// Every zone gslbd serves, plus the flat tables the health engine indexes.
#[derive(Debug, Default)]
pub struct ZoneSet {
    /// Zones, sorted by origin with the most labels first so the first suffix match wins.
    pub zones: Vec<Arc<Zone>>,
    /// Every region of every pool: `(zone index, pool index, region index)`.
    pub regions: Vec<RegionRef>,
    /// Unique probe targets; pools that share a target share one entry.
    pub targets: Vec<ProbeSpec>,
    /// Plain answers pre-encoded in wire format, by owner name and type.
    pub wire: wire::Index,
    /// The topology map (`topology.toml` beside the zones), when there is one.
    pub topology: Option<Arc<topology::TopologyMap>>,
    /// What the deployment (a cluster) adds to the cutover figures; set by whoever loads the
    /// zones for an instance.
    pub timing: timing::Timing,
    /// The files this set was loaded from, to tell an unchanged reload.
    pub inputs: inputs::Inputs,
}

/// Where a region lives in the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionRef {
    pub zone: usize,
    pub pool: usize,
    pub region: usize,
}

impl ZoneSet {
    /// The zone that is authoritative for `name`: the longest origin that is a suffix of it.
    pub fn find_zone(&self, name: &LowerName) -> Option<&Arc<Zone>> {
        self.zones.iter().find(|z| z.origin.zone_of(name))
    }

    /// The zone, pool and region a region id points at.
    pub fn region(&self, id: RegionId) -> Option<(&Zone, &Pool, &Region)> {
        let r = self.regions.get(id)?;
        let zone = self.zones.get(r.zone)?;
        let pool = zone.pools.get(r.pool)?;
        let region = pool.regions.get(r.region)?;
        Some((zone, pool, region))
    }

    /// Looks up a region by its zone origin, pool key and region name (as the admin API names it).
    pub fn find_region(&self, zone: &str, pool: &str, region: &str) -> Option<RegionId> {
        let want = Name::from_ascii(zone).ok().map(|n| {
            let mut n = n;
            n.set_fqdn(true);
            LowerName::new(&n)
        })?;
        let z = self.zones.iter().find(|z| z.origin == want)?;
        let p = z.pools.iter().find(|p| p.key == pool)?;
        p.regions.iter().find(|r| r.name == region).map(|r| r.id)
    }
}

/// One authoritative zone, loaded from one file.
#[derive(Debug)]
pub struct Zone {
    /// The file it came from, for messages.
    pub file: PathBuf,
    pub origin: LowerName,
    /// The origin as written (for display).
    pub origin_name: Name,
    /// Default TTL for records and pools that do not set one.
    pub ttl: u32,
    /// The SOA record at the apex.
    pub soa: Record,
    /// min(SOA minimum, SOA TTL): how long resolvers may cache a negative answer (RFC 2308).
    pub negative_ttl: u32,
    /// How long resolvers may cache a SERVFAIL from this zone (RFC 9520), for the recovery
    /// figure of pools with `on_all_down = "servfail"`.
    pub failure_ttl: Duration,
    /// Every name in the zone, including empty non-terminals (nodes with nothing at them).
    pub nodes: HashMap<LowerName, Node>,
    /// The live-answered names.
    pub pools: Vec<Pool>,
    /// True when some name below the apex is delegated (lookups then check for referrals).
    pub has_delegations: bool,
    /// The keys and settings of a signed zone (`[dnssec]`); `None`: unsigned.
    pub signing: Option<std::sync::Arc<signing::Signing>>,
}

impl Zone {
    /// The delegation point at or above `name` (below the apex), if any.
    pub fn delegation_above(&self, name: &LowerName) -> Option<&LowerName> {
        if !self.has_delegations {
            return None;
        }
        self.below_apex(name).find_map(|n| {
            self.nodes
                .get_key_value(&n)
                .and_then(|(k, node)| node.delegation.then_some(k))
        })
    }

    /// Appends to `out` the glue for `records`: for each NS, MX or SRV target inside this
    /// zone, its A then AAAA records, each record once.
    pub fn glue<'r>(&self, records: impl IntoIterator<Item = &'r Record>, out: &mut Vec<Record>) {
        for r in records {
            let target = match &r.data {
                RData::NS(ns) => &ns.0,
                RData::MX(mx) => &mx.exchange,
                RData::SRV(srv) => &srv.target,
                _ => continue,
            };
            let target = LowerName::new(target);
            if !self.origin.zone_of(&target) {
                continue;
            }
            let Some(node) = self.nodes.get(&target) else {
                continue;
            };
            for t in [RecordType::A, RecordType::AAAA] {
                for rec in node.rrset(t).map_or(&[][..], |s| &s.records) {
                    if !out.contains(rec) {
                        out.push(rec.clone());
                    }
                }
            }
        }
    }

    /// `name` and its ancestors, most specific first, down to but not including the apex
    /// (`name` must be in this zone).
    pub fn below_apex(&self, name: &LowerName) -> impl Iterator<Item = LowerName> {
        let apex = self.origin.num_labels();
        std::iter::successors(Some(name.clone()), |n| Some(n.base_name()))
            .take_while(move |n| n.num_labels() > apex)
    }
}

/// What exists at one owner name.
#[derive(Debug, Default)]
pub struct Node {
    /// Static record sets, one per type.
    pub rrsets: Vec<RrSet>,
    /// Pools answered at this name, by record type.
    pub pools: Vec<(RecordType, usize)>,
    /// True when this name holds NS records below the apex: a delegation point.
    pub delegation: bool,
}

impl Node {
    pub fn rrset(&self, rtype: RecordType) -> Option<&RrSet> {
        self.rrsets.iter().find(|s| s.rtype == rtype)
    }

    pub fn pool(&self, rtype: RecordType) -> Option<usize> {
        self.pools
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, p)| *p)
    }

    /// Drops spare capacity: a large zone holds many small nodes.
    pub fn shrink(&mut self) {
        for set in &mut self.rrsets {
            set.records.shrink_to_fit();
        }
        self.rrsets.shrink_to_fit();
        self.pools.shrink_to_fit();
    }

    /// True when nothing at all is at this name (an empty non-terminal).
    pub fn is_empty(&self) -> bool {
        self.rrsets.is_empty() && self.pools.is_empty()
    }
}

/// Static records of one type at one name.
#[derive(Debug, Clone)]
pub struct RrSet {
    pub rtype: RecordType,
    pub records: Vec<Record>,
}
