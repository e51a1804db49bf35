//! DNSSEC through real validators (#27): a validating Unbound (trust anchor = the zone's DS)
//! and BIND's `delv` must find gslbd's signed answers secure — pool answers across failovers,
//! every `on_all_down` mode, denial of existence, the DNSKEY set, truncation, a flap storm —
//! and two instances with one Ed25519 key must answer the same bytes. The first test is the
//! harness's control: the same validators against a zone Knot signs, secure with the right
//! anchor and bogus with a wrong one.

use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{
    Key, Knot, ask, delv, do_query, failures, secure, signed, transport_queries, udp_exchange,
    validator,
};
use crate::harness::{free_port, poll, zone_head};

const ORIGIN: &str = "gslb.example.";

#[test]
fn unbound_and_delv_validate_a_zone_knot_signs() {
    let zone = "$ORIGIN knot.example.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 604800 30\n\
                @ NS ns1\nns1 A 198.51.100.53\nwww A 192.0.2.1\na.b.c TXT \"deep\"\n";
    let knot = Knot::signing("knot.example.", zone);
    let anchor = knot.anchor("knot.example.");
    for extra in [&[][..], &["tcp-upstream: yes"][..]] {
        let u = validator(&anchor, &[knot.port], extra);
        let www = secure(&u, "www.knot.example A", "NOERROR");
        assert_eq!(www.answers, ["192.0.2.1"], "{extra:?}");
        secure(&u, "nope.knot.example A", "NXDOMAIN");
        secure(&u, "www.knot.example AAAA", "NOERROR");
        // b.c and c are empty non-terminals: NODATA; a name below one does not exist.
        secure(&u, "b.c.knot.example A", "NOERROR");
        secure(&u, "x.b.c.knot.example A", "NXDOMAIN");
        secure(&u, "knot.example DNSKEY", "NOERROR");
        assert!(failures(&u).is_empty(), "{}", u.log());
    }
    for q in [
        "www.knot.example A",
        "nope.knot.example A",
        "b.c.knot.example A",
    ] {
        let d = delv(knot.port, &anchor, q);
        assert!(d.validated, "delv {q}:\n{}", d.out);
    }
    // A wrong anchor: the same questions are bogus, and both validators say so.
    let wrong = anchor.corrupted();
    let u = validator(&wrong, &[knot.port], &[]);
    let v = ask(&u, "www.knot.example A");
    assert_eq!(v.status, "SERVFAIL", "{}", v.raw);
    assert!(!v.ad && v.answers.is_empty(), "{}", v.raw);
    assert!(v.reason.contains("validation failure"), "{}", v.raw);
    assert!(!failures(&u).is_empty(), "{}", u.log());
    let d = delv(knot.port, &wrong, "www.knot.example A");
    assert!(!d.validated, "{}", d.out);
}

/// A pool's `[probe]` table: TCP connects every 200 ms; two failures take a region down, one
/// success brings it back.
fn tcp_probe(pool: &str) -> String {
    format!(
        "[pools.{pool}.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n"
    )
}

/// A failover pool `www`: region a (192.0.2.1, first tier) and b (192.0.2.2) behind TCP
/// backends; a is stopped and the answer must move to b, validated before and after.
fn failover_validates(extra: &[&str]) -> (crate::harness::Gslbd, crate::resolver::Unbound) {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let (mut a, b) = (Backend::tcp(), Backend::tcp());
    let zone = format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"failover\"\non_all_down = \"none\"\n{}\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\npriority = 1\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\npriority = 2\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        tcp_probe("www"),
        a.addr,
        b.addr
    );
    let g = signed(&zone, &key);
    let u = validator(&key.anchor, &[g.port], extra);
    assert_eq!(
        secure(&u, "www.gslb.example A", "NOERROR").answers,
        ["192.0.2.1"]
    );
    a.set(Mode::Refuse);
    let mut last = String::new();
    let moved = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        u.flush_zone(ORIGIN);
        let v = ask(&u, "www.gslb.example A");
        last = format!("{} {:?} {}", v.status, v.answers, v.reason);
        (v.answers == ["192.0.2.2"]).then_some(v)
    })
    .unwrap_or_else(|| panic!("the answer never moved to region b: last {last}"));
    assert!(moved.ad, "after the failover: {}", moved.raw);
    u.flush_zone(ORIGIN);
    secure(&u, "www.gslb.example A", "NOERROR");
    assert!(failures(&u).is_empty(), "{}", u.log());
    (g, u)
}

