//! EDNS(0) Padding of responses over the encrypted transports (RFC 7830 §4, RFC 8467 §4.1):
//! a query over DoT or DoQ that carries the Padding option gets its response padded to a
//! multiple of 468 octets, so that its length says little about the name asked. Never on port
//! 53 (the option is for encrypted transports only), never past the client's limit, and never
//! into a TSIG-signed response (the signature covers the OPT; a Padding option after it would
//! break it).

use super::scan::{self, OPTION_PADDING, Scan};

/// The block size a server pads responses to (RFC 8467 §4.1, Block-Length Padding).
pub const BLOCK: usize = 468;
/// An option's code and length.
const OPTION_HEAD: usize = 4;

/// True when `query` has an OPT record with a well-formed Padding option.
pub fn requested(query: &[u8]) -> bool {
    Scan::of(query)
        .opt
        .and_then(|o| scan::options(o.options).ok())
        .is_some_and(|o| o.padding)
}

/// Pads the response in `out` to the next multiple of [`BLOCK`] octets, or as far as `limit`
/// allows when that is less. Leaves it as it is when it has no OPT record, when a record
/// follows the OPT (a TSIG), or when not even an empty Padding option fits.
pub fn pad(out: &mut Vec<u8>, limit: usize) {
    let Some(opt) = Scan::of(out).opt else { return };
    if opt.end != out.len() {
        return;
    }
    let bare = out.len() + OPTION_HEAD;
    let target = bare.next_multiple_of(BLOCK).min(limit);
    let Some(zeros) = target.checked_sub(bare) else {
        return;
    };
    let rdlength_at = opt.end - opt.options.len() - 2;
    let Ok(rdlength) = u16::try_from(opt.options.len() + OPTION_HEAD + zeros) else {
        return;
    };
    let Ok(len) = u16::try_from(zeros) else {
        return;
    };
    out[rdlength_at..rdlength_at + 2].copy_from_slice(&rdlength.to_be_bytes());
    out.extend_from_slice(&OPTION_PADDING.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.resize(target, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Edns, Message, Query};
    use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
    use hickory_proto::rr::{Name, RecordType};

    fn response(edns: bool) -> Vec<u8> {
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii("www.t.example.").expect("name"),
            RecordType::A,
        ));
        if edns {
            let mut e = Edns::new();
            e.options_mut()
                .insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
            m.set_edns(e);
        }
        m.to_vec().expect("encodes")
    }

    fn padding_of(msg: &[u8]) -> Option<usize> {
        let m = Message::from_vec(msg).expect("parses");
        let edns = m.edns.expect("OPT");
        match edns.option(EdnsCode::Padding) {
            Some(EdnsOption::Unknown(_, data)) => Some(data.len()),
            Some(other) => panic!("{other:?}"),
            None => None,
        }
    }

    #[test]
    fn a_response_is_padded_to_the_next_block_with_its_other_options_kept() {
        let mut out = response(true);
        let before = out.len();
        pad(&mut out, usize::from(u16::MAX));
        assert_eq!(out.len(), BLOCK);
        assert_eq!(padding_of(&out), Some(BLOCK - before - OPTION_HEAD));
        let m = Message::from_vec(&out).expect("parses");
        assert!(m.edns.expect("OPT").option(EdnsCode::Cookie).is_some());
    }

    #[test]
    fn padding_stops_at_the_limit_and_needs_an_opt() {
        let mut out = response(true);
        let limit = out.len() + OPTION_HEAD + 10;
        pad(&mut out, limit);
        assert_eq!(out.len(), limit);
        assert_eq!(padding_of(&out), Some(10));
        let mut out = response(true);
        let before = out.clone();
        pad(&mut out, before.len() + 3);
        assert_eq!(out, before, "not even an empty option fits");
        let mut out = response(false);
        let before = out.clone();
        pad(&mut out, 65_535);
        assert_eq!(out, before, "no OPT, no padding");
    }

    #[test]
    fn only_a_well_formed_padding_option_asks_for_padding() {
        let mut m = Message::query();
        let mut e = Edns::new();
        e.options_mut().insert(EdnsOption::Unknown(12, vec![0; 7]));
        m.set_edns(e);
        assert!(requested(&m.to_vec().expect("encodes")));
        assert!(!requested(&response(true)));
        assert!(!requested(&response(false)));
    }
}
