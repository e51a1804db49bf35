//! AXFR (RFC 5936) and IXFR (RFC 1995) over TCP from the published journal: who may transfer
//! (a configured secondary's address, and the TSIG key when one is configured), and the
//! messages, each at most [`MESSAGE_BYTES`] and each TSIG-signed in a chain (RFC 8945 §5.3.1).
//!
//! Unauthorized requests get REFUSED; a bad signature NOTAUTH with the TSIG error (BADKEY,
//! BADSIG and BADTRUNC unsigned, BADTIME signed), a MAC too short or a misplaced TSIG FORMERR,
//! as RFC 8945 §5 says; every answer to a validly signed request is signed.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use super::tsig::{self, Rejected, Signer};
use super::{Journal, Published, TransferConfig, Version};

/// The largest message of a transfer (before its TSIG record).
pub const MESSAGE_BYTES: usize = 16 * 1024;

/// Whether `msg` asks for a zone transfer (a query, opcode QUERY, whose first question is of
/// type AXFR or IXFR), read from the raw bytes.
pub fn is_transfer(msg: &[u8]) -> bool {
    let Some(&flags) = msg.get(2) else {
        return false;
    };
    // QR clear and opcode 0.
    if flags & 0xf8 != 0 {
        return false;
    }
    let qtype = crate::dns::question_end(msg)
        .and_then(|end| msg.get(end - 4..end - 2))
        .map(|t| u16::from_be_bytes([t[0], t[1]]));
    matches!(qtype, Some(251 | 252))
}

/// The response messages to a transfer request from `src` (empty when it is not one).
///
/// The signature is checked first, so that every answer to a validly signed request is signed,
/// refusals included (RFC 8945 §5.3).
pub fn respond(
    published: &Published,
    config: &TransferConfig,
    msg: &[u8],
    src: IpAddr,
    now: u64,
) -> Vec<Vec<u8>> {
    let Ok(request) = Message::from_vec(msg) else {
        return Vec::new();
    };
    let Some(query) = request.queries.first().cloned() else {
        return Vec::new();
    };
    let mut meta = Metadata::response_from_request(&request.metadata);
    meta.recursion_desired = request.metadata.recursion_desired;
    let refused = |reason: &str| {
        tracing::warn!(zone = %query.name(), %src, reason, "transfer refused");
    };
    if crate::dns::tsig_misplaced(msg) {
        refused("TSIG not the last record");
        return vec![header_only(meta, &query, ResponseCode::FormErr)];
    }
    let tsig_at = crate::dns::tsig_at(msg);
    let mut signer = match (&config.key, tsig_at) {
        (_, None) => None,
        (None, Some(t)) => {
            refused("TSIG without a transfer key");
            return vec![not_auth(
                meta,
                &query,
                msg,
                &t,
                Rejected::Unsigned(tsig::BADKEY),
                None,
            )];
        }
        (Some(key), Some(t)) => {
            let keys = std::slice::from_ref(key.as_ref());
            match tsig::verify(msg, t.owner, t.rdata, t.rdata_len, keys, now) {
                Ok((k, req)) => Some(Signer::response(k, &req)),
                Err(Rejected::Malformed) => {
                    refused("TSIG MAC length");
                    return vec![header_only(meta, &query, ResponseCode::FormErr)];
                }
                Err(rejected) => {
                    refused("TSIG");
                    return vec![not_auth(meta, &query, msg, &t, rejected, Some(key))];
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
        vec![m]
    };
    // Knot and NSD serve QCLASS ANY from the IN zone; a class gslbd has no zone in (CH, HS,
    // ...) is refused as NSD does.
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        refused("class");
        return answer(ResponseCode::Refused);
    }
    let origin = LowerName::new(query.name());
    let Some(journal) = published.zones.get(&origin) else {
        refused("not a transferred zone");
        return answer(ResponseCode::Refused);
    };
    let unsigned_src = src.to_canonical();
    if !config
        .secondaries
        .iter()
        .any(|s| s.ip().to_canonical() == unsigned_src)
    {
        refused("not a configured secondary");
        return answer(ResponseCode::Refused);
    }
    if config.key.is_some() && !signed {
        refused("not signed with the transfer key");
        return answer(ResponseCode::Refused);
    }
    let client = client_serial(&request, &origin);
    if query.query_type() == RecordType::IXFR && client.is_none() {
        refused("IXFR without the zone's SOA in authority");
        return answer(ResponseCode::FormErr);
    }
    let Some(current) = journal.current() else {
        return answer(ResponseCode::ServFail);
    };
    let records = match (query.query_type(), client) {
        (RecordType::IXFR, Some(serial)) => ixfr(journal, current, serial),
        _ => full(journal, current),
    };
    tracing::info!(zone = %query.name(), %src, kind = %query.query_type(), serial = current.serial,
        records = records.len(), "transfer");
    let mut out = messages(meta, &query, records);
    if let Some(mut s) = signer {
        for m in &mut out {
            s.sign(m, now, 0, &[]);
        }
    }
    out
}

/// SOA, every record, SOA.
fn full(journal: &Journal, v: &Version) -> Vec<Record> {
    let soa = journal.soa(v.serial);
    let mut all = Vec::with_capacity(v.len() + 2);
    all.push(soa.clone());
    all.extend(v.records().cloned());
    all.push(soa);
    all
}

/// The serial in the request's authority SOA for the zone (RFC 1995 §3).
fn client_serial(request: &Message, origin: &LowerName) -> Option<u32> {
    request.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(s) if LowerName::new(&r.name) == *origin => Some(s.serial),
        _ => None,
    })
}

