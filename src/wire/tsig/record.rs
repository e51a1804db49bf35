//! The TSIG record's bytes (RFC 8945 §4): reading a request's fields, the variables the MAC
//! covers, and appending a record to a message.

use hickory_proto::rr::Name;

use super::{CLASS_ANY, FUDGE, HMAC_SHA256, TSIG_TYPE};

/// The parts of a TSIG record's RDATA.
pub(super) struct Fields {
    pub key: Name,
    pub algorithm: Name,
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

/// Reads the TSIG record that starts at `owner` (its RDATA at `rdata`).
pub(super) fn fields(msg: &[u8], owner: usize, rdata: usize, rdata_len: usize) -> Option<Fields> {
    let key = crate::wire::scan::name_at(msg, owner)?;
    let algorithm = crate::wire::scan::name_at(msg, rdata)?;
    let end = rdata + rdata_len;
    let mut at = crate::wire::scan::skip_name(msg, rdata)?;
    let mut take = |n: usize| {
        let s = msg.get(at..at + n).filter(|_| at + n <= end)?;
        at += n;
        Some(s)
    };
    let t = take(6)?;
    let time = t.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let fudge = u16::from_be_bytes(take(2)?.try_into().ok()?);
    let mac_len = usize::from(u16::from_be_bytes(take(2)?.try_into().ok()?));
    let mac = take(mac_len)?.to_vec();
    let original_id = u16::from_be_bytes(take(2)?.try_into().ok()?);
    let error = u16::from_be_bytes(take(2)?.try_into().ok()?);
    let other_len = usize::from(u16::from_be_bytes(take(2)?.try_into().ok()?));
    let other = take(other_len)?.to_vec();
    Some(Fields {
        key,
        algorithm,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

/// Canonical wire form of a name: lower case, uncompressed.
fn wire_name(out: &mut Vec<u8>, name: &Name) {
    for label in name.to_lowercase().iter() {
        out.push(u8::try_from(label.len()).unwrap_or(63));
        out.extend_from_slice(label);
    }
    out.push(0);
}

pub(super) fn time48(out: &mut Vec<u8>, time: u64) {
    out.extend_from_slice(&time.to_be_bytes()[2..]);
}

/// The TSIG variables of §4.3.3 (key name … other data).
pub(super) fn variables(
    out: &mut Vec<u8>,
    key: &Name,
    time: u64,
    fudge: u16,
    error: u16,
    other: &[u8],
) {
    wire_name(out, key);
    out.extend_from_slice(&CLASS_ANY.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    wire_name(out, &alg_name());
    time48(out, time);
    out.extend_from_slice(&fudge.to_be_bytes());
    out.extend_from_slice(&error.to_be_bytes());
    out.extend_from_slice(&u16::try_from(other.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(other);
}

pub(super) fn alg_name() -> Name {
    Name::from_ascii(HMAC_SHA256).unwrap_or_else(|_| Name::root())
}

/// `msg` as it was before the TSIG record was added: cut at it, ARCOUNT one less, the ID the
/// signer used.
pub(super) fn unsigned(msg: &[u8], owner: usize, original_id: u16) -> Option<Vec<u8>> {
    let mut m = msg.get(..owner)?.to_vec();
    let ar = u16::from_be_bytes([*m.get(10)?, *m.get(11)?]).checked_sub(1)?;
    m[10..12].copy_from_slice(&ar.to_be_bytes());
    m[..2].copy_from_slice(&original_id.to_be_bytes());
    Some(m)
}

/// Appends a TSIG record (with `mac`, possibly empty) and bumps ARCOUNT.
pub fn append(
    msg: &mut Vec<u8>,
    key: &Name,
    now: u64,
    mac: &[u8],
    original_id: u16,
    error: u16,
    other: &[u8],
) {
    let mut rdata = Vec::with_capacity(64 + mac.len());
    wire_name(&mut rdata, &alg_name());
    time48(&mut rdata, now);
    rdata.extend_from_slice(&FUDGE.to_be_bytes());
    tail(&mut rdata, mac, original_id, error, other);
    append_rdata(msg, key, &rdata);
}

/// Appends the unsigned TSIG record of an error response (BADKEY, BADSIG, BADTRUNC) to the
/// request `req` whose TSIG is at `owner`/`rdata`: its key and algorithm names, time signed,
/// fudge and original ID echoed, no MAC (§5.3.2). Nothing when the request's TSIG does not
/// parse.
pub fn append_error(
    msg: &mut Vec<u8>,
    req: &[u8],
    owner: usize,
    rdata: usize,
    rdata_len: usize,
    error: u16,
) {
    let Some(f) = fields(req, owner, rdata, rdata_len) else {
        return;
    };
    let mut r = Vec::with_capacity(64);
    wire_name(&mut r, &f.algorithm);
    time48(&mut r, f.time);
    r.extend_from_slice(&f.fudge.to_be_bytes());
    tail(&mut r, &[], f.original_id, error, &[]);
    append_rdata(msg, &f.key, &r);
}

/// MAC size, MAC, original ID, error, other length, other data.
fn tail(rdata: &mut Vec<u8>, mac: &[u8], original_id: u16, error: u16, other: &[u8]) {
    rdata.extend_from_slice(&u16::try_from(mac.len()).unwrap_or(0).to_be_bytes());
    rdata.extend_from_slice(mac);
    rdata.extend_from_slice(&original_id.to_be_bytes());
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&u16::try_from(other.len()).unwrap_or(0).to_be_bytes());
    rdata.extend_from_slice(other);
}

/// Appends a TSIG record with `rdata` owned by `key` and bumps ARCOUNT.
fn append_rdata(msg: &mut Vec<u8>, key: &Name, rdata: &[u8]) {
    if msg.len() < 12 {
        return;
    }
    wire_name(msg, key);
    msg.extend_from_slice(&TSIG_TYPE.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    msg.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
    msg.extend_from_slice(rdata);
    let ar = u16::from_be_bytes([msg[10], msg[11]]).saturating_add(1);
    msg[10..12].copy_from_slice(&ar.to_be_bytes());
}
