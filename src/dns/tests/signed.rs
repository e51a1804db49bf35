//! Signed zones: DO=1 answers from the fast path (records and their pre-encoded RRSIGs) equal
//! the full path's byte for byte, and the full path's RRSIGs and NSEC proofs verify.

use hickory_proto::dnssec::rdata::DNSSECRData;
use hickory_proto::rr::RData;

use super::*;
use crate::dnssec::{Published, Signed};

/// [`snapshot`]'s zones signed with a new key (written to `dir`).
fn signed_snapshot(dir: &std::path::Path) -> Snapshot {
    signed_snapshot_with(dir, "")
}

/// [`signed_snapshot`] with `extra` lines in its `[dnssec]` section.
fn signed_snapshot_with(dir: &std::path::Path, extra: &str) -> Snapshot {
    let zone = hickory_proto::rr::Name::from_ascii("t.example.").expect("name");
    let key = crate::dnssec::generate(&zone, crate::dnssec::KeyAlgorithm::EcdsaP256).expect("key");
    let file = dir.join("k.pem");
    key.write_pem(&file).expect("write key");
    // A ring pool too: 20 regions, answers = 4 (every answer one of 160 signed windows).
    let ring: String = (0..20)
        .map(|i| format!("[pools.ring.regions.r{i}]\naddresses = [\"198.51.100.{i}\"]\n"))
        .collect();
    let text = format!(
        "{}\n[dnssec]\nkeys = [{{ file = \"{}\" }}]\n{extra}\n[pools.ring]\ntype = \"A\"\nanswers = 4\n{ring}",
        super::super::fixture::ZONE,
        file.display()
    );
    let mut snap = snapshot_of(&[
        (PathBuf::from("t.toml"), text),
        (
            PathBuf::from("topology.toml"),
            super::super::fixture::MAP.to_string(),
        ),
    ]);
    let signed = Signed::build(&snap.zones, None, 1_796_000_000).expect("signed");
    snap.dnssec = Arc::new(Published::new(Arc::new(signed)));
    snap
}

fn rrsigs(m: &Message) -> usize {
    m.answers
        .iter()
        .chain(&m.authorities)
        .filter(|r| matches!(&r.data, RData::DNSSEC(DNSSECRData::RRSIG(_))))
        .count()
}

#[test]
fn signed_answers_of_the_fast_path_equal_the_full_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = signed_snapshot(dir.path());
    let mut fast_answers = 0;
    for (name, qtype) in [
        ("www.t.example.", RecordType::A),
        ("WWW.t.example.", RecordType::A),
        ("api.t.example.", RecordType::A),
        ("sticky.t.example.", RecordType::A),
        ("near.t.example.", RecordType::A),
        ("ring.t.example.", RecordType::A),
        ("t.example.", RecordType::TXT),
        ("t.example.", RecordType::CAA),
        ("ns1.t.example.", RecordType::A),
        ("big.t.example.", RecordType::A),
        ("dark.t.example.", RecordType::A),
        ("nothing.t.example.", RecordType::A),
        ("www.t.example.", RecordType::TXT),
        ("t.example.", RecordType::SOA),
        ("t.example.", RecordType::DNSKEY),
    ] {
        for seed in 0..12u64 {
            let q = query(name, qtype, seed as u16 + 100, Some((1232, true, 0)));
            let (fast, full) = both(&snap, &q, Transport::Udp, seed);
            let full = full.expect("the full path answers");
            let m = Message::from_vec(&full).expect("parses");
            if let Some(fast) = fast {
                fast_answers += 1;
                assert_eq!(fast, full, "{name} {qtype} seed {seed}");
            }
            // Every answer and proof of a signed zone carries signatures (big needs TCP).
            if !m.metadata.truncation {
                assert!(rrsigs(&m) > 0, "{name} {qtype}: {m:?}");
            }
        }
    }
    assert!(
        fast_answers >= 6 * 8,
        "the fast path answered {fast_answers}"
    );
    // DO=0 answers carry no signature.
    let q = query("www.t.example.", RecordType::A, 7, Some((1232, false, 0)));
    let (_, full) = both(&snap, &q, Transport::Udp, 7);
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert_eq!(rrsigs(&m), 0);
}

#[test]
fn a_signed_names_nsec_and_rrsigs_are_answered_as_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = signed_snapshot(dir.path());
    let ask = |name: &str, qtype: RecordType| {
        let q = query(name, qtype, 9, Some((4096, true, 0)));
        let (_, full) = both(&snap, &q, Transport::Tcp, 9);
        Message::from_vec(&full.expect("answered")).expect("parses")
    };
    // The NSEC at a name is its data: answered with its RRSIG, not denied.
    let m = ask("www.t.example.", RecordType::NSEC);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let types: Vec<RecordType> = m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types, [RecordType::NSEC, RecordType::RRSIG], "{m:?}");
    assert!(m.authorities.is_empty(), "{m:?}");
    // RRSIG: every signature at the apex (SOA, NS, MX, TXT, CAA, DNSKEY, CDS, CDNSKEY, NSEC).
    let m = ask("t.example.", RecordType::RRSIG);
    assert!(m.answers.len() >= 9, "{m:?}");
    assert!(
        m.answers
            .iter()
            .all(|r| r.record_type() == RecordType::RRSIG)
    );
    // A pool's name: the signature of the answer this query gets, beside its NSEC's.
    let m = ask("www.t.example.", RecordType::RRSIG);
    let covered: Vec<RecordType> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s.input().type_covered),
            _ => None,
        })
        .collect();
    assert!(
        covered.contains(&RecordType::A) && covered.contains(&RecordType::NSEC),
        "{m:?}"
    );
    // An empty non-terminal has no NSEC of its own: NODATA with its proof.
    let m = ask("b.www.t.example.", RecordType::NSEC);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn in_an_nsec3_zone_a_pool_names_rrsigs_are_its_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let snap = signed_snapshot_with(dir.path(), "denial = \"nsec3\"");
    let q = query(
        "www.t.example.",
        RecordType::RRSIG,
        5,
        Some((4096, true, 0)),
    );
    let (_, full) = both(&snap, &q, Transport::Tcp, 5);
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(
        !m.answers.is_empty()
            && m.answers
                .iter()
                .all(|r| r.record_type() == RecordType::RRSIG),
        "the RRSIGs of the answer, not a NODATA whose proof lists RRSIG: {m:?}"
    );
    // No NSEC in an NSEC3 zone: that question is a NODATA with the name's NSEC3.
    let q = query("www.t.example.", RecordType::NSEC, 6, Some((4096, true, 0)));
    let (_, full) = both(&snap, &q, Transport::Tcp, 6);
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert!(m.answers.is_empty());
    assert!(
        m.authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NSEC3),
        "{m:?}"
    );
}
