//! Answer policies: which regions of a pool answer a query, given live weights and the client.
//!
//! Pure functions over `(pool, live weights, client, rng)`; one file per policy. The all-down rule
//! is applied here, the same way for every policy. [`expected_shares`] gives the traffic share
//! each region would get, for the N-1 table of `gslbd check`.

mod all;
mod client;
mod failover;
pub mod hashed;
pub mod outcome;
mod ring;
mod topology;
mod weighted;

pub use client::ClientKey;
pub use topology::{first_step, location_shares};

use std::time::Instant;

use rand::Rng;
use serde::Serialize;
use smallvec::SmallVec;

use crate::health::Live;
use crate::zone::{AllDown, Policy, Pool};

/// Region indexes in answer order: inline up to eight, so a decision does not allocate.
pub type Regions = SmallVec<[usize; 8]>;
/// Live weights by region index, inline up to eight.
pub type Weights = SmallVec<[u64; 8]>;

/// Which rule produced an answer (for logs, metrics and `/explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The pool's policy over its healthy regions.
    Policy,
    /// No region healthy, `on_all_down = "all"`: answered as if all were healthy.
    AllDownAll,
    /// No region healthy, `on_all_down = "none"`: empty answer.
    AllDownNone,
    /// No region healthy, `on_all_down = "servfail"`.
    AllDownServfail,
    /// The fallback records (all-down rule, or the last tier of a failover pool).
    Fallback,
}

/// The decision for one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Indexes into `pool.regions`, in answer order.
    pub regions: Regions,
    pub rule: Rule,
    /// The failover tier (priority) answered, when the policy is `failover`.
    pub tier: Option<u32>,
    /// When the answer depends on the client (hashed, topology): the prefix length it was
    /// decided on, for the ECS scope.
    pub scope: Option<u8>,
    /// `topology`: the client's location and the step of its list that answered.
    pub topology: Option<TopologyStep>,
}

/// Where a topology answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopologyStep {
    /// The client's location in the map (`None`: the default entry).
    pub location: Option<usize>,
    /// 0 for the first location of the client's list, 1 for the next, …
    pub step: usize,
}

impl Selection {
    /// The answer as the DNS path counts it.
    pub fn answered(&self) -> crate::health::Answered<'_> {
        crate::health::Answered {
            regions: &self.regions,
            all_down: match self.rule {
                Rule::Policy => None,
                Rule::AllDownAll => Some(AllDown::All),
                Rule::AllDownNone => Some(AllDown::None),
                Rule::AllDownServfail => Some(AllDown::Servfail),
                Rule::Fallback => Some(AllDown::Fallback),
            },
            topology: self.topology.map(|t| (t.location, t.step)),
        }
    }

    fn of(rule: Rule) -> Self {
        Selection {
            regions: Regions::new(),
            rule,
            tier: None,
            scope: None,
            topology: None,
        }
    }
}

/// The decision for `pool` from live health: its regions' live weights (and fail-open
/// weights), then [`select`]. The DNS path and the operator view both decide through it.
pub fn decide<R: Rng + ?Sized>(
    live: &Live,
    pool: &Pool,
    client: &ClientKey,
    rng: &mut R,
    now: Instant,
) -> Selection {
    let weights: Weights = pool
        .regions
        .iter()
        .map(|r| live.weight(pool, r, now))
        .collect();
    let fail_open = || {
        pool.regions
            .iter()
            .map(|r| live.fail_open_weight(r))
            .collect()
    };
    select(pool, &weights, fail_open, client, rng)
}

/// Chooses the answer for one query. `weights[i]` is the live weight of `pool.regions[i]`
/// (0 = not serving); `fail_open` gives the weights used when every region is down and the
/// pool fails open (configured weights, minus drained regions). It is called only then.
pub fn select<R: Rng + ?Sized>(
    pool: &Pool,
    weights: &[u64],
    fail_open: impl FnOnce() -> Weights,
    client: &ClientKey,
    rng: &mut R,
) -> Selection {
    if let Some(sel) = by_policy(pool, weights, client, rng) {
        return sel;
    }
    // No region is serving.
    match pool.on_all_down {
        AllDown::All => {
            let configured = fail_open();
            let mut sel = by_policy(pool, &configured, client, rng)
                .unwrap_or_else(|| Selection::of(Rule::AllDownAll));
            sel.rule = Rule::AllDownAll;
            sel
        }
        AllDown::None => Selection::of(Rule::AllDownNone),
        AllDown::Servfail => Selection::of(Rule::AllDownServfail),
        AllDown::Fallback => Selection::of(Rule::Fallback),
    }
}

/// The policy over the given weights; `None` when no region has weight.
fn by_policy<R: Rng + ?Sized>(
    pool: &Pool,
    weights: &[u64],
    client: &ClientKey,
    rng: &mut R,
) -> Option<Selection> {
    match pool.policy {
        Policy::Failover => return failover::select(pool, weights, rng),
        Policy::Topology => return topology::select(pool, weights, client),
        _ => {}
    }
    if !weights.iter().any(|w| *w > 0) {
        return None;
    }
    let (regions, scope) = match pool.policy {
        Policy::All => (all::select(weights, rng), None),
        Policy::Hashed => (
            ring::window(
                pool,
                weights,
                hashed::select(pool, weights, client, pool.answers),
            ),
            Some(client.scope(client.prefix)),
        ),
        // Weighted (failover and topology returned above).
        _ => (
            ring::window(pool, weights, weighted::draw(weights, pool.answers, rng)),
            None,
        ),
    };
    Some(Selection {
        regions,
        rule: Rule::Policy,
        tier: None,
        scope,
        topology: None,
    })
}

/// The expected share of traffic each region gets with `up[i]` regions serving (clients use
/// the first address of an answer). Used for the N-1 table; exact for every policy.
pub fn expected_shares(pool: &Pool, up: &[bool]) -> Vec<f64> {
    let weights: Vec<f64> = pool
        .regions
        .iter()
        .zip(up)
        .map(|(r, up)| if *up { f64::from(r.weight) } else { 0.0 })
        .collect();
    let normalize = |w: Vec<f64>| {
        let total: f64 = w.iter().sum();
        if total > 0.0 {
            w.into_iter().map(|x| x / total).collect()
        } else {
            w
        }
    };
    match pool.policy {
        Policy::Weighted | Policy::Hashed => normalize(weights),
        Policy::Topology => topology::expected_shares(pool, &weights),
        Policy::All => normalize(
            weights
                .iter()
                .map(|w| if *w > 0.0 { 1.0 } else { 0.0 })
                .collect(),
        ),
        Policy::Failover => {
            let tier = pool
                .regions
                .iter()
                .zip(&weights)
                .filter(|(_, w)| **w > 0.0)
                .map(|(r, _)| r.priority)
                .min();
            normalize(
                pool.regions
                    .iter()
                    .zip(&weights)
                    .map(|(r, w)| if Some(r.priority) == tier { *w } else { 0.0 })
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests;
