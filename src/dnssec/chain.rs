//! Authenticated denial (RFC 4034 §4, RFC 4035 §3.1.3): the NSEC chain over a zone's names,
//! built and signed with the zone, and the proofs a negative answer or a referral carries,
//! picked from it per query without signing anything.
//!
//! The chain holds every name with authoritative data and every delegation point (empty
//! non-terminals and glue below a cut are not in it). A pool whose answer can be empty
//! (`on_all_down = "none"`) gets a second signed NSEC at its owner without the pool's type,
//! so NODATA is provable then.

use std::collections::BTreeMap;
use std::ops::Bound;

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use crate::zone::{AllDown, Zone};

/// One name's NSEC, its signatures, and the variants without a pool's type.
#[derive(Debug, Clone)]
pub struct Link {
    pub nsec: Record,
    pub rrsigs: Box<[Record]>,
    /// `(pool type, NSEC without it, its RRSIGs)` for pools that can answer empty.
    pub empty: Vec<(RecordType, Record, Box<[Record]>)>,
}

/// The zone's NSEC chain in canonical order.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    links: BTreeMap<LowerName, Link>,
}

/// One name's NSEC before signing: owner, record, and the variants without a pool's type.
pub type Unsigned = (LowerName, Record, Vec<(RecordType, Record)>);

/// The NSEC records a zone needs before signing.
pub fn unsigned(zone: &Zone) -> Vec<Unsigned> {
    let mut names: Vec<&LowerName> = zone
        .nodes
        .iter()
        .filter(|(name, node)| {
            !node.is_empty() && zone.delegation_above(name).is_none_or(|cut| cut == *name)
        })
        .map(|(name, _)| name)
        .collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let next = Name::from(names[(i + 1) % names.len()]);
        let Some(node) = zone.nodes.get(*name) else {
            continue;
        };
        let mut types: Vec<RecordType> = if node.delegation {
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
        types.extend([RecordType::NSEC, RecordType::RRSIG]);
        let owner = Name::from(*name);
        let record = |types: &[RecordType]| {
            Record::from_rdata(
                owner.clone(),
                zone.negative_ttl,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new(
                    next.clone(),
                    types.iter().copied(),
                ))),
            )
        };
        let empty = node
            .pools
            .iter()
            .filter(|(_, p)| {
                zone.pools
                    .get(*p)
                    .is_some_and(|p| p.on_all_down == AllDown::None)
            })
            .map(|(t, _)| {
                let without: Vec<RecordType> = types.iter().copied().filter(|x| x != t).collect();
                (*t, record(&without))
            })
            .collect();
        out.push(((*name).clone(), record(&types), empty));
    }
    out
}

impl Chain {
    pub fn insert(&mut self, owner: LowerName, link: Link) {
        self.links.insert(owner, link);
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The NSEC at `name` itself (a name with data, or a delegation point).
    pub fn at(&self, name: &LowerName) -> Option<&Link> {
        self.links.get(name)
    }

    /// The NSEC whose span covers `name` (the last owner before it, wrapping to the last
    /// link for a name before the first).
    pub fn covering(&self, name: &LowerName) -> Option<&Link> {
        self.links
            .range((Bound::Unbounded, Bound::Excluded(name)))
            .next_back()
            .or_else(|| self.links.iter().next_back())
            .map(|(_, l)| l)
    }
}

/// Appends a link's NSEC and RRSIGs (the variant without `empty`'s type when asked).
pub fn push(link: &Link, empty: Option<RecordType>, out: &mut Vec<Record>) {
    if let Some((_, nsec, sigs)) = empty.and_then(|t| link.empty.iter().find(|(x, _, _)| *x == t)) {
        out.push(nsec.clone());
        out.extend(sigs.iter().cloned());
        return;
    }
    if out.contains(&link.nsec) {
        return;
    }
    out.push(link.nsec.clone());
    out.extend(link.rrsigs.iter().cloned());
}

/// The proof that `name` does not exist in `zone` (RFC 4035 §3.1.3.2): the NSEC covering it,
/// and the one covering the wildcard at its closest encloser.
pub fn nxdomain(chain: &Chain, zone: &Zone, name: &LowerName, out: &mut Vec<Record>) {
    if let Some(l) = chain.covering(name) {
        push(l, None, out);
    }
    let encloser = std::iter::successors(Some(name.base_name()), |n| {
        (n.num_labels() > zone.origin.num_labels()).then(|| n.base_name())
    })
    .find(|n| zone.nodes.contains_key(n))
    .unwrap_or_else(|| zone.origin.clone());
    if let Ok(wild) = Name::from(&encloser).prepend_label("*")
        && let Some(l) = chain.covering(&LowerName::new(&wild))
    {
        push(l, None, out);
    }
}

/// The proof that `name` has no `rtype` (RFC 4035 §3.1.3.1): its own NSEC (the variant
/// without `empty` when a pool answered empty), or for an empty non-terminal the NSEC
/// covering it.
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
