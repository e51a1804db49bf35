//! The topology map: client networks → an ordered list of locations to answer from, with a
//! longest-prefix match precomputed at load into sorted, disjoint ranges (a binary search per
//! query, no allocation, no lock).
//!
//! Building walks a binary trie of the configured prefixes and emits the widest prefixes over
//! which the answer cannot change: adjacent prefixes whose locations have identical preference
//! lists are merged (as gdnsd does), so the ECS scope of an answer (the emitted prefix's
//! length) is as wide as it can be, and a family no entry covers is one prefix of length 0.

use std::net::IpAddr;

/// A client location of the map: its name, its preference list and its traffic share.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientLocation {
    pub name: String,
    /// Index into [`TopologyMap::lists`].
    pub list: usize,
    /// Share of the traffic from this location (for `gslbd check`'s capacity flags).
    pub share: Option<f64>,
}

/// What a client address matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into [`TopologyMap::lists`].
    pub list: usize,
    /// Index into [`TopologyMap::locations`]; `None` for the default.
    pub location: Option<usize>,
    /// The ECS scope: the length of the widest prefix with this answer around the address.
    pub scope: u8,
}

/// One emitted range: from `start` to the next range's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Value {
    list: usize,
    location: Option<usize>,
}

/// Disjoint ranges covering one address family, sorted by start.
#[derive(Debug, Default, Clone)]
struct Ranges {
    starts: Vec<u128>,
    values: Vec<(Value, u8)>,
}

impl Ranges {
    fn lookup(&self, addr: u128) -> Option<(Value, u8)> {
        let i = self.starts.partition_point(|s| *s <= addr).checked_sub(1)?;
        self.values.get(i).copied()
    }
}

/// Networks from a MaxMind-format database: disjoint, sorted, with gaps (no data).
#[derive(Debug, Default, Clone)]
struct DbRanges {
    /// `(start, end inclusive, value, prefix length)`.
    nets: Vec<(u128, u128, Value, u8)>,
}

impl DbRanges {
    /// From `(start, prefix length, value)`, keys as the map's (IPv4 in the top 32 bits).
    fn new(mut nets: Vec<(u128, u8, Value)>) -> Self {
        nets.sort_by_key(|n| n.0);
        DbRanges {
            nets: nets
                .into_iter()
                .map(|(start, len, v)| {
                    let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                    (start, start | host, v, len)
                })
                .collect(),
        }
    }

    fn lookup(&self, addr: u128) -> Option<(Value, u8)> {
        let i = self.nets.partition_point(|n| n.0 <= addr).checked_sub(1)?;
        let (_, end, v, len) = self.nets.get(i)?;
        (addr <= *end).then_some((*v, *len))
    }
}

/// The whole map, shared by every topology pool of a zone set.
#[derive(Debug, Clone)]
pub struct TopologyMap {
    /// Distinct preference lists (location names, in order); `lists[default]` is the default's.
    pub lists: Vec<Vec<String>>,
    pub default: usize,
    pub locations: Vec<ClientLocation>,
    v4: Ranges,
    v6: Ranges,
    /// Networks from a geo database, for addresses no map network covers.
    db4: DbRanges,
    db6: DbRanges,
}

/// No map: every client is in the default entry, whose list is empty (every region, by weight).
impl Default for TopologyMap {
    fn default() -> Self {
        TopologyMap::new(vec![Vec::new()], 0, Vec::new(), &[])
    }
}

/// A configured network of a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    pub addr: IpAddr,
    pub prefix: u8,
    /// Index into the locations.
    pub location: usize,
}

impl TopologyMap {
    /// Builds the lookup from `networks` (longest prefix wins; the caller has rejected
    /// duplicates). `locations[i].list` and `default` index `lists`.
    pub fn new(
        lists: Vec<Vec<String>>,
        default: usize,
        locations: Vec<ClientLocation>,
        networks: &[Network],
    ) -> Self {
        Self::with_database(lists, default, locations, networks, &[])
    }

