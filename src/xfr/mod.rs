//! Hidden primary: standard secondaries (Knot, NSD, BIND, a provider) follow live health by
//! zone transfer (`[transfer]` in `gslbd.toml`).
//!
//! [`render`] turns a zone and the live state into static records; [`Xfr`] (owned by the
//! engine) keeps a bounded journal of the versions it published, each with a new SOA serial
//! (coalesced: at most one per `coalesce`), and hands every new version to [`notify`]. [`serve`]
//! answers AXFR and IXFR over TCP from the published journal, TSIG-protected ([`tsig`]).

pub mod notify;
pub mod render;
pub mod serve;
pub mod tsig;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use hickory_proto::rr::{LowerName, Name, RData, Record};
use tokio::sync::mpsc;
use tracing::info;

use crate::health::Live;
use crate::zone::{Zone, ZoneSet};

/// The `[transfer]` section, validated.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// May transfer (by address); NOTIFY goes to each (port 53 unless given).
    pub secondaries: Vec<SocketAddr>,
    /// When set, transfers must be signed with it, and NOTIFY is.
    pub key: Option<Arc<tsig::Key>>,
    /// The zones transferred (`None`: every zone), lower case.
    pub zones: Option<Vec<Name>>,
    /// At most one new serial per zone per this long.
    pub coalesce: Duration,
    /// Versions kept per zone for IXFR.
    pub journal: usize,
    /// NOTIFY → transfer done, for the figures.
    pub transfer_time: Duration,
}

impl TransferConfig {
    /// What secondaries add to the figures.
    pub fn timing(&self) -> crate::cutover::Secondary {
        crate::cutover::Secondary {
            coalesce: self.coalesce,
            transfer_time: self.transfer_time,
            zones: self.zones.clone(),
        }
    }

    /// Whether `origin` is transferred.
    pub fn covers(&self, origin: &LowerName) -> bool {
        self.zones
            .as_ref()
            .is_none_or(|z| z.iter().any(|n| LowerName::new(n) == *origin))
    }
}

/// One published version of a zone: its serial and its records (the SOA apart).
#[derive(Debug)]
pub struct Version {
    pub serial: u32,
    /// The static records, shared by every version of one zone load.
    pub statics: Arc<Vec<Record>>,
    /// The pools' records at this version.
    pub pools: Vec<Record>,
}

