//! Validation of one `[pools.KEY]` table into a [`Pool`]: type, policy, all-down rule,
//! fallback, and each region's addresses, weight, priority and probe.

use std::collections::HashMap;
use std::net::IpAddr;

use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use toml::Spanned;

use super::names::owner;
use super::probe;
use super::raw::RawPool;
use super::{ConfigError, Source};
use crate::zone::{AllDown, Policy, Pool, Region};

/// The largest region weight.
pub const MAX_WEIGHT: u32 = 1_000_000;

type Result<T> = std::result::Result<T, ConfigError>;

/// Parses an address list for a pool of `rtype`, rejecting the wrong family and duplicates.
pub(super) fn addresses(
    src: &Source,
    rtype: RecordType,
    list: &[Spanned<String>],
    seen: &mut HashMap<IpAddr, String>,
    owner: &str,
) -> Result<Vec<IpAddr>> {
    let mut out = Vec::new();
    for a in list {
        let ip: IpAddr =
            a.get_ref().trim().parse().map_err(|_| {
                src.error(a.span(), format!("invalid IP address {:?}", a.get_ref()))
            })?;
        let family_ok = match rtype {
            RecordType::A => ip.is_ipv4(),
            _ => ip.is_ipv6(),
        };
        if !family_ok {
            return Err(src.error(
                a.span(),
                format!("address {ip} does not match the pool type {rtype}"),
            ));
        }
        if let Some(other) = seen.insert(ip, owner.to_string()) {
            return Err(src.error(
                a.span(),
                format!("duplicate address {ip} (also in {other})"),
            ));
        }
        out.push(ip);
    }
    Ok(out)
}

pub(super) fn address_record(name: &Name, ttl: u32, ip: IpAddr) -> Record {
    let rdata = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name.clone(), ttl, rdata)
}

fn choice<T: Copy>(
    src: &Source,
    raw: &Spanned<String>,
    what: &str,
    options: &[(&str, T)],
) -> Result<T> {
    let text = raw.get_ref().trim();
    options
        .iter()
        .find(|(k, _)| *k == text)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<_> = options.iter().map(|(k, _)| *k).collect();
            src.error(
                raw.span(),
                format!(
                    "unknown {what} {text:?}, expected one of: {}",
                    names.join(", ")
                ),
            )
        })
}

