//! DNSSEC for the answer shapes beyond one pool at one name (#27), through a validating Unbound:
//! a CNAME into a pool (and into nothing), an A and an AAAA pool at one owner whose NODATA
//! proofs must lack exactly the empty types, a weighted pool answering two of its regions
//! across failovers, an insecure delegation (its missing DS proven), and a hashed pool behind
//! a resolver that forwards client subnets (ECS) and caches by scope, and a pool answering
//! with ring windows.

use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{Key, ask, failures, secure, signed, validator};
use crate::harness::{free_port, poll, zone_head};

const ORIGIN: &str = "gslb.example.";

/// A pool `[probe]` table: TCP every 200 ms, down after two failures, up after one success.
const PROBE: &str =
    "kind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n";

/// Waits until gslbd answers `question` (DO=0, direct) with `want` records of its type.
fn until_direct(g: &crate::harness::Gslbd, question: &str, want: usize) {
    let qtype = question.split_whitespace().last().unwrap_or("A");
    let ok = poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (g.dig(question).answers(qtype).len() == want).then_some(())
    });
    assert!(ok.is_some(), "{question}: never {want} answers");
}

#[test]
fn a_cname_into_a_pool_validates_and_so_do_its_empty_and_dangling_cases() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let backend = Backend::tcp();
    let dead = free_port();
    let zone = format!(
        "{}[[records]]\nname = \"alias\"\ntype = \"CNAME\"\ndata = [\"www\"]\n\
         [[records]]\nname = \"toempty\"\ntype = \"CNAME\"\ndata = [\"empty\"]\n\
         [[records]]\nname = \"dangling\"\ntype = \"CNAME\"\ndata = [\"missing\"]\n\
         [pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\n[pools.www.probe]\n{PROBE}\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.empty]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.empty.probe]\n{PROBE}\
         [pools.empty.regions.a]\naddresses = [\"192.0.2.2\"]\ncheck = \"127.0.0.1:{dead}\"\n",
        zone_head(ORIGIN),
        backend.addr
    );
    let g = signed(&zone, &key);
    until_direct(&g, "empty.gslb.example A", 0);
    // Unbound asks with mixed case (0x20): gslbd echoes it and the signatures still hold.
    let u = validator(&key.anchor, &[g.port], &["use-caps-for-id: yes"]);
    let alias = secure(&u, "alias.gslb.example A", "NOERROR");
    assert_eq!(alias.answers, ["192.0.2.1"], "{}", alias.raw);
    let empty = secure(&u, "toempty.gslb.example A", "NOERROR");
    assert!(empty.answers.is_empty(), "{}", empty.raw);
    secure(&u, "dangling.gslb.example A", "NXDOMAIN");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

#[test]
fn an_a_and_an_aaaa_pool_at_one_name_deny_exactly_the_empty_types() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let (mut v4, mut v6) = (Backend::tcp(), Backend::tcp());
    let zone = format!(
        "{}[pools.www4]\nname = \"www\"\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www4.probe]\n{PROBE}[pools.www4.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www6]\nname = \"www\"\ntype = \"AAAA\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www6.probe]\n{PROBE}[pools.www6.regions.a]\naddresses = [\"2001:db8::1\"]\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        v4.addr,
        v6.addr
    );
    let g = signed(&zone, &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    // (A up, AAAA up), (A down), (both down), (AAAA down): each type answered or denied.
    for (a_up, aaaa_up) in [(true, true), (false, true), (false, false), (true, false)] {
        v4.set(if a_up { Mode::Healthy } else { Mode::Refuse });
        v6.set(if aaaa_up { Mode::Healthy } else { Mode::Refuse });
        until_direct(&g, "www.gslb.example A", usize::from(a_up));
        until_direct(&g, "www.gslb.example AAAA", usize::from(aaaa_up));
        u.flush_zone(ORIGIN);
        for (qtype, up) in [("A", a_up), ("AAAA", aaaa_up)] {
            let v = secure(&u, &format!("www.gslb.example {qtype}"), "NOERROR");
            assert_eq!(v.answers.len(), usize::from(up), "{qtype}: {}", v.raw);
        }
        secure(&u, "www.gslb.example MX", "NOERROR");
    }
    assert!(failures(&u).is_empty(), "{}", u.log());
}

#[test]
fn a_weighted_pool_answering_two_regions_validates_across_failovers() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let mut backends: Vec<Backend> = (0..4).map(|_| Backend::tcp()).collect();
    let mut zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"weighted\"\nanswers = 2\non_all_down = \"all\"\n\
         [pools.www.probe]\n{PROBE}",
        zone_head(ORIGIN)
    );
    for (i, b) in backends.iter().enumerate() {
        zone += &format!(
            "[pools.www.regions.r{i}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"{}\"\n",
            i + 1,
            b.addr
        );
    }
    let g = signed(&zone, &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    // Stop regions one by one (4, 3, 2, 1 serving; then none: fail open), asking each time.
    for stopped in 0..=4 {
        if stopped > 0 {
            backends[stopped - 1].set(Mode::Refuse);
        }
        let want = match 4 - stopped {
            0 => 2,
            n => n.min(2),
        };
        for _ in 0..5 {
            u.flush_zone(ORIGIN);
            let v = secure(&u, "www.gslb.example A", "NOERROR");
            assert!(!v.answers.is_empty() && v.answers.len() <= 2, "{}", v.raw);
        }
        until_direct(&g, "www.gslb.example A", want);
        u.flush_zone(ORIGIN);
        let v = secure(&u, "www.gslb.example A", "NOERROR");
        assert_eq!(v.answers.len(), want, "{stopped} stopped: {}", v.raw);
    }
    assert!(failures(&u).is_empty(), "{}", u.log());
}

