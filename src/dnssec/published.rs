//! The signatures a snapshot answers with: the zone set's load-time signatures ([`Signed`],
//! shared by every snapshot of a load) and the few a snapshot adds when it is published
//! ([`Published`]: the current set of each `all` pool and a transferred zone's SOA with its
//! published serial), made through a bounded cache ([`Dynamic`]) so that a flapping region
//! is signed once per set, not once per flap.

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Name, Record, RecordType};

use super::fast::region_key;
use super::sign::{SignError, sign};
use super::window::window;
use super::zonesigs::{SetKey, ZoneSigs, set_key, sign_zone};
use crate::zone::wire::Rrs;
use crate::zone::{Zone, ZoneSet};

/// How many dynamically signed sets the cache keeps before it starts over.
const DYNAMIC_CAP: usize = 65_536;

/// The load-time signatures of a zone set, by zone index (`None`: unsigned zone).
#[derive(Debug, Default)]
pub struct Signed {
    zones: Vec<Option<Arc<ZoneSigs>>>,
}

impl Signed {
    /// Signs every signed zone of `set` as of `now` (seconds since the epoch), reusing what
    /// `previous` signed with the same keys in the same window.
    pub fn build(set: &ZoneSet, previous: Option<&Signed>, now: u64) -> Result<Signed, SignError> {
        let before: HashMap<&LowerName, &ZoneSigs> = previous
            .map(|p| {
                p.zones
                    .iter()
                    .flatten()
                    .map(|z| (&z.origin, &**z))
                    .collect()
            })
            .unwrap_or_default();
        let mut zones = Vec::with_capacity(set.zones.len());
        for zone in &set.zones {
            if zone.signing.is_none() {
                zones.push(None);
                continue;
            }
            let before = before.get(&zone.origin).copied();
            zones.push(sign_zone(zone, before, now)?.map(Arc::new));
        }
        Ok(Signed { zones })
    }

    /// The signatures of zone `zone` (by index in the set they were built for).
    pub fn zone(&self, zone: usize) -> Option<&ZoneSigs> {
        self.zones.get(zone).and_then(|z| z.as_deref())
    }

    /// True when some zone is signed.
    pub fn any(&self) -> bool {
        self.zones.iter().any(Option::is_some)
    }

    /// When the earliest window ends and the set must be signed again.
    pub fn renew_at(&self) -> Option<u64> {
        self.zones.iter().flatten().map(|z| z.window.renew_at).min()
    }

    /// True when some zone's signatures are not those of the period holding `now`: its period
    /// ended, or the clock was stepped back before it began (the signatures would not be
    /// valid yet).
    pub fn stale(&self, now: u64) -> bool {
        self.zones
            .iter()
            .flatten()
            .any(|z| z.window != window(now, z.lifetime))
    }

    /// The earliest signature expiration (seconds since the epoch).
    pub fn expires_at(&self) -> Option<u32> {
        self.zones
            .iter()
            .flatten()
            .map(|z| z.window.expiration)
            .min()
    }

    /// Signatures made by this build, and RRsets signed in all.
    pub fn counts(&self) -> (usize, usize) {
        self.zones
            .iter()
            .flatten()
            .fold((0, 0), |(m, s), z| (m + z.made, s + z.sets()))
    }
}

/// What one snapshot signs with: the load's signatures and the sets it added.
#[derive(Debug, Default)]
pub struct Published {
    pub base: Arc<Signed>,
    extra: HashMap<(usize, SetKey), Box<[Record]>>,
    /// Each `all` pool's current set, pre-encoded: by (zone, pool), its region key and RRSIGs.
    fast_extra: HashMap<(usize, usize), CurrentSet>,
}

/// An `all` pool's current set: its sorted region indexes and pre-encoded RRSIGs.
type CurrentSet = (Box<[u16]>, Rrs);

impl Published {
    pub fn new(base: Arc<Signed>) -> Self {
        Published {
            base,
            extra: HashMap::new(),
            fast_extra: HashMap::new(),
        }
    }

    /// True when zone `zone` is signed.
    pub fn signed(&self, zone: usize) -> bool {
        self.base.zone(zone).is_some()
    }

