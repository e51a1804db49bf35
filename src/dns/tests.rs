//! The fast path against the full path: for every query shape, either the fast path declines
//! or both produce the same bytes from the same snapshot and the same random draws.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
use hickory_proto::rr::{Name, RecordType};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::context::{Context, Received, Transport};
use super::fixture::{ZONE, snapshot_of};
use super::full::full;
use super::{Handler, fast};
use crate::health::Snapshot;

/// The test zone with both probed targets down (api answers its fallback, dark is empty).
fn snapshot() -> Snapshot {
    snapshot_of(&[
        (PathBuf::from("t.toml"), ZONE.to_string()),
        (
            PathBuf::from("topology.toml"),
            super::fixture::MAP.to_string(),
        ),
    ])
}

fn query(name: &str, qtype: RecordType, id: u16, edns: Option<(u16, bool, u8)>) -> Vec<u8> {
    query_with(name, qtype, id, edns, &[])
}

fn query_with(
    name: &str,
    qtype: RecordType,
    id: u16,
    edns: Option<(u16, bool, u8)>,
    options: &[EdnsOption],
) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = id;
    m.metadata.recursion_desired = id.is_multiple_of(2);
    m.metadata.checking_disabled = id.is_multiple_of(3);
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    if let Some((payload, dnssec_ok, version)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(payload);
        e.set_dnssec_ok(dnssec_ok);
        e.set_version(version);
        for o in options {
            e.options_mut().insert(o.clone());
        }
        m.set_edns(e);
    }
    m.to_vec().expect("encodes")
}

fn ctx(snap: &Snapshot) -> Context<'_> {
    super::fixture::context(snap, false)
}

/// Both paths on one query with the same seed: each one's bytes, if it answered.
fn both(
    snap: &Snapshot,
    q: &[u8],
    transport: Transport,
    seed: u64,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    both_in(&ctx(snap), q, transport, seed)
}

fn both_in(
    ctx: &Context<'_>,
    q: &[u8],
    transport: Transport,
    seed: u64,
) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let query = Received {
        bytes: q,
        src: "192.0.2.99:5300".parse().expect("addr"),
        transport,
    };
    let mut fast_out = Vec::new();
    let answered = fast::respond(
        ctx,
        query,
        &mut SmallRng::seed_from_u64(seed),
        &mut fast_out,
    );
    let mut full_out = Vec::new();
    let sent = full(
        ctx,
        query,
        &mut SmallRng::seed_from_u64(seed),
        &mut full_out,
    );
    (answered.map(|_| fast_out), sent.map(|_| full_out))
}

#[test]
fn fast_path_answers_plain_queries_exactly_as_the_full_path_does() {
    let snap = snapshot();
    let names = [
        "www.t.example.",
        "WwW.T.Example.",
        "api.t.example.",
        "sticky.t.example.",
        "dark.t.example.",
        "t.example.",
        "ns1.t.example.",
        "mail.T.EXAMPLE.",
        "alias.t.example.",
        "sub.t.example.",
        "ns1.sub.t.example.",
        "big.t.example.",
        "nothing.t.example.",
        "NoThing.T.example.",
        "a.b.www.t.example.",
        "x.ns1.sub.t.example.",
        "h.t.example.",
        "x.h.T.EXAMPLE.",
        "ns1.x.t.example.",
        "other.example.",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::TXT,
        RecordType::CAA,
        RecordType::MX,
        RecordType::NS,
        RecordType::SOA,
        RecordType::CNAME,
        RecordType::ANY,
        RecordType::DS,
        RecordType::PTR,
    ];
    let edns = [
        None,
        Some((1232, false, 0)),
        Some((4096, true, 0)),
        Some((512, false, 0)),
        Some((1232, false, 1)),
    ];
    let mut fast_hits = Vec::new();
    let mut id = 0u16;
    for name in names {
        for qtype in types {
            for e in edns {
                for transport in [Transport::Udp, Transport::Tcp] {
                    id = id.wrapping_add(1);
                    let q = query(name, qtype, id, e);
                    let (fast, full) = both(&snap, &q, transport, u64::from(id));
                    let full = full.expect("the full path answers every query");
                    if let Some(fast) = fast {
                        assert_eq!(fast, full, "{name} {qtype} {e:?} {transport:?}");
                        fast_hits.push((name.to_ascii_lowercase(), qtype));
                    }
                }
            }
        }
    }
    for plain in [
        ("www.t.example.", RecordType::A),
        ("www.t.example.", RecordType::AAAA),
        ("api.t.example.", RecordType::A),
        ("sticky.t.example.", RecordType::A),
        ("t.example.", RecordType::TXT),
        ("t.example.", RecordType::CAA),
        ("mail.t.example.", RecordType::AAAA),
        ("big.t.example.", RecordType::A),
        // SOA, NS and MX with their names compressed and their glue.
        ("t.example.", RecordType::SOA),
        ("t.example.", RecordType::NS),
        ("t.example.", RecordType::MX),
        // Negative answers: NODATA at a name, NXDOMAIN below an origin.
        ("www.t.example.", RecordType::TXT),
        ("t.example.", RecordType::PTR),
        ("nothing.t.example.", RecordType::A),
        ("a.b.www.t.example.", RecordType::AAAA),
        ("x.h.t.example.", RecordType::MX),
        ("ns1.x.t.example.", RecordType::SOA),
    ] {
        let plain = (plain.0.to_string(), plain.1);
        assert!(fast_hits.contains(&plain), "{plain:?} took the fast path");
    }
    for declined in [
        ("dark.t.example.", RecordType::A),
        ("alias.t.example.", RecordType::A),
        ("ns1.sub.t.example.", RecordType::A),
        ("x.ns1.sub.t.example.", RecordType::TXT),
        ("sub.t.example.", RecordType::TXT),
        ("alias.t.example.", RecordType::TXT),
        ("www.t.example.", RecordType::ANY),
        ("nothing.t.example.", RecordType::DS),
        ("other.example.", RecordType::A),
    ] {
        let declined = (declined.0.to_string(), declined.1);
        assert!(
            !fast_hits.contains(&declined),
            "{declined:?} went the full way"
        );
    }
}

