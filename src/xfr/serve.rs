//! AXFR (RFC 5936) and IXFR (RFC 1995) from the published journal: who may transfer (a
//! configured secondary's address, and the TSIG key when one is configured), and the messages,
//! each at most [`MESSAGE_BYTES`] and each TSIG-signed in a chain (RFC 8945 §5.3.1). Over TCP;
//! an IXFR over UDP gets its answer when it fits one datagram, else the current SOA.
//!
//! Unauthorized requests get REFUSED ([`refusals`] counts them and rate-limits their logging);
//! a bad signature NOTAUTH with the TSIG error (BADKEY and BADSIG unsigned, BADTIME and
//! BADTRUNC signed), a MAC too short or a misplaced TSIG FORMERR, as RFC 8945 §5 says; every
//! answer to a validly signed request is signed.

use std::net::IpAddr;

use hickory_proto::op::{Header, Message, Metadata, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::{Published, TransferConfig};
use crate::wire::scan::Scan;
use crate::wire::size::MAX_UDP_PAYLOAD;
use crate::wire::tsig::{self, Rejected, Signer};

mod build;
mod diff;
pub mod refusals;

use build::{header_only, messages};
use diff::{full, ixfr};
use refusals::Reason;

pub use build::MESSAGE_BYTES;

/// Whether `msg` asks for a zone transfer (a query, opcode QUERY, whose first question is of
/// type AXFR or IXFR), read from the raw bytes.
pub fn is_transfer(msg: &[u8]) -> bool {
    matches!(transfer_type(msg), Some(AXFR | IXFR))
}

/// Whether `msg` asks for an incremental transfer (IXFR).
pub fn is_ixfr(msg: &[u8]) -> bool {
    transfer_type(msg) == Some(IXFR)
}

const AXFR: u16 = 252;
const IXFR: u16 = 251;

/// The first question's type of a query with opcode QUERY.
fn transfer_type(msg: &[u8]) -> Option<u16> {
    let flags = *msg.get(2)?;
    // QR clear and opcode 0.
    if flags & 0xf8 != 0 {
        return None;
    }
    Scan::of(msg)
        .question_end
        .and_then(|end| msg.get(end - 4..end - 2))
        .map(|t| u16::from_be_bytes([t[0], t[1]]))
}

/// The response messages to a transfer request over TCP from `src` (empty when it is not one).
pub fn respond(
    published: &Published,
    config: &TransferConfig,
    msg: &[u8],
    src: IpAddr,
    now: u64,
) -> Vec<Vec<u8>> {
    match plan(published, config, msg, src, now, Stage::Serve) {
        None | Some(Plan::Authorised) => Vec::new(),
        Some(Plan::Done(m)) => vec![m],
        Some(Plan::Records(r)) => {
            let mut out = messages(r.meta, &r.query, r.records);
            if let Some(mut s) = r.signer {
                for m in &mut out {
                    s.sign(m, now, 0, &[]);
                }
            }
            out
        }
    }
}

/// The answer to a transfer request over TCP that needs no transfer slot: its refusal or error
/// (`Some`, signed as [`respond`] signs it), or `None` when it is authorised and is to wait for
/// a slot. Refusals are decided first, so that they never wait behind other transfers (as Knot
/// and NSD check their ACL first).
pub fn refusal(
    published: &Published,
    config: &TransferConfig,
    msg: &[u8],
    src: IpAddr,
    now: u64,
) -> Option<Vec<Vec<u8>>> {
    match plan(published, config, msg, src, now, Stage::Check) {
        None => Some(Vec::new()),
        Some(Plan::Done(m)) => Some(vec![m]),
        Some(Plan::Authorised | Plan::Records(_)) => None,
    }
}

/// SERVFAIL, signed when the request is, to an authorised transfer that found no slot in
/// time.
pub fn busy(
    published: &Published,
    config: &TransferConfig,
    msg: &[u8],
    src: IpAddr,
    now: u64,
) -> Vec<Vec<u8>> {
    match plan(published, config, msg, src, now, Stage::Busy) {
        Some(Plan::Done(m)) => vec![m],
        _ => Vec::new(),
    }
}

/// The response to a transfer request over UDP (RFC 1995 §2): an IXFR's answer when it fits in
/// one message of `limit` bytes, its signature included; else the current SOA alone, and the
/// client retries over TCP (as Knot does). AXFR over UDP is refused (RFC 5936 §4.2).
pub fn respond_udp(
    published: &Published,
    config: &TransferConfig,
    msg: &[u8],
    src: IpAddr,
    now: u64,
    limit: usize,
) -> Option<Vec<u8>> {
    let r = match plan(published, config, msg, src, now, Stage::Udp)? {
        Plan::Done(m) => return Some(m),
        Plan::Authorised => return None,
        Plan::Records(r) => r,
    };
    let edns = Scan::of(msg).opt.map(|o| o.dnssec_ok);
    let one = |records: Vec<Record>| {
        let mut out = messages(r.meta, &r.query, records);
        let mut m = (out.len() == 1).then(|| out.pop()).flatten()?;
        if let Some(dnssec_ok) = edns {
            // An OPT answers an OPT (RFC 6891 §7), before the TSIG.
            append_opt(&mut m, dnssec_ok);
        }
        if let Some(mut s) = r.signer.clone() {
            s.sign(&mut m, now, 0, &[]);
        }
        (m.len() <= limit).then_some(m)
    };
    let soa = r.records.first().cloned();
    one(r.records.clone()).or_else(|| one(soa.into_iter().collect()))
}

/// Appends an OPT record (gslbd's UDP payload size, version 0, the DO bit echoed) to `m` and
/// bumps its ARCOUNT.
fn append_opt(m: &mut Vec<u8>, dnssec_ok: bool) {
    let Some(ar) = m.get(10..12).map(|c| u16::from_be_bytes([c[0], c[1]])) else {
        return;
    };
    m.push(0);
    m.extend_from_slice(&41u16.to_be_bytes());
    m.extend_from_slice(&MAX_UDP_PAYLOAD.to_be_bytes());
    m.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0]);
    m.extend_from_slice(&0u16.to_be_bytes());
    m[10..12].copy_from_slice(&ar.saturating_add(1).to_be_bytes());
}

