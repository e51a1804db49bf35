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
