//! Authoritative answers as `dig` sees them, over UDP and TCP.

use crate::harness::{Gslbd, zone_head};

fn zone() -> String {
    let mut z = zone_head("gslb.example.");
    z.push_str(
        r#"
[[records]]
name = "@"
type = "MX"
data = ["10 mail"]
[[records]]
name = "mail"
type = "A"
data = ["198.51.100.25"]
[[records]]
name = "mail"
type = "AAAA"
data = ["2001:db8::25"]
[[records]]
name = "@"
type = "TXT"
data = ["v=spf1 mx -all"]
[[records]]
name = "alias"
type = "CNAME"
data = ["mail"]
[[records]]
name = "_sip._tcp"
type = "SRV"
data = ["10 60 5060 mail.gslb.example."]
[[records]]
name = "@"
type = "CAA"
data = ["0 issue \"letsencrypt.org\""]
[[records]]
name = "deep.ent"
type = "A"
data = ["192.0.2.99"]
[[records]]
name = "sub"
type = "NS"
data = ["ns.sub"]
[[records]]
name = "ns.sub"
type = "A"
data = ["192.0.2.53"]
[[records]]
name = "big"
type = "TXT"
data = [
"#,
    );
    for i in 0..12 {
        z.push_str(&format!("  \"{i:02}{}\",\n", "x".repeat(180)));
    }
    z.push_str(
        r#"]

[pools.www]
type = "A"
ttl = 30
policy = "all"
[pools.www.regions.us-east]
addresses = ["192.0.2.10", "192.0.2.11"]
[pools.www.regions.us-west]
addresses = ["192.0.2.20"]
[pools.www.regions.eu-west]
addresses = ["192.0.2.30"]

[pools.www6]
name = "www"
type = "AAAA"
ttl = 30
[pools.www6.regions.us-east]
addresses = ["2001:db8::10"]

[pools.one]
type = "A"
answers = 2
[pools.one.regions.a]
addresses = ["192.0.2.41"]
weight = 5
[pools.one.regions.b]
addresses = ["192.0.2.42"]
[pools.one.regions.c]
addresses = ["192.0.2.43"]
weight = 0
"#,
    );
    z
}

fn start() -> Gslbd {
    Gslbd::start(&[("gslb.example.toml", &zone())])
}

/// Runs the checks over UDP and over TCP.
fn both(g: &Gslbd, args: &str, check: impl Fn(&crate::harness::Dig, &str)) {
    for transport in ["+notcp", "+tcp"] {
        let d = g.dig(&format!("{transport} {args}"));
        check(&d, transport);
    }
}

#[test]
fn header_flags_aa_no_ra_rd_copied() {
    let g = start();
    both(&g, "gslb.example SOA +rd", |d, t| {
        assert_eq!(d.status, "NOERROR", "{t}: {}", d.raw);
        assert!(
            d.has_flag("aa") && d.has_flag("rd") && !d.has_flag("ra"),
            "{t}: {:?}",
            d.flags
        );
        assert_eq!(d.answers("SOA").len(), 1);
    });
    let d = g.dig("gslb.example SOA +nord");
    assert!(
        d.has_flag("aa") && !d.has_flag("rd") && !d.has_flag("ra"),
        "{:?}",
        d.flags
    );
}

#[test]
fn apex_ns_with_glue() {
    let g = start();
    both(&g, "gslb.example NS", |d, t| {
        let mut ns = d.answers("NS");
        ns.sort();
        assert_eq!(ns, vec!["ns1.gslb.example.", "ns2.gslb.example."], "{t}");
        let glue: Vec<_> = d
            .additional
            .iter()
            .filter(|r| r.rtype == "A")
            .map(|r| r.data.as_str())
            .collect();
        assert!(
            glue.contains(&"198.51.100.53") && glue.contains(&"198.51.100.54"),
            "{t}: {}",
            d.raw
        );
    });
}

#[test]
fn static_types_answer() {
    let g = start();
    let cases = [
        ("gslb.example MX", "MX", "10 mail.gslb.example."),
        ("gslb.example TXT", "TXT", "\"v=spf1 mx -all\""),
        (
            "_sip._tcp.gslb.example SRV",
            "SRV",
            "10 60 5060 mail.gslb.example.",
        ),
        ("gslb.example CAA", "CAA", "0 issue \"letsencrypt.org\""),
        ("mail.gslb.example AAAA", "AAAA", "2001:db8::25"),
    ];
    for (q, t, want) in cases {
        both(&g, q, |d, tr| {
            assert_eq!(d.status, "NOERROR", "{q} {tr}");
            assert_eq!(d.answers(t), vec![want.to_string()], "{q} {tr}: {}", d.raw);
        });
    }
    // MX targets in the zone come with their addresses.
    let d = g.dig("gslb.example MX");
    assert!(
        d.additional.iter().any(|r| r.data == "198.51.100.25"),
        "{}",
        d.raw
    );
}

#[test]
fn nodata_and_nxdomain_carry_the_soa() {
    let g = start();
    both(&g, "mail.gslb.example TXT", |d, t| {
        assert_eq!(d.status, "NOERROR", "{t}");
        assert!(d.answer.is_empty(), "{t}");
        assert_eq!(d.authority.len(), 1);
        assert_eq!(d.authority[0].rtype, "SOA");
        assert_eq!(d.authority[0].ttl, 30, "negative TTL is the SOA minimum");
        assert!(d.has_flag("aa"));
    });
    both(&g, "nope.gslb.example A", |d, t| {
        assert_eq!(d.status, "NXDOMAIN", "{t}");
        assert_eq!(
            d.authority.first().map(|r| r.rtype.as_str()),
            Some("SOA"),
            "{t}"
        );
        assert!(d.has_flag("aa"));
    });
    // An empty non-terminal exists: NODATA, not NXDOMAIN.
    let d = g.dig("ent.gslb.example A");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    // A pool name queried for another type: NODATA with SOA.
    let d = g.dig("one.gslb.example AAAA");
    assert_eq!((d.status.as_str(), d.answer.len()), ("NOERROR", 0));
    assert_eq!(d.authority.first().map(|r| r.rtype.as_str()), Some("SOA"));
}

#[test]
fn outside_every_zone_is_refused() {
    let g = start();
    both(&g, "example.com A", |d, t| {
        assert_eq!(d.status, "REFUSED", "{t}");
        assert!(!d.has_flag("aa"));
    });
}

#[test]
fn names_match_case_insensitively_and_echo_the_case() {
    let g = start();
    both(&g, "MaIl.GsLb.ExAmPlE A", |d, t| {
        assert!(
            d.raw.contains(";MaIl.GsLb.ExAmPlE."),
            "{t}: question case echoed\n{}",
            d.raw
        );
        assert_eq!(
            d.answer.first().map(|r| r.name.as_str()),
            Some("MaIl.GsLb.ExAmPlE."),
            "{t}"
        );
        assert_eq!(d.answers("A"), vec!["198.51.100.25"]);
    });
}

#[test]
fn cname_is_followed_inside_the_zone() {
    let g = start();
    let d = g.dig("alias.gslb.example A");
    assert_eq!(d.answers("CNAME"), vec!["mail.gslb.example."]);
    assert_eq!(d.answers("A"), vec!["198.51.100.25"]);
}

#[test]
fn delegation_answers_with_a_referral_and_glue() {
    let g = start();
    both(&g, "www.sub.gslb.example A", |d, t| {
        assert_eq!(d.status, "NOERROR", "{t}");
        assert!(!d.has_flag("aa"), "{t}: a referral is not authoritative");
        assert!(d.answer.is_empty());
        assert_eq!(
            d.authority
                .iter()
                .map(|r| r.data.as_str())
                .collect::<Vec<_>>(),
            vec!["ns.sub.gslb.example."]
        );
        assert!(
            d.additional.iter().any(|r| r.data == "192.0.2.53"),
            "{t}: glue\n{}",
            d.raw
        );
    });
}

#[test]
fn edns_badvers_and_do_bit() {
    let g = start();
    let d = g.dig("gslb.example SOA +edns=0");
    assert!(
        d.edns.as_deref().is_some_and(|e| e.contains("version: 0")),
        "{}",
        d.raw
    );
    let d = g.dig("gslb.example SOA +edns=1 +noednsneg");
    assert_eq!(d.status, "BADVERS", "{}", d.raw);
    let d = g.dig("gslb.example SOA +dnssec");
    assert!(
        d.edns.as_deref().is_some_and(|e| e.contains("flags: do")),
        "DO echoed: {}",
        d.raw
    );
    let d = g.dig("gslb.example SOA +noedns");
    assert!(d.edns.is_none(), "no OPT without EDNS in the query");
}

#[test]
fn large_answers_truncate_over_udp_and_complete_over_tcp() {
    let g = start();
    let d = g.dig("big.gslb.example TXT +ignore +bufsize=1232");
    assert!(d.has_flag("tc"), "{}", d.raw);
    let d = g.dig("big.gslb.example TXT +ignore +noedns");
    assert!(d.has_flag("tc"), "512-byte limit without EDNS");
    let d = g.dig("big.gslb.example TXT +tcp");
    assert!(!d.has_flag("tc"));
    assert_eq!(d.answers("TXT").len(), 12);
}

#[test]
fn axfr_is_refused() {
    let g = start();
    let d = g.dig("gslb.example AXFR");
    assert!(d.raw.contains("Transfer failed"), "{}", d.raw);
    assert!(d.answer.is_empty());
}

#[test]
fn unprobed_pools_answer_every_region_by_policy() {
    let g = start();
    both(&g, "www.gslb.example A", |d, t| {
        let mut a = d.answers("A");
        a.sort();
        assert_eq!(
            a,
            vec!["192.0.2.10", "192.0.2.11", "192.0.2.20", "192.0.2.30"],
            "{t}: all"
        );
        assert!(d.answer.iter().all(|r| r.ttl == 30));
    });
    // Two pools at one name, by type.
    assert_eq!(
        g.dig("www.gslb.example AAAA").answers("AAAA"),
        vec!["2001:db8::10"]
    );
    // weighted, answers = 2: two distinct regions, never the weight-0 one.
    for _ in 0..20 {
        let mut a = g.dig("one.gslb.example A").answers("A");
        a.sort();
        assert_eq!(a, vec!["192.0.2.41", "192.0.2.42"]);
    }
}

#[test]
fn malformed_packets_get_formerr_or_are_dropped_and_serving_goes_on() {
    let g = start();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .expect("timeout");
    sock.connect(("127.0.0.1", g.port)).expect("connect");
    let mut buf = [0u8; 1500];
    // Shorter than a header: dropped.
    sock.send(&[0xab, 0xcd, 0x01]).expect("send");
    assert!(sock.recv(&mut buf).is_err(), "no answer to 3 bytes");
    // A header promising a question that is not there, then junk: FORMERR, same ID.
    let junk = [
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x3f, 0xff, 0x01,
    ];
    sock.send(&junk).expect("send");
    let n = sock.recv(&mut buf).expect("a FORMERR response");
    assert!(n >= 12);
    assert_eq!(&buf[..2], &[0xab, 0xcd]);
    assert_eq!(buf[2] & 0x80, 0x80, "QR set");
    assert_eq!(buf[3] & 0x0f, 1, "FORMERR");
    // A response is never answered (no reflection).
    let mut response = junk;
    response[2] |= 0x80;
    sock.send(&response).expect("send");
    assert!(sock.recv(&mut buf).is_err(), "no answer to a response");
    // Random bytes in bulk, then a normal query still works.
    let mut x: u32 = 0x9e37_79b9;
    for len in 12..200 {
        let pkt: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        sock.send(&pkt).expect("send");
    }
    let d = g.dig("www.gslb.example A");
    assert_eq!(d.status, "NOERROR");
}

#[test]
fn a_burst_is_answered_once_per_query_with_dropped_packets_in_between() {
    use hickory_proto::op::{Message, Query};
    use hickory_proto::rr::{Name, RecordType};
    let g = start();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .expect("timeout");
    sock.connect(("127.0.0.1", g.port)).expect("connect");
    let name = Name::from_ascii("www.gslb.example.").expect("name");
    // 200 queries sent back to back (the server takes them in batches); every fourth is
    // followed by two packets it must drop: a response and a runt.
    for id in 1..=200u16 {
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(Query::query(name.clone(), RecordType::A));
        let bytes = m.to_vec().expect("encode");
        sock.send(&bytes).expect("send");
        if id % 4 == 0 {
            let mut response = bytes.clone();
            response[0] = 0xee;
            response[2] |= 0x80;
            sock.send(&response).expect("send");
            sock.send(&[0xff, 0xff]).expect("send");
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    let mut buf = [0u8; 1500];
    while let Ok(n) = sock.recv(&mut buf) {
        let m = Message::from_vec(&buf[..n]).expect("a response parses");
        assert!(!m.answers.is_empty(), "id {} answered", m.metadata.id);
        *seen.entry(m.metadata.id).or_insert(0) += 1;
    }
    let want: std::collections::BTreeMap<u16, i32> = (1..=200).map(|id| (id, 1)).collect();
    assert_eq!(
        seen, want,
        "every query answered exactly once, nothing else"
    );
}