#[test]
fn an_insecure_delegation_is_proven_to_have_no_ds() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let zone = format!(
        "{}[[records]]\nname = \"sub\"\ntype = \"NS\"\ndata = [\"ns.sub.gslb.example.\"]\n\
         [[records]]\nname = \"ns.sub\"\ntype = \"A\"\ndata = [\"192.0.2.53\"]\n",
        zone_head(ORIGIN)
    );
    let g = signed(&zone, &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    // The parent proves there is no DS (an NSEC at sub with NS, without DS): secure NODATA.
    let ds = secure(&u, "sub.gslb.example DS", "NOERROR");
    assert!(ds.answers.is_empty(), "{}", ds.raw);
    let direct = g.dig("+dnssec +norecurse www.sub.gslb.example A");
    assert!(!direct.has_flag("aa"), "a referral: {}", direct.raw);
    let nsec = direct
        .authority
        .iter()
        .find(|r| r.rtype == "NSEC" && r.name == "sub.gslb.example.")
        .unwrap_or_else(|| panic!("no NSEC at the delegation: {}", direct.raw));
    assert!(
        nsec.data.contains(" NS ") && !nsec.data.contains(" DS "),
        "{}",
        nsec.data
    );
    // Beside it, the parent's own names stay secure.
    secure(&u, "ns1.gslb.example A", "NOERROR");
    let v = ask(&u, "gslb.example SOA");
    assert!(v.ad, "{}", v.raw);
    assert!(failures(&u).is_empty(), "{}", u.log());
}

#[test]
fn a_hashed_pool_behind_an_ecs_resolver_validates_for_every_client_subnet() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let mut backends: Vec<Backend> = (0..4).map(|_| Backend::tcp()).collect();
    let mut zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"hashed\"\n[pools.www.probe]\n{PROBE}",
        zone_head(ORIGIN)
    );
    for (i, b) in backends.iter().enumerate() {
        zone += &format!(
            "[pools.www.regions.r{i}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"{}\"\n",
            i + 1,
            b.addr
        );
    }
    let g = signed(&zone, &key);
    // Unbound passes the client's subnet on (ECS) and caches by scope, validating each answer.
    let u = validator(
        &key.anchor,
        &[g.port],
        &[
            "module-config: \"subnetcache validator iterator\"",
            "send-client-subnet: 127.0.0.1",
            "max-client-subnet-ipv4: 24",
        ],
    );
    let answers = |u: &crate::resolver::Unbound| {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..24 {
            let v = secure(
                u,
                &format!("+subnet=10.{i}.0.0/24 www.gslb.example A"),
                "NOERROR",
            );
            assert_eq!(v.answers.len(), 1, "{}", v.raw);
            seen.insert(v.answers[0].clone());
        }
        seen
    };
    let before = answers(&u);
    assert!(before.len() > 1, "subnets spread over regions: {before:?}");
    backends[0].set(Mode::Refuse);
    until_direct_without(&g, "192.0.2.1");
    // unbound-control's flushes leave the subnet cache alone: wait out the TTL (1 s) instead.
    std::thread::sleep(Duration::from_millis(2100));
    let after = answers(&u);
    assert!(!after.contains("192.0.2.1"), "{after:?}");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

/// Waits until gslbd's answers for www (from 32 client subnets) leave out `addr`.
fn until_direct_without(g: &crate::harness::Gslbd, addr: &str) {
    let gone = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (0..32)
            .all(|i| {
                !g.dig(&format!("+subnet=10.{i}.0.0/24 www.gslb.example A"))
                    .answers("A")
                    .contains(&addr.to_string())
            })
            .then_some(())
    });
    assert!(gone.is_some(), "{addr} left the answers");
}

#[test]
fn a_ring_window_pool_validates_across_failovers() {
    const REGIONS: usize = 20;
    let key = Key::new(ORIGIN, "ecdsa-p256");
    // 20 regions, answers = 4: 6,195 sets of at most 4 regions, past the 4,096 signed one by
    // one, so the pool answers with ring windows (signed at load too).
    let mut listeners: Vec<Option<std::net::TcpListener>> = (0..REGIONS)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").ok())
        .collect();
    let mut zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"weighted\"\nanswers = 4\n[pools.www.probe]\n{PROBE}",
        zone_head(ORIGIN)
    );
    for (i, l) in listeners.iter().enumerate() {
        let addr = l
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .expect("listener");
        zone += &format!(
            "[pools.www.regions.r{i}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"{addr}\"\n",
            i + 1
        );
    }
    let g = signed(&zone, &key);
    let u = validator(&key.anchor, &[g.port], &[]);
    let ask_all = |u: &crate::resolver::Unbound| {
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..20 {
            u.flush_zone(ORIGIN);
            let v = secure(u, "www.gslb.example A", "NOERROR");
            assert!((1..=4).contains(&v.answers.len()), "{}", v.raw);
            seen.extend(v.answers);
        }
        seen
    };
    assert!(ask_all(&u).len() > 4, "the draws spread over the ring");
    // Five regions stop (every fourth): their windows close over the gaps.
    for l in listeners.iter_mut().step_by(4) {
        *l = None;
    }
    let gone: Vec<String> = (0..REGIONS)
        .step_by(4)
        .map(|i| format!("192.0.2.{}", i + 1))
        .collect();
    let left = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (0..20)
            .all(|_| {
                let a = g.dig("www.gslb.example A").answers("A");
                !a.iter().any(|x| gone.contains(x))
            })
            .then_some(())
    });
    assert!(left.is_some(), "the stopped regions left the answers");
    let after = ask_all(&u);
    assert!(after.iter().all(|a| !gone.contains(a)), "{after:?}");
    assert!(failures(&u).is_empty(), "{}", u.log());
}