/// How far [`plan`] goes for an authorised request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Only the checks (before a transfer slot is taken).
    Check,
    /// The records, over TCP.
    Serve,
    /// The records, over UDP.
    Udp,
    /// SERVFAIL: no transfer slot in time.
    Busy,
}

/// What a transfer request gets: one finished message (a refusal, an error), records, or (at
/// [`Stage::Check`]) only that it is authorised.
enum Plan<'k> {
    Done(Vec<u8>),
    Authorised,
    Records(Records<'k>),
}

/// The records answering a transfer, and what their messages carry.
struct Records<'k> {
    meta: Metadata,
    query: Query,
    records: Vec<Record>,
    signer: Option<Signer<'k>>,
}

/// The request's header and question. hickory refuses a message whose TSIG is not the last
/// record (or comes twice); that one is read to its question only, for its FORMERR.
fn request_of(msg: &[u8]) -> Option<(Option<Message>, Metadata, Query)> {
    match Message::from_vec(msg) {
        Ok(r) => {
            let (query, header) = (r.queries.first().cloned()?, r.metadata);
            Some((Some(r), header, query))
        }
        Err(_) if Scan::of(msg).tsig_misplaced => {
            let mut d = BinDecoder::new(msg);
            let header = Header::read(&mut d).ok()?;
            Some((None, header.metadata, Query::read(&mut d).ok()?))
        }
        Err(_) => None,
    }
}

