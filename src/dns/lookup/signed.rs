//! The DNSSEC records at a signed name, answered as data when asked for by type: its NSEC
//! (with its RRSIGs), or every RRSIG at it — of its static sets, of each pool's answer for
//! this query, and of its NSEC.

use std::time::Instant;

use hickory_proto::rr::{LowerName, Record, RecordType};
use rand::Rng;

use super::{Answer, pool_answer};
use crate::health::Snapshot;
use crate::select::ClientKey;
use crate::zone::{Node, Zone};

/// The NSEC or RRSIG records at `name` for a question of type `rtype`; when there are none
/// (an unsigned zone; an NSEC3 zone's names have no NSEC; an emptied pool's name may hold no
/// signature), the type of a pool at the name that answered empty, for the NODATA's proof.
pub(super) fn records_at<R: Rng + ?Sized>(
    snap: &Snapshot,
    (zi, zone): (usize, &Zone),
    (name, node): (&LowerName, &Node),
    rtype: RecordType,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
) -> Result<Vec<Record>, Option<RecordType>> {
    let sigs = snap.dnssec.base.zone(zi).ok_or(None)?;
    let link = sigs.chain.nsec_at(name);
    let mut out = Vec::new();
    if rtype == RecordType::NSEC {
        let link = link.ok_or(None)?;
        out.push(link.nsec.clone());
        out.extend(link.rrsigs.iter().cloned());
        return Ok(out);
    }
    for set in &node.rrsets {
        if let Some(s) = snap.dnssec.rrsigs(zi, &set.records) {
            out.extend(s.iter().cloned());
        }
    }
    let mut emptied = None;
    for (t, pi) in &node.pools {
        let mut scratch = Answer::new(hickory_proto::op::ResponseCode::NoError, true);
        pool_answer(snap, zi, zone, *pi, client, rng, now, &mut scratch);
        if scratch.answers.is_empty() {
            emptied = Some(*t);
        }
        if let Some(s) = snap.dnssec.rrsigs(zi, &scratch.answers) {
            out.extend(s.iter().cloned());
        }
    }
    if let Some(link) = link {
        out.extend(link.rrsigs.iter().cloned());
    }
    if out.is_empty() {
        return Err(emptied);
    }
    Ok(out)
}
