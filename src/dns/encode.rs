//! Response assembly within a size limit, by the rules of RFC 1035 §4.2.1, RFC 2181 §9, RFC 6891
//! §7 and RFC 9471:
//!
//! - the OPT record's room is reserved first: an EDNS response always carries it;
//! - the answer and authority sections go whole or not at all: when either does not fit, the
//!   response is header, question and OPT with TC set;
//! - additional records go by whole RRsets; one that does not fit is left out without TC,
//!   unless it is referral glue that must fit (then TC);
//! - the buffer holds exactly the message: nothing that was rolled back stays behind it;
//! - sizes are those of the compressed message (hickory's own bound would count a name as
//!   written out in full before it is compressed).

use hickory_proto::ProtoError;
use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, Query};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use crate::wire::scan::HEADER_LEN;

/// The records of a response, by section.
#[derive(Clone, Copy, Default)]
pub struct Sections<'a> {
    pub answers: &'a [Record],
    pub authority: &'a [Record],
    pub additional: &'a [Record],
    /// How many leading `additional` records must fit (else TC).
    pub required_additional: usize,
    /// A TSIG record, last in the message after the OPT (RFC 8945 §5.1).
    pub signature: Option<&'a Record>,
}

/// Why a message could not be encoded at all.
#[derive(Debug)]
pub struct EncodeError(pub ProtoError);

/// Encodes a response of at most `limit` bytes into `out` (cleared first).
pub fn response(
    meta: &Metadata,
    query: Option<&Query>,
    sections: Sections<'_>,
    edns: Option<&Edns>,
    limit: u16,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let opt = edns.map(|e| {
        let mut e = e.clone();
        e.set_rcode_high(meta.response_code.high());
        Record::from(&e)
    });
    match attempt(meta, query, sections, opt.as_ref(), limit, out)? {
        Fit::Whole => Ok(()),
        Fit::Truncated => {
            let mut meta = *meta;
            meta.truncation = true;
            let bare = Sections {
                signature: sections.signature,
                ..Sections::default()
            };
            match attempt(&meta, query, bare, opt.as_ref(), limit, out)? {
                Fit::Whole => Ok(()),
                // Not even the question and OPT fit the limit: TCP would not either.
                Fit::Truncated => Err(EncodeError(ProtoError::MaxBufferSizeExceeded(usize::from(
                    limit,
                )))),
            }
        }
    }
}

enum Fit {
    Whole,
    Truncated,
}

fn attempt(
    meta: &Metadata,
    query: Option<&Query>,
    sections: Sections<'_>,
    opt: Option<&Record>,
    limit: u16,
    out: &mut Vec<u8>,
) -> Result<Fit, EncodeError> {
    out.clear();
    let opt_len = match opt {
        Some(r) => encoded_len(r)?,
        None => 0,
    };
    let Some(body_limit) = usize::from(limit).checked_sub(opt_len) else {
        return Ok(Fit::Truncated);
    };
    let limit = usize::from(limit);
    // hickory writes a name whole before it replaces its tail with a pointer, so its own size
    // check would refuse a name whose compressed form fits: the limits are checked here, on
    // what each group takes once compressed, with the encoder's bound only the frame's.
    let mut enc = BinEncoder::new(out);
    enc.set_max_size(u16::MAX);
    if body_limit < HEADER_LEN {
        return Ok(Fit::Truncated);
    }
    let header = enc.place::<Header>().map_err(EncodeError)?;
    let mut counts = HeaderCounts::default();
    if let Some(q) = query {
        if !group(&mut enc, std::slice::from_ref(q), body_limit)? {
            return Ok(Fit::Truncated);
        }
        counts.queries = 1;
    }
    if !group(&mut enc, sections.answers, body_limit)?
        || !group(&mut enc, sections.authority, body_limit)?
    {
        return Ok(Fit::Truncated);
    }
    counts.answers = count(sections.answers.len())?;
    counts.authorities = count(sections.authority.len())?;
    let mut additional = 0;
    for (start, end) in rrsets(sections.additional) {
        let set = &sections.additional[start..end];
        if group(&mut enc, set, body_limit)? {
            additional += set.len();
        } else if start < sections.required_additional {
            return Ok(Fit::Truncated);
        }
    }
    if let Some(opt) = opt {
        if !group(&mut enc, std::slice::from_ref(opt), limit)? {
            return Ok(Fit::Truncated);
        }
        additional += 1;
    }
    if let Some(tsig) = sections.signature {
        if !group(&mut enc, std::slice::from_ref(tsig), limit)? {
            return Ok(Fit::Truncated);
        }
        additional += 1;
    }
    counts.additionals = count(additional)?;
    let end = enc.offset();
    header
        .replace(
            &mut enc,
            Header {
                metadata: *meta,
                counts,
            },
        )
        .map_err(EncodeError)?;
    drop(enc);
    out.truncate(end);
    Ok(Fit::Whole)
}

/// Emits every item or none: `false`, with the encoder rolled back, when they do not end
/// within `limit` bytes of the message (compressed).
fn group<T: BinEncodable>(
    enc: &mut BinEncoder<'_>,
    items: &[T],
    limit: usize,
) -> Result<bool, EncodeError> {
    let at = enc.offset();
    for item in items {
        match item.emit(enc) {
            Ok(()) if enc.offset() <= limit => {}
            Ok(()) | Err(ProtoError::MaxBufferSizeExceeded(_)) => {
                enc.set_offset(at);
                enc.trim();
                return Ok(false);
            }
            Err(e) => return Err(EncodeError(e)),
        }
    }
    Ok(true)
}

