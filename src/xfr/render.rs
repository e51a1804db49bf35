//! A zone's live state as static records, for secondaries. Per pool, what DNS would answer
//! with every client in view at once:
//!
//! - `weighted`, `all`, `hashed`, `topology`: every serving region's records (all of them, so
//!   a secondary's round robin spreads the load; topology and hashing need the live server);
//! - `failover`: the serving regions of the current tier;
//! - no region serving: the all-down rule's result — every region not drained (`all`), the
//!   fallback records (`fallback`, and a failover pool's last tier), or no address at all
//!   (`none` and `servfail`): the name must then answer NODATA from a secondary, not
//!   NXDOMAIN (cached for every type and, under RFC 8020, every name below), so when nothing
//!   else is at that owner it keeps a [`PLACEHOLDER`] record, of a private-use type no client
//!   asks for;
//! - a pool with `transfer = false` is left out.
//!
//! The SOA is apart (each version sets its serial); everything is sorted and deduplicated, so
//! equal states render equal versions.

use std::time::Instant;

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{LowerName, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;

use crate::health::Live;
use crate::select::Rule;
use crate::zone::{Pool, Zone};

/// The static records of `zone`, the SOA apart: the same for every version of one load.
pub fn statics(zone: &Zone) -> Vec<Record> {
    let mut records: Vec<Record> = zone
        .nodes
        .values()
        .flat_map(|n| &n.rrsets)
        .filter(|s| s.rtype != RecordType::SOA)
        .flat_map(|s| s.records.iter().cloned())
        .collect();
    sort(&mut records);
    records
}

/// The type of the record that keeps a pool's owner name in a transferred zone while the
/// pool renders no record: the first private-use type (RFC 6895 §3.1), empty RDATA (RFC 3597).
pub const PLACEHOLDER: RecordType = RecordType::Unknown(65280);

/// The pools' records as a secondary should serve them now.
pub fn pools(zone: &Zone, live: &Live, now: Instant) -> Vec<Record> {
    let mut records = Vec::new();
    let mut empty = Vec::new();
    for pool in zone.pools.iter().filter(|p| p.transfer) {
        let rendered = pool_records(pool, live, now);
        if rendered.is_empty() {
            empty.push(pool);
        }
        records.extend(rendered);
    }
    for pool in empty {
        let statics = zone
            .nodes
            .get(&LowerName::new(&pool.name))
            .is_some_and(|n| n.rrsets.iter().any(|s| s.rtype != RecordType::SOA));
        if !statics && !records.iter().any(|r| r.name == pool.name) {
            records.push(Record::from_rdata(
                pool.name.clone(),
                pool.ttl,
                RData::Unknown {
                    code: PLACEHOLDER,
                    rdata: NULL::new(),
                },
            ));
        }
    }
    sort(&mut records);
    records
}

/// The records a pool renders to.
pub fn pool_records(pool: &Pool, live: &Live, now: Instant) -> Vec<Record> {
    let weights: Vec<u64> = pool
        .regions
        .iter()
        .map(|r| live.weight(pool, r, now))
        .collect();
    let fail_open: Vec<u64> = pool
        .regions
        .iter()
        .map(|r| live.fail_open_weight(r))
        .collect();
    let (answering, answered) = crate::select::outcome::decide(pool, &weights, &fail_open);
    match answering.rule {
        Rule::Fallback => pool.fallback.clone(),
        Rule::AllDownNone | Rule::AllDownServfail => Vec::new(),
        Rule::Policy | Rule::AllDownAll => pool
            .regions
            .iter()
            .zip(answered)
            .filter(|(_, a)| *a)
            .flat_map(|(r, _)| r.records.iter().cloned())
            .collect(),
    }
}

/// True when `a` and `b` hold the same records with the same TTLs (hickory's record equality
/// leaves the TTL out, and a TTL change is a change of the zone).
pub fn same(a: &[Record], b: &[Record]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y && x.ttl == y.ttl)
}

/// Canonical order (owner, type, wire form), duplicates removed.
fn sort(records: &mut Vec<Record>) {
    let key = |r: &Record| {
        (
            r.name.to_lowercase(),
            u16::from(r.record_type()),
            r.data.to_bytes().unwrap_or_default(),
        )
    };
    records.sort_by_cached_key(key);
    records.dedup_by(|a, b| key(a) == key(b));
}