    /// [`TopologyMap::new`], plus networks from a geo database (disjoint), which answer for
    /// the addresses no map network covers: the map wins.
    pub fn with_database(
        lists: Vec<Vec<String>>,
        default: usize,
        locations: Vec<ClientLocation>,
        networks: &[Network],
        database: &[Network],
    ) -> Self {
        let value_of = |n: &Network| Value {
            list: locations[n.location].list,
            location: Some(n.location),
        };
        let fallback = Value {
            list: default,
            location: None,
        };
        let mut v4 = Trie::default();
        let mut v6 = Trie::default();
        for n in networks {
            match n.addr {
                IpAddr::V4(a) => v4.insert(u128::from(u32::from(a)) << 96, n.prefix, value_of(n)),
                IpAddr::V6(a) => v6.insert(u128::from(a), n.prefix, value_of(n)),
            }
        }
        let (mut db4, mut db6) = (Vec::new(), Vec::new());
        for n in database {
            match n.addr {
                IpAddr::V4(a) => db4.push((u128::from(u32::from(a)) << 96, n.prefix, value_of(n))),
                IpAddr::V6(a) => db6.push((u128::from(a), n.prefix, value_of(n))),
            }
        }
        TopologyMap {
            v4: v4.ranges(fallback),
            v6: v6.ranges(fallback),
            db4: DbRanges::new(db4),
            db6: DbRanges::new(db6),
            lists,
            default,
            locations,
        }
    }

    /// The location list for a client address (IPv4-mapped IPv6 counts as IPv4).
    pub fn lookup(&self, ip: IpAddr) -> Match {
        let (ranges, db, addr, v4) = match ip {
            IpAddr::V4(a) => (&self.v4, &self.db4, u128::from(u32::from(a)) << 96, true),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => (&self.v4, &self.db4, u128::from(u32::from(m)) << 96, true),
                None => (&self.v6, &self.db6, u128::from(a), false),
            },
        };
        let (mut value, mut len) = ranges.lookup(addr).unwrap_or((
            Value {
                list: self.default,
                location: None,
            },
            0,
        ));
        // No map network: the database's, constant over both its network and the map's
        // uncovered prefix (nested, so the longer of the two).
        if value.location.is_none()
            && let Some((v, db_len)) = db.lookup(addr)
        {
            value = v;
            len = len.max(db_len);
        }
        // IPv4 prefixes live in the top 32 bits.
        let scope = if v4 { len.min(32) } else { len };
        Match {
            list: value.list,
            location: value.location,
            scope,
        }
    }

    /// The name of a match's location (`default` for the default).
    pub fn location_name(&self, m: &Match) -> &str {
        m.location
            .and_then(|l| self.locations.get(l))
            .map_or("default", |l| l.name.as_str())
    }
}

/// A binary trie of prefixes over 128-bit keys (IPv4 in the top 32 bits).
#[derive(Debug, Default)]
struct Trie {
    value: Option<Value>,
    children: [Option<Box<Trie>>; 2],
}

impl Trie {
    fn insert(&mut self, addr: u128, prefix: u8, value: Value) {
        let mut node = self;
        for depth in 0..prefix.min(128) {
            let bit = usize::from(addr >> (127 - depth) & 1 == 1);
            node = node.children[bit].get_or_insert_with(Box::default);
        }
        node.value = Some(value);
    }

    /// The widest disjoint prefixes with a constant answer, covering every address.
    fn ranges(&self, fallback: Value) -> Ranges {
        let mut out = Vec::new();
        emit(Some(self), 0, 0, fallback, &mut out);
        Ranges {
            starts: out.iter().map(|(s, _, _)| *s).collect(),
            values: out.iter().map(|(_, l, v)| (*v, *l)).collect(),
        }
    }
}

fn emit(
    node: Option<&Trie>,
    depth: u8,
    start: u128,
    inherited: Value,
    out: &mut Vec<(u128, u8, Value)>,
) {
    let value = node.and_then(|n| n.value).unwrap_or(inherited);
    let leaf = node.is_none_or(|n| n.children.iter().all(Option::is_none));
    if leaf || depth >= 128 {
        out.push((start, depth, value));
        return;
    }
    let before = out.len();
    let children = node.map(|n| &n.children);
    let child = |i: usize| children.and_then(|c| c[i].as_deref());
    emit(child(0), depth + 1, start, value, out);
    emit(
        child(1),
        depth + 1,
        start | 1u128 << (127 - depth),
        value,
        out,
    );
    // Two halves with the same preference list answer alike: one prefix.
    if out.len() == before + 2 && out[before].2.list == out[before + 1].2.list {
        let merged = out[before].2;
        out.truncate(before);
        out.push((start, depth, merged));
    }
}

#[cfg(test)]
mod tests {
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
        // A family with no entries is one prefix: scope 0.
        assert_eq!(at(&m, "2001:db8::1"), (3, None, 0));
        // IPv4-mapped IPv6 is IPv4.
        assert_eq!(at(&m, "::ffff:10.1.0.9"), (1, Some(1), 16));
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
}
