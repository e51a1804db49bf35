//! The NSEC chain through a validating Unbound (#27): NXDOMAIN proofs between names in DNSSEC
//! canonical order (label by label from the right, case folded, shorter first), which a signer
//! sorting whole names as strings gets wrong, with an Ed25519 key (algorithm 15), also through a
//! resolver that minimises query names and reuses NSEC ranges; a chain rebuilt by a reload
//! that adds and removes names; and NSEC3 denial (`denial = "nsec3"`).

use std::time::Duration;

use crate::dnssec_tools::{Key, delv, failures, keyed, secure, signed, validator};
use crate::harness::{Gslbd, free_port, poll, zone_head};

const ORIGIN: &str = "gslb.example.";

/// TXT records at `names` (relative) after the zone head.
fn txt_zone(names: &[&str]) -> String {
    let mut zone = zone_head(ORIGIN);
    for n in names {
        zone += &format!("[[records]]\nname = \"{n}\"\ntype = \"TXT\"\ndata = [\"{n}\"]\n");
    }
    zone
}

#[test]
fn denial_holds_between_names_in_canonical_order() {
    canonical_order(&[]);
}

/// The same through a resolver as deployed today: it minimises query names (RFC 9156: it
/// walks down through the empty non-terminals) and answers from cached NSEC ranges (RFC 8198).
#[test]
fn denial_holds_for_a_minimising_resolver_that_reuses_nsec_ranges() {
    canonical_order(&["qname-minimisation: yes", "aggressive-nsec: yes"]);
}

fn canonical_order(extra: &[&str]) {
    let key = Key::new(ORIGIN, "ed25519");
    // "a.z" sorts after "b" (z > b in the rightmost differing label); "Mixed" folds to
    // "mixed"; "a" < "a-1" < "a0" (shorter first, then octets); deep.* makes three ENTs.
    let names = [
        "a",
        "a-1",
        "a0",
        "b",
        "a.z",
        "yy.a",
        "Mixed",
        "0",
        "x.y.z.deep",
    ];
    let g = signed(&txt_zone(&names), &key);
    let u = validator(&key.anchor, &[g.port], extra);
    for n in [
        "a",
        "a-1",
        "a0",
        "b",
        "a.z",
        "yy.a",
        "mixed",
        "MIXED",
        "0",
        "x.y.z.deep",
    ] {
        let v = secure(&u, &format!("{n}.gslb.example TXT"), "NOERROR");
        assert_eq!(v.answers.len(), 1, "{n}: {}", v.raw);
    }
    for n in ["z", "deep", "z.deep", "y.z.deep"] {
        let v = secure(&u, &format!("{n}.gslb.example TXT"), "NOERROR");
        assert!(
            v.answers.is_empty(),
            "{n} is an empty non-terminal: {}",
            v.raw
        );
    }
    for n in [
        "aa",
        "a-0",
        "a-2",
        "a.a",
        "zz.a",
        "c",
        "y.a.z",
        "00",
        "1",
        "mixee",
        "mixed0",
        "q.z.deep",
        "w.x.y.z.deep",
        "zzzz",
        "a-",
    ] {
        secure(&u, &format!("{n}.gslb.example TXT"), "NXDOMAIN");
    }
    secure(&u, "ns1.gslb.example TXT", "NOERROR");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

#[test]
fn a_reload_rebuilds_the_chain_it_proves_denial_with() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let g = signed(&txt_zone(&["old", "keep"]), &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    secure(&u, "old.gslb.example TXT", "NOERROR");
    secure(&u, "new.gslb.example TXT", "NXDOMAIN");
    std::fs::write(
        g.zones_dir().join("z.toml"),
        keyed(&txt_zone(&["new", "keep"]), &[(&key, "")]),
    )
    .expect("rewrite the zone");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    u.flush_zone(ORIGIN);
    let new = secure(&u, "new.gslb.example TXT", "NOERROR");
    assert_eq!(new.answers, ["\"new\""], "{}", new.raw);
    secure(&u, "old.gslb.example TXT", "NXDOMAIN");
    secure(&u, "keep.gslb.example TXT", "NOERROR");
    secure(&u, "nope.gslb.example TXT", "NXDOMAIN");
    secure(&u, "gslb.example DNSKEY", "NOERROR");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

/// `denial = "nsec3"` (as #27 spells it): RFC 5155 with RFC 9276's parameters (no extra
/// iterations, no salt), every kind of denial validating, an emptied pool's NODATA too.
#[test]
fn nsec3_denial_validates() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let dead = format!("127.0.0.1:{}", free_port());
    let zone = format!(
        "{}[pools.empty]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.empty.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 1\nrise = 1\n\
         [pools.empty.regions.r]\naddresses = [\"192.0.2.1\"]\ncheck = \"{dead}\"\n",
        txt_zone(&["a.b.c", "www"])
    );
    let text = format!("{}denial = \"nsec3\"\n", keyed(&zone, &[(&key, "")]));
    let g = Gslbd::start(&[("z.toml", &text), ("k0.pem", &key.pem)]);
    let param = g
        .dig("+dnssec gslb.example NSEC3PARAM")
        .answers("NSEC3PARAM");
    assert_eq!(
        param,
        ["1 0 0 -"],
        "RFC 9276: SHA-1, no opt-out, 0 iterations, no salt"
    );
    let emptied = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        g.dig("empty.gslb.example A")
            .answer
            .is_empty()
            .then_some(())
    });
    assert!(emptied.is_some(), "the pool emptied");
    let u = validator(&key.anchor, &[g.port], &[]);
    for (question, status) in [
        ("www.gslb.example TXT", "NOERROR"),
        ("nope.gslb.example A", "NXDOMAIN"),
        ("www.gslb.example A", "NOERROR"),
        ("b.c.gslb.example TXT", "NOERROR"),
        ("x.b.c.gslb.example TXT", "NXDOMAIN"),
        ("empty.gslb.example A", "NOERROR"),
        ("gslb.example DNSKEY", "NOERROR"),
    ] {
        secure(&u, question, status);
    }
    assert!(failures(&u).is_empty(), "{}", u.log());
    for q in ["nope.gslb.example A", "empty.gslb.example A"] {
        let d = delv(g.port, &key.anchor, q);
        assert!(d.validated, "delv {q}:\n{}", d.out);
    }
}
