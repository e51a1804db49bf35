//! `hashed`: the same client subnet keeps the same region while it serves.
//!
//! Weighted rendezvous hashing: every region scores `weight / -ln(u)` with `u` a stable hash of
//! (client subnet, region name) in (0, 1); the highest scores answer. A failed region's clients
//! move to their next-best region and nobody else moves, and every instance with the same zones
//! and health gives the same answer (no per-process seed, no dependence on load order).

use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use super::{ClientKey, Regions};
use crate::zone::Pool;

/// The `count` best regions for `client` among those with weight.
pub fn select(pool: &Pool, weights: &[u64], client: &ClientKey, count: usize) -> Regions {
    let key = client.bytes();
    let mut scored: SmallVec<[(f64, usize); 8]> = pool
        .regions
        .iter()
        .zip(weights)
        .enumerate()
        .filter(|(_, (_, w))| **w > 0)
        .map(|(i, (r, w))| (score(&key, &r.name, *w), i))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(count).map(|(_, i)| i).collect()
}

/// Bucket position of a client for a region, in (0, 1): exposed for `/explain`.
pub fn unit_hash(client_key: &[u8], region: &str) -> f64 {
    let mut buf: SmallVec<[u8; 64]> = SmallVec::new();
    buf.extend_from_slice(client_key);
    buf.push(0);
    buf.extend_from_slice(region.as_bytes());
    // 53 significant bits, centred in their bucket so the value is never 0 or 1.
    ((xxh3_64(&buf) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn score(client_key: &[u8], region: &str, weight: u64) -> f64 {
    weight as f64 / -unit_hash(client_key, region).ln()
}
