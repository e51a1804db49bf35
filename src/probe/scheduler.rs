//! The probe scheduler: one task per unique target, each on its own fixed interval.
//!
//! A target is probed once as soon as its prober starts (spread by its phase over at most
//! [`START_SPREAD`]), then at its slots: UNIX time ≡ hash(target) (mod interval). Targets that
//! share an interval are spread across it, and every instance with the same zones probes each
//! target at the same instants (as close as their clocks agree), so the instances of an NS set
//! flip within milliseconds of each other. The waits run on the monotonic clock; the wall clock
//! only places the slots, so a step of the wall clock (either way) shifts one wait by at most
//! half an interval, and the slots follow the stepped clock from then on. Each probe is bounded
//! by its timeout; a slow target delays only itself. A reload keeps every unchanged target's
//! task.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};
use xxhash_rust::xxh3::xxh3_64;

use super::{Clients, Outcome, Prober};
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

/// The start probes of all targets are spread over at most this, so a start is no burst.
pub const START_SPREAD: Duration = Duration::from_secs(1);

/// How long after its prober starts a target's first probe runs: its phase's share of
/// min(interval − timeout, [`START_SPREAD`]), so the first result is in within one interval.
pub fn start_delay(spec: &ProbeSpec) -> Duration {
    let window = spec.interval.saturating_sub(spec.timeout).min(START_SPREAD);
    let share = phase(spec).as_secs_f64() / spec.interval.as_secs_f64().max(f64::MIN_POSITIVE);
    window.mul_f64(share.clamp(0.0, 1.0))
}

/// The longest a target's first result takes after its prober starts (a start or a reload):
/// min(interval, [`START_SPREAD`] + timeout).
pub fn first_result_within(spec: &ProbeSpec) -> Duration {
    spec.interval.saturating_sub(spec.timeout).min(START_SPREAD) + spec.timeout
}

/// Probing counts as stalled when a target has had no result for this long: three intervals
/// and its timeout, at least [`STALL_FLOOR`] (a wall-clock step shifts one slot by half an
/// interval at most).
pub fn stall_after(spec: &ProbeSpec) -> Duration {
    (spec.interval.saturating_mul(3) + spec.timeout).max(STALL_FLOOR)
}

/// The shortest stall `/healthz` reports, so a busy machine never fails it for short intervals.
pub const STALL_FLOOR: Duration = Duration::from_secs(5);

/// The first slot of `spec` at or after the monotonic instant `earliest`, as a monotonic
/// instant; `unix` (time since the UNIX epoch) and `now` are read together and only place the
/// slot on the wall clock.
pub fn next_slot(spec: &ProbeSpec, unix: Duration, now: Instant, earliest: Instant) -> Instant {
    let interval = spec.interval.as_nanos().max(1);
    let phase = phase(spec).as_nanos();
    let from = (unix + earliest.saturating_duration_since(now)).as_nanos();
    // Slot k is at phase + k × interval (UNIX time); the first at or after `from`:
    let k = from.saturating_sub(phase).div_ceil(interval);
    let at = phase + k * interval;
    let wait = u64::try_from(at.saturating_sub(unix.as_nanos())).unwrap_or(u64::MAX);
    now + Duration::from_nanos(wait)
}

