//! AXFR (RFC 5936) and IXFR (RFC 1995) over TCP from the published journal: who may transfer
//! (a configured secondary's address, and the TSIG key when one is configured), and the
//! messages, each at most [`MESSAGE_BYTES`] and each TSIG-signed in a chain (RFC 8945 §5.3.1).
//!
//! Unauthorized requests get REFUSED; a bad signature NOTAUTH with the TSIG error (BADKEY and
//! BADSIG unsigned, BADTIME signed), as RFC 8945 §5.2 says.

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
    let refuse = |rcode: ResponseCode| vec![header_only(meta, &query, rcode)];
    // Knot and NSD serve QCLASS ANY from the IN zone; a class gslbd has no zone in (CH, HS,
    // ...) is refused as NSD does.
    if !matches!(query.query_class(), DNSClass::IN | DNSClass::ANY) {
        tracing::info!(zone = %query.name(), %src, class = %query.query_class(), "transfer refused: class");
        return refuse(ResponseCode::Refused);
    }
    let origin = LowerName::new(query.name());
    let Some(journal) = published.zones.get(&origin) else {
        tracing::info!(zone = %query.name(), %src, "transfer refused: not a transferred zone");
        return refuse(ResponseCode::Refused);
    };
    let unsigned_src = src.to_canonical();
    if !config
        .secondaries
        .iter()
        .any(|s| s.ip().to_canonical() == unsigned_src)
    {
        tracing::warn!(zone = %query.name(), %src, "transfer refused: not a configured secondary");
        return refuse(ResponseCode::Refused);
    }
    let tsig_at = crate::dns::tsig_at(msg);
    let signer = match (&config.key, tsig_at) {
        (None, _) => None,
        (Some(_), None) => {
            tracing::warn!(zone = %query.name(), %src, "transfer refused: not signed with the transfer key");
            return refuse(ResponseCode::Refused);
        }
        (Some(key), Some(t)) => {
            let keys = std::slice::from_ref(key.as_ref());
            match tsig::verify(msg, t.owner, t.rdata, t.rdata_len, keys, now) {
                Ok((k, req)) => Some(Signer::response(k, &req)),
                Err(rejected) => {
                    tracing::warn!(zone = %query.name(), %src, ?rejected, "transfer refused: TSIG");
                    return vec![not_auth(meta, &query, msg, rejected, key, now)];
                }
            }
        }
    };
    let Some(current) = journal.current() else {
        return refuse(ResponseCode::ServFail);
    };
    let records = match query.query_type() {
        RecordType::IXFR => ixfr(journal, current, client_serial(&request)),
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

/// The serial in the request's authority SOA (RFC 1995 §3).
fn client_serial(request: &Message) -> Option<u32> {
    request.authorities.iter().find_map(|r| match &r.data {
        RData::SOA(s) => Some(s.serial),
        _ => None,
    })
}

/// The IXFR answer: the current SOA alone when the client is up to date, the differences
/// from its serial when the journal still has it, else the whole zone (RFC 1995 §4).
fn ixfr(journal: &Journal, current: &Version, client: Option<u32>) -> Vec<Record> {
    let Some(client) = client else {
        return full(journal, current);
    };
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

/// NOTAUTH with the TSIG error: unsigned for BADKEY and BADSIG, signed for BADTIME (with the
/// server's time as other data).
fn not_auth(
    meta: Metadata,
    query: &Query,
    msg: &[u8],
    rejected: Rejected,
    key: &tsig::Key,
    now: u64,
) -> Vec<u8> {
    let mut out = header_only(meta, query, ResponseCode::NotAuth);
    let key_name = crate::dns::tsig_at(msg)
        .and_then(|t| crate::dns::name_at(msg, t.owner))
        .unwrap_or_else(|| key.name.clone());
    match rejected {
        Rejected::Unsigned(error) => {
            tsig::append(&mut out, &key_name, now, &[], meta.id, error, &[])
        }
        Rejected::BadTime { mac, original_id } => {
            let req = tsig::Request { mac, original_id };
            let time = now.to_be_bytes();
            Signer::response(key, &req).sign(&mut out, now, tsig::BADTIME, &time[2..]);
        }
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
        let diff = ixfr(&j, &cur, Some(10));
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
        assert_eq!(ixfr(&j, &cur, Some(12)).len(), 1);
        let unknown = ixfr(&j, &cur, Some(3));
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