pub(super) fn pool_of(
    src: &Source,
    origin: &Name,
    zone_ttl: u32,
    key: &Spanned<String>,
    raw: &Spanned<RawPool>,
) -> Result<Pool> {
    let p = raw.get_ref();
    let name = owner(src, origin, p.name.as_ref().unwrap_or(key))?;
    let rtype = choice(
        src,
        &p.rtype,
        "pool type",
        &[("A", RecordType::A), ("AAAA", RecordType::AAAA)],
    )?;
    let ttl = p.ttl.map_or(zone_ttl, |t| t.0);
    let policy = match &p.policy {
        Some(s) => choice(
            src,
            s,
            "policy",
            &[
                ("weighted", Policy::Weighted),
                ("failover", Policy::Failover),
                ("all", Policy::All),
                ("hashed", Policy::Hashed),
                ("topology", Policy::Topology),
            ],
        )?,
        None => Policy::Weighted,
    };
    let answers = match &p.answers {
        Some(a) if *a.get_ref() == 0 => {
            return Err(src.error(a.span(), "answers must be at least 1"));
        }
        Some(a) => *a.get_ref() as usize,
        None => 1,
    };
    let on_all_down = match &p.on_all_down {
        Some(s) => choice(
            src,
            s,
            "on_all_down",
            &[
                ("all", AllDown::All),
                ("none", AllDown::None),
                ("servfail", AllDown::Servfail),
                ("fallback", AllDown::Fallback),
            ],
        )?,
        None => AllDown::All,
    };
    let mut seen = HashMap::new();
    let fallback = match &p.fallback {
        Some(list) => {
            let ips = addresses(src, rtype, list.get_ref(), &mut seen, "fallback")?;
            if ips.is_empty() {
                return Err(src.error(list.span(), "fallback must list at least one address"));
            }
            ips.into_iter()
                .map(|ip| address_record(&name, ttl, ip))
                .collect()
        }
        None => Vec::new(),
    };
    if on_all_down == AllDown::Fallback && fallback.is_empty() {
        let span = p.on_all_down.as_ref().map_or(key.span(), |s| s.span());
        return Err(src.error(
            span,
            "on_all_down = \"fallback\" needs a fallback address list",
        ));
    }
    let slow_start = match &p.slow_start {
        Some(d) if d.get_ref().0.is_zero() => {
            return Err(src.error(d.span(), "slow_start must be longer than zero"));
        }
        Some(d) if d.get_ref().0 > super::probe::MAX_HOLD => {
            return Err(src.error(d.span(), "slow_start must be at most 1day"));
        }
        d => d.as_ref().map(|d| d.get_ref().0),
    };

    if p.regions.is_empty() {
        return Err(src.error(
            key.span(),
            format!("pool \"{}\" has no regions", key.get_ref()),
        ));
    }
    let mut regions_raw: Vec<_> = p.regions.iter().collect();
    regions_raw.sort_by_key(|(k, _)| k.span().start);
    let mut regions = Vec::with_capacity(regions_raw.len());
    let mut weight_sum: i64 = 0;
    for (rkey, rraw) in regions_raw {
        let r = rraw.get_ref();
        let rname = rkey.get_ref().clone();
        if r.addresses.get_ref().is_empty() {
            return Err(src.error(
                r.addresses.span(),
                "addresses must list at least one address",
            ));
        }
        let ips = addresses(
            src,
            rtype,
            r.addresses.get_ref(),
            &mut seen,
            &format!("region {rname}"),
        )?;
        let weight = match &r.weight {
            Some(w) if *w.get_ref() < 0 => {
                return Err(src.error(
                    w.span(),
                    format!("weight must be 0 or more, not {}", w.get_ref()),
                ));
            }
            Some(w) => u32::try_from(*w.get_ref())
                .ok()
                .filter(|w| *w <= MAX_WEIGHT)
                .ok_or_else(|| {
                    src.error(w.span(), format!("weight must be at most {MAX_WEIGHT}"))
                })?,
            None => 1,
        };
        weight_sum += i64::from(weight);
        if let Some(c) = &r.capacity
            && !(*c.get_ref() > 0.0 && c.get_ref().is_finite())
        {
            return Err(src.error(
                c.span(),
                "capacity must be a share of peak traffic above 0 (e.g. 0.6)",
            ));
        }
        let probe = probe::resolve(src, p.probe.as_ref(), r, &ips)?;
        regions.push(Region {
            id: 0,
            weight,
            priority: r.priority.as_ref().map_or(1, |p| *p.get_ref()),
            records: ips
                .iter()
                .map(|ip| address_record(&name, ttl, *ip))
                .collect(),
            addresses: ips,
            capacity: r.capacity.as_ref().map(|c| *c.get_ref()),
            location: r
                .location
                .as_ref()
                .map_or_else(|| rname.clone(), |l| l.get_ref().clone()),
            name: rname,
            probe,
            target: None,
        });
    }
    let min_serving = match &p.min_serving {
        Some(m) if *m.get_ref() as usize > regions.len() => {
            return Err(src.error(
                m.span(),
                format!(
                    "min_serving = {} is more than the pool's {} region(s)",
                    m.get_ref(),
                    regions.len()
                ),
            ));
        }
        Some(m) => *m.get_ref() as usize,
        None => 0,
    };
    if weight_sum == 0 {
        return Err(src.error(
            key.span(),
            format!(
                "the weights of pool \"{}\" sum to zero: no region could ever be answered",
                key.get_ref()
            ),
        ));
    }
    Ok(Pool {
        key: key.get_ref().clone(),
        name,
        rtype,
        ttl,
        policy,
        answers,
        on_all_down,
        fallback,
        slow_start,
        min_serving,
        ring: false,
        transfer: p.transfer.unwrap_or(true),
        regions,
        topology: None,
    })
}
