//! DNSSEC signatures across wall-clock steps (#27): a server that booted with its clock a month
//! off signs windows a validator with the right time rejects; when NTP steps the clock right
//! (`chronyc makestep`), gslbd must sign for the corrected time within seconds, whichever way
//! the step went, also while probe results keep its engine busy. The server's wall clock is libfaketime's (a timestamp file the test rewrites,
//! monotonic time untouched); Unbound keeps the real time.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::dnssec_tools::{Key, ask, secure, signed_env, validator};
use crate::harness::zone_head;

const FAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
const ORIGIN: &str = "gslb.example.";
/// gslbd looks at the wall clock for a renewal after every event and at least every 10 s; a
/// little more for a loaded machine.
const WITHIN: Duration = Duration::from_secs(20);

/// Starts a signed gslbd whose clock is `offset` (libfaketime's "+30d", "-30d") off, asks
/// through a validator with the real time (bogus), steps gslbd's clock right, and waits for
/// secure answers again.
fn step_clock_right(offset: &str) {
    if !Path::new(FAKETIME).exists() {
        eprintln!("skipped: {FAKETIME} is not installed (apt-get install faketime)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("faketime");
    std::fs::write(&fake, offset).expect("timestamp file");
    let key = Key::new(ORIGIN, "ecdsa-p256");
    // A pool probed every 200 ms keeps the engine busy, as every real deployment does.
    let backend = Backend::tcp();
    let zone = format!(
        "{}[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n\
         [pools.api]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\n\
         [pools.api.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\n\
         [pools.api.regions.a]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        backend.addr
    );
    let g = signed_env(
        &zone,
        &[(&key, "")],
        &[
            ("LD_PRELOAD", FAKETIME),
            ("FAKETIME_TIMESTAMP_FILE", fake.to_str().expect("utf8")),
            ("FAKETIME_NO_CACHE", "1"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    let u = validator(&key.anchor, &[g.port], &[]);
    let before = ask(&u, "www.gslb.example A");
    assert_eq!(
        before.status, "SERVFAIL",
        "signed with the clock {offset} off: {}",
        before.raw
    );

    std::fs::write(&fake, "+0s").expect("step the clock");
    let stepped = Instant::now();
    let mut last = String::new();
    let secured = loop {
        u.flush_zone(ORIGIN);
        let v = ask(&u, "www.gslb.example A");
        if v.ad && v.status == "NOERROR" {
            break Some(stepped.elapsed());
        }
        last = format!("{} {}", v.status, v.reason);
        if stepped.elapsed() > WITHIN {
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!("clock {offset} off, stepped right: secure again after {secured:?}");
    let rrsig = g.dig("+dnssec www.gslb.example A").answers("RRSIG");
    assert!(
        secured.is_some(),
        "{offset}: still not secure {WITHIN:?} after the clock was stepped right: {last}\n\
         served: {rrsig:?}"
    );
    for (question, status) in [
        ("gslb.example DNSKEY", "NOERROR"),
        ("nope.gslb.example A", "NXDOMAIN"),
        ("www.gslb.example AAAA", "NOERROR"),
        ("api.gslb.example A", "NOERROR"),
    ] {
        secure(&u, question, status);
    }
}

#[test]
fn signatures_follow_a_wall_clock_stepped_back_a_month() {
    step_clock_right("+30d");
}

#[test]
fn signatures_follow_a_wall_clock_stepped_forward_a_month() {
    step_clock_right("-30d");
}
