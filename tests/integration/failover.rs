//! Measured failover against the computed worst case, for every failure mode and probe kind.
//!
//! Probes run every 200 ms with a 100 ms timeout, fall 3, rise 2. A test breaks one region's
//! backend at T0, polls `dig` every 20 ms until the region leaves the answers, and asserts
//! `(fall − 1) × interval ≤ measured ≤ detection + 100 ms` with `detection` read from
//! `gslbd check --json`; then heals it and holds the return to the computed recovery.

use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, run, zone_head};

const SLACK: Duration = Duration::from_millis(100);
const POLL: Duration = Duration::from_millis(20);
const INTERVAL: Duration = Duration::from_millis(200);

/// A zone with pool `www` (policy all): region `a` (192.0.2.1) probed at `check_a`, region `b`
/// (192.0.2.2) at `check_b`; `probe` is the pool's probe table body.
fn zone(probe: &str, check_a: &str, check_b: &str, extra: &str) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n{extra}\n\
         [pools.www.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 3\nrise = 2\n{probe}\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{check_a}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{check_b}\"\n",
        zone_head("gslb.example.")
    )
}

/// Worst-case (detection, readmission) for pool www, from `gslbd check --json`: gslbd's own
/// answers, without the resolver terms.
fn computed(g: &Gslbd) -> (Duration, Duration) {
    let file = g.zones_dir().join("z.toml");
    let out = run(
        &["check", "--json", file.to_str().expect("utf8")],
        g.dir.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pool = &v["zones"][0]["pools"][0];
    let secs = |k: &str| pool["worst"][k].as_f64().expect("figure");
    (
        Duration::from_secs_f64(secs("detection")),
        Duration::from_secs_f64(secs("readmission")),
    )
}

fn has_a(g: &Gslbd) -> bool {
    g.dig("www.gslb.example A")
        .answers("A")
        .contains(&"192.0.2.1".to_string())
}

/// Waits for region `a`'s first verdict (so the break lands on an up region).
fn wait_up(g: &Gslbd, region: &str) {
    let seen = poll(Duration::from_secs(10), POLL, || {
        g.logs()
            .iter()
            .any(|l| l.contains("region up") && l.contains(&format!("region=\"{region}\"")))
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "region {region} never came up:\n{}",
        g.logs().join("\n")
    );
}

/// Breaks `a` with `mode`, measures detection, heals, measures recovery, and checks both.
fn break_and_heal(g: &Gslbd, a: &mut Backend, mode: Mode, reason: &str) {
    let (detection, recovery) = computed(g);
    wait_up(g, "a");
    assert!(has_a(g));

    let t0 = Instant::now();
    a.set(mode);
    let gone = poll(detection * 3, POLL, || (!has_a(g)).then(|| t0.elapsed()))
        .unwrap_or_else(|| panic!("{mode:?}: region never left the answers"));
    assert!(
        gone <= detection + SLACK,
        "{mode:?}: detected after {gone:?}, worst case {detection:?}"
    );
    assert!(
        gone >= INTERVAL * 2,
        "{mode:?}: removed after {gone:?}, before fall − 1 intervals"
    );
    // The other region keeps answering.
    assert_eq!(g.dig("www.gslb.example A").answers("A"), vec!["192.0.2.2"]);
    let logged = g.logs().iter().any(|l| {
        l.contains("region down")
            && l.contains("region=\"a\"")
            && l.contains(&format!("reason=\"{reason}"))
    });
    assert!(
        logged,
        "{mode:?}: no transition logged with reason {reason}:\n{}",
        g.logs().join("\n")
    );

    let t1 = Instant::now();
    a.set(Mode::Healthy);
    let back = poll(recovery * 3, POLL, || has_a(g).then(|| t1.elapsed()))
        .unwrap_or_else(|| panic!("{mode:?}: region never came back"));
    assert!(
        back <= recovery + SLACK,
        "{mode:?}: back after {back:?}, worst case {recovery:?}"
    );
    assert!(
        back >= INTERVAL,
        "{mode:?}: back after {back:?}, before rise − 1 intervals"
    );
}

fn http_case(mode: Mode, reason: &str) {
    let mut a = Backend::http();
    let b = Backend::http();
    let g = Gslbd::start(&[(
        "z.toml",
        &zone(
            "path = \"/healthz\"\nbody = \"ok\"",
            &a.url("/healthz"),
            &b.url("/healthz"),
            "",
        ),
    )]);
    break_and_heal(&g, &mut a, mode, reason);
}

#[test]
fn http_503() {
    http_case(Mode::Status(503), "status=503");
}

#[test]
fn http_wrong_body() {
    http_case(Mode::WrongBody, "body_mismatch");
}

#[test]
fn http_connection_refused() {
    http_case(Mode::Refuse, "refused");
}

#[test]
fn http_hang() {
    http_case(Mode::Hang, "timeout");
}

#[test]
fn http_slow() {
    http_case(Mode::Slow(Duration::from_millis(300)), "timeout");
}

#[test]
fn tcp_connection_refused() {
    let mut a = Backend::tcp();
    let b = Backend::tcp();
    let g = Gslbd::start(&[(
        "z.toml",
        &zone(
            "kind = \"tcp\"",
            &a.addr.to_string(),
            &b.addr.to_string(),
            "",
        ),
    )]);
    break_and_heal(&g, &mut a, Mode::Refuse, "refused");
}

#[test]
fn https_self_signed_with_tls_verify_off() {
    let mut a = Backend::https();
    let b = Backend::https();
    let probe = "kind = \"https\"\ntls_verify = false";
    let g = Gslbd::start(&[("z.toml", &zone(probe, &a.url("/"), &b.url("/"), ""))]);
    break_and_heal(&g, &mut a, Mode::Status(503), "status=503");
}

#[test]
fn https_self_signed_fails_verification() {
    let a = Backend::https();
    let b = Backend::http();
    let g = Gslbd::start(&[("z.toml", &zone("", &a.url("/"), &b.url("/"), ""))]);
    let gone = poll(Duration::from_secs(5), POLL, || (!has_a(&g)).then_some(()));
    assert!(
        gone.is_some(),
        "an untrusted certificate must fail the probe"
    );
    assert!(
        g.logs()
            .iter()
            .any(|l| l.contains("region down") && l.contains("reason=\"tls\"")),
        "{}",
        g.logs().join("\n")
    );
    drop(a);
}

#[test]
fn a_single_failed_probe_never_removes_a_region() {
    let mut a = Backend::http();
    let b = Backend::http();
    let g = Gslbd::start(&[("z.toml", &zone("", &a.url("/"), &b.url("/"), ""))]);
    wait_up(&g, "a");
    for _ in 0..3 {
        // 250 ms of failure spans at most two 200 ms probes: fewer than fall = 3.
        a.set(Mode::Status(503));
        let until = Instant::now() + Duration::from_millis(250);
        while Instant::now() < until {
            assert!(has_a(&g), "a blip removed the region");
            std::thread::sleep(POLL);
        }
        a.set(Mode::Healthy);
        let until = Instant::now() + Duration::from_millis(600);
        while Instant::now() < until {
            assert!(has_a(&g), "a blip removed the region");
            std::thread::sleep(POLL);
        }
    }
    assert!(!g.logs().iter().any(|l| l.contains("region down")));
}

#[test]
fn hold_down_keeps_a_flapping_region_out() {
    let mut a = Backend::http();
    let b = Backend::http();
    let g = Gslbd::start(&[(
        "z.toml",
        &zone("hold_down = \"2s\"", &a.url("/"), &b.url("/"), ""),
    )]);
    wait_up(&g, "a");
    a.set(Mode::Status(503));
    assert!(poll(Duration::from_secs(3), POLL, || (!has_a(&g)).then_some(())).is_some());
    let down_at = Instant::now();
    // It flaps back to healthy at once; it must stay out for the hold-down.
    a.set(Mode::Healthy);
    while down_at.elapsed() < Duration::from_millis(1700) {
        assert!(
            !has_a(&g),
            "returned {:?} after going down, inside hold_down",
            down_at.elapsed()
        );
        std::thread::sleep(POLL);
    }
    // hold_down + interval + timeout, plus slack.
    let back = poll(Duration::from_secs(5), POLL, || {
        has_a(&g).then(|| down_at.elapsed())
    });
    let back = back.expect("returned after hold_down");
    assert!(
        back <= Duration::from_millis(2300) + SLACK,
        "back after {back:?}"
    );
}

#[test]
fn http_probes_keep_one_connection_alive_unless_keepalive_is_off() {
    let mut a = Backend::http();
    let b = Backend::http();
    let text =
        zone("", &a.url("/"), &b.url("/"), "") + "[pools.www.regions.b.probe]\nkeepalive = false\n";
    let g = Gslbd::start(&[("z.toml", &text)]);
    wait_up(&g, "a");
    wait_up(&g, "b");
    // About ten probes each at 200 ms: b opens a connection for every one; a keeps one (a
    // probe that times out on a loaded machine drops it, hence the margin).
    std::thread::sleep(Duration::from_secs(2));
    let (kept, fresh) = (a.connections(), b.connections());
    assert!(fresh >= 8, "b: {fresh} connections");
    assert!(
        kept * 3 <= fresh,
        "a: {kept} connections against b's {fresh}"
    );

    // The kept-alive connection still sees the backend fail, within the worst case; and when
    // the backend goes away altogether, the region comes back after it returns.
    let (detection, _) = computed(&g);
    let t0 = Instant::now();
    a.set(Mode::Status(503));
    let gone = poll(detection * 3, POLL, || (!has_a(&g)).then(|| t0.elapsed()))
        .expect("region a left the answers");
    assert!(gone <= detection + SLACK, "detected after {gone:?}");
    a.set(Mode::Refuse);
    a.set(Mode::Healthy);
    assert!(poll(Duration::from_secs(3), POLL, || has_a(&g).then_some(())).is_some());
}