/// The IXFR answer: the current SOA alone when the client is up to date, the differences
/// from its serial when the journal still has it, else the whole zone (RFC 1995 §4).
fn ixfr(journal: &Journal, current: &Version, client: u32) -> Vec<Record> {
    if !super::newer(current.serial, client) {
        return vec![journal.soa(current.serial)];
    }
    let Some(start) = journal.versions.iter().position(|v| v.serial == client) else {
        return full(journal, current);
    };
    let mut out = vec![journal.soa(current.serial)];
    let versions: Vec<&Version> = journal.versions.iter().skip(start).map(|v| &**v).collect();
    for pair in versions.windows(2) {
        let (old, new) = (pair[0], pair[1]);
        let same_statics = Arc::ptr_eq(&old.statics, &new.statics);
        out.push(journal.soa(old.serial));
        if !same_statics {
            out.extend(minus(&old.statics, &new.statics));
        }
        out.extend(minus(&old.pools, &new.pools));
        out.push(journal.soa(new.serial));
        if !same_statics {
            out.extend(minus(&new.statics, &old.statics));
        }
        out.extend(minus(&new.pools, &old.pools));
    }
    out.push(journal.soa(current.serial));
    out
}

/// The records of `a` not in `b`.
fn minus(a: &[Record], b: &[Record]) -> Vec<Record> {
    let wire = |r: &Record| r.to_bytes().unwrap_or_default();
    let b: std::collections::HashSet<Vec<u8>> = b.iter().map(wire).collect();
    a.iter()
        .filter(|r| !b.contains(&wire(r)))
        .cloned()
        .collect()
}

/// The records in messages of at most [`MESSAGE_BYTES`]; the question in the first only.
fn messages(meta: Metadata, query: &Query, records: Vec<Record>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut batch: Vec<Record> = Vec::new();
    let mut size = 0;
    let flush = |batch: &mut Vec<Record>, out: &mut Vec<Vec<u8>>| {
        let mut m = Message::new(meta.id, meta.message_type, OpCode::Query);
        m.metadata = meta;
        m.metadata.authoritative = true;
        if out.is_empty() {
            m.add_query(query.clone());
        }
        m.add_answers(std::mem::take(batch));
        if let Ok(bytes) = m.to_vec() {
            out.push(bytes);
        }
    };
    for r in records {
        let len = r.to_bytes().map_or(512, |b| b.len());
        if !batch.is_empty() && size + len > MESSAGE_BYTES {
            flush(&mut batch, &mut out);
            size = 0;
        }
        size += len;
        batch.push(r);
    }
    flush(&mut batch, &mut out);
    out
}

fn header_only(meta: Metadata, query: &Query, rcode: ResponseCode) -> Vec<u8> {
    let mut m = Message::new(meta.id, meta.message_type, OpCode::Query);
    m.metadata = meta;
    m.metadata.response_code = rcode;
    m.add_query(query.clone());
    m.to_vec().unwrap_or_default()
}

