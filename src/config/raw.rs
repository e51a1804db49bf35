//! The zone file as written: serde structs that mirror the TOML, with spans kept for messages.
//!
//! Nothing here is validated beyond TOML syntax and types; `build` turns it into the model.

use std::collections::BTreeMap;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub origin: Spanned<String>,
    pub ttl: Option<Spanned<Ttl>>,
    /// How long resolvers may cache a SERVFAIL from this zone (for the recovery figure).
    pub resolver_failure_ttl: Option<Spanned<HumanDuration>>,
    pub soa: Option<Spanned<RawSoa>>,
    #[serde(default)]
    pub records: Vec<Spanned<RawRecord>>,
    #[serde(default)]
    pub pools: BTreeMap<Spanned<String>, Spanned<RawPool>>,
    /// Signing: keys and settings (`None`: the zone is served unsigned).
    pub dnssec: Option<Spanned<RawDnssec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDnssec {
    pub keys: Spanned<Vec<Spanned<RawKey>>>,
    pub lifetime: Option<Spanned<HumanDuration>>,
    pub dnskey_ttl: Option<Spanned<Ttl>>,
    pub cds: Option<bool>,
    /// `"nsec"` (default) or `"nsec3"`.
    pub denial: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// A PKCS#8 PEM file (`gslbd keygen`), relative to the zone file's directory.
    pub file: Spanned<String>,
    pub role: Option<Spanned<String>>,
    pub sign: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSoa {
    pub mname: Spanned<String>,
    pub rname: Spanned<String>,
    pub minimum: Option<Ttl>,
    pub serial: Option<u32>,
    pub refresh: Option<Ttl>,
    pub retry: Option<Ttl>,
    pub expire: Option<Ttl>,
    pub ttl: Option<Ttl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecord {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub rtype: Spanned<String>,
    pub data: Spanned<Vec<Spanned<String>>>,
    pub ttl: Option<Ttl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    /// Owner name when it differs from the key (e.g. an A pool and an AAAA pool both at `www`).
    pub name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub rtype: Spanned<String>,
    pub ttl: Option<Ttl>,
    pub policy: Option<Spanned<String>>,
    pub answers: Option<Spanned<u32>>,
    pub on_all_down: Option<Spanned<String>>,
    pub fallback: Option<Spanned<Vec<Spanned<String>>>>,
    pub slow_start: Option<Spanned<HumanDuration>>,
    /// A drain or force-down that would leave fewer serving regions is refused (409).
    pub min_serving: Option<Spanned<u32>>,
    /// `false` leaves the pool out of zone transfers to secondaries.
    pub transfer: Option<bool>,
    pub probe: Option<Spanned<Box<RawProbe>>>,
    #[serde(default)]
    pub regions: IndexMap<Spanned<String>, Spanned<RawRegion>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegion {
    pub addresses: Spanned<Vec<Spanned<String>>>,
    pub weight: Option<Spanned<i64>>,
    pub priority: Option<Spanned<u32>>,
    pub check: Option<Spanned<String>>,
    pub capacity: Option<Spanned<f64>>,
    /// The region's location for `topology` pools (default: the region name).
    pub location: Option<Spanned<String>>,
    pub probe: Option<Spanned<Box<RawProbe>>>,
}

/// Probe settings; at pool level the defaults for every region, at region level overrides.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    pub kind: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub check: Option<Spanned<String>>,
    pub interval: Option<Spanned<HumanDuration>>,
    pub timeout: Option<Spanned<HumanDuration>>,
    pub fall: Option<Spanned<u32>>,
    pub rise: Option<Spanned<u32>>,
    pub expect: Option<Spanned<Vec<Spanned<Expect>>>>,
    pub body: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub headers: Option<Spanned<BTreeMap<String, String>>>,
    pub method: Option<Spanned<String>>,
    pub tls_verify: Option<bool>,
    pub keepalive: Option<bool>,
    pub initial: Option<Spanned<String>>,
    pub hold_down: Option<Spanned<HumanDuration>>,
}

impl RawProbe {
    /// Region settings over pool settings, field by field.
    pub fn overlay(&self, over: &RawProbe) -> RawProbe {
        macro_rules! pick {
            ($($f:ident),*) => { RawProbe { $($f: over.$f.clone().or_else(|| self.$f.clone()),)* } };
        }
        pick!(
            kind, path, port, check, interval, timeout, fall, rise, expect, body, host, headers,
            method, tls_verify, keepalive, initial, hold_down
        )
    }
}

/// One `expect` entry: a status code (`200`) or an inclusive range (`"200-399"`).
#[derive(Debug, Clone)]
pub struct Expect(pub u16, pub u16);

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Code(i64),
            Range(String),
        }
        let bad =
            || serde::de::Error::custom("expected a status code (200) or a range (\"200-399\")");
        let code = |v: i64| u16::try_from(v).ok().filter(|c| (100..=599).contains(c));
        match Either::deserialize(d).map_err(|_| bad())? {
            Either::Code(c) => code(c).map(|c| Expect(c, c)).ok_or_else(bad),
            Either::Range(s) => {
                let (lo, hi) = s.split_once('-').unwrap_or((&s, &s));
                let lo = lo.trim().parse().ok().and_then(code);
                let hi = hi.trim().parse().ok().and_then(code);
                match (lo, hi) {
                    (Some(lo), Some(hi)) if lo <= hi => Ok(Expect(lo, hi)),
                    _ => Err(bad()),
                }
            }
        }
    }
}

/// A duration written as integer seconds (`10`) or a human string (`"500ms"`, `"10s"`, `"2m"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanDuration(pub Duration);

/// The longest TTL (and SOA timer) DNS allows: 2^31 − 1 seconds (RFC 2181 §8).
pub const MAX_TTL: u32 = i32::MAX as u32;

/// A TTL in seconds, from 0 to [`MAX_TTL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(pub u32);

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = i64::deserialize(d).map_err(|_| {
            serde::de::Error::custom(format!(
                "expected a TTL: a whole number of seconds from 0 to {MAX_TTL}"
            ))
        })?;
        u32::try_from(v)
            .ok()
            .filter(|t| *t <= MAX_TTL)
            .map(Ttl)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{v} is out of range: TTLs and SOA timers take 0 to {MAX_TTL} seconds (RFC 2181 §8)"
                ))
            })
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Secs(i64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!(
                "invalid duration {what}: expected seconds or a string like \"500ms\", \"10s\", \"2m\""
            ))
        };
        match Either::deserialize(d).map_err(|_| bad("value"))? {
            Either::Secs(s) => u64::try_from(s)
                .map(|s| HumanDuration(Duration::from_secs(s)))
                .map_err(|_| bad(&s.to_string())),
            Either::Text(t) => humantime::parse_duration(t.trim())
                .map(HumanDuration)
                .map_err(|_| bad(&format!("{t:?}"))),
        }
    }
}