#[test]
fn fast_path_answers_cookies_like_the_full_path() {
    let snap = snapshot();
    let cookie = EdnsOption::Unknown(10, vec![7; 8]);
    let padding = EdnsOption::Unknown(12, vec![0; 40]);
    for (name, qtype) in [
        ("www.t.example.", RecordType::A),
        ("sticky.t.example.", RecordType::A),
        ("t.example.", RecordType::TXT),
        ("www.t.example.", RecordType::MX),
        ("Random-1234.t.example.", RecordType::A),
    ] {
        for options in [vec![cookie.clone()], vec![cookie.clone(), padding.clone()]] {
            let q = query_with(name, qtype, 11, Some((1232, true, 0)), &options);
            let (fast, full) = both(&snap, &q, Transport::Udp, 11);
            assert!(fast.is_some(), "{name} {options:?} took the fast path");
            assert_eq!(fast, full, "{name} {options:?}");
            let m = Message::from_vec(&fast.expect("answered")).expect("parses");
            let edns = m.edns.expect("OPT");
            let Some(EdnsOption::Unknown(10, back)) =
                edns.option(hickory_proto::rr::rdata::opt::EdnsCode::Cookie)
            else {
                panic!("a COOKIE option in the response")
            };
            assert_eq!(back.len(), 24, "client and server cookie");
            assert_eq!(&back[..8], &[7; 8]);
        }
    }
}

#[test]
fn fast_path_answers_client_subnet_queries_exactly_as_the_full_path_does() {
    let snap = snapshot();
    let cookie = EdnsOption::Unknown(10, vec![7; 8]);
    let subnet = |ip: &str, source: u8| {
        EdnsOption::Subnet(ClientSubnet::new(ip.parse().expect("ip"), source, 0))
    };
    let subnets = [
        subnet("198.51.100.0", 24),
        subnet("198.51.100.7", 32),
        subnet("203.0.113.0", 24),
        subnet("10.1.0.0", 16),
        subnet("192.0.2.0", 24),
        subnet("0.0.0.0", 0),
        subnet("2001:db8:1::", 48),
        subnet("2001:db8:1:5::", 64),
        subnet("2001:db8:ff::", 56),
    ];
    for (name, qtype) in [
        ("near.t.example.", RecordType::A),
        ("sticky.t.example.", RecordType::A),
        ("www.t.example.", RecordType::A),
        ("t.example.", RecordType::TXT),
        ("near.t.example.", RecordType::TXT),
        ("nowhere.T.example.", RecordType::AAAA),
    ] {
        for ecs in &subnets {
            for options in [vec![ecs.clone()], vec![ecs.clone(), cookie.clone()]] {
                for seed in 0..4 {
                    let q = query_with(name, qtype, 12, Some((1232, false, 0)), &options);
                    let (fast, full) = both(&snap, &q, Transport::Udp, seed);
                    assert!(fast.is_some(), "{name} {options:?} took the fast path");
                    assert_eq!(fast, full, "{name} {options:?}");
                }
            }
        }
    }
    // The scope is the decision's: the matched prefix for topology, /24 for hashed, 0 static.
    let scope = |name: &str, ecs: &EdnsOption| {
        let q = query_with(
            name,
            RecordType::A,
            5,
            Some((1232, false, 0)),
            std::slice::from_ref(ecs),
        );
        let (fast, _) = both(&snap, &q, Transport::Udp, 5);
        let m = Message::from_vec(&fast.expect("answered")).expect("parses");
        match m
            .edns
            .expect("OPT")
            .option(hickory_proto::rr::rdata::opt::EdnsCode::Subnet)
        {
            Some(EdnsOption::Subnet(s)) => s.scope_prefix(),
            other => panic!("no subnet echoed: {other:?}"),
        }
    };
    assert_eq!(scope("near.t.example.", &subnets[0]), 24);
    assert_eq!(scope("near.t.example.", &subnets[3]), 8);
    assert_eq!(scope("near.t.example.", &subnets[6]), 48);
    assert_eq!(scope("sticky.t.example.", &subnets[0]), 24);
    assert_eq!(scope("www.t.example.", &subnets[0]), 0);
}

