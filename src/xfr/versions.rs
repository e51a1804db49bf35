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
use tracing::{error, info};

use super::journal::{Journal, Published, Shared, Version, with_serial};
use super::{Announce, TransferConfig, next_serial, render};
use crate::health::Live;
use crate::wire::tsig;
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
    /// Since when a zone renders a target that has had no probe result yet (a start, or a
    /// reload that added a check).
    unheard_since: HashMap<LowerName, Instant>,
    /// The zone file's serial each zone's current version was made under.
    configured: HashMap<LowerName, u32>,
    /// The last serial published per zone origin: this process's, or (before its first
    /// version) the one the state file kept.
    last: BTreeMap<String, u32>,
    /// Versions made since the last [`Xfr::commit`].
    fresh: Vec<Fresh>,
    /// The journals changed since the last [`Xfr::commit`].
    dirty: bool,
    announce: mpsc::UnboundedSender<Announce>,
    /// Signs the versions of signed zones.
    signer: super::signing::VersionSigner,
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
            unheard_since: HashMap::new(),
            configured: HashMap::new(),
            last,
            fresh: Vec::new(),
            dirty: false,
            announce,
            signer: Default::default(),
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

    /// True while some zone's changes wait for a target's first probe result.
    pub fn awaits_first_results(&self) -> bool {
        !self.unheard_since.is_empty()
    }

    /// Renders every transferred zone from `live` (`heard`: by target id, whether it has had
    /// a probe result); a zone whose records or SOA changed gets a new version now, or when
    /// its wait ends. Nothing is served or announced before [`Xfr::commit`].
    pub fn update(&mut self, zones: &ZoneSet, live: &Live, heard: &[bool], now: Instant) {
        let mut kept = HashMap::new();
        let live = live.for_transfer();
        for zone in &zones.zones {
            if !self.config.covers(&zone.origin) {
                continue;
            }
            self.listen(zone, heard, now);
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
            let soa_same = current.is_some_and(|v| same_soa(&v.soa, &zone.soa))
                && self.configured.get(&zone.origin) == Some(&configured_serial(zone));
            let inception = super::signing::inception(zone, tsig::now());
            let same = soa_same
                && current.is_some_and(|v| {
                    Arc::ptr_eq(&v.statics, &statics)
                        && render::same(&v.pools, &pools)
                        && v.inception == inception
                        && v.keys == super::signing::keys(zone)
                });
            if same {
                // Nothing to publish, including a change that reverted inside its window.
                self.pending.remove(&zone.origin);
            } else {
                match self.wait_until(zone, &journal, soa_same) {
                    Some(due) if due > now => {
                        self.pending.insert(zone.origin.clone(), due);
                    }
                    _ => self.push(zone, &mut journal, (statics, pools), now),
                }
            }
            kept.insert(zone.origin.clone(), journal);
        }
        // What is left was removed or is no longer transferred: it stops being served now.
        if !self.journals.is_empty() {
            self.dirty = true;
        }
        self.journals = kept;
        let journals = &self.journals;
        self.statics.retain(|z, _| journals.contains_key(z));
        self.signer.retain(|z| journals.contains_key(z));
        self.pending.retain(|z, _| journals.contains_key(z));
        self.published_at.retain(|z, _| journals.contains_key(z));
        self.unheard_since.retain(|z, _| journals.contains_key(z));
        self.configured.retain(|z, _| journals.contains_key(z));
    }

    /// The serial gslbd's own SOA answers carry, per zone index: the current version's, or
    /// before a zone's first version the last one published (state file).
    pub fn serials(&self, zones: &ZoneSet) -> Vec<Option<u32>> {
        zones
            .zones
            .iter()
            .map(|z| {
                let j = self.journals.get(&z.origin)?;
                j.current()
                    .map(|v| v.serial)
                    .or_else(|| self.last.get(&z.origin.to_string()).copied())
            })
            .collect()
    }

    /// Serves what [`Xfr::update`] made and announces its new versions.
    pub fn commit(&mut self) {
        if self.dirty {
            self.store();
            self.dirty = false;
        }
        for Fresh { announce: a, .. } in self.fresh.drain(..) {
            info!(zone = %a.zone, serial = a.serial, "transfer: published a new version");
            let _ = self.announce.send(a);
        }
    }

    /// Takes back the versions [`Xfr::update`] made (their serials could not be saved, so a
    /// restart could publish them again with other contents); they are tried again after
    /// [`RETRY`].
    pub fn rollback(&mut self, now: Instant) {
        for f in self.fresh.drain(..).rev() {
            if let Some(j) = self.journals.get_mut(&f.origin)
                && j.current().is_some_and(|v| v.serial == f.announce.serial)
            {
                j.versions.pop_back();
            }
            let key = f.origin.to_string();
            match f.last {
                Some(s) => self.last.insert(key, s),
                None => self.last.remove(&key),
            };
            match f.configured {
                Some(c) => self.configured.insert(f.origin.clone(), c),
                None => self.configured.remove(&f.origin),
            };
            self.pending.insert(f.origin, now + RETRY);
        }
    }

    /// Notes whether `zone` renders a target with no probe result yet.
    fn listen(&mut self, zone: &Zone, heard: &[bool], now: Instant) {
        let all_heard = zone
            .pools
            .iter()
            .filter(|p| p.transfer)
            .flat_map(|p| &p.regions)
            .filter_map(|r| r.target)
            .all(|t| heard.get(t).copied().unwrap_or(true));
        if all_heard {
            self.unheard_since.remove(&zone.origin);
        } else {
            self.unheard_since.entry(zone.origin.clone()).or_insert(now);
        }
    }

    /// When a change of `zone` may become a version (`None`: now). While the zone renders a
    /// target that has had no probe result (after a start, or a reload that added a check),
    /// changes wait for it (at most one interval and timeout; a new prober probes at once, so
    /// usually min(interval, 1 s + timeout)), so a restart or a reload never re-advertises a
    /// region the secondaries already dropped; a SOA change (any field, the
    /// zone file's serial included) goes out at once otherwise, so gslbd's SOA answers equal
    /// the SOA transferred under their serial; any other change waits out `coalesce`.
    fn wait_until(&self, zone: &Zone, journal: &Journal, soa_same: bool) -> Option<Instant> {
        if let Some(since) = self.unheard_since.get(&zone.origin)
            && (soa_same || journal.current().is_none())
        {
            let bound = zone
                .pools
                .iter()
                .filter(|p| p.transfer)
                .flat_map(|p| &p.regions)
                .filter_map(|r| r.probe.as_ref())
                .map(|p| p.interval + p.timeout)
                .max()
                .unwrap_or(Duration::ZERO);
            return Some(*since + bound);
        }
        if journal.current().is_none() || !soa_same {
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
            Some((_, old)) if render::same(old, &fresh) => old.clone(),
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
        let configured = configured_serial(zone);
        let key = zone.origin.to_string();
        let before = self.last.get(&key).copied();
        let last = journal.current().map(|v| v.serial).or(before);
        let unix = tsig::now();
        let serial = next_serial(last, configured, unix);
        let soa = with_serial(&zone.soa, serial);
        let dnssec = match self.signer.sign(zone, &soa, &statics, &pools, unix) {
            Ok(d) => d,
            Err(e) => {
                error!(zone = %zone.origin, error = %e, "transfer: a new version could not be signed; secondaries keep the previous one");
                self.pending.insert(zone.origin.clone(), now + RETRY);
                return;
            }
        };
        journal.versions.push_back(Arc::new(Version {
            serial,
            soa,
            statics,
            pools,
            dnssec,
            inception: super::signing::inception(zone, unix),
            keys: super::signing::keys(zone),
        }));
        while journal.versions.len() > self.config.journal {
            journal.versions.pop_front();
        }
        self.published_at.insert(zone.origin.clone(), now);
        self.pending.remove(&zone.origin);
        self.last.insert(key, serial);
        let was = self.configured.insert(zone.origin.clone(), configured);
        self.dirty = true;
        self.fresh.push(Fresh {
            announce: Announce {
                zone: zone.origin_name.clone(),
                serial,
            },
            origin: zone.origin.clone(),
            last: before,
            configured: was,
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

/// A version made but not yet announced, with what [`Xfr::rollback`] restores.
struct Fresh {
    announce: Announce,
    origin: LowerName,
    /// The zone's last serial before it.
    last: Option<u32>,
    /// The zone file serial its previous version was made under.
    configured: Option<u32>,
}

/// How soon versions whose serials could not be saved are tried again.
pub const RETRY: Duration = Duration::from_secs(1);

/// The serial in the zone file.
fn configured_serial(zone: &Zone) -> u32 {
    match &zone.soa.data {
        RData::SOA(s) => s.serial,
        _ => 1,
    }
}

/// Two SOAs equal but for their serials.
fn same_soa(a: &Record, b: &Record) -> bool {
    with_serial(a, 0) == with_serial(b, 0)
}
