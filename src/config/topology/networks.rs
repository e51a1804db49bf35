//! The networks of client locations: one `prefix/len` checked (no bits past the length, not
//! listed twice, IPv4-mapped IPv6 as IPv4), and the `prefix,location` lines of a CSV file.

use std::collections::HashMap;
use std::path::PathBuf;

use ipnet::IpNet;

use super::NameUse;
use crate::config::{ConfigError, Source};
use crate::zone::topology::{ClientLocation, Network};

/// A `prefix/len` of `location`: parsed, with no bits past the length, not seen before.
pub(super) fn network(
    text: &str,
    location: &str,
    seen: &mut HashMap<IpNet, String>,
) -> Result<Network, String> {
    let net: IpNet = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a network (e.g. 198.51.100.0/24, 2001:db8::/32)"))?;
    if net.trunc() != net {
        return Err(format!(
            "{text:?} has bits set past /{}: write {}",
            net.prefix_len(),
            net.trunc()
        ));
    }
    // IPv4-mapped IPv6 clients are answered as IPv4: so is a network inside ::ffff:0:0/96.
    let net = match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96)
                .map(IpNet::V4)
                .unwrap_or(net),
            None => net,
        },
        _ => net,
    };
    if let Some(other) = seen.insert(net, location.to_string()) {
        return Err(format!("{net} is already a network of location {other:?}"));
    }
    Ok(Network {
        addr: net.addr(),
        prefix: net.prefix_len(),
        location: 0,
    })
}

/// Adds the `prefix,location` lines of a CSV file; a location it names that the map file does
/// not define prefers itself.
#[allow(clippy::too_many_arguments)]
pub(super) fn csv(
    path: &PathBuf,
    text: &str,
    locations: &mut Vec<ClientLocation>,
    index: &mut HashMap<String, usize>,
    networks: &mut Vec<Network>,
    seen: &mut HashMap<IpNet, String>,
    list_of: &mut impl FnMut(Vec<String>) -> usize,
    names: &mut Vec<NameUse>,
    errors: &mut Vec<ConfigError>,
) {
    let src = Source { path, text };
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if content.trim().is_empty() || content.trim_start().starts_with('#') {
            continue;
        }
        let Some((prefix, location)) = content.split_once(',') else {
            errors.push(src.error(start..start, "expected \"prefix,location\""));
            continue;
        };
        let location = location.trim();
        let loc_at = start + prefix.len() + 1;
        if location.is_empty() || location.contains(',') {
            errors.push(src.error(loc_at..loc_at, "expected one location name after the comma"));
            continue;
        }
        let id = *index.entry(location.to_string()).or_insert_with(|| {
            names.push(NameUse {
                name: location.to_string(),
                error: src.error(
                    loc_at..loc_at,
                    format!("unknown location {location:?}: no region of a topology pool has it"),
                ),
            });
            locations.push(ClientLocation {
                name: location.to_string(),
                list: list_of(vec![location.to_string()]),
                share: None,
            });
            locations.len() - 1
        });
        match network(prefix, location, seen) {
            Ok(net) => networks.push(Network {
                location: id,
                ..net
            }),
            Err(message) => errors.push(src.error(start..start, message)),
        }
    }
}
