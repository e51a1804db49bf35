//! Hidden primary: real Knot and NSD secondaries (Debian packages, started here on loopback
//! ports, stopped by PID) pull gslbd's zone with TSIG, follow a failure and its recovery through
//! NOTIFY + IXFR within the computed bound, serve exactly the records gslbd renders, and catch
//! up after missed notifications; untrusted transfers are refused.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{Dig, Gslbd, free_port, poll, zone_head};
pub(crate) use crate::secondary::{KEY, SECRET, Secondary};

/// Pool `www` (all, TTL 5): east 192.0.2.1 and west 192.0.2.2 probed at the backends; pool
/// `private` (not transferred); 1000 TXT records so a full transfer takes several messages.
pub(crate) fn zone(east: &Backend, west: &Backend) -> String {
    let mut z = format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 5\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.probe]\ninterval = \"300ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n\
         [pools.private]\ntype = \"A\"\ntransfer = false\n\
         [pools.private.regions.inside]\naddresses = [\"10.0.0.1\"]\n",
        zone_head("gslb.example."),
        east.url("/"),
        west.url("/")
    );
    for i in 0..1000 {
        z.push_str(&format!(
            "[[records]]\nname = \"h{i}\"\ntype = \"TXT\"\ndata = [\"host number {i} of the bulk set\"]\n"
        ));
    }
    z
}

/// gslbd transferring to `secondaries` (ports on 127.0.0.1), signed with [`KEY`].
pub(crate) fn primary(zone: &str, secondaries: &[u16], journal: usize) -> Gslbd {
    let dir = crate::transfers::setup(zone, secondaries, &format!("journal = {journal}"));
    let g = Gslbd::start_in(dir, &[]);
    // The first version waits for the first probe results; transfers get SERVFAIL until then.
    crate::transfers::first_version(&g);
    g
}

pub(crate) fn www(s: &Secondary) -> Vec<String> {
    let mut a = s.dig("www.gslb.example A").answers("A");
    a.sort();
    a
}

/// Polls until the secondary answers `www` with `want`; the seconds it took.
pub(crate) fn until_www(s: &Secondary, want: &[&str], limit: Duration) -> Option<f64> {
    let t0 = Instant::now();
    poll(limit, Duration::from_millis(50), || {
        (www(s) == want).then(|| t0.elapsed().as_secs_f64())
    })
}

/// The sorted record lines of an AXFR from `port`, signed with the key (TSIG lines dropped).
pub(crate) fn axfr(port: u16) -> Vec<String> {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "-y", KEY])
        .args(["gslb.example", "AXFR", "+nocmd", "+nostats", "+nocomments"])
        .output()
        .expect("dig");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';') && !l.contains("TSIG"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines.dedup();
    lines
}

/// Bounds from gslbd's /status: (detection, readmission) + coalesce + transfer time.
pub(crate) fn bounds(g: &Gslbd) -> (f64, f64) {
    let s = g.api("GET", "/status", None).1;
    let pool = s["zones"][0]["pools"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["pool"] == "www").cloned())
        .expect("www");
    let f = &pool["cutover"];
    let via = f["via_secondary"]["cutover"]
        .as_f64()
        .expect("via_secondary");
    let detection = f["detection"].as_f64().expect("detection");
    let readmission = f["readmission"].as_f64().expect("readmission");
    // via_secondary.cutover = detection + coalesce + transfer + TTL + 1.
    let added = via - detection - 5.0 - 1.0;
    assert!(
        (added - 3.0).abs() < 1e-9,
        "coalesce 1s + transfer 2s, got {added}"
    );
    (detection + added, readmission + added)
}

pub(crate) const BOTH: [&str; 2] = ["192.0.2.1", "192.0.2.2"];