/// Checks the request (its signature first, so that every answer to a validly signed request
/// is signed, refusals included, RFC 8945 §5.3), then who asks and for what.
fn plan<'k>(
    published: &Published,
    config: &'k TransferConfig,
    msg: &[u8],
    src: IpAddr,
    now: u64,
    stage: Stage,
) -> Option<Plan<'k>> {
    let udp = stage == Stage::Udp;
    let (request, header, query) = request_of(msg)?;
    let mut meta = Metadata::response_from_request(&header);
    meta.recursion_desired = header.recursion_desired;
    let refused = |reason: Reason| refusals::refused(reason, query.name(), src);
    if Scan::of(msg).tsig_misplaced {
        refused(Reason::Malformed);
        return Some(Plan::Done(header_only(meta, &query, ResponseCode::FormErr)));
    }
    let tsig_at = Scan::of(msg).tsig;
    let mut signer = match (&config.key, tsig_at) {
        (_, None) => None,
        (None, Some(t)) => {
            refused(Reason::Tsig);
            let bad_key = Rejected::Unsigned(tsig::BADKEY);
            return Some(Plan::Done(not_auth(meta, &query, msg, &t, bad_key, None)));
        }
        (Some(key), Some(t)) => {
            let keys = std::slice::from_ref(key.as_ref());
            match tsig::verify(msg, t.owner, t.rdata, t.rdata_len, keys, now) {
                Ok((k, req)) => Some(Signer::response(k, &req)),
                Err(Rejected::Malformed) => {
                    // FORMERR with an unsigned BADSIG, as BIND answers it.
                    refused(Reason::Malformed);
                    let mut m = header_only(meta, &query, ResponseCode::FormErr);
                    tsig::append_error(&mut m, msg, t.owner, t.rdata, t.rdata_len, tsig::BADSIG);
                    return Some(Plan::Done(m));
                }
                Err(rejected) => {
                    refused(Reason::Tsig);
                    return Some(Plan::Done(not_auth(
                        meta,
                        &query,
                        msg,
                        &t,
                        rejected,
                        Some(key),
                    )));
                }
            }
        }
    };
    let signed = signer.is_some();
    let mut answer = |rcode: ResponseCode| {
        let mut m = header_only(meta, &query, rcode);
        if let Some(s) = signer.as_mut() {
            s.sign(&mut m, now, 0, &[]);
        }
        Some(Plan::Done(m))
    };
    // Knot and NSD serve QCLASS ANY from the IN zone; a class gslbd has no zone in (CH, HS,
    // ...) is refused as NSD does.
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        refused(Reason::Class);
        return answer(ResponseCode::Refused);
    }
    let origin = LowerName::new(query.name());
    let Some(journal) = published.zones.get(&origin) else {
        refused(Reason::Zone);
        return answer(ResponseCode::Refused);
    };
    let unsigned_src = src.to_canonical();
    if !config
        .secondaries
        .iter()
        .any(|s| s.ip().to_canonical() == unsigned_src)
    {
        refused(Reason::Address);
        return answer(ResponseCode::Refused);
    }
    if config.key.is_some() && !signed {
        refused(Reason::Unsigned);
        return answer(ResponseCode::Refused);
    }
    let client = request.as_ref().and_then(|r| client_serial(r, &origin));
    if query.query_type() == RecordType::IXFR && client.is_none() {
        refused(Reason::Malformed);
        return answer(ResponseCode::FormErr);
    }
    if udp && query.query_type() == RecordType::AXFR {
        refused(Reason::Udp);
        return answer(ResponseCode::Refused);
    }
    match stage {
        Stage::Check => return Some(Plan::Authorised),
        Stage::Busy => return answer(ResponseCode::ServFail),
        Stage::Serve | Stage::Udp => {}
    }
    let Some(current) = journal.current() else {
        return answer(ResponseCode::ServFail);
    };
    let records = match (query.query_type(), client) {
        (RecordType::IXFR, Some(serial)) => ixfr(journal, current, serial),
        _ => full(journal, current),
    };
    tracing::info!(zone = %query.name(), %src, udp, kind = %query.query_type(),
        serial = current.serial, records = records.len(), "transfer");
    Some(Plan::Records(Records {
        meta,
        query,
        records,
        signer,
    }))
}

/// The serial in the request's authority SOA for the zone (RFC 1995 §3).
fn client_serial(request: &Message, origin: &LowerName) -> Option<u32> {
    request.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(s) if LowerName::new(&r.name) == *origin => Some(s.serial),
        _ => None,
    })
}
/// NOTAUTH with the TSIG error: unsigned for BADKEY and BADSIG (the request's key, algorithm
/// and time echoed, §5.3.2), signed for BADTIME (the request's time signed echoed, the server's
/// time as other data, §5.2.3) and BADTRUNC (as BIND does).
fn not_auth(
    meta: Metadata,
    query: &Query,
    msg: &[u8],
    t: &crate::wire::scan::Tsig,
    rejected: Rejected,
    key: Option<&tsig::Key>,
) -> Vec<u8> {
    let mut out = header_only(meta, query, ResponseCode::NotAuth);
    let now = tsig::now();
    match (rejected.signed_error(now), key, rejected) {
        (Some((req, time, error, other)), Some(key), _) => {
            Signer::response(key, &req).sign(&mut out, time, error, &other);
        }
        (_, _, Rejected::Unsigned(error)) => {
            tsig::append_error(&mut out, msg, t.owner, t.rdata, t.rdata_len, error)
        }
        _ => tsig::append_error(&mut out, msg, t.owner, t.rdata, t.rdata_len, tsig::BADSIG),
    }
    out
}
