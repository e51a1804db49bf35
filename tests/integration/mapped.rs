//! IPv4-mapped IPv6 Client Subnets (`::ffff:17.3.7.9/128`) through the real binary: `hashed`
//! and `topology` pools answer them as the IPv4 client (`17.3.7.9/32`), with the scope in IPv6
//! terms (96 + the IPv4 scope), and `/explain` decides on them as DNS does.

use crate::harness::{Gslbd, zone_head};

/// The first addresses of the clients asked: spread over the IPv4 space.
fn clients() -> Vec<String> {
    (0..24)
        .map(|i| format!("{}.{}.7.9", 17 + i * 9, (i * 37) % 256))
        .collect()
}

/// `(addresses, ECS scope as dig prints it)` for `name` asked with a Client Subnet.
fn ask(g: &Gslbd, name: &str, subnet: &str) -> (Vec<String>, String) {
    let d = g.dig(&format!("{name} A +subnet={subnet}"));
    let scope = d
        .raw
        .lines()
        .find_map(|l| l.split("CLIENT-SUBNET: ").nth(1))
        .and_then(|e| e.trim().rsplit('/').next())
        .unwrap_or("none")
        .to_string();
    (d.answers("A"), scope)
}

/// Six regions, 198.51.100.1 to .6, every one serving (no probe).
fn pool(policy: &str, extra: &str) -> String {
    let mut z = format!(
        "{}[pools.h]\ntype = \"A\"\npolicy = \"{policy}\"\n",
        zone_head("gslb.example.")
    );
    for i in 1..=6 {
        z.push_str(&format!(
            "[pools.h.regions.h{i}]\naddresses = [\"198.51.100.{i}\"]\n{extra}"
        ));
    }
    z
}

/// Every client asked as IPv4 and as IPv4-mapped gets one answer, the same for both, with
/// scope `/v4_scope` and `/96 + v4_scope`; the mapped clients spread over the regions.
fn same_as_ipv4(g: &Gslbd, v4_scope: u8) {
    let mut regions = std::collections::HashSet::new();
    for c in clients() {
        let (v4, scope) = ask(g, "h.gslb.example", &format!("{c}/32"));
        assert_eq!((v4.len(), scope), (1, v4_scope.to_string()), "{c}: {v4:?}");
        let (mapped, scope) = ask(g, "h.gslb.example", &format!("::ffff:{c}/128"));
        assert_eq!(mapped, v4, "{c}: an IPv4-mapped client is the IPv4 client");
        assert_eq!(
            scope,
            (96 + v4_scope).to_string(),
            "{c}: 96 + the IPv4 scope"
        );
        // /explain decides as DNS with that Client Subnet does, on the prefix it shows.
        let (code, e) = g.api(
            "GET",
            &format!("/explain?name=h.gslb.example&type=A&client=::ffff:{c}/128"),
            None,
        );
        assert_eq!(code, 200, "{e}");
        assert_eq!(e["client"], format!("{c}/32"), "{e}");
        let subnet = c.rsplit_once('.').map(|(net, _)| format!("{net}.0/24"));
        assert_eq!(e["pool"]["hashed_on"].as_str(), subnet.as_deref(), "{e}");
        let explained = e["answer"][0]
            .as_str()
            .and_then(|r| r.split_whitespace().last());
        assert_eq!(explained, Some(v4[0].as_str()), "{e}");
        regions.insert(mapped);
    }
    assert!(regions.len() >= 4, "mapped clients spread: {regions:?}");
}

#[test]
fn hashed_answers_ipv4_mapped_client_subnets_as_ipv4() {
    let g = Gslbd::start(&[("z.toml", &pool("hashed", ""))]);
    same_as_ipv4(&g, 24);
}

#[test]
fn topology_hashes_ipv4_mapped_clients_inside_a_location_as_ipv4() {
    // Every client is in location x (0.0.0.0/1 or 128.0.0.0/1), where all six regions are.
    let map = "default = [\"x\"]\n[locations.x]\nnetworks = [\"0.0.0.0/1\", \"128.0.0.0/1\"]\n";
    let g = Gslbd::start(&[
        ("z.toml", &pool("topology", "location = \"x\"\n")),
        ("topology.toml", map),
    ]);
    same_as_ipv4(&g, 24);
}
