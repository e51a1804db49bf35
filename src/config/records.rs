//! The static record sets of a zone file (`[[records]]`): their types, data in presentation
//! format, the rules between sets at one name, and the size one message can carry.

use std::collections::HashMap;
use std::ops::Range;
use std::str::FromStr;

use hickory_proto::rr::rdata::{A, AAAA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use toml::Spanned;

use super::names::owner;
use super::{ConfigError, Source};
use crate::zone::{Node, RrSet};

/// The longest character-string in RDATA (RFC 1035 §3.3).
const MAX_CHARACTER_STRING: usize = 255;

type Result<T> = std::result::Result<T, ConfigError>;

/// The names of a zone being built. The nodes become the model's as they are; the spans
/// (kept apart, so that no second table is built at the end) become the built zone's spans.
pub(super) struct Names {
    pub(super) nodes: HashMap<LowerName, Node>,
    /// The byte offset that first put something at each name with data.
    pub(super) spans: HashMap<LowerName, usize>,
}

impl Names {
    /// Sized once: growing by doubling held both tables (30 MiB for 100k names).
    pub(super) fn with_capacity(n: usize) -> Names {
        Names {
            nodes: HashMap::with_capacity(n),
            spans: HashMap::with_capacity(n),
        }
    }

    /// Where `name` was first written (the file's start for a name without data).
    pub(super) fn at(&self, name: &LowerName) -> Range<usize> {
        let at = self.spans.get(name).copied().unwrap_or(0);
        at..at
    }
}

/// Adds `records` (all of one type) at `name`, first written at byte `at`.
pub(super) fn add_rrset(names: &mut Names, name: &Name, records: Vec<Record>, at: usize) {
    let lname = LowerName::new(name);
    names.spans.entry(lname.clone()).or_insert(at);
    let entry = names.nodes.entry(lname).or_default();
    let rtype = records[0].record_type();
    match entry.rrsets.iter_mut().find(|s| s.rtype == rtype) {
        Some(set) => set.records.extend(records),
        None => entry.rrsets.push(RrSet { rtype, records }),
    }
}

/// One `[[records]]` entry, checked against what is already at its name, into `names`.
pub(super) fn static_records(
    src: &Source,
    origin: &Name,
    zone_ttl: u32,
    rec: &Spanned<super::raw::RawRecord>,
    names: &mut Names,
) -> Result<()> {
    let r = rec.get_ref();
    let name = owner(src, origin, &r.name)?;
    let rtype = parse_type(src, &r.rtype)?;
    let ttl = r.ttl.map_or(zone_ttl, |t| t.0);
    if r.data.get_ref().is_empty() {
        return Err(src.error(r.data.span(), "data must list at least one value"));
    }
    if rtype == RecordType::CNAME && r.data.get_ref().len() > 1 {
        return Err(src.error(r.data.span(), "a CNAME has exactly one target"));
    }
    let mut records: Vec<Record> = Vec::with_capacity(r.data.get_ref().len());
    for d in r.data.get_ref() {
        let rdata = parse_rdata(src, origin, rtype, d)?;
        if records.iter().any(|x| x.data == rdata) {
            return Err(src.error(
                d.span(),
                format!("duplicate {rtype} value {:?}", d.get_ref()),
            ));
        }
        records.push(Record::from_rdata(name.clone(), ttl, rdata));
    }

    let lname = LowerName::new(&name);
    if let Some(existing) = names.nodes.get(&lname) {
        let (line, _) = src.line_col(names.at(&lname).start);
        let has_cname = existing.rrset(RecordType::CNAME).is_some();
        if has_cname || (rtype == RecordType::CNAME && !existing.rrsets.is_empty()) {
            return Err(src.error(
                r.rtype.span(),
                format!("CNAME at \"{name}\" cannot stand beside other data (line {line})"),
            ));
        }
        if let Some(set) = existing.rrset(rtype) {
            if set.records[0].ttl != ttl {
                return Err(src.error(
                    r.name.span(),
                    format!(
                        "{rtype} records at \"{name}\" must share one TTL (line {line} has {})",
                        set.records[0].ttl
                    ),
                ));
            }
            if let Some(dup) = records
                .iter()
                .find(|x| set.records.iter().any(|y| y.data == x.data))
            {
                return Err(src.error(
                    r.data.span(),
                    format!(
                        "duplicate {rtype} value {} at \"{name}\" (line {line})",
                        dup.data
                    ),
                ));
            }
        }
    }
    add_rrset(names, &name, records, rec.span().start);
    Ok(())
}

fn parse_type(src: &Source, raw: &Spanned<String>) -> Result<RecordType> {
    const SUPPORTED: [RecordType; 9] = [
        RecordType::NS,
        RecordType::A,
        RecordType::AAAA,
        RecordType::CNAME,
        RecordType::MX,
        RecordType::TXT,
        RecordType::SRV,
        RecordType::CAA,
        RecordType::PTR,
    ];
    let text = raw.get_ref().trim().to_ascii_uppercase();
    if text == "SOA" {
        return Err(src.error(
            raw.span(),
            "the SOA comes from the [soa] table, not [[records]]",
        ));
    }
    RecordType::from_str(&text)
        .ok()
        .filter(|t| SUPPORTED.contains(t))
        .ok_or_else(|| {
            src.error(
                raw.span(),
                format!(
                    "unsupported record type {:?}, expected one of NS, A, AAAA, CNAME, MX, TXT, SRV, CAA, PTR",
                    raw.get_ref()
                ),
            )
        })
}

fn parse_rdata(
    src: &Source,
    origin: &Name,
    rtype: RecordType,
    raw: &Spanned<String>,
) -> Result<RData> {
    let text = raw.get_ref().trim();
    let bad = |why: String| src.error(raw.span(), format!("invalid {rtype} data {text:?}: {why}"));
    match rtype {
        RecordType::A => text
            .parse()
            .map(|ip| RData::A(A(ip)))
            .map_err(|_| bad("expected an IPv4 address".into())),
        RecordType::AAAA => text
            .parse()
            .map(|ip| RData::AAAA(AAAA(ip)))
            .map_err(|_| bad("expected an IPv6 address".into())),
        RecordType::TXT => Ok(RData::TXT(TXT::new(character_strings(raw.get_ref())))),
        _ => {
            // Presentation format through hickory's parser; relative names join the origin.
            let origin_text = origin.to_ascii();
            let text: Vec<&str> = text
                .split_whitespace()
                .map(|t| if t == "@" { origin_text.as_str() } else { t })
                .collect();
            let mut rdata =
                RData::try_from_str(rtype, &text.join(" ")).map_err(|e| bad(e.to_string()))?;
            let fix = |n: &mut Name| -> std::result::Result<(), String> {
                if !n.is_fqdn() {
                    *n = n.clone().append_domain(origin).map_err(|e| e.to_string())?;
                }
                Ok(())
            };
            match &mut rdata {
                RData::NS(n) => fix(&mut n.0),
                RData::CNAME(n) => fix(&mut n.0),
                RData::PTR(n) => fix(&mut n.0),
                RData::MX(mx) => fix(&mut mx.exchange),
                RData::SRV(srv) => fix(&mut srv.target),
                _ => Ok(()),
            }
            .map_err(bad)?;
            Ok(rdata)
        }
    }
}

/// A TXT value as character-strings of at most 255 bytes each (RFC 1035 §3.3.14), split only
/// between characters so that every piece is valid UTF-8.
fn character_strings(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > MAX_CHARACTER_STRING {
        let cut = rest.floor_char_boundary(MAX_CHARACTER_STRING);
        pieces.push(rest[..cut].to_string());
        rest = &rest[cut..];
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest.to_string());
    }
    pieces
}

