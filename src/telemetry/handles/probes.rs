//! Probe result handles of one zone load ([`ProbeMetrics`], kept by the engine inside the
//! load's [`Handles`](super::Handles)): results by target and outcome, durations and lateness.

use std::time::Duration;

use metrics::Histogram;

use super::Lazy;
use crate::telemetry::{
    LAST_PROBE_MS, Layout, PROBE_DURATION_SECONDS, PROBE_LATENESS_SECONDS, PROBE_RESULTS_TOTAL,
    since_start_ms,
};

/// Probe handles for one zone load, kept by the engine.
pub struct ProbeMetrics {
    pub(super) targets: Vec<TargetHandles>,
    /// The `outcome` label values, by outcome index.
    outcomes: &'static [&'static str],
}

pub(super) struct TargetHandles {
    pub(super) target: String,
    /// One per outcome, in [`Layout::outcomes`] order.
    pub(super) results: Box<[Lazy]>,
    duration: Histogram,
    lateness: Histogram,
}

impl ProbeMetrics {
    pub fn new(layout: &Layout) -> Self {
        let targets = layout
            .targets
            .iter()
            .map(|t| TargetHandles {
                target: t.target.clone(),
                results: layout.outcomes.iter().map(|_| Lazy::default()).collect(),
                duration: metrics::histogram!(PROBE_DURATION_SECONDS, "kind" => t.kind),
                lateness: metrics::histogram!(PROBE_LATENESS_SECONDS, "kind" => t.kind),
            })
            .collect();
        ProbeMetrics {
            targets,
            outcomes: layout.outcomes,
        }
    }

    /// Records one probe result (`outcome`: its index in [`Layout::outcomes`]).
    pub fn record(&self, target: usize, outcome: usize, latency: Duration, lateness: Duration) {
        let Some(t) = self.targets.get(target) else {
            return;
        };
        if let (Some(cell), Some(label)) = (t.results.get(outcome), self.outcomes.get(outcome)) {
            cell.get(|| {
                metrics::counter!(PROBE_RESULTS_TOTAL, "target" => t.target.clone(),
                    "outcome" => *label)
            })
            .increment(1);
        }
        t.duration.record(latency.as_secs_f64());
        t.lateness.record(lateness.as_secs_f64());
        LAST_PROBE_MS.store(since_start_ms(), std::sync::atomic::Ordering::Relaxed);
    }
}
