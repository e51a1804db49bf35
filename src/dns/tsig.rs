//! TSIG-signed queries (RFC 8945). gslbd holds no TSIG keys yet, so every signed query gets
//! NOTAUTH with TSIG error BADKEY, unsigned (§5.2.1), instead of an answer that a client would
//! take as verified.

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};

use super::scan::Tsig;

/// TSIG error BADKEY (RFC 8945 §3).
const BADKEY: u16 = 17;

/// The unsigned TSIG record of a BADKEY response to the query `msg`: the query's key and
/// algorithm names, its time signed and fudge, an empty MAC, its ID; `None` when the query's
/// TSIG does not parse (the response then carries none).
pub fn bad_key(msg: &[u8], tsig: &Tsig, id: u16) -> Option<Record> {
    let key = name_at(msg, tsig.owner)?;
    let rdata = msg.get(tsig.rdata..tsig.rdata + tsig.rdata_len)?;
    let algorithm = name_at(msg, tsig.rdata)?;
    let alg_len = super::scan::skip_name(msg, tsig.rdata)? - tsig.rdata;
    // Time signed (6 bytes) and fudge (2) follow the algorithm name.
    let times = rdata.get(alg_len..alg_len + 8)?;
    let mut out = Vec::with_capacity(64);
    for label in algorithm.iter() {
        out.push(u8::try_from(label.len()).ok()?);
        out.extend_from_slice(label);
    }
    out.push(0);
    out.extend_from_slice(times);
    out.extend_from_slice(&0u16.to_be_bytes()); // MAC size: no MAC
    out.extend_from_slice(&id.to_be_bytes()); // original ID
    out.extend_from_slice(&BADKEY.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes()); // other data: none
    let mut record = Record::from_rdata(
        key,
        0,
        RData::Unknown {
            code: RecordType::TSIG,
            rdata: NULL::with(out),
        },
    );
    record.dns_class = DNSClass::ANY;
    Some(record)
}

/// The (possibly compressed) name at `at` in `msg`.
fn name_at(msg: &[u8], at: usize) -> Option<Name> {
    let mut d = BinDecoder::new(msg);
    d.read_slice(at).ok()?;
    Name::read(&mut d).ok()
}