/// The `(start, end)` of each run of records with the same owner and type.
fn rrsets(records: &[Record]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = records.get(start)?;
        let len = records[start..]
            .iter()
            .take_while(|r| r.name == first.name && r.record_type() == first.record_type())
            .count();
        let run = (start, start + len);
        start += len;
        Some(run)
    })
}

fn encoded_len(record: &Record) -> Result<usize, EncodeError> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    record.emit(&mut enc).map_err(EncodeError)?;
    Ok(enc.offset())
}

fn count(n: usize) -> Result<u16, EncodeError> {
    u16::try_from(n).map_err(|_| EncodeError(ProtoError::Message("too many records")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode};
    use hickory_proto::rr::rdata::{A, NS, TXT};
    use hickory_proto::rr::{Name, RData, RecordType};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).expect("name")
    }

    fn meta() -> Metadata {
        let mut m = Metadata::new(7, MessageType::Response, OpCode::Query);
        m.authoritative = true;
        m
    }

    fn txt(owner: &str, len: usize) -> Record {
        Record::from_rdata(name(owner), 60, RData::TXT(TXT::new(vec!["x".repeat(len)])))
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A::new(192, 0, 2, last)))
    }

    fn encode(sections: Sections<'_>, edns: Option<&Edns>, limit: u16) -> Message {
        let q = Query::query(name("t.example."), RecordType::TXT);
        let mut out = Vec::new();
        response(&meta(), Some(&q), sections, edns, limit, &mut out).expect("encodes");
        assert!(out.len() <= usize::from(limit), "{} > {limit}", out.len());
        // Parsing the whole buffer proves nothing rolled back was left behind it.
        Message::from_vec(&out).expect("the response parses with no bytes left over")
    }

    #[test]
    fn an_answer_that_does_not_fit_truncates_to_question_and_opt() {
        let answers = vec![txt("t.example.", 200), txt("t.example.", 201)];
        let edns = Edns::new();
        let m = encode(
            Sections {
                answers: &answers,
                ..Default::default()
            },
            Some(&edns),
            400,
        );
        assert!(m.metadata.truncation);
        assert!(m.answers.is_empty());
        assert_eq!(m.queries.len(), 1);
        assert!(m.edns.is_some(), "OPT kept in a truncated response");
    }

    #[test]
    fn the_opt_is_counted_before_the_answer_and_no_tc_when_both_fit() {
        let answers = vec![txt("t.example.", 200)];
        let edns = Edns::new();
        let whole = encode(
            Sections {
                answers: &answers,
                ..Default::default()
            },
            Some(&edns),
            1232,
        );
        let mut out = Vec::new();
        let q = Query::query(name("t.example."), RecordType::TXT);
        let sections = Sections {
            answers: &answers,
            ..Default::default()
        };
        response(&meta(), Some(&q), sections, Some(&edns), 1232, &mut out).expect("encodes");
        let exact = u16::try_from(out.len()).expect("small");
        assert!(!whole.metadata.truncation);
        let m = encode(sections, Some(&edns), exact);
        assert!(!m.metadata.truncation, "fits exactly with its OPT");
        assert_eq!(m.answers.len(), 1);
        let m = encode(sections, Some(&edns), exact - 1);
        assert!(m.metadata.truncation, "one byte short");
        assert!(m.edns.is_some());
    }

    #[test]
    fn optional_glue_is_dropped_by_whole_rrsets_without_tc() {
        let answers = vec![txt("t.example.", 250)];
        let additional: Vec<Record> = (1..=30).map(|i| a("ns1.t.example.", i)).collect();
        let mut more = additional.clone();
        more.push(a("ns2.t.example.", 1));
        let m = encode(
            Sections {
                answers: &answers,
                additional: &more,
                ..Default::default()
            },
            None,
            512,
        );
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 1);
        let names: Vec<String> = m.additionals.iter().map(|r| r.name.to_string()).collect();
        assert_eq!(
            names,
            vec!["ns2.t.example."],
            "the big set left whole, the small one in"
        );
    }

    #[test]
    fn names_are_sized_compressed_against_the_limit() {
        // A CNAME to a 255-octet name, then that name's A record: its owner is a pointer
        // (2 octets), though written out it would take 255 and pass 512.
        // 3 × 64 + 52 + 11 octets: 255 (one more is refused as too long).
        let long = format!("{0}.{0}.{0}.{1}.t.example.", "a".repeat(63), "a".repeat(51));
        let answers = vec![
            Record::from_rdata(
                name("t.example."),
                60,
                RData::CNAME(hickory_proto::rr::rdata::CNAME(name(&long))),
            ),
            Record::from_rdata(name(&long), 60, RData::A(A::new(192, 0, 2, 1))),
        ];
        let sections = Sections {
            answers: &answers,
            ..Default::default()
        };
        let m = encode(sections, None, 512);
        assert!(!m.metadata.truncation);
        assert_eq!(m.answers.len(), 2);
    }

    #[test]
    fn required_referral_glue_that_does_not_fit_sets_tc() {
        let authority = vec![Record::from_rdata(
            name("sub.t.example."),
            60,
            RData::NS(NS(name("ns.sub.t.example."))),
        )];
        let glue: Vec<Record> = (1..=40).map(|i| a("ns.sub.t.example.", i)).collect();
        let m = encode(
            Sections {
                authority: &authority,
                additional: &glue,
                required_additional: glue.len(),
                ..Default::default()
            },
            None,
            512,
        );
        assert!(m.metadata.truncation);
        assert!(m.authorities.is_empty());
    }
}
