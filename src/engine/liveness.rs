//! Liveness: whether probe results still arrive. A target whose prober runs but that has had no
//! result for [`stall_after`] (three intervals and its timeout) means probing has stalled, and
//! `/healthz` fails so a supervisor restarts gslbd rather than let it serve frozen health.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::health::HealthTable;
use crate::probe::{TaskKey, stall_after};
use crate::zone::TargetId;

/// What `/healthz` reports.
#[derive(Debug, Clone)]
pub struct Liveness {
    pub generation: u64,
    /// Probed targets without a result for longer than their stall limit.
    pub stalled: usize,
    /// The one silent longest: its target as shown and how long it has had no result.
    pub worst: Option<(String, Duration)>,
}

/// Counts the stalled targets among those a prober feeds (`feeds`).
pub fn check(
    table: &HealthTable,
    feeds: &HashMap<TaskKey, TargetId>,
    generation: u64,
    now: Instant,
) -> Liveness {
    let zones = table.zones();
    let mut stalled = 0;
    let mut worst: Option<(String, Duration)> = None;
    for &id in feeds.values() {
        let (Some(spec), Some(t)) = (zones.targets.get(id), table.target(id)) else {
            continue;
        };
        // Without any result yet, silence counts from when the target was first seen.
        let heard = t.last.map_or(t.since, |(_, _, at)| at);
        let silent = now.saturating_duration_since(heard);
        if silent <= stall_after(spec) {
            continue;
        }
        stalled += 1;
        if worst.as_ref().is_none_or(|(_, w)| silent > *w) {
            worst = Some((spec.shown(), silent));
        }
    }
    Liveness {
        generation,
        stalled,
        worst,
    }
}
