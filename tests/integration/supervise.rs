//! A supervised process: liveness and readiness endpoints, a gauge of how stale probe results
//! are, and an exit (status 70) when a task panics instead of serving frozen health.

use std::process::Stdio;
use std::time::Duration;

use crate::backend::Backend;
use crate::harness::{Gslbd, finish_within, http, poll, spawn_serve, zone_head};

fn zone(check: &str, interval: &str) -> String {
    format!(
        "{}[pools.www]\ntype = \"A\"\n[pools.www.probe]\ninterval = \"{interval}\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{check}\"\n",
        zone_head("gslb.example.")
    )
}

#[test]
fn healthz_readyz_and_the_probe_age_gauge() {
    let b = Backend::http();
    // A 3 s interval: the first probe lands somewhere in the first 3 s (its phase).
    let g = Gslbd::start(&[("z.toml", &zone(&b.url("/"), "3s"))]);
    let (code, body) = g.api("GET", "/healthz", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["ok"], true);
    let ready = poll(Duration::from_secs(8), Duration::from_millis(50), || {
        let (code, body) = g.api("GET", "/readyz", None);
        match code {
            200 => Some(body),
            503 => {
                assert_eq!(body["waiting_for_first_probe"], 1, "{body}");
                None
            }
            other => panic!("readyz answered {other}: {body}"),
        }
    })
    .expect("ready after the first probe round");
    assert_eq!(ready["ready"], true);
    let (_, metrics) = http(g.admin.as_deref().expect("admin"), "GET", "/metrics", None);
    let age: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gslbd_probe_last_result_age_seconds "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the age gauge is exported");
    assert!((0.0..4.0).contains(&age), "{age}");
}

#[test]
fn zones_without_probes_are_ready_at_once() {
    let z = format!(
        "{}[pools.www]\ntype = \"A\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n",
        zone_head("gslb.example.")
    );
    let g = Gslbd::start(&[("z.toml", &z)]);
    let (code, body) = g.api("GET", "/readyz", None);
    assert_eq!(code, 200, "{body}");
}

#[test]
fn a_panicking_prober_stops_the_process_with_status_70() {
    // The switch that makes a prober panic exists only in debug builds (what `tests/run`
    // builds); a `--release` run of the suite has nothing to trigger.
    if !cfg!(debug_assertions) {
        eprintln!("skipped: release builds have no GSLBD_TEST_PANIC_PROBER switch");
        return;
    }
    let b = Backend::http();
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone(&b.url("/"), "200ms")).expect("zone");
    let child = spawn_serve(
        &zones,
        &[],
        &[("GSLBD_TEST_PANIC_PROBER", "1")],
        Stdio::piped(),
    );
    let (status, err) = finish_within(child, Duration::from_secs(15));
    let status = status.expect("gslbd kept running with a dead prober");
    assert_eq!(status.code(), Some(70), "{err}");
    assert!(err.contains("a prober panicked"), "{err}");
    assert!(
        err.contains("exiting so that a supervisor restarts gslbd"),
        "{err}"
    );
}

#[test]
fn lifecycle_log_lines_keep_their_targets_for_log_filters() {
    let backend = Backend::http();
    let g = Gslbd::start(&[("z.toml", &zone(&backend.url("/"), "1s"))]);
    g.signal("HUP");
    let logs = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        let logs = g.logs().join("\n");
        logs.contains("reload: no file changed").then_some(logs)
    })
    .expect("the SIGHUP reload ran");
    // `--log info,gslbd::engine=warn` and log scrapers key on these.
    for line in [
        "gslbd: ready",
        "gslbd: SIGHUP: reloading zones",
        "gslbd::engine: reload: no file changed",
    ] {
        assert!(logs.contains(line), "{line:?} not in:\n{logs}");
    }
}
