//! The authoritative answer to one question, from a snapshot: zones, referrals, CNAME chains,
//! negative answers, additional-section glue, and live pool answers through `select`.
//!
//! Pure: no I/O, no locks. The caller supplies the clock and the RNG.

use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use rand::Rng;

use crate::health::Snapshot;
use crate::select::{self, ClientKey, Rule, Selection};
use crate::zone::{Node, Zone};

/// How many CNAMEs inside one zone are followed before giving up.
const MAX_CNAME_CHAIN: usize = 8;

/// One question as received.
pub struct Question<'a> {
    pub name: &'a LowerName,
    /// The name as the client wrote it (its case is echoed in answers).
    pub original: &'a Name,
    pub qtype: RecordType,
    /// Answer ANY with one RRset (RFC 8482 §4.1): over UDP, where a full ANY answer would
    /// be an amplifier.
    pub minimal_any: bool,
}

/// A pool decision made while answering (for metrics, ECS scope and `/explain`).
#[derive(Debug, Clone)]
pub struct PoolDecision {
    /// The zone the pool belongs to (a CNAME chain may cross zones).
    pub zone: usize,
    pub pool: usize,
    pub selection: Selection,
}

/// What a negative answer or a referral must prove to a validator, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    /// The zone whose NSEC chain proves it.
    pub zone: usize,
    /// The name that does not exist, has no data of the type, or is the delegation point.
    pub name: LowerName,
    pub kind: DenialKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    NxDomain,
    /// No data of the type; `empty` is the type of a pool that answered nothing.
    NoData {
        empty: Option<RecordType>,
    },
    /// A referral: the delegation has no DS (an insecure child).
    Referral,
}

/// The sections of a response.
#[derive(Debug)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// How many leading `additional` records must fit or the response is truncated: the glue
    /// of in-domain name servers in a referral (RFC 9471). Other glue is dropped when it does
    /// not fit (RFC 2181 §9).
    pub required_additional: usize,
    /// The zone that answered the question, if any.
    pub zone: Option<usize>,
    /// Every pool answered on the way (ANY and CNAME chains can answer several).
    pub decisions: Vec<PoolDecision>,
    /// What the answer denies, for the proofs of a DNSSEC answer.
    pub denial: Option<Denial>,
}

impl Answer {
    fn new(rcode: ResponseCode, authoritative: bool) -> Self {
        Answer {
            rcode,
            authoritative,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            required_additional: 0,
            zone: None,
            decisions: Vec::new(),
            denial: None,
        }
    }

    /// The ECS scope the answer needs (RFC 7871 §7.2.1): the longest prefix any pool in it was
    /// decided on, 0 when no answer depends on the client.
    pub fn client_scope(&self) -> u8 {
        self.decisions
            .iter()
            .filter_map(|d| d.selection.scope)
            .max()
            .unwrap_or(0)
    }
}

/// Query types gslbd refuses before looking anything up (zone transfers).
pub fn refused_qtype(qtype: RecordType) -> bool {
    matches!(qtype, RecordType::AXFR | RecordType::IXFR)
}

/// The zone authoritative for `name`; for DS at a zone's apex, the parent zone when it is
/// served here too (DS lives on the parent side of a cut, RFC 4034 §5).
pub(crate) fn zone_for<'s>(
    snap: &'s Snapshot,
    name: &LowerName,
    qtype: RecordType,
) -> Option<(usize, &'s Zone)> {
    let mut found = snap
        .zones
        .zones
        .iter()
        .enumerate()
        .filter(|(_, z)| z.origin.zone_of(name));
    let first = found.next()?;
    if qtype == RecordType::DS && first.1.origin == *name {
        return found.next().or(Some(first)).map(|(i, z)| (i, &**z));
    }
    Some((first.0, &**first.1))
}

