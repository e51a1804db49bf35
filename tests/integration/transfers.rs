//! The hidden primary's versions as Knot, NSD and BIND secondaries see them: serials that keep
//! rising across restarts and clock steps, NOTIFY from the served address (and retried when
//! refused), SOA changes as versions, all-down pools that stay NODATA, removed zones, the
//! first version after a start, and an engine that stays idle after a change reverts.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, free_port, poll};
use crate::secondaries::{BOTH, axfr, until_www, zone};
use crate::secondary::{KEY, Primary, Secondary};

/// Writes `zone` (as zones/z.toml), the key and a gslbd.toml transferring to `secondaries`
/// (ports on 127.0.0.1) with `more` added to `[transfer]`.
pub(crate) fn setup(zone: &str, secondaries: &[u16], more: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone).expect("zone");
    std::fs::write(dir.path().join("xfr.key"), format!("{KEY}\n")).expect("key");
    let list: Vec<String> = secondaries
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    std::fs::write(
        dir.path().join("gslbd.toml"),
        format!(
            "[transfer]\nsecondaries = [{}]\nkey_file = \"xfr.key\"\ncoalesce = \"1s\"\n\
             transfer_time = \"2s\"\n{more}\n",
            list.join(", ")
        ),
    )
    .expect("gslbd.toml");
    dir
}

/// `serve` arguments for gslbd on `listen` with the zones in `dir`.
fn args(dir: &Path, listen: &str) -> Vec<String> {
    let zones = dir.join("zones").to_string_lossy().into_owned();
    [
        "--listen",
        listen,
        "--zones",
        &zones,
        "--admin",
        "127.0.0.1:0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Drains (or undrains) a region, then waits out the coalescing window so the next change is
/// a version of its own.
fn set(g: &Gslbd, region: &str, action: &str) {
    let admin = g.admin.clone().expect("admin");
    let (code, body) = crate::harness::http(
        &admin,
        "POST",
        &format!("/regions/gslb.example/www/{region}/{action}"),
        None,
    );
    assert_eq!(code, 200, "{body}");
    std::thread::sleep(Duration::from_millis(1100));
}

/// The SOA serial a server answers.
fn serial(d: crate::harness::Dig) -> Option<u32> {
    d.answers("SOA")
        .first()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
}

/// `a` is newer than `b` in serial number arithmetic (RFC 1982).
fn newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// Waits until every secondary serves gslbd's current serial and `want` at `www`.
fn all_follow(g: &Gslbd, secondaries: &[&Secondary], want: &[&str]) {
    for s in secondaries {
        let reached = poll(Duration::from_secs(20), Duration::from_millis(100), || {
            let ours = serial(g.dig("gslb.example SOA"));
            (ours.is_some()
                && serial(s.dig("gslb.example SOA")) == ours
                && crate::secondaries::www(s) == want)
                .then_some(())
        });
        assert!(
            reached.is_some(),
            "a secondary stays at {:?} (gslbd {:?}), www {:?}:\n{}",
            serial(s.dig("gslb.example SOA")),
            serial(g.dig("gslb.example SOA")),
            crate::secondaries::www(s),
            s.log()
        );
    }
}

/// Waits for gslbd's first version (published once every target has a first result).
pub(crate) fn first_version(g: &Gslbd) {
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        g.logs()
            .iter()
            .any(|l| l.contains("published a new version"))
            .then_some(())
    })
    .expect("a first version");
}

