//! Answer policies and the all-down rule through the real binary and dig.

use std::collections::HashMap;
use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

const POLL: Duration = Duration::from_millis(20);

/// A probe table that detects quickly.
const FAST: &str = "interval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n";

/// A port nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn wait_log(g: &Gslbd, needle: &str, count: usize) {
    let ok = poll(Duration::from_secs(10), POLL, || {
        (g.logs().iter().filter(|l| l.contains(needle)).count() >= count).then_some(())
    });
    assert!(
        ok.is_some(),
        "no {count}× {needle:?} in:\n{}",
        g.logs().join("\n")
    );
}

#[test]
fn weighted_three_two_one_over_six_hundred_queries() {
    let mut z = zone_head("gslb.example.");
    z.push_str("[pools.www]\ntype = \"A\"\n");
    for (i, (name, w)) in [("us-east", 3), ("us-west", 2), ("eu-west", 1)]
        .iter()
        .enumerate()
    {
        z.push_str(&format!(
            "[pools.www.regions.{name}]\naddresses = [\"192.0.2.{}\"]\nweight = {w}\n",
            i + 1
        ));
    }
    let g = Gslbd::start(&[("z.toml", &z)]);
    // One dig process, 600 queries (patient retries: a loaded machine can delay one past 1 s).
    let d = g.dig(&format!(
        "+tries=5 +time=3 {}",
        "www.gslb.example A ".repeat(600)
    ));
    let mut counts: HashMap<String, u32> = HashMap::new();
    for a in d.answers("A") {
        *counts.entry(a).or_default() += 1;
    }
    // A loaded machine may lose a datagram past every retry: the shares are of what came back.
    let total: u32 = counts.values().sum();
    assert!(total >= 590, "{counts:?}");
    let share = |ip: &str| f64::from(counts.get(ip).copied().unwrap_or(0)) / f64::from(total);
    // 50 / 33 / 17 %, with loose bounds (±7 points is > 3.5 standard deviations here).
    assert!((share("192.0.2.1") - 0.5).abs() < 0.07, "{counts:?}");
    assert!((share("192.0.2.2") - 0.333).abs() < 0.07, "{counts:?}");
    assert!((share("192.0.2.3") - 0.167).abs() < 0.07, "{counts:?}");
}

#[test]
fn failover_primary_secondary_then_fallback() {
    let mut p = Backend::http();
    let mut s = Backend::http();
    let z = format!(
        "{}[pools.api]\ntype = \"A\"\npolicy = \"failover\"\nfallback = [\"198.51.100.200\"]\n[pools.api.probe]\n{FAST}\n\
         [pools.api.regions.primary]\naddresses = [\"192.0.2.1\"]\npriority = 1\ncheck = \"{}\"\n\
         [pools.api.regions.secondary]\naddresses = [\"192.0.2.2\"]\npriority = 2\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        p.url("/"),
        s.url("/")
    );
    let g = Gslbd::start(&[("z.toml", &z)]);
    let answer = || g.dig("api.gslb.example A").answers("A");
    assert_eq!(answer(), vec!["192.0.2.1"]);
    p.set(Mode::Refuse);
    assert!(
        poll(Duration::from_secs(5), POLL, || (answer()
            == vec!["192.0.2.2"])
        .then_some(()))
        .is_some()
    );
    s.set(Mode::Status(500));
    assert!(
        poll(Duration::from_secs(5), POLL, || (answer()
            == vec!["198.51.100.200"])
        .then_some(()))
        .is_some()
    );
    p.set(Mode::Healthy);
    assert!(
        poll(Duration::from_secs(5), POLL, || (answer()
            == vec!["192.0.2.1"])
        .then_some(()))
        .is_some()
    );
}

#[test]
fn all_four_on_all_down_modes() {
    let port = closed_port();
    let mut z = zone_head("gslb.example.");
    for mode in ["all", "none", "servfail", "fallback"] {
        z.push_str(&format!(
            "[pools.{mode}]\ntype = \"A\"\npolicy = \"all\"\non_all_down = \"{mode}\"\nfallback = [\"198.51.100.9\"]\n\
             [pools.{mode}.probe]\n{FAST}\n\
             [pools.{mode}.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"http://127.0.0.1:{port}/\"\n\
             [pools.{mode}.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"http://127.0.0.1:{port}/x\"\n"
        ));
    }
    let g = Gslbd::start(&[("z.toml", &z)]);
    // Two targets, each feeding four pools: eight region-down lines.
    wait_log(&g, "region down", 8);

    let mut all = g.dig("all.gslb.example A").answers("A");
    all.sort();
    assert_eq!(
        all,
        vec!["192.0.2.1", "192.0.2.2"],
        "fail open answers every region"
    );
    let none = g.dig("none.gslb.example A");
    assert_eq!((none.status.as_str(), none.answer.len()), ("NOERROR", 0));
    assert_eq!(
        none.authority.first().map(|r| r.rtype.as_str()),
        Some("SOA")
    );
    assert_eq!(g.dig("servfail.gslb.example A").status, "SERVFAIL");
    assert_eq!(
        g.dig("fallback.gslb.example A").answers("A"),
        vec!["198.51.100.9"]
    );
}

#[test]
fn hashed_is_stable_per_client_subnet_and_moves_only_failed_clients() {
    let backends: Vec<Backend> = (0..3).map(|_| Backend::http()).collect();
    let mut z = format!(
        "{}[pools.www]\ntype = \"A\"\npolicy = \"hashed\"\n[pools.www.probe]\n{FAST}\n",
        zone_head("gslb.example.")
    );
    for (i, b) in backends.iter().enumerate() {
        z.push_str(&format!(
            "[pools.www.regions.r{i}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"{}\"\n",
            i + 1,
            b.url("/")
        ));
    }
    let g = Gslbd::start(&[("z.toml", &z)]);
    let subnets: Vec<String> = (0..40)
        .map(|i| format!("10.{i}.{}.0/24", i * 7 % 256))
        .collect();
    let ask = |s: &str| {
        let d = g.dig(&format!("www.gslb.example A +subnet={s}"));
        assert!(
            d.raw.contains(&format!("CLIENT-SUBNET: {s}/24")),
            "ECS echoed with scope /24:\n{}",
            d.raw
        );
        d.answers("A")
    };
    let before: Vec<Vec<String>> = subnets.iter().map(|s| ask(s)).collect();
    for (s, b) in subnets.iter().zip(&before) {
        assert_eq!(b.len(), 1);
        assert_eq!(&ask(s), b, "same subnet, same region");
    }
    let distinct: std::collections::HashSet<_> = before.iter().collect();
    assert_eq!(
        distinct.len(),
        3,
        "40 subnets spread over all three regions"
    );

    let mut backends = backends;
    backends[1].set(Mode::Refuse);
    wait_log(&g, "region down", 1);
    for (s, b) in subnets.iter().zip(&before) {
        let now = ask(s);
        if b[0] == "192.0.2.2" {
            assert_ne!(now, *b, "clients of the failed region move");
        } else {
            assert_eq!(now, *b, "clients of healthy regions stay");
        }
    }
}
