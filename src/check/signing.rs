//! The DNSSEC part of the `check` report: each signed zone's keys and the DS its parent
//! publishes, how many sets are signed ahead and how long signing them took (check signs the
//! zone as `serve` would), and per pool how many answer sets it can give.

use std::fmt::{self, Write as _};
use std::time::Instant;

use serde::Serialize;

use crate::dnssec::{self, SignError, Signed};
use crate::status::KeyStatus;
use crate::zone::{Zone, ZoneSet};

#[derive(Debug, Serialize)]
pub struct ZoneSigning {
    pub keys: Vec<KeyReport>,
    /// RRsets signed at load (answer sets, static sets, NSEC chain).
    pub signed_sets: usize,
    /// How long check took to sign them, in milliseconds.
    pub signing_ms: f64,
    pub lifetime_secs: u64,
    /// Per pool: the answer sets signed ahead (`None`: an `all` pool, whose current set is
    /// signed when it changes), and whether it answers with ring windows.
    pub pools: Vec<(String, Option<u64>, bool)>,
}

/// One key as `/status` shows it, and the file it was read from.
#[derive(Debug, Serialize)]
pub struct KeyReport {
    #[serde(flatten)]
    pub key: KeyStatus,
    pub file: String,
}

/// Signs `set` as `serve` would and reports its signed zones, by zone index.
pub fn report(set: &ZoneSet) -> Result<Vec<Option<ZoneSigning>>, SignError> {
    let started = Instant::now();
    let signed = Signed::build(set, None, crate::engine::unix_now())?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(set
        .zones
        .iter()
        .enumerate()
        .map(|(i, z)| zone(z, &signed, i, ms))
        .collect())
}

fn zone(z: &Zone, signed: &Signed, index: usize, ms: f64) -> Option<ZoneSigning> {
    let signing = z.signing.as_deref()?;
    let keys = crate::status::zone_keys(z)
        .into_iter()
        .zip(&signing.keys)
        .map(|(key, k)| KeyReport {
            key,
            file: k.file.display().to_string(),
        })
        .collect();
    Some(ZoneSigning {
        keys,
        signed_sets: signed.zone(index).map_or(0, |s| s.sets()),
        signing_ms: ms,
        lifetime_secs: signing.lifetime.as_secs(),
        pools: z
            .pools
            .iter()
            .map(|p| (p.key.clone(), dnssec::variant_count(p), p.ring))
            .collect(),
    })
}

impl ZoneSigning {
    pub fn write(&self, out: &mut String) -> fmt::Result {
        let keys: Vec<String> = self
            .keys
            .iter()
            .map(|r| {
                let k = &r.key;
                let publish = if k.signs { "" } else { ", published only" };
                format!("{} ({:?}, {}{publish})", k.tag, k.role, k.algorithm).to_lowercase()
            })
            .collect();
        writeln!(
            out,
            "  dnssec: keys {}; {} RRsets signed in {:.0} ms; signatures valid {}, renewed every {}",
            keys.join(", "),
            self.signed_sets,
            self.signing_ms,
            humantime::format_duration(std::time::Duration::from_secs(self.lifetime_secs)),
            humantime::format_duration(std::time::Duration::from_secs(self.lifetime_secs / 2)),
        )?;
        for k in &self.keys {
            if let Some(ds) = &k.key.ds {
                writeln!(out, "    DS for the parent: {ds}")?;
            }
        }
        for (pool, n, ring) in &self.pools {
            match n {
                Some(n) if *ring => writeln!(
                    out,
                    "    pool {pool}: {n} answer sets signed ahead (ring windows: every set of `answers` regions would be too many)"
                )?,
                Some(n) => writeln!(out, "    pool {pool}: {n} answer sets signed ahead")?,
                None => writeln!(
                    out,
                    "    pool {pool}: its current set is signed when it changes (policy all)"
                )?,
            }
        }
        Ok(())
    }
}
