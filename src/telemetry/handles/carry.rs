//! Counters across a reload: a new load's handles take over the counters of the previous
//! load for every series that still exists (same zone, pool, region, tier, location, target
//! and labels), so a reload never resets what it keeps; series of what it removed are left
//! behind for the exporter to drop.

use std::collections::HashMap;

use super::{Handles, Lazy, NQ, NR, PoolHandles};

impl Lazy {
    /// Takes `old`'s counter when it has one and this has none.
    fn inherit(&self, old: &Lazy) {
        if let Some(c) = old.0.get() {
            let _ = self.0.set(c.clone());
        }
    }
}

impl Handles {
    /// Takes over `old`'s counters for every series this load still has.
    pub(super) fn inherit(&self, old: &Handles) {
        let zones: HashMap<&str, usize> = old
            .zones
            .iter()
            .enumerate()
            .map(|(i, z)| (z.as_str(), i))
            .collect();
        for (z, label) in self.zones.iter().enumerate() {
            let Some(&oz) = zones.get(label.as_str()) else {
                continue;
            };
            for cell in 0..NQ * NR {
                if let (Some(new), Some(old)) = (
                    self.queries.get(z * NQ * NR + cell),
                    old.queries.get(oz * NQ * NR + cell),
                ) {
                    new.inherit(old);
                }
            }
        }
        let pools: HashMap<(&str, &str), &PoolHandles> = old
            .pools
            .iter()
            .flatten()
            .map(|p| ((p.zone.as_str(), p.pool.as_str()), p))
            .collect();
        for p in self.pools.iter().flatten() {
            if let Some(o) = pools.get(&(p.zone.as_str(), p.pool.as_str())) {
                p.inherit(o);
            }
        }
        let targets: HashMap<&str, usize> = old
            .probes
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.target.as_str(), i))
            .collect();
        for t in &self.probes.targets {
            if let Some(o) = targets
                .get(t.target.as_str())
                .and_then(|&i| old.probes.targets.get(i))
            {
                t.results
                    .iter()
                    .zip(&o.results)
                    .for_each(|(n, o)| n.inherit(o));
            }
        }
    }
}

impl PoolHandles {
    fn inherit(&self, old: &PoolHandles) {
        self.fallback.inherit(&old.fallback);
        self.all_down
            .iter()
            .zip(&old.all_down)
            .for_each(|(n, o)| n.inherit(o));
        for r in &self.regions {
            if let Some(o) = old.regions.iter().find(|o| o.name == r.name) {
                r.all_down.inherit(&o.all_down);
                if o.tier == r.tier {
                    r.policy.inherit(&o.policy);
                }
            }
        }
        for cell in self.topology.iter().flatten() {
            let same = old
                .topology
                .iter()
                .flatten()
                .find(|o| o.location == cell.location && o.from == cell.from);
            if let Some(o) = same {
                cell.counter.inherit(&o.counter);
            }
        }
    }
}