#[test]
fn a_pool_answer_validates_before_and_after_a_failover_over_udp() {
    failover_validates(&[]);
}

#[test]
fn a_pool_answer_validates_before_and_after_a_failover_over_tcp() {
    let (g, _u) = failover_validates(&["tcp-upstream: yes"]);
    assert!(transport_queries(&g, "tcp") > 0, "Unbound asked over TCP");
}

#[test]
fn a_pool_answer_truncated_over_udp_still_validates() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let backend = Backend::tcp();
    let addresses: Vec<String> = (1..=100).map(|i| format!("\"192.0.2.{i}\"")).collect();
    let zone = format!(
        "{}\n[pools.big]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\n{}\
         [pools.big.regions.a]\naddresses = [{}]\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        tcp_probe("big"),
        addresses.join(", "),
        backend.addr
    );
    let g = signed(&zone, &key);
    // 100 addresses and their RRSIG do not fit 1232 octets: TC over UDP.
    let direct = g.dig("+dnssec +bufsize=1232 +notcp +ignore big.gslb.example A");
    assert!(direct.has_flag("tc"), "{}", direct.raw);
    let u = validator(&key.anchor, &[g.port], &[]);
    let v = secure(&u, "big.gslb.example A", "NOERROR");
    assert_eq!(v.answers.len(), 100, "{}", v.raw);
    assert!(transport_queries(&g, "tcp") > 0, "Unbound retried over TCP");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

/// A pool `name` with one region at 192.0.2.`n` whose probe target is `check`; with
/// `on_all_down = "fallback"` or `policy = "failover"` its fallback set is 198.51.100.`n`.
fn one_region_pool(name: &str, policy: &str, all_down: &str, n: u8, check: &str) -> String {
    let fallback = if all_down == "fallback" || policy == "failover" {
        format!("fallback = [\"198.51.100.{n}\"]\n")
    } else {
        String::new()
    };
    format!(
        "[pools.{name}]\ntype = \"A\"\nttl = 1\npolicy = \"{policy}\"\non_all_down = \"{all_down}\"\n\
         {fallback}{}[pools.{name}.regions.r]\naddresses = [\"192.0.2.{n}\"]\n\
         check = \"{check}\"\n",
        tcp_probe(name)
    )
}

#[test]
fn every_on_all_down_mode_and_the_fallback_set_validate() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    // Nothing listens on the probe target: every region goes down at its first probe.
    let dead = format!("127.0.0.1:{}", free_port());
    let zone = [
        zone_head(ORIGIN),
        one_region_pool("open", "all", "all", 11, &dead),
        one_region_pool("empty", "all", "none", 12, &dead),
        one_region_pool("last", "all", "fallback", 13, &dead),
        one_region_pool("tiers", "failover", "servfail", 14, &dead),
        one_region_pool("fail", "all", "servfail", 15, &dead),
    ]
    .join("\n");
    let g = signed(&zone, &key);
    let down = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        let d = g.dig("fail.gslb.example A");
        (d.status == "SERVFAIL").then_some(())
    });
    assert!(down.is_some(), "the regions went down");
    let u = validator(&key.anchor, &[g.port], &[]);
    // all: fail open, the region's own address.
    let open = secure(&u, "open.gslb.example A", "NOERROR");
    assert_eq!(open.answers, ["192.0.2.11"]);
    // none: NODATA, proven by an NSEC whose bitmap lacks A; AAAA at the name too.
    let empty = secure(&u, "empty.gslb.example A", "NOERROR");
    assert!(empty.answers.is_empty(), "{}", empty.raw);
    secure(&u, "empty.gslb.example AAAA", "NOERROR");
    // fallback: the fallback set; a failover pool's fallback is its last tier.
    let last = secure(&u, "last.gslb.example A", "NOERROR");
    assert_eq!(last.answers, ["198.51.100.13"]);
    let tiers = secure(&u, "tiers.gslb.example A", "NOERROR");
    assert_eq!(tiers.answers, ["198.51.100.14"]);
    // servfail: gslbd's SERVFAIL passes through as SERVFAIL, not a validation failure, and
    // gslbd keeps serving.
    let fail = ask(&u, "fail.gslb.example A");
    assert_eq!(fail.status, "SERVFAIL", "{}", fail.raw);
    assert!(!fail.reason.contains("validation failure"), "{}", fail.raw);
    assert!(failures(&u).is_empty(), "{}", u.log());
    assert_eq!(g.dig("+dnssec gslb.example SOA").status, "NOERROR");
    secure(&u, "gslb.example SOA", "NOERROR");
}