fn follows_a_failure_and_its_recovery(make: impl Fn(u16, u16) -> Secondary) -> (Gslbd, Secondary) {
    let (mut east, west) = (Backend::http(), Backend::http());
    let port = free_port();
    let g = primary(&zone(&east, &west), &[port], 64);
    let s = make(g.port, port);
    if until_www(&s, &BOTH, Duration::from_secs(20)).is_none() {
        panic!("the secondary never served both regions:\n{}", s.log());
    }
    let (cutover, readmission) = bounds(&g);
    let margin = 0.5;
    let t0 = Instant::now();
    east.set(Mode::Status(503));
    until_www(&s, &["192.0.2.2"], Duration::from_secs(20)).expect("east leaves the secondary");
    let took = t0.elapsed().as_secs_f64();
    assert!(
        took <= cutover + margin,
        "east left the secondary after {took:.2}s (bound {cutover}s + {margin}s)"
    );
    let t1 = Instant::now();
    east.set(Mode::Healthy);
    until_www(&s, &BOTH, Duration::from_secs(20)).expect("east returns to the secondary");
    let took = t1.elapsed().as_secs_f64();
    assert!(
        took <= readmission + margin,
        "east came back after {took:.2}s (bound {readmission}s + {margin}s)"
    );
    (g, s)
}

/// Waits until the secondary serves gslbd's current serial; then both transfers must match.
pub(crate) fn same_records(g: &Gslbd, s: &Secondary) {
    let serial = |d: Dig| d.answers("SOA").first().cloned().unwrap_or_default();
    poll(Duration::from_secs(15), Duration::from_millis(100), || {
        (serial(g.dig("gslb.example SOA")) == serial(s.dig("gslb.example SOA"))).then_some(())
    })
    .expect("the secondary reaches gslbd's serial");
    let (ours, theirs) = (axfr(g.port), axfr(s.port));
    assert!(ours.len() > 1000, "{} records", ours.len());
    assert_eq!(
        ours, theirs,
        "the secondary serves exactly gslbd's rendering"
    );
}

