//! Operations through the real binary: `gslbd status`, reload under dnsperf load with zero
//! failed queries, and a graceful shutdown that finishes TCP queries in flight.

use std::process::Command;
use std::time::{Duration, Instant};

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::harness::{Gslbd, poll, run, zone_head};

/// Pool `www`: two unprobed regions (always serving), plus an apex A record.
fn zone(ttl: u32) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = {ttl}\npolicy = \"weighted\"\n\
         [pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\nweight = 2\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\n",
        zone_head("gslb.example.")
    )
}

#[test]
fn status_prints_every_region_as_a_table_and_as_json() {
    let g = Gslbd::start(&[("z.toml", &zone(30))]);
    let admin = g.admin.clone().expect("admin");
    let out = run(&["status", "--admin", &admin], g.dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("zone gslb.example."), "{text}");
    assert!(lines[1].contains("pool www A weighted ttl 30s"), "{text}");
    assert_eq!(lines[2], "    answering all 2 regions", "{text}");
    let lines = &lines[1..];
    let head = lines[2];
    for col in [
        "REGION",
        "STATE",
        "SERVING",
        "WEIGHT",
        "LAST PROBE",
        "OVERRIDE",
    ] {
        assert!(head.contains(col), "{head}");
    }
    assert!(
        lines[3].trim_start().starts_with("east") && lines[3].contains("2/2"),
        "{text}"
    );
    assert!(
        lines[4].trim_start().starts_with("west") && lines[4].contains("unprobed"),
        "{text}"
    );

    let (code, _) = g.api("POST", "/regions/gslb.example/www/east/drain", None);
    assert_eq!(code, 200);
    let out = run(&["status", "--admin", &admin, "--json"], g.dir.path());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["zones"][0]["pools"][0]["regions"][0]["override"], "drain");
    let out = run(&["status", "--admin", &admin], g.dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("    answering 1 of 2 regions: west"),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(4)
            .is_some_and(|l| l.contains("NO") && l.contains("drain")),
        "{text}"
    );

    let out = run(&["status", "--admin", "127.0.0.1:9"], g.dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot reach the admin API"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// dnsperf's summary: (sent, completed, lost, NOERROR count).
fn dnsperf_summary(out: &str) -> (u64, u64, u64, u64) {
    let num = |key: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {key:?} in dnsperf output:\n{out}"))
    };
    let noerror = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Response codes:"))
        .and_then(|r| r.split_whitespace().skip_while(|w| *w != "NOERROR").nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (
        num("Queries sent:"),
        num("Queries completed:"),
        num("Queries lost:"),
        noerror,
    )
}

#[test]
fn reloads_under_dnsperf_load_lose_no_query() {
    let g = Gslbd::start(&[("z.toml", &zone(30))]);
    let queries = g.dir.path().join("queries.txt");
    std::fs::write(
        &queries,
        "www.gslb.example A\ngslb.example NS\nns1.gslb.example A\n",
    )
    .expect("query file");
    let perf = Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &g.port.to_string(), "-d"])
        .arg(&queries)
        .args(["-l", "3", "-Q", "3000", "-c", "2", "-t", "2"])
        .output();
    // dnsperf runs in its own thread of the test; reloads happen meanwhile.
    let reloader = {
        let admin = g.admin.clone().expect("admin");
        let zones = g.zones_dir();
        std::thread::spawn(move || {
            let mut done = 0usize;
            let end = Instant::now() + Duration::from_millis(2500);
            while Instant::now() < end {
                // Alternate the TTL (31, 30, 31, ...: the first differs from the set
                // started with) so every reload swaps in a different zone set.
                std::fs::write(zones.join("z.toml"), zone(31 - (done % 2) as u32))
                    .expect("rewrite");
                let (code, body) = crate::harness::http(&admin, "POST", "/reload", None);
                assert_eq!(code, 200, "{body}");
                done += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            done
        })
    };
    let perf = perf.expect("dnsperf is installed (tests/run installs it)");
    let reloads = reloader.join().expect("reloader");
    let out = String::from_utf8_lossy(&perf.stdout).into_owned();
    assert!(
        perf.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&perf.stderr)
    );
    let (sent, completed, lost, noerror) = dnsperf_summary(&out);
    assert!(reloads >= 10, "only {reloads} reloads");
    assert!(sent >= 3000, "{out}");
    assert_eq!(lost, 0, "{out}");
    assert_eq!(completed, sent, "{out}");
    assert_eq!(noerror, completed, "every answer NOERROR:\n{out}");
    assert!(
        g.logs().iter().filter(|l| l.contains("reloaded")).count() >= reloads,
        "every reload logged"
    );
}
/// A DNS query for `www.gslb.example A` in TCP framing (2-byte length prefix).
fn tcp_query() -> Vec<u8> {
    let mut msg = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["www", "gslb", "example"] {
        msg.push(label.len() as u8);
        msg.extend_from_slice(label.as_bytes());
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]);
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend(msg);
    framed
}

