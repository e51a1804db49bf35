//! Health: the rise/fall state machine per probe target, live region weights, and the snapshot
//! the DNS path reads.
//!
//! [`HealthTable`] is owned by one task; every probe result goes through [`HealthTable::observe`],
//! and a transition publishes a new [`Snapshot`] (ArcSwap), so the very next query sees it. No
//! I/O and no clock of its own: callers pass `now`. Probe outcomes come from [`crate::probe`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde::Serialize;

use crate::telemetry::Handles;
use crate::zone::{Initial, Pool, ProbeKind, ProbeSpec, Region, RegionId, TargetId, ZoneSet};

mod recent;

pub use recent::Recent;

/// Probe outcomes are the probe module's; kept here for the many callers that name them so.
pub use crate::probe::Outcome;

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No verdict yet; counts as the pool's `initial` setting.
    Unknown,
    Up,
    Down,
}

/// A state change of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Outcome,
    /// Consecutive results that caused it.
    pub count: u32,
}

/// The state machine of one probe target.
#[derive(Debug, Clone)]
pub struct TargetState {
    pub state: State,
    pub ok_streak: u32,
    pub fail_streak: u32,
    /// When the state last changed (or the target was first seen).
    pub since: Instant,
    /// When it last went down (for `hold_down`).
    pub down_at: Option<Instant>,
    /// When it last came back from down (for `slow_start`).
    pub recovered_at: Option<Instant>,
    pub last: Option<(Outcome, Duration, Instant)>,
    /// The latest probe results, for the status page's timeline.
    pub recent: Recent,
    fall: u32,
    rise: u32,
    initial: Initial,
    hold_down: Option<Duration>,
}

impl TargetState {
    pub fn new(spec: &ProbeSpec, now: Instant) -> Self {
        TargetState {
            state: State::Unknown,
            ok_streak: 0,
            fail_streak: 0,
            since: now,
            down_at: None,
            recovered_at: None,
            last: None,
            recent: Recent::default(),
            fall: spec.fall,
            rise: spec.rise,
            initial: spec.initial,
            hold_down: spec.hold_down,
        }
    }

    /// The same state, streaks and times under `spec`'s thresholds (after a reload changed
    /// them).
    pub fn with_settings(&self, spec: &ProbeSpec) -> Self {
        TargetState {
            fall: spec.fall,
            rise: spec.rise,
            initial: spec.initial,
            hold_down: spec.hold_down,
            ..self.clone()
        }
    }

    /// Whether DNS may answer with this target's regions.
    pub fn serving(&self) -> bool {
        match self.state {
            State::Up => true,
            State::Down => false,
            State::Unknown => self.initial == Initial::Up,
        }
    }

    /// Feeds one probe result; returns the transition it caused, if any.
    pub fn observe(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        now: Instant,
    ) -> Option<Transition> {
        self.last = Some((outcome, latency, now));
        self.recent.push(outcome.is_ok());
        let from = self.state;
        if outcome.is_ok() {
            self.ok_streak = self.ok_streak.saturating_add(1);
            self.fail_streak = 0;
            let held = match (self.down_at, self.hold_down) {
                (Some(at), Some(hold)) => now < at + hold,
                _ => false,
            };
            if from != State::Up && self.ok_streak >= self.rise && !held {
                self.state = State::Up;
                self.since = now;
                if from == State::Down {
                    self.recovered_at = Some(now);
                }
                return Some(Transition {
                    from,
                    to: State::Up,
                    reason: outcome,
                    count: self.ok_streak,
                });
            }
        } else {
            self.fail_streak = self.fail_streak.saturating_add(1);
            self.ok_streak = 0;
            if from != State::Down && self.fail_streak >= self.fall {
                self.state = State::Down;
                self.since = now;
                self.down_at = Some(now);
                self.recovered_at = None;
                return Some(Transition {
                    from,
                    to: State::Down,
                    reason: outcome,
                    count: self.fail_streak,
                });
            }
        }
        None
    }
}

