//! Wall-clock steps (what chrony's `makestep` does at boot) while gslbd runs: probing goes on at
//! its interval in both directions, and the slots follow the stepped wall clock again, so the
//! instances of an NS set keep probing at the same instants; a running drill lasts its length
//! of real time either way. `/healthz` fails when probe results stop arriving.
//!
//! The clock of the running server is stepped with libfaketime (`FAKETIME_DONT_FAKE_MONOTONIC`
//! moves only the wall clock) through a timestamp file the test rewrites.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const INTERVAL: Duration = Duration::from_secs(3);

/// Pool www: region `a` probed at `check` every 3 s (fall 2, rise 1), region `b` at `other`.
fn zone(check: &str, other: &str) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\nttl = 1\n\
         [pools.www.probe]\ninterval = \"3s\"\ntimeout = \"500ms\"\nfall = 2\nrise = 1\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{check}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{other}\"\n",
        zone_head("gslb.example.")
    )
}

/// Starts gslbd with its wall clock read from libfaketime's timestamp file `fake`.
fn start_faked(zone: &str, fake: &Path) -> Gslbd {
    std::fs::write(fake, "+0s").expect("timestamp file");
    let file = fake.to_str().expect("utf8");
    Gslbd::start_env(
        &[("z.toml", zone)],
        &[
            ("LD_PRELOAD", FAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", file),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    )
}

fn has_a(g: &Gslbd) -> bool {
    g.dig("www.gslb.example A")
        .answers("A")
        .contains(&"192.0.2.1".to_string())
}

fn a_state(g: &Gslbd) -> String {
    let (_, s) = g.api("GET", "/status", None);
    s["zones"][0]["pools"][0]["regions"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// When `g` (by its own wall clock) logged `what` ("region down", "region up") for region a.
fn logged_at(g: &Gslbd, what: &str) -> Option<SystemTime> {
    g.logs()
        .iter()
        .find(|l| l.contains(what) && l.contains("region=\"a\""))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| humantime::parse_rfc3339(t).ok())
}

/// How far apart two instants are within the interval (their phases), in either direction.
fn phase_apart(a: SystemTime, b: SystemTime) -> Duration {
    let n = INTERVAL.as_nanos();
    let at = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            % n
    };
    let d = (at(a) + n - at(b)) % n;
    Duration::from_nanos(u64::try_from(d.min(n - d)).unwrap_or(u64::MAX))
}

/// Steps the wall clock of a running gslbd by `step` ("-200s", "+200s") after its region is up,
/// then fails the backend: the stepped server must take the region out within its detection
/// (+ half an interval for re-aligning to the stepped clock), at the same phase of its own
/// wall clock as an unstepped server, and `/healthz` stays 200 throughout.
fn step_then_fail(step: &str) {
    if !Path::new(FAKETIME).exists() {
        eprintln!("skipped: {FAKETIME} is not installed (apt-get install faketime)");
        return;
    }
    let mut b = Backend::http();
    let other = Backend::http();
    let z = zone(&b.url("/"), &other.url("/"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = tmp.path().join("fake");
    let stepped = start_faked(&z, &fake);
    let reference = Gslbd::start(&[("z.toml", &z)]);
    poll(Duration::from_secs(15), Duration::from_millis(50), || {
        (a_state(&stepped) == "up" && a_state(&reference) == "up").then_some(())
    })
    .expect("region a up on both");

    std::fs::write(&fake, step).expect("step the clock");
    // Let a slot pass on the stepped clock: the schedule after it is computed from there.
    std::thread::sleep(INTERVAL + Duration::from_millis(500));
    assert_eq!(a_state(&stepped), "up");
    let t0 = std::time::Instant::now();
    b.set(Mode::Refuse);
    // detection = fall × interval + timeout = 6.5 s; a step may shift one slot by half an
    // interval; 1 s for the polling and a loaded machine.
    let limit = INTERVAL * 2 + Duration::from_millis(500) + INTERVAL / 2 + Duration::from_secs(1);
    let gone = poll(limit, Duration::from_millis(50), || {
        assert_eq!(
            stepped.api("GET", "/healthz", None).0,
            200,
            "/healthz failed while probing went on"
        );
        (!has_a(&stepped)).then(|| t0.elapsed())
    });
    assert!(
        gone.is_some(),
        "after a {step} step the failed region a was still answered {limit:?} later \
         (probing stopped):\n{}",
        stepped.logs().join("\n")
    );
    let (s, r) = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        Some((
            logged_at(&stepped, "region down")?,
            logged_at(&reference, "region down")?,
        ))
    })
    .expect("both logged region down");
    assert!(
        stepped
            .logs()
            .iter()
            .any(|l| l.contains("the wall clock stepped") && l.contains("step_seconds")),
        "the step was not logged"
    );
    let apart = phase_apart(s, r);
    assert!(
        apart < Duration::from_millis(150),
        "after a {step} step the probes are {apart:?} off the phase of the stepped wall clock"
    );

    // And back: healthy again within readmission (rise × interval + timeout) + the shift.
    let t1 = std::time::Instant::now();
    b.set(Mode::Healthy);
    let back = poll(
        INTERVAL + Duration::from_millis(500) + INTERVAL / 2 + Duration::from_secs(1),
        Duration::from_millis(50),
        || has_a(&stepped).then(|| t1.elapsed()),
    );
    assert!(
        back.is_some(),
        "region a did not come back after the {step} step"
    );
    eprintln!("{step} step: region a out after {gone:?}, back after {back:?}, phase off {apart:?}");
}

#[test]
fn a_backward_wall_clock_step_keeps_probing() {
    step_then_fail("-200s");
}

#[test]
fn a_forward_wall_clock_step_keeps_probing() {
    step_then_fail("+200s");
}

/// With probe results no longer arriving (a debug-build switch stops every prober after its
/// first result), `/healthz` fails within a few intervals so a supervisor restarts gslbd.
#[test]
fn healthz_fails_when_probe_results_stop() {
    if !cfg!(debug_assertions) {
        eprintln!("skipped: release builds have no GSLBD_TEST_STALL_PROBER switch");
        return;
    }
    let b = Backend::http();
    let z = format!(
        "{}\n[pools.www]\ntype = \"A\"\n\
         [pools.www.probe]\ninterval = \"1s\"\ntimeout = \"200ms\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        b.url("/")
    );
    let g = Gslbd::start_env(&[("z.toml", &z)], &[("GSLBD_TEST_STALL_PROBER", "1")]);
    let (code, body) = g.api("GET", "/healthz", None);
    assert_eq!(code, 200, "{body}");
    let failed = poll(Duration::from_secs(12), Duration::from_millis(100), || {
        let (code, body) = g.api("GET", "/healthz", None);
        (code == 503).then_some(body)
    })
    .expect("/healthz kept answering 200 with no probe result for 12 s");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("no probe result"), "{failed}");
}

/// Once region a is up, drills it for `duration`; when the drill started.
fn drill_a(g: &Gslbd, duration: &str) -> std::time::Instant {
    poll(Duration::from_secs(15), Duration::from_millis(50), || {
        has_a(g).then_some(())
    })
    .expect("region a up");
    let started = std::time::Instant::now();
    let path = format!("/regions/gslb.example/www/a/drill?duration={duration}");
    let (code, body) = g.api("POST", &path, None);
    assert_eq!(code, 200, "{body}");
    started
}

/// A 4 s drill, then the wall clock steps by `step`: the drill still lasts 4 s of real time.
fn drill_across_a_step(step: &str) {
    if !Path::new(FAKETIME).exists() {
        eprintln!("skipped: {FAKETIME} is not installed (apt-get install faketime)");
        return;
    }
    let (a, b) = (Backend::http(), Backend::http());
    let tmp = tempfile::tempdir().expect("tempdir");
    let fake = tmp.path().join("fake");
    let g = start_faked(&zone(&a.url("/"), &b.url("/")), &fake);
    let started = drill_a(&g, "4s");
    assert!(!has_a(&g), "the drill takes a out");
    std::fs::write(&fake, step).expect("step the clock");
    let back = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        has_a(&g).then(|| started.elapsed())
    });
    assert!(
        back.is_some_and(|t| t >= Duration::from_millis(3900) && t < Duration::from_secs(6)),
        "a 4 s drill across a {step} step ended after {back:?} (None: not within 10 s)"
    );
}

