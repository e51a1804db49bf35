//! DNSSEC key layouts through a validating Unbound and `delv` (#27): a KSK + ZSK pair (the
//! parent's DS points at the KSK, which signs only the DNSKEY set) and a ZSK pre-published for a
//! rollover (`sign = false`: in the DNSKEY set, signing nothing); and a chain of trust from a
//! parent Knot signs, holding the DS `gslbd keygen` printed; and a whole pre-publish ZSK
//! rollover, done by reloads, that a caching validator follows without a bogus answer.

use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::dnssec_tools::{
    Anchor, Key, Knot, ask, delv, failures, keyed, secure, signed, signed_with, validator,
};
use crate::harness::Gslbd;
use crate::harness::zone_head;
use crate::resolver::Unbound;

const ORIGIN: &str = "gslb.example.";

/// A static name, a pool `www` (policy all, 192.0.2.1, probed over TCP at `check`) and
/// nothing else.
fn zone(check: &str) -> String {
    format!(
        "{}[[records]]\nname = \"txt\"\ntype = \"TXT\"\ndata = [\"static\"]\n\
         [pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"all\"\n\
         [pools.www.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{check}\"\n",
        zone_head(ORIGIN)
    )
}

/// The DNSKEY flags published, sorted.
fn flags(keys: &[String]) -> Vec<String> {
    let mut f: Vec<String> = keys
        .iter()
        .filter_map(|k| k.split_whitespace().next().map(String::from))
        .collect();
    f.sort();
    f
}

/// The key tags of the RRSIGs in a validated answer's raw dig text (field 7 of the rdata).
fn signer_tags(raw: &str) -> Vec<String> {
    raw.lines()
        .filter(|l| !l.starts_with(';') && l.contains("\tRRSIG\t"))
        .filter_map(|l| l.split_whitespace().nth(10).map(String::from))
        .collect()
}

#[test]
fn a_ksk_and_zsk_pair_validates() {
    let (ksk, zsk) = (
        Key::new(ORIGIN, "ecdsa-p256"),
        Key::new(ORIGIN, "ecdsa-p256"),
    );
    let backend = Backend::tcp();
    let g = signed_with(
        &zone(&backend.addr.to_string()),
        &[(&ksk, "role = \"ksk\""), (&zsk, "role = \"zsk\"")],
    );
    let u = validator(&ksk.anchor, &[g.port], &[]);
    let keys = secure(&u, "gslb.example DNSKEY", "NOERROR");
    assert_eq!(flags(&keys.answers), ["256", "257"], "{}", keys.raw);
    // The DNSKEY set is signed by the KSK; everything else by the ZSK alone.
    assert!(
        signer_tags(&keys.raw).contains(&ksk.anchor.tag.to_string()),
        "{}",
        keys.raw
    );
    let www = secure(&u, "www.gslb.example A", "NOERROR");
    assert_eq!(www.answers, ["192.0.2.1"]);
    // (The ZSK's tag is not keygen's: the tag covers the flags, 256 here.)
    let tags = signer_tags(&www.raw);
    assert!(
        tags.len() == 1 && tags[0] != ksk.anchor.tag.to_string(),
        "{}",
        www.raw
    );
    secure(&u, "txt.gslb.example TXT", "NOERROR");
    secure(&u, "nope.gslb.example A", "NXDOMAIN");
    secure(&u, "www.gslb.example AAAA", "NOERROR");
    secure(&u, "gslb.example NS", "NOERROR");
    // CDS (RFC 7344) names the KSK alone, as the parent's DS does.
    let cds = secure(&u, "gslb.example CDS", "NOERROR");
    let a = &ksk.anchor;
    let want = format!("{} {} {} {}", a.tag, a.algorithm, a.digest_type, a.digest);
    let squash = |s: &str| s.split_whitespace().collect::<String>().to_uppercase();
    assert_eq!(
        cds.answers.iter().map(|c| squash(c)).collect::<Vec<_>>(),
        [squash(&want)],
        "{}",
        cds.raw
    );
    assert!(failures(&u).is_empty(), "{}", u.log());
    for q in ["www.gslb.example A", "nope.gslb.example A"] {
        let d = delv(g.port, &ksk.anchor, q);
        assert!(d.validated, "delv {q}:\n{}", d.out);
    }
}