    /// The pre-encoded RRSIGs of the static set of `rtype` at a lowercase wire-format name.
    pub fn fast_static(&self, zone: usize, name: &[u8], rtype: RecordType) -> Option<&Rrs> {
        self.base.zone(zone)?.fast.static_sigs(name, rtype)
    }

    /// The pre-encoded RRSIGs of pool `pool`'s answer made of `regions`, or of its fallback.
    pub fn fast_pool(
        &self,
        zone: usize,
        pool: usize,
        regions: &[usize],
        fallback: bool,
    ) -> Option<&Rrs> {
        let fast = self.base.zone(zone)?.fast.pools.get(pool)?;
        if fallback {
            return fast.fallback.as_ref();
        }
        if let Some(r) = fast.get(regions) {
            return Some(r);
        }
        let (key, rrs) = self.fast_extra.get(&(zone, pool))?;
        (region_key(regions).as_deref() == Some(&key[..])).then_some(rrs)
    }

    /// Adds the current set of an `all` pool (its regions and RRSIGs) for the fast path.
    pub fn add_fast(&mut self, zone: usize, pool: usize, regions: &[usize], rrsigs: &[Record]) {
        if let (Some(key), Some(rrs)) = (region_key(regions), Rrs::encode(rrsigs)) {
            self.fast_extra.insert((zone, pool), (key, rrs));
        }
    }

    /// The RRSIGs of `records` (one RRset) in zone `zone`, if it is signed.
    pub fn rrsigs(&self, zone: usize, records: &[Record]) -> Option<&[Record]> {
        let sigs = self.base.zone(zone)?;
        let key = set_key(records)?;
        if let Some(s) = sigs.rrsigs_of(&key) {
            return Some(s);
        }
        self.extra.get(&(zone, key)).map(|s| &s[..])
    }

    /// Adds the signatures of `records` in zone `zone` (made by [`Dynamic::sign`]).
    pub fn add(&mut self, zone: usize, records: &[Record], rrsigs: Box<[Record]>) {
        if let Some(key) = set_key(records) {
            self.extra.insert((zone, key), rrsigs);
        }
    }
}

/// Sets signed as snapshots (or transferred versions) are published, kept across snapshots
/// and reloads.
#[derive(Debug)]
pub struct Dynamic {
    cache: HashMap<SetKey, (u32, Box<[Record]>)>,
    cap: usize,
    /// Signatures made since the start.
    pub made: u64,
}

impl Default for Dynamic {
    fn default() -> Self {
        Dynamic::with_cap(DYNAMIC_CAP)
    }
}

impl Dynamic {
    /// A cache that starts over when it holds `cap` sets.
    pub fn with_cap(cap: usize) -> Self {
        Dynamic {
            cache: HashMap::new(),
            cap,
            made: 0,
        }
    }

    /// The RRSIGs of `records` in `zone` as of `now`: from the cache when signed in the same
    /// window with the same keys, else signed now.
    pub fn sign(
        &mut self,
        zone: &Zone,
        records: &[Record],
        now: u64,
    ) -> Result<Box<[Record]>, SignError> {
        let (Some(signing), Some(key)) = (zone.signing.as_deref(), set_key(records)) else {
            return Ok(Box::default());
        };
        let win = window(now, signing.lifetime);
        let keys = super::sign::signers(signing, records[0].record_type());
        if let Some((inception, sigs)) = self.cache.get(&key)
            && *inception == win.inception
            && sigs.len() == keys.len()
            && sigs.iter().zip(&keys).all(|(s, k)| signed_by(s, k.tag))
            && super::sign::made_for_ttl(sigs, records[0].ttl)
        {
            return Ok(sigs.clone());
        }
        let sigs = sign(signing, &Name::from(&zone.origin), records, win)?;
        self.made += 1;
        if self.cache.len() >= self.cap {
            self.cache.clear();
        }
        self.cache.insert(key, (win.inception, sigs.clone()));
        Ok(sigs)
    }
}

fn signed_by(rrsig: &Record, tag: u16) -> bool {
    match &rrsig.data {
        hickory_proto::rr::RData::DNSSEC(hickory_proto::dnssec::rdata::DNSSECRData::RRSIG(s)) => {
            s.input().key_tag == tag
        }
        _ => false,
    }
}
