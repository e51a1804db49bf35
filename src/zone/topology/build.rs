//! Building a [`TopologyMap`](super::TopologyMap)'s ranges at load: the map's networks
//! (longest prefix wins), the database's networks for every address no map network covers, the
//! default elsewhere; each range carrying its exact location and, as its ECS scope, the widest
//! prefix around it over which the preference list is constant.

use std::net::IpAddr;

use super::{ClientLocation, Network, Ranges, Value};

/// `::ffff:0:0/96` in the IPv6 ranges: a list no client has, so that no IPv6 scope covers the
/// IPv4-mapped addresses (they are answered from the IPv4 ranges, which may differ).
const MAPPED: Value = Value {
    list: usize::MAX,
    location: Some(usize::MAX),
};
const MAPPED_NET: u128 = 0xffff << 32;

/// A prefix in the 128-bit key space: `(start, length, answer)`.
type Prefix = (u128, u8, Value);

/// The IPv4 and IPv6 ranges of a map and a database.
pub(super) fn ranges(
    locations: &[ClientLocation],
    default: usize,
    networks: &[Network],
    database: &[Network],
) -> (Ranges, Ranges) {
    let value_of = |n: &Network| Value {
        list: locations.get(n.location).map_or(default, |l| l.list),
        location: Some(n.location),
    };
    let fallback = Value {
        list: default,
        location: None,
    };
    let (mut t4, mut t6) = (Trie::default(), Trie::default());
    for n in networks {
        let (k, len, v4) = key(n);
        let trie = if v4 { &mut t4 } else { &mut t6 };
        trie.insert(k, len, value_of(n));
    }
    let (mut d4, mut d6) = (Vec::new(), Vec::new());
    for n in database {
        let (k, len, v4) = key(n);
        let db: &mut Vec<Prefix> = if v4 { &mut d4 } else { &mut d6 };
        db.push((k, len, value_of(n)));
    }
    let v4 = family(&t4, d4, fallback);
    // The IPv4-mapped block answers as IPv4: when every IPv4 address has one list, an IPv6
    // scope may cover it; otherwise it is a list of its own. (Never looked up: only its list
    // counts, and its location keeps it apart from the database's gaps.)
    let mapped = match &v4.values[..] {
        [(v, 0)] => Value {
            list: v.list,
            location: MAPPED.location,
        },
        _ => MAPPED,
    };
    t6.insert(MAPPED_NET, 96, mapped);
    (v4, family(&t6, d6, fallback))
}

/// The key of a network (IPv4 in the top 32 bits; an IPv4-mapped IPv6 network is IPv4), its
/// length in the key space, and whether it is IPv4.
fn key(n: &Network) -> (u128, u8, bool) {
    match n.addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)) << 96, n.prefix.min(32), true),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(m) if n.prefix >= 96 => (u128::from(u32::from(m)) << 96, n.prefix - 96, true),
            _ => (u128::from(a), n.prefix.min(128), false),
        },
    }
}

/// The last address of a prefix.
fn end(start: u128, len: u8) -> u128 {
    start | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0)
}

