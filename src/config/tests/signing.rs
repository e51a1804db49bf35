//! `[dnssec]`: keys loaded with their roles, the apex key sets added, and every mistake named
//! at its line and column.

use hickory_proto::rr::{LowerName, Name, RecordType};

use super::*;
use crate::dnssec::{KeyAlgorithm, generate};

/// Two keys for t.example. in a directory the test keeps.
fn keys() -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let zone = Name::from_ascii("t.example.").expect("name");
    let mut paths = Vec::new();
    for (i, alg) in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519]
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("k{i}.pem"));
        generate(&zone, alg)
            .expect("key")
            .write_pem(&path)
            .expect("write");
        paths.push(path.display().to_string());
    }
    (dir, paths[0].clone(), paths[1].clone())
}

#[test]
fn a_signed_zone_publishes_its_key_sets_at_the_apex() {
    let (_dir, k0, k1) = keys();
    let text = format!(
        "{HEAD}{POOL}[dnssec]\nkeys = [{{ file = \"{k0}\", role = \"ksk\" }}, {{ file = \"{k1}\", role = \"zsk\" }}]\nlifetime = \"2d\"\ndnskey_ttl = 600\n"
    );
    let set = load_text(&text).expect("valid");
    let zone = &set.zones[0];
    let signing = zone.signing.as_deref().expect("signed");
    assert_eq!(signing.keys.len(), 2);
    assert_eq!(signing.lifetime.as_secs(), 2 * 86_400);
    let apex = zone
        .nodes
        .get(&LowerName::new(&zone.origin_name))
        .expect("apex");
    let dnskeys = apex.rrset(RecordType::DNSKEY).expect("DNSKEY set");
    assert_eq!(dnskeys.records.len(), 2);
    assert!(dnskeys.records.iter().all(|r| r.ttl == 600));
    // CDS and CDNSKEY for the KSK only.
    assert_eq!(apex.rrset(RecordType::CDS).expect("CDS").records.len(), 1);
    assert_eq!(
        apex.rrset(RecordType::CDNSKEY)
            .expect("CDNSKEY")
            .records
            .len(),
        1
    );
    assert!(
        load_text(&format!("{HEAD}{POOL}")).expect("valid").zones[0]
            .signing
            .is_none()
    );
    // A KSK published ahead of a rollover is in CDS beside the one that signs (double-DS).
    let text = format!(
        "{HEAD}{POOL}[dnssec]\nkeys = [{{ file = \"{k0}\" }}, {{ file = \"{k1}\", role = \"ksk\", sign = false }}]\n"
    );
    let set = load_text(&text).expect("valid");
    let zone = &set.zones[0];
    let apex = zone
        .nodes
        .get(&LowerName::new(&zone.origin_name))
        .expect("apex");
    assert_eq!(apex.rrset(RecordType::CDS).expect("CDS").records.len(), 2);
    assert_eq!(
        apex.rrset(RecordType::CDNSKEY)
            .expect("CDNSKEY")
            .records
            .len(),
        2
    );
}

#[test]
fn bad_dnssec_sections_are_named_at_their_line_and_column() {
    let (_dir, k0, k1) = keys();
    bad(
        &format!("{HEAD}[dnssec]\nkeys = [{{ file = \"{k0}\", role = §\"kzk\" }}]\n"),
        "unknown key role \"kzk\"",
    );
    bad(
        &format!("{HEAD}[dnssec]\nkeys = [{{ file = §\"/nonexistent/k.pem\" }}]\n"),
        "cannot read key file /nonexistent/k.pem",
    );
    bad(
        &format!("{HEAD}[dnssec]\nkeys = [{{ file = \"{k0}\" }}]\nlifetime = §\"10m\"\n"),
        "lifetime must be from 1h to 365d",
    );
    bad(
        &format!("{HEAD}[dnssec]\nkeys = §[{{ file = \"{k0}\", role = \"ksk\" }}]\n"),
        "no key signs the zone's records",
    );
    bad(
        &format!("{HEAD}[dnssec]\nkeys = §[{{ file = \"{k1}\", role = \"zsk\" }}]\n"),
        "no key signs the DNSKEY set",
    );
    bad(
        &format!("{HEAD}[dnssec]\nkeys = [{{ file = \"{k0}\" }}, {{ file = §\"{k0}\" }}]\n"),
        "the same key is listed twice",
    );
    bad(
        &format!("{HEAD}[dnssec]\nkeys = [{{ file = \"{k0}\", §color = \"red\" }}]\n"),
        "unknown field `color`",
    );
    // 20 regions, answers = 4: 6,195 sets of regions, too many to sign ahead: the pool answers
    // with ring windows (20 × 2^3 = 160 sets). With answers = 16 even the windows are too many.
    let pool = |answers: u32| {
        let mut p = format!("[pools.§big]\ntype = \"A\"\nanswers = {answers}\n");
        for i in 0..20 {
            p += &format!("[pools.big.regions.r{i}]\naddresses = [\"192.0.2.{i}\"]\n");
        }
        p
    };
    let signed = |p: &str| format!("{HEAD}[dnssec]\nkeys = [{{ file = \"{k0}\" }}]\n{p}");
    let set = load_text(&signed(&pool(4).replace('§', ""))).expect("a ring pool");
    let big = &set.zones[0].pools[0];
    assert!(big.ring);
    assert_eq!(crate::dnssec::variant_count(big), Some(160));
    assert!(
        !load_text(&format!("{HEAD}{}", pool(4).replace('§', "")))
            .expect("unsigned")
            .zones[0]
            .pools[0]
            .ring
    );
    bad(
        &signed(&pool(16)),
        "pool \"big\" would need 655360 answer sets signed ahead even as ring windows",
    );
    let all = pool(16)
        .replace('§', "")
        .replace("answers = 16", "policy = \"all\"");
    assert!(load_text(&signed(&all)).is_ok());
}

