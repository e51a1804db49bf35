//! `dist/gslbd.service`: no systemd runs on the test machines, so the unit is checked the way
//! systemd would use it: its ExecStart starts the real binary on the example zones, it waits
//! for gslbd's READY notification, reloads with SIGHUP, restarts after a panic, and gives a
//! stop more time than gslbd's grace period.

use std::path::Path;

use crate::harness::Gslbd;

fn unit() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/gslbd.service"))
        .expect("dist/gslbd.service")
}

fn value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
}

#[test]
fn the_unit_starts_the_real_binary_and_matches_its_behaviour() {
    let unit = unit();
    assert_eq!(value(&unit, "Type"), "notify");
    assert_eq!(value(&unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
    assert_eq!(value(&unit, "Restart"), "on-failure");
    let stop: u64 = value(&unit, "TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .expect("seconds");
    assert!(
        stop > gslbd::SHUTDOWN_GRACE.as_secs(),
        "systemd must outwait the grace period"
    );

    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state.json");
    let exec: Vec<String> = value(&unit, "ExecStart")
        .split_whitespace()
        .map(|a| match a {
            "/etc/gslbd/zones" => zones.to_string_lossy().into_owned(),
            "0.0.0.0:53" => "127.0.0.1:0".to_string(),
            "[::]:53" => "[::1]:0".to_string(),
            "127.0.0.1:8053" => "127.0.0.1:0".to_string(),
            "/var/lib/gslbd/state.json" => state.to_string_lossy().into_owned(),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(exec[0], "/usr/local/bin/gslbd");
    assert_eq!(exec[1], "serve");
    let g = Gslbd::start_args(&exec[2..]);
    assert_eq!(g.dig("gslb.example SOA").status, "NOERROR");
}

/// Probe slots sit on the wall clock: the unit starts after the clock is synchronised
/// (`time-sync.target`, ordered but not pulled in, as systemd.special(7) asks), so chrony's
/// boot-time step lands before gslbd starts rather than under it.
#[test]
fn the_unit_starts_after_the_clock_is_synchronised() {
    let unit = unit();
    let after: Vec<&str> = value(&unit, "After").split_whitespace().collect();
    assert!(after.contains(&"time-sync.target"), "After={after:?}");
    assert!(!value(&unit, "Wants").contains("time-sync.target"));
}
