//! TSIG-signed queries (RFC 8945) on the query path. With a transfer key configured a signed
//! query is verified with it and its response signed (secondaries sign their SOA queries);
//! otherwise, or with another key, it gets NOTAUTH with TSIG error BADKEY, unsigned (§5.2.1),
//! instead of an answer a client would take as verified.

use super::{Key, Rejected, Request, Signer};

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::wire::scan::{Scan, Tsig, name_at, skip_name};

/// Verifies a signed query with `key`.
pub fn verify_query<'k>(
    msg: &[u8],
    t: &Tsig,
    key: &'k Key,
) -> Result<(&'k Key, Request), Rejected> {
    super::verify(
        msg,
        t.owner,
        t.rdata,
        t.rdata_len,
        std::slice::from_ref(key),
        super::now(),
    )
}

/// Signs the response in `out` when its query verified (error 0), or when its error is
/// answered signed (BADTIME: the query's time signed echoed and the server's time as other
/// data; BADTRUNC); otherwise leaves it as it is.
pub fn sign_response(
    signed: &Result<Option<(&Key, Request)>, Rejected>,
    key: Option<&Key>,
    out: &mut Vec<u8>,
) {
    let now = super::now();
    match (signed, key) {
        (Ok(Some((k, req))), _) => Signer::response(k, req).sign(out, now, 0, &[]),
        (Err(rejected), Some(k)) => {
            if let Some((req, time, error, other)) = rejected.signed_error(now) {
                Signer::response(k, &req).sign(out, time, error, &other);
            }
        }
        _ => {}
    }
}

/// True when the response `msg` is signed with TSIG error 0 and no other data: gslbd signs
/// so only a response to a query that verified.
pub fn verified_response(msg: &[u8]) -> bool {
    Scan::of(msg).tsig.is_some_and(|t| {
        let end = t.rdata + t.rdata_len;
        // The rdata ends with the original ID, the error and the other data's length.
        end >= t.rdata + 6 && msg.get(end - 4..end) == Some(&[0u8, 0, 0, 0][..])
    })
}

/// The unsigned TSIG record of a NOTAUTH response (`error`: BADKEY or BADSIG) to the query
/// `msg`: the query's key and algorithm names, its time signed and fudge, an empty MAC, its
/// ID; `None` when the query's TSIG does not parse (the response then carries none).
pub fn unsigned_error(msg: &[u8], tsig: &Tsig, id: u16, error: u16) -> Option<Record> {
    let key = name_at(msg, tsig.owner)?;
    let rdata = msg.get(tsig.rdata..tsig.rdata + tsig.rdata_len)?;
    let algorithm = name_at(msg, tsig.rdata)?;
    let alg_len = skip_name(msg, tsig.rdata)? - tsig.rdata;
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
    out.extend_from_slice(&error.to_be_bytes());
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
