//! What the query path and transfers read of a message before (and whether or not) hickory
//! decodes it: names read and skipped, where the question ends, the OPT record and its options
//! checked by the RFCs' rules, and a TSIG record. Reading the raw bytes lets a malformed option
//! or an unknown TSIG key get its proper error with the question and an OPT, where a failed
//! decode would leave only the header.

use std::net::IpAddr;

use hickory_proto::serialize::binary::BinDecodable;

/// The length of a DNS message header (RFC 1035 §4.1.1).
pub const HEADER_LEN: usize = 12;
const OPT: u16 = 41;
const TSIG: u16 = 250;
/// EDNS option codes gslbd reads.
pub const OPTION_ECS: u16 = 8;
pub const OPTION_COOKIE: u16 = 10;
pub const OPTION_PADDING: u16 = 12;
/// The DO bit in the OPT TTL's flags (its third byte).
const DO: u8 = 0x80;

/// A query's OPT record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    pub payload: u16,
    pub version: u8,
    pub dnssec_ok: bool,
    /// The options, still encoded.
    pub options: &'a [u8],
    /// Where the record ends in the message.
    pub end: usize,
}

/// A TSIG record in a query: where its owner (the key name) and RDATA start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tsig {
    pub owner: usize,
    pub rdata: usize,
    pub rdata_len: usize,
}

/// A Client Subnet option (RFC 7871 §6), validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ecs {
    pub addr: IpAddr,
    pub source_prefix: u8,
}

/// What the scan found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scan<'a> {
    /// The end of the first question, when the query has one that is complete.
    pub question_end: Option<usize>,
    pub opt: Option<Opt<'a>>,
    /// Where the OPT record starts and ends (its owner to the end of its RDATA).
    pub opt_record: Option<(usize, usize)>,
    pub tsig: Option<Tsig>,
    /// A TSIG record somewhere other than last in the additional section, or more than one:
    /// FORMERR (RFC 8945 §5.1).
    pub tsig_misplaced: bool,
}

impl<'a> Scan<'a> {
    /// Reads `msg` as far as it is well formed; fields stay `None` past the first defect.
    pub fn of(msg: &'a [u8]) -> Scan<'a> {
        let mut scan = Scan::default();
        let Some(header) = msg.get(..HEADER_LEN) else {
            return scan;
        };
        let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
        let mut at = HEADER_LEN;
        for q in 0..count(4) {
            let Some(end) = skip_name(msg, at)
                .map(|n| n + 4)
                .filter(|&e| e <= msg.len())
            else {
                return scan;
            };
            if q == 0 {
                scan.question_end = Some(end);
            }
            at = end;
        }
        let records = count(6) + count(8);
        let additional = count(10);
        for i in 0..records + additional {
            let owner = at;
            let Some(fixed) = skip_name(msg, at) else {
                return scan;
            };
            let Some(f) = msg.get(fixed..fixed + 10) else {
                return scan;
            };
            let rtype = u16::from_be_bytes([f[0], f[1]]);
            let rdlen = usize::from(u16::from_be_bytes([f[8], f[9]]));
            let rdata = fixed + 10;
            let Some(data) = msg.get(rdata..rdata + rdlen) else {
                return scan;
            };
            if rtype == TSIG && i + 1 != records + additional {
                scan.tsig_misplaced = true;
            }
            if i >= records {
                match rtype {
                    OPT if scan.opt.is_none() => {
                        scan.opt = Some(Opt {
                            payload: u16::from_be_bytes([f[2], f[3]]),
                            version: f[5],
                            dnssec_ok: f[6] & DO != 0,
                            options: data,
                            end: rdata + rdlen,
                        });
                        scan.opt_record = Some((owner, rdata + rdlen));
                    }
                    TSIG => {
                        scan.tsig = Some(Tsig {
                            owner,
                            rdata,
                            rdata_len: rdlen,
                        })
                    }
                    _ => {}
                }
            }
            at = rdata + rdlen;
        }
        scan
    }
}

/// Why an EDNS option makes the query malformed (FORMERR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadOption {
    /// The options do not parse as code, length, data.
    Framing,
    /// Client Subnet breaks RFC 7871 §6.
    ClientSubnet,
    /// A cookie of the wrong length (RFC 7873 §5.2.2).
    Cookie,
}

/// The options of `opt` that gslbd acts on, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options<'a> {
    pub ecs: Option<Ecs>,
    /// The whole COOKIE option: 8 bytes of client cookie, then 0 or 8 to 32 of server cookie.
    pub cookie: Option<&'a [u8]>,
    /// The query carries the Padding option (RFC 7830).
    pub padding: bool,
}

/// Walks the options and validates the ones gslbd reads.
pub fn options(mut raw: &[u8]) -> Result<Options<'_>, BadOption> {
    let mut found = Options::default();
    while !raw.is_empty() {
        let head = raw.get(..4).ok_or(BadOption::Framing)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
        let data = raw.get(4..4 + len).ok_or(BadOption::Framing)?;
        match code {
            OPTION_ECS => found.ecs = Some(ecs(data)?),
            OPTION_COOKIE => {
                if !(len == 8 || (16..=40).contains(&len)) {
                    return Err(BadOption::Cookie);
                }
                found.cookie = Some(data);
            }
            OPTION_PADDING => found.padding = true,
            _ => {}
        }
        raw = &raw[4 + len..];
    }
    Ok(found)
}