#[test]
fn a_ring_pool_signs_every_window_subset_holding_its_first_region() {
    let (_dir, k0, _) = keys();
    let regions: String = (0..20)
        .map(|i| format!("[pools.www.regions.r{i}]\naddresses = [\"192.0.2.{i}\"]\n"))
        .collect();
    let text = format!(
        "{HEAD}[dnssec]\nkeys = [{{ file = \"{k0}\" }}]\n[pools.www]\ntype = \"A\"\nanswers = 4\n{regions}"
    );
    let set = load_text(&text).expect("valid");
    assert!(
        set.zones[0].pools[0].ring,
        "C(20,1..4) = 6195 sets: ring windows instead"
    );
    let signed = crate::dnssec::Signed::build(&set, None, 1_796_000_000).expect("signs");
    let sets = &signed.zone(0).expect("signed zone").fast.pools[0].sets;
    assert_eq!(
        sets.len(),
        20 * 8,
        "each region's window: 2^3 subsets holding it"
    );
    let has = |s: &[u16]| sets.contains_key(s);
    assert!(has(&[0, 1, 18, 19]), "windows wrap");
    assert!(has(&[5]) && has(&[5, 8]));
    assert!(!has(&[5, 9]), "9 is outside 5's window");
}

#[test]
fn a_reload_that_changes_only_a_ttl_signs_that_set_again() {
    use hickory_proto::dnssec::rdata::DNSSECRData;
    use hickory_proto::rr::RData;
    let (_dir, k0, _) = keys();
    let zone = |ttl: u32| {
        format!(
            "{HEAD}[[records]]\nname = \"txt\"\ntype = \"TXT\"\ndata = [\"x\"]\nttl = {ttl}\n\
             [dnssec]\nkeys = [{{ file = \"{k0}\" }}]\n"
        )
    };
    let original_ttl = |set: &ZoneSet, signed: &crate::dnssec::Signed| {
        let node = set.zones[0]
            .nodes
            .get(&LowerName::new(
                &Name::from_ascii("txt.t.example.").expect("name"),
            ))
            .expect("txt");
        let records = &node.rrset(RecordType::TXT).expect("TXT").records;
        let sigs = signed
            .zone(0)
            .expect("signed")
            .rrsigs(records)
            .expect("signed set");
        match &sigs[0].data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) => s.input().original_ttl,
            other => panic!("{other:?}"),
        }
    };
    let now = 1_796_000_000;
    let first = load_text(&zone(300)).expect("valid");
    let signed = crate::dnssec::Signed::build(&first, None, now).expect("signs");
    assert_eq!(original_ttl(&first, &signed), 300);
    let second = load_text(&zone(60)).expect("valid");
    let again = crate::dnssec::Signed::build(&second, Some(&signed), now).expect("signs");
    assert_eq!(
        original_ttl(&second, &again),
        60,
        "not the old signature's TTL"
    );
    assert!(again.counts().0 >= 1, "signed again");
}

/// A key whose signing always fails.
struct Failing(hickory_proto::dnssec::PublicKeyBuf);

impl hickory_proto::dnssec::SigningKey for Failing {
    fn sign(&self, _: &hickory_proto::dnssec::TBS) -> hickory_proto::dnssec::DnsSecResult<Vec<u8>> {
        Err(hickory_proto::dnssec::DnsSecError::Message(
            "the key store is gone",
        ))
    }
    fn to_public_key(
        &self,
    ) -> hickory_proto::dnssec::DnsSecResult<hickory_proto::dnssec::PublicKeyBuf> {
        Ok(self.0.clone())
    }
    fn algorithm(&self) -> hickory_proto::dnssec::Algorithm {
        hickory_proto::dnssec::Algorithm::ECDSAP256SHA256
    }
}

#[test]
fn a_zone_that_cannot_be_signed_is_an_error_not_a_partly_signed_set() {
    let (_dir, k0, _) = keys();
    let mut set = load_text(&format!(
        "{HEAD}{POOL}[dnssec]\nkeys = [{{ file = \"{k0}\" }}]\n"
    ))
    .expect("valid");
    let zone = std::sync::Arc::get_mut(&mut set.zones[0]).expect("unshared");
    let signing = zone.signing.take().expect("signed");
    let real = &signing.keys[0];
    let key = crate::zone::signing::ZoneKey {
        file: real.file.clone(),
        role: real.role,
        sign: true,
        dnskey: real.dnskey.clone(),
        tag: real.tag,
        key: std::sync::Arc::new(Failing(real.dnskey.public_key().clone())),
        readable_by_others: false,
    };
    zone.signing = Some(std::sync::Arc::new(crate::zone::signing::Signing {
        keys: vec![key],
        lifetime: signing.lifetime,
        dnskey_ttl: signing.dnskey_ttl,
        cds: signing.cds,
        denial: signing.denial,
    }));
    // The engine keeps what it serves when this fails (a reload is refused like a bad file,
    // a snapshot or renewal is not published): the whole set fails, nothing half-signed.
    let err = crate::dnssec::Signed::build(&set, None, 1_796_000_000)
        .expect_err("signing fails")
        .to_string();
    assert!(err.contains("the key store is gone"), "{err}");
}
