//! The NSEC chain through a validating Unbound (#27): NXDOMAIN proofs between names in DNSSEC
//! canonical order (label by label from the right, case folded, shorter first), which a signer
//! sorting whole names as strings gets wrong, with an Ed25519 key (algorithm 15), also through a
//! resolver that minimises query names and reuses NSEC ranges; and a chain rebuilt by a reload
//! that adds and removes names.

use crate::dnssec_tools::{Key, failures, keyed, secure, signed, validator};
use crate::harness::zone_head;

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