/// Static names: `a.b.c` makes `b.c` and `c` empty non-terminals.
fn static_zone() -> String {
    format!(
        "{}[[records]]\nname = \"a.b.c\"\ntype = \"TXT\"\ndata = [\"deep\"]\n\
         [[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.80\"]\n",
        zone_head(ORIGIN)
    )
}

#[test]
fn nxdomain_nodata_and_empty_non_terminals_validate() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let g = signed(&static_zone(), &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    for (question, status) in [
        ("a.b.c.gslb.example TXT", "NOERROR"),
        ("nope.gslb.example A", "NXDOMAIN"),
        ("zzz.gslb.example A", "NXDOMAIN"),
        ("ns1.gslb.example AAAA", "NOERROR"),
        ("gslb.example AAAA", "NOERROR"),
        ("b.c.gslb.example A", "NOERROR"),
        ("c.gslb.example TXT", "NOERROR"),
        ("x.b.c.gslb.example A", "NXDOMAIN"),
        ("x.a.b.c.gslb.example A", "NXDOMAIN"),
    ] {
        secure(&u, question, status);
    }
    assert!(failures(&u).is_empty(), "{}", u.log());
    // RFC 9077: NSEC records live as long as the negative answer, min(SOA TTL, minimum).
    let direct = g.dig("+dnssec +norecurse x.b.c.gslb.example A");
    let nsec: Vec<u32> = direct
        .authority
        .iter()
        .filter(|r| r.rtype == "NSEC")
        .map(|r| r.ttl)
        .collect();
    assert!(
        !nsec.is_empty() && nsec.iter().all(|t| *t == 30),
        "{}",
        direct.raw
    );
}

#[test]
fn the_dnskey_set_validates_and_a_wrong_anchor_is_bogus() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let g = signed(&static_zone(), &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    let v = secure(&u, "gslb.example DNSKEY", "NOERROR");
    let published = key.dnskey.split(" DNSKEY ").nth(1).expect("rdata");
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    assert!(
        v.answers.iter().any(|k| squash(k) == squash(published)),
        "{published} in {:?}",
        v.answers
    );
    let wrong = key.anchor.corrupted();
    let bogus = ask(&validator(&wrong, &[g.port], &[]), "www.gslb.example A");
    assert_eq!(bogus.status, "SERVFAIL", "{}", bogus.raw);
    assert!(bogus.reason.contains("validation failure"), "{}", bogus.raw);
}

#[test]
fn delv_agrees_on_a_pool_answer_nxdomain_and_nodata() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let backend = Backend::tcp();
    let zone = format!(
        "{}{}\n{}",
        static_zone(),
        one_region_pool("pool", "all", "none", 21, &backend.addr.to_string()),
        one_region_pool(
            "gone",
            "all",
            "none",
            22,
            &format!("127.0.0.1:{}", free_port())
        )
    );
    let g = signed(&zone, &key);
    let down = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        g.dig("gone.gslb.example A").answer.is_empty().then_some(())
    });
    assert!(down.is_some(), "pool gone emptied");
    for q in [
        "pool.gslb.example A",
        "nope.gslb.example A",
        "www.gslb.example AAAA",
        "b.c.gslb.example A",
        "gone.gslb.example A",
        "gslb.example DNSKEY",
    ] {
        let d = delv(g.port, &key.anchor, q);
        assert!(d.validated, "delv {q}:\n{}", d.out);
    }
    let pool = delv(g.port, &key.anchor, "pool.gslb.example A");
    assert!(pool.out.contains("192.0.2.21"), "{}", pool.out);
    let wrong = delv(g.port, &key.anchor.corrupted(), "pool.gslb.example A");
    assert!(!wrong.validated, "{}", wrong.out);
}

