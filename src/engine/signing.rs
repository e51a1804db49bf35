//! The engine's side of DNSSEC: the zone set's signatures (made at start and by each reload
//! on its blocking thread), the sets a snapshot adds when it is published (each `all` pool's
//! current set, a transferred zone's SOA under its published serial), and the renewal of
//! every signature when its window's period ends, also on a blocking thread. A snapshot whose
//! signatures cannot be made is not published: the previous one keeps serving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::{RData, Record};
use tokio::sync::oneshot;
use tracing::{error, info};

use super::{Engine, unix_now};
use crate::dnssec::{Published, SignError, Signed};
use crate::health::Snapshot;
use crate::select::{self, ClientKey, Rule};
use crate::telemetry;
use crate::zone::{Policy, ZoneSet};

/// The longest the engine sleeps before it looks at the wall clock again for a renewal (a
/// clock step moves the period's end, or puts the clock before the period's start).
const RENEW_CHECK: Duration = Duration::from_secs(10);

/// How long a failed renewal waits before the next try.
const RENEW_BACKOFF: Duration = Duration::from_secs(60);

/// A renewal in progress: the zone set it signs and the result.
pub struct Renewal {
    pub zones: Arc<ZoneSet>,
    pub task: oneshot::Receiver<Result<Signed, SignError>>,
}

/// Signs `zones` as of now (at start, and on a reload's thread).
pub fn sign_set(zones: &ZoneSet, previous: Option<&Signed>) -> Result<Signed, SignError> {
    let started = Instant::now();
    let signed = Signed::build(zones, previous, unix_now())?;
    if signed.any() {
        let (made, sets) = signed.counts();
        telemetry::dnssec::signed(
            made,
            sets,
            started.elapsed().as_secs_f64(),
            signed.expires_at(),
        );
        info!(target: "gslbd::engine",
            made,
            sets,
            ms = started.elapsed().as_millis() as u64,
            "dnssec: zones signed"
        );
    }
    Ok(signed)
}

impl Engine {
    /// The signatures `snap` adds to the load's; an error leaves `snap` unpublishable.
    pub(super) fn sign_snapshot(&mut self, snap: &mut Snapshot) -> Result<(), SignError> {
        let mut published = Published::new(self.signed.clone());
        if !self.signed.any() {
            snap.dnssec = Arc::new(published);
            return Ok(());
        }
        let now = unix_now();
        let made_before = self.dynamic.made;
        let client = ClientKey::from_source(std::net::Ipv4Addr::UNSPECIFIED.into());
        let mut rng = rand::rng();
        for (zi, zone) in snap.zones.zones.iter().enumerate() {
            if zone.signing.is_none() {
                continue;
            }
            if let Some(serial) = snap.serial(zi) {
                let mut soa = zone.soa.clone();
                if let RData::SOA(s) = &mut soa.data {
                    s.serial = serial;
                }
                let one = std::slice::from_ref(&soa);
                if published.rrsigs(zi, one).is_none() {
                    let sigs = self.dynamic.sign(zone, one, now)?;
                    published.add(zi, one, sigs);
                }
            }
            for (pi, pool) in zone.pools.iter().enumerate() {
                if pool.policy != Policy::All {
                    continue;
                }
                let sel = select::decide(&snap.live, pool, &client, &mut rng, Instant::now());
                if !matches!(sel.rule, Rule::Policy | Rule::AllDownAll) {
                    continue;
                }
                let mut regions = sel.regions.to_vec();
                regions.sort_unstable();
                let records: Vec<Record> = regions
                    .iter()
                    .flat_map(|i| pool.regions[*i].records.iter().cloned())
                    .collect();
                if !records.is_empty() && published.rrsigs(zi, &records).is_none() {
                    let sigs = self.dynamic.sign(zone, &records, now)?;
                    published.add_fast(zi, pi, &regions, &sigs);
                    published.add(zi, &records, sigs);
                }
            }
        }
        snap.dnssec = Arc::new(published);
        let made = self.dynamic.made - made_before;
        if made > 0 {
            telemetry::dnssec::published(made);
        }
        Ok(())
    }

    /// How long until the signatures must be renewed (at most [`RENEW_CHECK`]); `None` when
    /// nothing is signed or a renewal is running.
    pub(super) fn renew_in(&self) -> Option<Duration> {
        if self.renewal.is_some() {
            return None;
        }
        let at = self.signed.renew_at()?;
        let now = unix_now();
        // Stale signatures (a clock stepped back before the period began) are due at once:
        // the engine's wait restarts at every event (probe results come every interval), so a
        // wait of RENEW_CHECK might never end.
        let due = if self.signed.stale(now) {
            Duration::ZERO
        } else {
            Duration::from_secs(at.saturating_sub(now)).min(RENEW_CHECK)
        };
        // After a failed renewal, the next try waits a minute.
        let backoff = self.renew_backoff.map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(Instant::now())
        });
        Some(due.max(backoff))
    }

    /// Starts signing the serving zones again when their period has ended (or the clock was
    /// stepped back before it began).
    pub(super) fn start_renewal(&mut self) {
        if !self.signed.stale(unix_now()) {
            return;
        }
        info!(target: "gslbd::engine", "dnssec: a new validity period; signing every zone again");
        let zones = self.table.zones().clone();
        let previous = self.signed.clone();
        let set = zones.clone();
        let task = crate::sched::background("sign", move || sign_set(&set, Some(&previous)));
        self.renewal = Some(Renewal { zones, task });
    }

    /// Applies a finished renewal (for the zones still serving) and publishes.
    pub(super) fn finish_renewal(
        &mut self,
        zones: Arc<ZoneSet>,
        result: Result<Result<Signed, SignError>, oneshot::error::RecvError>,
    ) {
        match result {
            Ok(Ok(signed)) if Arc::ptr_eq(&zones, self.table.zones()) => {
                self.renew_backoff = None;
                self.signed = Arc::new(signed);
                self.publish();
            }
            Ok(Ok(_)) => {} // a reload signed the new set meanwhile
            Ok(Err(e)) => {
                telemetry::dnssec::failed();
                self.renew_backoff = Some(Instant::now() + RENEW_BACKOFF);
                error!(target: "gslbd::engine", error = %e, "dnssec: renewing the signatures failed; the current ones keep serving until they expire");
            }
            Err(e) => {
                self.renew_backoff = Some(Instant::now() + RENEW_BACKOFF);
                error!(target: "gslbd::engine", error = %e, "dnssec: the renewal task failed");
            }
        }
    }
}