#[test]
fn fast_path_leaves_truncation_to_the_full_path() {
    let snap = snapshot();
    let q = query("big.t.example.", RecordType::A, 7, None);
    let (fast, full) = both(&snap, &q, Transport::Udp, 7);
    assert!(fast.is_none(), "36 records do not fit in 512 bytes");
    let response = Message::from_vec(&full.expect("answered")).expect("parses");
    assert!(response.metadata.truncation);
    let (fast, _) = both(&snap, &q, Transport::Tcp, 7);
    assert!(fast.is_some(), "TCP has room");
}

#[test]
fn fast_path_gives_hashed_clients_the_full_paths_region() {
    let snap = snapshot();
    let q = query("sticky.t.example.", RecordType::A, 9, None);
    for seed in 0..32 {
        let (fast, full) = both(&snap, &q, Transport::Udp, seed);
        assert!(fast.is_some());
        assert_eq!(fast, full);
    }
}

#[test]
fn garbage_and_cut_queries_never_panic_and_answer_like_the_full_path() {
    let snap = snapshot();
    let handler = Handler::new(Arc::new(arc_swap::ArcSwap::from_pointee(snapshot())));
    let src: SocketAddr = "127.0.0.1:5300".parse().expect("addr");
    let mut rng = SmallRng::seed_from_u64(1);
    let valid = query("www.t.example.", RecordType::A, 1, Some((1232, true, 0)));
    let mut out = Vec::new();
    for len in 0..valid.len() {
        let cut = &valid[..len];
        let query = Received {
            bytes: cut,
            src,
            transport: Transport::Udp,
        };
        assert!(fast::respond(&ctx(&snap), query, &mut rng, &mut out).is_none());
        handler.respond(query, &mut rng, &mut out);
    }
    for _ in 0..5000 {
        let mut bytes = valid.clone();
        let flips = rng.random_range(1..4);
        for _ in 0..flips {
            let i = rng.random_range(0..bytes.len());
            bytes[i] = rng.random();
        }
        let (fast, full) = both(&snap, &bytes, Transport::Udp, 3);
        if let Some(fast) = fast {
            assert_eq!(Some(&fast), full.as_ref(), "{bytes:?}");
            let m = Message::from_vec(&fast).expect("a fast answer parses");
            assert_eq!(m.metadata.message_type, MessageType::Response);
        }
    }
}

mod rules;
mod signed;

/// Every shape the fast path answers (a pool by policy, by its fallback, hashed with DO=1, a
/// static name, NXDOMAIN, NODATA) reuses its buffers: no allocation per query. (A pool that
/// answers nothing when all is down goes the full path, which builds a hickory message.)
#[test]
fn the_fast_path_answers_without_allocating() {
    // With the server's rate limiting on, for a client it limits and one it exempts.
    let rrl = super::rrl::RrlConfig {
        rate: 1_000_000,
        ..Default::default()
    };
    let handler = Handler::new(Arc::new(arc_swap::ArcSwap::from_pointee(snapshot()))).with_rrl(rrl);
    for src in ["192.0.2.7:5300", "127.0.0.1:5300"] {
        answers_without_allocating(&handler, src.parse().expect("addr"));
    }
}

fn answers_without_allocating(handler: &Handler, src: SocketAddr) {
    let mut rng = SmallRng::seed_from_u64(3);
    let mut out = Vec::with_capacity(4096);
    let shapes = [
        query("www.t.example.", RecordType::A, 1, None),
        query("www.t.example.", RecordType::A, 2, Some((1232, false, 0))),
        query("sticky.t.example.", RecordType::A, 3, Some((1232, true, 0))),
        query("ns1.t.example.", RecordType::A, 4, Some((1232, false, 0))),
        query(
            "nothere.t.example.",
            RecordType::A,
            5,
            Some((1232, false, 0)),
        ),
        query("www.t.example.", RecordType::TXT, 6, Some((1232, false, 0))),
        query("api.t.example.", RecordType::A, 7, Some((1232, false, 0))),
    ];
    for q in &shapes {
        let received = Received {
            bytes: q,
            src,
            transport: Transport::Udp,
        };
        // The first answer of each shape registers its metric series.
        assert!(handler.respond(received, &mut rng, &mut out));
        let (allocations, answered) = crate::allocs::during(|| {
            (0..100).all(|_| handler.respond(received, &mut rng, &mut out))
        });
        assert!(answered);
        let name = Message::from_vec(q).expect("query").queries[0].to_string();
        assert_eq!(
            allocations, 0,
            "{name} from {src}: {allocations} allocations in 100 answers"
        );
    }
}
