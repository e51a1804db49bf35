//! The engine task: the single owner of the health table. It feeds probe results into it,
//! logs every transition once, applies reloads and operator overrides, and publishes a new
//! snapshot on each change, so the next DNS query sees it. Beside it, the runtime tasks that
//! feed it: [`peers`] polls the cluster's peers, [`supervise`] talks to the service manager
//! and turns SIGHUP into a reload.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

mod consensus;
mod handle;
mod liveness;
pub mod metrics;
mod overrides;
pub mod peers;
mod reload;
pub mod signing;
pub mod supervise;

pub use handle::{Applied, Command, EngineHandle, OverrideError, OverrideRequest, Reloaded};
pub use liveness::Liveness;
pub use overrides::{unix_now, unix_now_ms};

use crate::cluster::Cluster;
use crate::config::instance::ClusterConfig;
use crate::health::{
    HealthTable, Overrides, RegionKey, Shared, State, Transition, canonical_overrides,
};
use crate::probe::{Clients, ProbeResult, Probers, TaskKey};
use crate::status::{self, TransitionRecord, state_name};
use crate::telemetry;
use crate::xfr::Xfr;
use crate::zone::{TargetId, ZoneSet};

/// How many probe results may wait for the engine before probers wait.
const RESULT_QUEUE: usize = 4096;
/// How many queued probe results the engine takes at once: one snapshot (and one consensus
/// round) covers every transition among them.
const RESULT_BATCH: usize = 256;

pub struct Engine {
    zones_dir: PathBuf,
    state_file: PathBuf,
    table: HealthTable,
    /// The metric handles of the table's zone load (its snapshots' meter).
    metrics: Arc<telemetry::Handles>,
    /// Overrides of served regions, by canonical key.
    overrides: Overrides,
    /// Overrides naming regions no longer served: listed and clearable, never applied.
    orphaned: Overrides,
    /// The state file's last published serials, kept as they were when nothing is transferred.
    serials: std::collections::BTreeMap<String, u32>,
    shared: Shared,
    generation: u64,
    clients: Clients,
    results_tx: mpsc::Sender<ProbeResult>,
    probers: Probers,
    /// The target each running prober feeds in the current zone set.
    feeds: HashMap<TaskKey, TargetId>,
    history: VecDeque<TransitionRecord>,
    /// The consensus with the other instances, when `[cluster]` is configured.
    cluster: Option<Cluster>,
    /// Versions for secondaries, when `[transfer]` is configured.
    xfr: Option<Xfr>,
    /// Reload requests the next load answers (`run` starts it when none is in progress).
    reloads: Vec<handle::Reply>,
    /// Each drill's end as saved (ms since the epoch) and on the monotonic clock.
    drill_ends: HashMap<RegionKey, (u64, Instant)>,
    /// The zone set's DNSSEC signatures (empty when no zone is signed).
    signed: Arc<crate::dnssec::Signed>,
    /// Sets signed as snapshots are published.
    dynamic: crate::dnssec::Dynamic,
    /// A renewal of every signature in progress.
    renewal: Option<signing::Renewal>,
    /// No renewal is tried again before this (after one failed).
    renew_backoff: Option<Instant>,
}

