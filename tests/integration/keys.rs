//! Operating a signed zone: the DS `gslbd keygen` printed is the one `check`, `/status` and the
//! page show; signatures are made at load and publish, never per query (the counter stays
//! still under DO=1 load); and a ZSK rollover by pre-publication keeps every answer
//! validating at `delv` through each step, with CDS/CDNSKEY naming the KSK.

use std::path::Path;
use std::time::Duration;

use crate::dnssec_tools::{Anchor, delv, delv_all, keygen};
use crate::harness::{Gslbd, poll, run, zone_head};

/// A zone with one static pool and a `[dnssec]` section listing `keys` (TOML inline tables).
fn zone(keys: &[&str]) -> String {
    format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 30\n[pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\n[dnssec]\nkeys = [{}]\n",
        zone_head("gslb.example."),
        keys.join(", ")
    )
}

fn write_zone(dir: &Path, text: &str) {
    let tmp = dir.join("zones/.z.tmp");
    std::fs::write(&tmp, text).expect("zone");
    std::fs::rename(&tmp, dir.join("zones/z.toml")).expect("rename");
}

/// The value of an unlabelled (or single-series) metric line starting with `name`.
fn metric(g: &Gslbd, name: &str) -> Option<f64> {
    g.metrics()
        .lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The key tags of the RRSIGs on `www A`.
fn signers(g: &Gslbd) -> Vec<String> {
    let mut tags: Vec<String> = g
        .dig("+dnssec www.gslb.example A")
        .answers("RRSIG")
        .iter()
        .filter_map(|r| r.split_whitespace().nth(6).map(str::to_string))
        .collect();
    tags.sort();
    tags
}

#[test]
fn the_ds_keygen_printed_is_shown_and_signing_never_happens_per_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    let ds = keygen(&dir.path().join("zones"), "k.pem", "ecdsa-p256");
    write_zone(dir.path(), &zone(&["{ file = \"k.pem\" }"]));
    let ds_line = format!(
        "gslb.example. 3600 IN DS {} {} {} {}",
        ds.tag, ds.algorithm, ds.digest_type, ds.digest
    );

    let out = run(&["check", "--zones", "zones"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("readable"),
        "keygen's file is its owner's alone"
    );
    // A key file others can read is used, with a warning from check too.
    use std::os::unix::fs::PermissionsExt;
    let key = dir.path().join("zones/k.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let warned = run(&["check", "--zones", "zones"], dir.path());
    assert!(warned.status.success());
    assert!(
        String::from_utf8_lossy(&warned.stderr)
            .contains("k.pem is readable by its group or everyone"),
        "{}",
        String::from_utf8_lossy(&warned.stderr)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(
        text.contains(&format!("DS for the parent: {ds_line}")),
        "{text}"
    );
    assert!(
        text.contains("pool www: 2 answer sets signed ahead"),
        "{text}"
    );

    let g = Gslbd::start_in(dir, &[]);
    let status = g.api("GET", "/status", None).1;
    assert_eq!(
        status["zones"][0]["dnssec"][0]["ds"],
        ds_line.as_str(),
        "{status}"
    );
    assert_eq!(status["zones"][0]["dnssec"][0]["role"], "csk");
    let (_, page) = crate::harness::http(g.admin.as_deref().expect("admin"), "GET", "/", None);
    assert!(page.contains(&ds_line), "the page shows the DS");

    let made = metric(&g, "gslbd_dnssec_signatures_total{when=\"load\"}").expect("counted");
    assert!(made > 0.0);
    let expiry = metric(&g, "gslbd_dnssec_expiry_seconds").expect("expiry");
    assert!(
        (7.0 * 86_400.0..=14.0 * 86_400.0).contains(&expiry),
        "{expiry}"
    );
    for i in 0..200 {
        let name = [
            "www.gslb.example",
            "nowhere.gslb.example",
            "ns1.gslb.example",
            "gslb.example",
        ][i % 4];
        let d = g.dig(&format!("+dnssec {name} A"));
        assert!(!d.status.is_empty());
    }
    let after = metric(&g, "gslbd_dnssec_signatures_total{when=\"load\"}").expect("counted");
    assert_eq!(made, after, "no signature is made per query");
    assert!(
        metric(&g, "gslbd_dnssec_signatures_total{when=\"publish\"}").is_none(),
        "nothing to sign at publish for a zone without an all pool"
    );
    // A reload that adds one name signs that name's set and the NSEC records around it, and
    // reuses every other signature.
    let root = g.zones_dir().parent().expect("dir").to_path_buf();
    let sets = metric(&g, "gslbd_dnssec_signed_sets").expect("sets");
    write_zone(
        &root,
        &format!(
            "{}[[records]]\nname = \"extra\"\ntype = \"TXT\"\ndata = [\"new\"]\n",
            zone(&["{ file = \"k.pem\" }"])
        ),
    );
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    let more = metric(&g, "gslbd_dnssec_signatures_total{when=\"load\"}").expect("counted") - after;
    assert!(
        (1.0..=3.0).contains(&more),
        "one new set and its NSEC, the NSEC before it: {more} new signatures of {sets} sets"
    );
}

#[test]
fn a_zsk_rollover_by_pre_publication_validates_at_every_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    let ds = keygen(&zones, "ksk.pem", "ecdsa-p256");
    keygen(&zones, "zsk1.pem", "ecdsa-p256");
    keygen(&zones, "zsk2.pem", "ed25519");
    let ksk = "{ file = \"ksk.pem\", role = \"ksk\" }";
    write_zone(
        dir.path(),
        &zone(&[ksk, "{ file = \"zsk1.pem\", role = \"zsk\" }"]),
    );
    let g = Gslbd::start_in(dir, &[]);
    let root = g.zones_dir().parent().expect("dir").to_path_buf();
    let validates = |g: &Gslbd, step: &str| {
        for (name, rtype) in [
            ("www.gslb.example", "A"),
            ("gslb.example", "DNSKEY"),
            ("nowhere.gslb.example", "A"),
            ("www.gslb.example", "TXT"),
        ] {
            let out = delv(g.port, &ds, &format!("{name} {rtype}")).out;
            assert!(
                out.contains("fully validated"),
                "{step}: {name} {rtype}:\n{out}"
            );
        }
    };
    let dnskeys = |g: &Gslbd| g.dig("gslb.example DNSKEY").answers("DNSKEY").len();
    validates(&g, "start");
    let zsk1 = signers(&g);
    assert_eq!(zsk1.len(), 1);
    // CDS names the KSK (the key the DS points at), not the ZSK.
    let cds = g.dig("gslb.example CDS").answers("CDS");
    assert_eq!(cds.len(), 1);
    assert!(
        cds[0].starts_with(&ds.tag.to_string()),
        "{cds:?} vs DS {ds:?}"
    );

    let reload = |g: &Gslbd, keys: &[&str], want_keys: usize| {
        write_zone(&root, &zone(keys));
        let (code, body) = g.api("POST", "/reload", None);
        assert_eq!(code, 200, "{body}");
        poll(Duration::from_secs(5), Duration::from_millis(50), || {
            (dnskeys(g) == want_keys).then_some(())
        })
        .expect("the DNSKEY set follows the reload");
    };
    // 1. Pre-publish the new ZSK: in the DNSKEY set, not signing.
    reload(
        &g,
        &[
            ksk,
            "{ file = \"zsk1.pem\", role = \"zsk\" }",
            "{ file = \"zsk2.pem\", role = \"zsk\", sign = false }",
        ],
        3,
    );
    validates(&g, "pre-publish");
    assert_eq!(signers(&g), zsk1, "the old ZSK still signs alone");
    // 2. Swap: the new key signs, the old one stays published.
    reload(
        &g,
        &[
            ksk,
            "{ file = \"zsk1.pem\", role = \"zsk\", sign = false }",
            "{ file = \"zsk2.pem\", role = \"zsk\" }",
        ],
        3,
    );
    validates(&g, "swap");
    let zsk2 = signers(&g);
    assert_eq!(zsk2.len(), 1);
    assert_ne!(zsk2, zsk1, "the new ZSK signs");
    // 3. Remove the old key.
    reload(&g, &[ksk, "{ file = \"zsk2.pem\", role = \"zsk\" }"], 2);
    validates(&g, "removed");
    assert_eq!(signers(&g), zsk2);
}

#[test]
fn a_ksk_rollover_by_double_ds_keeps_the_chain_and_cds_names_the_new_key_ahead() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    let ds1 = keygen(&zones, "ksk1.pem", "ecdsa-p256");
    let ds2 = keygen(&zones, "ksk2.pem", "ecdsa-p256");
    keygen(&zones, "zsk.pem", "ecdsa-p256");
    let zsk = "{ file = \"zsk.pem\", role = \"zsk\" }";
    write_zone(
        dir.path(),
        &zone(&["{ file = \"ksk1.pem\", role = \"ksk\" }", zsk]),
    );
    let g = Gslbd::start_in(dir, &[]);
    let root = g.zones_dir().parent().expect("dir").to_path_buf();
    let cds_tags = |g: &Gslbd| {
        let mut tags: Vec<String> = g
            .dig("gslb.example CDS")
            .answers("CDS")
            .iter()
            .filter_map(|r| r.split_whitespace().next().map(str::to_string))
            .collect();
        tags.sort();
        tags
    };
    let both = {
        let mut t = vec![ds1.tag.to_string(), ds2.tag.to_string()];
        t.sort();
        t
    };
    let validates = |g: &Gslbd, parent: &[&Anchor], step: &str| {
        for (name, rtype) in [("www.gslb.example", "A"), ("gslb.example", "DNSKEY")] {
            let out = delv_all(g.port, parent, &format!("{name} {rtype}")).out;
            assert!(
                out.contains("fully validated"),
                "{step}: {name} {rtype}:\n{out}"
            );
        }
    };
    let reload = |g: &Gslbd, keys: &[&str]| {
        write_zone(&root, &zone(keys));
        let (code, body) = g.api("POST", "/reload", None);
        assert_eq!(code, 200, "{body}");
    };
    assert_eq!(cds_tags(&g), [ds1.tag.to_string()]);
    validates(&g, &[&ds1], "start");
    // 1. The new KSK published ahead: CDS names both, so the parent can publish both DS.
    reload(
        &g,
        &[
            "{ file = \"ksk1.pem\", role = \"ksk\" }",
            "{ file = \"ksk2.pem\", role = \"ksk\", sign = false }",
            zsk,
        ],
    );
    assert_eq!(cds_tags(&g), both, "CDS names the new key before it signs");
    validates(&g, &[&ds1], "pre-publish, parent with the old DS");
    validates(&g, &[&ds1, &ds2], "pre-publish, parent with both DS");
    // 2. Swap: the new key signs the DNSKEY set; the parent serves both DS.
    reload(
        &g,
        &[
            "{ file = \"ksk1.pem\", role = \"ksk\", sign = false }",
            "{ file = \"ksk2.pem\", role = \"ksk\" }",
            zsk,
        ],
    );
    assert_eq!(cds_tags(&g), both);
    validates(&g, &[&ds1, &ds2], "swap");
    // 3. The old key removed: CDS names the new one alone, which the parent's DS now is.
    reload(&g, &["{ file = \"ksk2.pem\", role = \"ksk\" }", zsk]);
    assert_eq!(cds_tags(&g), [ds2.tag.to_string()]);
    validates(&g, &[&ds2], "old key removed");
}

#[test]
fn two_signing_ksks_validate_under_either_ds_for_a_double_signature_rollover() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    let ds1 = keygen(&zones, "ksk1.pem", "ecdsa-p256");
    let ds2 = keygen(&zones, "ksk2.pem", "ed25519");
    keygen(&zones, "zsk.pem", "ecdsa-p256");
    write_zone(
        dir.path(),
        &zone(&[
            "{ file = \"ksk1.pem\", role = \"ksk\" }",
            "{ file = \"ksk2.pem\", role = \"ksk\" }",
            "{ file = \"zsk.pem\", role = \"zsk\" }",
        ]),
    );
    let g = Gslbd::start_in(dir, &[]);
    // The DNSKEY set carries both KSKs' signatures: a parent with either DS validates it.
    for (parent, which) in [(&ds1, "old DS"), (&ds2, "new DS")] {
        for q in [
            "www.gslb.example A",
            "gslb.example DNSKEY",
            "nowhere.gslb.example A",
        ] {
            let out = delv(g.port, parent, q).out;
            assert!(out.contains("fully validated"), "{which}: {q}:\n{out}");
        }
    }
    assert_eq!(
        g.dig("+dnssec gslb.example DNSKEY").answers("RRSIG").len(),
        2
    );
}
