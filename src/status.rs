//! The operator's view of what gslbd believes: every zone, pool and region with its state,
//! weights, last probe, streaks, override and cutover figures, plus recent transitions.
//! Built on request from the engine's table; served as JSON, as a page and by `gslbd status`.

use std::collections::VecDeque;
use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

pub use crate::select::outcome::{self, Answering, LocationNow};
mod table;

pub use table::votes;

use crate::cutover::{self, Figures};
use crate::health::{HealthTable, Live, Override, RegionKey, State, WEIGHT_SCALE};
use crate::zone::Pool;

/// How many transitions the timeline keeps.
pub const HISTORY: usize = 200;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    /// Bumped by every successful reload.
    pub generation: u64,
    /// Queries received since the start, by transport (udp, tcp, tls, quic).
    #[serde(default)]
    pub queries_by_transport: std::collections::BTreeMap<String, u64>,
    /// The cluster: its peers' freshness and whether this instance is isolated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterStatus>,
    pub zones: Vec<ZoneStatus>,
    /// Most recent first.
    pub transitions: Vec<TransitionRecord>,
    /// Overrides naming regions that are not served (after a reload removed them): kept in the
    /// state file and clearable, never applied.
    #[serde(default)]
    pub orphaned_overrides: Vec<OrphanedOverride>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrphanedOverride {
    pub zone: String,
    pub pool: String,
    pub region: String,
    #[serde(rename = "override")]
    pub override_: Override,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ZoneStatus {
    pub zone: String,
    pub file: String,
    pub cutover: Option<Figures>,
    pub pools: Vec<PoolStatus>,
    /// A signed zone's keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dnssec: Vec<KeyStatus>,
}

/// One key of a signed zone, and the DS its parent publishes for it (KSKs and CSKs).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyStatus {
    pub tag: u16,
    pub role: crate::zone::signing::KeyRole,
    pub algorithm: String,
    /// False for a key published without signing (before or after a rollover).
    pub signs: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ds: Option<String>,
}

