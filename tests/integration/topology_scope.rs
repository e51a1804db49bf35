//! The random scope checker through the real binary: ask a client (ECS), then ask addresses
//! inside the scope it got; none may get another answer. Over a pure map, a map with a geo
//! database that names only some countries, locations whose list equals the default's, IPv6,
//! and IPv4-mapped clients; and through Unbound with ECS (`subnetcache`), an FR client keeps
//! its answer after a JP client's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::backend::Backend;
use crate::harness::{Gslbd, poll, zone_head};
use crate::resolver::Unbound;

/// Regions (named as their locations) and the address each answers.
const REGIONS: [(&str, &str); 4] = [
    ("us-east", "192.0.2.1"),
    ("us-west", "192.0.2.2"),
    ("eu", "192.0.2.3"),
    ("ap", "192.0.2.4"),
];

fn zone(backend: &Backend) -> String {
    let mut z = format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 300\npolicy = \"topology\"\n\
         [pools.www.probe]\ninterval = \"1s\"\ntimeout = \"500ms\"\ninitial = \"up\"\n",
        zone_head("gslb.example.")
    );
    for (name, addr) in REGIONS {
        z += &format!(
            "[pools.www.regions.{name}]\naddresses = [\"{addr}\"]\ncheck = \"{}\"\n",
            backend.url("/")
        );
    }
    z
}

/// A small GeoLite2-style database: `(network, country)`, continent `XX` for all.
fn database(path: &std::path::Path, nets: &[(&str, &str)]) {
    let nets: Vec<(&str, &str, &str)> = nets.iter().map(|(n, c)| (*n, *c, "XX")).collect();
    crate::topology::mmdb(path, &nets);
}

/// gslbd with the zone, `map` and (when not empty) `geo.mmdb` built from `db`.
pub fn serve(backend: &Backend, map: &str, db: &[(&str, &str)]) -> Gslbd {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    if !db.is_empty() {
        database(&dir.path().join("zones/geo.mmdb"), db);
    }
    std::fs::write(dir.path().join("zones/z.toml"), zone(backend)).expect("zone");
    std::fs::write(dir.path().join("zones/topology.toml"), map).expect("map");
    let g = Gslbd::start_in(dir, &[]);
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (!ask(&g, &["127.0.0.1/32".into()])[0].0.is_empty()).then_some(())
    })
    .expect("answers");
    g
}

/// `(sorted addresses, scope)` for each client subnet, one `dig -f` batch.
fn ask(g: &Gslbd, subnets: &[String]) -> Vec<(Vec<String>, u8)> {
    let file = tempfile::NamedTempFile::new().expect("batch file");
    let lines: String = subnets
        .iter()
        .map(|s| format!("www.gslb.example A +subnet={s}\n"))
        .collect();
    std::fs::write(file.path(), lines).expect("write batch");
    let out = std::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &g.port.to_string(),
            "+tries=3",
            "+time=2",
        ])
        .arg("-f")
        .arg(file.path())
        .output()
        .expect("dig");
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<_> = text
        .split(";; Got answer:")
        .skip(1)
        .map(|reply| {
            let mut a: Vec<String> = reply
                .lines()
                .filter(|l| !l.starts_with(';'))
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.get(3) == Some(&"A")).then(|| f[4].to_string())
                })
                .collect();
            a.sort();
            let scope = reply
                .lines()
                .find_map(|l| l.split("CLIENT-SUBNET: ").nth(1))
                .and_then(|e| e.trim().rsplit('/').next()?.parse().ok())
                .unwrap_or(u8::MAX);
            (a, scope)
        })
        .collect();
    assert_eq!(answers.len(), subnets.len(), "one reply per query:\n{text}");
    answers
}

/// A random address near one of `seeds` (inside a supernet a few bits wider), or anywhere.
fn near(rng: &mut StdRng, seeds: &[&str], v6: bool) -> u128 {
    let width = if v6 { 128 } else { 32 };
    let anywhere = rng.random::<u128>() >> (128 - width);
    if seeds.is_empty() || rng.random_bool(0.2) {
        return anywhere;
    }
    let seed: ipnet::IpNet = seeds[rng.random_range(0..seeds.len())]
        .parse()
        .expect("seed");
    let base = match seed.addr() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let keep = u32::from(seed.prefix_len()).saturating_sub(rng.random_range(0..6));
    let host = u128::MAX.checked_shr(128 - width + keep).unwrap_or(0);
    (base & !host) | (anywhere & host)
}