/// RFC 7871 §6: a known family, a source prefix that fits it, exactly the address octets the
/// prefix needs with no bits set past it, and scope 0 in a query.
fn ecs(data: &[u8]) -> Result<Ecs, BadOption> {
    let bad = BadOption::ClientSubnet;
    let head = data.get(..4).ok_or(bad)?;
    let family = u16::from_be_bytes([head[0], head[1]]);
    let (source, scope) = (head[2], head[3]);
    let address = &data[4..];
    let width: u8 = match family {
        1 => 32,
        2 => 128,
        _ => return Err(bad),
    };
    if source > width || scope != 0 || address.len() != usize::from(source.div_ceil(8)) {
        return Err(bad);
    }
    let mut octets = [0u8; 16];
    octets[..address.len()].copy_from_slice(address);
    let bits = u128::from_be_bytes(octets);
    let kept = u128::MAX.checked_shl(128 - u32::from(source)).unwrap_or(0);
    if bits & !kept != 0 {
        return Err(bad);
    }
    let addr = match family {
        1 => IpAddr::from([octets[0], octets[1], octets[2], octets[3]]),
        _ => IpAddr::from(octets),
    };
    Ok(Ecs {
        addr,
        source_prefix: source,
    })
}

/// The end of the name at `at` (a compression pointer ends it); `None` when it is cut or bad.
pub fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            1..=63 => at += 1 + usize::from(len),
            0xC0..=0xFF => {
                msg.get(at + 1)?;
                return Some(at + 2);
            }
            _ => return None,
        }
    }
    None
}

/// The (possibly compressed) name at `at` in `msg`.
pub fn name_at(msg: &[u8], at: usize) -> Option<hickory_proto::rr::Name> {
    let mut d = hickory_proto::serialize::binary::BinDecoder::new(msg);
    d.read_slice(at).ok()?;
    hickory_proto::rr::Name::read(&mut d).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(code: u16, data: &[u8]) -> Vec<u8> {
        let mut v = code.to_be_bytes().to_vec();
        v.extend_from_slice(&u16::try_from(data.len()).expect("short").to_be_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn client_subnet_is_checked_by_rfc_7871() {
        let good = |d: &[u8]| options(&option(OPTION_ECS, d)).map(|o| o.ecs);
        assert_eq!(
            good(&[0, 1, 24, 0, 198, 51, 100]),
            Ok(Some(Ecs {
                addr: "198.51.100.0".parse().expect("ip"),
                source_prefix: 24
            }))
        );
        assert!(good(&[0, 1, 0, 0]).is_ok(), "/0 has no address octets");
        assert!(good(&[0, 2, 56, 0, 0x20, 1, 0xd, 0xb8, 0, 0, 0]).is_ok());
        for bad in [
            &[0, 3, 24, 0, 1, 2, 3][..],     // unknown family
            &[0, 1, 33, 0, 1, 2, 3, 4, 5],   // prefix longer than IPv4
            &[0, 1, 24, 0, 198, 51, 100, 0], // an octet too many
            &[0, 1, 24, 0, 198, 51],         // an octet short
            &[0, 1, 23, 0, 198, 51, 101],    // a bit set past /23
            &[0, 1, 24, 24, 198, 51, 100],   // scope set in a query
            &[0, 1, 24],                     // cut
        ] {
            assert_eq!(good(bad), Err(BadOption::ClientSubnet), "{bad:?}");
        }
    }

    #[test]
    fn cookies_have_rfc_7873_lengths_and_options_must_frame() {
        assert!(options(&option(OPTION_COOKIE, &[1; 8])).is_ok());
        assert!(options(&option(OPTION_COOKIE, &[1; 24])).is_ok());
        for len in [0, 7, 9, 15, 41] {
            assert_eq!(
                options(&option(OPTION_COOKIE, &vec![1; len])),
                Err(BadOption::Cookie),
                "{len}"
            );
        }
        assert_eq!(options(&[0, 10, 0, 8, 1]), Err(BadOption::Framing));
        assert_eq!(options(&[0, 10]), Err(BadOption::Framing));
    }

    #[test]
    fn scan_finds_question_opt_and_tsig_and_stops_at_a_cut() {
        // Header: 1 question, 2 additional (OPT, then TSIG owned by "k.").
        let mut msg = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2];
        msg.extend_from_slice(&[1, b'a', 0, 0, 1, 0, 1]);
        let q_end = msg.len();
        msg.extend_from_slice(&[0, 0, 41, 4, 0, 0, 0, 0x80, 0, 0, 0]);
        let owner = msg.len();
        msg.extend_from_slice(&[1, b'k', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 9, 9]);
        let scan = Scan::of(&msg);
        assert_eq!(scan.question_end, Some(q_end));
        let opt = scan.opt.expect("opt");
        assert_eq!((opt.payload, opt.dnssec_ok, opt.version), (1024, true, 0));
        assert_eq!(scan.opt_record, Some((q_end, owner)));
        let tsig = scan.tsig.expect("tsig");
        assert_eq!(tsig.owner, owner);
        assert_eq!(tsig.rdata_len, 2);
        let cut = Scan::of(&msg[..msg.len() - 1]);
        assert_eq!(cut.question_end, Some(q_end));
        assert!(cut.tsig.is_none());
    }
}
