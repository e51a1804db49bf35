//! The topology map's lookups, scopes and the random scope checker.

use super::*;

fn map(entries: &[(&str, u8, usize)], lists: &[usize]) -> TopologyMap {
    let locations = lists
        .iter()
        .enumerate()
        .map(|(i, l)| ClientLocation {
            name: format!("loc{i}"),
            list: *l,
            share: None,
        })
        .collect();
    let networks: Vec<Network> = entries
        .iter()
        .map(|(a, p, l)| Network {
            addr: a.parse().expect("ip"),
            prefix: *p,
            location: *l,
        })
        .collect();
    let names = |n: usize| vec![format!("list{n}")];
    TopologyMap::new((0..4).map(names).collect(), 3, locations, &networks)
}

fn at(m: &TopologyMap, ip: &str) -> (usize, Option<usize>, u8) {
    let r = m.lookup(ip.parse().expect("ip"));
    (r.list, r.location, r.scope)
}

#[test]
fn longest_prefix_wins_and_scopes_are_the_widest_constant_prefix() {
    // 10.0.0.0/8 → loc0 (list 0), 10.1.0.0/16 → loc1 (list 1).
    let m = map(&[("10.0.0.0", 8, 0), ("10.1.0.0", 16, 1)], &[0, 1]);
    assert_eq!(at(&m, "10.1.2.3"), (1, Some(1), 16));
    // 10.2.x sits in 10.0/8 minus 10.1/16: the widest constant prefix around it is 10.2/15.
    assert_eq!(at(&m, "10.2.0.1"), (0, Some(0), 15));
    assert_eq!(at(&m, "10.128.0.1"), (0, Some(0), 9));
    // Outside every entry: the default list, with the widest uncovered prefix.
    assert_eq!(at(&m, "192.0.2.1"), (3, None, 1));
    assert_eq!(at(&m, "11.0.0.1"), (3, None, 8));
    // A family with no entries: the widest prefix that does not hold the IPv4-mapped
    // addresses (2000::/3; those answer as IPv4).
    assert_eq!(at(&m, "2001:db8::1"), (3, None, 3));
    assert_eq!(at(&m, "::1"), (3, None, 81));
    // IPv4-mapped IPv6 is IPv4.
    assert_eq!(at(&m, "::ffff:10.1.0.9"), (1, Some(1), 112));
    // With no network at all, every address has the default list: scope 0 everywhere.
    let m = map(&[], &[]);
    assert_eq!(at(&m, "2001:db8::1"), (3, None, 0));
    assert_eq!(at(&m, "::ffff:10.1.0.9"), (3, None, 96));
    assert_eq!(at(&m, "10.1.0.9"), (3, None, 0));
}

#[test]
fn adjacent_prefixes_with_identical_lists_merge() {
    // Two /25s of different locations but the same list answer alike: one /24.
    let m = map(
        &[("198.51.100.0", 25, 0), ("198.51.100.128", 25, 1)],
        &[2, 2],
    );
    assert_eq!(at(&m, "198.51.100.200").2, 24);
    // With different lists they stay /25.
    let m = map(
        &[("198.51.100.0", 25, 0), ("198.51.100.128", 25, 1)],
        &[0, 1],
    );
    assert_eq!(at(&m, "198.51.100.200"), (1, Some(1), 25));
    assert_eq!(at(&m, "198.51.100.1"), (0, Some(0), 25));
    // IPv6.
    let m = map(&[("2001:db8:1::", 48, 0)], &[0]);
    assert_eq!(at(&m, "2001:db8:1:ff::1"), (0, Some(0), 48));
    assert_eq!(at(&m, "2001:db8:2::1").0, 3);
}

/// `default = ["us-east"]`, `us-east` (list 0, the default's) and `eu` (list 1) locations,
/// the database naming FR = eu at `fr` and JP (unmapped) nowhere.
fn geo(map: &[(&str, u8)], fr: &[(&str, u8)]) -> TopologyMap {
    let net = |(a, p): &(&str, u8), location| Network {
        addr: a.parse().expect("ip"),
        prefix: *p,
        location,
    };
    let locations = ["us-east", "eu"]
        .iter()
        .enumerate()
        .map(|(i, n)| ClientLocation {
            name: n.to_string(),
            list: i,
            share: None,
        })
        .collect();
    let networks: Vec<Network> = map.iter().map(|n| net(n, 0)).collect();
    let database: Vec<Network> = fr.iter().map(|n| net(n, 1)).collect();
    let lists = vec![vec!["us-east".to_string()], vec!["eu".to_string()]];
    TopologyMap::with_database(lists, 0, locations, &networks, &database)
}