/// The ECS text of an address key: IPv4, IPv6, or IPv4-mapped IPv6.
fn subnet(key: u128, family: Family) -> String {
    match family {
        Family::V4 => format!("{}/32", Ipv4Addr::from(key as u32)),
        Family::V6 => format!("{}/128", Ipv6Addr::from(key)),
        Family::Mapped => format!("{}/128", Ipv4Addr::from(key as u32).to_ipv6_mapped()),
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Family {
    V4,
    V6,
    Mapped,
}

/// Asks `clients` random clients, then `inside` random addresses in each scope: the number of
/// scopes that covered an address with another answer.
fn too_wide(g: &Gslbd, seeds: &[&str], family: Family, rng: &mut StdRng) -> (usize, usize) {
    let v6 = family == Family::V6;
    let keys: Vec<u128> = (0..60).map(|_| near(rng, seeds, v6)).collect();
    let asked = ask(
        g,
        &keys.iter().map(|k| subnet(*k, family)).collect::<Vec<_>>(),
    );
    let mut probes: Vec<(usize, String)> = Vec::new();
    for (i, (key, (_, scope))) in keys.iter().zip(&asked).enumerate() {
        // Scopes in the key's own width (a mapped client's is 96 + the IPv4 one).
        let (width, bits) = match family {
            Family::V4 => (32, u32::from(*scope)),
            Family::V6 => (128, u32::from(*scope)),
            Family::Mapped => {
                assert!(*scope >= 96 && *scope <= 128, "{key}: mapped scope {scope}");
                (32, u32::from(*scope) - 96)
            }
        };
        if v6 && Ipv6Addr::from(*key).to_ipv4_mapped().is_none() {
            // No IPv6 scope covers the IPv4-mapped addresses.
            let (mapped, host): (u128, u128) =
                (0xffff << 32, u128::MAX.checked_shr(bits).unwrap_or(0));
            assert_ne!(
                key & !host,
                mapped & !host,
                "{}: scope /{bits} covers ::ffff:0:0/96",
                Ipv6Addr::from(*key)
            );
        }
        let host = (u128::MAX >> (128 - width)).checked_shr(bits).unwrap_or(0);
        // Random addresses in the scope, and the first and last address of every seed
        // network that starts in it (where the answer is most likely to change).
        let mut inside: Vec<u128> = (0..3)
            .map(|_| (key & !host) | (rng.random::<u128>() & host))
            .collect();
        for seed in seeds {
            let net: ipnet::IpNet = seed.parse().expect("seed");
            let (first, last) = match (net.network(), net.broadcast()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    (u128::from(u32::from(a)), u128::from(u32::from(b)))
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b)),
                _ => continue,
            };
            if net.addr().is_ipv6() == v6 {
                inside.extend(
                    [first, last]
                        .into_iter()
                        .filter(|a| a & !host == key & !host),
                );
            }
        }
        for k in inside {
            probes.push((i, subnet(k, family)));
        }
    }
    let got = ask(g, &probes.iter().map(|p| p.1.clone()).collect::<Vec<_>>());
    let mut bad = vec![false; asked.len()];
    for ((i, at), (other, _)) in probes.iter().zip(&got) {
        if other != &asked[*i].0 && !bad[*i] {
            // Asked again, both at once: a reply lost to load (an empty answer in a busy
            // run) is told apart from a scope that is really too wide.
            let again = ask(g, &[subnet(keys[*i], family), at.clone()]);
            if again[0] == asked[*i] && again[1].0 == *other {
                bad[*i] = true;
            } else {
                eprintln!(
                    "not reproduced: {} -> {:?}, {at} -> {other:?} then {:?}",
                    subnet(keys[*i], family),
                    asked[*i].0,
                    again
                );
                continue;
            }
            eprintln!(
                "{} /{} -> {:?}, but {at} -> {other:?}",
                subnet(keys[*i], family),
                asked[*i].1,
                asked[*i].0
            );
        }
    }
    let wide = bad.iter().filter(|b| **b).count();
    (wide, asked.len())
}

