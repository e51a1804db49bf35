//! Signed zone transfers through real secondaries and validators (#27): gslbd's AXFR output
//! passes `ldns-verify-zone` (ldnsutils) and `kzonecheck -d on` (Knot); Knot, NSD and BIND 9
//! secondaries serve the signed zone, and a validating Unbound pointed at each returns AD for a
//! pool answer before and after a failover (the IXFR carries the new set's signatures), for
//! NXDOMAIN and for NODATA.

use std::process::Command;
use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{Key, failures, keyed, secure, validator};
use crate::harness::{Gslbd, free_port, zone_head};
use crate::secondaries::{axfr, until_www};
use crate::secondary::Secondary;
use crate::transfers::{first_version, setup};

const ORIGIN: &str = "gslb.example.";

/// Runs a zone checker; its success and output.
fn check(program: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn signed_transfers_pass_the_zone_checkers_and_validate_at_knot_nsd_and_bind() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let (mut east, west) = (Backend::tcp(), Backend::tcp());
    let zone = format!(
        "{}[[records]]\nname = \"a.b\"\ntype = \"TXT\"\ndata = [\"deep\"]\n\
         [pools.www]\ntype = \"A\"\nttl = 5\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.probe]\nkind = \"tcp\"\ninterval = \"300ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n\
         [pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        east.addr,
        west.addr
    );
    let ports = [free_port(), free_port(), free_port()];
    let dir = setup(&keyed(&zone, &[(&key, "")]), &ports, "");
    std::fs::write(dir.path().join("zones/k0.pem"), &key.pem).expect("key file");
    let g = Gslbd::start_in(dir, &[]);
    first_version(&g);

    // The transferred zone, as a file for the checkers.
    let lines = axfr(g.port);
    assert!(
        lines.iter().any(|l| l.contains(" RRSIG A ")),
        "the AXFR carries signatures: {lines:#?}"
    );
    let file = g.dir.path().join("axfr.zone");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write the AXFR");
    let path = file.to_str().expect("utf8");
    let (ok, out) = check("ldns-verify-zone", &[path]);
    assert!(ok, "ldns-verify-zone:\n{out}");
    let (ok, out) = check("kzonecheck", &["-o", ORIGIN, "-d", "on", path]);
    assert!(ok, "kzonecheck:\n{out}");

    let secondaries = [
        Secondary::knot(g.port, ports[0], None),
        Secondary::nsd(g.port, ports[1]),
        Secondary::bind(g.port, ports[2]),
    ];
    let both = ["192.0.2.1", "192.0.2.2"];
    for s in &secondaries {
        let took = until_www(s, &both, Duration::from_secs(20));
        assert!(took.is_some(), "the secondary serves www:\n{}", s.log());
    }
    let resolvers: Vec<_> = secondaries
        .iter()
        .map(|s| validator(&key.anchor, &[s.port], &[]))
        .collect();
    for u in &resolvers {
        let www = secure(u, "www.gslb.example A", "NOERROR");
        assert_eq!(www.answers.len(), 2, "{}", www.raw);
    }

    east.set(Mode::Refuse);
    for (s, u) in secondaries.iter().zip(&resolvers) {
        let took = until_www(s, &["192.0.2.2"], Duration::from_secs(20));
        assert!(
            took.is_some(),
            "the secondary followed the failover:\n{}",
            s.log()
        );
        u.flush_zone(ORIGIN);
        let www = secure(u, "www.gslb.example A", "NOERROR");
        assert_eq!(www.answers, ["192.0.2.2"], "{}", www.raw);
        secure(u, "nope.gslb.example A", "NXDOMAIN");
        secure(u, "www.gslb.example AAAA", "NOERROR");
        secure(u, "b.gslb.example TXT", "NOERROR");
        secure(u, "gslb.example DNSKEY", "NOERROR");
        assert!(failures(u).is_empty(), "{}", u.log());
    }
}
