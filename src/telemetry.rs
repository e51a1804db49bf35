//! Prometheus metrics: the metric names (`pub const`s, imported by the tests), the recorder,
//! and the handles the DNS path and the engine record through.
//!
//! Handles are made once per zone load and kept with the snapshot ([`Handles`]) or the engine
//! ([`ProbeMetrics`]); a query increments an atomic, it never looks a name up in the registry.
//! Series appear on first use, so a zone with 10,000 pools exports only what it serves.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::cutover;
use crate::health::{Live, Outcome, WEIGHT_SCALE};
use crate::select::{Rule, Selection};
use crate::zone::{Policy, Pool, ProbeKind, ZoneSet};

/// Queries answered, by `zone` (empty outside every zone), `qtype` and `rcode`.
pub const DNS_QUERIES_TOTAL: &str = "gslbd_dns_queries_total";
/// Pool answers, by `zone`, `pool`, `region` and `tier` (`1` is the first failover tier and
/// every answer of the other policies; `2`… later tiers; `fallback`; `all_down` when failing open).
pub const DNS_ANSWERS_TOTAL: &str = "gslbd_dns_answers_total";
/// Pool answers given while no region was serving, by `zone`, `pool` and `kind`
/// (the rule: `all`, `none`, `servfail`, `fallback`).
pub const DNS_ALL_DOWN_TOTAL: &str = "gslbd_dns_all_down_total";
/// Probe results, by `target` and `outcome`.
pub const PROBE_RESULTS_TOTAL: &str = "gslbd_probe_results_total";
/// Probe duration, by `kind` (http, https, tcp).
pub const PROBE_DURATION_SECONDS: &str = "gslbd_probe_duration_seconds";
/// How late a probe started against its schedule, by `kind`.
pub const PROBE_LATENESS_SECONDS: &str = "gslbd_probe_lateness_seconds";
/// 1 when DNS answers with the region (probe verdict and overrides), else 0.
pub const HEALTH_REGION_UP: &str = "gslbd_health_region_up";
/// The region's live weight, in configured units (0 when out; below the configured weight
/// during slow start).
pub const HEALTH_REGION_WEIGHT: &str = "gslbd_health_region_weight";
/// Region state changes, by `zone`, `pool`, `region` and `kind` (the new state or override).
pub const HEALTH_TRANSITIONS_TOTAL: &str = "gslbd_health_transitions_total";
/// The computed worst case per pool, by `zone`, `pool` and `kind`
/// (`detection`, `cutover`, `recovery`).
pub const CUTOVER_WORST_CASE_SECONDS: &str = "gslbd_cutover_worst_case_seconds";
/// Seconds since the last probe result of any target (since the start until the first one):
/// a stalled engine or prober shows as a growing value.
pub const PROBE_LAST_RESULT_AGE_SECONDS: &str = "gslbd_probe_last_result_age_seconds";
/// Zone reloads, by `kind` (`ok`, `error`).
pub const CONFIG_RELOADS_TOTAL: &str = "gslbd_config_reloads_total";
/// Bumped by every successful reload.
pub const CONFIG_GENERATION: &str = "gslbd_config_generation";

/// UDP responses that rate limiting held back, by `action` (`drop`, or `slip`: sent truncated).
pub const DNS_RRL_TOTAL: &str = "gslbd_dns_rrl_total";

/// Every metric name, for documentation and tests.
pub const ALL: [&str; 14] = [
    PROBE_LAST_RESULT_AGE_SECONDS,
    DNS_QUERIES_TOTAL,
    DNS_RRL_TOTAL,
    DNS_ANSWERS_TOTAL,
    DNS_ALL_DOWN_TOTAL,
    PROBE_RESULTS_TOTAL,
    PROBE_DURATION_SECONDS,
    PROBE_LATENESS_SECONDS,
    HEALTH_REGION_UP,
    HEALTH_REGION_WEIGHT,
    HEALTH_TRANSITIONS_TOTAL,
    CUTOVER_WORST_CASE_SECONDS,
    CONFIG_RELOADS_TOTAL,
    CONFIG_GENERATION,
];

const PROBE_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Installs the Prometheus recorder (once per process) and returns the handle that renders it.
/// Handles made before this records nowhere, so it runs before the first zone load.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    // Probe-result ages count from here until the first result.
    since_start_ms();
    HANDLE
        .get_or_init(|| {
            // Fails only on empty buckets, which PROBE_BUCKETS is not.
            let builder = [PROBE_DURATION_SECONDS, PROBE_LATENESS_SECONDS]
                .into_iter()
                .try_fold(PrometheusBuilder::new(), |b, name| {
                    b.set_buckets_for_metric(Matcher::Full(name.into()), &PROBE_BUCKETS)
                })
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only when another recorder is installed; then ours renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        DNS_QUERIES_TOTAL,
        Unit::Count,
        "Queries by zone, qtype and rcode."
    );
    describe_counter!(
        DNS_ANSWERS_TOTAL,
        Unit::Count,
        "Pool answers by zone, pool, region and tier."
    );
    describe_counter!(
        DNS_ALL_DOWN_TOTAL,
        Unit::Count,
        "Pool answers given with no region serving, by rule."
    );
    describe_counter!(
        PROBE_RESULTS_TOTAL,
        Unit::Count,
        "Probe results by outcome."
    );
    describe_histogram!(PROBE_DURATION_SECONDS, Unit::Seconds, "Probe duration.");
    describe_histogram!(
        PROBE_LATENESS_SECONDS,
        Unit::Seconds,
        "Probe start delay against its schedule."
    );
    describe_gauge!(HEALTH_REGION_UP, "1 when DNS answers with the region.");
    describe_gauge!(HEALTH_REGION_WEIGHT, "Live weight in configured units.");
    describe_counter!(
        HEALTH_TRANSITIONS_TOTAL,
        Unit::Count,
        "Region state changes."
    );
    describe_gauge!(
        CUTOVER_WORST_CASE_SECONDS,
        Unit::Seconds,
        "Computed worst-case detection, cutover and recovery per pool."
    );
    describe_counter!(CONFIG_RELOADS_TOTAL, Unit::Count, "Zone reloads.");
    describe_gauge!(CONFIG_GENERATION, "Bumped by every successful reload.");
}

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

