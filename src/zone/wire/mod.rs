//! The zone model's answers, pre-encoded in DNS wire format once per load, for the DNS fast
//! path.
//!
//! - Plain answers need nothing but records at the question name: a pool's regions (and its
//!   fallback), or a static A, AAAA, TXT or CAA set. Each record is encoded with its owner as a
//!   compression pointer to the question (offset 12), so a response is the query's header and
//!   question followed by these bytes.
//! - Static SOA, NS and MX sets ([`named`]) are kept in pieces, with their glue, for the DNS
//!   path to compress.
//! - Every name of every zone is here (with the types it has), so a missing type is NODATA
//!   and a missing name below an origin NXDOMAIN ([`Index::find`]), with the zone's SOA pieces.
//!
//! CNAMEs, referrals, ANY, DS and names under a delegation are left to the full lookup, which
//! stays the reference: the fast path must produce the same response it would.

use std::collections::{HashMap, HashSet};

use hickory_proto::rr::{DNSClass, LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::{Node, Zone};

mod named;
pub use named::{Piece, Template};

pub use crate::wire::size::{TSIG_KEY_NAME, TSIG_ROOM};

/// The owner of every pre-encoded record: a pointer to the question name at offset 12.
const OWNER_POINTER: [u8; 2] = [0xC0, 0x0C];

/// Static types whose RDATA holds no domain name and whose answers need no glue.
const PLAIN_STATIC: [RecordType; 4] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::TXT,
    RecordType::CAA,
];

/// Records encoded back to back, and how many there are.
#[derive(Debug, Default, Clone)]
pub struct Rrs {
    pub count: u16,
    pub bytes: Box<[u8]>,
}

impl Rrs {
    /// Encodes `records` with owner pointers; `None` if one cannot be encoded (the full path
    /// then answers, and reports the error).
    pub fn encode(records: &[Record]) -> Option<Rrs> {
        let mut bytes = Vec::new();
        for r in records {
            let mut rdata = Vec::new();
            r.data.emit(&mut BinEncoder::new(&mut rdata)).ok()?;
            let rdlen = u16::try_from(rdata.len()).ok()?;
            bytes.extend_from_slice(&OWNER_POINTER);
            bytes.extend_from_slice(&u16::from(r.record_type()).to_be_bytes());
            bytes.extend_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
            bytes.extend_from_slice(&r.ttl.to_be_bytes());
            bytes.extend_from_slice(&rdlen.to_be_bytes());
            bytes.extend_from_slice(&rdata);
        }
        Some(Rrs {
            count: u16::try_from(records.len()).ok()?,
            bytes: bytes.into_boxed_slice(),
        })
    }
}

/// What a plain question is answered with.
#[derive(Debug)]
pub enum Answer {
    /// The same records every time.
    Static { zone: usize, rrs: Rrs },
    /// Static records whose RDATA holds names (SOA, NS, MX), and their glue.
    Named {
        zone: usize,
        answers: Box<[Template]>,
        additional: Box<[Template]>,
    },
    /// Chosen live: the selected regions' records, or the fallback.
    Pool {
        zone: usize,
        pool: usize,
        regions: Box<[Rrs]>,
        fallback: Rrs,
    },
}

/// The plain answers at one name, by type.
type ByType = Box<[(RecordType, Answer)]>;

/// What the index knows of one name.
#[derive(Debug)]
struct Entry {
    answers: ByType,
    /// Every type with data here, static or live.
    types: Box<[RecordType]>,
    /// The zone in which a type missing here is answered NODATA; `None` when the full path
    /// decides (a CNAME chases, a delegation point refers).
    nodata: Option<u32>,
    below: Below,
}

/// What a name below an entry, absent from the index, is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Below {
    /// Look further up.
    Continue,
    /// The zone's origin: the name does not exist in it (NXDOMAIN).
    Zone(u32),
    /// A delegation point: the full path answers with a referral.
    Full,
}