#[test]
fn an_unmapped_country_is_scoped_away_from_a_mapped_one() {
    // FR at 192.0.2.0/24; a JP client at 198.51.100.1 and one in no network at 8.8.8.8.
    let m = geo(&[], &[("192.0.2.0", 24)]);
    assert_eq!(at(&m, "192.0.2.1"), (1, Some(1), 24));
    let jp = at(&m, "198.51.100.1");
    assert_eq!((jp.0, jp.1), (0, None));
    // 196.0.0.0/6, the widest prefix around it without FR's network.
    assert_eq!(jp.2, 6);
    assert_eq!(at(&m, "8.8.8.8"), (0, None, 1));
    assert_eq!(at(&m, "192.0.3.1"), (0, None, 24));
}

#[test]
fn the_map_wins_over_the_database_even_with_the_defaults_list() {
    // us-east has the default's list; its 10.0.0.0/9 must not merge with uncovered space.
    let m = geo(&[("10.0.0.0", 9)], &[("10.1.0.0", 16), ("10.200.0.0", 16)]);
    assert_eq!(at(&m, "10.1.0.1"), (0, Some(0), 9));
    // The half the map does not cover reads the database.
    assert_eq!(at(&m, "10.200.0.1"), (1, Some(1), 16));
    // And uncovered addresses are the default, labelled so.
    assert_eq!(at(&m, "10.129.0.1"), (0, None, 10));
    // 0.0.0.0/1 in the map: the rest of IPv4 still reads the database.
    let m = geo(&[("0.0.0.0", 1)], &[("200.0.0.0", 8), ("10.1.0.0", 16)]);
    assert_eq!(at(&m, "200.1.2.3"), (1, Some(1), 8));
    assert_eq!(at(&m, "10.1.0.1"), (0, Some(0), 1));
    // The label is the client's location, not the default's, though the lists are equal.
    assert_eq!(
        m.location_name(&m.lookup("10.1.0.1".parse().expect("ip"))),
        "us-east"
    );
}

#[test]
fn ipv4_mapped_clients_and_entries_are_ipv4() {
    let m = geo(
        &[("::ffff:10.0.0.0", 104), ("2001:db8::", 32)],
        &[("192.0.2.0", 24)],
    );
    // The mapped entry is 10.0.0.0/8 (0.0.0.0/1 answers alike: the scope).
    assert_eq!(at(&m, "10.1.2.3"), (0, Some(0), 1));
    assert_eq!(at(&m, "::ffff:10.1.2.3"), (0, Some(0), 97));
    // gdnsd's /120 for a mapped /24.
    assert_eq!(at(&m, "::ffff:192.0.2.1"), (1, Some(1), 120));
    // An IPv6 scope never covers ::ffff:0:0/96.
    assert_eq!(at(&m, "::1").2, 81);
}

