//! Reloads off the engine's path: the zone files are read, compared and parsed on a blocking
//! thread while the engine keeps taking probe results, transitions and API calls; the new set
//! is swapped in when the parse is done. Requests that come in during a load are answered by
//! the next one, which reads the files as they are then (several coalesce into one). The
//! engine's side (starting a load, applying its outcome, answering the requests) is here too.
//!
//! Everything a reload costs in proportion to the zones runs on that thread at nice 19: the
//! parse, the signatures, the new set's metric handles, and dropping the set it replaced. The
//! engine (on the runtime, at normal priority, beside the queries) only swaps them in.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;
use tracing::{error, info, warn};

use super::handle::{Reloaded, Reply};
use super::{Engine, supervise, warn_orphaned};
use crate::config::ConfigErrors;
use crate::health::{HealthTable, canonical_overrides};
use crate::telemetry::{self, Handles};
use crate::zone::ZoneSet;

/// What the blocking thread found.
pub enum Outcome {
    /// Every file reads as the serving set read it.
    Unchanged,
    /// A new, validated set, its signatures and its metric handles.
    New(Box<New>),
    /// A valid set that could not be signed.
    Unsigned(crate::dnssec::SignError),
    /// The errors that reject the files as they are.
    Failed(ConfigErrors),
}

/// A new set as the background thread leaves it for the engine.
pub struct New {
    zones: ZoneSet,
    signed: crate::dnssec::Signed,
    /// Laid out with the deployment timing, which the set takes over from the serving one
    /// (set once at start), as the worst-case figures use it.
    metrics: Arc<Handles>,
}

/// One load in progress and the requests it answers.
pub struct Loading {
    pub task: oneshot::Receiver<Outcome>,
    pub replies: Vec<Reply>,
}

/// Reads `dir` on a background thread ([`crate::sched::background`]): `Unchanged` when every
/// file is as `serving` read it.
pub fn start(
    dir: PathBuf,
    serving: Arc<ZoneSet>,
    signed: Arc<crate::dnssec::Signed>,
    metrics: Arc<Handles>,
    replies: Vec<Reply>,
) -> Loading {
    let task = crate::sched::background("reload", move || {
        let same =
            crate::config::dir_files(&dir).is_ok_and(|files| serving.inputs.unchanged(&files));
        let timing = serving.timing.clone();
        drop(serving); // not held through the parse
        if same {
            return Outcome::Unchanged;
        }
        match crate::config::load_dir(&dir) {
            Ok(mut set) => match super::signing::sign_set(&set, Some(&signed)) {
                Ok(signed) => {
                    set.timing = timing;
                    let metrics = super::metrics::handles(&set, Some(&metrics));
                    Outcome::New(Box::new(New {
                        zones: set,
                        signed,
                        metrics,
                    }))
                }
                Err(e) => Outcome::Unsigned(e),
            },
            Err(e) => Outcome::Failed(e),
        }
    });
    Loading { task, replies }
}

impl Engine {
    /// Starts reading the zones again on a blocking thread. systemd hears RELOADING now and
    /// READY when the load is done (`Type=notify-reload`).
    pub(super) fn start_reload(&mut self) -> Loading {
        let mut reloading = vec![sd_notify::NotifyState::Reloading];
        reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
        supervise::notify(&reloading);
        let replies = std::mem::take(&mut self.reloads);
        start(
            self.zones_dir.clone(),
            self.table.zones().clone(),
            self.signed.clone(),
            self.metrics.clone(),
            replies,
        )
    }

    /// Applies a finished load (on any error the old zones keep serving) and answers every
    /// request it was for.
    pub(super) fn finish_reload(
        &mut self,
        outcome: Result<Outcome, oneshot::error::RecvError>,
        replies: Vec<Reply>,
    ) {
        let result = match outcome {
            Ok(o) => self.apply(o),
            Err(e) => {
                error!(target: "gslbd::engine", error = %e, "the reload task failed; the previous zones keep serving");
                telemetry::reload(false, self.generation);
                Err(format!("reload task failed: {e}"))
            }
        };
        supervise::notify(&[sd_notify::NotifyState::Ready]);
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }

    fn apply(&mut self, outcome: Outcome) -> Result<Reloaded, String> {
        let zones = match outcome {
            Outcome::Unchanged => {
                let zones = self.table.zones().zones.len();
                telemetry::reload(true, self.generation);
                info!(target: "gslbd::engine",
                    zones,
                    generation = self.generation,
                    "reload: no file changed; the zones serving are kept"
                );
                return Ok(Reloaded {
                    zones,
                    changed: false,
                });
            }
            Outcome::New(new) => {
                let New {
                    zones,
                    signed,
                    metrics,
                } = *new;
                self.signed = Arc::new(signed);
                (Arc::new(zones), metrics)
            }
            Outcome::Unsigned(e) => {
                error!(target: "gslbd::engine", error = %e, "reload: the new zones could not be signed; the previous zones keep serving");
                telemetry::reload(false, self.generation);
                telemetry::dnssec::failed();
                return Err(format!("dnssec: {e}"));
            }
            Outcome::Failed(e) => {
                error!(target: "gslbd::engine", errors = %e, "reload failed; the previous zones keep serving");
                telemetry::reload(false, self.generation);
                return Err(e.to_string());
            }
        };
        let (zones, metrics) = zones;
        let count = zones.zones.len();
        let old_metrics = std::mem::replace(&mut self.metrics, metrics);
        let table = HealthTable::new(zones.clone(), Some(&self.table), Instant::now())
            .with_meter(self.metrics.clone());
        let old_table = std::mem::replace(&mut self.table, table);
        // The last references to the old set are usually these (a query still reading the old
        // snapshot drops it last): dropped with the settling render, at nice 19.
        let replaced = (old_metrics, old_table, self.shared.load_full());
        let mut all = std::mem::take(&mut self.overrides);
        all.append(&mut self.orphaned);
        let (overrides, orphaned) = canonical_overrides(&all, &zones);
        warn_orphaned(&orphaned);
        (self.overrides, self.orphaned) = (overrides, orphaned);
        self.generation += 1;
        telemetry::reload(true, self.generation);
        self.feeds = self.probers.sync(&zones, &self.clients, &self.results_tx);
        if let Some(c) = self.cluster.as_mut() {
            c.zones_changed(&zones);
        }
        if let Some(x) = &self.xfr {
            for z in x.config.unknown_zones(&zones) {
                warn!(target: "gslbd::engine", zone = %z, "[transfer] zones names a zone that no zone file serves");
            }
        }
        self.agree();
        self.publish();
        // A full render (a quarter of a second with 10,000 targets): in the background, so
        // neither the engine nor the queries wait for it.
        let (snap, now) = (self.shared.load_full(), Instant::now());
        drop(crate::sched::background("settle", move || {
            drop(replaced);
            super::metrics::settle(&snap, now);
        }));
        info!(target: "gslbd::engine",
            zones = count,
            targets = zones.targets.len(),
            generation = self.generation,
            "reloaded"
        );
        Ok(Reloaded {
            zones: count,
            changed: true,
        })
    }
}