#[test]
fn serials_keep_rising_across_a_restart_with_knot_nsd_and_bind_attached() {
    let (east, west) = (Backend::http(), Backend::http());
    // A YYYYMMDDnn serial above UNIX time: versions count up from it.
    let text = zone(&east, &west).replacen("[soa]\n", "[soa]\nserial = 2026120401\n", 1);
    let ports = [free_port(), free_port(), free_port()];
    let dir = setup(&text, &ports, "");
    let listen = format!("127.0.0.1:{}", free_port());
    let run = args(dir.path(), &listen);
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    let knot = Secondary::knot(g.port, ports[0], None);
    let nsd = Secondary::nsd(g.port, ports[1]);
    let bind = Secondary::bind(g.port, ports[2]);
    let all = [&knot, &nsd, &bind];
    all_follow(&g, &all, &BOTH);
    set(&g, "east", "drain");
    set(&g, "east", "undrain");
    set(&g, "east", "drain");
    all_follow(&g, &all, &["192.0.2.2"]);
    let before = serial(g.dig("gslb.example SOA")).expect("serial");
    assert!(before > 2026120401, "{before}");

    let g = g.restart_in_place(&[], &run);
    set(&g, "east", "undrain");
    let after = serial(g.dig("gslb.example SOA")).expect("serial");
    assert!(
        newer(after, before),
        "after a restart gslbd published {after}, not above {before}"
    );
    all_follow(&g, &all, &BOTH);
}

#[test]
fn a_backward_clock_step_across_a_restart_does_not_lower_the_serial() {
    let (east, west) = (Backend::http(), Backend::http());
    let port = free_port();
    let dir = setup(&zone(&east, &west), &[port], "");
    let listen = format!("127.0.0.1:{}", free_port());
    let run = args(dir.path(), &listen);
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    let knot = Secondary::knot(g.port, port, None);
    all_follow(&g, &[&knot], &BOTH);
    set(&g, "east", "drain");
    all_follow(&g, &[&knot], &["192.0.2.2"]);
    let before = serial(g.dig("gslb.example SOA")).expect("serial");
    // The wall clock 250 s back (inside TSIG's 300 s fudge), as an NTP step at boot does;
    // the monotonic clock untouched.
    let step = [
        "env",
        "FAKETIME_DONT_FAKE_MONOTONIC=1",
        "faketime",
        "-f",
        "-250s",
    ];
    let g = g.restart_in_place(&step, &run);
    set(&g, "east", "undrain");
    let after = serial(g.dig("gslb.example SOA")).expect("serial");
    assert!(
        newer(after, before),
        "after a restart with the clock 250 s back gslbd published {after}, not above {before}"
    );
    all_follow(&g, &[&knot], &BOTH);
}

