//! Cluster ties: when the counted votes split evenly, every instance serves the region — a
//! decision of the votes alone, never of what one instance remembers or took alone. So a
//! failure only one vantage sees stays in every instance's answers, from the start, after a
//! brief partition and after an agreed failure, and every instance answers the same.

use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::cluster::{
    BOTH, CONSENSUS, DETECTION, answers, cluster, region, settled, status, until_east, zone,
};
use crate::harness::{Gslbd, poll};

/// Waits until `g` hears from a quorum and its own probes say east is `east`.
fn heard_and_sees(g: &Gslbd, east: &str) {
    poll(Duration::from_secs(20), Duration::from_millis(100), || {
        let s = status(g);
        let fresh = s["cluster"]["isolated"] == false;
        let seen = region(&s, "east")["state"] == east && region(&s, "west")["state"] == "up";
        (fresh && seen).then_some(())
    })
    .unwrap_or_else(|| panic!("not settled with east {east}: {}", status(g)));
}

/// For `3 × (detection + consensus)`, every instance in `nodes` answers east and west, and
/// shows east's votes tied and serving.
fn every_instance_keeps_east(nodes: &[&Gslbd]) {
    let until = Instant::now() + Duration::from_secs_f64(3.0 * (DETECTION + CONSENSUS));
    while Instant::now() < until {
        for (i, g) in nodes.iter().enumerate() {
            let got = answers(g);
            // A loaded machine can let a peer's vote go stale for a moment: an isolated
            // instance answers from its own view (README), which is not a tie.
            if got != BOTH && status(g)["cluster"]["isolated"] == true {
                continue;
            }
            assert_eq!(got, BOTH, "instance {i} dropped east");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for g in nodes {
        let s = status(g);
        let east = region(&s, "east");
        assert_eq!(east["votes"]["how"], "tie", "{east}");
        assert_eq!(east["serving"], true, "{east}");
    }
}

#[test]
fn a_tie_from_the_start_keeps_the_region_serving_on_every_instance() {
    let (east, west) = (Backend::http(), Backend::http());
    // a's path to east is broken from the start; b's is not. No quorum ever agreed on east.
    east.block_agents(&["(a)"]);
    let z = zone(&east, &west);
    let nodes = cluster(2, &[("z.toml", &z)]);
    heard_and_sees(&nodes[0], "down");
    heard_and_sees(&nodes[1], "up");
    // Within the consensus delay of hearing each other, both answer east.
    for g in &nodes {
        until_east(
            g,
            true,
            Duration::from_secs_f64(DETECTION + CONSENSUS + 0.5),
        )
        .expect("east back in the answers");
    }
    every_instance_keeps_east(&nodes.iter().collect::<Vec<_>>());
}

/// `n` instances (a, b, …; all but a and b stopped), a and b agree on east; then b is
/// paused, a alone sees east fail and drops it; when b is back the votes tie and both serve
/// east.
fn a_brief_partition(n: usize) {
    let (east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let mut nodes = cluster(n, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    for g in nodes.iter_mut().skip(2) {
        g.terminate();
    }
    let (a, b) = (&nodes[0], &nodes[1]);
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (status(a)["cluster"]["isolated"] == false).then_some(())
    })
    .expect("a and b are a quorum");
    b.signal("STOP");
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (status(a)["cluster"]["isolated"] == true).then_some(())
    })
    .expect("a is isolated");
    east.block_agents(&["(a)"]);
    until_east(a, false, Duration::from_secs(10)).expect("a alone drops east");
    assert_eq!(region(&status(a), "east")["votes"]["how"], "isolated");
    b.signal("CONT");
    // Once b's votes count again (its next probe and a poll), a answers east again.
    for g in [a, b] {
        until_east(
            g,
            true,
            Duration::from_secs_f64(DETECTION + CONSENSUS + 0.5),
        )
        .expect("east back in the answers");
    }
    heard_and_sees(a, "down");
    every_instance_keeps_east(&[a, b]);
}

#[test]
fn after_a_brief_partition_a_tie_serves_on_both_instances() {
    a_brief_partition(2);
}

#[test]
fn with_a_third_instance_stopped_a_tie_serves() {
    a_brief_partition(3);
}

#[test]
fn a_tie_after_an_agreed_failure_serves_on_every_instance_whatever_each_remembers() {
    let (east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let nodes = cluster(2, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    // Both see east fail: the quorum takes it out.
    east.block_agents(&["(a)", "(b)"]);
    for g in &nodes {
        until_east(
            g,
            false,
            Duration::from_secs_f64(DETECTION + CONSENSUS + 1.0),
        )
        .expect("east out by quorum");
    }
    // Then east recovers for b only: the votes tie, and a tie serves on both (what each
    // remembers of the agreed failure does not count, so a restarted one decides the same).
    east.block_agents(&["(a)"]);
    heard_and_sees(&nodes[1], "up");
    for g in &nodes {
        until_east(
            g,
            true,
            Duration::from_secs_f64(DETECTION + CONSENSUS + 1.0),
        )
        .expect("east back in the answers");
    }
    heard_and_sees(&nodes[0], "down");
    every_instance_keeps_east(&nodes.iter().collect::<Vec<_>>());
}