/// What a question finds in the index.
#[derive(Debug)]
pub enum Found<'i> {
    Answer(&'i Answer),
    /// The name exists in `zone` without the type.
    NoData {
        zone: usize,
    },
    /// The name does not exist in `zone`.
    NxDomain {
        zone: usize,
    },
}

/// A zone's SOA as its negative answers carry it (with the negative-caching TTL).
#[derive(Debug)]
pub struct NegativeSoa {
    /// Owner, MNAME and RNAME: raw labels as configured, without the root byte.
    pub owner: Box<[u8]>,
    pub mname: Box<[u8]>,
    pub rname: Box<[u8]>,
    pub ttl: u32,
    pub serial: u32,
    /// Refresh, retry, expire and minimum, encoded.
    pub timers: [u8; 16],
}

/// Query types never answered negatively from the index: ZERO, OPT, DS (a zone's apex leaves
/// it to the parent), TKEY, TSIG, IXFR, AXFR, MAILB, MAILA and ANY.
const FULL_ONLY: [u16; 10] = [0, 41, 43, 249, 250, 251, 252, 253, 254, 255];

fn full_only(rtype: RecordType) -> bool {
    FULL_ONLY.contains(&u16::from(rtype))
}

/// Plain and negative answers by lowercase wire-format owner name, then by type.
#[derive(Debug, Default)]
pub struct Index {
    names: HashMap<Box<[u8]>, Entry, Xxh3DefaultBuilder>,
    /// By zone index.
    negative: Box<[Option<NegativeSoa>]>,
}

impl Index {
    /// Builds the index for `zones`. A name is answered by the most specific zone that holds
    /// it, so a name at or below another served zone's origin is left to that zone.
    pub fn build(zones: &[impl AsRef<Zone>]) -> Index {
        let origins: HashSet<&LowerName> = zones.iter().map(|z| &z.as_ref().origin).collect();
        let mut names = HashMap::with_hasher(Xxh3DefaultBuilder);
        for (zi, zone) in zones.iter().enumerate() {
            let zone = zone.as_ref();
            for (name, node) in &zone.nodes {
                if in_child_zone(zone, name, &origins) {
                    continue;
                }
                let cut = zone.delegation_above(name);
                if cut.is_some_and(|c| c != name) {
                    continue;
                }
                let nodata =
                    (cut.is_none() && node.rrset(RecordType::CNAME).is_none()).then_some(zi as u32);
                let below = if cut.is_some() {
                    Below::Full
                } else if *name == zone.origin {
                    Below::Zone(zi as u32)
                } else {
                    Below::Continue
                };
                let answers = match cut {
                    None => plain_answers(zi, zone, node),
                    Some(_) => Vec::new(),
                };
                let types = node
                    .rrsets
                    .iter()
                    .map(|s| s.rtype)
                    .chain(node.pools.iter().map(|(t, _)| *t))
                    .collect();
                let entry = Entry {
                    answers: answers.into_boxed_slice(),
                    types,
                    nodata,
                    below,
                };
                names.insert(wire_name(name), entry);
            }
        }
        names.shrink_to_fit();
        let negative = zones.iter().map(|z| negative_soa(z.as_ref())).collect();
        Index { names, negative }
    }