#[test]
fn random_scope_checker_finds_no_scope_too_wide_over_several_maps() {
    let backend = Backend::http();
    let mut rng = StdRng::seed_from_u64(25);
    let countries: &[(&str, &str)] = &[
        ("203.0.113.0/24", "FR"),
        ("198.51.100.128/25", "FR"),
        ("100.64.0.0/10", "FR"),
        ("198.18.0.0/15", "JP"),
        ("198.51.100.0/25", "JP"),
        ("192.0.2.0/24", "US"),
        ("100.128.0.0/9", "DE"),
        ("10.1.0.0/16", "FR"),
        ("10.200.0.0/16", "FR"),
        ("10.128.0.0/16", "JP"),
        ("2001:db8:ab::/48", "JP"),
        ("2400:cb00::/32", "JP"),
        ("2a01::/16", "FR"),
        ("2a02::/16", "DE"),
    ];
    let v4_seeds: Vec<&str> = countries
        .iter()
        .map(|c| c.0)
        .filter(|n| !n.contains(':'))
        .collect();
    // (name, map, database, seeds, family, fixed answers: the map wins where it covers, the
    // database elsewhere, the default for the rest).
    type Case<'a> = (
        &'a str,
        String,
        &'a [(&'a str, &'a str)],
        Vec<&'a str>,
        Family,
        Vec<(&'a str, &'a str)>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "pure map",
            "default = [\"us-east\"]\n\
             [locations.eu]\nnetworks = [\"10.0.0.0/8\", \"172.16.0.0/12\"]\nprefer = [\"eu\", \"us-east\"]\n\
             [locations.ap]\nnetworks = [\"10.1.0.0/16\", \"10.64.0.0/10\", \"172.20.0.0/16\"]\n\
             [locations.us-west]\nnetworks = [\"10.1.2.0/24\", \"10.128.0.0/9\"]\n\
             [locations.us-east]\nnetworks = [\"10.1.3.0/24\"]\n"
                .into(),
            &[],
            vec!["10.0.0.0/8", "172.16.0.0/12", "10.1.2.0/24", "10.64.0.0/10"],
            Family::V4,
            vec![("10.1.2.9/32", "192.0.2.2"), ("10.1.3.9/32", "192.0.2.1"), ("10.1.4.9/32", "192.0.2.4"), ("10.2.0.1/32", "192.0.2.3")],
        ),
        (
            "map + database with unmapped countries",
            "default = [\"us-east\"]\n\
             [locations.ap]\nnetworks = [\"198.51.100.64/26\"]\n\
             [geoip]\ndatabase = \"geo.mmdb\"\ncountries = { FR = \"eu\" }\n"
                .into(),
            countries,
            v4_seeds.clone(),
            Family::V4,
            vec![("203.0.113.5/32", "192.0.2.3"), ("198.18.0.1/32", "192.0.2.1"), ("198.51.100.70/32", "192.0.2.4"), ("198.51.100.200/32", "192.0.2.3"), ("8.8.8.8/32", "192.0.2.1")],
        ),
        (
            "equal lists",
            "default = [\"us-east\"]\n\
             [locations.us-east]\nnetworks = [\"10.0.0.0/9\", \"0.0.0.0/1\"]\n\
             [locations.ap]\nnetworks = [\"10.0.0.0/16\"]\n\
             [geoip]\ndatabase = \"geo.mmdb\"\ncountries = { FR = \"eu\", JP = \"ap\" }\n"
                .into(),
            countries,
            v4_seeds.clone(),
            Family::V4,
            vec![("10.1.0.1/32", "192.0.2.1"), ("10.0.0.1/32", "192.0.2.4"), ("100.64.0.1/32", "192.0.2.1"), ("203.0.113.5/32", "192.0.2.3"), ("198.18.0.1/32", "192.0.2.4"), ("200.0.0.1/32", "192.0.2.1")],
        ),
        (
            "IPv6",
            "default = [\"eu\"]\n\
             [locations.us-east]\nnetworks = [\"2001:db8::/32\"]\n\
             [locations.ap]\nnetworks = [\"2001:db8:1::/48\"]\n\
             [locations.us-west]\nnetworks = [\"2001:db8:1:2::/64\", \"::/8\"]\n\
             [geoip]\ndatabase = \"geo.mmdb\"\ncountries = { JP = \"ap\", DE = \"us-east\" }\n"
                .into(),
            countries,
            vec![
                "2001:db8:1::/48",
                "2001:db8:ab::/48",
                "2400:cb00::/32",
                "2a01::/16",
                "::/96",
                "::ffff:0:0/95",
            ],
            Family::V6,
            vec![("2001:db8:ab::1/128", "192.0.2.1"), ("2400:cb00::1/128", "192.0.2.4"), ("2a02::1/128", "192.0.2.1"), ("2a01::1/128", "192.0.2.3"), ("::1/128", "192.0.2.2"), ("::ffff:192.0.2.1/128", "192.0.2.3"), ("2001:db8:1:2::1/128", "192.0.2.2")],
        ),
        (
            "IPv4-mapped",
            "default = [\"us-east\"]\n\
             [locations.ap]\nnetworks = [\"::ffff:198.51.100.0/120\"]\n\
             [geoip]\ndatabase = \"geo.mmdb\"\ncountries = { FR = \"eu\" }\n"
                .into(),
            countries,
            v4_seeds,
            Family::Mapped,
            vec![("::ffff:198.51.100.70/128", "192.0.2.4"), ("::ffff:198.51.100.200/128", "192.0.2.4"), ("::ffff:203.0.113.5/128", "192.0.2.3"),
                ("::ffff:100.64.0.1/128", "192.0.2.3"), ("::ffff:198.18.0.1/128", "192.0.2.1")],
        ),
    ];
    let mut failed = Vec::new();
    for (name, map, db, seeds, family, fixed) in &cases {
        let g = serve(&backend, map, db);
        let subnets: Vec<String> = fixed.iter().map(|f| f.0.to_string()).collect();
        for ((subnet, expected), (got, _)) in fixed.iter().zip(ask(&g, &subnets)) {
            if got != [*expected] {
                failed.push(format!("{name}: {subnet} -> {got:?}, expected {expected}"));
            }
        }
        let (wide, asked) = too_wide(&g, seeds, *family, &mut rng);
        eprintln!("{name}: {wide} of {asked} scopes too wide");
        if wide > 0 {
            failed.push(format!("{name}: {wide} of {asked}"));
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn through_unbound_with_ecs_an_fr_client_keeps_eu_after_a_jp_query() {
    let backend = Backend::http();
    let g = serve(
        &backend,
        "default = [\"us-east\"]\n[geoip]\ndatabase = \"geo.mmdb\"\ncountries = { FR = \"eu\" }\n",
        &[("203.0.113.0/24", "FR"), ("198.18.0.0/15", "JP")],
    );
    let u = Unbound::start(
        &[("gslb.example.", &[g.port])],
        &[
            "module-config: \"subnetcache iterator\"",
            "send-client-subnet: 127.0.0.1",
            "max-client-subnet-ipv4: 24",
        ],
    );
    let a = |subnet: &str| {
        u.dig(&format!("www.gslb.example A +subnet={subnet}"))
            .answers("A")
    };
    // JP is not in the map: the default, with a scope that does not reach FR.
    assert_eq!(a("198.18.0.1/32"), ["192.0.2.1"]);
    assert_eq!(a("203.0.113.7/32"), ["192.0.2.3"], "FR after JP");
    assert_eq!(a("198.18.0.1/32"), ["192.0.2.1"]);
    assert_eq!(
        a("203.0.113.99/32"),
        ["192.0.2.3"],
        "FR again, from the cache"
    );
    // A client in no database network too.
    assert_eq!(a("8.8.8.8/32"), ["192.0.2.1"]);
    assert_eq!(a("203.0.113.7/32"), ["192.0.2.3"], "FR after 8.8.8.8");
}
