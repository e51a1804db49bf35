//! The validated zone model: zones, static record sets, pools, regions and probe specs.
//!
//! Everything here is immutable once `config` has built it, holds no I/O and no clock, and is
//! shared behind an `Arc` by the DNS path, the prober and the admin API. Regions and probe targets
//! get dense numeric ids so that the health table can be a plain vector indexed by them.
//! [`wire`] holds the same answers pre-encoded, built once per load for the DNS fast path.

pub mod inputs;
pub mod timing;
pub mod topology;
pub mod wire;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

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

/// The kind of health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Http,
    Https,
    Tcp,
}

/// HTTP method for http(s) probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
}

/// What a target counts as before its first verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Initial {
    Up,
    Down,
}

/// A fully resolved probe: everything that decides how a target is checked and judged.
///
/// Two regions with equal specs share one prober and one health state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    /// A URL for http(s), `host:port` for tcp.
    pub target: String,
    #[serde(with = "crate::zone::secs")]
    pub interval: Duration,
    #[serde(with = "crate::zone::secs")]
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    /// Accepted status codes, as inclusive ranges.
    pub expect: Vec<(u16, u16)>,
    /// A substring the body must contain.
    pub body: Option<String>,
    /// Host header and TLS SNI override.
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub method: HttpMethod,
    pub tls_verify: bool,
    /// http(s): reuse one connection across probes (a failed one is replaced at once);
    /// `false` opens a fresh connection for every probe.
    pub keepalive: bool,
    pub initial: Initial,
    /// A target that just went down stays down at least this long.
    #[serde(with = "crate::zone::opt_secs")]
    pub hold_down: Option<Duration>,
}

impl ProbeSpec {
    /// The target as shown to people (status, page, logs, metric labels): a URL's user name
    /// and password replaced by `***`. Header values are never shown at all.
    pub fn shown(&self) -> String {
        redact_userinfo(&self.target)
    }
}

/// `scheme://user:pass@host/…` → `scheme://***@host/…`; anything else as it is.
pub fn redact_userinfo(target: &str) -> String {
    let Some(start) = target.find("://").map(|i| i + 3) else {
        return target.to_string();
    };
    let rest = &target[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{}***{}", &target[..start], &rest[at..]),
        None => target.to_string(),
    }
}

#[cfg(test)]
impl ProbeSpec {
    /// An http probe of 127.0.0.1 with the given settings (unit tests).
    pub fn for_test(interval: Duration, timeout: Duration, fall: u32, rise: u32) -> Self {
        ProbeSpec {
            kind: ProbeKind::Http,
            target: "http://127.0.0.1:1/".into(),
            interval,
            timeout,
            fall,
            rise,
            expect: vec![(200, 299)],
            body: None,
            host: None,
            headers: vec![],
            method: HttpMethod::Get,
            tls_verify: true,
            keepalive: true,
            initial: Initial::Up,
            hold_down: None,
        }
    }
}

/// Serde helpers that publish durations as fractional seconds.
pub(crate) mod secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub(crate) mod opt_secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn userinfo_is_redacted_and_nothing_else() {
        for (given, shown) in [
            ("http://u:p@h:8/x", "http://***@h:8/x"),
            ("https://tok@h/x?a=b@c", "https://***@h/x?a=b@c"),
            ("http://h/x@y", "http://h/x@y"),
            ("http://a:b@c@h/", "http://***@h/"),
            ("127.0.0.1:80", "127.0.0.1:80"),
        ] {
            assert_eq!(redact_userinfo(given), shown, "{given}");
        }
    }
}
