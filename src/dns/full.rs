//! The full path: one query in, one response out, on hickory-proto's wire types, with the
//! header and EDNS rules around [`lookup::resolve`]. Admission ([`admission`]) decides the
//! refusals; [`encode`] writes the response.
//!
//! Never panics: a request it cannot parse past the header gets FORMERR; one shorter than a
//! header, or a response, is dropped.

use std::time::Instant;

use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{LowerName, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use rand::Rng;
use tracing::warn;

use super::admission;
use super::context::{Context, MAX_UDP_PAYLOAD, Received, Sent, Transport, size_limit};
use super::cookie;
use super::encode::{self, Sections};
use super::lookup::{self, Question};
use crate::select::ClientKey;
use crate::wire::scan::HEADER_LEN;
use crate::wire::scan::{self, Ecs, Opt, Scan};
use crate::wire::tsig;

/// The OPT record of a response: our payload size, the DO bit echoed (RFC 3225), ECS echoed
/// with its scope (RFC 7871).
fn response_edns(req: &Opt<'_>, ecs: Option<(Ecs, u8)>, cookie: Option<&cookie::Reply>) -> Edns {
    let mut edns = Edns::new();
    edns.set_version(0);
    edns.set_max_payload(MAX_UDP_PAYLOAD);
    edns.set_dnssec_ok(req.dnssec_ok);
    if let Some((ecs, scope)) = ecs {
        let mut echo = ClientSubnet::new(ecs.addr, ecs.source_prefix, 0);
        echo.set_scope_prefix(scope);
        edns.options_mut().insert(EdnsOption::Subnet(echo));
    }
    if let Some(c) = cookie {
        edns.options_mut()
            .insert(EdnsOption::Unknown(scan::OPTION_COOKIE, c.option.to_vec()));
    }
    edns
}

/// The full path: the raw scan and hickory-proto decode the query, [`lookup::resolve`] answers
/// it, [`encode`] writes the response.
pub(crate) fn full<R: Rng + ?Sized>(
    ctx: &Context<'_>,
    query: Received<'_>,
    rng: &mut R,
    out: &mut Vec<u8>,
) -> Option<Sent> {
    let snap = ctx.snap;
    out.clear();
    let bytes = query.bytes;
    let header = Header::read(&mut BinDecoder::new(bytes)).ok()?;
    if header.metadata.message_type == MessageType::Response {
        return None;
    }
    let scan = Scan::of(bytes);
    let question = scan.question_end.and_then(|_| first_question(bytes));
    let qtype = question
        .as_ref()
        .map_or(RecordType::Unknown(0), Query::query_type);
    let options = scan.opt.map(|o| scan::options(o.options)).transpose();
    let cookie = ctx.cookie(options.ok().flatten().and_then(|o| o.cookie), &query);
    let mut reply = Reply {
        meta: Metadata::response_from_request(&header.metadata),
        question: question.as_ref(),
        opt: scan.opt,
        cookie: match cookie {
            Ok(c) => c,
            Err(c) => Some(c),
        },
        limit: size_limit(query.transport, scan.opt.map(|o| o.payload)),
    };
    // A signed query is verified with the transfer key (without one: BADKEY), and its
    // response signed, so room is kept for the TSIG record: its real length for the key (an
    // 80-byte TSIG for a short key name; a fixed 160 truncated answers that fit).
    let signed = admission::verify_tsig(bytes, &scan, ctx.key);
    if let Ok(Some((k, _))) = &signed {
        let room = u16::try_from(k.record_len(0)).unwrap_or(u16::MAX);
        reply.limit = reply.limit.saturating_sub(room);
    }

    let checked = admission::Checked {
        question: question.as_ref(),
        qtype,
        bad_option: options.is_err(),
        bad_cookie: cookie.is_err(),
        signed: &signed,
    };
    let early = admission::refusal(&header, bytes, &scan, &checked);
    let (Some(q), None) = (question.as_ref(), early) else {
        let rcode = early.unwrap_or(ResponseCode::FormErr);
        if rcode == ResponseCode::FormErr {
            // A malformed message's cookie is not answered (RFC 7873 §5.2.2).
            reply.cookie = None;
        }
        snap.metrics.query(None, qtype, rcode);
        let unsigned = admission::unsigned_tsig(&signed, bytes, &scan, header.metadata.id);
        let sent = reply.refuse(rcode, unsigned.as_ref(), out);
        if sent {
            tsig::sign_response(&signed, ctx.key, out);
        }
        return sent.then_some(Sent {
            zone: None,
            proven: reply.cookie_valid() || matches!(signed, Ok(Some(_))),
        });
    };

    let ecs = options.ok().flatten().and_then(|o| o.ecs);
    let client = match ecs {
        Some(e) => ClientKey::from_ecs(e.addr, e.source_prefix),
        None => ClientKey::from_source(query.src.ip()),
    };
    let name = LowerName::new(q.name());
    let question = Question {
        name: &name,
        original: q.name(),
        qtype,
        minimal_any: query.transport == Transport::Udp,
    };
    let mut a = lookup::resolve(snap, &question, &client, rng, Instant::now());
    if let Some(serial) = a.zone.and_then(|z| snap.serial(z)) {
        // A transferred zone's SOA says which version secondaries can fetch.
        for r in a.answers.iter_mut().chain(a.authority.iter_mut()) {
            if let hickory_proto::rr::RData::SOA(soa) = &mut r.data {
                soa.serial = serial;
            }
        }
    }
    if scan.opt.is_some_and(|o| o.dnssec_ok) && !super::secure::add(snap, &mut a) {
        warn!(name = %q.name(), %qtype, "a signed zone's answer has an RRset without signatures");
    }
    let edns = scan.opt.map(|o| {
        response_edns(
            &o,
            ecs.map(|e| (e, a.client_scope())),
            reply.cookie.as_ref(),
        )
    });
    let mut meta = reply.meta;
    meta.response_code = a.rcode;
    meta.authoritative = a.authoritative;
    snap.metrics.query(a.zone, qtype, a.rcode);
    for d in &a.decisions {
        snap.metrics.answer(d.zone, d.pool, d.selection.answered());
    }
    let sections = Sections {
        answers: &a.answers,
        authority: &a.authority,
        additional: &a.additional,
        required_additional: a.required_additional,
        signature: None,
    };
    let sent = Sent {
        zone: a.zone,
        proven: reply.cookie_valid() || matches!(signed, Ok(Some(_))),
    };
    match encode::response(&meta, Some(q), sections, edns.as_ref(), reply.limit, out) {
        Ok(()) => {
            tsig::sign_response(&signed, ctx.key, out);
            Some(sent)
        }
        Err(e) => {
            warn!(error = ?e.0, name = %q.name(), %qtype, "response could not be encoded");
            snap.metrics.query(a.zone, qtype, ResponseCode::ServFail);
            reply
                .refuse(ResponseCode::ServFail, None, out)
                .then_some(sent)
        }
    }
}

/// What every response to one query shares, whatever it answers.
struct Reply<'q> {
    meta: Metadata,
    question: Option<&'q Query>,
    opt: Option<Opt<'q>>,
    cookie: Option<cookie::Reply>,
    limit: u16,
}

