//! Signed answers a second review broke (#27): a pool failing open with every region drained
//! answers empty and must prove it (with NSEC and NSEC3); an RRSIG question at an emptied
//! pool's name in an NSEC3 zone; NSEC and RRSIG questions without DO; and a rollover's swap,
//! which changes only who signs, must reach the secondaries as a version.

use std::time::Duration;

use crate::dnssec_tools::{delv, keygen};
use crate::harness::{Dig, Gslbd, poll, zone_head};
use crate::secondary::KEY;

/// A zone with a weighted pool (`on_all_down` left at "all") and a static name, signed.
fn zone(denial: &str, keys: &str) -> String {
    format!(
        "{}[[records]]\nname = \"mail\"\ntype = \"A\"\ndata = [\"192.0.2.25\"]\n\
         [pools.www]\ntype = \"A\"\n[pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\n\
         [dnssec]\nkeys = [{keys}]\ndenial = \"{denial}\"\n",
        zone_head("gslb.example.")
    )
}

fn drain(g: &Gslbd, region: &str) {
    let (code, body) = g.api(
        "POST",
        &format!("/regions/gslb.example/www/{region}/drain"),
        None,
    );
    assert_eq!(code, 200, "{body}");
}

/// The types of the NSEC3 (or NSEC) record owned by a name in the authority section.
fn bitmap(d: &Dig, kind: &str) -> Vec<String> {
    d.raw
        .lines()
        .filter(|l| l.split_whitespace().nth(3) == Some(kind))
        .map(|l| l.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn a_pool_with_every_region_drained_proves_its_empty_answer() {
    for denial in ["nsec", "nsec3"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let zones = dir.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        let ds = keygen(&zones, "k.pem", "ecdsa-p256");
        std::fs::write(zones.join("z.toml"), zone(denial, "{ file = \"k.pem\" }")).expect("zone");
        let g = Gslbd::start_in(dir, &[]);
        drain(&g, "east");
        drain(&g, "west");
        let out = delv(g.port, &ds, "www.gslb.example A").out;
        assert!(
            out.contains("negative response, fully validated"),
            "{denial}: every region drained, failing open answers nothing:\n{out}"
        );
        if denial == "nsec3" {
            // An RRSIG question there: nothing is signed at the name now, and the proof says so.
            let d = g.dig("+dnssec www.gslb.example RRSIG");
            assert_eq!(d.status, "NOERROR");
            for types in bitmap(&d, "NSEC3") {
                assert!(
                    !types.contains("RRSIG") || !types.ends_with(" A"),
                    "{}",
                    d.raw
                );
            }
            let proof = bitmap(&d, "NSEC3");
            assert!(
                proof
                    .iter()
                    .any(|t| !t.contains(" A ") && !t.contains("RRSIG")),
                "the NSEC3 without the pool's type and without RRSIG:\n{}",
                d.raw
            );
        } else {
            // NSEC and RRSIG are data without DO too.
            let d = g.dig("mail.gslb.example NSEC");
            assert_eq!(d.answers("NSEC").len(), 1, "{}", d.raw);
            let d = g.dig("mail.gslb.example RRSIG");
            assert!(!d.answers("RRSIG").is_empty(), "{}", d.raw);
        }
    }
}

#[test]
fn a_zsk_swap_is_a_new_transfer_version_signed_by_the_new_key() {
    let keys = tempfile::tempdir().expect("tempdir");
    keygen(keys.path(), "ksk.pem", "ecdsa-p256");
    keygen(keys.path(), "z1.pem", "ecdsa-p256");
    keygen(keys.path(), "z2.pem", "ecdsa-p256");
    let key = |f: &str, role: &str, sign: bool| {
        format!(
            "{{ file = \"{}\", role = \"{role}\", sign = {sign} }}",
            keys.path().join(f).display()
        )
    };
    let text = |z1: bool, z2: bool| {
        zone(
            "nsec",
            &[
                key("ksk.pem", "ksk", true),
                key("z1.pem", "zsk", z1),
                key("z2.pem", "zsk", z2),
            ]
            .join(", "),
        )
    };
    let dir = crate::transfers::setup(&text(true, false), &[crate::harness::sink_port()], "");
    let g = Gslbd::start_in(dir, &[]);
    crate::transfers::first_version(&g);
    let axfr_signers = || {
        let out = std::process::Command::new("dig")
            .args(["@127.0.0.1", "-p", &g.port.to_string(), "-y", KEY])
            .args(["gslb.example", "AXFR", "+nocmd", "+nostats", "+nocomments"])
            .output()
            .expect("dig");
        let mut tags: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("RRSIG\tA ") || l.contains("RRSIG A "))
            .filter_map(|l| l.split_whitespace().nth(10).map(str::to_string))
            .collect();
        tags.sort();
        tags.dedup();
        tags
    };
    let before = axfr_signers();
    assert_eq!(before.len(), 1, "{before:?}");
    let zones = g.zones_dir();
    std::fs::write(zones.join(".z.tmp"), text(false, true)).expect("zone");
    std::fs::rename(zones.join(".z.tmp"), zones.join("z.toml")).expect("rename");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    let after = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        let now = axfr_signers();
        (now.len() == 1 && now != before).then_some(now)
    });
    assert!(
        after.is_some(),
        "the swap must reach the secondaries: AXFR still signed by {:?}",
        axfr_signers()
    );
}
