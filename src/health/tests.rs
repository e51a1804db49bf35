//! The rise/fall state machine, hold-down, slow start and state kept across rebuilds. (That the
//! snapshot a verdict publishes is what the very next lookup reads is tested with the lookup,
//! in `dns/lookup/tests.rs`.)

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::zone::{Initial, ProbeSpec};

use super::*;

fn spec(fall: u32, rise: u32) -> ProbeSpec {
    ProbeSpec::for_test(
        Duration::from_secs(1),
        Duration::from_millis(500),
        fall,
        rise,
    )
}

const MS: Duration = Duration::from_millis(1);

fn feed(t: &mut TargetState, results: &[bool], start: Instant) -> Vec<Transition> {
    results
        .iter()
        .enumerate()
        .filter_map(|(i, ok)| {
            let o = if *ok { Outcome::Ok } else { Outcome::Refused };
            t.observe(o, MS, start + Duration::from_secs(i as u64))
        })
        .collect()
}

#[test]
fn fall_failures_in_a_row_bring_it_down_and_rise_successes_back() {
    let now = Instant::now();
    let mut t = TargetState::new(&spec(3, 2), now);
    assert_eq!(t.state, State::Unknown);
    assert!(t.serving(), "unknown counts as up by default");
    let tr = feed(&mut t, &[true, true, false, false, false, true, true], now);
    assert_eq!(
        tr,
        vec![
            Transition {
                from: State::Unknown,
                to: State::Up,
                reason: Outcome::Ok,
                count: 2
            },
            Transition {
                from: State::Up,
                to: State::Down,
                reason: Outcome::Refused,
                count: 3
            },
            Transition {
                from: State::Down,
                to: State::Up,
                reason: Outcome::Ok,
                count: 2
            },
        ]
    );
    assert!(t.serving());
    assert!(t.recovered_at.is_some());
}

#[test]
fn a_single_blip_never_removes_it() {
    let now = Instant::now();
    let mut t = TargetState::new(&spec(3, 2), now);
    let tr = feed(
        &mut t,
        &[
            true, true, false, true, false, false, true, false, false, true,
        ],
        now,
    );
    assert_eq!(tr.len(), 1, "only unknown -> up: {tr:?}");
    assert_eq!(t.state, State::Up);
}

#[test]
fn initial_down_waits_for_rise() {
    let now = Instant::now();
    let mut s = spec(3, 2);
    s.initial = Initial::Down;
    let mut t = TargetState::new(&s, now);
    assert!(!t.serving());
    feed(&mut t, &[true], now);
    assert!(!t.serving());
    feed(&mut t, &[true], now);
    assert!(t.serving());
}

#[test]
fn hold_down_keeps_a_flapping_target_down() {
    let now = Instant::now();
    let mut s = spec(1, 1);
    s.hold_down = Some(Duration::from_secs(5));
    let mut t = TargetState::new(&s, now);
    // Down at t=0, healthy from t=1: held until t=5.
    let tr = feed(&mut t, &[false, true, true, true, true, true, true], now);
    assert_eq!(tr.len(), 2, "{tr:?}");
    assert_eq!(tr[1].to, State::Up);
    assert_eq!(t.since, now + Duration::from_secs(5));
}

#[test]
fn unchanged_targets_keep_state_across_rebuild() {
    let text = |port: u16| {
        format!(
            "origin = \"t.example.\"\n[soa]\nmname = \"ns.t.example.\"\nrname = \"h.t.example.\"\n\
             [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.t.example.\"]\n\
             [pools.www]\ntype = \"A\"\n[pools.www.probe]\nfall = 1\n\
             [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"http://127.0.0.1:1/\"\n\
             [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"http://127.0.0.1:{port}/\"\n"
        )
    };
    let now = Instant::now();
    let zones = Arc::new(crate::config::from_str(Path::new("t.toml"), &text(2)).expect("valid"));
    let mut table = HealthTable::new(zones, None, now);
    table.observe(0, Outcome::Timeout, MS, now);
    table.observe(1, Outcome::Timeout, MS, now);
    assert_eq!(table.target(0).map(|t| t.state), Some(State::Down));

    let changed = Arc::new(crate::config::from_str(Path::new("t.toml"), &text(3)).expect("valid"));
    let table = HealthTable::new(changed, Some(&table), now);
    assert_eq!(
        table.target(0).map(|t| t.state),
        Some(State::Down),
        "same spec keeps its state"
    );
    assert_eq!(
        table.target(1).map(|t| t.state),
        Some(State::Unknown),
        "new target starts unknown"
    );
}

#[test]
fn slow_start_ramps_weight_linearly_from_a_floor() {
    let text = "origin = \"t.example.\"\n[soa]\nmname = \"ns.t.example.\"\nrname = \"h.t.example.\"\n\
                [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.t.example.\"]\n\
                [pools.www]\ntype = \"A\"\nslow_start = \"10s\"\n[pools.www.probe]\nfall = 1\nrise = 1\n\
                [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\nweight = 4\n";
    let now = Instant::now();
    let zones = Arc::new(crate::config::from_str(Path::new("t.toml"), text).expect("valid"));
    let mut table = HealthTable::new(zones.clone(), None, now);
    let pool = &zones.zones[0].pools[0];
    let region = &pool.regions[0];
    assert_eq!(
        table.live(&Overrides::new()).weight(pool, region, now),
        4 * WEIGHT_SCALE,
        "fresh start: full weight"
    );
    table.observe(0, Outcome::Refused, MS, now);
    assert_eq!(table.live(&Overrides::new()).weight(pool, region, now), 0);
    table.observe(0, Outcome::Ok, MS, now);
    let live = table.live(&Overrides::new());
    assert_eq!(
        live.weight(pool, region, now),
        400,
        "starts at the 10% floor"
    );
    assert_eq!(
        live.weight(pool, region, now + Duration::from_secs(5)),
        2000
    );
    assert_eq!(
        live.weight(pool, region, now + Duration::from_secs(20)),
        4000
    );
}
