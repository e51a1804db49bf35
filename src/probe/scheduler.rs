//! The probe scheduler: one task per unique target, each on its own fixed interval.
//!
//! A target is probed when the wall clock is at its slot: UNIX time ≡ hash(target) (mod
//! interval). Targets that share an interval are spread across it, and every instance with the
//! same zones probes each target at the same instants (as close as their clocks agree), so the
//! instances of an NS set flip within milliseconds of each other. Each probe is bounded by its
//! timeout; a slow target delays only itself. A reload keeps every unchanged target's task.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
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

/// The next slot of `spec` after slot `after` (if any) at or after `unix` (time since the UNIX
/// epoch): its index and how long until it.
pub fn next_slot(spec: &ProbeSpec, unix: Duration, after: Option<u128>) -> (u128, Duration) {
    let interval = spec.interval.as_nanos().max(1);
    let phase = phase(spec).as_nanos();
    let now = unix.as_nanos();
    // Slot k is at phase + k × interval; the first at or after now:
    let mut k = now.saturating_sub(phase).div_ceil(interval);
    if let Some(done) = after {
        k = k.max(done + 1);
    }
    let at = phase + k * interval;
    let wait = u64::try_from(at.saturating_sub(now)).unwrap_or(u64::MAX);
    (k, Duration::from_nanos(wait))
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
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
    let mut done = None;
    loop {
        // Each slot is found from the wall clock again, so the schedule follows it (and the
        // other instances) rather than drifting with this process's start.
        let (slot, wait) = next_slot(&spec, unix_now(), done);
        let scheduled = tokio::time::Instant::now() + wait;
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(scheduled) => {}
        }
        done = Some(slot);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_wall_clock_not_the_start() {
        let spec = ProbeSpec::for_test(Duration::from_secs(2), Duration::from_millis(500), 3, 2);
        let p = phase(&spec);
        let base = Duration::from_secs(1_800_000_000);
        // Wherever a process starts, the slot lands at phase mod interval.
        for start_ms in [0u64, 1, 499, 1999, 2000, 3333] {
            let now = base + Duration::from_millis(start_ms);
            let (_, wait) = next_slot(&spec, now, None);
            let at = now + wait;
            assert_eq!(at.as_nanos() % spec.interval.as_nanos(), p.as_nanos());
            assert!(wait < spec.interval);
        }
        // A slot just done is never taken again, even if the clock says it is still due.
        let (k, wait) = next_slot(&spec, base, None);
        let at = base + wait;
        let (k2, wait2) = next_slot(&spec, at - Duration::from_micros(5), Some(k));
        assert_eq!(k2, k + 1);
        assert_eq!(at - Duration::from_micros(5) + wait2, at + spec.interval);
    }
}
