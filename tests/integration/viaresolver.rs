//! The cutover figures as users see them: through a real resolver (Unbound, see `resolver.rs`)
//! in front of gslbd. For a 503 failure and for a pool that answers NODATA with every region
//! down, it measures the time until the failed address is gone and until the recovered one is
//! back, with random timing and with the resolver's fetch timed just before gslbd's verdict
//! flips (the worst case), and holds both to `gslbd check`'s figures plus a polling margin.
//!
//! `GSLBD_RESOLVER_RUNS=N` repeats each timing N times (the README's table).

use std::time::{Duration, Instant, SystemTime};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, run};
use crate::resolver::Unbound;

/// How often the client asks the resolver, and so how late it can notice a change.
const POLL: Duration = Duration::from_millis(25);
/// The polling interval plus a query's round trip on a loaded machine.
const MARGIN: Duration = Duration::from_millis(150);
const INTERVAL: Duration = Duration::from_millis(300);

/// A zone head whose negative answers are cached `minimum` seconds.
fn head(minimum: u32) -> String {
    format!(
        "origin = \"gslb.example.\"\nttl = 300\n[soa]\nmname = \"ns1.gslb.example.\"\n\
         rname = \"hostmaster.gslb.example.\"\nminimum = {minimum}\n\
         [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns1.gslb.example.\"]\n\
         [[records]]\nname = \"ns1\"\ntype = \"A\"\ndata = [\"127.0.0.1\"]\n"
    )
}

fn probe() -> String {
    format!(
        "[pools.www.probe]\ninterval = \"{}ms\"\ntimeout = \"100ms\"\nfall = 3\nrise = 2\n",
        INTERVAL.as_millis()
    )
}