/// Answers `q` from `snap`. A CNAME chain is followed through every zone served here (RFC 1034
/// §4.3.2), each step in the zone closest to the new name; the rcode is the last name's (RFC
/// 6604).
pub fn resolve<R: Rng + ?Sized>(
    snap: &Snapshot,
    q: &Question<'_>,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
) -> Answer {
    let Some((zi, _)) = zone_for(snap, q.name, q.qtype) else {
        return Answer::new(ResponseCode::Refused, false);
    };
    let mut ans = Answer::new(ResponseCode::NoError, true);
    ans.zone = Some(zi);

    let mut name = q.name.clone();
    for step in 0..MAX_CNAME_CHAIN {
        // After a CNAME, a name outside every zone served here is the resolver's to chase.
        let Some((zi, zone)) = zone_for(snap, &name, q.qtype) else {
            break;
        };
        if let Some(cut) = zone.delegation_above(&name)
            && !(cut == &name && q.qtype == RecordType::DS)
        {
            // The question itself is delegated (a referral, not authoritative), or a CNAME
            // led into a delegation: the CNAMEs stay authoritative and the referral follows.
            if step == 0 {
                ans.authoritative = false;
            }
            referral(zone, cut, &mut ans);
            ans.denial = Some(Denial {
                zone: zi,
                name: cut.clone(),
                kind: DenialKind::Referral,
            });
            break;
        }
        let Some(node) = zone.nodes.get(&name) else {
            ans.rcode = ResponseCode::NXDomain;
            negative(zone, &mut ans);
            ans.denial = Some(Denial {
                zone: zi,
                name: name.clone(),
                kind: DenialKind::NxDomain,
            });
            break;
        };
        let qtype = match q.qtype {
            RecordType::ANY if q.minimal_any => Qtype::OneRrset,
            t => Qtype::Is(t),
        };
        match answer_node(
            snap,
            (zi, zone),
            (&name, node),
            qtype,
            client,
            rng,
            now,
            &mut ans,
        ) {
            Step::Done => break,
            Step::Follow(target) => name = LowerName::new(&target),
        }
    }
    echo_case(&mut ans, q);
    ans
}

enum Step {
    Done,
    Follow(Name),
}

/// What a node is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Qtype {
    Is(RecordType),
    /// ANY, answered with the node's first RRset only (a pool's before static records).
    OneRrset,
}

#[allow(clippy::too_many_arguments)]
fn answer_node<R: Rng + ?Sized>(
    snap: &Snapshot,
    (zi, zone): (usize, &Zone),
    (name, node): (&LowerName, &Node),
    qtype: Qtype,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
    ans: &mut Answer,
) -> Step {
    let before = ans.answers.len();
    // The DNSSEC records at a signed name are data too: its NSEC, and its RRSIGs; without
    // any, the NODATA proves it with the record of an emptied pool's name that lacks the
    // pool's type (and RRSIG when nothing else is signed there).
    let mut empty = None;
    if let Qtype::Is(t @ (RecordType::NSEC | RecordType::RRSIG)) = qtype {
        match signed::records_at(snap, (zi, zone), (name, node), t, client, rng, now) {
            Ok(records) => {
                ans.answers.extend(records);
                return Step::Done;
            }
            Err(emptied) => empty = emptied,
        }
    }
    let pools: Vec<usize> = match qtype {
        Qtype::Is(RecordType::ANY) => node.pools.iter().map(|(_, p)| *p).collect(),
        Qtype::OneRrset => node.pools.iter().map(|(_, p)| *p).take(1).collect(),
        Qtype::Is(t) => node.pool(t).into_iter().collect(),
    };
    for pi in pools {
        let at = ans.answers.len();
        pool_answer(snap, zi, zone, pi, client, rng, now, ans);
        // A pool that answered nothing (on_all_down = "none", or every region drained while
        // failing open): its NODATA needs the proof without its type.
        if ans.answers.len() == at && ans.rcode == ResponseCode::NoError {
            empty = zone.pools.get(pi).map(|p| p.rtype);
        }
    }
    if ans.rcode != ResponseCode::NoError {
        return Step::Done;
    }
    // ANY at a CNAME owner answers the CNAME itself, without restarting (RFC 1034 §3.6.2).
    let any = matches!(qtype, Qtype::Is(RecordType::ANY) | Qtype::OneRrset);
    // Nor is a CNAME followed for DNSSEC's own types (resolvers reject a CNAME for an NSEC).
    let dnssec_type = matches!(
        qtype,
        Qtype::Is(RecordType::NSEC | RecordType::RRSIG | RecordType::NSEC3)
    );
    if !any
        && !dnssec_type
        && qtype != Qtype::Is(RecordType::CNAME)
        && let Some(cname) = node.rrset(RecordType::CNAME)
    {
        ans.answers.extend(cname.records.iter().cloned());
        return match cname.records.first().map(|r| &r.data) {
            Some(RData::CNAME(target)) => Step::Follow(target.0.clone()),
            _ => Step::Done,
        };
    }
    let start = ans.answers.len();
    match qtype {
        Qtype::Is(RecordType::ANY) => {
            for set in &node.rrsets {
                ans.answers.extend(set.records.iter().cloned());
            }
        }
        Qtype::OneRrset => {
            if ans.answers.len() == before
                && let Some(set) = node.rrsets.first()
            {
                ans.answers.extend(set.records.iter().cloned());
            }
        }
        Qtype::Is(t) => {
            if let Some(set) = node.rrset(t) {
                ans.answers.extend(set.records.iter().cloned());
            }
        }
    }
    let added: Vec<Record> = ans.answers[start..].to_vec();
    zone.glue(&added, &mut ans.additional);
    if ans.answers.len() == before {
        negative(zone, ans);
        ans.denial = Some(Denial {
            zone: zi,
            name: name.clone(),
            kind: DenialKind::NoData { empty },
        });
    }
    Step::Done
}