#[test]
fn a_backward_wall_clock_step_does_not_lengthen_a_drill() {
    drill_across_a_step("-300s");
}

#[test]
fn a_forward_wall_clock_step_does_not_end_a_drill_early() {
    drill_across_a_step("+300s");
}

#[test]
fn a_drill_across_a_restart_with_the_clock_stepped_back_lasts_at_most_its_length() {
    if !Path::new(FAKETIME).exists() {
        eprintln!("skipped: {FAKETIME} is not installed (apt-get install faketime)");
        return;
    }
    let (a, b) = (Backend::http(), Backend::http());
    let g = Gslbd::start(&[("z.toml", &zone(&a.url("/"), &b.url("/")))]);
    let started = drill_a(&g, "5s");
    // A restart with the wall clock 300 s back (NTP's makestep at boot).
    let zones = g.zones_dir().to_string_lossy().into_owned();
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--log",
        "info",
        "--zones",
        &zones,
        "--admin",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let step = [
        "env",
        "FAKETIME_DONT_FAKE_MONOTONIC=1",
        "faketime",
        "-f",
        "-300s",
    ];
    let g = g.restart_in_place(&step, &args);
    assert!(!has_a(&g), "still drilled after the restart");
    let back = poll(Duration::from_secs(15), Duration::from_millis(100), || {
        has_a(&g).then(|| started.elapsed())
    });
    assert!(
        back.is_some_and(|t| t < Duration::from_secs(12)),
        "a 5 s drill lasted {back:?} (None: over 15 s) across a restart 300 s back"
    );
}

/// The pids of `pid`'s descendants (children first).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let children =
            std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")).unwrap_or_default();
        for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

#[test]
fn a_server_started_under_faketime_is_gone_when_its_test_ends() {
    // faketime forks gslbd and waits: killing faketime alone left gslbd running after the test.
    if !Path::new(FAKETIME).exists() {
        eprintln!("skipped: {FAKETIME} is not installed (apt-get install faketime)");
        return;
    }
    let g = Gslbd::start(&[("z.toml", &zone_head("leak.example."))]);
    let zones = g.zones_dir().to_string_lossy().into_owned();
    let args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--zones",
        &zones,
        "--admin",
        "off",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let g = g.restart_in_place(&["faketime", "-f", "-10s"], &args);
    let below = descendants(g.pid());
    assert!(!below.is_empty(), "faketime runs gslbd as its child");
    drop(g);
    let alive = || {
        below
            .iter()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .filter(|p| {
                // A zombie waiting for its reaper is gone too.
                std::fs::read_to_string(format!("/proc/{p}/stat"))
                    .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim().starts_with('Z'))
            })
            .count()
    };
    let gone = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        (alive() == 0).then_some(())
    });
    assert!(
        gone.is_some(),
        "{below:?} still running after the test dropped its server"
    );
}