/// `gslbd check --json` figures of pool www: (cutover, recovery).
fn figures(g: &Gslbd) -> (Duration, Duration) {
    let file = g.zones_dir().join("z.toml");
    let out = run(
        &["check", "--json", file.to_str().expect("utf8")],
        g.dir.path(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check --json");
    let worst = &v["zones"][0]["pools"][0]["worst"];
    let secs = |k: &str| Duration::from_secs_f64(worst[k].as_f64().expect(k));
    (secs("cutover"), secs("recovery"))
}

/// A field of region `a` in `/status`.
fn streak(g: &Gslbd, field: &str) -> u64 {
    let (_, s) = g.api("GET", "/status", None);
    s["zones"][0]["pools"][0]["regions"][0][field]
        .as_u64()
        .unwrap_or(0)
}

/// The next probe of `url` on the wall clock (gslbd probes a target when UNIX time ≡
/// hash(target) mod interval).
fn next_probe(url: &str) -> SystemTime {
    let interval = INTERVAL.as_nanos();
    let phase = u128::from(xxhash_rust::xxh3::xxh3_64(url.as_bytes())) % interval;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let k = now.saturating_sub(phase).div_ceil(interval);
    SystemTime::UNIX_EPOCH + Duration::from_nanos((phase + k * interval) as u64)
}

/// Waits until `streak` of region a reaches `n`, then until just before the probe that will
/// flip the verdict, and has the resolver fetch the name afresh: the worst case for a client.
fn fetch_just_before_the_flip(g: &Gslbd, u: &Unbound, field: &str, n: u64, url: &str) -> Instant {
    poll(Duration::from_secs(10), Duration::from_millis(5), || {
        (streak(g, field) == n).then_some(())
    })
    .unwrap_or_else(|| panic!("{field} reached {n}"));
    // Flushing runs unbound-control twice (tens of milliseconds): before the wait, so the
    // fetch itself lands just before the probe.
    u.flush("www.gslb.example.");
    let wait = next_probe(url)
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(Duration::from_millis(25));
    std::thread::sleep(wait);
    u.dig("www.gslb.example A");
    Instant::now()
}

fn has(u: &Unbound, addr: &str) -> bool {
    u.dig("www.gslb.example A")
        .answers("A")
        .iter()
        .any(|a| a == addr)
}

fn runs() -> usize {
    std::env::var("GSLBD_RESOLVER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

#[test]
fn through_unbound_a_failed_region_is_gone_within_the_cutover_even_fetched_just_before() {
    let mut a = Backend::http();
    let b = Backend::http();
    let url = a.url("/");
    let zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 2\npolicy = \"all\"\n{}\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{url}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        head(1),
        probe(),
        b.url("/")
    );
    let g = Gslbd::start(&[("z.toml", &zone)]);
    let u = Unbound::start(&[("gslb.example.", &[g.port])], &[]);
    let (cutover, _) = figures(&g);
    assert_eq!(cutover, Duration::from_secs_f64(0.9 + 0.1 + 2.0 + 1.0));
    for i in 0..runs() * 2 {
        let timed = i % 2 == 1;
        a.set(Mode::Healthy);
        poll(Duration::from_secs(15), POLL, || {
            has(&u, "192.0.2.1").then_some(())
        })
        .expect("a answered through the resolver");
        std::thread::sleep(Duration::from_millis(fastrand_ms(i)));
        let t0 = Instant::now();
        a.set(Mode::Status(503));
        let fetched = timed.then(|| fetch_just_before_the_flip(&g, &u, "fail_streak", 2, &url));
        let gone = poll(cutover * 2, POLL, || {
            (!has(&u, "192.0.2.1")).then(|| t0.elapsed())
        })
        .expect("a left the resolver's answers");
        eprintln!(
            "unbound cutover run {i} ({}): gone after {gone:?} (computed {cutover:?})",
            timing(fetched, "fetched just before detection"),
        );
        assert!(
            gone <= cutover + MARGIN,
            "through Unbound the failed address stayed {gone:?}, computed cutover {cutover:?}"
        );
        assert!(has(&u, "192.0.2.2"), "the healthy region stays");
    }
}

#[test]
fn through_unbound_a_pool_that_answered_nodata_recovers_within_the_figure() {
    let mut a = Backend::http();
    let url = a.url("/");
    // NODATA is cached min(SOA TTL 300, minimum 3) = 3 s, longer than the pool's 1 s TTL.
    let zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n{}\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{url}\"\n",
        head(3),
        probe()
    );
    let g = Gslbd::start(&[("z.toml", &zone)]);
    let u = Unbound::start(&[("gslb.example.", &[g.port])], &[]);
    let (cutover, recovery) = figures(&g);
    assert_eq!(recovery, Duration::from_secs_f64(0.6 + 0.1 + 3.0 + 1.0));
    poll(Duration::from_secs(15), POLL, || {
        has(&u, "192.0.2.1").then_some(())
    })
    .expect("a answered through the resolver");
    for i in 0..runs() * 2 {
        let timed = i % 2 == 1;
        // Down: gone within the cutover, then NODATA through the resolver.
        let t0 = Instant::now();
        a.set(Mode::Status(503));
        let gone = poll(cutover * 2, POLL, || {
            (!has(&u, "192.0.2.1")).then(|| t0.elapsed())
        })
        .expect("a left the resolver's answers");
        assert!(
            gone <= cutover + MARGIN,
            "gone after {gone:?}, computed {cutover:?}"
        );
        let nodata = u.dig("www.gslb.example A");
        assert_eq!(nodata.status, "NOERROR");
        assert!(nodata.answers("A").is_empty(), "NODATA: {}", nodata.raw);
        std::thread::sleep(Duration::from_millis(fastrand_ms(i)));
        // Back: within the recovery, whose cache term is the NODATA's 3 s.
        let t1 = Instant::now();
        a.set(Mode::Healthy);
        let fetched = timed.then(|| fetch_just_before_the_flip(&g, &u, "ok_streak", 1, &url));
        let back = poll(recovery * 2, POLL, || {
            has(&u, "192.0.2.1").then(|| t1.elapsed())
        })
        .expect("a came back through the resolver");
        eprintln!(
            "unbound nodata run {i} ({}): gone after {gone:?} (computed {cutover:?}), back after \
             {back:?} (computed {recovery:?})",
            timing(fetched, "NODATA fetched just before recovery"),
        );
        assert!(
            back <= recovery + MARGIN,
            "through Unbound the recovered address came back after {back:?}, computed {recovery:?}"
        );
    }
}

/// How a run was timed, for its report line.
fn timing(fetched: Option<Instant>, what: &str) -> String {
    match fetched {
        Some(f) => format!("{what}, {:?} since the fetch", f.elapsed()),
        None => "random timing".into(),
    }
}

/// A pause before each run (0–900 ms), so runs start at different points of the probe and
/// resolver clocks.
fn fastrand_ms(i: usize) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) + i as u64 * 337) % 900
}
