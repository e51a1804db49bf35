//! One query in, one response out: header and EDNS rules around [`lookup::resolve`], on
//! hickory-proto's wire types. Transport-free, so UDP and TCP share it.
//!
//! Reads the published snapshot (one atomic load), never waits on a lock or I/O, never panics:
//! a request it cannot parse past the header gets FORMERR; one shorter than a header, or a
//! response, is dropped.

use std::net::SocketAddr;
use std::time::Instant;

use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
    emit_message_parts,
};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsCode, EdnsOption};
use hickory_proto::rr::{DNSClass, LowerName, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use rand::Rng;

use super::fast;
use super::lookup::{self, Question};
use crate::health::{Shared, Snapshot};
use crate::select::ClientKey;

/// The UDP payload size gslbd advertises (the DNS flag day 2020 value).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// Which transport a query came on (it bounds the response size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// One query as it arrived: its bytes, its source and its transport.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub bytes: &'a [u8],
    pub src: SocketAddr,
    pub transport: Transport,
}

/// Answers queries from the published snapshot.
#[derive(Clone)]
pub struct Handler {
    shared: Shared,
}

/// The OPT record of a response: our payload size, the DO bit echoed (RFC 3225), ECS echoed
/// with its scope (RFC 7871).
fn response_edns(req: &Edns, ecs_scope: Option<u8>) -> Edns {
    let mut edns = Edns::new();
    edns.set_version(0);
    edns.set_max_payload(MAX_UDP_PAYLOAD);
    edns.set_dnssec_ok(req.flags().dnssec_ok);
    if let (Some(EdnsOption::Subnet(ecs)), Some(scope)) = (req.option(EdnsCode::Subnet), ecs_scope)
    {
        let mut echo = ClientSubnet::new(ecs.addr(), ecs.source_prefix(), 0);
        echo.set_scope_prefix(scope);
        edns.options_mut().insert(EdnsOption::Subnet(echo));
    }
    edns
}

/// The client key: ECS when present, the source address otherwise.
fn client_of(edns: Option<&Edns>, src: SocketAddr) -> (ClientKey, bool) {
    match edns.and_then(|e| e.option(EdnsCode::Subnet)) {
        Some(EdnsOption::Subnet(s)) => (ClientKey::from_ecs(s.addr(), s.source_prefix()), true),
        _ => (ClientKey::from_source(src.ip()), false),
    }
}

/// The most a response may take: the client's EDNS payload size (`None` without EDNS) on UDP,
/// at least 512 (RFC 1035) and at most what gslbd advertises; the TCP frame limit on TCP.
pub(super) fn size_limit(transport: Transport, payload: Option<u16>) -> u16 {
    match transport {
        Transport::Tcp => u16::MAX,
        Transport::Udp => payload.map_or(512, |p| p.clamp(512, MAX_UDP_PAYLOAD)),
    }
}

impl Handler {
    pub fn new(shared: Shared) -> Self {
        Handler { shared }
    }

    /// Writes the response to `query` into `out` (cleared first); `false` when nothing must
    /// be sent.
    pub fn respond<R: Rng + ?Sized>(
        &self,
        query: Received<'_>,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> bool {
        let snap = self.shared.load();
        if fast::respond(&snap, query, rng, out).is_some() {
            return true;
        }
        full(&snap, query, rng, out)
    }
}

