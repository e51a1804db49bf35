//! Policies over pools built from real zone text: failover tiers, hashed consistency, the
//! all-down rule in every mode, and the N-1 shares.

use std::path::Path;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::zone::ZoneSet;

/// A zone with one pool `www`; `pool` is extra pool keys, `regions` one line per region:
/// `name weight priority`.
fn zone(pool: &str, regions: &[(&str, u32, u32)]) -> ZoneSet {
    let mut text = String::from(
        "origin = \"t.example.\"\n[soa]\nmname = \"ns.t.example.\"\nrname = \"h.t.example.\"\n\
         [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.t.example.\"]\n\
         [pools.www]\ntype = \"A\"\n",
    );
    text.push_str(pool);
    text.push('\n');
    for (i, (name, weight, priority)) in regions.iter().enumerate() {
        text.push_str(&format!(
            "[pools.www.regions.{name}]\naddresses = [\"192.0.2.{}\"]\nweight = {weight}\npriority = {priority}\n",
            i + 1
        ));
    }
    crate::config::from_str(Path::new("t.toml"), &text).expect("valid zone")
}

fn pool(set: &ZoneSet) -> &Pool {
    &set.zones[0].pools[0]
}

fn configured(p: &Pool) -> super::Weights {
    p.regions.iter().map(|r| u64::from(r.weight)).collect()
}

fn client(ip: &str) -> ClientKey {
    ClientKey::from_source(ip.parse().expect("ip"))
}

#[test]
fn failover_uses_the_lowest_healthy_tier_then_the_fallback() {
    let set = zone(
        "policy = \"failover\"\nanswers = 2\nfallback = [\"198.51.100.1\"]",
        &[("a", 1, 1), ("b", 1, 1), ("c", 5, 2)],
    );
    let p = pool(&set);
    let mut rng = StdRng::seed_from_u64(1);
    let c = client("10.0.0.1");
    let s = select(p, &[1, 1, 5], || configured(p), &c, &mut rng);
    assert_eq!((s.tier, s.rule), (Some(1), Rule::Policy));
    let mut r = s.regions.clone();
    r.sort();
    assert_eq!(r.as_slice(), [0, 1], "both tier-1 regions, never tier 2");
    let s = select(p, &[0, 1, 5], || configured(p), &c, &mut rng);
    assert_eq!((s.tier, s.regions.as_slice()), (Some(1), &[1][..]));
    let s = select(p, &[0, 0, 5], || configured(p), &c, &mut rng);
    assert_eq!((s.tier, s.regions.as_slice()), (Some(2), &[2][..]));
    let s = select(p, &[0, 0, 0], || configured(p), &c, &mut rng);
    assert_eq!(s.rule, Rule::Fallback, "static fallback is the last tier");
}

#[test]
fn all_down_rule_is_the_same_in_every_policy() {
    for policy in ["weighted", "failover", "all", "hashed"] {
        for (mode, rule) in [
            ("all", Rule::AllDownAll),
            ("none", Rule::AllDownNone),
            ("servfail", Rule::AllDownServfail),
            ("fallback", Rule::Fallback),
        ] {
            let set = zone(
                &format!(
                    "policy = \"{policy}\"\non_all_down = \"{mode}\"\nfallback = [\"198.51.100.1\"]"
                ),
                &[("a", 1, 1), ("b", 2, 2)],
            );
            let mut rng = StdRng::seed_from_u64(1);
            let s = select(
                pool(&set),
                &[0, 0],
                || configured(pool(&set)),
                &client("10.0.0.1"),
                &mut rng,
            );
            // A failover pool with a fallback list answers it before the all-down rule.
            let want = if policy == "failover" {
                Rule::Fallback
            } else {
                rule
            };
            assert_eq!(s.rule, want, "{policy} / {mode}");
            if want == Rule::AllDownAll {
                assert!(!s.regions.is_empty(), "{policy}: fail open answers regions");
            }
        }
    }
}

#[test]
fn fail_open_follows_configured_weights_and_tiers() {
    let set = zone(
        "policy = \"failover\"\non_all_down = \"all\"",
        &[("a", 1, 1), ("b", 1, 2)],
    );
    let mut rng = StdRng::seed_from_u64(1);
    let s = select(
        pool(&set),
        &[0, 0],
        || configured(pool(&set)),
        &client("10.0.0.1"),
        &mut rng,
    );
    assert_eq!(
        (s.rule, s.regions.as_slice(), s.tier),
        (Rule::AllDownAll, &[0][..], Some(1))
    );
}

