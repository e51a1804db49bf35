//! `failover`: the lowest `priority` tier that has a serving region, weighted inside the tier;
//! the pool's `fallback` records are the last tier.

use rand::Rng;

use super::{Regions, Rule, Selection, Weights, weighted};
use crate::zone::Pool;

/// `None` when no tier has a serving region and there is no fallback tier.
pub fn select<R: Rng + ?Sized>(pool: &Pool, weights: &[u64], rng: &mut R) -> Option<Selection> {
    let tier = pool
        .regions
        .iter()
        .zip(weights)
        .filter(|(_, w)| **w > 0)
        .map(|(r, _)| r.priority)
        .min();
    match tier {
        Some(tier) => {
            let in_tier: Weights = pool
                .regions
                .iter()
                .zip(weights)
                .map(|(r, w)| if r.priority == tier { *w } else { 0 })
                .collect();
            Some(Selection {
                regions: super::ring::window(
                    pool,
                    &in_tier,
                    weighted::draw(&in_tier, pool.answers, rng),
                ),
                rule: Rule::Policy,
                tier: Some(tier),
                scope: None,
                topology: None,
            })
        }
        None if !pool.fallback.is_empty() => Some(Selection {
            regions: Regions::new(),
            rule: Rule::Fallback,
            tier: None,
            scope: None,
            topology: None,
        }),
        None => None,
    }
}
