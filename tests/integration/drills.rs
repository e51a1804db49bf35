//! Safe drills through the real binary: `min_serving` refuses a drain that would leave a pool
//! too thin (409, unless `?force=true`), and a drill override forces a region down for a
//! bounded time, survives a restart, and ends by itself.

use std::time::{Duration, Instant};

use crate::harness::{Gslbd, poll, zone_head};

/// Pool `www` (policy all, no probes): regions a, b, c, with `extra` pool settings.
fn zone(extra: &str) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n{extra}\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\n\
         [pools.www.regions.c]\naddresses = [\"192.0.2.3\"]\n",
        zone_head("gslb.example.")
    )
}

fn www(g: &Gslbd) -> Vec<String> {
    let mut a = g.dig("www.gslb.example A").answers("A");
    a.sort();
    a
}

#[test]
fn min_serving_refuses_a_drain_that_leaves_too_few_unless_forced() {
    let g = Gslbd::start(&[("z.toml", &zone("min_serving = 2"))]);
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/drain", None).0,
        200
    );
    let (code, body) = g.api("POST", "/regions/gslb.example/www/b/force-down", None);
    assert_eq!(code, 409, "{body}");
    let why = body["error"].as_str().unwrap_or("");
    assert!(
        why.contains("would leave 1 serving region(s)") && why.contains("min_serving = 2"),
        "{why}"
    );
    assert_eq!(www(&g), ["192.0.2.2", "192.0.2.3"], "nothing changed");
    // Clearing and force-up are never refused; ?force=true applies it anyway.
    let (code, _) = g.api(
        "POST",
        "/regions/gslb.example/www/b/force-down?force=true",
        None,
    );
    assert_eq!(code, 200);
    assert_eq!(www(&g), ["192.0.2.3"]);
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/undrain", None).0,
        200
    );
    assert_eq!(www(&g), ["192.0.2.1", "192.0.2.3"]);
    // A bound the pool cannot meet is a load error.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("z.toml");
    std::fs::write(&file, zone("min_serving = 4")).expect("write");
    let out = crate::harness::run(&["check", file.to_str().expect("utf8")], dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("min_serving = 4 is more than the pool's 3 region(s)")
    );
}

#[test]
fn a_drill_forces_a_region_down_survives_a_restart_and_ends_by_itself() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    for (path, code) in [
        ("/regions/gslb.example/www/a/drill", 400),
        ("/regions/gslb.example/www/a/drill?duration=0s", 400),
        ("/regions/gslb.example/www/a/drill?duration=2days", 400),
        ("/regions/gslb.example/www/a/drain?duration=60s", 400),
    ] {
        assert_eq!(g.api("POST", path, None).0, code, "{path}");
    }
    let started = Instant::now();
    let (code, body) = g.api(
        "POST",
        "/regions/gslb.example/www/a/drill?duration=4s",
        None,
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["override"], "drill");
    assert!(body["until"].as_u64().is_some(), "{body}");
    assert_eq!(www(&g), ["192.0.2.2", "192.0.2.3"], "out at once");

    // A restart keeps it (it is in the state file with its end).
    let g = g.restart();
    assert_eq!(
        www(&g),
        ["192.0.2.2", "192.0.2.3"],
        "still drilled after a restart"
    );
    let (_, status) = g.api("GET", "/status", None);
    let a = &status["zones"][0]["pools"][0]["regions"][0];
    assert!(a["override"]["drill"]["until"].is_u64(), "{a}");

    // It ends by itself within a second of its end.
    let back = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (www(&g).len() == 3).then(|| started.elapsed())
    })
    .expect("the drill ended by itself");
    assert!(
        back >= Duration::from_secs(3) && back <= Duration::from_secs(6),
        "back after {back:?} for a 4 s drill"
    );
    assert!(g.logs().iter().any(|l| l.contains("drill ended")));
    let (_, status) = g.api("GET", "/status", None);
    assert!(status["zones"][0]["pools"][0]["regions"][0]["override"].is_null());
}

