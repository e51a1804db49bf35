//! Prometheus metrics: the metric names (`pub const`s, imported by the tests), the recorder,
//! the process-wide series, and [`scrape`].
//!
//! At the bottom of the crate: it imports no crate module. Callers pass labels ([`Layout`],
//! [`Answer`], [`Transport`]) or counts; the engine lays out each zone load and feeds it.
//! The handles of one zone load live in [`handles`], the label types in [`layout`]. Series that no load or global touches at
//! a scrape are dropped by the exporter (its idle timeout), so a reload that removes or renames
//! regions and targets leaves no ghost series behind.

pub mod cluster;
pub mod dnssec;
mod handles;
pub mod layout;
mod transport;

pub use handles::{Handles, ProbeMetrics};
pub use layout::{
    AllDownKind, Answer, Layout, PoolLayout, RegionGauges, RegionLayout, TargetLayout, ZoneLayout,
};
pub use transport::{Transport, transport_queries, transport_query, udp_helper_woken};

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

use handles::Lazy;

/// Queries answered, by `zone` (empty outside every zone), `qtype` and `rcode`.
pub const DNS_QUERIES_TOTAL: &str = "gslbd_dns_queries_total";
/// Pool answers, by `zone`, `pool`, `region` and `tier` (`1` is the first failover tier and
/// every answer of the other policies; `2`… later tiers; `fallback`; `all_down` when failing open).
pub const DNS_ANSWERS_TOTAL: &str = "gslbd_dns_answers_total";
/// Topology pool answers, by `zone`, `pool`, the client's `location` (`default` when no network
/// matched) and the location answered `from` (`unlisted` for regions in no listed location).
pub const DNS_TOPOLOGY_ANSWERS_TOTAL: &str = "gslbd_dns_topology_answers_total";
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
/// 1 while an operator override (drain, force-up, force-down) is set on the region, else 0.
pub const HEALTH_REGION_OVERRIDDEN: &str = "gslbd_health_region_overridden";
/// Region state changes, by `zone`, `pool`, `region` and `kind` (the new state or override).
pub const HEALTH_TRANSITIONS_TOTAL: &str = "gslbd_health_transitions_total";
/// The computed worst case per pool, by `zone`, `pool` and `kind`
/// (`detection`, `cutover`, `readmission`, `recovery`).
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
/// Queries received, by `transport` (`udp`, `tcp`, `tls`, `quic`).
pub const DNS_TRANSPORT_QUERIES_TOTAL: &str = "gslbd_dns_transport_queries_total";

/// Times a UDP thread found a full batch queued and woke a parked sibling to share the load.
pub const DNS_UDP_HELPER_WAKEUPS_TOTAL: &str = "gslbd_dns_udp_helper_wakeups_total";

/// Refused zone transfer requests, by `reason`.
pub const XFR_REFUSED_TOTAL: &str = "gslbd_xfr_refused_total";

/// Every metric name, for documentation and tests.
pub const ALL: [&str; 29] = [
    dnssec::DNSSEC_SIGNATURES_TOTAL,
    dnssec::DNSSEC_SIGNED_SETS,
    dnssec::DNSSEC_SIGNING_SECONDS,
    dnssec::DNSSEC_SIGNING_FAILURES_TOTAL,
    dnssec::DNSSEC_EXPIRY_SECONDS,
    DNS_TRANSPORT_QUERIES_TOTAL,
    DNS_UDP_HELPER_WAKEUPS_TOTAL,
    XFR_REFUSED_TOTAL,
    cluster::CLUSTER_PEER_FRESH,
    cluster::CLUSTER_PEER_AGE_SECONDS,
    cluster::CLUSTER_ISOLATED,
    cluster::CLUSTER_REGION_VOTES,
    cluster::CLUSTER_REGION_DISAGREEMENT,
    PROBE_LAST_RESULT_AGE_SECONDS,
    DNS_QUERIES_TOTAL,
    DNS_RRL_TOTAL,
    DNS_ANSWERS_TOTAL,
    DNS_TOPOLOGY_ANSWERS_TOTAL,
    DNS_ALL_DOWN_TOTAL,
    PROBE_RESULTS_TOTAL,
    PROBE_DURATION_SECONDS,
    PROBE_LATENESS_SECONDS,
    HEALTH_REGION_UP,
    HEALTH_REGION_WEIGHT,
    HEALTH_REGION_OVERRIDDEN,
    HEALTH_TRANSITIONS_TOTAL,
    CUTOVER_WORST_CASE_SECONDS,
    CONFIG_RELOADS_TOTAL,
    CONFIG_GENERATION,
];

