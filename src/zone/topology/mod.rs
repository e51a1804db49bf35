//! The topology map: client networks → an ordered list of locations to answer from, with a
//! longest-prefix match precomputed at load into sorted, disjoint ranges (a binary search per
//! query, no allocation, no lock).
//!
//! The ranges merge the map and the geo database at load ([`build`]): the map wins for every
//! address it covers, the database answers every other address, and what neither names gets the
//! default list. Each range keeps its exact location (for labels) and the ECS scope of its
//! answer: the widest prefix around it over which the preference list cannot change (adjacent
//! prefixes with identical lists are merged for the scope, as gdnsd does). IPv4-mapped IPv6
//! clients are IPv4 clients, scoped inside `::ffff:0:0/96`, and no IPv6 scope covers that range.

use std::net::IpAddr;

mod build;
#[cfg(test)]
mod tests;

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

/// The answer of one range: from `start` to the next range's start.
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

/// The whole map, shared by every topology pool of a zone set.
#[derive(Debug, Clone)]
pub struct TopologyMap {
    /// Distinct preference lists (location names, in order); `lists[default]` is the default's.
    pub lists: Vec<Vec<String>>,
    pub default: usize,
    pub locations: Vec<ClientLocation>,
    /// The map and the database merged, IPv4 in the top 32 bits of the keys.
    v4: Ranges,
    v6: Ranges,
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
        let (v4, v6) = build::ranges(&locations, default, networks, database);
        TopologyMap {
            v4,
            v6,
            lists,
            default,
            locations,
        }
    }

    /// The location list for a client address. An IPv4-mapped IPv6 address is answered as its
    /// IPv4 address, with the scope inside `::ffff:0:0/96` (96 + the IPv4 scope).
    pub fn lookup(&self, ip: IpAddr) -> Match {
        let (ranges, addr, shift) = match ip {
            IpAddr::V4(a) => (&self.v4, u128::from(u32::from(a)) << 96, 0),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(m) => (&self.v4, u128::from(u32::from(m)) << 96, 96),
                None => (&self.v6, u128::from(a), 0),
            },
        };
        let (value, len) = ranges.lookup(addr).unwrap_or((
            Value {
                list: self.default,
                location: None,
            },
            0,
        ));
        Match {
            list: value.list,
            location: value.location,
            // IPv4 prefixes live in the top 32 bits: at most /32.
            scope: shift
                + if shift == 0 && ip.is_ipv6() {
                    len
                } else {
                    len.min(32)
                },
        }
    }

    /// The name of a match's location (`default` for the default).
    pub fn location_name(&self, m: &Match) -> &str {
        m.location
            .and_then(|l| self.locations.get(l))
            .map_or("default", |l| l.name.as_str())
    }
}
