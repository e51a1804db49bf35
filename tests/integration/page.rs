//! The status page at `GET /` in a real browser: headless Chromium (Debian's `chromium`, which
//! `tests/run` installs) renders it from a running gslbd after a backend failed; the test reads
//! the rendered DOM and saves a screenshot.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

pub const CHROMIUM: &str = "chromium";

/// Runs headless Chromium with the flags that keep it off the (closed) network.
pub fn chromium(args: &[&str]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium is installed (tests/run installs it with apt-get)");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rendered `<tr>` of one region.
fn region_row<'a>(dom: &'a str, region: &str) -> &'a str {
    let at = dom
        .find(&format!("data-region=\"{region}\""))
        .unwrap_or_else(|| panic!("no row for region {region} in:\n{dom}"));
    let start = dom[..at].rfind("<tr").expect("row start");
    let end = at + dom[at..].find("</tr>").expect("row end");
    &dom[start..end]
}

#[test]
fn the_page_shows_a_failed_region_down_in_a_real_browser() {
    let mut a = Backend::http();
    let b = Backend::http();
    let zone = format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"weighted\"\n\
         [pools.www.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.us-east]\naddresses = [\"192.0.2.1\"]\nweight = 3\ncheck = \"{}\"\n\
         [pools.www.regions.eu-west]\naddresses = [\"192.0.2.2\"]\nweight = 1\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        a.url("/"),
        b.url("/")
    );
    let g = Gslbd::start(&[("z.toml", &zone)]);
    let state = |region: &str| {
        let (_, s) = g.api("GET", "/status", None);
        s["zones"][0]["pools"][0]["regions"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["region"] == region))
            .map(|r| r["state"].as_str().unwrap_or("").to_string())
    };
    let every = Duration::from_millis(50);
    poll(Duration::from_secs(10), every, || {
        (state("us-east").as_deref() == Some("up")).then_some(())
    })
    .expect("us-east up");
    a.set(Mode::Status(503));
    poll(Duration::from_secs(10), every, || {
        (state("us-east").as_deref() == Some("down")).then_some(())
    })
    .expect("us-east down in /status");

    let url = format!("http://{}/", g.admin.as_deref().expect("admin"));
    let dom = chromium(&["--dump-dom", &url]);
    let east = region_row(&dom, "us-east");
    assert!(east.contains("data-state=\"down\""), "{east}");
    assert!(east.contains("data-serving=\"false\""), "{east}");
    assert!(east.contains(">down</span>"), "badge: {east}");
    assert!(east.contains("status=503"), "last probe: {east}");
    assert!(east.contains("width:0.0%"), "empty weight bar: {east}");
    let west = region_row(&dom, "eu-west");
    assert!(west.contains("data-state=\"up\""), "{west}");
    assert!(west.contains("1 / 1"), "live / configured weight: {west}");
    assert!(dom.contains("detection ≤ 0.5s"), "cutover figures shown");
    assert!(
        dom.contains("class=\"transition\" data-to=\"down\""),
        "the timeline lists the failure"
    );
    assert!(dom.contains("setInterval"), "the page refreshes itself");

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,800",
        &url,
    ]);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    assert!(png.len() > 10_000, "a non-trivial screenshot");
}

/// Pools `www` (fails open), `fb` (fallback), `nd` (NODATA) and `sf` (SERVFAIL), one region each,
/// all probed at `check`.
fn all_down_zone(check: &str) -> String {
    let mut z = zone_head("gslb.example.");
    for (pool, rule, addr) in [
        ("www", "on_all_down = \"all\"", "192.0.2.1"),
        (
            "fb",
            "on_all_down = \"fallback\"\nfallback = [\"198.51.100.200\"]",
            "192.0.2.2",
        ),
        ("nd", "on_all_down = \"none\"", "192.0.2.3"),
        ("sf", "on_all_down = \"servfail\"", "192.0.2.4"),
    ] {
        z += &format!(
            "[pools.{pool}]\ntype = \"A\"\npolicy = \"weighted\"\n{rule}\n\
             [pools.{pool}.probe]\ninterval = \"300ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 2\n\
             [pools.{pool}.regions.r-{pool}]\naddresses = [\"{addr}\"]\ncheck = \"{check}\"\n"
        );
    }
    z
}

#[test]
fn page_and_status_say_what_dns_answers_when_no_region_is_healthy() {
    let mut b = Backend::http();
    let g = Gslbd::start(&[("z.toml", &all_down_zone(&b.url("/")))]);
    let admin = g.admin.clone().expect("admin");
    let every = Duration::from_millis(50);
    poll(Duration::from_secs(10), every, || {
        (g.dig("www.gslb.example A").answers("A") == ["192.0.2.1"]).then_some(())
    })
    .expect("up");
    std::thread::sleep(Duration::from_millis(500));
    b.set(Mode::Status(503));
    poll(Duration::from_secs(10), every, || {
        (g.dig("sf.gslb.example A").status == "SERVFAIL").then_some(())
    })
    .expect("every region down");
    std::thread::sleep(Duration::from_millis(300));

    // What DNS answers ...
    assert_eq!(g.dig("www.gslb.example A").answers("A"), ["192.0.2.1"]);
    assert_eq!(g.dig("fb.gslb.example A").answers("A"), ["198.51.100.200"]);
    let nd = g.dig("nd.gslb.example A");
    assert_eq!((nd.status.as_str(), nd.answers("A").len()), ("NOERROR", 0));
    // ... is what the page says, in its header and per pool.
    let dom = chromium(&["--dump-dom", &format!("http://{admin}/")]);
    let header = &dom[dom.find("<header").expect("header")..dom.find("</header>").expect("end")];
    for said in [
        "www: failing open: no region healthy, answering r-www",
        "fb: answering fallback 198.51.100.200",
        "nd: NODATA: no region healthy, answering no address",
        "sf: SERVFAIL: no region healthy",
    ] {
        assert!(header.contains(said), "header says {said:?}: {header}");
    }
    assert!(!header.contains("out of the answers"), "{header}");
    let www = region_row(&dom, "r-www");
    assert!(www.contains("data-answered=\"true\""), "{www}");
    assert!(www.contains("answered (fail open)"), "{www}");
    let fb = region_row(&dom, "r-fb");
    assert!(
        fb.contains("data-answered=\"false\"") && fb.contains(">out<"),
        "{fb}"
    );
    // The region's recent probes: green while it was up, then red.
    let strip = &www[www.find("<svg").expect("a probe strip")..];
    let (green, red) = (
        strip.matches("#1f8a4c").count(),
        strip.matches("#c62828").count(),
    );
    assert!(
        green >= 2 && red >= 2,
        "ok then failed probes drawn: {strip}"
    );
    assert!(
        strip.find("#1f8a4c") < strip.find("#c62828"),
        "oldest first: {strip}"
    );

    // `gslbd status` says the same.
    let out = std::process::Command::new(crate::harness::BIN)
        .args(["status", "--admin", &admin])
        .output()
        .expect("gslbd status");
    let text = String::from_utf8_lossy(&out.stdout);
    for said in [
        "!! failing open: no region healthy, answering r-www",
        "!! answering fallback 198.51.100.200",
        "!! NODATA: no region healthy, answering no address",
        "!! SERVFAIL: no region healthy",
    ] {
        assert!(text.contains(said), "gslbd status says {said:?}:\n{text}");
    }
    assert!(text.contains("no, answered"), "{text}");
}