#[test]
fn two_instances_with_one_ed25519_key_answer_the_same_bytes() {
    let key = Key::new(ORIGIN, "ed25519");
    // A region that never comes up, failing open: one health state for both, once decided.
    let dead = format!("127.0.0.1:{}", free_port());
    let zone = format!(
        "{}{}",
        static_zone(),
        one_region_pool("pool", "all", "all", 31, &dead)
    );
    let (one, two) = (signed(&zone, &key), signed(&zone, &key));
    for g in [&one, &two] {
        let down = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            g.logs()
                .iter()
                .any(|l| l.contains("region down"))
                .then_some(())
        });
        assert!(down.is_some(), "{}", g.logs().join("\n"));
    }
    assert!(
        !one.dig("+dnssec pool.gslb.example A")
            .answers("RRSIG")
            .is_empty(),
        "the pool answer is signed"
    );
    // A, AAAA, TXT, DNSKEY: a pool answer, NODATA, a static answer, NXDOMAIN, the key set.
    for (id, name, qtype) in [
        (0x1234, "pool.gslb.example", 1),
        (0x2345, "pool.gslb.example", 28),
        (0x3456, "a.b.c.gslb.example", 16),
        (0x4567, "nope.gslb.example", 1),
        (0x5678, "gslb.example", 48),
    ] {
        let q = do_query(id, name, qtype);
        let (a, b) = (udp_exchange(one.port, &q), udp_exchange(two.port, &q));
        assert_eq!(a, b, "{name} type {qtype}: the two instances differ");
    }
}

/// Opens (`up`) or closes the listener on a region's probe port.
fn set_listener(slot: &mut Option<std::net::TcpListener>, port: u16, up: bool) {
    if up && slot.is_none() {
        *slot = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
    } else if !up {
        *slot = None;
    }
}

#[test]
fn a_flap_storm_never_yields_a_bogus_answer() {
    const REGIONS: usize = 100;
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let mut listeners: Vec<Option<std::net::TcpListener>> = (0..REGIONS)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    let ports: Vec<u16> = listeners
        .iter()
        .map(|l| {
            l.as_ref()
                .and_then(|l| l.local_addr().ok())
                .map_or(0, |a| a.port())
        })
        .collect();
    let mut zone = format!(
        "{}\n[pools.storm]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"all\"\n\
         [pools.storm.probe]\nkind = \"tcp\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nfall = 1\nrise = 1\n",
        zone_head(ORIGIN)
    );
    for (i, port) in ports.iter().enumerate() {
        zone += &format!(
            "[pools.storm.regions.r{i}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"127.0.0.1:{port}\"\n",
            i + 1
        );
    }
    let g = signed(&zone, &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    // Signing happens when a snapshot is published, never per query: the load's count stays,
    // and each signature made at publish belongs to a set a transition brought.
    let sum = |prefix: &str| -> f64 {
        g.metrics()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let load = sum("gslbd_dnssec_signatures_total{when=\"load\"}");
    let published = sum("gslbd_dnssec_signatures_total{when=\"publish\"}");
    let transitions = sum("gslbd_health_transitions_total{");
    let mut seen = std::collections::HashSet::new();
    let mut bad = Vec::new();
    // Ten rounds of a second: a different half of the regions up each round, asked ten times.
    for round in 0..10usize {
        for (i, slot) in listeners.iter_mut().enumerate() {
            set_listener(slot, ports[i], (i * 7 + round * 3) % 5 < 3);
        }
        for _ in 0..10 {
            u.flush_zone(ORIGIN);
            let v = ask(&u, "storm.gslb.example A");
            if v.status != "NOERROR" || !v.ad || v.answers.is_empty() {
                bad.push(format!("{} ad={} {}", v.status, v.ad, v.reason));
            }
            let mut set = v.answers.clone();
            set.sort();
            seen.insert(set);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}\n{}", failures(&u).join("\n"));
    assert!(failures(&u).is_empty(), "{}", u.log());
    assert!(
        seen.len() > 2,
        "the answers changed with the storm: {seen:?}"
    );
    assert_eq!(sum("gslbd_dnssec_signatures_total{when=\"load\"}"), load);
    let made = sum("gslbd_dnssec_signatures_total{when=\"publish\"}") - published;
    let flaps = sum("gslbd_health_transitions_total{") - transitions;
    assert!(made > 0.0, "the storm's new sets were signed at publish");
    assert!(
        made <= flaps,
        "{made} signatures for {flaps} transitions: at most one new set per transition"
    );
}