/// Rejects a record set that no response could carry: with the question and header, its
/// records must fit one 64 KiB message (even over TCP).
pub(super) fn check_fits_a_message(
    src: &Source,
    name: &LowerName,
    set: &RrSet,
    span: Range<usize>,
) -> Result<()> {
    // An address or a name-bearing record takes at most 2 bytes of (compressed) owner, 10 of
    // header and 261 of data (SRV); 200 of them with the header and question stay under 56 KiB.
    // Only larger sets, and types whose data has no such bound (TXT, CAA), are encoded.
    const SMALL_SET: usize = 200;
    let bounded = matches!(
        set.rtype,
        RecordType::A
            | RecordType::AAAA
            | RecordType::NS
            | RecordType::CNAME
            | RecordType::PTR
            | RecordType::MX
            | RecordType::SRV
    );
    if bounded && set.records.len() <= SMALL_SET {
        return Ok(());
    }
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    let owner = Name::from(name);
    // Header, then the question's name, type and class; then the records, compressed.
    let fits = enc.emit_vec(&[0; 12]).is_ok()
        && owner.emit(&mut enc).is_ok()
        && enc.emit_vec(&[0; 4]).is_ok()
        && set.records.iter().all(|r| r.emit(&mut enc).is_ok());
    // Room for a TSIG record, so that a signed answer or transfer fits too.
    let room = usize::from(crate::zone::wire::TSIG_ROOM);
    if fits && enc.offset() + room <= usize::from(u16::MAX) {
        return Ok(());
    }
    Err(src.error(
        span,
        format!(
            "the {} records at \"{name}\" do not fit in one DNS message (64 KiB, less {room} \
             bytes for a TSIG signature)",
            set.rtype
        ),
    ))
}