#[allow(clippy::too_many_arguments)]
fn pool_answer<R: Rng + ?Sized>(
    snap: &Snapshot,
    zi: usize,
    zone: &Zone,
    pi: usize,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
    ans: &mut Answer,
) {
    let Some(pool) = zone.pools.get(pi) else {
        return;
    };
    let selection = select::decide(&snap.live, pool, client, rng, now);
    match selection.rule {
        Rule::Policy | Rule::AllDownAll => {
            for i in &selection.regions {
                ans.answers.extend(pool.regions[*i].records.iter().cloned());
            }
        }
        Rule::Fallback => ans.answers.extend(pool.fallback.iter().cloned()),
        Rule::AllDownNone => {}
        Rule::AllDownServfail => {
            ans.rcode = ResponseCode::ServFail;
            ans.authoritative = false;
        }
    }
    ans.decisions.push(PoolDecision {
        zone: zi,
        pool: pi,
        selection,
    });
}

/// The NS records of the cut in authority; the glue of name servers at or below the cut first
/// in additional (it must fit, RFC 9471), then any other in-zone glue (optional).
fn referral(zone: &Zone, cut: &LowerName, ans: &mut Answer) {
    let Some(ns) = zone.nodes.get(cut).and_then(|n| n.rrset(RecordType::NS)) else {
        return;
    };
    ans.authority.extend(ns.records.iter().cloned());
    let (inside, outside): (Vec<&Record>, Vec<&Record>) =
        ns.records.iter().partition(|r| match &r.data {
            RData::NS(target) => cut.zone_of(&LowerName::new(&target.0)),
            _ => false,
        });
    let start = ans.additional.len();
    zone.glue(inside, &mut ans.additional);
    ans.required_additional = ans.additional.len() - start;
    zone.glue(outside, &mut ans.additional);
}

/// The SOA in the authority section, with the negative-caching TTL (RFC 2308).
fn negative(zone: &Zone, ans: &mut Answer) {
    let mut soa = zone.soa.clone();
    soa.ttl = zone.negative_ttl;
    ans.authority.push(soa);
}

/// Answer owners equal to the question name take the question's case.
fn echo_case(ans: &mut Answer, q: &Question<'_>) {
    for r in &mut ans.answers {
        if r.name == *q.original {
            r.name = q.original.clone();
        }
    }
}

mod signed;

#[cfg(test)]
mod tests;