/// NOTAUTH with the TSIG error: unsigned for BADKEY, BADSIG and BADTRUNC (the request's key,
/// algorithm and time echoed, §5.3.2), signed for BADTIME (the request's time signed echoed,
/// the server's time as other data, §5.2.3).
fn not_auth(
    meta: Metadata,
    query: &Query,
    msg: &[u8],
    t: &crate::dns::TsigAt,
    rejected: Rejected,
    key: Option<&tsig::Key>,
) -> Vec<u8> {
    let mut out = header_only(meta, query, ResponseCode::NotAuth);
    match (rejected, key) {
        (
            Rejected::BadTime {
                mac,
                original_id,
                time,
            },
            Some(key),
        ) => {
            let req = tsig::Request { mac, original_id };
            let server = tsig::now().to_be_bytes();
            Signer::response(key, &req).sign(&mut out, time, tsig::BADTIME, &server[2..]);
        }
        (Rejected::Unsigned(error), _) => {
            tsig::append_error(&mut out, msg, t.owner, t.rdata, t.rdata_len, error)
        }
        _ => tsig::append_error(&mut out, msg, t.owner, t.rdata, t.rdata_len, tsig::BADSIG),
    }
    out
}

/// Decodes the first record of `bytes`' answer section (for tests).
#[cfg(test)]
fn first_answer(bytes: &[u8]) -> Option<Record> {
    Message::from_vec(bytes).ok()?.answers.first().cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    fn rec(name: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(
            hickory_proto::rr::Name::from_ascii(name).expect("name"),
            30,
            RData::A(hickory_proto::rr::rdata::A::new(ip[0], ip[1], ip[2], ip[3])),
        )
    }

    fn journal() -> Journal {
        let soa = Record::from_rdata(
            hickory_proto::rr::Name::from_ascii("z.").expect("name"),
            60,
            RData::SOA(hickory_proto::rr::rdata::SOA::new(
                hickory_proto::rr::Name::from_ascii("ns.z.").expect("n"),
                hickory_proto::rr::Name::from_ascii("h.z.").expect("n"),
                1,
                1,
                1,
                1,
                1,
            )),
        );
        let statics = Arc::new(vec![rec("mail.z.", [9, 9, 9, 9])]);
        let v = |serial, ips: &[[u8; 4]]| {
            Arc::new(Version {
                serial,
                statics: statics.clone(),
                pools: ips.iter().map(|ip| rec("www.z.", *ip)).collect(),
            })
        };
        Journal {
            soa,
            versions: VecDeque::from([
                v(10, &[[1, 1, 1, 1], [2, 2, 2, 2]]),
                v(11, &[[1, 1, 1, 1]]),
                v(12, &[[1, 1, 1, 1], [3, 3, 3, 3]]),
            ]),
        }
    }

    fn serial(r: &Record) -> Option<u32> {
        match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        }
    }

    #[test]
    fn ixfr_sends_each_difference_or_the_whole_zone_or_just_the_soa() {
        let j = journal();
        let cur = j.current().expect("current").clone();
        let diff = ixfr(&j, &cur, 10);
        let serials: Vec<Option<u32>> = diff.iter().map(serial).collect();
        assert_eq!(
            serials,
            [
                Some(12),
                Some(10),
                None,
                Some(11),
                Some(11),
                Some(12),
                None,
                Some(12)
            ]
        );
        assert_eq!(ixfr(&j, &cur, 12).len(), 1);
        let unknown = ixfr(&j, &cur, 3);
        assert_eq!(
            unknown.len(),
            5,
            "SOA, the static record, two pool records, SOA"
        );
    }

    #[test]
    fn a_large_transfer_is_split_and_the_question_is_in_the_first_message_only() {
        let records: Vec<Record> = (0..3000u32)
            .map(|i| rec(&format!("h{i}.z."), i.to_be_bytes()))
            .collect();
        let q = Query::query(
            hickory_proto::rr::Name::from_ascii("z.").expect("name"),
            RecordType::AXFR,
        );
        let out = messages(
            Metadata::response_from_request(&Metadata::new(
                7,
                hickory_proto::op::MessageType::Query,
                OpCode::Query,
            )),
            &q,
            records,
        );
        assert!(out.len() > 2, "{} messages", out.len());
        let mut total = 0;
        for (i, m) in out.iter().enumerate() {
            assert!(m.len() <= MESSAGE_BYTES + 512);
            let d = Message::from_vec(m).expect("parses");
            assert_eq!(d.queries.len(), usize::from(i == 0));
            total += d.answers.len();
        }
        assert_eq!(total, 3000);
        assert!(first_answer(&out[1]).is_some());
    }
}
