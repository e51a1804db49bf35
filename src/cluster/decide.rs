//! The consensus function: per region, the same pure function of the fresh votes on every
//! instance. With a quorum of votes the rule decides (a tie serves: a failure only some
//! instances see does not take a region out); below quorum the instance uses its own verdict, but
//! never turns a pool all-down that the last consensus had serving.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::instance::Rule;
use crate::health::State;

/// One vote as this instance sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub state: State,
    /// Since the voter's last probe of the region, as of now.
    pub age: Duration,
    /// The hash of the voter's probe settings and addresses for the region.
    pub settings: String,
}

/// Why a vote did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Abstain {
    /// The peer has not been heard from within `stale_after`.
    Stale,
    /// Heard from, but it does not probe this region (or has no verdict for it yet).
    Unknown,
    /// Its probe settings or addresses for the region differ from ours.
    Mismatch,
    /// Its last probe of the region is older than the probe interval + timeout + stale_after.
    Old,
    /// It publishes this instance's name, or a name another peer also publishes: one instance
    /// must not vote twice.
    Duplicate,
}

/// How a region's consensus was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// A quorum voted and the rule decided.
    Quorum,
    /// A quorum voted, evenly split: the last state a quorum decided is kept (serving when
    /// there is none).
    Tie,
    /// Below quorum: this instance's own verdict.
    Isolated,
    /// Below quorum, and the own verdicts would have turned the pool all-down while the last
    /// consensus had it serving: the last consensus is kept.
    IsolatedKept,
}

/// One region's votes and the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// Instances voting up (this one included when it does).
    pub up: Vec<String>,
    pub down: Vec<String>,
    /// Instances that did not count, and why.
    pub abstain: Vec<(String, Abstain)>,
    /// Whether DNS may answer with the region.
    pub serving: bool,
    pub how: How,
}

impl Agreement {
    /// True when the counted votes are not unanimous.
    pub fn disagrees(&self) -> bool {
        !self.up.is_empty() && !self.down.is_empty()
    }
}

/// What one region brings to the vote.
pub struct Ballot<'a> {
    /// This instance's vote.
    pub own: &'a Vote,
    /// Whether this instance alone would answer with it (an `unknown` verdict counts as the
    /// pool's `initial`).
    pub own_serving: bool,
    /// The oldest a vote may be: probe interval + timeout + `stale_after`.
    pub max_age: Duration,
    /// The peers' votes: name and vote (`None`: none on this region), or why the peer as a
    /// whole abstains (stale, duplicate).
    pub peers: Vec<(&'a str, Result<Option<&'a Vote>, Abstain>)>,
}

/// Counts one region's votes under `rule` with `quorum` votes needed.
pub fn region(me: &str, b: &Ballot<'_>, rule: Rule, quorum: usize) -> Agreement {
    let mut a = Agreement {
        up: Vec::new(),
        down: Vec::new(),
        abstain: Vec::new(),
        serving: b.own_serving,
        how: How::Isolated,
    };
    let mut count = |name: &str, vote: Result<Option<&Vote>, Abstain>| {
        let why = match vote {
            Err(why) => Some(why),
            Ok(None) => Some(Abstain::Unknown),
            Ok(Some(v)) if v.settings != b.own.settings => Some(Abstain::Mismatch),
            Ok(Some(v)) if v.state == State::Unknown => Some(Abstain::Unknown),
            Ok(Some(v)) if v.age > b.max_age => Some(Abstain::Old),
            Ok(Some(v)) => {
                if v.state == State::Up {
                    a.up.push(name.to_string());
                } else {
                    a.down.push(name.to_string());
                }
                None
            }
        };
        if let Some(why) = why {
            a.abstain.push((name.to_string(), why));
        }
    };
    count(me, Ok(Some(b.own)));
    for (name, vote) in &b.peers {
        count(name, *vote);
    }
    let (up, down) = (a.up.len(), a.down.len());
    if up + down < quorum {
        return a;
    }
    let verdict = match rule {
        Rule::Majority if up == down => None,
        Rule::Majority => Some(up > down),
        Rule::AnyUp => Some(up > 0),
        Rule::AllUp => Some(down == 0),
    };
    // A tie serves: some vote says up, and a failure only some instances see does not take a
    // region out. It depends on the votes alone (not on what this instance remembers), so
    // every instance decides it the same, also one that just restarted.
    (a.serving, a.how) = match verdict {
        Some(v) => (v, How::Quorum),
        None => (true, How::Tie),
    };
    a
}

