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