#[test]
fn check_fail_and_simulate_agree_with_dns_once_the_failure_is_real() {
    let z = zone("min_serving = 2")
        + "[pools.api]\ntype = \"A\"\npolicy = \"failover\"\nfallback = [\"198.51.100.200\"]\n\
         [pools.api.regions.p1]\naddresses = [\"192.0.2.11\"]\npriority = 1\n\
         [pools.api.regions.p2]\naddresses = [\"192.0.2.12\"]\npriority = 2\n";
    let g = Gslbd::start(&[("z.toml", &z)]);
    let file = g.zones_dir().join("z.toml");
    let check = |fail: &str| {
        let out = crate::harness::run(
            &[
                "check",
                "--json",
                "--fail",
                fail,
                file.to_str().expect("utf8"),
            ],
            g.dir.path(),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let pool = |sim: &serde_json::Value, name: &str| {
        sim["pools"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["pool"] == name))
            .cloned()
            .expect("pool in the simulation")
    };
    // On paper (check, configured weights) and live (/simulate) ...
    let paper = check("www/a");
    let (code, live) = g.api("POST", "/simulate?fail=www/a", None);
    assert_eq!(code, 200, "{live}");
    for sim in [&paper, &live] {
        let www = pool(sim, "www");
        assert_eq!(www["answering"], serde_json::json!(["b", "c"]), "{www}");
        assert_eq!(www["below_min_serving"], false);
        assert_eq!(pool(sim, "api")["affected"], false);
    }
    // ... nothing changed ...
    assert_eq!(www(&g), ["192.0.2.1", "192.0.2.2", "192.0.2.3"]);
    // ... and DNS answers just that once the failure is real.
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/force-down", None)
            .0,
        200
    );
    assert_eq!(www(&g), ["192.0.2.2", "192.0.2.3"]);

    // Two more out would break min_serving: the simulation says so, and the override is refused.
    let (_, sim) = g.api("POST", "/simulate?fail=www/b", None);
    let www_sim = pool(&sim, "www");
    assert_eq!(www_sim["below_min_serving"], true, "{www_sim}");
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/b/drain", None).0,
        409
    );

    // A failover pool: the fallback tier, with the worst case until resolvers see it.
    let paper = check("api/p1,api/p2");
    let api = pool(&paper, "api");
    assert_eq!(api["rule"], "fallback");
    assert_eq!(api["summary"], "answering fallback 198.51.100.200");
    let (_, live) = g.api("POST", "/simulate?fail=p1,p2&mode=drain", None);
    let api = pool(&live, "api");
    assert_eq!(api["rule"], "fallback");
    assert_eq!(
        api["seen_within"], 301.0,
        "TTL 300 + 1 s resolver clock for a drain"
    );
    for r in ["p1", "p2"] {
        let path = format!("/regions/gslb.example/api/{r}/drain");
        assert_eq!(g.api("POST", &path, None).0, 200);
    }
    assert_eq!(g.dig("api.gslb.example A").answers("A"), ["198.51.100.200"]);
    // An unknown region is an error, not an empty drill.
    assert_eq!(g.api("POST", "/simulate?fail=mars", None).0, 404);
    let out = crate::harness::run(
        &["check", "--fail", "mars", file.to_str().expect("utf8")],
        g.dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_drill_lasts_its_whole_duration_to_the_millisecond() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    for _ in 0..3 {
        let started = Instant::now();
        let (code, body) = g.api(
            "POST",
            "/regions/gslb.example/www/a/drill?duration=1500ms",
            None,
        );
        assert_eq!(code, 200, "{body}");
        let back = poll(Duration::from_secs(5), Duration::from_millis(20), || {
            (www(&g).len() == 3).then(|| started.elapsed())
        })
        .expect("the drill ended");
        assert!(
            back >= Duration::from_millis(1450),
            "a 1.5 s drill ended after {back:?}"
        );
    }
}

#[test]
fn a_drill_on_an_overridden_region_is_refused_and_the_override_kept() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/drain", None).0,
        200
    );
    let (code, body) = g.api(
        "POST",
        "/regions/gslb.example/www/a/drill?duration=2s",
        None,
    );
    assert_eq!(code, 409, "{body}");
    let why = body["error"].as_str().unwrap_or("");
    assert!(why.contains("drain"), "{why}");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(www(&g), ["192.0.2.2", "192.0.2.3"], "a stays drained");
    let (_, status) = g.api("GET", "/status", None);
    assert_eq!(
        status["zones"][0]["pools"][0]["regions"][0]["override"], "drain",
        "{status}"
    );
}

#[test]
fn a_drill_whose_region_a_reload_removed_still_ends_on_time() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    let (code, body) = g.api(
        "POST",
        "/regions/gslb.example/www/c/drill?duration=2s",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let without_c = zone("").replace("[pools.www.regions.c]\naddresses = [\"192.0.2.3\"]\n", "");
    std::fs::write(g.zones_dir().join("z.toml"), without_c).expect("write");
    assert_eq!(g.api("POST", "/reload", None).0, 200);
    let (_, status) = g.api("GET", "/status", None);
    assert!(
        !status["orphaned_overrides"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{status}"
    );
    poll(Duration::from_secs(6), Duration::from_millis(50), || {
        g.logs()
            .iter()
            .any(|l| l.contains("drill ended"))
            .then_some(())
    })
    .expect("the orphaned drill ends on time");
    let (_, status) = g.api("GET", "/status", None);
    assert!(
        status["orphaned_overrides"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{status}"
    );
    let state = std::fs::read_to_string(g.zones_dir().join(".gslbd-state.json")).expect("state");
    assert!(!state.contains("drill"), "{state}");
}

#[test]
fn clearing_no_override_or_setting_the_same_one_again_changes_nothing() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    let overrides = |g: &Gslbd| {
        g.logs()
            .iter()
            .filter(|l| l.contains("operator override"))
            .count()
    };
    let history = |g: &Gslbd| {
        let (_, s) = g.api("GET", "/status", None);
        s["transitions"].as_array().map_or(0, Vec::len)
    };
    let state = g.zones_dir().join(".gslbd-state.json");
    let (logged, seen) = (overrides(&g), history(&g));
    for _ in 0..2 {
        let (code, body) = g.api("POST", "/regions/gslb.example/www/a/undrain", None);
        assert_eq!(code, 200, "{body}");
    }
    assert_eq!(
        overrides(&g),
        logged,
        "an undrain of nothing is not an override"
    );
    assert_eq!(history(&g), seen, "nor a transition");
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/drain", None).0,
        200
    );
    let written = std::fs::metadata(&state)
        .and_then(|m| m.modified())
        .expect("saved");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/drain", None).0,
        200
    );
    assert_eq!(
        overrides(&g),
        logged + 1,
        "the second drain changed nothing"
    );
    assert_eq!(history(&g), seen + 1);
    let again = std::fs::metadata(&state)
        .and_then(|m| m.modified())
        .expect("saved");
    assert_eq!(written, again, "nor rewrote the state file");
    assert_eq!(www(&g), ["192.0.2.2", "192.0.2.3"]);
}