#[test]
fn a_change_that_reverts_inside_the_window_leaves_the_server_idle() {
    let (east, west) = (Backend::http(), Backend::http());
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    std::thread::sleep(Duration::from_millis(1100));
    let admin = g.admin.clone().expect("admin");
    for action in ["drain", "undrain", "drain"] {
        let path = format!("/regions/gslb.example/www/east/{action}");
        let (code, body) = crate::harness::http(&admin, "POST", &path, None);
        assert_eq!(code, 200, "{body}");
    }
    // The window ends with the rendering back where the last version left it.
    std::thread::sleep(Duration::from_millis(1500));
    let (c0, t0) = (g.cpu_time(), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let share = (g.cpu_time() - c0).as_secs_f64() / t0.elapsed().as_secs_f64();
    assert!(
        share < 0.2,
        "gslbd used {:.0} % of a core while nothing changed",
        share * 100.0
    );
}

#[test]
fn notify_leaves_from_the_served_address_and_a_refusal_is_retried() {
    let (east, west) = (Backend::http(), Backend::http());
    let port = free_port();
    let dir = setup(&zone(&east, &west), &[port], "");
    // gslbd serves on 127.0.0.2, a second address of this host (a service address).
    let listen = format!("127.0.0.2:{}", free_port());
    let run = args(dir.path(), &listen);
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    let p = Primary {
        ip: "127.0.0.2",
        port: g.port,
        notify_from: "127.0.0.2",
    };
    let knot = Secondary::knot_of(p, port, None);
    poll(Duration::from_secs(20), Duration::from_millis(50), || {
        (crate::secondaries::www(&knot) == BOTH).then_some(())
    })
    .expect("knot pulls the zone");
    // Knot's SOA refresh is an hour away: only a NOTIFY it accepts brings the change.
    let t0 = Instant::now();
    set(&g, "east", "drain");
    until_www(&knot, &["192.0.2.2"], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("knot never followed the change:\n{}", knot.log()));
    assert!(t0.elapsed() < Duration::from_secs(10));
    drop(knot);
    // A secondary that refuses the NOTIFY: its rcode is logged and the NOTIFY is retried.
    let p = Primary {
        notify_from: "127.0.0.9",
        ..p
    };
    let _refusing = Secondary::knot_of(p, port, None);
    std::thread::sleep(Duration::from_millis(1500));
    set(&g, "east", "undrain");
    let refusals = poll(Duration::from_secs(8), Duration::from_millis(100), || {
        let n = g
            .logs()
            .iter()
            .filter(|l| l.contains("NOTIFY refused") && l.contains("code=9"))
            .count();
        (n >= 2).then_some(n)
    });
    assert!(refusals.is_some(), "{}", g.logs().join("\n"));
}

#[test]
fn an_all_down_pool_answering_none_stays_nodata_at_the_secondary() {
    let (mut east, mut west) = (Backend::http(), Backend::http());
    let port = free_port();
    let dir = setup(&zone(&east, &west), &[port], "");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    let knot = Secondary::knot(g.port, port, None);
    until_www(&knot, &BOTH, Duration::from_secs(20)).expect("serving");
    east.set(Mode::Status(503));
    west.set(Mode::Status(503));
    let rcode = poll(Duration::from_secs(20), Duration::from_millis(100), || {
        let d = knot.dig("www.gslb.example A");
        d.answers("A").is_empty().then_some(d.status)
    })
    .expect("www leaves the secondary");
    assert_eq!(rcode, "NOERROR", "NODATA, not NXDOMAIN");
    assert_eq!(g.dig("www.gslb.example A").status, "NOERROR");
    assert_eq!(knot.dig("www.gslb.example AAAA").status, "NOERROR");
}

#[test]
fn a_reload_that_changes_only_the_soa_is_a_new_version() {
    let (east, west) = (Backend::http(), Backend::http());
    let port = free_port();
    let text = zone(&east, &west);
    let dir = setup(&text, &[port], "");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    let bind = Secondary::bind(g.port, port);
    all_follow(&g, &[&bind], &BOTH);
    let before = serial(g.dig("gslb.example SOA")).expect("serial");
    std::fs::write(
        g.zones_dir().join("z.toml"),
        text.replacen("[soa]\n", "[soa]\nrefresh = 1234\n", 1),
    )
    .expect("write");
    g.signal("HUP");
    let soa = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let a = g.dig("gslb.example SOA").answers("SOA");
        a.first().filter(|s| s.contains(" 1234 ")).cloned()
    })
    .expect("the new SOA is answered");
    let after = serial(g.dig("gslb.example SOA")).expect("serial");
    assert!(newer(after, before), "{after} after {before}");
    let transferred = axfr(g.port)
        .into_iter()
        .find(|l| l.contains(" SOA "))
        .expect("an SOA in the AXFR");
    assert!(
        transferred.ends_with(
            soa.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str()
        ),
        "SOA answered: {soa}\nSOA transferred: {transferred}"
    );
    all_follow(&g, &[&bind], &BOTH);
    // And the next change follows by IXFR on BIND.
    set(&g, "east", "drain");
    all_follow(&g, &[&bind], &["192.0.2.2"]);
    assert!(!bind.log().contains("not exact"), "{}", bind.log());
}