/// A counter registered on first use.
/// Counts a response that rate limiting dropped or truncated (`action`: `drop`, `slip`).
pub fn rrl(action: &'static str) {
    static DROP: Lazy = Lazy(OnceLock::new());
    static SLIP: Lazy = Lazy(OnceLock::new());
    let cell = if action == "drop" { &DROP } else { &SLIP };
    cell.get(|| metrics::counter!(DNS_RRL_TOTAL, "action" => action))
        .increment(1);
}

#[derive(Default)]
struct Lazy(OnceLock<Counter>);

impl Lazy {
    fn get(&self, make: impl FnOnce() -> Counter) -> &Counter {
        self.0.get_or_init(make)
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
}

struct PoolHandles {
    zone: String,
    pool: String,
    regions: Vec<RegionHandles>,
    fallback: Lazy,
    /// By [`Rule`]: all, none, servfail, fallback.
    all_down: [Lazy; 4],
}

/// The handles of one zone load: queries, answers and region gauges.
pub struct Handles {
    /// Label per zone; index 0 is "no zone".
    zones: Vec<String>,
    queries: Box<[Lazy]>,
    /// `[zone][pool]`.
    pools: Vec<Vec<PoolHandles>>,
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
    /// Handles for `zones`; also sets the per-pool cutover gauges.
    pub fn new(zones: &ZoneSet) -> Self {
        let mut labels = vec![String::new()];
        let mut pools = Vec::with_capacity(zones.zones.len());
        for zone in &zones.zones {
            let zl = zone.origin_name.to_string();
            labels.push(zl.clone());
            let mut zp = Vec::with_capacity(zone.pools.len());
            for pool in &zone.pools {
                if let Some(f) = cutover::pool(zone, pool).worst {
                    for (kind, v) in [
                        ("detection", f.detection),
                        ("cutover", f.cutover),
                        ("recovery", f.recovery),
                    ] {
                        metrics::gauge!(CUTOVER_WORST_CASE_SECONDS, "zone" => zl.clone(),
                            "pool" => pool.key.clone(), "kind" => kind)
                        .set(v);
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
                        }
                    })
                    .collect();
                zp.push(PoolHandles {
                    zone: zl.clone(),
                    pool: pool.key.clone(),
                    regions,
                    fallback: Lazy::default(),
                    all_down: Default::default(),
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
                    target: spec.target.clone(),
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

/// When the last probe result came, in milliseconds since [`since_start_ms`]'s epoch.
static LAST_PROBE_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Milliseconds since the process first asked (the telemetry epoch).
fn since_start_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Sets the probe-result age gauge (at scrape time).
pub fn refresh_probe_age() {
    let now = since_start_ms();
    let last = LAST_PROBE_MS.load(std::sync::atomic::Ordering::Relaxed);
    metrics::gauge!(PROBE_LAST_RESULT_AGE_SECONDS).set(now.saturating_sub(last) as f64 / 1000.0);
}

/// Counts one region transition (`kind`: the new state or the override).
pub fn transition(zone: &str, pool: &str, region: &str, kind: &'static str) {
    metrics::counter!(HEALTH_TRANSITIONS_TOTAL, "zone" => zone.to_string(),
        "pool" => pool.to_string(), "region" => region.to_string(), "kind" => kind)
    .increment(1);
}

/// Counts one reload and sets the generation.
pub fn reload(ok: bool, generation: u64) {
    metrics::counter!(CONFIG_RELOADS_TOTAL, "kind" => if ok { "ok" } else { "error" }).increment(1);
    metrics::gauge!(CONFIG_GENERATION).set(generation as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_follows_the_convention() {
        for name in ALL {
            assert!(name.starts_with("gslbd_"), "{name}");
            assert!(name.split('_').count() >= 3, "{name}");
            assert!(!name.contains("__"), "{name}");
        }
        let counters = [
            DNS_QUERIES_TOTAL,
            DNS_ANSWERS_TOTAL,
            DNS_ALL_DOWN_TOTAL,
            PROBE_RESULTS_TOTAL,
            HEALTH_TRANSITIONS_TOTAL,
            CONFIG_RELOADS_TOTAL,
        ];
        for name in counters {
            assert!(name.ends_with("_total"), "{name}");
        }
    }

    #[test]
    fn labels_cover_the_common_types_and_codes() {
        assert_eq!(qtype_label(qtype_index(RecordType::AAAA)), "AAAA");
        assert_eq!(qtype_label(qtype_index(RecordType::NULL)), "other");
        assert_eq!(rcode_label(rcode_index(ResponseCode::NXDomain)), "NXDOMAIN");
        assert_eq!(rcode_label(rcode_index(ResponseCode::NoError)), "NOERROR");
        assert_eq!(rcode_label(rcode_index(ResponseCode::YXRRSet)), "other");
    }
}
