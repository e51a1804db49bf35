//! The fast path: a plain query answered from the pre-encoded [`wire::Index`] by copying bytes.
//!
//! A plain query is a standard QUERY with one IN question, no other records except an OPT
//! (version 0, well-formed options; a Client Subnet is echoed with the scope the decision
//! needed). Its answer is the index's records for the name and type, or a negative answer:
//! NODATA for a name the index holds without the type, NXDOMAIN for a name below a served
//! origin that is not there (the zone's SOA in authority, compressed as hickory would).
//! Everything else, and every answer that would need more than that (CNAME chains,
//! referrals, glue, all-down NODATA, SERVFAIL, truncation), returns `None` and goes the full
//! way through `handler`. A DO=1 answer from a signed zone carries the pre-encoded RRSIGs of
//! its records (`dnssec::fast`); its negative and named answers, which need proofs or
//! compression, go the full way. The response is byte for byte what the full path builds
//! (the tests compare the two).

mod named;

use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use rand::Rng;

use super::context::{Context, MAX_UDP_PAYLOAD, Received, Sent, size_limit};
use super::cookie;
use crate::select::{ClientKey, Rule};
use crate::wire::scan::{self, HEADER_LEN};
use crate::zone::wire;

/// The longest name in wire format (RFC 1035 §3.1).
const MAX_NAME: usize = 255;
/// Header flag bits (third and fourth bytes).
const QR: u8 = 0x80;
const OPCODE: u8 = 0x78;
const TC: u8 = 0x02;
const AA: u8 = 0x04;
const RD: u8 = 0x01;
const CD: u8 = 0x10;
/// The DO bit in the OPT TTL's flags.
const DO: u8 = 0x80;
const OPT_TYPE: u16 = 41;
/// An OPT record with no options: root, type, class, TTL, RDLENGTH.
const OPT_LEN: usize = 11;
/// The COOKIE option of a response: code, length, client and server cookie.
const COOKIE_LEN: usize = 4 + cookie::OPTION_LEN;
const CLASS_IN: u16 = 1;

/// What the fast path reads of a query.
struct Plain<'q> {
    /// Length of the lowercased name written to the caller's buffer.
    name_len: usize,
    /// End of the question in the query.
    question_end: usize,
    qtype: u16,
    /// `Some(payload, dnssec_ok)` when the query has an OPT record.
    edns: Option<(u16, bool)>,
    /// The COOKIE option's data, when the query has one.
    cookie: Option<&'q [u8]>,
    /// The Client Subnet option, when the query has one.
    ecs: Option<scan::Ecs>,
}

/// Parses a plain query, lowercasing its name into `name`; `None` for anything else.
fn parse<'q>(query: &'q [u8], name: &mut [u8; MAX_NAME]) -> Option<Plain<'q>> {
    let header = query.get(..HEADER_LEN)?;
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    if header[2] & (QR | OPCODE | TC) != 0
        || count(4) != 1
        || count(6) != 0
        || count(8) != 0
        || count(10) > 1
    {
        return None;
    }
    let mut at = HEADER_LEN;
    let mut len = 0;
    loop {
        let label = usize::from(*query.get(at)?);
        if label > 63 || len + label + 1 > MAX_NAME {
            return None;
        }
        let bytes = query.get(at..=at + label)?;
        for (dst, src) in name[len..=len + label].iter_mut().zip(bytes) {
            *dst = src.to_ascii_lowercase();
        }
        len += label + 1;
        at += label + 1;
        if label == 0 {
            break;
        }
    }
    let fixed = query.get(at..at + 4)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    if u16::from_be_bytes([fixed[2], fixed[3]]) != CLASS_IN {
        return None;
    }
    let question_end = at + 4;
    let (edns, cookie, ecs, end) = match count(10) {
        0 => (None, None, None, question_end),
        _ => {
            // Root owner, type OPT, payload, extended RCODE, version 0, flags, options.
            let opt = query.get(question_end..question_end + OPT_LEN)?;
            let rtype = u16::from_be_bytes([opt[1], opt[2]]);
            if opt[0] != 0 || rtype != OPT_TYPE || opt[6] != 0 {
                return None;
            }
            let options = question_end + OPT_LEN;
            let rdlen = usize::from(u16::from_be_bytes([opt[9], opt[10]]));
            // Malformed options go the full way (FORMERR); cookies, padding, NSID requests and
            // unknown options do not change the answer, and a Client Subnet decides it here.
            let found = scan::options(query.get(options..options + rdlen)?).ok()?;
            let edns = (u16::from_be_bytes([opt[3], opt[4]]), opt[7] & DO != 0);
            (Some(edns), found.cookie, found.ecs, options + rdlen)
        }
    };
    (end == query.len()).then_some(Plain {
        name_len: len,
        question_end,
        qtype,
        edns,
        cookie,
        ecs,
    })
}