/// One family's ranges: the map's prefixes, the database in the map's gaps, the scopes.
fn family(map: &Trie, mut db: Vec<Prefix>, fallback: Value) -> Ranges {
    // The database's networks are disjoint; should two overlap, the first (wider) one stays.
    db.sort_by_key(|n| (n.0, n.1));
    let mut nets: Vec<(u128, u128, Value)> = Vec::with_capacity(db.len());
    for (start, len, v) in db {
        if nets.last().is_none_or(|last| start > last.1) {
            nets.push((start, end(start, len), v));
        }
    }
    // Every address once, in order: `(first, last, answer)`.
    let mut spans: Vec<(u128, u128, Value)> = Vec::new();
    let mut push = |first: u128, last: u128, v: Value| match spans.last_mut() {
        Some(prev) if prev.2 == v && prev.1.checked_add(1) == Some(first) => prev.1 = last,
        _ => spans.push((first, last, v)),
    };
    for (start, len, v) in map.prefixes(fallback) {
        let last = end(start, len);
        if v != fallback {
            push(start, last, v);
            continue;
        }
        // Not in the map: the database networks inside (or around) it, the default between.
        let mut at = Some(start);
        let first = nets.partition_point(|n| n.1 < start);
        for &(a, b, value) in nets[first..].iter().take_while(|n| n.0 <= last) {
            let (a, b) = (a.max(start), b.min(last));
            if let Some(cur) = at
                && cur < a
            {
                push(cur, a - 1, fallback);
            }
            push(a, b, value);
            at = b.checked_add(1);
        }
        if let Some(cur) = at
            && cur <= last
        {
            push(cur, last, fallback);
        }
    }
    let fine: Vec<Prefix> = spans
        .iter()
        .flat_map(|&(a, b, v)| split(a, b).map(move |(s, l)| (s, l, v)))
        .collect();
    scoped(&fine)
}

/// The aligned prefixes that make up `first..=last`, in order.
fn split(first: u128, last: u128) -> impl Iterator<Item = (u128, u8)> {
    let mut at = Some(first);
    std::iter::from_fn(move || {
        let a = at.filter(|a| *a <= last)?;
        let align = if a == 0 { 128 } else { a.trailing_zeros() };
        let fit = match (last - a).checked_add(1) {
            Some(count) => 127 - count.leading_zeros(),
            None => 128,
        };
        let bits = align.min(fit);
        at = 1u128.checked_shl(bits).and_then(|size| a.checked_add(size));
        Some((a, (128 - bits) as u8))
    })
}

/// The ranges of `fine` (prefixes covering the space in order), each with its scope: the
/// length of the widest prefix around it whose addresses all have its list. Prefixes nest, so
/// that prefix is the same for every address of a fine prefix.
fn scoped(fine: &[Prefix]) -> Ranges {
    // Bottom-up: two sibling prefixes with the same list are one prefix.
    let mut merged: Vec<(u128, u8, usize)> = Vec::with_capacity(fine.len());
    for &(start, len, v) in fine {
        merged.push((start, len, v.list));
        while let [.., (s1, l1, v1), (s2, l2, v2)] = merged[..] {
            let left = l1 > 0 && s1 >> (128 - u32::from(l1)) & 1 == 0;
            if !(l1 == l2 && v1 == v2 && left && s2 == s1 | 1u128 << (128 - u32::from(l1))) {
                break;
            }
            merged.truncate(merged.len() - 2);
            merged.push((s1, l1 - 1, v1));
        }
    }
    let mut out = Ranges::default();
    let mut m = 0;
    for &(start, _, v) in fine {
        while merged.get(m).is_some_and(|&(s, l, _)| end(s, l) < start) {
            m += 1;
        }
        let scope = merged.get(m).map_or(0, |x| x.1);
        if out.values.last() != Some(&(v, scope)) {
            out.starts.push(start);
            out.values.push((v, scope));
        }
    }
    out
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

    /// Disjoint prefixes covering every address, in order, each with its longest match
    /// (`fallback` where no network covers it).
    fn prefixes(&self, fallback: Value) -> Vec<Prefix> {
        let mut out = Vec::new();
        emit(Some(self), 0, 0, fallback, &mut out);
        out
    }
}

fn emit(node: Option<&Trie>, depth: u8, start: u128, inherited: Value, out: &mut Vec<Prefix>) {
    let value = node.and_then(|n| n.value).unwrap_or(inherited);
    let leaf = node.is_none_or(|n| n.children.iter().all(Option::is_none));
    if leaf || depth >= 128 {
        out.push((start, depth, value));
        return;
    }
    let child = |i: usize| node.and_then(|n| n.children[i].as_deref());
    emit(child(0), depth + 1, start, value, out);
    emit(
        child(1),
        depth + 1,
        start | 1u128 << (127 - depth),
        value,
        out,
    );
}