#[test]
fn a_prepublished_zsk_is_in_the_key_set_and_signs_nothing() {
    let (csk, next) = (
        Key::new(ORIGIN, "ecdsa-p256"),
        Key::new(ORIGIN, "ecdsa-p256"),
    );
    let backend = Backend::tcp();
    let g = signed_with(
        &zone(&backend.addr.to_string()),
        &[(&csk, ""), (&next, "role = \"zsk\", sign = false")],
    );
    let u = validator(&csk.anchor, &[g.port], &[]);
    let keys = secure(&u, "gslb.example DNSKEY", "NOERROR");
    assert_eq!(flags(&keys.answers), ["256", "257"], "{}", keys.raw);
    let www = secure(&u, "www.gslb.example A", "NOERROR");
    assert_eq!(
        signer_tags(&www.raw),
        [csk.anchor.tag.to_string()],
        "{}",
        www.raw
    );
    assert_eq!(
        signer_tags(&keys.raw),
        [csk.anchor.tag.to_string()],
        "{}",
        keys.raw
    );
    secure(&u, "nope.gslb.example A", "NXDOMAIN");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

/// Knot signing `example.`, which delegates gslb.example holding the DS `ds`.
fn parent_holding(ds: &Anchor) -> Knot {
    let Anchor {
        tag,
        algorithm,
        digest_type,
        digest,
        ..
    } = ds;
    let parent = format!(
        "$ORIGIN example.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 604800 30\n@ NS ns\n\
         ns A 198.51.100.1\ngslb NS ns1.gslb\ngslb NS ns2.gslb\nns1.gslb A 198.51.100.53\n\
         ns2.gslb A 198.51.100.54\ngslb DS {tag} {algorithm} {digest_type} {digest}\n"
    );
    Knot::signing("example.", &parent)
}

#[test]
fn a_chain_of_trust_from_a_parent_knot_signs_validates() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let backend = Backend::tcp();
    let g = signed(&zone(&backend.addr.to_string()), &key);
    for (ds, good) in [(key.anchor.clone(), true), (key.anchor.corrupted(), false)] {
        let knot = parent_holding(&ds);
        // Unbound trusts only the parent's key.
        let u = Unbound::validating(
            &[("example.", &[knot.port]), (ORIGIN, &[g.port])],
            &[&knot.anchor("example.").unbound()],
            &[],
        );
        if !good {
            let v = ask(&u, "www.gslb.example A");
            assert_eq!(v.status, "SERVFAIL", "a DS for another key: {}", v.raw);
            continue;
        }
        let www = secure(&u, "www.gslb.example A", "NOERROR");
        assert_eq!(www.answers, ["192.0.2.1"]);
        secure(&u, "nope.gslb.example A", "NXDOMAIN");
        secure(&u, "txt.gslb.example TXT", "NOERROR");
        secure(&u, "gslb.example DS", "NOERROR");
        assert!(failures(&u).is_empty(), "{}", u.log());
    }
}

/// The zone files of one rollover phase: the zone with `keys` (as `k0.pem`… in order) and a
/// DNSKEY TTL of `dnskey_ttl` seconds.
fn phase(zone: &str, keys: &[(&Key, &str)], dnskey_ttl: u32) -> Vec<(String, String)> {
    let text = format!("{}dnskey_ttl = {dnskey_ttl}\n", keyed(zone, keys));
    let mut files = vec![("z.toml".to_string(), text)];
    for (i, (k, _)) in keys.iter().enumerate() {
        files.push((format!("k{i}.pem"), k.pem.clone()));
    }
    files
}

/// Writes a phase over the running server's zone files and reloads it.
fn reload_phase(g: &Gslbd, files: &[(String, String)]) {
    for (name, text) in files {
        std::fs::write(g.zones_dir().join(name), text).expect("write the phase");
    }
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
}

/// Asks a caching validator (never flushed) for `secs` seconds: every answer secure.
fn stays_secure(u: &Unbound, secs: u64, phase: &str) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        for (q, status) in [
            ("www.gslb.example A", "NOERROR"),
            ("txt.gslb.example TXT", "NOERROR"),
            ("nope.gslb.example A", "NXDOMAIN"),
        ] {
            let v = ask(u, q);
            assert!(
                v.status == status && v.ad,
                "{phase}: {q}: {} ad={} {}",
                v.status,
                v.ad,
                v.reason
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_pre_published_zsk_rollover_never_goes_bogus_at_a_caching_validator() {
    let (ksk, old, new) = (
        Key::new(ORIGIN, "ecdsa-p256"),
        Key::new(ORIGIN, "ecdsa-p256"),
        Key::new(ORIGIN, "ecdsa-p256"),
    );
    let backend = Backend::tcp();
    let zone = zone(&backend.addr.to_string());
    let (k, zsk, idle) = (
        "role = \"ksk\"",
        "role = \"zsk\"",
        "role = \"zsk\", sign = false",
    );
    // DNSKEY TTL 2 s: each phase lasts longer, so the validator's key cache turns over.
    let first = phase(&zone, &[(&ksk, k), (&old, zsk)], 2);
    let refs: Vec<(&str, &str)> = first
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let g = Gslbd::start(&refs);
    let u = validator(&ksk.anchor, &[g.port], &[]);
    stays_secure(&u, 3, "old ZSK signing");
    reload_phase(
        &g,
        &phase(&zone, &[(&ksk, k), (&old, zsk), (&new, idle)], 2),
    );
    stays_secure(&u, 3, "new ZSK published");
    reload_phase(
        &g,
        &phase(&zone, &[(&ksk, k), (&old, idle), (&new, zsk)], 2),
    );
    stays_secure(&u, 3, "new ZSK signing, old published");
    reload_phase(&g, &phase(&zone, &[(&ksk, k), (&new, zsk)], 2));
    stays_secure(&u, 3, "old ZSK gone");
    let keys = secure(&u, "gslb.example DNSKEY", "NOERROR");
    assert_eq!(flags(&keys.answers), ["256", "257"], "{}", keys.raw);
    assert!(failures(&u).is_empty(), "{}", u.log());
}
