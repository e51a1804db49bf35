//! The engine's side of transfers: which change of the rendering becomes a new version and
//! when (at most one per `coalesce`; a SOA change at once; after a start, the first version
//! once every target has its first probe result), numbered with serials that only ever rise —
//! across restarts too, from the last serials the state file keeps — and announced to NOTIFY
//! only after the engine has saved those serials.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::rr::{LowerName, RData, Record};
use tokio::sync::mpsc;
use tracing::info;

use super::journal::{Journal, Published, Shared, Version, with_serial};
use super::{Announce, TransferConfig, next_serial, render, tsig};
use crate::health::Live;
use crate::zone::{Zone, ZoneSet};

/// The engine's side: renders, coalesces, journals, announces.
pub struct Xfr {
    pub config: Arc<TransferConfig>,
    shared: Shared,
    journals: HashMap<LowerName, Journal>,
    /// Each zone's static records, rendered once per zone load.
    statics: HashMap<LowerName, (Arc<Zone>, Arc<Vec<Record>>)>,
    /// When each zone last got a new serial.
    published_at: HashMap<LowerName, Instant>,
    /// Zones with a change that waits (for the coalescing window, or for first results).
    pending: HashMap<LowerName, Instant>,
    /// When each zone was first rendered by this process.
    seen_at: HashMap<LowerName, Instant>,
    /// The last serial published per zone origin: this process's, or (before its first
    /// version) the one the state file kept.
    last: BTreeMap<String, u32>,
    /// Versions made since the last [`Xfr::commit`].
    fresh: Vec<Announce>,
    /// The journals changed since the last [`Xfr::commit`].
    dirty: bool,
    announce: mpsc::UnboundedSender<Announce>,
}

impl Xfr {
    /// `last`: the last serial published per zone origin before this start (state file).
    pub fn new(
        config: Arc<TransferConfig>,
        announce: mpsc::UnboundedSender<Announce>,
        last: BTreeMap<String, u32>,
    ) -> Self {
        Xfr {
            config,
            shared: Arc::new(ArcSwap::from_pointee(Published::default())),
            journals: HashMap::new(),
            statics: HashMap::new(),
            published_at: HashMap::new(),
            pending: HashMap::new(),
            seen_at: HashMap::new(),
            last,
            fresh: Vec::new(),
            dirty: false,
            announce,
        }
    }

    /// What the listeners read.
    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    /// The last serial published per zone origin, for the state file.
    pub fn last_serials(&self) -> &BTreeMap<String, u32> {
        &self.last
    }

    /// True when versions were made that are not announced yet: save
    /// [`Xfr::last_serials`], then [`Xfr::commit`].
    pub fn unsaved(&self) -> bool {
        !self.fresh.is_empty()
    }

    /// True while some zone's first version waits for its targets' first probe results.
    pub fn awaits_first_results(&self) -> bool {
        self.pending
            .keys()
            .any(|z| self.journals.get(z).is_none_or(|j| j.versions.is_empty()))
    }

    /// Renders every transferred zone from `live` (`heard`: by target id, whether it has had
    /// a probe result); a zone whose records or SOA changed gets a new version now, or when
    /// its wait ends. Returns the live serial per zone index (for gslbd's own SOA answers).
    /// Nothing is served or announced before [`Xfr::commit`].
    pub fn update(
        &mut self,
        zones: &ZoneSet,
        live: &Live,
        heard: &[bool],
        now: Instant,
    ) -> Vec<Option<u32>> {
        let mut serials = vec![None; zones.zones.len()];
        let mut kept = HashMap::new();
        let live = live.for_transfer();
        for (zi, zone) in zones.zones.iter().enumerate() {
            if !self.config.covers(&zone.origin) {
                continue;
            }
            let seen = *self.seen_at.entry(zone.origin.clone()).or_insert(now);
            let statics = self.statics_of(zone);
            let pools = render::pools(zone, &live, now);
            let mut journal = self.journals.remove(&zone.origin).unwrap_or_else(|| {
                // Served at once: until its first version, transfers get SERVFAIL.
                self.dirty = true;
                Journal {
                    soa: zone.soa.clone(),
                    versions: VecDeque::new(),
                }
            });
            journal.soa = zone.soa.clone();
            let current = journal.current();
            let soa_same = current.is_some_and(|v| same_soa(&v.soa, &zone.soa));
            let same = soa_same
                && current.is_some_and(|v| Arc::ptr_eq(&v.statics, &statics) && v.pools == pools);
            if same {
                // Nothing to publish, including a change that reverted inside its window.
                self.pending.remove(&zone.origin);
            } else {
                match self.wait_until(zone, &journal, soa_same, heard, seen) {
                    Some(due) if due > now => {
                        self.pending.insert(zone.origin.clone(), due);
                    }
                    _ => self.push(zone, &mut journal, (statics, pools), now),
                }
            }
            // Before its first version, SOA answers keep the last serial published.
            serials[zi] = journal
                .current()
                .map(|v| v.serial)
                .or_else(|| self.last.get(&zone.origin.to_string()).copied());
            kept.insert(zone.origin.clone(), journal);
        }
        // What is left was removed or is no longer transferred: it stops being served now.
        if !self.journals.is_empty() {
            self.dirty = true;
        }
        self.journals = kept;
        let journals = &self.journals;
        self.statics.retain(|z, _| journals.contains_key(z));
        self.pending.retain(|z, _| journals.contains_key(z));
        self.published_at.retain(|z, _| journals.contains_key(z));
        self.seen_at.retain(|z, _| journals.contains_key(z));
        serials
    }

