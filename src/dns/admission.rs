//! Admission: what a query must pass before it is answered, apart from answering it. The
//! refusals that need no zone, ranked as the RFCs rank them (NOTIMP, FORMERR, BADVERS,
//! BADCOOKIE, TSIG's NOTAUTH, REFUSED); a signed query's TSIG checked with the transfer key;
//! and response rate limiting of what goes out over UDP.

use std::sync::Arc;

use hickory_proto::op::{Header, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};

use super::context::{Received, Sent, Transport};
use super::lookup;
use super::rrl::{self, Limiter};
use crate::wire::scan::Scan;
use crate::wire::tsig::{self, Key, Rejected, Request};

/// A query's TSIG: `Ok(None)` unsigned (or misplaced, refused as FORMERR), `Ok(Some)` verified
/// with the key, `Err` rejected.
pub(crate) type Signed<'k> = Result<Option<(&'k Key, Request)>, Rejected>;

/// A signed query is verified with the transfer key; without one it gets BADKEY.
pub(crate) fn verify_tsig<'k>(bytes: &[u8], scan: &Scan<'_>, key: Option<&'k Key>) -> Signed<'k> {
    match (scan.tsig, key) {
        _ if scan.tsig_misplaced => Ok(None),
        (None, _) => Ok(None),
        (Some(t), Some(key)) => tsig::verify_query(bytes, &t, key).map(Some),
        (Some(_), None) => Err(Rejected::Unsigned(tsig::BADKEY)),
    }
}

/// What the refusals look at besides the header and the scan.
pub(crate) struct Checked<'a, 'k> {
    pub question: Option<&'a Query>,
    pub qtype: RecordType,
    /// An EDNS option is malformed.
    pub bad_option: bool,
    /// The cookie policy wants BADCOOKIE.
    pub bad_cookie: bool,
    pub signed: &'a Signed<'k>,
}

/// Refusals that need no zone, in the order the RFCs rank them; `None` admits the query.
pub(crate) fn refusal(
    header: &Header,
    bytes: &[u8],
    scan: &Scan<'_>,
    c: &Checked<'_, '_>,
) -> Option<ResponseCode> {
    if header.metadata.op_code != OpCode::Query {
        Some(ResponseCode::NotImp)
    } else if header.counts.queries != 1 || c.question.is_none() || !decodes(bytes) {
        Some(ResponseCode::FormErr)
    } else if scan.opt.is_some_and(|o| o.version > 0) {
        Some(ResponseCode::BADVERS)
    } else if c.bad_option {
        Some(ResponseCode::FormErr)
    } else if c.bad_cookie {
        Some(ResponseCode::BADCOOKIE)
    } else if scan.tsig_misplaced || matches!(c.signed, Err(Rejected::Malformed)) {
        Some(ResponseCode::FormErr)
    } else if c.signed.is_err() {
        Some(ResponseCode::NotAuth)
    } else if c.question.is_some_and(|q| q.query_class() != DNSClass::IN)
        || lookup::refused_qtype(c.qtype)
    {
        Some(ResponseCode::Refused)
    } else {
        None
    }
}

/// The unsigned TSIG record a refusal carries: the TSIG error of a NOTAUTH, or BADSIG for a
/// MAC too short (FORMERR with an unsigned BADSIG, as BIND answers it).
pub(crate) fn unsigned_tsig(
    signed: &Signed<'_>,
    bytes: &[u8],
    scan: &Scan<'_>,
    id: u16,
) -> Option<Record> {
    match (signed, scan.tsig) {
        (Err(Rejected::Unsigned(e)), Some(t)) => tsig::unsigned_error(bytes, &t, id, *e),
        (Err(Rejected::Malformed), Some(t)) => tsig::unsigned_error(bytes, &t, id, tsig::BADSIG),
        _ => None,
    }
}

/// Response rate limiting: a UDP response from an unproven, non-exempt source goes through
/// the limiter (which may drop it or turn it into a slip); `false` when nothing is to be sent.
pub(crate) fn rate_limit(
    rrl: Option<&Arc<Limiter>>,
    query: &Received<'_>,
    sent: &Sent,
    out: &mut Vec<u8>,
) -> bool {
    match rrl {
        Some(rrl)
            if query.transport == Transport::Udp && !sent.proven && !rrl.exempt(query.src.ip()) =>
        {
            rrl::response::limit(rrl, query.src.ip(), sent.zone, out)
        }
        _ => true,
    }
}

/// True when hickory decodes the whole message.
fn decodes(bytes: &[u8]) -> bool {
    Message::from_vec(bytes).is_ok()
}
