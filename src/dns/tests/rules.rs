//! The query rules the full path keeps, checked on raw messages: cookie errors (FORMERR,
//! BADCOOKIE), a child zone served beside its parent (DS from the parent), ANY over UDP
//! and TCP.

use super::*;

#[test]
fn malformed_cookies_get_formerr_and_required_cookies_get_badcookie_over_udp() {
    let snap = snapshot();
    let q = query_with(
        "www.t.example.",
        RecordType::A,
        13,
        Some((1232, false, 0)),
        &[EdnsOption::Unknown(10, vec![7; 12])],
    );
    let (fast, full) = both(&snap, &q, Transport::Udp, 13);
    assert!(fast.is_none());
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert!(m.edns.is_some());

    let strict = crate::dns::fixture::context(&snap, true);
    let client_only = query_with(
        "www.t.example.",
        RecordType::A,
        14,
        Some((1232, false, 0)),
        &[EdnsOption::Unknown(10, vec![7; 8])],
    );
    let (fast, full) = both_in(&strict, &client_only, Transport::Udp, 14);
    assert!(fast.is_none(), "BADCOOKIE is the full path's");
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert_eq!(m.metadata.response_code, ResponseCode::BADCOOKIE);
    assert!(m.answers.is_empty());
    let Some(EdnsOption::Unknown(10, server)) = m
        .edns
        .as_ref()
        .and_then(|e| e.option(hickory_proto::rr::rdata::opt::EdnsCode::Cookie))
    else {
        panic!("BADCOOKIE carries a fresh server cookie")
    };
    // With that server cookie the query is answered, on the fast path.
    let q = query_with(
        "www.t.example.",
        RecordType::A,
        15,
        Some((1232, false, 0)),
        &[EdnsOption::Unknown(10, server.clone())],
    );
    let (fast, full) = both_in(&strict, &q, Transport::Udp, 15);
    assert!(fast.is_some());
    assert_eq!(fast, full);
    // TCP proves the source address: no BADCOOKIE there.
    let (fast, _) = both_in(&strict, &client_only, Transport::Tcp, 16);
    assert!(fast.is_some());
}

#[test]
fn a_name_inside_a_child_zone_served_here_is_answered_by_the_child_and_ds_by_the_parent() {
    let parent =
        format!("{ZONE}[[records]]\nname = \"kid\"\ntype = \"NS\"\ndata = [\"ns1.t.example.\"]\n");
    let child = "origin = \"kid.t.example.\"\n[soa]\nmname = \"ns1.t.example.\"\n\
                 rname = \"h.t.example.\"\n[[records]]\nname = \"@\"\ntype = \"NS\"\n\
                 data = [\"ns1.t.example.\"]\n[[records]]\nname = \"www\"\ntype = \"A\"\n\
                 data = [\"192.0.2.201\"]\n";
    let snap = snapshot_of(&[
        (PathBuf::from("t.toml"), parent),
        (PathBuf::from("kid.toml"), child.to_string()),
    ]);
    let q = query("www.kid.t.example.", RecordType::A, 5, None);
    let (fast, full) = both(&snap, &q, Transport::Udp, 5);
    assert!(fast.is_some());
    assert_eq!(fast, full);
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    let data: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(data, vec!["192.0.2.201"], "the child zone answers");

    // DS lives on the parent side of the cut: the parent answers it, authoritatively.
    let q = query("kid.t.example.", RecordType::DS, 6, None);
    let (_, full) = both(&snap, &q, Transport::Udp, 6);
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert!(m.metadata.authoritative);
    assert!(m.answers.is_empty());
    let soa: Vec<String> = m.authorities.iter().map(|r| r.name.to_string()).collect();
    assert_eq!(soa, vec!["t.example."], "the parent's SOA, not the child's");
    // Any other type at the child apex is the child's.
    let q = query("kid.t.example.", RecordType::NS, 7, None);
    let (_, full) = both(&snap, &q, Transport::Udp, 7);
    let m = Message::from_vec(&full.expect("answered")).expect("parses");
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);

    // Negative answers come from the child, fast or full, with the child's SOA.
    for (id, (name, qtype)) in [
        ("nope.kid.t.example.", RecordType::A),
        ("kid.t.example.", RecordType::TXT),
        ("www.kid.t.example.", RecordType::MX),
        ("Deep.Nope.KID.t.example.", RecordType::AAAA),
    ]
    .into_iter()
    .enumerate()
    {
        let q = query(name, qtype, 20 + id as u16, Some((1232, true, 0)));
        let (fast, full) = both(&snap, &q, Transport::Udp, 8);
        assert!(fast.is_some(), "{name} {qtype} took the fast path");
        assert_eq!(fast, full, "{name} {qtype}");
        let m = Message::from_vec(&full.expect("answered")).expect("parses");
        let soa: Vec<String> = m.authorities.iter().map(|r| r.name.to_string()).collect();
        assert_eq!(soa, vec!["kid.t.example."], "{name} {qtype}");
    }
}

#[test]
fn any_over_udp_is_one_rrset_and_over_tcp_every_rrset() {
    let snap = snapshot();
    let q = query("t.example.", RecordType::ANY, 21, None);
    let (_, udp) = both(&snap, &q, Transport::Udp, 21);
    let m = Message::from_vec(&udp.expect("answered")).expect("parses");
    let types: std::collections::BTreeSet<RecordType> =
        m.answers.iter().map(|r| r.record_type()).collect();
    assert_eq!(types.len(), 1, "{types:?}");
    let (_, tcp) = both(&snap, &q, Transport::Tcp, 21);
    let m = Message::from_vec(&tcp.expect("answered")).expect("parses");
    let types: std::collections::BTreeSet<RecordType> =
        m.answers.iter().map(|r| r.record_type()).collect();
    assert!(types.len() >= 4, "{types:?}");
}