    /// The plain answer for a lowercase wire-format name and a type.
    pub fn get(&self, name: &[u8], rtype: RecordType) -> Option<&Answer> {
        self.names
            .get(name)?
            .answers
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, a)| a)
    }

    /// What a question for a lowercase wire-format name finds: a plain answer, NODATA, or
    /// NXDOMAIN; `None` when the full path must answer.
    pub fn find(&self, name: &[u8], rtype: RecordType) -> Option<Found<'_>> {
        if let Some(entry) = self.names.get(name) {
            if let Some((_, a)) = entry.answers.iter().find(|(t, _)| *t == rtype) {
                return Some(Found::Answer(a));
            }
            let zone = entry.nodata?;
            if entry.types.contains(&rtype) || full_only(rtype) {
                return None;
            }
            return Some(Found::NoData {
                zone: zone as usize,
            });
        }
        if full_only(rtype) {
            return None;
        }
        // The closest ancestor the index holds decides.
        let mut at = 0;
        while let Some(&len) = name.get(at).filter(|&&l| l != 0) {
            at += 1 + usize::from(len);
            let Some(entry) = self.names.get(name.get(at..)?) else {
                continue;
            };
            match entry.below {
                Below::Continue => {}
                Below::Zone(zone) => {
                    return Some(Found::NxDomain {
                        zone: zone as usize,
                    });
                }
                Below::Full => return None,
            }
        }
        None
    }

    /// The SOA of zone `zone`'s negative answers.
    pub fn negative(&self, zone: usize) -> Option<&NegativeSoa> {
        self.negative.get(zone)?.as_ref()
    }
}

/// The pieces of `zone`'s SOA record that negative answers carry.
fn negative_soa(zone: &Zone) -> Option<NegativeSoa> {
    let RData::SOA(soa) = &zone.soa.data else {
        return None;
    };
    let mut timers = [0u8; 16];
    for (slot, v) in timers.chunks_mut(4).zip([
        soa.refresh.to_be_bytes(),
        soa.retry.to_be_bytes(),
        soa.expire.to_be_bytes(),
        soa.minimum.to_be_bytes(),
    ]) {
        slot.copy_from_slice(&v);
    }
    Some(NegativeSoa {
        owner: named::labels(&zone.soa.name),
        mname: named::labels(&soa.mname),
        rname: named::labels(&soa.rname),
        ttl: zone.negative_ttl,
        serial: soa.serial,
        timers,
    })
}

/// True when a zone below `zone` is served here too and holds `name` (it answers for it).
fn in_child_zone(zone: &Zone, name: &LowerName, origins: &HashSet<&LowerName>) -> bool {
    zone.below_apex(name).any(|n| origins.contains(&n))
}

/// The plain answers at one node: none when a CNAME is there (its answers chase the chain).
fn plain_answers(zi: usize, zone: &Zone, node: &Node) -> Vec<(RecordType, Answer)> {
    let mut out = Vec::new();
    if node.rrset(RecordType::CNAME).is_some() {
        return out;
    }
    for (rtype, pi) in &node.pools {
        let Some(pool) = zone.pools.get(*pi) else {
            continue;
        };
        if node.rrset(*rtype).is_some() {
            continue;
        }
        let regions: Option<Vec<Rrs>> = pool
            .regions
            .iter()
            .map(|r| Rrs::encode(&r.records))
            .collect();
        let (Some(regions), Some(fallback)) = (regions, Rrs::encode(&pool.fallback)) else {
            continue;
        };
        out.push((
            *rtype,
            Answer::Pool {
                zone: zi,
                pool: *pi,
                regions: regions.into_boxed_slice(),
                fallback,
            },
        ));
    }
    for set in &node.rrsets {
        if node.pool(set.rtype).is_some() {
            continue;
        }
        if PLAIN_STATIC.contains(&set.rtype) {
            if let Some(rrs) = Rrs::encode(&set.records) {
                out.push((set.rtype, Answer::Static { zone: zi, rrs }));
            }
        } else if named::NAMED_STATIC.contains(&set.rtype)
            && let Some(answer) = named::answer(zi, zone, &set.records)
        {
            out.push((set.rtype, answer));
        }
    }
    out
}

/// A lowercase name in uncompressed wire format (labels, then the root).
pub fn wire_name(name: &LowerName) -> Box<[u8]> {
    let mut bytes = Vec::new();
    for label in name.iter() {
        // Labels are at most 63 bytes (the name parser enforces it).
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label);
    }
    bytes.push(0);
    bytes.into_boxed_slice()
}