#[test]
fn a_removed_zone_stops_being_transferable_at_the_reload() {
    let (east, west) = (Backend::http(), Backend::http());
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    let other = crate::harness::zone_head("other.example.");
    std::fs::write(dir.path().join("zones/other.toml"), other).expect("zone");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    let transfer = |zone: &str| {
        let out = std::process::Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &g.port.to_string(),
                "-y",
                KEY,
                zone,
                "AXFR",
            ])
            .output()
            .expect("dig");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        transfer("other.example").contains("IN\tSOA").then_some(())
    })
    .expect("other.example transfers");
    std::fs::remove_file(g.zones_dir().join("other.toml")).expect("rm");
    g.signal("HUP");
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        g.logs()
            .iter()
            .any(|l| l.contains("reloaded"))
            .then_some(())
    })
    .expect("reloaded");
    let out = transfer("other.example");
    assert!(
        !out.contains("IN\tSOA"),
        "a removed zone is still transferred:\n{out}"
    );
}

#[test]
fn the_first_version_after_a_start_waits_for_the_first_probe_results() {
    let (mut east, west) = (Backend::http(), Backend::http());
    east.set(Mode::Status(503));
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    // Past detection (2 × 300 ms + 150 ms) with margin: east is down.
    std::thread::sleep(Duration::from_secs(2));
    let versions = g
        .logs()
        .iter()
        .filter(|l| l.contains("published a new version"))
        .count();
    assert_eq!(
        versions,
        1,
        "a version advertised the failed region first:\n{}",
        g.logs().join("\n")
    );
    let records = axfr(g.port);
    assert!(
        records.iter().any(|l| l.contains("192.0.2.2")),
        "{records:?}"
    );
    assert!(
        !records.iter().any(|l| l.contains("192.0.2.1")),
        "{records:?}"
    );
}

