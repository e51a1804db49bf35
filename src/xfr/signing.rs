//! Signed transfers: a signed zone's versions carry their RRSIGs and an NSEC chain of their
//! own (a version's names and types are those rendered for it: pool sets and the placeholder
//! differ from the live server's), so Knot, NSD or BIND serve it as a signed zone. Sets are
//! signed through a cache, so a version re-signs only the sets that changed (and its SOA);
//! the static sets' signatures are made once per zone load and window.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hickory_proto::rr::{LowerName, Record, RecordType};

use crate::dnssec::chain;
use crate::dnssec::window::window;
use crate::dnssec::{Dynamic, SignError};
use crate::zone::Zone;
use crate::zone::signing::Denial;

/// How many signed sets the versions' cache keeps (NSECs and pool sets of every zone).
const CACHE: usize = 1 << 20;

/// Signs versions of transferred zones.
pub struct VersionSigner {
    cache: Dynamic,
    /// Per zone: the statics signed (by pointer), their window inception and signatures.
    statics: HashMap<LowerName, StaticSigs>,
}

/// A zone load's static records, the window inception and keys they were signed with, their
/// RRSIGs.
type StaticSigs = (Arc<Vec<Record>>, (u32, Vec<(u16, bool)>), Arc<Vec<Record>>);

impl Default for VersionSigner {
    fn default() -> Self {
        VersionSigner {
            cache: Dynamic::with_cap(CACHE),
            statics: HashMap::new(),
        }
    }
}

/// Which keys a signed zone's versions are published and signed with (tag, signs): a change
/// (a rollover's swap) is a new version.
pub fn keys(zone: &Zone) -> Vec<(u16, bool)> {
    zone.signing
        .as_deref()
        .map(|s| s.keys.iter().map(|k| (k.tag, k.sign)).collect())
        .unwrap_or_default()
}

/// The window inception a signed zone's versions are signed with as of `now`.
pub fn inception(zone: &Zone, now: u64) -> Option<u32> {
    zone.signing
        .as_deref()
        .map(|s| window(now, s.lifetime).inception)
}

impl VersionSigner {
    /// The RRSIG and NSEC records of a version of `zone` (none when it is unsigned).
    pub fn sign(
        &mut self,
        zone: &Zone,
        soa: &Record,
        statics: &Arc<Vec<Record>>,
        pools: &[Record],
        now: u64,
    ) -> Result<Vec<Record>, SignError> {
        let Some(inception) = inception(zone, now) else {
            return Ok(Vec::new());
        };
        let signed_with = (inception, keys(zone));
        let static_sigs = match self.statics.get(&zone.origin) {
            Some((s, with, sigs)) if Arc::ptr_eq(s, statics) && *with == signed_with => {
                sigs.clone()
            }
            _ => {
                let sigs = Arc::new(self.sign_sets(zone, statics, now)?);
                self.statics.insert(
                    zone.origin.clone(),
                    (statics.clone(), signed_with, sigs.clone()),
                );
                sigs
            }
        };
        let mut out: Vec<Record> = static_sigs.to_vec();
        out.extend(self.sign_sets(zone, pools, now)?);
        out.extend(self.sign_sets(zone, std::slice::from_ref(soa), now)?);
        let chain = nsec_chain(zone, soa, statics.iter().chain(pools));
        out.extend(self.sign_sets(zone, &chain, now)?);
        out.extend(chain);
        Ok(out)
    }

    /// Forgets zones no longer transferred.
    pub fn retain(&mut self, keep: impl Fn(&LowerName) -> bool) {
        self.statics.retain(|z, _| keep(z));
    }

    /// The RRSIGs of every authoritative RRset in `records` (sorted canonically, so each set
    /// is a run).
    fn sign_sets(
        &mut self,
        zone: &Zone,
        records: &[Record],
        now: u64,
    ) -> Result<Vec<Record>, SignError> {
        let mut sets: BTreeMap<(LowerName, u16), Vec<Record>> = BTreeMap::new();
        for r in records {
            sets.entry((LowerName::new(&r.name), u16::from(r.record_type())))
                .or_default()
                .push(r.clone());
        }
        let mut out = Vec::new();
        for ((owner, rtype), set) in sets {
            if !authoritative(zone, &owner, RecordType::from(rtype)) {
                continue;
            }
            out.extend(self.cache.sign(zone, &set, now)?.iter().cloned());
        }
        Ok(out)
    }
}

/// True for sets the zone signs: not glue below a cut, at a delegation only its DS and NSEC.
fn authoritative(zone: &Zone, owner: &LowerName, rtype: RecordType) -> bool {
    match zone.delegation_above(owner) {
        Some(cut) if cut == owner => matches!(rtype, RecordType::DS | RecordType::NSEC),
        Some(_) => false,
        None => true,
    }
}

/// The NSEC or NSEC3 chain over a version's names (the SOA's apex and every owner of
/// `records`, with the empty non-terminals between them; glue below a cut left out, a
/// delegation point with its NS and DS only).
fn nsec_chain<'r>(
    zone: &Zone,
    soa: &'r Record,
    records: impl Iterator<Item = &'r Record>,
) -> Vec<Record> {
    let mut names: BTreeMap<LowerName, Vec<RecordType>> = BTreeMap::new();
    for r in std::iter::once(soa).chain(records) {
        let owner = LowerName::new(&r.name);
        let rtype = r.record_type();
        let keep = match zone.delegation_above(&owner) {
            Some(cut) if cut == &owner => matches!(rtype, RecordType::NS | RecordType::DS),
            Some(_) => continue,
            None => true,
        };
        let mut parent = owner.base_name();
        while parent.num_labels() >= zone.origin.num_labels() && !names.contains_key(&parent) {
            names.insert(parent.clone(), Vec::new());
            parent = parent.base_name();
        }
        let types = names.entry(owner).or_default();
        if keep && !types.contains(&rtype) {
            types.push(rtype);
        }
    }
    let denial = zone.signing.as_deref().map_or(Denial::Nsec, |s| s.denial);
    chain::records(zone, denial, &names)
        .into_iter()
        .map(|(_, record, _)| record)
        .collect()
}