#[test]
fn knot_follows_a_failure_and_recovery_by_notify_and_ixfr_within_the_bound() {
    let (g, knot) = follows_a_failure_and_its_recovery(|p, port| Secondary::knot(p, port, None));
    let log = knot.log();
    // The first pull was a multi-message AXFR, the updates IXFRs.
    let messages = log
        .lines()
        .find(|l| l.contains("AXFR, incoming") && l.contains("finished"))
        .and_then(|l| {
            l.split(" messages")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .expect("an AXFR line with its message count");
    assert!(messages >= 2, "{log}");
    assert!(log.contains("IXFR, incoming"), "{log}");
    same_records(&g, &knot);
    // A `transfer = false` pool stays on gslbd only.
    assert_eq!(g.dig("private.gslb.example A").answers("A"), ["10.0.0.1"]);
    assert_eq!(knot.dig("private.gslb.example A").status, "NXDOMAIN");
}

#[test]
fn nsd_pulls_with_tsig_and_follows_a_failure_and_recovery() {
    let (g, nsd) = follows_a_failure_and_its_recovery(Secondary::nsd);
    let log = nsd.log();
    assert!(log.contains("TSIG verified with key xfr-key"), "{log}");
    let ours = g.logs().join("\n");
    assert!(ours.contains("kind=IXFR"), "NSD followed by IXFR:\n{ours}");
    assert!(ours.contains("NOTIFY acknowledged"), "{ours}");
    same_records(&g, &nsd);
}

#[test]
fn nsd_asking_for_ixfr_over_udp_follows_a_failure_and_recovery() {
    let (g, nsd) = follows_a_failure_and_its_recovery(Secondary::nsd_udp);
    let ours = g.logs().join("\n");
    assert!(
        ours.contains("udp=true kind=IXFR"),
        "NSD followed by IXFR over UDP:\n{ours}"
    );
    same_records(&g, &nsd);
}

#[test]
fn a_secondary_that_missed_notifications_catches_up_by_ixfr_or_a_whole_zone() {
    let (east, west) = (Backend::http(), Backend::http());
    let port = free_port();
    // A journal of 3 versions: a short absence is bridged by IXFR, a long one is not.
    let g = primary(&zone(&east, &west), &[port], 3);
    let admin = g.admin.clone().expect("admin");
    let knot = Secondary::knot(g.port, port, None);
    until_www(&knot, &BOTH, Duration::from_secs(20)).expect("serving");
    let dir = knot.stop();
    let drain = |region: &str, action: &str| {
        let (code, body) = crate::harness::http(
            &admin,
            "POST",
            &format!("/regions/gslb.example/www/{region}/{action}"),
            None,
        );
        assert_eq!(code, 200, "{body}");
        // One new serial per change: wait out the coalescing window.
        std::thread::sleep(Duration::from_millis(1100));
    };
    drain("east", "drain");
    let knot = Secondary::knot(g.port, port, Some(dir));
    until_www(&knot, &["192.0.2.2"], Duration::from_secs(20)).expect("caught up");
    let ixfr_lines = |g: &Gslbd| {
        g.logs()
            .iter()
            .filter(|l| l.contains("kind=IXFR"))
            .cloned()
            .collect::<Vec<_>>()
    };
    let small = ixfr_lines(&g);
    assert!(
        small.iter().any(|l| l.contains("records=5")),
        "an IXFR of one change (SOA, old SOA, -east, new SOA, SOA): {small:?}"
    );
    // Away for more versions than the journal keeps: the whole zone comes in the IXFR answer.
    let dir = knot.stop();
    drain("east", "undrain");
    drain("west", "drain");
    drain("west", "undrain");
    drain("east", "drain");
    let knot = Secondary::knot(g.port, port, Some(dir));
    until_www(&knot, &["192.0.2.2"], Duration::from_secs(20)).expect("caught up again");
    same_records(&g, &knot);
    let whole = ixfr_lines(&g);
    assert!(
        whole.iter().any(|l| l
            .split("records=")
            .nth(1)
            .and_then(|n| n.trim().parse::<usize>().ok())
            .is_some_and(|n| n > 1000)),
        "{whole:?}"
    );
}

/// kdig's output for a transfer request.
fn kdig(port: u16, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("kdig (apt-get install knot-dnsutils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The rcode of a UDP query for gslb.example with `qtype`.
fn udp_rcode(port: u16, qtype: hickory_proto::rr::RecordType) -> String {
    use hickory_proto::op::{Message, Query};
    let mut m = Message::query();
    m.add_query(Query::query(
        hickory_proto::rr::Name::from_ascii("gslb.example.").expect("name"),
        qtype,
    ));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    sock.send_to(&m.to_vec().expect("encode"), ("127.0.0.1", port))
        .expect("send");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer");
    let r = Message::from_vec(&buf[..n]).expect("parses");
    format!("{:?}", r.metadata.response_code)
}

#[test]
fn untrusted_transfers_are_refused_and_bad_signatures_get_notauth() {
    let (east, west) = (Backend::http(), Backend::http());
    let g = primary(&zone(&east, &west), &[crate::harness::sink_port()], 64);
    let signed = kdig(g.port, &["-y", KEY, "gslb.example", "AXFR"]);
    assert!(signed.contains("messages"), "{signed}");
    // No key.
    let out = kdig(g.port, &["gslb.example", "AXFR"]);
    assert!(out.contains("REFUSED"), "{out}");
    // The right name, a wrong secret: BADSIG.
    let wrong = "hmac-sha256:xfr-key:b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXI=";
    let out = kdig(g.port, &["-y", wrong, "gslb.example", "AXFR"]);
    assert!(out.contains("BADSIG"), "{out}");
    // An unknown key: BADKEY.
    let other = "hmac-sha256:other-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
    let out = kdig(g.port, &["-y", other, "gslb.example", "AXFR"]);
    assert!(out.contains("BADKEY"), "{out}");
    // The key, from an address that is not a secondary.
    let out = kdig(
        g.port,
        &["-b", "127.0.0.2", "-y", KEY, "gslb.example", "AXFR"],
    );
    assert!(out.contains("REFUSED"), "{out}");
    // Over UDP a transfer is refused too.
    assert_eq!(
        udp_rcode(g.port, hickory_proto::rr::RecordType::AXFR),
        "Refused"
    );
    // A signed SOA query is answered and signed (as secondaries ask before a transfer).
    let out = kdig(g.port, &["-y", KEY, "gslb.example", "SOA"]);
    assert!(out.contains("NOERROR") && out.contains("TSIG"), "{out}");
    assert!(
        !g.logs().join("\n").contains(SECRET),
        "the secret is never logged"
    );
}
