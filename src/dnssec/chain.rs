//! Authenticated denial: the NSEC chain (RFC 4034 §4) or the NSEC3 chain (RFC 5155, with
//! RFC 9276's parameters: SHA-1, no extra iterations, empty salt, no opt-out) over a zone's
//! names, built and signed with the zone, and the proofs a negative answer or a referral
//! carries, picked from it per query without signing anything.
//!
//! The NSEC chain holds every name with authoritative data and every delegation point; the
//! NSEC3 chain also every empty non-terminal (RFC 5155 §7.1). Glue below a cut is in neither.
//! A pool whose answer can be empty (`on_all_down = "none"`, or failing open with every
//! region drained) gets a second signed record at its owner without the pool's type, so
//! NODATA is provable then.

use std::collections::BTreeMap;
use std::ops::Bound;

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC, NSEC3};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::zone::signing::Denial;
use crate::zone::{AllDown, Zone};

/// One name's NSEC or NSEC3, its signatures, and the variants without a pool's type.
#[derive(Debug, Clone)]
pub struct Link {
    pub nsec: Record,
    pub rrsigs: Box<[Record]>,
    /// `(pool type, record without it, its RRSIGs)` for pools that can answer empty.
    pub empty: Vec<(RecordType, Record, Box<[Record]>)>,
}

/// The zone's chain, by owner (for NSEC3 the hashed owner) in canonical order.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    links: BTreeMap<LowerName, Link>,
    /// The zone's origin when the chain is NSEC3 (owners are hashes under it).
    nsec3: Option<Name>,
}

/// One name's record before signing: owner, record, and the variants without a pool's type.
pub type Unsigned = (LowerName, Record, Vec<(RecordType, Record)>);

/// The NSEC3 owner of `name` in the zone `origin`: base32hex(SHA-1(name)).origin.
pub fn hashed(name: &LowerName, origin: &Name) -> Option<LowerName> {
    let digest = Nsec3HashAlgorithm::SHA1
        .hash(&[], &Name::from(name), 0)
        .ok()?;
    let label = data_encoding::BASE32HEX_NOPAD
        .encode(digest.as_ref())
        .to_lowercase();
    Name::from_ascii(&label)
        .ok()?
        .append_domain(origin)
        .ok()
        .map(|n| LowerName::new(&n))
}

/// The records of the chain over `names` (each with the types at it; an empty list is an
/// empty non-terminal, which only NSEC3 lists) in `zone`.
pub fn records(
    zone: &Zone,
    denial: Denial,
    names: &BTreeMap<LowerName, Vec<RecordType>>,
) -> Vec<Unsigned> {
    let origin = Name::from(&zone.origin);
    // Any pool can answer empty: `on_all_down = "none"`, or failing open with every region
    // drained (`servfail` answers SERVFAIL, which needs no proof).
    let empty_pools: Vec<(LowerName, RecordType)> = zone
        .pools
        .iter()
        .filter(|p| p.on_all_down != AllDown::Servfail)
        .map(|p| (LowerName::new(&p.name), p.rtype))
        .collect();
    // (owner, original name, types), in the chain's order.
    let mut owners: Vec<(LowerName, &LowerName, &Vec<RecordType>)> = match denial {
        Denial::Nsec => names
            .iter()
            .filter(|(_, t)| !t.is_empty())
            .map(|(n, t)| (n.clone(), n, t))
            .collect(),
        Denial::Nsec3 => names
            .iter()
            .filter_map(|(n, t)| Some((hashed(n, &origin)?, n, t)))
            .collect(),
    };
    owners.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::with_capacity(owners.len());
    for (i, (owner, name, types)) in owners.iter().enumerate() {
        let next = &owners[(i + 1) % owners.len()].0;
        let record = |types: &[RecordType]| {
            let data = match denial {
                Denial::Nsec => DNSSECRData::NSEC(NSEC::new(
                    Name::from(next),
                    types
                        .iter()
                        .copied()
                        .chain([RecordType::NSEC, RecordType::RRSIG]),
                )),
                Denial::Nsec3 => {
                    let next_hash = next
                        .iter()
                        .next()
                        .and_then(|l| {
                            data_encoding::BASE32HEX_NOPAD
                                .decode(&l.to_ascii_uppercase())
                                .ok()
                        })
                        .unwrap_or_default();
                    // RRSIG exists at a name with signed sets (not at an empty
                    // non-terminal, nor at a delegation without DS).
                    let signed = types.iter().any(|t| *t != RecordType::NS);
                    DNSSECRData::NSEC3(NSEC3::new(
                        Nsec3HashAlgorithm::SHA1,
                        false,
                        0,
                        Vec::new(),
                        next_hash,
                        types
                            .iter()
                            .copied()
                            .chain(signed.then_some(RecordType::RRSIG)),
                    ))
                }
            };
            Record::from_rdata(Name::from(owner), zone.negative_ttl, RData::DNSSEC(data))
        };
        let empty = empty_pools
            .iter()
            .filter(|(n, t)| n == *name && types.contains(t))
            .map(|(_, t)| {
                let without: Vec<RecordType> = types.iter().copied().filter(|x| x != t).collect();
                (*t, record(&without))
            })
            .collect();
        out.push((owner.clone(), record(types), empty));
    }
    out
}