/// An operator's override of a region, set through the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Override {
    /// Out of the answers, even when every region is down (fail-open skips it too).
    Drain,
    /// In the answers whatever the probes say.
    ForceUp,
    /// Out of the answers whatever the probes say (like drain, for incidents).
    ForceDown,
    /// A failover drill: forced down until `until_ms` (milliseconds since the UNIX epoch;
    /// `until`, whole seconds rounded up, for people and for state files written before
    /// milliseconds), then cleared by itself.
    Drill {
        until: u64,
        #[serde(default, skip_serializing_if = "is_zero")]
        until_ms: u64,
    },
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Override {
    /// The override's name as the API and the page write it.
    pub fn name(&self) -> &'static str {
        match self {
            Override::Drain => "drain",
            Override::ForceUp => "force-up",
            Override::ForceDown => "force-down",
            Override::Drill { .. } => "drill",
        }
    }

    /// A drill of `length` from `now_ms` (milliseconds since the UNIX epoch).
    pub fn drill(now_ms: u64, length: Duration) -> Override {
        let until_ms = now_ms.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX));
        Override::Drill {
            until: until_ms.div_ceil(1000),
            until_ms,
        }
    }

    /// When a drill ends, in milliseconds since the UNIX epoch (`None`: not a drill).
    pub fn drill_end_ms(&self) -> Option<u64> {
        match *self {
            Override::Drill { until_ms, .. } if until_ms > 0 => Some(until_ms),
            Override::Drill { until, .. } => Some(until.saturating_mul(1000)),
            _ => None,
        }
    }

    /// True when it takes the region out of the answers.
    pub fn takes_out(&self) -> bool {
        !matches!(self, Override::ForceUp)
    }
}

/// A region named the way operators name it: zone origin, pool key, region name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct RegionKey {
    pub zone: String,
    pub pool: String,
    pub region: String,
}

impl RegionKey {
    pub fn of(zone: &crate::zone::Zone, pool: &Pool, region: &Region) -> Self {
        RegionKey {
            zone: zone.origin_name.to_string(),
            pool: pool.key.clone(),
            region: region.name.clone(),
        }
    }
}

/// Every override in force.
pub type Overrides = std::collections::BTreeMap<RegionKey, Override>;

impl RegionKey {
    /// The key as `zones` spells the region (zone names match in any case, with or without
    /// the final dot); `None` when no such region is served.
    pub fn canonical(&self, zones: &ZoneSet) -> Option<RegionKey> {
        let id = zones.find_region(&self.zone, &self.pool, &self.region)?;
        let (zone, pool, region) = zones.region(id)?;
        Some(RegionKey::of(zone, pool, region))
    }

    /// True when both name the same region, whatever the zone name's case and final dot.
    pub fn same_region(&self, other: &RegionKey) -> bool {
        let zone = |z: &str| z.trim_end_matches('.').to_ascii_lowercase();
        zone(&self.zone) == zone(&other.zone)
            && self.pool == other.pool
            && self.region == other.region
    }
}

/// Rewrites every override to its region's canonical key; those naming no served region are
/// returned apart (orphaned: kept, listed, clearable, never applied).
pub fn canonical_overrides(overrides: &Overrides, zones: &ZoneSet) -> (Overrides, Overrides) {
    let mut known = Overrides::new();
    let mut orphaned = Overrides::new();
    for (key, action) in overrides {
        match key.canonical(zones) {
            Some(k) => {
                known.insert(k, *action);
            }
            None => {
                orphaned.insert(key.clone(), *action);
            }
        }
    }
    (known, orphaned)
}

/// What the DNS path knows about one region.
#[derive(Debug, Clone, Copy)]
pub struct RegionLive {
    pub serving: bool,
    /// Set while a `slow_start` ramp may apply.
    pub recovered_at: Option<Instant>,
    pub override_: Option<Override>,
    /// Its target has no verdict yet and its latest probe failed (nothing else decided it):
    /// DNS still answers it (as `initial`), but a transferred version, which cannot be taken
    /// back, leaves it out.
    pub unproven_failing: bool,
}