    /// Serves what [`Xfr::update`] made and announces its new versions.
    pub fn commit(&mut self) {
        if self.dirty {
            self.store();
            self.dirty = false;
        }
        for a in self.fresh.drain(..) {
            info!(zone = %a.zone, serial = a.serial, "transfer: published a new version");
            let _ = self.announce.send(a);
        }
    }

    /// When a change of `zone` may become a version (`None`: now). A zone's first version
    /// waits until every target it renders has had a probe result (at most one interval and
    /// timeout after the zone was first seen), so a start never re-advertises a region the
    /// secondaries already dropped; a SOA change goes out at once (gslbd's SOA answers must
    /// equal the SOA transferred under their serial); any other waits out `coalesce`.
    fn wait_until(
        &self,
        zone: &Zone,
        journal: &Journal,
        soa_same: bool,
        heard: &[bool],
        seen: Instant,
    ) -> Option<Instant> {
        if journal.current().is_none() {
            let regions = || {
                zone.pools
                    .iter()
                    .filter(|p| p.transfer)
                    .flat_map(|p| &p.regions)
            };
            let all_heard = regions()
                .filter_map(|r| r.target)
                .all(|t| heard.get(t).copied().unwrap_or(true));
            let bound = regions()
                .filter_map(|r| r.probe.as_ref())
                .map(|p| p.interval + p.timeout)
                .max()
                .unwrap_or(Duration::ZERO);
            return (!all_heard).then_some(seen + bound);
        }
        if !soa_same {
            return None;
        }
        self.published_at
            .get(&zone.origin)
            .map(|at| *at + self.config.coalesce)
    }

    /// The static records of `zone`: rendered again only when a reload changed them, so the
    /// versions of a zone share one copy.
    fn statics_of(&mut self, zone: &Arc<Zone>) -> Arc<Vec<Record>> {
        if let Some((z, s)) = self.statics.get(&zone.origin)
            && Arc::ptr_eq(z, zone)
        {
            return s.clone();
        }
        let fresh = render::statics(zone);
        let shared = match self.statics.get(&zone.origin) {
            Some((_, old)) if **old == fresh => old.clone(),
            _ => Arc::new(fresh),
        };
        self.statics
            .insert(zone.origin.clone(), (zone.clone(), shared.clone()));
        shared
    }

    fn push(
        &mut self,
        zone: &Zone,
        journal: &mut Journal,
        (statics, pools): (Arc<Vec<Record>>, Vec<Record>),
        now: Instant,
    ) {
        let configured = match &zone.soa.data {
            RData::SOA(s) => s.serial,
            _ => 1,
        };
        let key = zone.origin.to_string();
        let last = journal
            .current()
            .map(|v| v.serial)
            .or_else(|| self.last.get(&key).copied());
        let serial = next_serial(last, configured, tsig::now());
        journal.versions.push_back(Arc::new(Version {
            serial,
            soa: with_serial(&zone.soa, serial),
            statics,
            pools,
        }));
        while journal.versions.len() > self.config.journal {
            journal.versions.pop_front();
        }
        self.published_at.insert(zone.origin.clone(), now);
        self.pending.remove(&zone.origin);
        self.last.insert(key, serial);
        self.dirty = true;
        self.fresh.push(Announce {
            zone: zone.origin_name.clone(),
            serial,
        });
    }

    fn store(&self) {
        let zones = self
            .journals
            .iter()
            .map(|(k, j)| {
                (
                    k.clone(),
                    Journal {
                        soa: j.soa.clone(),
                        versions: j.versions.clone(),
                    },
                )
            })
            .collect();
        self.shared.store(Arc::new(Published { zones }));
    }

    /// When the next waiting version is due, if any.
    pub fn due(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }
}

/// Two SOAs equal but for their serials.
fn same_soa(a: &Record, b: &Record) -> bool {
    with_serial(a, 0) == with_serial(b, 0)
}