#[test]
fn shutdown_finishes_a_tcp_query_in_flight_and_exits_zero() {
    let mut g = Gslbd::start(&[("z.toml", &zone(30))]);
    let mut conn = TcpStream::connect(("127.0.0.1", g.port)).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let query = tcp_query();
    // Half the query now, SIGTERM, the rest after the server started shutting down.
    conn.write_all(&query[..9]).expect("first half");
    std::thread::sleep(Duration::from_millis(100));
    g.signal("TERM");
    poll(Duration::from_secs(5), Duration::from_millis(10), || {
        g.logs()
            .iter()
            .any(|l| l.contains("shutting down"))
            .then_some(())
    })
    .expect("shutdown started");
    std::thread::sleep(Duration::from_millis(100));
    conn.write_all(&query[9..]).expect("second half");
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)
        .expect("a response to the query in flight");
    let mut resp = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut resp).expect("response body");
    assert_eq!(&resp[..2], &[0x12, 0x34], "same ID");
    assert_eq!(resp[3] & 0x0f, 0, "NOERROR");
    assert_eq!(u16::from_be_bytes([resp[6], resp[7]]), 1, "one answer");

    let status = g.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(0),
        "{}",
        g.logs().join("\n")
    );
    // New connections are refused once it stopped.
    assert!(TcpStream::connect(("127.0.0.1", g.port)).is_err());
}

#[test]
fn watch_reloads_on_a_zone_file_change_and_keeps_serving_through_a_bad_edit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zdir = dir.path().join("zones");
    std::fs::create_dir(&zdir).expect("zones dir");
    let file = zdir.join("gslb.example.toml");
    std::fs::write(&file, zone(30)).expect("write zone");
    let g = Gslbd::start_in(dir, &["--watch"]);
    let txt = |g: &Gslbd| g.dig("gslb.example TXT").answers("TXT");
    assert!(txt(&g).is_empty());

    // An edit shows within a few settle periods, with no signal and no API call.
    let added = zone(30) + "[[records]]\nname = \"@\"\ntype = \"TXT\"\ndata = [\"v1\"]\n";
    std::fs::write(&file, &added).expect("edit zone");
    let seen = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        (txt(&g) == vec!["\"v1\"".to_string()]).then_some(())
    });
    assert!(
        seen.is_some(),
        "edit not picked up:\n{}",
        g.logs().join("\n")
    );

    // A broken edit is logged with file:line:col and the last good zones keep answering.
    std::fs::write(&file, added.replace("type = \"TXT\"", "type = \"TXTX\"")).expect("break");
    let failed = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        g.logs()
            .iter()
            .any(|l| l.contains("reload failed") && l.contains("gslb.example.toml:"))
            .then_some(())
    });
    assert!(
        failed.is_some(),
        "no reload error:\n{}",
        g.logs().join("\n")
    );
    assert_eq!(txt(&g), vec!["\"v1\"".to_string()]);
    assert_eq!(g.dig("www.gslb.example A").status, "NOERROR");

    // Files that are not zones (the state file, an editor's swap file) reload nothing.
    let reloads = |g: &Gslbd| {
        g.logs()
            .iter()
            .filter(|l| l.contains("zone files changed"))
            .count()
    };
    let before = reloads(&g);
    std::fs::write(g.zones_dir().join(".gslbd-state.json.tmp"), "{}").expect("write");
    std::fs::write(g.zones_dir().join(".gslb.example.toml.swp"), "x").expect("write");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(reloads(&g), before, "{}", g.logs().join("\n"));
}