impl Engine {
    /// Starts probing `zones`; returns the engine, its probe results (pass both to
    /// [`Engine::run`]) and the snapshot it publishes, which DNS reads.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        zones_dir: PathBuf,
        state_file: PathBuf,
        zones: Arc<ZoneSet>,
        saved: crate::state::Saved,
        clients: Clients,
        cluster: Option<Arc<ClusterConfig>>,
        xfr: Option<Xfr>,
        signed: crate::dnssec::Signed,
    ) -> (Engine, mpsc::Receiver<ProbeResult>, Shared) {
        let (results_tx, results_rx) = mpsc::channel(RESULT_QUEUE);
        let metrics = metrics::handles(&zones, None);
        let table =
            HealthTable::new(zones.clone(), None, Instant::now()).with_meter(metrics.clone());
        let cluster = cluster.map(|c| Cluster::new(c, &zones));
        let (overrides, orphaned) = canonical_overrides(&saved.overrides, &zones);
        warn_orphaned(&orphaned);
        let shared: Shared = Arc::new(ArcSwap::from_pointee(table.snapshot(&overrides)));
        let mut probers = Probers::new(CancellationToken::new());
        let feeds = probers.sync(&zones, &clients, &results_tx);
        telemetry::generation(0);
        let mut engine = Engine {
            zones_dir,
            state_file,
            table,
            metrics,
            overrides,
            orphaned,
            serials: saved.serials,
            shared: shared.clone(),
            generation: 0,
            clients,
            results_tx,
            probers,
            feeds,
            history: VecDeque::new(),
            cluster,
            xfr,
            reloads: Vec::new(),
            drill_ends: HashMap::new(),
            signed: Arc::new(signed),
            dynamic: Default::default(),
            renewal: None,
            renew_backoff: None,
        };
        engine.agree();
        engine.publish();
        (engine, results_rx, shared)
    }

    /// Runs until `cancel` fires; then stops the probes.
    pub async fn run(
        mut self,
        mut results: mpsc::Receiver<ProbeResult>,
        mut commands: mpsc::Receiver<Command>,
        cancel: CancellationToken,
    ) {
        let mut loading: Option<reload::Loading> = None;
        let mut batch = Vec::with_capacity(RESULT_BATCH);
        loop {
            if loading.is_none() && !self.reloads.is_empty() {
                loading = Some(self.start_reload());
            }
            // Drills end by themselves; the wait is recomputed after every event.
            let drill_end = self.next_drill_end();
            let version_due = self.xfr.as_ref().and_then(Xfr::due);
            let renew_in = self.renew_in();
            let renewed = async {
                match self.renewal.as_mut() {
                    Some(r) => (&mut r.task).await,
                    None => std::future::pending().await,
                }
            };
            let loaded = async {
                match loading.as_mut() {
                    Some(l) => (&mut l.task).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                1.. = results.recv_many(&mut batch, RESULT_BATCH) => self.on_results(&mut batch),
                Some(c) = commands.recv() => self.on_command(c),
                outcome = loaded => {
                    if let Some(l) = loading.take() {
                        self.finish_reload(outcome, l.replies);
                    }
                }
                _ = tokio::time::sleep(drill_end.unwrap_or(std::time::Duration::from_secs(3600))),
                    if drill_end.is_some() => self.end_drills(),
                _ = tokio::time::sleep_until(version_due.unwrap_or_else(Instant::now).into()),
                    if version_due.is_some() => self.publish(),
                result = renewed => {
                    if let Some(r) = self.renewal.take() {
                        self.finish_renewal(r.zones, result);
                    }
                }
                _ = tokio::time::sleep(renew_in.unwrap_or_default()), if renew_in.is_some() => {
                    self.start_renewal();
                }
            }
        }
        self.probers.stop().await;
    }

    /// A handle plus the command receiver to pass to [`Engine::run`].
    pub fn channel() -> (EngineHandle, mpsc::Receiver<Command>) {
        let (tx, rx) = mpsc::channel(64);
        (EngineHandle { tx }, rx)
    }

    fn publish(&mut self) {
        let mut snap = self.table.snapshot(&self.overrides);
        let now = Instant::now();
        let mut new_serials = false;
        if let Some(x) = self.xfr.as_mut() {
            let heard = self.table.heard();
            x.update(&snap.zones, &snap.live, &heard, now);
            new_serials = x.unsaved();
        }
        // New serials are saved before a secondary or a SOA answer can see them, so a
        // restart never publishes one again; versions whose serials could not be saved are
        // taken back and tried again.
        let saved = !new_serials || self.persist().is_ok();
        if let Some(x) = self.xfr.as_mut() {
            if !saved {
                warn!("transfer: new versions held back until their serials can be saved");
                x.rollback(now);
            }
            x.commit();
            snap.serials = x.serials(&snap.zones);
        }
        if let Err(e) = self.sign_snapshot(&mut snap) {
            error!(target: "gslbd::engine", error = %e, "dnssec: a new snapshot could not be signed; the previous one keeps serving");
            telemetry::dnssec::failed();
            return;
        }
        self.shared.store(Arc::new(snap));
    }

    /// Feeds every result of `batch` into the table (emptying it); publishes once if any
    /// region changed.
    fn on_results(&mut self, batch: &mut Vec<ProbeResult>) {
        let mut changed = false;
        for r in batch.drain(..) {
            changed |= self.on_result(r);
        }
        if changed {
            self.agree();
            self.publish();
        } else if self.xfr.as_ref().is_some_and(Xfr::awaits_first_results) {
            self.publish();
        }
    }

    /// Feeds one result into the table; true if a region changed.
    fn on_result(&mut self, r: ProbeResult) -> bool {
        // A prober stopped by a reload may still have had a result queued.
        let Some(&target) = self.feeds.get(&r.task) else {
            return false;
        };
        self.metrics
            .probes
            .record(target, r.outcome.index(), r.latency, r.lateness);
        // Without a verdict, what secondaries get follows the latest probe (`for_transfer`).
        let unproven = |table: &HealthTable| {
            table
                .target(target)
                .filter(|t| t.state == State::Unknown)
                .and_then(|t| t.last.map(|(o, _, _)| o.is_ok()))
        };
        let before = unproven(&self.table);
        let Some(t) = self.table.observe(target, r.outcome, r.latency, r.at) else {
            return self.xfr.is_some() && unproven(&self.table) != before;
        };
        self.log_transition(target, &t);
        true
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Reload(reply) => self.reloads.push(reply),
            Command::Override(key, action, reply) => {
                let _ = reply.send(self.set_override(key, action));
            }
            Command::Status(reply) => {
                let live = self.table.live(&self.overrides);
                let s = status::build(
                    &self.table,
                    &live,
                    self.generation,
                    &self.history,
                    &self.orphaned,
                    self.cluster.as_ref(),
                    Instant::now(),
                );
                let _ = reply.send(s);
            }
            Command::Peer(index, result, at) => self.on_peer(index, result, at),
            Command::Verdicts(reply) => {
                let _ = reply.send(self.own_verdicts());
            }
            Command::Liveness(reply) => {
                let l = liveness::check(&self.table, &self.feeds, self.generation, Instant::now());
                let _ = reply.send(l);
            }
        }
    }

    fn remember(&mut self, rec: TransitionRecord) {
        if self.history.len() >= status::HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(rec);
    }

    /// One line per region the target feeds, with every field an operator filters on.
    fn log_transition(&mut self, target: TargetId, t: &Transition) {
        let zones = self.table.zones().clone();
        let url = zones
            .targets
            .get(target)
            .map(|s| s.shown())
            .unwrap_or_default();
        let (from, to, reason, count) = (
            state_name(t.from),
            state_name(t.to),
            t.reason.to_string(),
            t.count,
        );
        for id in self.table.regions_of(target).to_vec() {
            let Some((zone, pool, region)) = zones.region(id) else {
                continue;
            };
            let key = RegionKey::of(zone, pool, region);
            {
                let (zone, pool, region) =
                    (key.zone.as_str(), key.pool.as_str(), key.region.as_str());
                let reason = reason.as_str();
                macro_rules! transition {
                    ($level:ident, $msg:literal) => {
                        $level!(
                            zone,
                            pool,
                            region,
                            target = url.as_str(),
                            from,
                            to,
                            reason,
                            count,
                            $msg
                        )
                    };
                }
                if t.to == State::Down {
                    transition!(warn, "region down");
                } else {
                    transition!(info, "region up");
                }
            }
            telemetry::transition(&key.zone, &key.pool, &key.region, to);
            self.remember(TransitionRecord::new(&key, from, to, reason.clone()));
        }
    }
}

/// Logs each override that names no served region.
fn warn_orphaned(orphaned: &Overrides) {
    for (k, a) in orphaned {
        warn!(
            zone = k.zone,
            pool = k.pool,
            region = k.region,
            action = ?a,
            "override for a region that is not served; kept but not applied (clear it with undrain)"
        );
    }
}