impl Reply<'_> {
    fn cookie_valid(&self) -> bool {
        self.cookie.is_some_and(|c| c.valid)
    }

    /// An error response: the question and an OPT when the query had them (RFC 6891 §7), no
    /// records, no `aa`; `signature` is the unsigned TSIG of a NOTAUTH. When even that cannot be
    /// encoded, the bare header.
    fn refuse(&self, rcode: ResponseCode, signature: Option<&Record>, out: &mut Vec<u8>) -> bool {
        let mut meta = self.meta;
        meta.response_code = rcode;
        meta.authoritative = false;
        let edns = self
            .opt
            .map(|o| response_edns(&o, None, self.cookie.as_ref()));
        let sections = Sections {
            signature,
            ..Sections::default()
        };
        if encode::response(
            &meta,
            self.question,
            sections,
            edns.as_ref(),
            self.limit,
            out,
        )
        .is_ok()
        {
            return true;
        }
        out.clear();
        let header = Header {
            metadata: meta,
            counts: HeaderCounts::default(),
        };
        header.emit(&mut BinEncoder::new(out)).is_ok()
    }
}

/// The first question, read on its own (the rest of the message may be malformed).
pub(crate) fn first_question(bytes: &[u8]) -> Option<Query> {
    let mut d = BinDecoder::new(bytes);
    d.read_slice(HEADER_LEN).ok()?;
    Query::read(&mut d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, OpCode};
    use hickory_proto::rr::Name;

    #[test]
    fn an_internal_error_answers_servfail_with_question_and_opt_without_aa() {
        let mut meta = Metadata::new(9, MessageType::Response, OpCode::Query);
        meta.authoritative = true;
        let q = Query::query(
            Name::from_ascii("www.t.example.").expect("name"),
            RecordType::A,
        );
        let reply = Reply {
            meta,
            question: Some(&q),
            opt: Some(Opt {
                payload: 4096,
                version: 0,
                dnssec_ok: true,
                options: &[],
                end: 0,
            }),
            cookie: None,
            limit: 1232,
        };
        let mut out = Vec::new();
        assert!(reply.refuse(ResponseCode::ServFail, None, &mut out));
        let m = Message::from_vec(&out).expect("parses");
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
        assert!(!m.metadata.authoritative);
        assert_eq!(m.queries, vec![q]);
        let edns = m.edns.expect("OPT");
        assert!(edns.flags().dnssec_ok);
        assert_eq!(edns.max_payload(), MAX_UDP_PAYLOAD);
    }
}