/// Share of full weight a region gets at the start of its slow-start ramp.
pub const SLOW_START_FLOOR: f64 = 0.1;
/// Live weights are scaled by this so that a ramp is smooth even for weight 1.
pub const WEIGHT_SCALE: u64 = 1000;

/// The live state of every region, indexed by [`RegionId`].
#[derive(Debug, Clone, Default)]
pub struct Live {
    regions: Vec<RegionLive>,
}

impl Live {
    pub fn region(&self, id: RegionId) -> Option<&RegionLive> {
        self.regions.get(id)
    }

    /// The live weight of a region, scaled by [`WEIGHT_SCALE`]; 0 when it must not be answered.
    pub fn weight(&self, pool: &Pool, region: &Region, now: Instant) -> u64 {
        let full = u64::from(region.weight) * WEIGHT_SCALE;
        let Some(live) = self.regions.get(region.id) else {
            return full;
        };
        if !live.serving {
            return 0;
        }
        match (pool.slow_start, live.recovered_at) {
            (Some(ramp), Some(at)) => {
                let share = (now.saturating_duration_since(at).as_secs_f64() / ramp.as_secs_f64())
                    .clamp(SLOW_START_FLOOR, 1.0);
                ((full as f64) * share).round().max(1.0) as u64
            }
            _ => full,
        }
    }

    /// The live view as secondaries get it: a region whose target has no verdict yet and
    /// whose latest probe failed is not serving.
    pub fn for_transfer(&self) -> Live {
        let regions = self
            .regions
            .iter()
            .map(|r| RegionLive {
                serving: r.serving && !r.unproven_failing,
                ..*r
            })
            .collect();
        Live { regions }
    }

    /// The weight a region gets when every region is down and the pool fails open: its
    /// configured weight, unless an operator drained or forced it down.
    pub fn fail_open_weight(&self, region: &Region) -> u64 {
        match self.regions.get(region.id).and_then(|l| l.override_) {
            Some(o) if o.takes_out() => 0,
            _ => u64::from(region.weight) * WEIGHT_SCALE,
        }
    }
}

/// What the DNS path reads: the zones and the live state that belongs to them.
#[derive(Debug)]
pub struct Snapshot {
    pub zones: Arc<ZoneSet>,
    pub live: Live,
    /// Metric handles of this zone load (shared by every snapshot of it).
    pub metrics: Arc<Handles>,
    /// Transferred zones' published SOA serials, by zone index (`None`: the configured one).
    pub serials: Vec<Option<u32>>,
}

impl Snapshot {
    /// The published serial of zone `zone`, when it is transferred.
    pub fn serial(&self, zone: usize) -> Option<u32> {
        self.serials.get(zone).copied().flatten()
    }
}

/// The published snapshot: written by the health task and reloads, read lock-free by DNS.
pub type Shared = Arc<ArcSwap<Snapshot>>;

/// Target states for one zone set, plus the regions each target feeds.
pub struct HealthTable {
    zones: Arc<ZoneSet>,
    metrics: Arc<Handles>,
    targets: Vec<TargetState>,
    regions_of: Vec<Vec<RegionId>>,
    /// With a cluster: the agreed verdict per region (`None`: the target's own applies).
    agreed: Vec<Option<bool>>,
}

