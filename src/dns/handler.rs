//! One query in, one response out: header and EDNS rules around [`lookup::resolve`], on
//! hickory-proto's wire types. Transport-free, so UDP and TCP share it.
//!
//! Reads the published snapshot (one atomic load), never waits on a lock or I/O, never panics:
//! a request it cannot parse past the header gets FORMERR; one shorter than a header, or a
//! response, is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{
    Edns, Header, HeaderCounts, Message, MessageType, Metadata, OpCode, Query, ResponseCode,
};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{DNSClass, LowerName, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use rand::Rng;
use tracing::warn;

use super::encode::{self, Sections};
use super::lookup::{self, Question};
use super::rrl::{self, Limiter, RrlConfig};
use super::{cookie, fast};
use crate::wire::scan::{self, Ecs, Opt, Scan};
use crate::wire::{padding, tsig};

mod xfr;
use crate::health::{Shared, Snapshot};
use crate::select::ClientKey;
use crate::telemetry;
pub use xfr::{MAX_TRANSFERS, XfrAccess};

/// The length of a DNS header.
const HEADER_LEN: usize = 12;

pub use crate::wire::size::MAX_UDP_PAYLOAD;

/// Which transport a query came on (it bounds the response size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// DNS over TLS (port 853).
    Tls,
    /// DNS over QUIC (port 853).
    Quic,
}

impl Transport {
    /// Its index in [`Transport::NAMES`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Every transport's name, as metrics and `/status` label it.
    pub const NAMES: [&'static str; 4] = ["udp", "tcp", "tls", "quic"];
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
    cookies: cookie::Shared,
    require_cookies: bool,
    rrl: Option<Arc<Limiter>>,
    xfr: Option<XfrAccess>,
    /// Slots for transfers in progress ([`MAX_TRANSFERS`]).
    transfers: Arc<tokio::sync::Semaphore>,
}

/// What the fast or the full path sent, for rate limiting.
pub(super) struct Sent {
    /// The zone that answered, if any.
    pub zone: Option<usize>,
    /// True when the query's source is proven, so its response is never rate limited: it
    /// showed a valid server cookie, or its TSIG verified with the transfer key (its sender
    /// holds the key; a limited reply would go out as an unsigned slip, which RFC 8945 §5.3
    /// forbids and a secondary drops).
    pub proven: bool,
}

/// Everything one query is answered from, read once per query.
pub(super) struct Context<'a> {
    pub snap: &'a Snapshot,
    /// Read only for a query that carries a cookie.
    pub cookies: &'a cookie::Shared,
    /// Answer BADCOOKIE over UDP to a client cookie without a valid server cookie.
    pub require_cookies: bool,
    /// Seconds since the epoch for cookie timestamps; `None` reads the clock, and only for a
    /// query that carries a cookie.
    pub now: Option<u32>,
    /// The TSIG key signed queries are verified with (the transfer key), when there is one.
    pub key: Option<&'a tsig::Key>,
}

impl Context<'_> {
    /// The COOKIE reply to a well-formed cookie option; `Err` when policy wants BADCOOKIE.
    pub fn cookie(
        &self,
        cookie: Option<&[u8]>,
        query: &Received<'_>,
    ) -> Result<Option<cookie::Reply>, cookie::Reply> {
        let Some(c) = cookie else { return Ok(None) };
        let now = self.now.unwrap_or_else(cookie::now);
        let reply = cookie::reply(&self.cookies.load(), c, query.src.ip(), now);
        if self.require_cookies && !reply.valid && query.transport == Transport::Udp {
            return Err(reply);
        }
        Ok(Some(reply))
    }
}

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

/// The most a response may take: the client's EDNS payload size (`None` without EDNS) on UDP,
/// at least 512 (RFC 1035) and at most what gslbd advertises; the TCP frame limit on TCP.
pub(super) fn size_limit(transport: Transport, payload: Option<u16>) -> u16 {
    match transport {
        Transport::Udp => payload.map_or(512, |p| p.clamp(512, MAX_UDP_PAYLOAD)),
        Transport::Tcp | Transport::Tls | Transport::Quic => u16::MAX,
    }
}