/// The types at each of `zone`'s names in its chain: names with data, delegation points (NS
/// and DS only) and empty non-terminals (no types); glue below a cut left out.
pub fn names(zone: &Zone) -> BTreeMap<LowerName, Vec<RecordType>> {
    zone.nodes
        .iter()
        .filter(|(name, _)| zone.delegation_above(name).is_none_or(|cut| cut == *name))
        .map(|(name, node)| {
            let types = if node.delegation {
                node.rrsets
                    .iter()
                    .map(|s| s.rtype)
                    .filter(|t| matches!(t, RecordType::NS | RecordType::DS))
                    .collect()
            } else {
                node.rrsets
                    .iter()
                    .map(|s| s.rtype)
                    .chain(node.pools.iter().map(|(t, _)| *t))
                    .collect()
            };
            (name.clone(), types)
        })
        .collect()
}

/// The chain records `zone` needs before signing.
pub fn unsigned(zone: &Zone) -> Vec<Unsigned> {
    let denial = zone.signing.as_deref().map_or(Denial::Nsec, |s| s.denial);
    records(zone, denial, &names(zone))
}

impl Chain {
    /// An empty chain of `zone`'s kind.
    pub fn of(zone: &Zone) -> Chain {
        let nsec3 = zone
            .signing
            .as_deref()
            .is_some_and(|s| s.denial == Denial::Nsec3)
            .then(|| Name::from(&zone.origin));
        Chain {
            links: BTreeMap::new(),
            nsec3,
        }
    }

    pub fn insert(&mut self, owner: LowerName, link: Link) {
        self.links.insert(owner, link);
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The chain's owner for `name` (its hash for NSEC3).
    fn key(&self, name: &LowerName) -> Option<LowerName> {
        match &self.nsec3 {
            Some(origin) => hashed(name, origin),
            None => Some(name.clone()),
        }
    }

    /// The link owned by `owner` as the chain names it (a hashed owner for NSEC3).
    pub fn link(&self, owner: &LowerName) -> Option<&Link> {
        self.links.get(owner)
    }

    /// The NSEC at `name` itself (an NSEC chain's; `None` for NSEC3, whose records live at
    /// hashed names).
    pub fn nsec_at(&self, name: &LowerName) -> Option<&Link> {
        if self.is_nsec3() {
            return None;
        }
        self.links.get(name)
    }

    /// The record matching `name` (a name in the chain).
    pub fn at(&self, name: &LowerName) -> Option<&Link> {
        self.links.get(&self.key(name)?)
    }

    /// The record whose span covers `name` (the last owner before it, wrapping to the last
    /// link for a name before the first).
    pub fn covering(&self, name: &LowerName) -> Option<&Link> {
        let key = self.key(name)?;
        self.links
            .range((Bound::Unbounded, Bound::Excluded(&key)))
            .next_back()
            .or_else(|| self.links.iter().next_back())
            .map(|(_, l)| l)
    }

    fn is_nsec3(&self) -> bool {
        self.nsec3.is_some()
    }
}

/// Appends a link's record and RRSIGs (the variant without `empty`'s type when asked), once.
pub fn push(link: &Link, empty: Option<RecordType>, out: &mut Vec<Record>) {
    let (record, sigs) = match empty.and_then(|t| link.empty.iter().find(|(x, _, _)| *x == t)) {
        Some((_, r, s)) => (r, s),
        None => (&link.nsec, &link.rrsigs),
    };
    if out.contains(record) {
        return;
    }
    out.push(record.clone());
    out.extend(sigs.iter().cloned());
}

/// The proof that `name` does not exist in `zone` (RFC 4035 §3.1.3.2; RFC 5155 §7.2.2): with
/// NSEC the records covering it and the wildcard at its closest encloser; with NSEC3 the
/// closest encloser's, and those covering the next closer name and the wildcard.
pub fn nxdomain(chain: &Chain, zone: &Zone, name: &LowerName, out: &mut Vec<Record>) {
    let ancestors = std::iter::successors(Some(name.clone()), |n| {
        (n.num_labels() > zone.origin.num_labels()).then(|| n.base_name())
    });
    let mut next_closer = name.clone();
    let mut encloser = zone.origin.clone();
    for n in ancestors.skip(1) {
        if zone.nodes.contains_key(&n) {
            encloser = n;
            break;
        }
        next_closer = n;
    }
    if chain.is_nsec3() {
        if let Some(l) = chain.at(&encloser) {
            push(l, None, out);
        }
        if let Some(l) = chain.covering(&next_closer) {
            push(l, None, out);
        }
    } else if let Some(l) = chain.covering(name) {
        push(l, None, out);
    }
    if let Ok(wild) = Name::from(&encloser).prepend_label("*")
        && let Some(l) = chain.covering(&LowerName::new(&wild))
    {
        push(l, None, out);
    }
}

/// The proof that `name` has no `rtype` (RFC 4035 §3.1.3.1; RFC 5155 §7.2.3): its own record
/// (the variant without `empty` when a pool answered empty), or for an empty non-terminal in
/// an NSEC chain the record covering it.
pub fn nodata(chain: &Chain, name: &LowerName, empty: Option<RecordType>, out: &mut Vec<Record>) {
    match chain.at(name) {
        Some(l) => push(l, empty, out),
        None => {
            if let Some(l) = chain.covering(name) {
                push(l, None, out);
            }
        }
    }
}