#[test]
fn hashed_is_stable_per_subnet_and_identical_across_instances() {
    let a = zone(
        "policy = \"hashed\"",
        &[("us-east", 3, 1), ("us-west", 2, 1), ("eu-west", 1, 1)],
    );
    let b = zone(
        "policy = \"hashed\"",
        &[("us-east", 3, 1), ("us-west", 2, 1), ("eu-west", 1, 1)],
    );
    let w = [3, 2, 1];
    let mut rng = StdRng::seed_from_u64(1);
    let mut other = StdRng::seed_from_u64(99);
    for i in 0..200 {
        let c = client(&format!("10.{}.{}.7", i / 10, i));
        let first = select(pool(&a), &w, || configured(pool(&a)), &c, &mut rng);
        assert_eq!(first.scope, Some(24));
        // Same /24, another host: same region. Another instance, another RNG: same answer.
        let same_subnet = client(&format!("10.{}.{}.200", i / 10, i));
        assert_eq!(
            select(
                pool(&a),
                &w,
                || configured(pool(&a)),
                &same_subnet,
                &mut rng
            )
            .regions,
            first.regions
        );
        assert_eq!(
            select(pool(&b), &w, || configured(pool(&b)), &c, &mut other).regions,
            first.regions
        );
    }
}

#[test]
fn hashed_failure_moves_only_the_failed_regions_clients() {
    let set = zone(
        "policy = \"hashed\"",
        &[("a", 1, 1), ("b", 1, 1), ("c", 1, 1)],
    );
    let mut rng = StdRng::seed_from_u64(1);
    let mut moved = 0;
    let mut counts = [0; 3];
    for i in 0..3000u32 {
        let c = client(&format!(
            "{}.{}.{}.1",
            1 + i / 65536,
            (i / 256) % 256,
            i % 256
        ));
        let before = select(
            pool(&set),
            &[1, 1, 1],
            || configured(pool(&set)),
            &c,
            &mut rng,
        )
        .regions[0];
        counts[before] += 1;
        let after = select(
            pool(&set),
            &[1, 0, 1],
            || configured(pool(&set)),
            &c,
            &mut rng,
        )
        .regions[0];
        if before == 1 {
            assert_ne!(after, 1);
            moved += 1;
        } else {
            assert_eq!(after, before, "a client of a healthy region moved");
        }
    }
    assert_eq!(moved, counts[1]);
    assert!(
        counts.iter().all(|c| (800..1200).contains(c)),
        "spread {counts:?}"
    );
}

#[test]
fn hashed_respects_weights() {
    let set = zone("policy = \"hashed\"", &[("a", 3, 1), ("b", 1, 1)]);
    let mut rng = StdRng::seed_from_u64(1);
    let a = (0..4000u32)
        .filter(|i| {
            let c = client(&format!(
                "{}.{}.{}.1",
                1 + i / 65536,
                (i / 256) % 256,
                i % 256
            ));
            select(pool(&set), &[3, 1], || configured(pool(&set)), &c, &mut rng).regions[0] == 0
        })
        .count();
    assert!((2800..3200).contains(&a), "3:1 weights gave {a}/4000");
}

#[test]
fn expected_shares_per_policy() {
    let w = zone(
        "policy = \"weighted\"",
        &[("a", 3, 1), ("b", 2, 1), ("c", 1, 2)],
    );
    let round = |v: Vec<f64>| {
        v.into_iter()
            .map(|x| (x * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        round(expected_shares(pool(&w), &[true, true, true])),
        vec![0.5, 0.333, 0.167]
    );
    assert_eq!(
        round(expected_shares(pool(&w), &[false, true, true])),
        vec![0.0, 0.667, 0.333]
    );
    let f = zone(
        "policy = \"failover\"",
        &[("a", 3, 1), ("b", 2, 1), ("c", 1, 2)],
    );
    assert_eq!(
        round(expected_shares(pool(&f), &[true, true, true])),
        vec![0.6, 0.4, 0.0]
    );
    assert_eq!(
        round(expected_shares(pool(&f), &[false, false, true])),
        vec![0.0, 0.0, 1.0]
    );
    let a = zone("policy = \"all\"", &[("a", 3, 1), ("b", 2, 1), ("c", 1, 2)]);
    assert_eq!(
        round(expected_shares(pool(&a), &[true, false, true])),
        vec![0.5, 0.0, 0.5]
    );
}

/// When every region is down and the pool fails open, the configured weights are gathered
/// without a heap allocation per query (the incident's query path is the fast path's).
#[test]
fn a_pool_failing_open_chooses_without_allocating() {
    let set = zone("answers = 2", &[("a", 1, 1), ("b", 2, 1), ("c", 3, 1)]);
    let p = pool(&set);
    let mut rng = StdRng::seed_from_u64(2);
    let c = client("10.0.0.1");
    let (allocations, rules) = crate::allocs::during(|| {
        (0..100)
            .map(|_| select(p, &[0, 0, 0], || configured(p), &c, &mut rng).rule)
            .filter(|r| *r == Rule::AllDownAll)
            .count()
    });
    assert_eq!(rules, 100, "every answer fails open");
    assert_eq!(allocations, 0, "{allocations} allocations in 100 choices");
}
