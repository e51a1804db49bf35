//! A zone's live state as static records, for secondaries. Per pool, what DNS would answer
//! with every client in view at once:
//!
//! - `weighted`, `all`, `hashed`, `topology`: every serving region's records (all of them, so
//!   a secondary's round robin spreads the load; topology and hashing need the live server);
//! - `failover`: the serving regions of the current tier;
//! - no region serving: the all-down rule's result — every region not drained (`all`), the
//!   fallback records (`fallback`, and a failover pool's last tier), or no record at all
//!   (`none` and `servfail`: the name answers NODATA from a secondary);
//! - a pool with `transfer = false` is left out.
//!
//! The SOA is apart (each version sets its serial); everything is sorted and deduplicated, so
//! equal states render equal versions.

use std::time::Instant;

use hickory_proto::rr::{Record, RecordType};
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

/// The pools' records as a secondary should serve them now.
pub fn pools(zone: &Zone, live: &Live, now: Instant) -> Vec<Record> {
    let mut records: Vec<Record> = zone
        .pools
        .iter()
        .filter(|p| p.transfer)
        .flat_map(|p| pool_records(p, live, now))
        .collect();
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
    let (answering, answered) = crate::status::outcome::decide(pool, &weights, &fail_open);
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