const PROBE_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A counter or gauge not touched for this long, across scrapes, is dropped. Every live series
/// is touched right before each render (under [`SCRAPE`]), so only the series of removed
/// regions and targets ever reach it.
const IDLE: Duration = Duration::from_secs(1);

/// The recorder's handle, once installed.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The handle [`install`] returned, when it ran (`--admin off`: never).
pub fn installed() -> Option<&'static PrometheusHandle> {
    HANDLE.get()
}

/// Installs the Prometheus recorder (once per process) and returns the handle that renders it.
/// Handles made before this records nowhere, so it runs before the first zone load.
pub fn install() -> PrometheusHandle {
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
                .unwrap_or_else(|_| PrometheusBuilder::new())
                .idle_timeout(MetricKindMask::COUNTER | MetricKindMask::GAUGE, Some(IDLE));
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
        DNS_TOPOLOGY_ANSWERS_TOTAL,
        Unit::Count,
        "Topology pool answers by client location and the location answered from."
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
    describe_gauge!(
        HEALTH_REGION_OVERRIDDEN,
        "1 while an operator override is set on the region."
    );
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
    describe_counter!(
        XFR_REFUSED_TOTAL,
        Unit::Count,
        "Refused zone transfer requests, by reason."
    );
    describe_gauge!(CONFIG_GENERATION, "Bumped by every successful reload.");
    describe_counter!(
        DNS_TRANSPORT_QUERIES_TOTAL,
        Unit::Count,
        "Queries received, by transport."
    );
    describe_counter!(
        DNS_UDP_HELPER_WAKEUPS_TOTAL,
        Unit::Count,
        "Times a UDP thread found more queries queued than one batch and woke another thread."
    );
    describe_gauge!(
        cluster::CLUSTER_PEER_FRESH,
        "1 while the peer's verdicts are fresh."
    );
    describe_gauge!(
        cluster::CLUSTER_PEER_AGE_SECONDS,
        Unit::Seconds,
        "Seconds since the peer's verdicts last arrived."
    );
    describe_gauge!(
        cluster::CLUSTER_ISOLATED,
        "1 while fewer instances than a quorum are heard from."
    );
    describe_gauge!(
        cluster::CLUSTER_REGION_VOTES,
        "Votes on the region, by vote."
    );
    describe_gauge!(
        cluster::CLUSTER_REGION_DISAGREEMENT,
        "1 while the counted votes on the region disagree."
    );
    describe_counter!(
        dnssec::DNSSEC_SIGNATURES_TOTAL,
        Unit::Count,
        "DNSSEC signatures made, by when (load, publish)."
    );
    describe_gauge!(dnssec::DNSSEC_SIGNED_SETS, "RRsets signed ahead.");
    describe_gauge!(
        dnssec::DNSSEC_SIGNING_SECONDS,
        Unit::Seconds,
        "How long the last zone set's signing took."
    );
    describe_counter!(
        dnssec::DNSSEC_SIGNING_FAILURES_TOTAL,
        Unit::Count,
        "Snapshots or renewals that could not be signed."
    );
    describe_gauge!(
        dnssec::DNSSEC_EXPIRY_SECONDS,
        Unit::Seconds,
        "Seconds until the earliest served signature expires."
    );
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

/// Sets the transfer refusal counters from the counts `xfr` keeps, by `reason` label (at a
/// scrape, inside [`scrape`]'s `current`).
pub fn xfr_refusals(counts: impl IntoIterator<Item = (&'static str, u64)>) {
    for (reason, n) in counts {
        metrics::counter!(XFR_REFUSED_TOTAL, "reason" => reason).absolute(n);
    }
}

/// Rate-limiting counters, by action.
static RRL: [Lazy; 2] = [Lazy(OnceLock::new()), Lazy(OnceLock::new())];

/// Counts a response that rate limiting dropped or truncated (`action`: `drop`, `slip`).
pub fn rrl(action: &'static str) {
    let i = usize::from(action != "drop");
    RRL[i]
        .get(|| metrics::counter!(DNS_RRL_TOTAL, "action" => action))
        .increment(1);
}

/// Transition counters, by (zone, pool, region, kind); pruned at scrape to the regions served.
type TransitionKey = (String, String, String, &'static str);
static TRANSITIONS: Mutex<Option<HashMap<TransitionKey, Counter>>> = Mutex::new(None);

/// Counts one region transition (`kind`: the new state or the override).
pub fn transition(zone: &str, pool: &str, region: &str, kind: &'static str) {
    let mut guard = TRANSITIONS.lock().unwrap_or_else(|e| e.into_inner());
    let key = (zone.to_string(), pool.to_string(), region.to_string(), kind);
    guard
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert_with(|| {
            metrics::counter!(HEALTH_TRANSITIONS_TOTAL, "zone" => zone.to_string(),
                "pool" => pool.to_string(), "region" => region.to_string(), "kind" => kind)
        })
        .increment(1);
}

/// Reload counters (ok, error) and the generation gauge.
static RELOADS: [Lazy; 2] = [Lazy(OnceLock::new()), Lazy(OnceLock::new())];
static GENERATION: OnceLock<Gauge> = OnceLock::new();

/// Counts one reload and sets the generation.
pub fn reload(ok: bool, generation: u64) {
    let kind = if ok { "ok" } else { "error" };
    RELOADS[usize::from(!ok)]
        .get(|| metrics::counter!(CONFIG_RELOADS_TOTAL, "kind" => kind))
        .increment(1);
    self::generation(generation);
}

/// Sets the config generation gauge (0 at start, so the series exists before any reload).
pub fn generation(generation: u64) {
    GENERATION
        .get_or_init(|| metrics::gauge!(CONFIG_GENERATION))
        .set(generation as f64);
}

/// One scrape at a time: touch then render, so no render sees a live series untouched.
static SCRAPE: Mutex<()> = Mutex::new(());

/// Renders the metrics in the Prometheus text format. `current` runs first, under the scrape
/// lock: it sets and touches the current zone load's series ([`Handles::set_regions`],
/// [`Handles::touch`]) and the counts kept elsewhere ([`xfr_refusals`]); then the process-wide
/// series are touched, and the rest dropped.
pub fn scrape(handle: &PrometheusHandle, current: impl FnOnce()) -> String {
    let _one = SCRAPE.lock().unwrap_or_else(|e| e.into_inner());
    current();
    refresh_probe_age();
    transport::refresh();
    RRL.iter().chain(&RELOADS).for_each(Lazy::touch);
    if let Some(g) = GENERATION.get() {
        g.increment(0.0);
    }
    cluster::touch();
    dnssec::touch(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    handle.run_upkeep();
    handle.render()
}

/// Touches the transition counters of `load`'s regions (the regions served); forgets the
/// others.
fn touch_transitions(load: &Handles) {
    let served: HashSet<(&str, &str, &str)> = load.regions().collect();
    let mut guard = TRANSITIONS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(map) = guard.as_mut() {
        map.retain(|(z, p, r, _), c| {
            let keep = served.contains(&(z.as_str(), p.as_str(), r.as_str()));
            if keep {
                c.increment(0);
            }
            keep
        });
    }
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
}
