//! The probe scheduler: one task per unique target, each on its own fixed interval.
//!
//! A target's probes start at a deterministic phase inside its interval (a hash of the target),
//! so targets that share an interval are spread out and every instance probes on the same
//! schedule. Each probe is bounded by its timeout; a slow target delays only itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::error;
use xxhash_rust::xxh3::xxh3_64;

use super::{Clients, Prober};
use crate::health::Outcome;
use crate::zone::{ProbeSpec, TargetId, ZoneSet};

/// One probe's result, on its way to the health task.
#[derive(Debug, Clone, Copy)]
pub struct ProbeResult {
    /// Which zone set (reload) the target id belongs to.
    pub generation: u64,
    pub target: TargetId,
    pub outcome: Outcome,
    pub latency: Duration,
    /// How late the probe started against its schedule.
    pub lateness: Duration,
    pub at: Instant,
}

/// The phase of a target inside its interval: stable per target, spread across targets.
pub fn phase(spec: &ProbeSpec) -> Duration {
    let nanos = spec.interval.as_nanos().max(1) as u64;
    Duration::from_nanos(xxh3_64(spec.target.as_bytes()) % nanos)
}

/// Starts one task per target of `zones`; they stop when `cancel` fires.
pub fn spawn(
    zones: &Arc<ZoneSet>,
    generation: u64,
    clients: &Clients,
    tx: mpsc::Sender<ProbeResult>,
    cancel: CancellationToken,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for (id, spec) in zones.targets.iter().enumerate() {
        let prober = match Prober::new(spec, clients) {
            Ok(p) => p,
            Err(e) => {
                error!(target_url = %spec.target, error = %e, "cannot probe target");
                continue;
            }
        };
        let (tx, cancel, spec) = (tx.clone(), cancel.clone(), spec.clone());
        tasks.spawn(async move {
            let start = tokio::time::Instant::now() + phase(&spec);
            let mut tick = tokio::time::interval_at(start, spec.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut scheduled;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    t = tick.tick() => scheduled = t,
                }
                let began = Instant::now();
                let lateness = tokio::time::Instant::now().saturating_duration_since(scheduled);
                let outcome = tokio::select! {
                    _ = cancel.cancelled() => return,
                    o = prober.check(spec.timeout) => o,
                };
                let result = ProbeResult {
                    generation,
                    target: id,
                    outcome,
                    latency: began.elapsed(),
                    lateness,
                    at: Instant::now(),
                };
                if tx.send(result).await.is_err() {
                    return;
                }
            }
        });
    }
    tasks
}
