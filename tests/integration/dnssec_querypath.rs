//! No signing on the query path (#27): between two health changes, a burst of DO=1 queries of
//! every kind (pool answers, NXDOMAIN, NODATA, the key set, over UDP and TCP) makes no
//! signature (`gslbd_dnssec_signatures_total` stays put); a health change of an `all` pool
//! makes its new set's signature when the snapshot is published, and that answer validates.

use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{Key, failures, secure, signed, validator};
use crate::harness::{Gslbd, poll, zone_head};

const ORIGIN: &str = "gslb.example.";

/// The sum of `gslbd_dnssec_signatures_total` over its `when` labels.
fn signatures(g: &Gslbd) -> u64 {
    g.metrics()
        .lines()
        .filter(|l| l.starts_with("gslbd_dnssec_signatures_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// One DO=1 query of each kind.
const QUERIES: [&str; 6] = [
    "www.gslb.example A",
    "www.gslb.example AAAA",
    "nope.gslb.example A",
    "gslb.example DNSKEY",
    "ns1.gslb.example A",
    "gslb.example SOA",
];

#[test]
fn queries_make_no_signatures_and_a_health_change_signs_at_publish() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let (mut a, b) = (Backend::tcp(), Backend::tcp());
    let zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        a.addr,
        b.addr
    );
    let g = signed(&zone, &key);
    // Both regions decided up: the state stays as it is while nothing changes.
    let settled = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (g.dig("www.gslb.example A").answers("A").len() == 2).then_some(())
    });
    assert!(settled.is_some(), "both regions answer");
    let before = signatures(&g);
    let series: Vec<String> = g
        .metrics()
        .lines()
        .filter(|l| l.starts_with("gslbd_dnssec"))
        .map(String::from)
        .collect();
    assert!(
        before > 0,
        "the load's signatures are counted (when=\"load\"): {series:#?}"
    );
    for round in 0..20 {
        for q in QUERIES {
            let transport = if round % 2 == 0 { "+notcp" } else { "+tcp" };
            let d = g.dig(&format!("+dnssec {transport} {q}"));
            assert!(!d.status.is_empty(), "{q}: no answer");
        }
    }
    assert_eq!(signatures(&g), before, "120 queries made signatures");

    // A health change: the one-region set is new, signed when the snapshot is published.
    let u = validator(&key.anchor, &[g.port], &[]);
    a.set(Mode::Refuse);
    let moved = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (g.dig("www.gslb.example A").answers("A") == ["192.0.2.2"]).then_some(())
    });
    assert!(moved.is_some(), "region a left the answers");
    let published = signatures(&g);
    assert!(published > before, "the new set was signed at publish");
    let www = secure(&u, "www.gslb.example A", "NOERROR");
    assert_eq!(www.answers, ["192.0.2.2"]);
    for q in QUERIES {
        g.dig(&format!("+dnssec {q}"));
    }
    assert_eq!(signatures(&g), published, "queries after the change signed");
    assert!(failures(&u).is_empty(), "{}", u.log());
}
