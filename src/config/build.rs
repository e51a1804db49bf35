//! Validation of one zone file into a [`Zone`]: the SOA, the names with their record sets and
//! pools, empty non-terminals and delegations.

use std::collections::{BTreeMap, HashMap};

use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType};

use super::names::{parse_origin, target_name};
use super::raw::{RawZone, Ttl};
use super::records::{Names, add_rrset, check_fits_a_message, static_records};
use super::{ConfigError, Source};
use crate::zone::{Node, Zone};

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

/// A validated zone plus where its origin and names were written (for set-level errors).
pub(super) struct Built {
    pub zone: Zone,
    pub origin_at: (usize, usize),
    /// The byte offset in the file that first put something at each name with data.
    pub spans: HashMap<LowerName, usize>,
}

type Result<T> = std::result::Result<T, ConfigError>;

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

    let signing = match &raw.dnssec {
        Some(section) => Some(super::signing::signing(src, &origin, section, &mut names)?),
        None => None,
    };

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
        let mut built = super::pool::pool_of(src, &origin, ttl, &key, &pool)?;
        if signing.is_some() {
            ring_if_needed(src, &key, &mut built)?;
        }
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
            signing,
        },
    })
}

/// A signed pool whose every set of `answers` regions is too many to sign ahead answers with
/// ring windows instead; one whose windows are still too many is refused.
fn ring_if_needed(
    src: &Source,
    key: &toml::Spanned<String>,
    pool: &mut crate::zone::Pool,
) -> Result<()> {
    use crate::dnssec::{MAX_RING_VARIANTS, MAX_VARIANTS, variant_count};
    if variant_count(pool).is_none_or(|n| n <= MAX_VARIANTS) {
        return Ok(());
    }
    pool.ring = true;
    match variant_count(pool) {
        Some(n) if n > MAX_RING_VARIANTS => Err(src.error(
            key.span(),
            format!(
                "pool \"{}\" would need {n} answer sets signed ahead even as ring windows ({} regions, answers = {}); a signed zone allows at most {MAX_RING_VARIANTS}: lower `answers`, split the pool, or use policy = \"all\"",
                key.get_ref(),
                pool.regions.len(),
                pool.answers,
            ),
        )),
        _ => Ok(()),
    }
}

fn i32_of(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
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
