//! The topology map file (`topology.toml` beside the zones, plus the CSV files it names) to a
//! [`TopologyMap`], with `path:line:col` errors.
//!
//! ```toml
//! default = ["us-east", "eu-west"]     # clients no network matches (default: every region)
//! csv = ["networks.csv"]               # more networks: lines "prefix,location"
//!
//! [locations.us-east]                  # clients located here …
//! networks = ["198.51.100.0/24", "2001:db8:1::/48"]
//! prefer = ["us-east", "us-west"]      # … are answered from these locations, in order
//! share = 0.5                          # of all traffic (for `gslbd check`)
//!
//! [geoip]                              # optional: a MaxMind-format database (GeoLite2,
//! database = "GeoLite2-Country.mmdb"   # DB-IP) for addresses no network above covers
//! countries = { US = "us-east" }       # ISO country code -> client location
//! continents = { EU = "eu" }           # continent code -> client location
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use toml::Spanned;

use super::{ConfigError, Source};
use crate::zone::inputs::hash;
use crate::zone::topology::{ClientLocation, Network, TopologyMap};

mod geoip;
mod networks;
use geoip::read_database;
use networks::{csv, network};

/// The map file's name in the zones directory.
pub const FILE: &str = "topology.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMap {
    default: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    csv: Vec<Spanned<String>>,
    #[serde(default)]
    locations: BTreeMap<Spanned<String>, Spanned<RawLocation>>,
    geoip: Option<RawGeoip>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGeoip {
    database: Spanned<String>,
    #[serde(default)]
    countries: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    continents: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocation {
    #[serde(default)]
    networks: Vec<Spanned<String>>,
    prefer: Option<Vec<Spanned<String>>>,
    share: Option<Spanned<f64>>,
}

/// A location name written somewhere, to check it against the regions' locations.
pub struct NameUse {
    pub name: String,
    error: ConfigError,
}

impl NameUse {
    /// The error to report when no topology pool has a region in this location.
    pub fn unknown(self) -> ConfigError {
        self.error
    }
}

/// A parsed map and every location name its lists use.
pub struct Loaded {
    pub map: TopologyMap,
    pub names: Vec<NameUse>,
    /// The files the map named, with the hash of what was read ([`crate::zone::inputs`]).
    pub inputs: Vec<(PathBuf, u64)>,
}

/// Parses the map file `path` with text `text` (CSV files are read relative to it).
pub fn load(path: &Path, text: &str) -> Result<Loaded, Vec<ConfigError>> {
    let src = Source { path, text };
    let raw: RawMap = toml::from_str(text)
        .map_err(|e| vec![src.error(e.span().unwrap_or(0..0), e.message().trim().to_string())])?;
    let mut errors = Vec::new();
    let mut names = Vec::new();
    let mut lists: Vec<Vec<String>> = Vec::new();
    let mut list_of = |list: Vec<String>| match lists.iter().position(|l| *l == list) {
        Some(i) => i,
        None => {
            lists.push(list);
            lists.len() - 1
        }
    };
    let use_names = |written: &[Spanned<String>], names: &mut Vec<NameUse>| {
        for n in written {
            names.push(NameUse {
                name: n.get_ref().clone(),
                error: src.error(
                    n.span(),
                    format!(
                        "unknown location {:?}: no region of a topology pool has it",
                        n.get_ref()
                    ),
                ),
            });
        }
        written
            .iter()
            .map(|n| n.get_ref().clone())
            .collect::<Vec<_>>()
    };
    let default = match &raw.default {
        Some(d) => use_names(d, &mut names),
        None => Vec::new(),
    };
    let default = list_of(default);
    let mut locations = Vec::new();
    let mut index = HashMap::new();
    let mut networks = Vec::new();
    let mut seen: HashMap<IpNet, String> = HashMap::new();
    let mut share_sum = 0.0;
    for (name, loc) in &raw.locations {
        let l = loc.get_ref();
        let prefer = match &l.prefer {
            Some(p) if p.is_empty() => {
                errors.push(src.error(loc.span(), "prefer must list at least one location"));
                continue;
            }
            Some(p) => use_names(p, &mut names),
            None => use_names(std::slice::from_ref(name), &mut names),
        };
        let share = match &l.share {
            Some(s) if !(*s.get_ref() > 0.0 && *s.get_ref() <= 1.0) => {
                errors.push(src.error(s.span(), "share must be above 0 and at most 1"));
                None
            }
            Some(s) => {
                share_sum += s.get_ref();
                Some(*s.get_ref())
            }
            None => None,
        };
        index.insert(name.get_ref().clone(), locations.len());
        for n in &l.networks {
            let at = |message: String| src.error(n.span(), message);
            match network(n.get_ref(), name.get_ref(), &mut seen) {
                Ok(net) => networks.push(Network {
                    location: locations.len(),
                    ..net
                }),
                Err(message) => errors.push(at(message)),
            }
        }
        locations.push(ClientLocation {
            name: name.get_ref().clone(),
            list: list_of(prefer),
            share,
        });
    }
    if share_sum > 1.0 + 1e-9 {
        errors.push(src.error(
            0..0,
            format!("the shares add up to {share_sum}, more than 1"),
        ));
    }
    let mut inputs = Vec::new();
    for file in &raw.csv {
        let csv_path = path.parent().unwrap_or(Path::new(".")).join(file.get_ref());
        match std::fs::read_to_string(&csv_path) {
            Ok(text) => {
                inputs.push((csv_path.clone(), hash(text.as_bytes())));
                csv(
                    &csv_path,
                    &text,
                    &mut locations,
                    &mut index,
                    &mut networks,
                    &mut seen,
                    &mut list_of,
                    &mut names,
                    &mut errors,
                )
            }
            Err(e) => errors.push(src.error(
                file.span(),
                format!("cannot read {}: {e}", csv_path.display()),
            )),
        }
    }
    let mut database = Vec::new();
    if let Some(geo) = &raw.geoip {
        let mut location_of = |written: &Spanned<String>| {
            let name = written.get_ref();
            *index.entry(name.clone()).or_insert_with(|| {
                names.push(NameUse {
                    name: name.clone(),
                    error: src.error(
                        written.span(),
                        format!("unknown location {name:?}: no region of a topology pool has it"),
                    ),
                });
                locations.push(ClientLocation {
                    name: name.clone(),
                    list: list_of(vec![name.clone()]),
                    share: None,
                });
                locations.len() - 1
            })
        };
        let countries: HashMap<&str, usize> = geo
            .countries
            .iter()
            .map(|(code, loc)| (code.as_str(), location_of(loc)))
            .collect();
        let continents: HashMap<&str, usize> = geo
            .continents
            .iter()
            .map(|(code, loc)| (code.as_str(), location_of(loc)))
            .collect();
        let db_path = path
            .parent()
            .unwrap_or(Path::new("."))
            .join(geo.database.get_ref());
        let read = std::fs::read(&db_path)
            .map_err(maxminddb::MaxMindDbError::from)
            .and_then(|bytes: Vec<u8>| {
                inputs.push((db_path.clone(), hash(&bytes)));
                read_database(bytes, &countries, &continents)
            });
        match read {
            Ok(nets) => database = nets,
            Err(e) => errors.push(src.error(
                geo.database.span(),
                format!("cannot use {}: {e}", db_path.display()),
            )),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Loaded {
        map: TopologyMap::with_database(lists, default, locations, &networks, &database),
        names,
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::config::from_sources;

    const ZONE: &str = "origin = \"t.example.\"\n[soa]\nmname = \"ns.t.example.\"\nrname = \"h.t.example.\"\n\
        [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.other.example.\"]\n\
        [pools.www]\ntype = \"A\"\npolicy = \"topology\"\n\
        [pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\n\
        [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\nlocation = \"us-west\"\n";

    fn load(map: &str, dir: &std::path::Path) -> Result<crate::zone::ZoneSet, String> {
        from_sources(&[
            (dir.join("z.toml"), ZONE.to_string()),
            (dir.join("topology.toml"), map.to_string()),
        ])
        .map_err(|e| e.to_string())
    }

    #[test]
    fn a_map_of_toml_and_csv_answers_each_location_from_its_list() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("nets.csv"),
            "# prefix,location\n203.0.113.0/24,us-west\n\n2001:db8:2::/48,east\n",
        )
        .expect("csv");
        let map = "default = [\"east\"]\ncsv = [\"nets.csv\"]\n\
                   [locations.east]\nnetworks = [\"198.51.100.0/24\"]\nprefer = [\"east\", \"us-west\"]\nshare = 0.5\n";
        let set = load(map, dir.path()).expect("valid");
        let m = set.topology.as_ref().expect("map");
        let list = |ip: &str| {
            let r = m.lookup(ip.parse().expect("ip"));
            (
                m.lists[r.list].clone(),
                m.location_name(&r).to_string(),
                r.scope,
            )
        };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            list("198.51.100.7"),
            (s(&["east", "us-west"]), "east".into(), 24)
        );
        assert_eq!(list("203.0.113.9"), (s(&["us-west"]), "us-west".into(), 24));
        assert_eq!(list("2001:db8:2::1").1, "east");
        assert_eq!(list("192.0.2.200").1, "default");
        // The pool's steps for the east list: east's region, then us-west's.
        let pool = &set.zones[0].pools[0];
        let topo = pool.topology.as_ref().expect("topology pool");
        let east = m.lookup("198.51.100.7".parse().expect("ip")).list;
        assert_eq!(topo.steps[east], vec![vec![0], vec![1]]);
    }

    #[test]
    fn bad_maps_are_rejected_at_the_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |d: &std::path::Path| d.join("topology.toml").display().to_string();
        for (map, expected) in [
            (
                "[locations.east]\nnetworks = [\"198.51.100.0/33\"]\n",
                ":2:13: \"198.51.100.0/33\" is not a network",
            ),
            (
                "[locations.east]\nnetworks = [\"198.51.100.1/24\"]\n",
                ":2:13: \"198.51.100.1/24\" has bits set past /24: write 198.51.100.0/24",
            ),
            (
                "[locations.east]\nnetworks = [\"10.0.0.0/8\"]\n[locations.us-west]\nnetworks = [\"10.0.0.0/8\"]\n",
                ":4:13: 10.0.0.0/8 is already a network of location \"east\"",
            ),
            (
                "[locations.east]\nnetworks = [\"10.0.0.0/8\"]\n[locations.us-west]\nnetworks = [\"::ffff:10.0.0.0/104\"]\n",
                ":4:13: 10.0.0.0/8 is already a network of location \"east\"",
            ),
            (
                "default = [\"mars\"]\n",
                ":1:12: unknown location \"mars\": no region of a topology pool has it",
            ),
            (
                "[locations.east]\nshare = 0.7\n[locations.us-west]\nshare = 0.6\n",
                "the shares add up to",
            ),
            ("csv = [\"missing.csv\"]\n", ":1:8: cannot read"),
            (
                "[geoip]\ndatabase = \"missing.mmdb\"\n",
                ":2:12: cannot use",
            ),
        ] {
            let err = load(map, dir.path()).expect_err(map);
            assert!(
                err.contains(&format!("{}{expected}", file(dir.path())))
                    || (!expected.starts_with(':') && err.contains(expected)),
                "{map}\n=> {err}"
            );
        }
        std::fs::write(
            dir.path().join("bad.csv"),
            "10.0.0.0/8,east\nnot-a-net,east\n",
        )
        .expect("csv");
        let err = load("csv = [\"bad.csv\"]\n", dir.path()).expect_err("bad csv");
        let csv = PathBuf::from(dir.path()).join("bad.csv");
        assert!(
            err.contains(&format!(
                "{}:2:1: \"not-a-net\" is not a network",
                csv.display()
            )),
            "{err}"
        );
    }
}