/// The scope checker: random maps (with a database, locations whose list equals the
/// default's, IPv6 and IPv4-mapped clients); every answer agrees with a naive reference, and
/// no address inside an answer's scope would get a different list.
#[test]
fn random_scope_checker_finds_no_scope_too_wide_and_no_wrong_answer() {
    use rand::{Rng, SeedableRng, rngs::StdRng};
    let mut rng = StdRng::seed_from_u64(25);
    // Lists 0..=3, list 3 the default; loc3 and loc4 have the default's list.
    let lists_of = [0usize, 1, 2, 3, 3, 1];
    let (mut wrong, mut wide, mut asked) = (0, 0, 0);
    for round in 0..60 {
        let v6 = round % 3 == 2;
        let base: u128 = if v6 {
            0x2001_0db8u128 << 96
        } else {
            10u128 << 120
        };
        // Networks around the base, so they nest and touch.
        let prefix = |rng: &mut StdRng, lo: u8, hi: u8| {
            let len = rng.random_range(lo..=hi);
            let spread = if v6 { 40 } else { 16 };
            let bits: u128 = rng.random::<u128>() >> (128 - spread);
            let key = base | bits << (128 - 8 - spread);
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            (key & mask, len)
        };
        let (lo, hi) = if v6 { (8, 40) } else { (1, 24) };
        let to_ip = |key: u128| -> IpAddr {
            if v6 {
                IpAddr::V6(key.into())
            } else {
                IpAddr::V4(((key >> 96) as u32).into())
            }
        };
        let mut seen = std::collections::HashSet::new();
        let mut networks = Vec::new();
        for _ in 0..rng.random_range(0..12) {
            let (k, l) = prefix(&mut rng, lo + 7, hi);
            if seen.insert((k, l)) {
                networks.push(Network {
                    addr: to_ip(k),
                    prefix: if v6 { l } else { l.min(32) },
                    location: rng.random_range(0..lists_of.len()),
                });
            }
        }
        if round % 4 == 1 {
            // A wide map network with the default's list.
            networks.push(Network {
                addr: to_ip(base & (u128::MAX << (128 - lo))),
                prefix: lo,
                location: 3,
            });
        }
        let mut db: Vec<(u128, u8)> = (0..rng.random_range(0..40))
            .map(|_| prefix(&mut rng, lo + 4, hi))
            .collect();
        db.sort();
        let mut database: Vec<Network> = Vec::new();
        let mut end = None::<u128>;
        for (k, l) in db {
            let last = k | u128::MAX.checked_shr(u32::from(l)).unwrap_or(0);
            if end.is_some_and(|e| k <= e) {
                continue;
            }
            end = Some(last);
            database.push(Network {
                addr: to_ip(k),
                prefix: l,
                location: rng.random_range(0..lists_of.len()),
            });
        }
        let locations = lists_of
            .iter()
            .enumerate()
            .map(|(i, l)| ClientLocation {
                name: format!("loc{i}"),
                list: *l,
                share: None,
            })
            .collect();
        let names = |n: usize| vec![format!("list{n}")];
        let m = TopologyMap::with_database(
            (0..4).map(names).collect(),
            3,
            locations,
            &networks,
            &database,
        );
        let key = |ip: IpAddr| match ip {
            IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
            IpAddr::V6(a) => u128::from(a),
        };
        let contains = |n: &Network, k: u128| {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(n.prefix))
                .unwrap_or(0);
            n.addr.is_ipv6() == v6 && key(n.addr) == k & mask
        };
        // The reference: the longest map network, else the database, else the default.
        let reference = |k: u128| -> (usize, Option<usize>) {
            let best = networks
                .iter()
                .filter(|n| contains(n, k))
                .max_by_key(|n| n.prefix);
            let l = best.or_else(|| database.iter().find(|n| contains(n, k)));
            l.map_or((3, None), |n| (lists_of[n.location], Some(n.location)))
        };
        for _ in 0..40 {
            // Half near the networks, half anywhere.
            let (near, _) = prefix(&mut rng, 128, 128);
            let k = if rng.random_bool(0.5) {
                near | rng.random::<u128>() >> if v6 { 48 } else { 24 }
            } else {
                rng.random::<u128>()
            };
            let k = if v6 { k } else { k & (u128::MAX << 96) };
            let ip = to_ip(k);
            let got = m.lookup(ip);
            asked += 1;
            if (got.list, got.location) != reference(k) {
                wrong += 1;
                eprintln!("{ip}: {:?} != {:?}", (got.list, got.location), reference(k));
            }
            let scope_bits = if v6 { got.scope } else { got.scope.min(32) };
            let host = u128::MAX.checked_shr(u32::from(scope_bits)).unwrap_or(0);
            for _ in 0..30 {
                let other = (k & !host) | (rng.random::<u128>() & host);
                let other = if v6 { other } else { other & (u128::MAX << 96) };
                if reference(other).0 != got.list {
                    wide += 1;
                    eprintln!(
                        "{ip}/{} covers {} (list {})",
                        got.scope,
                        to_ip(other),
                        reference(other).0
                    );
                    break;
                }
            }
            // IPv4-mapped IPv6: the IPv4 answer, scoped inside ::ffff:0:0/96.
            if !v6 {
                let mapped =
                    IpAddr::V6(std::net::Ipv4Addr::from((k >> 96) as u32).to_ipv6_mapped());
                let g = m.lookup(mapped);
                if (g.list, g.location, g.scope) != (got.list, got.location, got.scope + 96) {
                    wrong += 1;
                    eprintln!("{mapped}: {g:?} vs {got:?}");
                }
            }
        }
    }
    assert_eq!((wrong, wide), (0, 0), "of {asked} answers");
}
