//! Transfer messages: the records in messages of at most [`MESSAGE_BYTES`], the question in
//! the first only; and header-only answers (refusals, errors).

use hickory_proto::op::{Message, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncodable;

/// The largest message of a transfer (before its TSIG record).
pub const MESSAGE_BYTES: usize = 16 * 1024;

/// The records in messages of at most [`MESSAGE_BYTES`]; the question in the first only.
pub(super) fn messages(meta: Metadata, query: &Query, records: Vec<Record>) -> Vec<Vec<u8>> {
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
pub(super) fn header_only(meta: Metadata, query: &Query, rcode: ResponseCode) -> Vec<u8> {
    let mut m = Message::new(meta.id, meta.message_type, OpCode::Query);
    m.metadata = meta;
    m.metadata.response_code = rcode;
    m.add_query(query.clone());
    m.to_vec().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::{RData, RecordType};

    fn rec(name: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(
            hickory_proto::rr::Name::from_ascii(name).expect("name"),
            30,
            RData::A(hickory_proto::rr::rdata::A::new(ip[0], ip[1], ip[2], ip[3])),
        )
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
        assert!(
            !Message::from_vec(&out[1])
                .expect("parses")
                .answers
                .is_empty()
        );
    }
}
