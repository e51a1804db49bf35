//! Probe schedules follow the wall clock: two instances of one NS set, started apart, probe
//! each target at the same instants and so take a failed region out within milliseconds of
//! each other (not half an interval apart, as when phases counted from each process's start).

use std::time::{Duration, SystemTime};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

/// When `g` logged "region down" for region a.
fn down_at(g: &Gslbd) -> Option<SystemTime> {
    g.logs()
        .iter()
        .find(|l| l.contains("region down") && l.contains("region=\"a\""))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| humantime::parse_rfc3339(t).ok())
}

#[test]
fn two_instances_started_apart_detect_a_failure_together() {
    let mut b = Backend::http();
    let zone = format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n\
         [pools.www.probe]\ninterval = \"1s\"\ntimeout = \"200ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\n",
        zone_head("gslb.example."),
        b.url("/")
    );
    let first = Gslbd::start(&[("z.toml", &zone)]);
    std::thread::sleep(Duration::from_millis(500));
    let second = Gslbd::start(&[("z.toml", &zone)]);
    let up = |g: &Gslbd| {
        let (_, s) = g.api("GET", "/status", None);
        s["zones"][0]["pools"][0]["regions"][0]["state"] == "up"
    };
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (up(&first) && up(&second)).then_some(())
    })
    .expect("a up on both");
    b.set(Mode::Status(503));
    let (t1, t2) = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        Some((down_at(&first)?, down_at(&second)?))
    })
    .expect("both detected the failure");
    let apart = t1
        .duration_since(t2)
        .or_else(|_| t2.duration_since(t1))
        .unwrap_or_default();
    assert!(
        apart < Duration::from_millis(100),
        "the instances took region a out {apart:?} apart"
    );
}

/// After a start every target is probed at once, not at its slot: with `interval = "1h"` the
/// server is ready within a second or two, and a region that is dead at the start leaves the
/// answers then (fall 1), instead of up to an hour (or (fall + 1) hours) later.
#[test]
fn a_start_probes_every_target_at_once() {
    let mut dead = Backend::http();
    dead.set(Mode::Refuse);
    let alive = Backend::http();
    let zone = format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n\
         [pools.www.probe]\ninterval = \"1h\"\ntimeout = \"1s\"\nfall = 1\nrise = 1\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        dead.url("/"),
        alive.url("/")
    );
    let g = Gslbd::start(&[("z.toml", &zone)]);
    // At most the start spread (1 s) + the timeout (1 s), and 1 s for a loaded machine.
    let ready = poll(Duration::from_secs(3), Duration::from_millis(50), || {
        let (code, body) = g.api("GET", "/readyz", None);
        (code == 200).then_some(body)
    });
    assert!(
        ready.is_some(),
        "not ready 3 s after the start: {}",
        g.api("GET", "/readyz", None).1
    );
    let answers = g.dig("www.gslb.example A").answers("A");
    assert_eq!(
        answers,
        vec!["192.0.2.2".to_string()],
        "the dead region a is answered"
    );
}