impl HealthTable {
    /// A table for `zones`; targets whose spec also exists in `previous` keep their state.
    pub fn new(zones: Arc<ZoneSet>, previous: Option<&HealthTable>, now: Instant) -> Self {
        let mut regions_of = vec![Vec::new(); zones.targets.len()];
        for (id, r) in zones.regions.iter().enumerate() {
            let region = &zones.zones[r.zone].pools[r.pool].regions[r.region];
            if let Some(t) = region.target {
                regions_of[t].push(id);
            }
        }
        // A target keeps its verdict, streaks and hold-down across a reload: by its whole
        // spec when that is unchanged, else by what it probes (kind and URL or host:port),
        // with the new settings applied from then on.
        let exact: HashMap<&ProbeSpec, &TargetState> = previous
            .map(|p| p.zones.targets.iter().zip(&p.targets).collect())
            .unwrap_or_default();
        let mut by_identity: HashMap<(ProbeKind, &str), &TargetState> = HashMap::new();
        if let Some(p) = previous {
            for (spec, state) in p.zones.targets.iter().zip(&p.targets) {
                by_identity
                    .entry((spec.kind, spec.target.as_str()))
                    .or_insert(state);
            }
        }
        let targets = zones
            .targets
            .iter()
            .map(|spec| match exact.get(spec) {
                Some(t) => (*t).clone(),
                None => by_identity
                    .get(&(spec.kind, spec.target.as_str()))
                    .map_or_else(|| TargetState::new(spec, now), |t| t.with_settings(spec)),
            })
            .collect();
        let metrics = Arc::new(Handles::new(&zones, previous.map(|p| &*p.metrics)));
        HealthTable {
            zones,
            metrics,
            targets,
            regions_of,
            agreed: Vec::new(),
        }
    }

    /// Sets the cluster's agreed verdicts (by region id); true when they changed.
    pub fn set_agreed(&mut self, agreed: Vec<Option<bool>>) -> bool {
        let changed = agreed != self.agreed;
        self.agreed = agreed;
        changed
    }

    pub fn zones(&self) -> &Arc<ZoneSet> {
        &self.zones
    }

    pub fn target(&self, id: TargetId) -> Option<&TargetState> {
        self.targets.get(id)
    }

    /// The metric handles of this zone load.
    pub fn metrics(&self) -> &Handles {
        &self.metrics
    }

    /// The regions fed by a target.
    pub fn regions_of(&self, id: TargetId) -> &[RegionId] {
        self.regions_of.get(id).map_or(&[], |v| v.as_slice())
    }

    /// Feeds one probe result for a target.
    pub fn observe(
        &mut self,
        id: TargetId,
        outcome: Outcome,
        latency: Duration,
        now: Instant,
    ) -> Option<Transition> {
        self.targets.get_mut(id)?.observe(outcome, latency, now)
    }

    /// The live view for the DNS path, with operator overrides applied.
    pub fn live(&self, overrides: &Overrides) -> Live {
        let regions = self
            .zones
            .regions
            .iter()
            .enumerate()
            .map(|(id, r)| {
                let zone = &self.zones.zones[r.zone];
                let pool = &zone.pools[r.pool];
                let region = &pool.regions[r.region];
                let override_ = if overrides.is_empty() {
                    None
                } else {
                    overrides.get(&RegionKey::of(zone, pool, region)).copied()
                };
                let target = region.target.and_then(|t| self.targets.get(t));
                let (probed, recovered_at) = match target {
                    Some(t) => (t.serving(), t.recovered_at),
                    None => (true, None),
                };
                let agreed = self.agreed.get(id).copied().flatten();
                let unproven_failing = override_.is_none()
                    && agreed.is_none()
                    && target.is_some_and(|t| {
                        t.state == State::Unknown && t.last.is_some_and(|(o, _, _)| !o.is_ok())
                    });
                let probed = agreed.unwrap_or(probed);
                let serving = match override_ {
                    Some(o) => !o.takes_out(),
                    None => probed,
                };
                RegionLive {
                    serving,
                    recovered_at,
                    override_,
                    unproven_failing,
                }
            })
            .collect();
        Live { regions }
    }

    /// By target id: whether it has had a probe result since it was first seen.
    pub fn heard(&self) -> Vec<bool> {
        self.targets.iter().map(|t| t.last.is_some()).collect()
    }

    /// A fresh snapshot to publish.
    pub fn snapshot(&self, overrides: &Overrides) -> Snapshot {
        Snapshot {
            zones: self.zones.clone(),
            live: self.live(overrides),
            metrics: self.metrics.clone(),
            serials: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