impl Handler {
    /// A handler with a random cookie secret that does not require cookies.
    pub fn new(shared: Shared) -> Self {
        let cookies =
            std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(cookie::Secrets::random()));
        Handler {
            shared,
            cookies,
            require_cookies: false,
            rrl: None,
            xfr: None,
            transfers: Arc::new(tokio::sync::Semaphore::new(MAX_TRANSFERS)),
        }
    }

    /// Serves zone transfers (and verifies TSIG-signed queries) with `xfr`.
    pub fn with_xfr(mut self, xfr: XfrAccess) -> Self {
        self.xfr = Some(xfr);
        self
    }

    /// Limits UDP responses by `config` (none when its rate is 0).
    pub fn with_rrl(mut self, config: RrlConfig) -> Self {
        self.rrl = Limiter::new(config).map(Arc::new);
        self
    }

    /// Makes server cookies with `cookies`; with `require`, UDP queries with a client cookie
    /// but no valid server cookie get BADCOOKIE (RFC 7873 §5.2.3).
    pub fn with_cookies(mut self, cookies: cookie::Shared, require: bool) -> Self {
        self.cookies = cookies;
        self.require_cookies = require;
        self
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
        let ctx = Context {
            snap: &snap,
            cookies: &self.cookies,
            require_cookies: self.require_cookies,
            now: None,
            key: self.xfr.as_ref().and_then(|x| x.config.key.as_deref()),
        };
        telemetry::transport_query(query.transport.index());
        let sent = if let Some(sent) = self.ixfr_over_udp(query, out) {
            sent
        } else {
            match fast::respond(&ctx, query, rng, out) {
                Some(sent) => sent,
                None => match full(&ctx, query, rng, out) {
                    Some(sent) => sent,
                    None => return false,
                },
            }
        };
        if matches!(query.transport, Transport::Tls | Transport::Quic)
            && padding::requested(query.bytes)
        {
            padding::pad(out, usize::from(size_limit(query.transport, None)));
        }
        match &self.rrl {
            Some(rrl)
                if query.transport == Transport::Udp
                    && !sent.proven
                    && !rrl.exempt(query.src.ip()) =>
            {
                rrl::response::limit(rrl, query.src.ip(), sent.zone, out)
            }
            _ => true,
        }
    }
}

/// The full path: the raw scan and hickory-proto decode the query, [`lookup::resolve`] answers
/// it, [`encode`] writes the response.
pub(super) fn full<R: Rng + ?Sized>(
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
    let signed = match (scan.tsig, ctx.key) {
        _ if scan.tsig_misplaced => Ok(None),
        (None, _) => Ok(None),
        (Some(t), Some(key)) => tsig::verify_query(bytes, &t, key).map(Some),
        (Some(_), None) => Err(tsig::Rejected::Unsigned(tsig::BADKEY)),
    };
    if let Ok(Some((k, _))) = &signed {
        let room = u16::try_from(k.record_len(0)).unwrap_or(u16::MAX);
        reply.limit = reply.limit.saturating_sub(room);
    }

    // Refusals that need no zone, in the order the RFCs rank them.
    let early = if header.metadata.op_code != OpCode::Query {
        Some(ResponseCode::NotImp)
    } else if header.counts.queries != 1 || question.is_none() || !decodes(bytes) {
        Some(ResponseCode::FormErr)
    } else if scan.opt.is_some_and(|o| o.version > 0) {
        Some(ResponseCode::BADVERS)
    } else if options.is_err() {
        Some(ResponseCode::FormErr)
    } else if cookie.is_err() {
        Some(ResponseCode::BADCOOKIE)
    } else if scan.tsig_misplaced || matches!(signed, Err(tsig::Rejected::Malformed)) {
        Some(ResponseCode::FormErr)
    } else if signed.is_err() {
        Some(ResponseCode::NotAuth)
    } else if question
        .as_ref()
        .is_some_and(|q| q.query_class() != DNSClass::IN)
        || lookup::refused_qtype(qtype)
    {
        Some(ResponseCode::Refused)
    } else {
        None
    };
    let (Some(q), None) = (question.as_ref(), early) else {
        let rcode = early.unwrap_or(ResponseCode::FormErr);
        if rcode == ResponseCode::FormErr {
            // A malformed message's cookie is not answered (RFC 7873 §5.2.2).
            reply.cookie = None;
        }
        snap.metrics.query(None, qtype, rcode);
        let unsigned = match (&signed, scan.tsig) {
            (Err(tsig::Rejected::Unsigned(e)), Some(t)) => {
                tsig::unsigned_error(bytes, &t, header.metadata.id, *e)
            }
            // A MAC too short: FORMERR with an unsigned BADSIG, as BIND answers it.
            (Err(tsig::Rejected::Malformed), Some(t)) => {
                tsig::unsigned_error(bytes, &t, header.metadata.id, tsig::BADSIG)
            }
            _ => None,
        };
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
        snap.metrics.answer(d.zone, d.pool, &d.selection);
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
pub(super) fn first_question(bytes: &[u8]) -> Option<Query> {
    let mut d = BinDecoder::new(bytes);
    d.read_slice(HEADER_LEN).ok()?;
    Query::read(&mut d).ok()
}

/// True when hickory decodes the whole message.
fn decodes(bytes: &[u8]) -> bool {
    Message::from_vec(bytes).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
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
