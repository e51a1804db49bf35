//! The probe scheduler: one task per unique target, each on its own fixed interval.
//!
//! A target's probes start at a deterministic phase inside its interval (a hash of the target),
//! so targets that share an interval are spread out. Each probe is bounded by its timeout; a
//! slow target delays only itself. A reload keeps every unchanged target's task.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
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
    /// The prober that sent it; the engine maps it to the target it feeds now.
    pub task: TaskKey,
    pub outcome: Outcome,
    pub latency: Duration,
    /// How late the probe started against its schedule.
    pub lateness: Duration,
    pub at: Instant,
}

/// Names one prober for as long as it runs (target ids change with every reload).
pub type TaskKey = u64;

/// The phase of a target inside its interval: stable per target, spread across targets.
pub fn phase(spec: &ProbeSpec) -> Duration {
    let nanos = u64::try_from(spec.interval.as_nanos())
        .unwrap_or(u64::MAX)
        .max(1);
    Duration::from_nanos(xxh3_64(spec.target.as_bytes()) % nanos)
}

/// The running probers, one task per unique target. A reload keeps the task, schedule and
/// in-flight probe of every target whose settings did not change; only what changed starts or
/// stops.
pub struct Probers {
    running: HashMap<ProbeSpec, Running>,
    next_key: TaskKey,
    cancel: CancellationToken,
}

struct Running {
    key: TaskKey,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

impl Probers {
    /// No probers yet; every one stops when `cancel` fires.
    pub fn new(cancel: CancellationToken) -> Probers {
        Probers {
            running: HashMap::new(),
            next_key: 0,
            cancel,
        }
    }

    /// Makes the running probers match `zones`; returns the target each prober now feeds.
    pub fn sync(
        &mut self,
        zones: &ZoneSet,
        clients: &Clients,
        tx: &mpsc::Sender<ProbeResult>,
    ) -> HashMap<TaskKey, TargetId> {
        let mut feeds = HashMap::with_capacity(zones.targets.len());
        let mut keep: HashMap<ProbeSpec, Running> = HashMap::with_capacity(zones.targets.len());
        for (id, spec) in zones.targets.iter().enumerate() {
            if let Some(r) = self.running.remove(spec) {
                feeds.insert(r.key, id);
                keep.insert(spec.clone(), r);
                continue;
            }
            let prober = match Prober::new(spec, clients) {
                Ok(p) => p,
                Err(e) => {
                    error!(target_url = %spec.shown(), error = %e, "cannot probe target");
                    continue;
                }
            };
            let key = self.next_key;
            self.next_key += 1;
            let cancel = self.cancel.child_token();
            let handle = tokio::spawn(run(key, spec.clone(), prober, tx.clone(), cancel.clone()));
            feeds.insert(key, id);
            keep.insert(
                spec.clone(),
                Running {
                    key,
                    cancel,
                    handle,
                },
            );
        }
        for (_, gone) in self.running.drain() {
            gone.cancel.cancel();
        }
        self.running = keep;
        feeds
    }

    /// Stops every prober and waits for them.
    pub async fn stop(self) {
        self.cancel.cancel();
        for (_, r) in self.running {
            let _ = r.handle.await;
        }
    }
}

/// One target's probes, on its fixed schedule, until `cancel` fires.
async fn run(
    key: TaskKey,
    spec: ProbeSpec,
    prober: Prober,
    tx: mpsc::Sender<ProbeResult>,
    cancel: CancellationToken,
) {
    let start = tokio::time::Instant::now() + phase(&spec);
    let mut tick = tokio::time::interval_at(start, spec.interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut scheduled;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            t = tick.tick() => scheduled = t,
        }
        // Tests of the supervision prove that a panicking prober stops the process; release
        // builds have no such switch.
        #[cfg(debug_assertions)]
        if std::env::var_os("GSLBD_TEST_PANIC_PROBER").is_some() {
            panic!("a prober panicked (GSLBD_TEST_PANIC_PROBER)");
        }
        let began = Instant::now();
        let lateness = tokio::time::Instant::now().saturating_duration_since(scheduled);
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            o = prober.check(spec.timeout) => o,
        };
        let result = ProbeResult {
            task: key,
            outcome,
            latency: began.elapsed(),
            lateness,
            at: Instant::now(),
        };
        if tx.send(result).await.is_err() {
            return;
        }
    }
}
