//! Signed transfers: a signed zone's AXFR (every RRSIG and its own NSEC chain) passes
//! `ldns-verify-zone` (ldnsutils) and `kzonecheck` (Knot), before and after a failover; a Knot
//! secondary follows by IXFR and serves it signed, and `delv` validates its answers with the
//! zone's DS as the trust anchor.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{delv, keygen};
use crate::harness::free_port;
use crate::secondaries::{BOTH, primary, until_www, zone};
use crate::secondary::{KEY, Secondary};

/// The signed AXFR of gslb.example. from `port` as zone-file text (TSIG lines dropped).
fn axfr_text(port: u16) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "-y", KEY])
        .args(["gslb.example", "AXFR", "+nocmd", "+nostats", "+nocomments"])
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';') && !l.contains("TSIG"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Both zone checkers on the zone text; panics with their output on an error.
fn verify(dir: &Path, text: &str, what: &str) {
    let file = dir.join(format!("{what}.zone"));
    std::fs::write(&file, text).expect("zone file");
    let ldns = Command::new("ldns-verify-zone")
        .arg(&file)
        .output()
        .expect("ldns-verify-zone (ldnsutils)");
    assert!(
        ldns.status.success(),
        "{what}: ldns-verify-zone: {}{}",
        String::from_utf8_lossy(&ldns.stdout),
        String::from_utf8_lossy(&ldns.stderr)
    );
    let knot = Command::new("kzonecheck")
        .args(["-o", "gslb.example.", "-d", "on"])
        .arg(&file)
        .output()
        .expect("kzonecheck (knot-dnssecutils)");
    assert!(
        knot.status.success(),
        "{what}: kzonecheck: {}{}",
        String::from_utf8_lossy(&knot.stdout),
        String::from_utf8_lossy(&knot.stderr)
    );
    assert!(
        text.contains("RRSIG") && text.contains("NSEC"),
        "{what}: signed"
    );
}

#[test]
fn signed_transfers_verify_and_a_knot_secondary_serves_them_validated_through_a_failover() {
    let (mut east, west) = (Backend::http(), Backend::http());
    let keys = tempfile::tempdir().expect("tempdir");
    let ds = keygen(keys.path(), "k.pem", "ecdsa-p256");
    let key = keys.path().join("k.pem");
    let text = format!(
        "{}[dnssec]\nkeys = [{{ file = \"{}\" }}]\n",
        zone(&east, &west),
        key.display()
    );
    let ports = [free_port(), free_port(), free_port()];
    let g = primary(&text, &ports, 64);
    verify(keys.path(), &axfr_text(g.port), "first");
    let secondaries = [
        ("knot", Secondary::knot(g.port, ports[0], None)),
        ("nsd", Secondary::nsd(g.port, ports[1])),
        ("bind", Secondary::bind(g.port, ports[2])),
    ];
    for (name, s) in &secondaries {
        until_www(s, &BOTH, Duration::from_secs(20)).expect(name);
        let answer = delv(s.port, &ds, "www.gslb.example A").out;
        assert!(answer.contains("fully validated"), "{name}: {answer}");
    }

    east.set(Mode::Status(503));
    for (name, s) in &secondaries {
        until_www(s, &["192.0.2.2"], Duration::from_secs(20)).expect(name);
    }
    verify(keys.path(), &axfr_text(g.port), "after-failover");
    for (who, s) in &secondaries {
        for (name, rtype) in [
            ("www.gslb.example", "A"),
            ("www.gslb.example", "AAAA"),
            ("nowhere.gslb.example", "A"),
            ("gslb.example", "DNSKEY"),
        ] {
            let answer = delv(s.port, &ds, &format!("{name} {rtype}")).out;
            assert!(
                answer.contains("fully validated"),
                "{name} {rtype} at {who} after the failover:\n{answer}\n{}",
                s.log()
            );
        }
    }
    assert!(
        secondaries[0].1.log().contains("IXFR, incoming"),
        "{}",
        secondaries[0].1.log()
    );
}

#[test]
fn nsec3_denial_validates_at_gslbd_and_a_knot_secondary_and_its_transfer_verifies() {
    let (east, west) = (Backend::http(), Backend::http());
    let keys = tempfile::tempdir().expect("tempdir");
    let ds = keygen(keys.path(), "k.pem", "ed25519");
    // An empty non-terminal (b.deep) below a name with data, and a delegation.
    let text = format!(
        "{}[[records]]\nname = \"a.b.deep\"\ntype = \"TXT\"\ndata = [\"x\"]\n\
         [[records]]\nname = \"kid\"\ntype = \"NS\"\ndata = [\"ns.elsewhere.example.\"]\n\
         [dnssec]\nkeys = [{{ file = \"{}\" }}]\ndenial = \"nsec3\"\n",
        zone(&east, &west),
        keys.path().join("k.pem").display()
    );
    let port = free_port();
    let g = primary(&text, &[port], 64);
    let axfr = axfr_text(g.port);
    assert!(
        axfr.contains("NSEC3PARAM") && axfr.contains("NSEC3"),
        "NSEC3 chain transferred"
    );
    verify(keys.path(), &axfr, "nsec3");
    let knot = Secondary::knot(g.port, port, None);
    until_www(&knot, &BOTH, Duration::from_secs(20)).expect("knot serves both regions");
    for server in [g.port, knot.port] {
        for (name, rtype) in [
            ("www.gslb.example", "A"),
            ("nowhere.gslb.example", "A"),
            ("x.y.b.deep.gslb.example", "A"),
            ("b.deep.gslb.example", "TXT"),
            ("a.b.deep.gslb.example", "A"),
            ("kid.gslb.example", "DS"),
            ("gslb.example", "NSEC3PARAM"),
        ] {
            let answer = delv(server, &ds, &format!("{name} {rtype}")).out;
            assert!(
                answer.contains("fully validated"),
                "{name} {rtype} at port {server}:\n{answer}"
            );
        }
    }
}

#[test]
fn a_reload_that_changes_only_ttls_transfers_the_new_ttls_signed_for_them() {
    let (east, west) = (Backend::http(), Backend::http());
    let keys = tempfile::tempdir().expect("tempdir");
    keygen(keys.path(), "k.pem", "ecdsa-p256");
    let text = |ttl: u32| {
        format!(
            "{}[[records]]\nname = \"mail\"\ntype = \"A\"\ndata = [\"192.0.2.25\"]\nttl = {ttl}\n\
             [dnssec]\nkeys = [{{ file = \"{}\" }}]\n",
            zone(&east, &west),
            keys.path().join("k.pem").display()
        )
    };
    let g = primary(&text(300), &[crate::harness::sink_port()], 64);
    let mail_ttl = |port: u16| {
        axfr_text(port)
            .lines()
            .find(|l| l.starts_with("mail.gslb.example.") && l.contains("\tA\t"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u32>().ok())
    };
    assert_eq!(mail_ttl(g.port), Some(300));
    let zones = g.zones_dir();
    std::fs::write(zones.join(".z.tmp"), text(900)).expect("zone");
    std::fs::rename(zones.join(".z.tmp"), zones.join("z.toml")).expect("rename");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    crate::harness::poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (mail_ttl(g.port) == Some(900)).then_some(())
    })
    .expect("the transfer carries the new TTL");
    // Signed for it: the RRSIG's Original TTL is 900, so kzonecheck and ldns agree.
    verify(keys.path(), &axfr_text(g.port), "new-ttl");
    let rrsig = g.dig("+dnssec mail.gslb.example A").answers("RRSIG");
    assert!(
        rrsig.iter().any(|r| r.starts_with("A 13 3 900 ")),
        "{rrsig:?}"
    );
}