/// The Client Subnet option of a response (RFC 7871 §6): the query's, with `scope`.
fn ecs_option(ecs: &scan::Ecs, scope: u8, out: &mut Vec<u8>) {
    let octets = usize::from(ecs.source_prefix.div_ceil(8));
    out.extend_from_slice(&scan::OPTION_ECS.to_be_bytes());
    out.extend_from_slice(&((4 + octets) as u16).to_be_bytes());
    let mut bytes = [0u8; 16];
    let family: u16 = match ecs.addr {
        std::net::IpAddr::V4(a) => {
            bytes[..4].copy_from_slice(&a.octets());
            1
        }
        std::net::IpAddr::V6(a) => {
            bytes = a.octets();
            2
        }
    };
    out.extend_from_slice(&family.to_be_bytes());
    out.extend_from_slice(&[ecs.source_prefix, scope]);
    out.extend_from_slice(&bytes[..octets.min(16)]);
}

/// The length of [`ecs_option`]'s output.
fn ecs_option_len(ecs: &scan::Ecs) -> usize {
    4 + 4 + usize::from(ecs.source_prefix.div_ceil(8))
}

/// Answers a plain query into `out`; `None` when the full path must answer instead (then
/// nothing was counted).
pub fn respond<R: Rng + ?Sized>(
    ctx: &Context<'_>,
    received: Received<'_>,
    rng: &mut R,
    out: &mut Vec<u8>,
) -> Option<Sent> {
    let snap = ctx.snap;
    let query = received.bytes;
    let mut name = [0u8; MAX_NAME];
    let plain = parse(query, &mut name)?;
    let dnssec_ok = plain.edns.is_some_and(|(_, d)| d);
    // In a signed zone, DO=1 plain answers carry their pre-encoded RRSIGs; proofs, named
    // sets and NSEC/RRSIG questions (data whatever DO says, RFC 4035 §3.2.1) go the full way.
    let dnssec_type = matches!(
        RecordType::from(plain.qtype),
        RecordType::NSEC | RecordType::RRSIG | RecordType::NSEC3
    );
    let signed = |zone: usize| (dnssec_ok || dnssec_type) && snap.dnssec.signed(zone);
    // BADCOOKIE is the full path's to send.
    let cookie = match plain.cookie {
        None => None,
        some => ctx.cookie(some, &received).ok()?,
    };
    let qtype = RecordType::from(plain.qtype);
    let negative = |zone, rcode, out: &mut Vec<u8>| {
        named::negative(ctx, &received, &plain, cookie, zone, rcode, out)
    };
    let answer = match snap.zones.wire.find(name.get(..plain.name_len)?, qtype)? {
        wire::Found::Answer(answer) => answer,
        wire::Found::NoData { zone } if !signed(zone) => {
            return negative(zone, ResponseCode::NoError, out);
        }
        wire::Found::NxDomain { zone } if !signed(zone) => {
            return negative(zone, ResponseCode::NXDomain, out);
        }
        _ => return None,
    };
    // The answer is `first` (static records or the fallback), then the selected regions.
    let (zone, first, regions, decision) = match answer {
        wire::Answer::Named { zone, .. } if signed(*zone) => return None,
        wire::Answer::Named {
            zone,
            answers,
            additional,
        } => {
            let records = named::Records {
                zone: *zone,
                answers,
                additional,
            };
            return named::respond(ctx, &received, &plain, cookie, records, out);
        }
        wire::Answer::Static { zone, rrs } => (*zone, Some(rrs), &[][..], None),
        wire::Answer::Pool {
            zone,
            pool,
            regions,
            fallback,
        } => {
            let model = snap.zones.zones.get(*zone)?.pools.get(*pool)?;
            let client = match &plain.ecs {
                Some(e) => ClientKey::from_ecs(e.addr, e.source_prefix),
                None => ClientKey::from_source(received.src.ip()),
            };
            let sel = crate::select::decide(&snap.live, model, &client, rng, Instant::now());
            let first = match sel.rule {
                Rule::Policy | Rule::AllDownAll => None,
                Rule::Fallback => Some(fallback),
                Rule::AllDownNone | Rule::AllDownServfail => return None,
            };
            (*zone, first, &regions[..], Some((*pool, sel)))
        }
    };
    let chosen: &[usize] = match &decision {
        Some((_, sel)) if first.is_none() => &sel.regions,
        _ => &[],
    };
    let rrsigs = match &decision {
        _ if !signed(zone) => None,
        Some((pool, _)) => Some(
            snap.dnssec
                .fast_pool(zone, *pool, chosen, first.is_some())?,
        ),
        None => Some(
            snap.dnssec
                .fast_static(zone, name.get(..plain.name_len)?, qtype)?,
        ),
    };
    let parts = || {
        first
            .into_iter()
            .chain(chosen.iter().filter_map(|i| regions.get(*i)))
            .chain(rrsigs)
    };
    let count = parts().try_fold(0u16, |n, r| n.checked_add(r.count))?;
    if count == 0 {
        return None;
    }
    let limit = usize::from(size_limit(received.transport, plain.edns.map(|(p, _)| p)));
    let scope = match &decision {
        Some((_, sel)) => sel.scope.unwrap_or(0),
        None => 0,
    };
    let size = plain.question_end
        + parts().map(|r| r.bytes.len()).sum::<usize>()
        + opt_len(&plain, cookie.as_ref());
    if size > limit {
        return None;
    }

    header(query, &plain, ResponseCode::NoError, [count, 0, 0], out)?;
    for r in parts() {
        out.extend_from_slice(&r.bytes);
    }
    opt(&plain, scope, cookie.as_ref(), out);
    snap.metrics.query(Some(zone), qtype, ResponseCode::NoError);
    if let Some((pool, sel)) = &decision {
        snap.metrics.answer(zone, *pool, sel.answered());
    }
    Some(Sent {
        zone: Some(zone),
        proven: cookie.is_some_and(|c| c.valid),
    })
}

