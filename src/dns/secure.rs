//! The DNSSEC records of an answer to a query with the DO bit (RFC 4035 §3.1): each RRset of
//! the answer and authority sections followed by its RRSIGs, and the NSEC proofs a negative
//! answer or an insecure referral carries. Everything is looked up in the snapshot's
//! signatures; nothing is signed here.

use hickory_proto::rr::{LowerName, Record, RecordType};

use super::lookup::{self, Answer, DenialKind};
use crate::dnssec::chain;
use crate::health::Snapshot;

/// Adds the RRSIGs and proofs of signed zones to `ans`; returns false when some RRset of a
/// signed zone had no signature (the answer then fails validation; the caller logs it).
pub fn add(snap: &Snapshot, ans: &mut Answer) -> bool {
    let published = &snap.dnssec;
    if !published.base.any() {
        return true;
    }
    let mut complete = true;
    ans.answers = with_rrsigs(snap, std::mem::take(&mut ans.answers), &mut complete);
    ans.authority = with_rrsigs(snap, std::mem::take(&mut ans.authority), &mut complete);
    let Some(denial) = ans.denial.clone() else {
        return complete;
    };
    let (Some(sigs), Some(zone)) = (
        published.base.zone(denial.zone),
        snap.zones.zones.get(denial.zone),
    ) else {
        return complete;
    };
    match denial.kind {
        DenialKind::NxDomain => {
            chain::nxdomain(&sigs.chain, zone, &denial.name, &mut ans.authority)
        }
        DenialKind::NoData { empty } => {
            chain::nodata(&sigs.chain, &denial.name, empty, &mut ans.authority)
        }
        DenialKind::Referral => chain::nodata(&sigs.chain, &denial.name, None, &mut ans.authority),
    }
    complete
}

/// `records` with each RRset followed by its RRSIGs (TTL and owner case as the set's), when
/// its zone is signed. The NS set of a referral and glue are not signed (RFC 4035 §2.2).
fn with_rrsigs(snap: &Snapshot, records: Vec<Record>, complete: &mut bool) -> Vec<Record> {
    let mut out = Vec::with_capacity(records.len() * 2);
    let mut start = 0;
    while start < records.len() {
        let first = &records[start];
        let end = records[start..]
            .iter()
            .position(|r| r.record_type() != first.record_type() || r.name != first.name)
            .map_or(records.len(), |n| start + n);
        let set = &records[start..end];
        out.extend_from_slice(set);
        let owner = LowerName::new(&first.name);
        let rtype = first.record_type();
        // An NSEC answered as data carries its RRSIGs already; RRSIGs are not signed.
        let data = matches!(rtype, RecordType::NSEC | RecordType::RRSIG);
        if !data
            && let Some((zi, zone)) = lookup::zone_for(snap, &owner, rtype)
            && zone.signing.is_some()
            && !(rtype == RecordType::NS && zone.delegation_above(&owner).is_some())
        {
            match snap.dnssec.rrsigs(zi, set) {
                Some(sigs) => out.extend(sigs.iter().map(|s| {
                    let mut s = s.clone();
                    s.ttl = first.ttl;
                    s.name = first.name.clone();
                    s
                })),
                None => *complete = false,
            }
        }
        start = end;
    }
    out
}
