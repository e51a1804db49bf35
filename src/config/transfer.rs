//! The `[transfer]` section of the instance file, validated: which secondaries follow the
//! zones by transfer (hidden primary), with what key, how often, and what they add to the
//! figures.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::{LowerName, Name};
use serde::Deserialize;
use toml::Spanned;

use super::raw::HumanDuration;
use super::{ConfigError, Source};

/// The `[transfer]` section, validated.
#[derive(Debug, Clone)]
pub struct TransferConfig {
    /// May transfer (by address); NOTIFY goes to each (port 53 unless given).
    pub secondaries: Vec<SocketAddr>,
    /// When set, transfers must be signed with it, and NOTIFY is.
    pub key: Option<Arc<crate::wire::tsig::Key>>,
    /// The zones transferred (`None`: every zone), lower case.
    pub zones: Option<Vec<Name>>,
    /// At most one new serial per zone per this long.
    pub coalesce: Duration,
    /// Versions kept per zone for IXFR.
    pub journal: usize,
    /// NOTIFY → transfer done, for the figures.
    pub transfer_time: Duration,
    /// The address NOTIFY leaves from (`notify_source`); `None`: the listen address.
    pub notify_source: Option<IpAddr>,
}

impl TransferConfig {
    /// What secondaries add to the figures.
    pub fn timing(&self) -> crate::zone::timing::Secondary {
        crate::zone::timing::Secondary {
            coalesce: self.coalesce,
            transfer_time: self.transfer_time,
            zones: self.zones.clone(),
        }
    }

    /// The names in `zones` that no zone of `set` has (a typo transfers nothing).
    pub fn unknown_zones<'a>(&'a self, set: &crate::zone::ZoneSet) -> Vec<&'a Name> {
        self.zones
            .iter()
            .flatten()
            .filter(|n| {
                let n = LowerName::new(n);
                !set.zones.iter().any(|z| z.origin == n)
            })
            .collect()
    }

    /// Whether `origin` is transferred.
    pub fn covers(&self, origin: &LowerName) -> bool {
        self.zones
            .as_ref()
            .is_none_or(|z| z.iter().any(|n| LowerName::new(n) == *origin))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransfer {
    secondaries: Spanned<Vec<Spanned<String>>>,
    key_file: Option<Spanned<String>>,
    zones: Option<Vec<Spanned<String>>>,
    coalesce: Option<Spanned<HumanDuration>>,
    journal: Option<Spanned<u32>>,
    transfer_time: Option<Spanned<HumanDuration>>,
    notify_source: Option<Spanned<String>>,
}

/// Validates the `[transfer]` section.
pub(super) fn parse(
    src: &Source<'_>,
    raw: RawTransfer,
) -> Result<TransferConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut secondaries = Vec::new();
    for s in raw.secondaries.get_ref() {
        let text = s.get_ref().trim();
        let addr = text
            .parse::<std::net::SocketAddr>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()));
        match addr {
            Ok(a) => secondaries.push(a),
            Err(_) => errors.push(src.error(
                s.span(),
                format!(
                    "secondary {text:?}: an IP address, optionally with :port (NOTIFY goes there)"
                ),
            )),
        }
    }
    if raw.secondaries.get_ref().is_empty() {
        errors.push(src.error(raw.secondaries.span(), "name at least one secondary"));
    }
    let base = src.path.parent().unwrap_or(Path::new("."));
    let key = raw.key_file.as_ref().and_then(|f| {
        let text = match std::fs::read_to_string(base.join(f.get_ref())) {
            Ok(t) => t,
            Err(e) => {
                errors.push(src.error(f.span(), format!("cannot read {}: {e}", f.get_ref())));
                return None;
            }
        };
        match crate::wire::tsig::Key::parse(&text) {
            Ok(k) => Some(std::sync::Arc::new(k)),
            Err(e) => {
                // The message never quotes the file (it holds the secret).
                errors.push(src.error(f.span(), format!("{}: {e}", f.get_ref())));
                None
            }
        }
    });
    let zones = raw.zones.map(|zones| {
        zones
            .iter()
            .filter_map(|z| match hickory_proto::rr::Name::from_ascii(z.get_ref()) {
                Ok(mut n) => {
                    n.set_fqdn(true);
                    Some(n.to_lowercase())
                }
                Err(e) => {
                    errors.push(src.error(z.span(), format!("zone {:?}: {e}", z.get_ref())));
                    None
                }
            })
            .collect()
    });
    let mut duration = |v: &Option<Spanned<HumanDuration>>, default: Duration, what: &str| {
        let Some(v) = v else { return default };
        let d = v.get_ref().0;
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) {
            errors.push(src.error(v.span(), format!("{what} must be from 1s to 1h")));
        }
        d
    };
    let coalesce = duration(&raw.coalesce, Duration::from_secs(1), "coalesce");
    let transfer_time = duration(&raw.transfer_time, Duration::from_secs(2), "transfer_time");
    let notify_source = raw.notify_source.as_ref().and_then(|n| {
        match n.get_ref().trim().parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip),
            _ => {
                errors.push(src.error(
                    n.span(),
                    format!(
                        "notify_source {:?}: an IP address of this host (NOTIFY leaves from it)",
                        n.get_ref()
                    ),
                ));
                None
            }
        }
    });
    let journal = match &raw.journal {
        Some(j) if !(1..=10_000).contains(j.get_ref()) => {
            errors.push(src.error(j.span(), "journal must keep 1 to 10000 versions"));
            64
        }
        Some(j) => *j.get_ref() as usize,
        None => 64,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TransferConfig {
        secondaries,
        key,
        zones,
        coalesce,
        journal,
        transfer_time,
        notify_source,
    })
}
