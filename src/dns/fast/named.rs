//! The fast path's answers with names to compress: negative answers (the zone's SOA in
//! authority) and static SOA, NS and MX sets with their glue. Names are written through
//! [`Compressor`], which makes hickory's choices, so the bytes are the full path's.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::{CLASS_IN, Plain, header, opt};
use crate::dns::context::{Context, Received, Sent, size_limit};
use crate::dns::cookie;
use crate::wire::compress::{self, Compressor};
use crate::wire::scan::HEADER_LEN;
use crate::zone::wire::{Piece, Template};

const SOA_TYPE: u16 = 6;

/// A static answer from the index, with its zone.
pub(super) struct Records<'i> {
    pub zone: usize,
    pub answers: &'i [Template],
    pub additional: &'i [Template],
}

/// Answers with static SOA, NS or MX records and their glue; `None` when the response would
/// not fit whole (the full path then drops glue or truncates).
pub(super) fn respond(
    ctx: &Context<'_>,
    received: &Received<'_>,
    plain: &Plain<'_>,
    cookie: Option<cookie::Reply>,
    records: Records<'_>,
    out: &mut Vec<u8>,
) -> Option<Sent> {
    let snap = ctx.snap;
    let query = received.bytes;
    let counts = [
        u16::try_from(records.answers.len()).ok()?,
        0,
        u16::try_from(records.additional.len()).ok()?,
    ];
    header(query, plain, ResponseCode::NoError, counts, out)?;
    let question = compress::labels(query.get(HEADER_LEN..plain.question_end - 4)?);
    let mut names = Compressor::new();
    names.written(HEADER_LEN, question);
    let serial = snap.serial(records.zone);
    for t in records.answers.iter().chain(records.additional) {
        write(t, question, serial, &mut names, out)?;
    }
    finish(
        ctx,
        received,
        plain,
        cookie,
        records.zone,
        ResponseCode::NoError,
        out,
    )
}

/// A negative answer (NXDOMAIN, or NODATA with `rcode` NOERROR): the zone's SOA in authority
/// with the negative-caching TTL.
pub(super) fn negative(
    ctx: &Context<'_>,
    received: &Received<'_>,
    plain: &Plain<'_>,
    cookie: Option<cookie::Reply>,
    zone: usize,
    rcode: ResponseCode,
    out: &mut Vec<u8>,
) -> Option<Sent> {
    let snap = ctx.snap;
    let soa = snap.zones.wire.negative(zone)?;
    let query = received.bytes;
    header(query, plain, rcode, [0, 1, 0], out)?;
    let mut names = Compressor::new();
    names.written(
        HEADER_LEN,
        compress::labels(query.get(HEADER_LEN..plain.question_end - 4)?),
    );
    names.name(&soa.owner, out);
    out.extend_from_slice(&SOA_TYPE.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&soa.ttl.to_be_bytes());
    let rdlen_at = out.len();
    out.extend_from_slice(&[0, 0]);
    names.name(&soa.mname, out);
    names.name(&soa.rname, out);
    // A transferred zone's SOA carries its published serial.
    let serial = snap.serial(zone).unwrap_or(soa.serial);
    out.extend_from_slice(&serial.to_be_bytes());
    out.extend_from_slice(&soa.timers);
    patch_rdlen(rdlen_at, out)?;
    finish(ctx, received, plain, cookie, zone, rcode, out)
}

/// Writes one record from its template: the owner (`None`: the question), then the RDATA with
/// its names compressed and `serial` (a transferred zone's) in place of a SOA's own.
fn write<'a>(
    t: &'a Template,
    question: &'a [u8],
    serial: Option<u32>,
    names: &mut Compressor<'a>,
    out: &mut Vec<u8>,
) -> Option<()> {
    names.name(t.owner.as_deref().unwrap_or(question), out);
    out.extend_from_slice(&t.fixed);
    let rdlen_at = out.len();
    out.extend_from_slice(&[0, 0]);
    for piece in &t.rdata {
        match piece {
            Piece::Bytes(b) => out.extend_from_slice(b),
            Piece::Name(n) => names.name(n, out),
            Piece::Serial(own) => out.extend_from_slice(&serial.unwrap_or(*own).to_be_bytes()),
        }
    }
    patch_rdlen(rdlen_at, out)
}

fn patch_rdlen(at: usize, out: &mut [u8]) -> Option<()> {
    let len = u16::try_from(out.len().checked_sub(at + 2)?).ok()?;
    out.get_mut(at..at + 2)?.copy_from_slice(&len.to_be_bytes());
    Some(())
}

/// Adds the OPT (scope 0: no client decided these answers), checks the size limit and counts
/// the query.
fn finish(
    ctx: &Context<'_>,
    received: &Received<'_>,
    plain: &Plain<'_>,
    cookie: Option<cookie::Reply>,
    zone: usize,
    rcode: ResponseCode,
    out: &mut Vec<u8>,
) -> Option<Sent> {
    opt(plain, 0, cookie.as_ref(), out);
    let limit = usize::from(size_limit(received.transport, plain.edns.map(|(p, _)| p)));
    if out.len() > limit {
        return None;
    }
    ctx.snap
        .metrics
        .query(Some(zone), RecordType::from(plain.qtype), rcode);
    Some(Sent {
        zone: Some(zone),
        proven: cookie.is_some_and(|c| c.valid),
    })
}