#[test]
fn check_says_how_long_the_first_version_waits_after_a_start() {
    let (east, west) = (Backend::http(), Backend::http());
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    let zones = dir.path().join("zones");
    let out = crate::harness::run(&["check", "--zones", &zones.to_string_lossy()], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    // At most interval 300 ms + timeout 150 ms.
    assert!(
        text.contains("after a start the first version waits up to 0.45s for first probe results"),
        "{text}"
    );
    let out = crate::harness::run(
        &["check", "--json", "--zones", &zones.to_string_lossy()],
        dir.path(),
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let via = &json["zones"][0]["worst"]["via_secondary"];
    assert_eq!(via["first_version"].as_f64(), Some(0.45), "{via}");
}

#[test]
fn a_serial_that_cannot_be_saved_is_not_published_and_never_reused() {
    let (east, west) = (Backend::http(), Backend::http());
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    let sd = dir.path().join("sd");
    std::fs::create_dir(&sd).expect("mkdir");
    let mut run = args(dir.path(), &format!("127.0.0.1:{}", free_port()));
    run.extend([
        "--state".into(),
        sd.join("state.json").to_string_lossy().into_owned(),
    ]);
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    let s1 = serial(g.dig("gslb.example SOA")).expect("serial");
    // The state file's directory goes away (a full disk, a lost mount).
    let aside = g.dir.path().join("sd.real");
    std::fs::rename(&sd, &aside).expect("rename");
    std::fs::write(&sd, "").expect("a file where the directory was");
    set(&g, "east", "drain");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        serial(g.dig("gslb.example SOA")),
        Some(s1),
        "a serial that could not be saved was published"
    );
    assert!(axfr(g.port).iter().any(|l| l.contains("192.0.2.1")));
    assert!(g.logs().iter().any(|l| l.contains("held back")));
    // Saved again: the version goes out.
    std::fs::remove_file(&sd).expect("rm");
    std::fs::rename(&aside, &sd).expect("rename back");
    let s2 = poll(Duration::from_secs(5), Duration::from_millis(100), || {
        serial(g.dig("gslb.example SOA")).filter(|s| newer(*s, s1))
    })
    .expect("the held version is published once it can be saved");
    assert!(!axfr(g.port).iter().any(|l| l.contains("192.0.2.1")));
    // A restart continues above it.
    let g = g.restart_in_place(&[], &run);
    set(&g, "east", "undrain");
    let s3 = serial(g.dig("gslb.example SOA")).expect("serial");
    assert!(newer(s3, s2), "{s3} after {s2}");
}

#[test]
fn transfers_refuse_to_start_without_a_writable_state_file() {
    let (east, west) = (Backend::http(), Backend::http());
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    std::fs::write(dir.path().join("sd"), "").expect("a file, not a directory");
    let mut run = args(dir.path(), "127.0.0.1:0");
    run.insert(0, "serve".into());
    run.extend([
        "--state".into(),
        dir.path()
            .join("sd/state.json")
            .to_string_lossy()
            .into_owned(),
    ]);
    let child = std::process::Command::new(crate::harness::BIN)
        .args(&run)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run gslbd");
    let (status, stderr) = crate::harness::finish_within(child, Duration::from_secs(10));
    assert!(status.is_some_and(|s| !s.success()), "it served:\n{stderr}");
    assert!(
        stderr.contains("keeps the last serial of each zone"),
        "{stderr}"
    );
}

#[test]
fn raising_the_zone_file_serial_publishes_it_at_once() {
    let (east, west) = (Backend::http(), Backend::http());
    let text = zone(&east, &west).replacen("[soa]\n", "[soa]\nserial = 2026120401\n", 1);
    let dir = setup(&text, &[crate::harness::sink_port()], "");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    assert_eq!(serial(g.dig("gslb.example SOA")), Some(2026120401));
    std::thread::sleep(Duration::from_millis(1100));
    let raised = text.replace("serial = 2026120401", "serial = 2026120450");
    std::fs::write(g.zones_dir().join("z.toml"), raised).expect("write");
    g.signal("HUP");
    let got = poll(Duration::from_secs(5), Duration::from_millis(100), || {
        serial(g.dig("gslb.example SOA")).filter(|s| *s == 2026120450)
    });
    assert!(
        got.is_some(),
        "the raised serial was not published: {:?}",
        serial(g.dig("gslb.example SOA"))
    );
}

#[test]
fn a_reload_that_points_a_dead_region_at_another_dead_check_does_not_readvertise_it() {
    let (mut east, west, mut other) = (Backend::http(), Backend::http(), Backend::http());
    let dir = setup(&zone(&east, &west), &[crate::harness::sink_port()], "");
    let run = args(dir.path(), "127.0.0.1:0");
    let g = Gslbd::start_dir(dir, &[], &run);
    first_version(&g);
    east.set(Mode::Status(503));
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (!axfr(g.port).iter().any(|l| l.contains("192.0.2.1"))).then_some(())
    })
    .expect("east leaves the transferred zone");
    // Past the coalescing window, so a change would go out at once.
    std::thread::sleep(Duration::from_millis(1200));
    other.set(Mode::Status(503));
    std::fs::write(g.zones_dir().join("z.toml"), zone(&other, &west)).expect("write");
    let reloads = |g: &Gslbd| g.logs().iter().filter(|l| l.contains("reloaded")).count();
    let before = reloads(&g);
    g.signal("HUP");
    poll(Duration::from_secs(10), Duration::from_millis(20), || {
        (reloads(&g) > before).then_some(())
    })
    .expect("reloaded");
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1500) {
        let records = axfr(g.port);
        assert!(
            !records.iter().any(|l| l.contains("192.0.2.1")),
            "the reload re-advertised the dead region: {records:?}"
        );
    }
}

#[test]
fn check_warns_about_a_transferred_zone_no_file_serves() {
    let (east, west) = (Backend::http(), Backend::http());
    let dir = setup(
        &zone(&east, &west),
        &[crate::harness::sink_port()],
        "zones = [\"w.exmaple.\"]",
    );
    let zones = dir.path().join("zones");
    let out = crate::harness::run(&["check", "--zones", &zones.to_string_lossy()], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("[transfer] zones names w.exmaple., which no zone file serves"),
        "{stderr}"
    );
}
