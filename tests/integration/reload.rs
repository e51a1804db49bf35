//! The health promise under reloads: a reload that changes a target's probe settings keeps its
//! verdict (a dead region stays out), and reloads in quick succession do not delay detection
//! (unchanged targets keep their prober and schedule), and a slow reload of a large set holds
//! nothing up: a region that fails during the parse leaves the answers within its detection.

use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

const POLL: Duration = Duration::from_millis(20);

/// Pool `www` (policy all, nothing when all are down): `a` (192.0.2.1) and `b` (192.0.2.2),
/// probed with `probe`; `ttl` is a static record's TTL, a change that leaves probes alone.
fn zone(probe: &str, a: &str, b: &str, ttl: u32) -> String {
    format!(
        "{}[[records]]\nname = \"static\"\ntype = \"A\"\nttl = {ttl}\ndata = [\"192.0.2.99\"]\n\
         [pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.probe]\n{probe}\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{a}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{b}\"\n",
        zone_head("gslb.example.")
    )
}

fn has_a(g: &Gslbd) -> bool {
    g.dig("www.gslb.example A")
        .answers("A")
        .contains(&"192.0.2.1".to_string())
}

fn reload(g: &Gslbd) {
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
}

fn wait_logged(g: &Gslbd, what: &str, region: &str) {
    let seen = poll(Duration::from_secs(15), POLL, || {
        g.logs()
            .iter()
            .any(|l| l.contains(what) && l.contains(&format!("region=\"{region}\"")))
            .then_some(())
    });
    assert!(
        seen.is_some(),
        "no {what} for {region}:\n{}",
        g.logs().join("\n")
    );
}

#[test]
fn a_reload_that_changes_probe_settings_keeps_a_dead_region_out() {
    let mut a = Backend::http();
    let b = Backend::http();
    let probe = "interval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2";
    let g = Gslbd::start(&[("z.toml", &zone(probe, &a.url("/"), &b.url("/"), 300))]);
    wait_logged(&g, "region up", "a");
    a.set(Mode::Refuse);
    wait_logged(&g, "region down", "a");
    assert!(!has_a(&g));
    // Every setting but the target changes: rise, fall, timeout, interval, a header.
    let changed = "interval = \"300ms\"\ntimeout = \"150ms\"\nfall = 3\nrise = 3\n\
                   headers = { \"X-Check\" = \"gslbd\" }";
    std::fs::write(
        g.zones_dir().join("z.toml"),
        zone(changed, &a.url("/"), &b.url("/"), 300),
    )
    .expect("rewrite");
    reload(&g);
    let end = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < end {
        assert!(!has_a(&g), "the dead region came back after a reload");
        std::thread::sleep(POLL);
    }
    // It still comes back once it passes the (new) rise.
    a.set(Mode::Healthy);
    let back = poll(Duration::from_secs(10), POLL, || has_a(&g).then_some(()));
    assert!(back.is_some(), "region a never came back");
}

/// A check URL on `backend` whose probe phase (a hash of the target, inside a 1 s interval)
/// is between 500 and 950 ms: a prober restarted every 300 ms would never reach its first probe.
fn late_phase_url(backend: &Backend) -> String {
    (0..10_000)
        .map(|k| backend.url(&format!("/?n={k}")))
        .find(|url| {
            let phase_ms = xxhash_rust::xxh3::xxh3_64(url.as_bytes()) % 1_000_000_000 / 1_000_000;
            (500..950).contains(&phase_ms)
        })
        .expect("some k has a late phase")
}

#[test]
fn reloads_every_300ms_do_not_delay_detection() {
    let mut a = Backend::http();
    let b = Backend::http();
    // Detection: fall 2 × 1 s + 500 ms = 2.5 s.
    let probe = "interval = \"1s\"\ntimeout = \"500ms\"\nfall = 2\nrise = 1";
    let a_url = late_phase_url(&a);
    let g = Gslbd::start(&[("z.toml", &zone(probe, &a_url, &b.url("/"), 300))]);
    wait_logged(&g, "region up", "a");
    let zones = g.zones_dir();
    let b_url = b.url("/");
    let admin = g.admin.clone().expect("admin");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reloader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                std::fs::write(zones.join("z.toml"), zone(probe, &a_url, &b_url, 300 + n))
                    .expect("rewrite");
                let (code, _) = crate::harness::http(&admin, "POST", "/reload", None);
                assert_eq!(code, 200);
                std::thread::sleep(Duration::from_millis(300));
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(1200));
    let t0 = Instant::now();
    a.set(Mode::Refuse);
    let gone = poll(Duration::from_secs(20), POLL, || {
        (!has_a(&g)).then(|| t0.elapsed())
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let reloads = reloader.join().expect("reloader");
    let gone = gone.expect("the region never left the answers");
    assert!(reloads >= 4, "only {reloads} reloads");
    assert!(
        gone <= Duration::from_millis(2500 + 150),
        "detected after {gone:?} under reloads; the worst case is 2.5 s"
    );
}

/// A zone `big.example.` with `n` unprobed pools: seconds of parsing in a debug build.
fn big_zone(n: usize, edit: u32) -> String {
    let mut z = zone_head("big.example.");
    for i in 0..n {
        z += &format!(
            "[pools.p{i}]\ntype = \"A\"\n[pools.p{i}.regions.r]\naddresses = [\"192.0.2.{}\"]\n",
            i % 250 + 1
        );
    }
    z + &format!("# edit {edit}\n")
}

#[test]
fn a_region_failing_during_a_slow_reload_leaves_within_its_detection() {
    let mut a = Backend::http();
    let b = Backend::http();
    // Detection: fall 1 × 100 ms + 50 ms = 150 ms.
    let probe = "interval = \"100ms\"\ntimeout = \"50ms\"\nfall = 1\nrise = 1";
    let g = Gslbd::start(&[
        ("z.toml", &zone(probe, &a.url("/"), &b.url("/"), 300)),
        ("big.toml", &big_zone(8000, 0)),
    ]);
    wait_logged(&g, "region up", "a");
    std::fs::write(g.zones_dir().join("big.toml"), big_zone(8000, 1)).expect("edit");
    let admin = g.admin.clone().expect("admin");
    let t0 = Instant::now();
    let reloader = std::thread::spawn(move || {
        let (code, body) = crate::harness::http(&admin, "POST", "/reload", None);
        assert_eq!(code, 200, "{body}");
        t0.elapsed()
    });
    std::thread::sleep(Duration::from_millis(50));
    let t1 = Instant::now();
    a.set(Mode::Refuse);
    let gone = poll(Duration::from_secs(30), POLL, || {
        (!has_a(&g)).then(|| t1.elapsed())
    })
    .expect("the region never left the answers");
    let reload_took = reloader.join().expect("reloader");
    assert!(
        gone <= Duration::from_millis(150 + 300),
        "left after {gone:?} while the reload took {reload_took:?}; detection is 150 ms"
    );
    // The reload swapped in after the failure: the region stays out.
    assert!(!has_a(&g), "the reload put the dead region back");
    assert!(
        g.logs().iter().any(|l| l.contains("reloaded")),
        "the reload was applied"
    );
}
