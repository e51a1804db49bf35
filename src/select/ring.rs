//! Ring windows for pools too large to sign every set of `answers` regions (`Pool::ring`): the
//! policy's first pick leads, then the regions after it in the pool's order (wrapping), up to
//! `answers` in all, keeping only the eligible ones. Every answer is then a subset of one of
//! `regions` windows that holds its first region: few enough to sign ahead (`dnssec` signs
//! exactly those).

use super::Regions;
use crate::zone::Pool;

/// `drawn` turned into the window it leads (unchanged unless the pool is a ring pool).
pub fn window(pool: &Pool, eligible: &[u64], drawn: Regions) -> Regions {
    let (true, Some(&first)) = (pool.ring, drawn.first()) else {
        return drawn;
    };
    let m = pool.regions.len();
    (0..pool.answers.min(m))
        .map(|j| (first + j) % m)
        .filter(|i| eligible.get(*i).is_some_and(|w| *w > 0))
        .collect()
}
