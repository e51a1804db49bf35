//! Validation of one zone file into a [`Zone`]: names, static record sets, pools and regions.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::str::FromStr;

use hickory_proto::rr::rdata::{A, AAAA, SOA, TXT};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use toml::Spanned;

use super::raw::{RawZone, Ttl};
use super::{ConfigError, Source};
use crate::zone::{Node, RrSet, Zone};

/// Defaults, documented in README.
pub const DEFAULT_TTL: u32 = 300;
const SOA_REFRESH: u32 = 3600;
const SOA_RETRY: u32 = 600;
const SOA_EXPIRE: u32 = 604_800;
const SOA_MINIMUM: u32 = 30;
/// How long a resolver is assumed to cache a SERVFAIL (RFC 9520: at least 1 s; Unbound and
/// Knot Resolver back off for seconds, BIND's `servfail-ttl` is 1 s).
pub const DEFAULT_FAILURE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// The largest `resolver_failure_ttl` (RFC 9520 caps failure caching at 5 minutes by default).
pub const MAX_FAILURE_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
/// The longest character-string in RDATA (RFC 1035 §3.3).
const MAX_CHARACTER_STRING: usize = 255;

/// A validated zone plus where its origin and names were written (for set-level errors).
pub(super) struct Built {
    pub zone: Zone,
    pub origin_at: (usize, usize),
    /// The byte offset in the file that first put something at each name with data.
    pub spans: HashMap<LowerName, usize>,
}

type Result<T> = std::result::Result<T, ConfigError>;

/// The names of a zone being built. The nodes become the model's as they are; the spans
/// (kept apart, so that no second table is built at the end) become [`Built::spans`].
struct Names {
    nodes: HashMap<LowerName, Node>,
    /// The byte offset that first put something at each name with data.
    spans: HashMap<LowerName, usize>,
}

impl Names {
    /// Sized once: growing by doubling held both tables (30 MiB for 100k names).
    fn with_capacity(n: usize) -> Names {
        Names {
            nodes: HashMap::with_capacity(n),
            spans: HashMap::with_capacity(n),
        }
    }

    /// Where `name` was first written (the file's start for a name without data).
    fn at(&self, name: &LowerName) -> Range<usize> {
        let at = self.spans.get(name).copied().unwrap_or(0);
        at..at
    }
}

/// Validates one zone file. A large file is parsed a piece at a time (`pieces`); when that
/// cannot be done or the result does not build, the whole-file parse decides and its errors
/// are the ones reported.
pub(super) fn zone(src: &Source) -> Result<Built> {
    if let Some(built) = super::pieces::parse(src.text).and_then(|raw| from_raw(src, raw).ok()) {
        return Ok(built);
    }
    let raw: RawZone = toml::from_str(src.text).map_err(|e| {
        let message = e.message().trim().to_string();
        src.error(e.span().unwrap_or(0..0), message)
    })?;
    from_raw(src, raw)
}

