//! The zone model's plain answers, pre-encoded in DNS wire format once per load.
//!
//! A "plain" answer is one that needs nothing but records at the question name: a pool's
//! regions (and its fallback), or a static A, AAAA, TXT or CAA set. Each record is encoded with
//! its owner as a compression pointer to the question (offset 12), so a response is the query's
//! header and question followed by these bytes. Everything else (CNAMEs, referrals, glue,
//! negative answers, names under a delegation) is left to the full lookup, which stays the
//! reference: the fast path must produce the same response it would.

use std::collections::{HashMap, HashSet};

use hickory_proto::rr::{DNSClass, LowerName, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::{Node, Zone};

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
    fn encode(records: &[Record]) -> Option<Rrs> {
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

/// Plain answers by lowercase wire-format owner name, then by type.
#[derive(Debug, Default)]
pub struct Index {
    names: HashMap<Box<[u8]>, ByType, Xxh3DefaultBuilder>,
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
                if in_child_zone(zone, name, &origins) || zone.delegation_above(name).is_some() {
                    continue;
                }
                let answers = plain_answers(zi, zone, node);
                if !answers.is_empty() {
                    names.insert(wire_name(name), answers.into_boxed_slice());
                }
            }
        }
        Index { names }
    }

    /// The plain answer for a lowercase wire-format name and a type.
    pub fn get(&self, name: &[u8], rtype: RecordType) -> Option<&Answer> {
        self.names
            .get(name)?
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, a)| a)
    }
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
        if !PLAIN_STATIC.contains(&set.rtype) || node.pool(set.rtype).is_some() {
            continue;
        }
        if let Some(rrs) = Rrs::encode(&set.records) {
            out.push((set.rtype, Answer::Static { zone: zi, rrs }));
        }
    }
    out
}

/// A lowercase name in uncompressed wire format (labels, then the root).
fn wire_name(name: &LowerName) -> Box<[u8]> {
    let mut bytes = Vec::new();
    for label in name.iter() {
        // Labels are at most 63 bytes (the name parser enforces it).
        bytes.push(label.len() as u8);
        bytes.extend_from_slice(label);
    }
    bytes.push(0);
    bytes.into_boxed_slice()
}