/// The response header and question, copied from the query: `aa`, `rd` and `cd` as the full
/// path sets them, `rcode`, and `[answers, authority, additional]` records to follow (the OPT
/// is counted here).
fn header(
    query: &[u8],
    plain: &Plain<'_>,
    rcode: ResponseCode,
    counts: [u16; 3],
    out: &mut Vec<u8>,
) -> Option<()> {
    out.clear();
    out.extend_from_slice(query.get(..plain.question_end)?);
    out[2] = QR | AA | (query[2] & RD);
    // Standard rcodes only: the fast path never answers an extended one.
    out[3] = (query[3] & CD) | (u16::from(rcode) & 0x0F) as u8;
    out[6..8].copy_from_slice(&counts[0].to_be_bytes());
    out[8..10].copy_from_slice(&counts[1].to_be_bytes());
    let additional = counts[2].checked_add(u16::from(plain.edns.is_some()))?;
    out[10..12].copy_from_slice(&additional.to_be_bytes());
    Some(())
}

/// The length of [`opt`]'s output.
fn opt_len(plain: &Plain<'_>, cookie: Option<&cookie::Reply>) -> usize {
    if plain.edns.is_none() {
        return 0;
    }
    let cookie_len = if cookie.is_some() { COOKIE_LEN } else { 0 };
    OPT_LEN + plain.ecs.as_ref().map_or(0, ecs_option_len) + cookie_len
}

/// The response's OPT record when the query had one: our payload size, version 0, DO echoed,
/// then in the full path's order the Client Subnet (with `scope`) and the cookie.
fn opt(plain: &Plain<'_>, scope: u8, cookie: Option<&cookie::Reply>, out: &mut Vec<u8>) {
    let Some((_, dnssec_ok)) = plain.edns else {
        return;
    };
    let len = opt_len(plain, cookie) - OPT_LEN;
    out.push(0);
    out.extend_from_slice(&OPT_TYPE.to_be_bytes());
    out.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    out.extend_from_slice(&[0, 0, if dnssec_ok { DO } else { 0 }, 0]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    if let Some(e) = &plain.ecs {
        ecs_option(e, scope, out);
    }
    if let Some(c) = cookie {
        out.extend_from_slice(&scan::OPTION_COOKIE.to_be_bytes());
        out.extend_from_slice(&(cookie::OPTION_LEN as u16).to_be_bytes());
        out.extend_from_slice(&c.option);
    }
}