/// The keys of `zone` (in its `[dnssec]` order), when it is signed.
pub fn zone_keys(zone: &crate::zone::Zone) -> Vec<KeyStatus> {
    use hickory_proto::dnssec::Verifier;
    let Some(signing) = zone.signing.as_deref() else {
        return Vec::new();
    };
    let origin = hickory_proto::rr::Name::from(&zone.origin);
    signing
        .keys
        .iter()
        .map(|k| KeyStatus {
            tag: k.tag,
            role: k.role,
            algorithm: k.dnskey.algorithm().to_string(),
            signs: k.sign,
            ds: k
                .dnskey
                .secure_entry_point()
                .then(|| crate::dnssec::ds_text(&origin, &k.dnskey, k.tag, signing.dnskey_ttl).ok())
                .flatten(),
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolStatus {
    pub pool: String,
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub policy: String,
    pub ttl: u32,
    pub on_all_down: String,
    pub cutover: Option<Figures>,
    /// What DNS answers for the pool right now.
    #[serde(default)]
    pub answering: Answering,
    /// With a cluster: isolated, this instance's own verdicts would turn the pool all-down, so
    /// it is held at the regions the last consensus had serving.
    #[serde(default)]
    pub held: bool,
    pub regions: Vec<RegionStatus>,
    /// `topology` pools: where each client location is answered from right now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<LocationNow>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionStatus {
    pub region: String,
    pub addresses: Vec<String>,
    /// unknown | up | down (the probe verdict; `unprobed` when there is no probe).
    pub state: String,
    /// Whether its verdict and override let DNS answer with it.
    pub serving: bool,
    /// Whether DNS answers with it right now (also when the pool fails open).
    #[serde(default)]
    pub answered: bool,
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    pub configured_weight: u32,
    pub live_weight: f64,
    pub priority: u32,
    pub target: Option<String>,
    pub last_probe: Option<LastProbe>,
    /// The latest probe results, oldest first (true = ok).
    #[serde(default)]
    pub recent_probes: Vec<bool>,
    pub ok_streak: u32,
    pub fail_streak: u32,
    pub seconds_in_state: Option<f64>,
    /// With a cluster: the instances' votes on the region and how they were counted
    /// (`state` is this instance's own verdict; `serving` follows the votes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<crate::cluster::decide::Agreement>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastProbe {
    pub outcome: String,
    pub latency_ms: f64,
    pub seconds_ago: f64,
}

/// One logged transition, kept for the timeline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// Seconds since the Unix epoch.
    pub at: f64,
    pub zone: String,
    pub pool: String,
    pub region: String,
    pub from: String,
    pub to: String,
    pub reason: String,
}

impl TransitionRecord {
    pub fn new(key: &RegionKey, from: &str, to: &str, reason: String) -> Self {
        let at = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        TransitionRecord {
            at,
            zone: key.zone.clone(),
            pool: key.pool.clone(),
            region: key.region.clone(),
            from: from.into(),
            to: to.into(),
            reason,
        }
    }
}

pub fn state_name(s: State) -> &'static str {
    match s {
        State::Unknown => "unknown",
        State::Up => "up",
        State::Down => "down",
    }
}

/// The status of everything in `table`, with `live` (overrides applied) as DNS sees it.
pub fn build(
    table: &HealthTable,
    live: &Live,
    generation: u64,
    history: &VecDeque<TransitionRecord>,
    orphaned: &crate::health::Overrides,
    cluster: Option<&crate::cluster::Cluster>,
    now: Instant,
) -> Status {
    let zones = table.zones();
    let timing = zones.timing.clone();
    let zones = zones
        .zones
        .iter()
        .map(|z| {
            let zc = cutover::zone(z, &timing);
            ZoneStatus {
                zone: zc.zone.clone(),
                file: zc.file.clone(),
                cutover: zc.worst,
                dnssec: zone_keys(z),
                pools: z
                    .pools
                    .iter()
                    .zip(&zc.pools)
                    .map(|(p, pc)| pool_status(table, live, cluster, p, pc.worst, now))
                    .collect(),
            }
        })
        .collect();
    let names = crate::dns::Transport::NAMES;
    let counts = crate::telemetry::transport_queries();
    Status {
        generation,
        queries_by_transport: names.into_iter().map(String::from).zip(counts).collect(),
        cluster: cluster.map(|c| c.status(now)),
        zones,
        transitions: history.iter().rev().cloned().collect(),
        orphaned_overrides: orphaned
            .iter()
            .map(|(k, a)| OrphanedOverride {
                zone: k.zone.clone(),
                pool: k.pool.clone(),
                region: k.region.clone(),
                override_: *a,
            })
            .collect(),
    }
}

fn pool_status(
    table: &HealthTable,
    live: &Live,
    cluster: Option<&crate::cluster::Cluster>,
    p: &Pool,
    cutover: Option<Figures>,
    now: Instant,
) -> PoolStatus {
    let (answering, answered) = answering(live, p, now);
    PoolStatus {
        locations: topology_now(live, p, now),
        pool: p.key.clone(),
        name: p.name.to_string(),
        rtype: p.rtype.to_string(),
        policy: json_name(&p.policy),
        ttl: p.ttl,
        on_all_down: json_name(&p.on_all_down),
        cutover,
        answering,
        held: cluster.is_some_and(|c| c.held(p.regions.iter().map(|r| r.id))),
        regions: p
            .regions
            .iter()
            .zip(answered)
            .map(|(r, answered)| {
                let t = r.target.and_then(|t| table.target(t));
                let rl = live.region(r.id);
                RegionStatus {
                    region: r.name.clone(),
                    addresses: r.addresses.iter().map(|a| a.to_string()).collect(),
                    state: t.map_or("unprobed", |t| state_name(t.state)).into(),
                    serving: rl.is_some_and(|l| l.serving),
                    answered,
                    override_: rl.and_then(|l| l.override_),
                    configured_weight: r.weight,
                    live_weight: live.weight(p, r, now) as f64 / WEIGHT_SCALE as f64,
                    priority: r.priority,
                    target: r.probe.as_ref().map(|s| s.shown()),
                    last_probe: t.and_then(|t| t.last).map(|(o, lat, at)| LastProbe {
                        outcome: o.to_string(),
                        latency_ms: lat.as_secs_f64() * 1000.0,
                        seconds_ago: now.saturating_duration_since(at).as_secs_f64(),
                    }),
                    recent_probes: t.map(|t| t.recent.results()).unwrap_or_default(),
                    ok_streak: t.map_or(0, |t| t.ok_streak),
                    fail_streak: t.map_or(0, |t| t.fail_streak),
                    seconds_in_state: t
                        .map(|t| now.saturating_duration_since(t.since).as_secs_f64()),
                    votes: cluster.and_then(|c| c.agreement(r.id).cloned()),
                }
            })
            .collect(),
    }
}

/// What DNS answers for `p` right now (decided as the DNS path decides), and which regions
/// can be in those answers.
fn answering(live: &Live, p: &Pool, now: Instant) -> (Answering, Vec<bool>) {
    let weights: Vec<u64> = p.regions.iter().map(|r| live.weight(p, r, now)).collect();
    let fail_open: Vec<u64> = p.regions.iter().map(|r| live.fail_open_weight(r)).collect();
    outcome::decide(p, &weights, &fail_open)
}

/// Where each client location of a topology pool is answered from now.
fn topology_now(live: &Live, p: &Pool, now: Instant) -> Vec<LocationNow> {
    let weights: Vec<u64> = p.regions.iter().map(|r| live.weight(p, r, now)).collect();
    outcome::locations(p, &weights)
}

/// A duration for people: `4.2s`, `3m 04s`, `2h 10m`.
pub fn ago(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{:.1}s", secs.max(0.0)),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        _ => format!("{}h {:02}m", s / 3600, s / 60 % 60),
    }
}

/// The serde name of a unit enum value (e.g. `Policy::Weighted` → "weighted").
pub fn json_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
