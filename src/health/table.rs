//! [`HealthTable`]: the target states of one zone set, the regions each target feeds, the
//! cluster's agreed verdicts, and the live view and snapshot built from them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    Live, Meter, NoMeter, Outcome, Overrides, RegionKey, RegionLive, Snapshot, State, TargetState,
    Transition,
};
use crate::zone::{ProbeKind, ProbeSpec, RegionId, TargetId, ZoneSet};

/// Target states for one zone set, plus the regions each target feeds.
pub struct HealthTable {
    zones: Arc<ZoneSet>,
    /// The counters snapshots carry ([`NoMeter`] until [`HealthTable::with_meter`]).
    meter: Arc<dyn Meter>,
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
        HealthTable {
            zones,
            meter: Arc::new(NoMeter),
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

    /// The same table, its snapshots carrying `meter` (the engine's handles of this zone load).
    pub fn with_meter(mut self, meter: Arc<dyn Meter>) -> Self {
        self.meter = meter;
        self
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
            metrics: self.meter.clone(),
            serials: Vec::new(),
            dnssec: Default::default(),
        }
    }
}
