//! What a pool answers for given region weights: the rule that fires, the regions in the
//! answers and a sentence for people, and, for topology pools, where each client location is
//! answered from. The status (live weights) and drills (weights with regions failed) both
//! decide through here (and `xfr` renders with it), with the DNS path's own `select`.

use rand::SeedableRng;
use rand::rngs::SmallRng;

use serde::{Deserialize, Serialize};

use crate::select::{self, ClientKey, Rule};
use crate::zone::Pool;

/// A client location of a topology pool, now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocationNow {
    pub location: String,
    /// The regions its clients are answered from (empty: the pool's all-down rule).
    pub answered_from: Vec<String>,
    /// The step of its list that answers (0 = its first choice).
    pub step: Option<usize>,
    /// True when that is not the step it lands on with every region up.
    pub off_first_choice: bool,
}

/// What a pool answers right now: the rule that decides it, and a sentence for people
/// ("failing open: no region healthy, answering us-east, eu-west", "answering fallback
/// 198.51.100.200", "NODATA: …", "SERVFAIL: …").
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answering {
    pub rule: Rule,
    pub summary: String,
}

impl Default for Answering {
    fn default() -> Self {
        Answering {
            rule: Rule::Policy,
            summary: String::new(),
        }
    }
}

/// The rule and the regions that can be in the answers, for `weights` (0 = not serving) and
/// the weights used when the pool fails open.
pub fn decide(p: &Pool, weights: &[u64], fail_open: &[u64]) -> (Answering, Vec<bool>) {
    let client = ClientKey::from_source(std::net::Ipv4Addr::UNSPECIFIED.into());
    let sel = select::select(
        p,
        weights,
        || fail_open.into(),
        &client,
        &mut SmallRng::seed_from_u64(0),
    );
    let answered: Vec<bool> = p
        .regions
        .iter()
        .enumerate()
        .map(|(i, r)| match sel.rule {
            Rule::Policy => weights[i] > 0 && sel.tier.is_none_or(|t| t == r.priority),
            Rule::AllDownAll => fail_open[i] > 0,
            _ => false,
        })
        .collect();
    let names = |on: &[bool]| {
        p.regions
            .iter()
            .zip(on)
            .filter(|(_, a)| **a)
            .map(|(r, _)| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let n = answered.iter().filter(|a| **a).count();
    let locations = locations(p, weights);
    let summary = match sel.rule {
        // A topology pool answers each client location from its own step.
        Rule::Policy if !locations.is_empty() => format!(
            "answering {} client locations, {} off their first choice",
            locations.len(),
            locations.iter().filter(|l| l.off_first_choice).count()
        ),
        Rule::Policy => match sel.tier {
            Some(t) => format!("answering priority {t}: {}", names(&answered)),
            None if n == p.regions.len() => format!("answering all {n} regions"),
            None => format!(
                "answering {n} of {} regions: {}",
                p.regions.len(),
                names(&answered)
            ),
        },
        Rule::AllDownAll => format!(
            "failing open: no region healthy, answering {}",
            names(&answered)
        ),
        Rule::AllDownNone => "NODATA: no region healthy, answering no address".into(),
        Rule::AllDownServfail => "SERVFAIL: no region healthy".into(),
        Rule::Fallback => format!(
            "answering fallback {}",
            p.fallback
                .iter()
                .map(|r| r.data.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    (
        Answering {
            rule: sel.rule,
            summary,
        },
        answered,
    )
}

/// Where each client location of a topology pool is answered from with `weights`, by the same
/// steps the DNS path walks (empty for other pools).
pub fn locations(p: &Pool, weights: &[u64]) -> Vec<LocationNow> {
    let Some(topo) = &p.topology else {
        return Vec::new();
    };
    let configured: Vec<u64> = p.regions.iter().map(|r| u64::from(r.weight)).collect();
    let names = topo
        .map
        .locations
        .iter()
        .map(|l| (l.name.as_str(), l.list))
        .chain(std::iter::once(("default", topo.map.default)));
    names
        .map(|(name, list)| {
            let steps = topo.steps.get(list).map_or(&[][..], |s| &s[..]);
            let now_at = select::first_step(steps, weights);
            let best = select::first_step(steps, &configured).map(|(i, _)| i);
            LocationNow {
                location: name.to_string(),
                answered_from: now_at.map_or_else(Vec::new, |(_, g)| {
                    g.iter()
                        .filter(|r| weights[**r] > 0)
                        .map(|r| p.regions[*r].name.clone())
                        .collect()
                }),
                step: now_at.map(|(i, _)| i),
                off_first_choice: now_at.map(|(i, _)| i) != best,
            }
        })
        .collect()
}
