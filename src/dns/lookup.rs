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
use crate::zone::{Node, Pool, Zone};

/// How many CNAMEs inside one zone are followed before giving up.
const MAX_CNAME_CHAIN: usize = 8;

/// One question as received.
pub struct Question<'a> {
    pub name: &'a LowerName,
    /// The name as the client wrote it (its case is echoed in answers).
    pub original: &'a Name,
    pub qtype: RecordType,
}

/// A pool decision made while answering (for metrics and `/explain`).
#[derive(Debug, Clone)]
pub struct PoolDecision {
    pub pool: usize,
    pub selection: Selection,
}

/// The sections of a response.
#[derive(Debug)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// The zone that answered, if any.
    pub zone: Option<usize>,
    pub decision: Option<PoolDecision>,
}

impl Answer {
    fn new(rcode: ResponseCode, authoritative: bool) -> Self {
        Answer {
            rcode,
            authoritative,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            zone: None,
            decision: None,
        }
    }

    /// True when the answer depends on the client subnet (ECS scope must say so).
    pub fn client_specific(&self) -> bool {
        self.decision
            .as_ref()
            .is_some_and(|d| d.selection.client_specific)
    }
}

/// Answers `q` from `snap`.
pub fn resolve<R: Rng + ?Sized>(
    snap: &Snapshot,
    q: &Question<'_>,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
) -> Answer {
    let Some((zi, zone)) = snap
        .zones
        .zones
        .iter()
        .enumerate()
        .find(|(_, z)| z.origin.zone_of(q.name))
    else {
        return Answer::new(ResponseCode::Refused, false);
    };
    let mut ans = Answer::new(ResponseCode::NoError, true);
    ans.zone = Some(zi);

    if let Some(cut) = zone.delegation_above(q.name)
        && !(cut == q.name && q.qtype == RecordType::DS)
    {
        referral(zone, cut, &mut ans);
        return ans;
    }

    let mut name = q.name.clone();
    for _ in 0..MAX_CNAME_CHAIN {
        let Some(node) = zone.nodes.get(&name) else {
            if ans.answers.is_empty() {
                ans.rcode = ResponseCode::NXDomain;
            }
            negative(zone, &mut ans);
            break;
        };
        match answer_node(snap, zone, node, q.qtype, client, rng, now, &mut ans) {
            Step::Done => break,
            Step::Follow(target) => match LowerName::new(&target) {
                t if zone.origin.zone_of(&t) && zone.delegation_above(&t).is_none() => name = t,
                _ => break,
            },
        }
    }
    echo_case(&mut ans, q);
    ans
}

enum Step {
    Done,
    Follow(Name),
}

#[allow(clippy::too_many_arguments)]
fn answer_node<R: Rng + ?Sized>(
    snap: &Snapshot,
    zone: &Zone,
    node: &Node,
    qtype: RecordType,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
    ans: &mut Answer,
) -> Step {
    let before = ans.answers.len();
    let pools: Vec<usize> = match qtype {
        RecordType::ANY => node.pools.iter().map(|(_, p)| *p).collect(),
        t => node.pool(t).into_iter().collect(),
    };
    for pi in pools {
        pool_answer(snap, zone, pi, client, rng, now, ans);
    }
    if ans.rcode != ResponseCode::NoError {
        return Step::Done;
    }
    if qtype != RecordType::CNAME
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
        RecordType::ANY => {
            for set in &node.rrsets {
                ans.answers.extend(set.records.iter().cloned());
            }
        }
        t => {
            if let Some(set) = node.rrset(t) {
                ans.answers.extend(set.records.iter().cloned());
            }
        }
    }
    let added: Vec<Record> = ans.answers[start..].to_vec();
    add_glue(zone, &added, &mut ans.additional);
    if ans.answers.len() == before {
        negative(zone, ans);
    }
    Step::Done
}

/// The live decision for `pool`: its regions' weights in `snap`, then its policy.
pub fn decide<R: Rng + ?Sized>(
    snap: &Snapshot,
    pool: &Pool,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
) -> Selection {
    let weights: Vec<u64> = pool
        .regions
        .iter()
        .map(|r| snap.live.weight(pool, r, now))
        .collect();
    let fail_open = || {
        pool.regions
            .iter()
            .map(|r| snap.live.fail_open_weight(r))
            .collect()
    };
    select::select(pool, &weights, fail_open, client, rng)
}

fn pool_answer<R: Rng + ?Sized>(
    snap: &Snapshot,
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
    let selection = decide(snap, pool, client, rng, now);
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
    ans.decision = Some(PoolDecision {
        pool: pi,
        selection,
    });
}

fn referral(zone: &Zone, cut: &LowerName, ans: &mut Answer) {
    ans.authoritative = false;
    if let Some(ns) = zone.nodes.get(cut).and_then(|n| n.rrset(RecordType::NS)) {
        ans.authority.extend(ns.records.iter().cloned());
        add_glue(zone, &ns.records, &mut ans.additional);
    }
}

/// The SOA in the authority section, with the negative-caching TTL (RFC 2308).
fn negative(zone: &Zone, ans: &mut Answer) {
    let mut soa = zone.soa.clone();
    soa.ttl = zone.negative_ttl;
    ans.authority.push(soa);
}

/// A and AAAA records, from this zone, for the names NS, MX and SRV records point at.
fn add_glue(zone: &Zone, records: &[Record], additional: &mut Vec<Record>) {
    for r in records {
        let target = match &r.data {
            RData::NS(ns) => &ns.0,
            RData::MX(mx) => &mx.exchange,
            RData::SRV(srv) => &srv.target,
            _ => continue,
        };
        let target = LowerName::new(target);
        if !zone.origin.zone_of(&target) {
            continue;
        }
        let Some(node) = zone.nodes.get(&target) else {
            continue;
        };
        for t in [RecordType::A, RecordType::AAAA] {
            if let Some(set) = node.rrset(t) {
                for rec in &set.records {
                    if !additional.contains(rec) {
                        additional.push(rec.clone());
                    }
                }
            }
        }
    }
}

/// Answer owners equal to the question name take the question's case.
fn echo_case(ans: &mut Answer, q: &Question<'_>) {
    for r in &mut ans.answers {
        if r.name == *q.original {
            r.name = q.original.clone();
        }
    }
}