/// The full path: hickory-proto decodes the query, [`lookup::resolve`] answers it, hickory
/// encodes the response.
pub(super) fn full<R: Rng + ?Sized>(
    snap: &Snapshot,
    query: Received<'_>,
    rng: &mut R,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let request = match Message::from_vec(query.bytes) {
        Ok(m) if m.metadata.message_type == MessageType::Response => return false,
        Ok(m) => m,
        Err(_) => {
            // Only the header is read again, and only for a message that did not parse.
            let Ok(header) = Header::read(&mut BinDecoder::new(query.bytes)) else {
                return false;
            };
            if header.metadata.message_type == MessageType::Response {
                return false;
            }
            snap.metrics
                .query(None, RecordType::Unknown(0), ResponseCode::FormErr);
            let mut meta = Metadata::response_from_request(&header.metadata);
            meta.response_code = ResponseCode::FormErr;
            return encode(&meta, &[], [], [], [], None, 512, out);
        }
    };
    let mut meta = Metadata::response_from_request(&request.metadata);
    let queries = &request.queries;

    // Header-level refusals first: they answer without looking at zones.
    let early = if request.metadata.op_code != OpCode::Query {
        Some(ResponseCode::NotImp)
    } else if queries.len() != 1 {
        Some(ResponseCode::FormErr)
    } else if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
        Some(ResponseCode::BADVERS)
    } else {
        None
    };
    let q = queries.first();
    let early = early.or_else(|| {
        let q = q?;
        let refused = q.query_class() != DNSClass::IN
            || matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR);
        refused.then_some(ResponseCode::Refused)
    });

    let (client, had_ecs) = client_of(request.edns.as_ref(), query.src);
    let answer = match (early, q) {
        (None, Some(q)) => {
            let name = LowerName::new(q.name());
            let question = Question {
                name: &name,
                original: q.name(),
                qtype: q.query_type(),
            };
            Some(lookup::resolve(
                snap,
                &question,
                &client,
                rng,
                Instant::now(),
            ))
        }
        _ => None,
    };

    let qtype = q.map_or(RecordType::Unknown(0), |q| q.query_type());
    let ecs_scope = match (&answer, had_ecs) {
        (Some(a), true) if a.client_specific() => Some(client.prefix),
        (_, true) => Some(0),
        _ => None,
    };
    let edns = request.edns.as_ref().map(|e| response_edns(e, ecs_scope));
    let limit = size_limit(
        query.transport,
        request.edns.as_ref().map(Edns::max_payload),
    );
    match &answer {
        None => {
            meta.response_code = early.unwrap_or(ResponseCode::ServFail);
            snap.metrics.query(None, qtype, meta.response_code);
            encode(&meta, queries, [], [], [], edns.as_ref(), limit, out)
        }
        Some(a) => {
            meta.response_code = a.rcode;
            meta.authoritative = a.authoritative;
            snap.metrics.query(a.zone, qtype, a.rcode);
            if let (Some(z), Some(d)) = (a.zone, &a.decision) {
                snap.metrics.answer(z, d.pool, &d.selection);
            }
            encode(
                &meta,
                queries,
                &a.answers,
                &a.authority,
                &a.additional,
                edns.as_ref(),
                limit,
                out,
            )
        }
    }
}

/// Encodes a response of at most `limit` bytes (hickory sets TC and drops what does not fit);
/// on an encoding error, a bare SERVFAIL.
#[allow(clippy::too_many_arguments)]
fn encode<'a, Q, A, N, D>(
    meta: &Metadata,
    queries: Q,
    answers: A,
    authority: N,
    additional: D,
    edns: Option<&Edns>,
    limit: u16,
    out: &mut Vec<u8>,
) -> bool
where
    Q: IntoIterator<Item = &'a hickory_proto::op::Query>,
    A: IntoIterator<Item = &'a Record>,
    N: IntoIterator<Item = &'a Record>,
    D: IntoIterator<Item = &'a Record>,
{
    let mut encoder = BinEncoder::new(out);
    encoder.set_max_size(limit);
    let emitted = emit_message_parts(
        meta,
        &mut queries.into_iter(),
        &mut answers.into_iter(),
        &mut authority.into_iter(),
        &mut additional.into_iter(),
        edns,
        None,
        &mut encoder,
    );
    if emitted.is_ok() {
        return true;
    }
    out.clear();
    let mut meta = *meta;
    meta.response_code = ResponseCode::ServFail;
    let header = Header {
        metadata: meta,
        counts: HeaderCounts::default(),
    };
    header.emit(&mut BinEncoder::new(out)).is_ok()
}
