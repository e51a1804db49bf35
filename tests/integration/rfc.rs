//! Message rules the way Knot, NSD and BIND authors test an authoritative server: truncation
//! and the OPT record, glue that does not fit, malformed Client Subnet, ECS scope over several
//! pools, CNAME chains across zones, DS at a cut, TXT at character boundaries and TSIG.

use crate::harness::{Dig, Gslbd, run, zone_head};

/// The parent zone: big answers, a big glue set, CNAMEs of every kind, a delegation to a child
/// zone also served here, and a name with a hashed A pool beside a weighted AAAA pool.
fn parent() -> String {
    let mut z = zone_head("gslb.example.");
    z.push_str(&format!(
        "[[records]]\nname = \"ns1\"\ntype = \"AAAA\"\ndata = [\"2001:db8::53\"]\n\
         [[records]]\nname = \"ns2\"\ntype = \"AAAA\"\ndata = [{}]\n",
        (1..=40)
            .map(|i| format!("\"2001:db8::{i:x}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    z.push_str("[[records]]\nname = \"big\"\ntype = \"TXT\"\ndata = [\n");
    for i in 0..12 {
        z.push_str(&format!("  \"{i:02}{}\",\n", "x".repeat(180)));
    }
    z.push_str("]\n");
    z.push_str(&format!(
        "[[records]]\nname = \"utf8\"\ntype = \"TXT\"\ndata = [\"{}€ and more\"]\n",
        "a".repeat(254)
    ));
    for (name, target) in [
        ("into-child", "www.kid.gslb.example."),
        ("other-zone", "www.other.example."),
        ("dangling", "nothing.gslb.example."),
        ("alias", "www.gslb.example."),
        ("into-cut", "host.sub.gslb.example."),
        ("long-out", &long_name("example.net.")),
        ("long-in", &long_name("gslb.example.")),
    ] {
        z.push_str(&format!(
            "[[records]]\nname = \"{name}\"\ntype = \"CNAME\"\ndata = [\"{target}\"]\n"
        ));
    }
    z.push_str(&format!(
        "[[records]]\nname = \"{}\"\ntype = \"A\"\ndata = [\"192.0.2.255\"]\n",
        long_name("gslb.example.")
    ));
    z.push_str(
        r#"[[records]]
name = "www"
type = "A"
data = ["192.0.2.80"]
[[records]]
name = "sub"
type = "NS"
data = ["ns.sub"]
[[records]]
name = "ns.sub"
type = "A"
data = ["192.0.2.153"]
[[records]]
name = "kid"
type = "NS"
data = ["ns1.gslb.example."]

[pools.mixed]
type = "A"
policy = "hashed"
[pools.mixed.regions.a]
addresses = ["192.0.2.61"]
[pools.mixed.regions.b]
addresses = ["192.0.2.62"]
[pools.mixed6]
name = "mixed"
type = "AAAA"
[pools.mixed6.regions.a]
addresses = ["2001:db8::61"]
"#,
    );
    z
}

/// A name of 255 octets on the wire (the longest there is) ending in `suffix`.
fn long_name(suffix: &str) -> String {
    let mut name = String::new();
    // Each label of n characters takes n + 1 octets; the root one more.
    let mut left = 255 - (suffix.len() + 1);
    while left > 0 {
        let n = (left - 1).min(63);
        name.push_str(&"a".repeat(n));
        name.push('.');
        left -= n + 1;
    }
    name + suffix
}

fn start() -> Gslbd {
    let kid = format!(
        "{}[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.201\"]\n",
        zone_head("kid.gslb.example.")
    );
    let other = format!(
        "{}[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.202\"]\n",
        zone_head("other.example.")
    );
    Gslbd::start(&[
        ("gslb.example.toml", &parent()),
        ("kid.toml", &kid),
        ("other.toml", &other),
    ])
}

/// dig's complaint when bytes follow the last record it could read.
fn clean(d: &Dig) {
    assert!(!d.raw.contains("extra bytes"), "{}", d.raw);
    assert!(!d.raw.contains("Warning"), "{}", d.raw);
    assert!(!d.status.is_empty(), "no response: {}", d.raw);
}

#[test]
fn truncation_keeps_header_question_and_opt_and_leaves_no_bytes_behind() {
    let g = start();
    for args in [
        "big.gslb.example TXT +ignore +bufsize=1232",
        "big.gslb.example TXT +ignore +bufsize=512",
        "big.gslb.example TXT +ignore +noedns",
    ] {
        let d = g.dig(args);
        clean(&d);
        assert!(d.has_flag("tc"), "{args}: {}", d.raw);
        assert!(d.answer.is_empty(), "{args}: no partial answer");
        assert!(d.raw.contains(";; QUESTION SECTION:"), "{args}");
        assert_eq!(
            d.edns.is_some(),
            !args.contains("noedns"),
            "{args}: OPT kept"
        );
    }
    let d = g.dig("big.gslb.example TXT +tcp");
    clean(&d);
    assert!(!d.has_flag("tc"));
    assert_eq!(d.answers("TXT").len(), 12);
}

#[test]
fn glue_that_does_not_fit_is_dropped_by_rrset_without_tc() {
    let g = start();
    // Two NS, one with 40 AAAA glue records: the NS answer fits 512 bytes, the big glue not.
    let d = g.dig("gslb.example NS +ignore +bufsize=512");
    clean(&d);
    assert!(!d.has_flag("tc"), "{}", d.raw);
    assert_eq!(d.answers("NS").len(), 2);
    let glue: Vec<(&str, &str)> = d
        .additional
        .iter()
        .map(|r| (r.name.as_str(), r.rtype.as_str()))
        .collect();
    assert!(glue.contains(&("ns1.gslb.example.", "AAAA")), "{}", d.raw);
    assert!(glue.contains(&("ns2.gslb.example.", "A")), "{}", d.raw);
    assert!(
        !glue.contains(&("ns2.gslb.example.", "AAAA")),
        "whole RRsets only: {}",
        d.raw
    );
    let d = g.dig("gslb.example NS +tcp");
    assert_eq!(
        d.additional
            .iter()
            .filter(|r| r.name == "ns2.gslb.example." && r.rtype == "AAAA")
            .count(),
        40
    );
}

#[test]
fn malformed_client_subnet_gets_formerr_with_question_and_opt() {
    let g = start();
    for (what, hex) in [
        ("unknown family", "00031800c63364"),
        ("prefix too long", "00012100c633640a0b"),
        ("an address octet short", "00011800c633"),
        ("an address octet too many", "00011800c6336400"),
        ("bits set past the prefix", "00011700c63365"),
        ("scope set in a query", "00011818c63364"),
        ("cut before the prefix", "0001"),
    ] {
        let d = g.dig(&format!("www.gslb.example A +ednsopt=8:{hex}"));
        assert_eq!(d.status, "FORMERR", "{what}: {}", d.raw);
        assert!(d.raw.contains(";; QUESTION SECTION:"), "{what}: {}", d.raw);
        assert!(d.edns.is_some(), "{what}: OPT in the FORMERR");
        assert!(!d.raw.contains("CLIENT-SUBNET"), "{what}: not echoed");
        assert!(!d.has_flag("aa"));
    }
    let d = g.dig("www.gslb.example A +ednsopt=8:00011800c63364");
    assert_eq!(d.status, "NOERROR", "a well-formed /24 is fine: {}", d.raw);
}

#[test]
fn any_over_several_pools_echoes_the_longest_scope_any_needed() {
    let g = start();
    // The hashed A pool needs /24; the weighted AAAA pool beside it needs none.
    let d = g.dig("mixed.gslb.example ANY +subnet=198.51.100.0/24 +tcp");
    assert_eq!(d.status, "NOERROR");
    assert_eq!(d.answers("A").len(), 1, "{}", d.raw);
    assert_eq!(d.answers("AAAA").len(), 1, "{}", d.raw);
    assert!(
        d.raw.contains("CLIENT-SUBNET: 198.51.100.0/24/24"),
        "{}",
        d.raw
    );
    let d = g.dig("mixed.gslb.example AAAA +subnet=198.51.100.0/24");
    assert!(
        d.raw.contains("CLIENT-SUBNET: 198.51.100.0/24/0"),
        "{}",
        d.raw
    );
}

#[test]
fn cname_chains_restart_in_the_closest_zone_and_end_by_rfc_6604() {
    let g = start();
    // Into a child zone served here, and into an unrelated zone served here.
    for (name, target, addr) in [
        ("into-child", "www.kid.gslb.example.", "192.0.2.201"),
        ("other-zone", "www.other.example.", "192.0.2.202"),
    ] {
        let d = g.dig(&format!("{name}.gslb.example A"));
        assert_eq!(d.status, "NOERROR", "{}", d.raw);
        assert!(d.has_flag("aa"));
        assert_eq!(d.answers("CNAME"), vec![target.to_string()], "{}", d.raw);
        assert_eq!(d.answers("A"), vec![addr.to_string()], "{}", d.raw);
    }
    // A chain ending at a name that does not exist is NXDOMAIN, the CNAME still answered.
    let d = g.dig("dangling.gslb.example A");
    assert_eq!(d.status, "NXDOMAIN", "{}", d.raw);
    assert_eq!(d.answers("CNAME").len(), 1);
    assert_eq!(d.authority[0].rtype, "SOA");
    // ANY at a CNAME owner is the CNAME alone.
    let d = g.dig("alias.gslb.example ANY +tcp");
    assert_eq!(d.answer.len(), 1, "{}", d.raw);
    assert_eq!(d.answer[0].rtype, "CNAME");
    // A CNAME into a delegation: the CNAME, then the referral.
    let d = g.dig("into-cut.gslb.example A");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(d.has_flag("aa"), "the CNAME is ours: {}", d.raw);
    assert_eq!(d.answers("CNAME").len(), 1);
    assert!(d.answers("A").is_empty());
    assert_eq!(d.authority.len(), 1, "{}", d.raw);
    assert_eq!(d.authority[0].rtype, "NS");
    assert_eq!(d.additional[0].name, "ns.sub.gslb.example.");
}

#[test]
fn a_cname_to_the_longest_name_is_sized_compressed_and_fits_512_octets() {
    let g = start();
    // Uncompressed, the A record's owner (the CNAME's target again) would pass 512 octets.
    for (name, a) in [("long-out", None), ("long-in", Some("192.0.2.255"))] {
        let target = long_name(if name == "long-out" {
            "example.net."
        } else {
            "gslb.example."
        });
        for args in ["+noedns", "+bufsize=512", "+tcp"] {
            let d = g.dig(&format!("{name}.gslb.example A +ignore {args}"));
            clean(&d);
            assert_eq!(d.status, "NOERROR", "{name} {args}: {}", d.raw);
            assert!(!d.has_flag("tc"), "{name} {args}: it fits: {}", d.raw);
            assert_eq!(d.answers("CNAME"), vec![target.clone()], "{name} {args}");
            assert_eq!(
                d.answers("A"),
                Vec::from_iter(a.map(String::from)),
                "{name}"
            );
        }
    }
}

#[test]
fn ds_at_a_cut_to_a_child_served_here_is_answered_by_the_parent() {
    let g = start();
    let d = g.dig("kid.gslb.example DS");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(d.has_flag("aa"));
    assert!(d.answer.is_empty());
    assert_eq!(d.authority[0].name, "gslb.example.", "{}", d.raw);
    let d = g.dig("kid.gslb.example SOA");
    assert_eq!(
        d.answer[0].name, "kid.gslb.example.",
        "the child answers its apex"
    );
}

#[test]
fn txt_split_inside_a_character_is_split_before_it() {
    let g = start();
    let d = g.dig("utf8.gslb.example TXT");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    let txt = d.answers("TXT");
    assert_eq!(txt.len(), 1);
    assert!(
        txt[0].starts_with(&format!("\"{}\" \"", "a".repeat(254))),
        "{txt:?}"
    );
}

#[test]
fn tsig_signed_queries_get_notauth_badkey_unsigned() {
    let g = start();
    let d = g.dig("www.gslb.example A -y hmac-sha256:some-key:c2VjcmV0c2VjcmV0c2VjcmV0");
    assert_eq!(d.status, "NOTAUTH", "{}", d.raw);
    assert!(d.answer.is_empty());
    assert!(d.raw.contains("TSIG PSEUDOSECTION"), "{}", d.raw);
    assert!(d.raw.contains("BADKEY"), "{}", d.raw);
    assert!(d.raw.contains("some-key."), "{}", d.raw);
}

#[test]
fn check_rejects_cname_loops_and_parent_data_under_a_served_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    let mut looped = zone_head("gslb.example.");
    looped.push_str("[[records]]\nname = \"self\"\ntype = \"CNAME\"\ndata = [\"self\"]\n");
    std::fs::write(zones.join("a.toml"), &looped).expect("write");
    let out = run(&["check", "--zones", "zones"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("a.toml:19:1: CNAME loop"), "{err}");

    let mut parent = zone_head("gslb.example.");
    parent.push_str("[[records]]\nname = \"www.kid\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n");
    std::fs::write(zones.join("a.toml"), &parent).expect("write");
    std::fs::write(zones.join("kid.toml"), zone_head("kid.gslb.example.")).expect("write");
    let out = run(&["check", "--zones", "zones"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("a.toml:19:1: data at \"www.kid.gslb.example.\" is hidden by zone"),
        "{err}"
    );
}