/// The model of a parsed file; each raw record and pool is dropped once it is built, so the
/// new model grows into their memory.
fn from_raw(src: &Source, mut raw: RawZone) -> Result<Built> {
    let origin = parse_origin(src, &raw.origin)?;
    let ttl = raw.ttl.as_ref().map_or(DEFAULT_TTL, |t| t.get_ref().0);
    let failure_ttl = match &raw.resolver_failure_ttl {
        Some(d) if d.get_ref().0 > MAX_FAILURE_TTL => {
            return Err(src.error(
                d.span(),
                format!(
                    "resolver_failure_ttl must be at most {}",
                    humantime::format_duration(MAX_FAILURE_TTL)
                ),
            ));
        }
        Some(d) => d.get_ref().0,
        None => DEFAULT_FAILURE_TTL,
    };
    let origin_span = raw.origin.span();

    let soa_raw = raw
        .soa
        .as_ref()
        .ok_or_else(|| src.error(0..0, "missing [soa] table (mname, rname, minimum)"))?;
    let soa_raw = soa_raw.get_ref();
    let timer = |t: Option<Ttl>, default: u32| t.map_or(default, |t| t.0);
    let minimum = timer(soa_raw.minimum, SOA_MINIMUM);
    let soa = Record::from_rdata(
        origin.clone(),
        timer(soa_raw.ttl, ttl),
        RData::SOA(SOA::new(
            target_name(src, &origin, &soa_raw.mname)?,
            target_name(src, &origin, &soa_raw.rname)?,
            soa_raw.serial.unwrap_or(1),
            i32_of(timer(soa_raw.refresh, SOA_REFRESH)),
            i32_of(timer(soa_raw.retry, SOA_RETRY)),
            i32_of(timer(soa_raw.expire, SOA_EXPIRE)),
            minimum,
        )),
    );

    let mut names = Names::with_capacity(raw.records.len() + raw.pools.len() + 1);
    add_rrset(&mut names, &origin, vec![soa.clone()], origin_span.start);
    for rec in std::mem::take(&mut raw.records) {
        static_records(src, &origin, ttl, &rec, &mut names)?;
    }

    let apex = LowerName::new(&origin);
    if names
        .nodes
        .get(&apex)
        .and_then(|n| n.rrset(RecordType::NS))
        .is_none()
    {
        return Err(src.error(
            origin_span,
            "missing NS records at the apex (a [[records]] entry with name = \"@\", type = \"NS\")",
        ));
    }

    let mut pools_raw: Vec<_> = std::mem::take(&mut raw.pools).into_iter().collect();
    pools_raw.sort_by_key(|(k, _)| k.span().start);
    let mut pools = Vec::new();
    for (key, pool) in pools_raw {
        let built = super::pool::pool_of(src, &origin, ttl, &key, &pool)?;
        let lname = LowerName::new(&built.name);
        let first_at = names.at(&lname).start;
        let entry = names.nodes.entry(lname.clone()).or_default();
        if !entry.rrsets.is_empty() {
            let (line, _) = src.line_col(first_at);
            return Err(src.error(
                key.span(),
                format!(
                    "pool \"{}\" answers {} which is also a static record name (line {line})",
                    key.get_ref(),
                    built.name
                ),
            ));
        }
        if entry.pool(built.rtype).is_some() {
            return Err(src.error(
                key.span(),
                format!(
                    "another pool already answers {} {} at {}",
                    built.rtype,
                    key.get_ref(),
                    built.name
                ),
            ));
        }
        if entry.pools.is_empty() {
            names.spans.insert(lname, key.span().start);
        }
        entry.pools.push((built.rtype, pools.len()));
        pools.push(built);
    }

    add_empty_non_terminals(&mut names.nodes, &origin);
    let has_delegations = mark_delegations(src, &mut names, &apex)?;
    for (name, n) in &names.nodes {
        for set in &n.rrsets {
            check_fits_a_message(src, name, set, names.at(name))?;
        }
    }
    let Names { mut nodes, spans } = names;
    for node in nodes.values_mut() {
        node.shrink();
    }

    Ok(Built {
        spans,
        origin_at: src.line_col(raw.origin.span().start),
        zone: Zone {
            file: src.path.to_path_buf(),
            origin: apex,
            origin_name: origin,
            ttl,
            negative_ttl: minimum.min(soa.ttl),
            failure_ttl,
            soa,
            nodes,
            pools,
            has_delegations,
        },
    })
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn parse_origin(src: &Source, raw: &Spanned<String>) -> Result<Name> {
    let text = raw.get_ref().trim();
    let mut name = Name::from_ascii(text)
        .map_err(|e| src.error(raw.span(), format!("invalid origin {text:?}: {e}")))?;
    if name.is_root() {
        return Err(src.error(raw.span(), "origin must not be the root zone"));
    }
    name.set_fqdn(true);
    Ok(name.to_lowercase())
}

/// An owner name: `@`, relative to the origin, or absolute with a trailing dot inside it.
pub(super) fn owner(src: &Source, origin: &Name, raw: &Spanned<String>) -> Result<Name> {
    let text = raw.get_ref().trim();
    if text.contains('*') {
        return Err(src.error(
            raw.span(),
            format!("wildcard name {text:?} is not supported"),
        ));
    }
    let name = resolve_name(text, origin)
        .map_err(|e| src.error(raw.span(), format!("invalid name {text:?}: {e}")))?;
    if !origin.zone_of(&name) {
        return Err(src.error(
            raw.span(),
            format!("name \"{name}\" is outside the origin \"{origin}\""),
        ));
    }
    Ok(name.to_lowercase())
}

/// A name inside record data: may point anywhere.
fn target_name(src: &Source, origin: &Name, raw: &Spanned<String>) -> Result<Name> {
    let text = raw.get_ref().trim();
    resolve_name(text, origin)
        .map_err(|e| src.error(raw.span(), format!("invalid name {text:?}: {e}")))
}

fn resolve_name(text: &str, origin: &Name) -> std::result::Result<Name, String> {
    if text == "@" {
        return Ok(origin.clone());
    }
    if text.is_empty() {
        return Err("empty name".into());
    }
    let name = Name::from_ascii(text).map_err(|e| e.to_string())?;
    if text.ends_with('.') {
        Ok(name)
    } else {
        name.append_domain(origin).map_err(|e| e.to_string())
    }
}

fn add_rrset(names: &mut Names, name: &Name, records: Vec<Record>, at: usize) {
    let lname = LowerName::new(name);
    names.spans.entry(lname.clone()).or_insert(at);
    let entry = names.nodes.entry(lname).or_default();
    let rtype = records[0].record_type();
    match entry.rrsets.iter_mut().find(|s| s.rtype == rtype) {
        Some(set) => set.records.extend(records),
        None => entry.rrsets.push(RrSet { rtype, records }),
    }
}

fn static_records(
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
fn check_fits_a_message(
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

/// Every ancestor of a name up to the origin exists (possibly empty), so that a query for it
/// answers NODATA instead of NXDOMAIN (RFC 8020).
fn add_empty_non_terminals(nodes: &mut HashMap<LowerName, Node>, origin: &Name) {
    let apex_labels = origin.num_labels();
    let mut missing = std::collections::HashSet::new();
    for name in nodes.keys() {
        let mut n = name.base_name();
        while n.num_labels() >= apex_labels && !nodes.contains_key(&n) && !missing.contains(&n) {
            missing.insert(n.clone());
            n = n.base_name();
        }
    }
    for n in missing {
        nodes.insert(n, Node::default());
    }
}

/// Flags NS sets below the apex as delegations and rejects anything but glue beneath them.
fn mark_delegations(src: &Source, names: &mut Names, apex: &LowerName) -> Result<bool> {
    let cuts: Vec<LowerName> = names
        .nodes
        .iter()
        .filter(|(name, n)| *name != apex && n.rrset(RecordType::NS).is_some())
        .map(|(name, _)| name.clone())
        .collect();
    // The names at or below a cut, in order, so that the first error is the same every time.
    let sorted: BTreeMap<_, _> = names
        .nodes
        .iter()
        .filter(|(name, _)| cuts.iter().any(|cut| cut.zone_of(name)))
        .map(|(k, node)| (k, (names.at(k), node)))
        .collect();
    for (name, (span, node)) in &sorted {
        for cut in &cuts {
            if !cut.zone_of(name) {
                continue;
            }
            let glue_only = |t: RecordType| matches!(t, RecordType::A | RecordType::AAAA);
            let at_cut = *name == cut;
            let bad = node.rrsets.iter().find(|s| {
                if at_cut {
                    !matches!(s.rtype, RecordType::NS) && !glue_only(s.rtype)
                } else {
                    !glue_only(s.rtype)
                }
            });
            if let Some(set) = bad {
                return Err(src.error(
                    span.clone(),
                    format!(
                        "{} records at \"{name}\" are hidden by the delegation at \"{cut}\"",
                        set.rtype
                    ),
                ));
            }
            if !node.pools.is_empty() {
                return Err(src.error(
                    span.clone(),
                    format!("pool at \"{name}\" is hidden by the delegation at \"{cut}\""),
                ));
            }
        }
    }
    for cut in &cuts {
        if let Some(n) = names.nodes.get_mut(cut) {
            n.delegation = true;
        }
    }
    Ok(!cuts.is_empty())
}