impl Version {
    /// Every record (the SOA apart).
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.statics.iter().chain(&self.pools)
    }

    pub fn len(&self) -> usize {
        self.statics.len() + self.pools.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A zone's published versions, oldest first, and its SOA (the serial set per version).
#[derive(Debug)]
pub struct Journal {
    pub soa: Record,
    pub versions: VecDeque<Arc<Version>>,
}

impl Journal {
    pub fn current(&self) -> Option<&Arc<Version>> {
        self.versions.back()
    }

    /// The SOA with `serial`.
    pub fn soa(&self, serial: u32) -> Record {
        let mut soa = self.soa.clone();
        if let RData::SOA(s) = &mut soa.data {
            s.serial = serial;
        }
        soa
    }
}

/// What the TCP listener reads: every transferred zone's journal, and the access rules.
#[derive(Debug, Default)]
pub struct Published {
    pub zones: HashMap<LowerName, Journal>,
}

/// The published journals, swapped whole by the engine.
pub type Shared = Arc<ArcSwap<Published>>;

/// A new version to announce.
#[derive(Debug, Clone)]
pub struct Announce {
    pub zone: Name,
    pub serial: u32,
}

/// The engine's side: renders, coalesces, journals, announces.
pub struct Xfr {
    pub config: Arc<TransferConfig>,
    shared: Shared,
    journals: HashMap<LowerName, Journal>,
    /// Each zone's static records, rendered once per zone load.
    statics: HashMap<LowerName, (Arc<Zone>, Arc<Vec<Record>>)>,
    /// When each zone last got a new serial.
    published_at: HashMap<LowerName, Instant>,
    /// Zones whose rendering changed within `coalesce` of their last serial.
    pending: HashMap<LowerName, Instant>,
    announce: mpsc::UnboundedSender<Announce>,
}

impl Xfr {
    pub fn new(config: Arc<TransferConfig>, announce: mpsc::UnboundedSender<Announce>) -> Self {
        Xfr {
            config,
            shared: Arc::new(ArcSwap::from_pointee(Published::default())),
            journals: HashMap::new(),
            statics: HashMap::new(),
            published_at: HashMap::new(),
            pending: HashMap::new(),
            announce,
        }
    }

    /// What the listeners read.
    pub fn shared(&self) -> Shared {
        self.shared.clone()
    }

    /// Renders every transferred zone from `live`; a zone whose records changed gets a new
    /// version now, or at the end of its coalescing window. Returns the live serial per zone
    /// index (for gslbd's own SOA answers).
    pub fn update(&mut self, zones: &ZoneSet, live: &Live, now: Instant) -> Vec<Option<u32>> {
        let mut changed = false;
        let mut serials = vec![None; zones.zones.len()];
        let mut kept = HashMap::new();
        for (zi, zone) in zones.zones.iter().enumerate() {
            if !self.config.covers(&zone.origin) {
                continue;
            }
            let statics = self.statics_of(zone);
            let pools = render::pools(zone, live, now);
            let mut journal = self
                .journals
                .remove(&zone.origin)
                .unwrap_or_else(|| Journal {
                    soa: zone.soa.clone(),
                    versions: VecDeque::new(),
                });
            journal.soa = zone.soa.clone();
            let same = journal
                .current()
                .is_some_and(|v| Arc::ptr_eq(&v.statics, &statics) && v.pools == pools);
            if !same {
                let due = self
                    .published_at
                    .get(&zone.origin)
                    .map(|at| *at + self.config.coalesce);
                match due {
                    Some(due) if due > now => {
                        self.pending.insert(zone.origin.clone(), due);
                    }
                    _ => {
                        self.push(zone, &mut journal, (statics, pools), now);
                        changed = true;
                    }
                }
            }
            serials[zi] = journal.current().map(|v| v.serial);
            kept.insert(zone.origin.clone(), journal);
        }
        self.journals = kept;
        self.statics.retain(|z, _| self.journals.contains_key(z));
        self.pending.retain(|z, _| self.journals.contains_key(z));
        if changed {
            self.store();
        }
        serials
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
        let last = journal.current().map(|v| v.serial);
        let serial = next_serial(last, configured, tsig::now());
        journal.versions.push_back(Arc::new(Version {
            serial,
            statics,
            pools,
        }));
        while journal.versions.len() > self.config.journal {
            journal.versions.pop_front();
        }
        self.published_at.insert(zone.origin.clone(), now);
        self.pending.remove(&zone.origin);
        info!(zone = %zone.origin_name, serial, "transfer: published a new version");
        let _ = self.announce.send(Announce {
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

    /// When the next coalesced version is due, if any.
    pub fn due(&self) -> Option<Instant> {
        self.pending.values().min().copied()
    }
}

/// The serial of a new version: UNIX seconds (so a restart continues upwards), never below the
/// configured serial, always above the last one (RFC 1982 arithmetic).
pub fn next_serial(last: Option<u32>, configured: u32, unix: u64) -> u32 {
    let now = u32::try_from(unix).unwrap_or(u32::MAX).max(configured);
    match last {
        Some(l) if !newer(now, l) => l.wrapping_add(1),
        _ => now,
    }
}

/// `a` is newer than `b` in serial number arithmetic (RFC 1982).
pub fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_follow_the_clock_and_always_grow() {
        assert_eq!(next_serial(None, 1, 1_700_000_000), 1_700_000_000);
        assert_eq!(
            next_serial(Some(1_700_000_000), 1, 1_700_000_000),
            1_700_000_001
        );
        assert_eq!(
            next_serial(Some(1_700_000_005), 1, 1_700_000_001),
            1_700_000_006
        );
        assert_eq!(
            next_serial(None, 2_000_000_000, 1_700_000_000),
            2_000_000_000
        );
        assert!(newer(1, u32::MAX));
        assert!(!newer(5, 5));
    }
}