/// Where the slot after one scheduled at `done` goes: the nearest slot to `done + interval`
/// that is not in the past. Without a step that is `done + interval`; after a step of the wall
/// clock it is the stepped clock's slot, at most half an interval away.
pub fn slot_after(spec: &ProbeSpec, unix: Duration, now: Instant, done: Instant) -> Instant {
    let earliest = (done + spec.interval / 2).max(now);
    next_slot(spec, unix, now, earliest)
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// The wall clock minus the monotonic clock last seen, in milliseconds (`i64::MIN`: not yet).
static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(i64::MIN);
/// The monotonic zero of [`CLOCK_OFFSET_MS`].
static MONOTONIC_ZERO: OnceLock<Instant> = OnceLock::new();

/// Logs a step of the wall clock once (whichever prober sees it first), so an operator sees why
/// the probe slots moved.
fn note_clock(unix: Duration, now: Instant) {
    let zero = *MONOTONIC_ZERO.get_or_init(|| now);
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let offset = ms(unix).saturating_sub(ms(now.saturating_duration_since(zero)));
    let seen = CLOCK_OFFSET_MS.load(Ordering::Relaxed);
    if seen == i64::MIN {
        let _ =
            CLOCK_OFFSET_MS.compare_exchange(seen, offset, Ordering::Relaxed, Ordering::Relaxed);
    } else if (offset - seen).abs() > 1000
        && CLOCK_OFFSET_MS
            .compare_exchange(seen, offset, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        warn!(
            step_seconds = (offset - seen) as f64 / 1000.0,
            "the wall clock stepped; probing goes on, its slots re-aligned to the stepped clock"
        );
    }
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
    // The first probe right after the start (spread by phase), then the slots.
    let mut scheduled = tokio::time::Instant::now() + start_delay(&spec);
    let mut started = true;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(scheduled) => {}
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
        // Tests of `/healthz` stop every prober after its first result.
        #[cfg(debug_assertions)]
        if std::env::var_os("GSLBD_TEST_STALL_PROBER").is_some() {
            cancel.cancelled().await;
            return;
        }
        // The next slot, waited for on the monotonic clock and placed by the wall clock read
        // now, so a step of the wall clock moves one wait by half an interval at most.
        let (unix, now) = (unix_now(), tokio::time::Instant::now().into_std());
        note_clock(unix, now);
        let next = if std::mem::take(&mut started) {
            next_slot(&spec, unix, now, now)
        } else {
            slot_after(&spec, unix, now, scheduled.into_std())
        };
        scheduled = tokio::time::Instant::from_std(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProbeSpec {
        ProbeSpec::for_test(Duration::from_secs(2), Duration::from_millis(500), 3, 2)
    }

    /// Where `at` (monotonic) lands on the wall clock read as `unix` at `now`, mod interval.
    fn wall_phase(spec: &ProbeSpec, unix: Duration, now: Instant, at: Instant) -> u128 {
        (unix + at.duration_since(now)).as_nanos() % spec.interval.as_nanos()
    }

    #[test]
    fn slots_follow_the_wall_clock_not_the_start() {
        let spec = spec();
        let p = phase(&spec).as_nanos();
        let base = Duration::from_secs(1_800_000_000);
        let now = Instant::now();
        // Wherever a process starts, the slot lands at phase mod interval, within an interval.
        for start_ms in [0u64, 1, 499, 1999, 2000, 3333] {
            let unix = base + Duration::from_millis(start_ms);
            let at = next_slot(&spec, unix, now, now);
            assert_eq!(wall_phase(&spec, unix, now, at), p);
            assert!(at.duration_since(now) < spec.interval);
        }
    }

    #[test]
    fn without_a_step_the_next_slot_is_one_interval_later() {
        let spec = spec();
        let unix = Duration::from_secs(1_800_000_000);
        let t0 = Instant::now();
        let done = next_slot(&spec, unix, t0, t0);
        let at_done = unix + done.duration_since(t0);
        // Read just after the probe, even with the wall clock a little behind (never the same
        // slot again) or late by most of an interval (never a slot in the past).
        for (after, wall_skew_us) in [(5u64, 0i64), (5, -200), (1_900_000, 0), (10, 300)] {
            let now = done + Duration::from_micros(after);
            let unix = at_done + Duration::from_micros(after);
            let unix = if wall_skew_us < 0 {
                unix - Duration::from_micros(wall_skew_us.unsigned_abs())
            } else {
                unix + Duration::from_micros(wall_skew_us.unsigned_abs())
            };
            let next = slot_after(&spec, unix, now, done);
            let gap = next.duration_since(done);
            let off = gap.abs_diff(spec.interval);
            assert!(off <= Duration::from_micros(300), "{after} µs: gap {gap:?}");
        }
        // Woken later than the next slot: that slot is skipped, not run at once.
        let now = done + spec.interval * 2 + Duration::from_millis(1);
        let unix = at_done + spec.interval * 2 + Duration::from_millis(1);
        let next = slot_after(&spec, unix, now, done);
        assert_eq!(next.duration_since(done), spec.interval * 3);
    }

    #[test]
    fn a_step_of_the_wall_clock_moves_one_wait_by_half_an_interval_at_most() {
        let spec = spec();
        let p = phase(&spec).as_nanos();
        let unix = Duration::from_secs(1_800_000_000);
        let t0 = Instant::now();
        let done = next_slot(&spec, unix, t0, t0);
        let at_done = unix + done.duration_since(t0);
        let now = done + Duration::from_millis(3);
        for step_ms in [
            -300_000i64,
            -200_500,
            -1_000,
            -1,
            1,
            700,
            1_300,
            200_000,
            300_500,
        ] {
            let real = at_done + Duration::from_millis(3);
            let unix = if step_ms < 0 {
                real - Duration::from_millis(step_ms.unsigned_abs())
            } else {
                real + Duration::from_millis(step_ms.unsigned_abs())
            };
            let next = slot_after(&spec, unix, now, done);
            let gap = next.duration_since(done);
            assert!(
                gap >= spec.interval / 2 && gap <= spec.interval * 3 / 2,
                "step {step_ms} ms: gap {gap:?}"
            );
            // On the slot of the stepped wall clock.
            assert_eq!(wall_phase(&spec, unix, now, next), p, "step {step_ms} ms");
        }
    }

    #[test]
    fn the_start_probe_comes_first_and_its_result_within_an_interval() {
        for (interval, timeout) in [(2000u64, 500u64), (100, 90), (3_600_000, 1000), (10, 5)] {
            let mut spec = spec();
            spec.interval = Duration::from_millis(interval);
            spec.timeout = Duration::from_millis(timeout);
            let delay = start_delay(&spec);
            assert!(delay <= START_SPREAD);
            assert!(delay + spec.timeout <= first_result_within(&spec));
            assert!(first_result_within(&spec) <= spec.interval);
        }
    }
}
