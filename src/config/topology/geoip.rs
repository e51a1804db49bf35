//! The `[geoip]` database of the topology map: the networks of a MaxMind-format database
//! (GeoIP2, GeoLite2, DB-IP) whose country or continent maps to a client location.

use std::collections::HashMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::zone::topology::Network;

/// The parts of a GeoIP2/GeoLite2/DB-IP record the map reads.
#[derive(Debug, Deserialize)]
struct GeoRecord<'a> {
    #[serde(borrow)]
    country: Option<IsoCode<'a>>,
    #[serde(borrow)]
    continent: Option<ContinentCode<'a>>,
}

#[derive(Debug, Deserialize)]
struct IsoCode<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
struct ContinentCode<'a> {
    code: Option<&'a str>,
}

/// Every network of a MaxMind-format database whose country (or else continent) maps to a
/// location.
pub(super) fn read_database(
    bytes: Vec<u8>,
    countries: &HashMap<&str, usize>,
    continents: &HashMap<&str, usize>,
) -> Result<Vec<Network>, maxminddb::MaxMindDbError> {
    let reader = maxminddb::Reader::from_source(bytes)?;
    let mut out = Vec::new();
    for item in reader.networks(Default::default())? {
        let item = item?;
        let Some(record) = item.decode::<GeoRecord<'_>>()? else {
            continue;
        };
        let country = record
            .country
            .and_then(|c| c.iso_code)
            .and_then(|c| countries.get(c));
        let continent = record
            .continent
            .and_then(|c| c.code)
            .and_then(|c| continents.get(c));
        let Some(&location) = country.or(continent) else {
            continue;
        };
        let net = item.network()?;
        // IPv4 networks of an IPv6 database may come as ::a.b.c.d/96+n (or, aliased, as
        // ::ffff:a.b.c.d/96+n).
        let (addr, prefix) = match net.ip() {
            IpAddr::V6(a) if net.prefix() >= 96 && u128::from(a) >> 32 == 0 => (
                IpAddr::V4(std::net::Ipv4Addr::from(u128::from(a) as u32)),
                net.prefix() - 96,
            ),
            IpAddr::V6(a) if net.prefix() >= 96 && a.to_ipv4_mapped().is_some() => (
                IpAddr::V4(std::net::Ipv4Addr::from(u128::from(a) as u32)),
                net.prefix() - 96,
            ),
            ip => (ip, net.prefix()),
        };
        out.push(Network {
            addr,
            prefix,
            location,
        });
    }
    Ok(out)
}