/// The isolation guard over one pool's regions (beside each, the last result a quorum reached
/// for it, never an isolated decision): when every region would be out and some was serving by
/// the last consensus, the regions decided alone keep their last agreed state.
pub fn guard_pool(regions: &mut [(&mut Agreement, Option<bool>)]) {
    let none_serving = regions.iter().all(|(a, _)| !a.serving);
    let was_serving = regions.iter().any(|(_, prev)| *prev == Some(true));
    let alone = regions.iter().any(|(a, _)| a.how == How::Isolated);
    if !(none_serving && was_serving && alone) {
        return;
    }
    for (a, prev) in regions.iter_mut() {
        if a.how == How::Isolated
            && let Some(p) = prev
        {
            a.serving = *p;
            a.how = How::IsolatedKept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(state: State) -> Vote {
        Vote {
            state,
            age: Duration::from_secs(1),
            settings: "h".into(),
        }
    }

    fn decide(own: State, peers: &[Option<Option<Vote>>], rule: Rule) -> Agreement {
        let own = vote(own);
        let names: Vec<String> = (0..peers.len()).map(|i| format!("p{i}")).collect();
        let b = Ballot {
            own: &own,
            own_serving: own.state != State::Down,
            max_age: Duration::from_secs(10),
            peers: names
                .iter()
                .zip(peers)
                .map(|(n, v)| {
                    let v = v.as_ref().map(|v| v.as_ref()).ok_or(Abstain::Stale);
                    (n.as_str(), v)
                })
                .collect(),
        };
        let size = peers.len() + 1;
        region("me", &b, rule, size / 2 + 1)
    }

    use State::{Down, Unknown, Up};

    #[test]
    fn the_majority_decides_and_a_tie_serves() {
        let a = decide(
            Down,
            &[Some(Some(vote(Up))), Some(Some(vote(Up)))],
            Rule::Majority,
        );
        assert_eq!((a.serving, a.how), (true, How::Quorum));
        assert!(a.disagrees());
        // A tie serves whichever side this instance is on: the votes alone decide it, so every
        // instance (one that just restarted too) decides it the same.
        for own in [Down, Up] {
            let other = if own == Up { Down } else { Up };
            let a = decide(own, &[Some(Some(vote(other)))], Rule::Majority);
            assert_eq!((a.serving, a.how), (true, How::Tie), "{own:?}");
        }
        let a = decide(
            Down,
            &[Some(Some(vote(Down))), Some(Some(vote(Up)))],
            Rule::Majority,
        );
        assert_eq!((a.serving, a.how), (false, How::Quorum));
    }

    #[test]
    fn any_up_and_all_up_lean_opposite_ways() {
        let peers = [Some(Some(vote(Down))), Some(Some(vote(Down)))];
        assert!(decide(Up, &peers, Rule::AnyUp).serving);
        assert!(!decide(Up, &peers, Rule::AllUp).serving);
        let peers = [Some(Some(vote(Up))), Some(Some(vote(Up)))];
        assert!(!decide(Down, &peers, Rule::AllUp).serving);
    }

    #[test]
    fn stale_unknown_old_and_mismatched_votes_abstain_and_below_quorum_is_isolated() {
        let mut other = vote(Up);
        other.settings = "different".into();
        let mut old = vote(Up);
        old.age = Duration::from_secs(11);
        let a = decide(
            Down,
            &[
                None,
                Some(None),
                Some(Some(other)),
                Some(Some(old)),
                Some(Some(vote(Unknown))),
            ],
            Rule::Majority,
        );
        assert_eq!((a.serving, a.how), (false, How::Isolated));
        let why: Vec<Abstain> = a.abstain.iter().map(|(_, w)| *w).collect();
        assert_eq!(
            why,
            [
                Abstain::Stale,
                Abstain::Unknown,
                Abstain::Mismatch,
                Abstain::Old,
                Abstain::Unknown
            ]
        );
    }

    #[test]
    fn an_isolated_instance_never_empties_a_pool_the_consensus_had_serving() {
        let mut x = decide(Down, &[None, None], Rule::Majority);
        let mut y = decide(Down, &[None, None], Rule::Majority);
        guard_pool(&mut [(&mut x, Some(true)), (&mut y, Some(false))]);
        assert_eq!((x.serving, x.how), (true, How::IsolatedKept));
        assert_eq!((y.serving, y.how), (false, How::IsolatedKept));
        // Without a serving consensus before, its own view stands.
        let mut z = decide(Down, &[None, None], Rule::Majority);
        guard_pool(&mut [(&mut z, Some(false))]);
        assert_eq!((z.serving, z.how), (false, How::Isolated));
    }
}
