//! `topology`: answer from the first location in the client's list (from the topology map)
//! that has a serving region; regions in no listed location come after the list. Inside a
//! location regions share by weight through the `hashed` policy's rendezvous hash of the client
//! subnet, so every instance gives the same client the same answer. The all-down rules are
//! applied by the caller, as for every policy.

use super::{ClientKey, Rule, Selection, TopologyStep, Weights, hashed};
use crate::zone::Pool;

/// The first step of `steps` with a region of positive weight: its index and its regions. The
/// DNS path, the traffic shares, the status and the drills all walk a list through it.
pub fn first_step<'s, W: PartialOrd + Default>(
    steps: &'s [Vec<usize>],
    weights: &[W],
) -> Option<(usize, &'s [usize])> {
    let zero = W::default();
    steps
        .iter()
        .enumerate()
        .find(|(_, g)| g.iter().any(|r| weights.get(*r).is_some_and(|w| *w > zero)))
        .map(|(i, g)| (i, &g[..]))
}

/// The topology answer for `client`, or `None` when no region of any step has weight.
pub fn select(pool: &Pool, weights: &[u64], client: &ClientKey) -> Option<Selection> {
    let topo = pool.topology.as_ref()?;
    let m = topo.map.lookup(client.ip);
    let (step, group) = first_step(topo.steps.get(m.list)?, weights)?;
    let mut in_step: Weights = smallvec::smallvec![0; weights.len()];
    for r in group {
        in_step[*r] = weights[*r];
    }
    let serving = in_step.iter().filter(|w| **w > 0).count();
    // With more than one region serving in the location, which (and in which order) also
    // depends on the client's subnet.
    let scope = client.scope(if serving > 1 {
        m.scope.max(client.prefix)
    } else {
        m.scope
    });
    Some(Selection {
        regions: super::ring::window(
            pool,
            &in_step,
            hashed::select(pool, &in_step, client, pool.answers),
        ),
        rule: Rule::Policy,
        tier: None,
        scope: Some(scope),
        topology: Some(TopologyStep {
            location: m.location,
            step,
        }),
    })
}

/// The share of traffic each region gets when the regions with `weights[i] > 0` serve: every
/// client location's share (its `share` in the map; the default and locations without one
/// split what is left evenly) goes to the first step of its list that serves, by weight.
pub fn expected_shares(pool: &Pool, weights: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; weights.len()];
    let Some(topo) = pool.topology.as_ref() else {
        return out;
    };
    for (list, share) in location_shares(&topo.map) {
        let Some((_, group)) = topo.steps.get(list).and_then(|s| first_step(s, weights)) else {
            continue;
        };
        let total: f64 = group.iter().map(|r| weights[*r]).sum();
        for r in group {
            out[*r] += share * weights[*r] / total;
        }
    }
    out
}

/// `(list, share of traffic)` for every client location and the default.
pub fn location_shares(map: &crate::zone::topology::TopologyMap) -> Vec<(usize, f64)> {
    let given: f64 = map.locations.iter().filter_map(|l| l.share).sum();
    let unshared = map.locations.iter().filter(|l| l.share.is_none()).count() + 1;
    let rest = (1.0 - given).max(0.0) / unshared as f64;
    map.locations
        .iter()
        .map(|l| (l.list, l.share.unwrap_or(rest)))
        .chain(std::iter::once((map.default, rest)))
        .collect()
}
