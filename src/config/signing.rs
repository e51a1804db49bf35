//! A zone file's `[dnssec]` section: its keys (read through `dnssec`), their roles, the
//! signature lifetime and the TTL of the apex key sets; the DNSKEY set (and CDS/CDNSKEY for
//! the keys a parent's DS points at) becomes static records at the apex.

use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::Nsec3HashAlgorithm;
use hickory_proto::dnssec::rdata::{CDNSKEY, CDS, DNSSECRData, NSEC3PARAM};
use hickory_proto::dnssec::{DigestType, PublicKey, Verifier};
use hickory_proto::rr::{Name, RData, Record};
use toml::Spanned;
use tracing::warn;

use super::raw::RawDnssec;
use super::records::{Names, add_rrset};
use super::{ConfigError, Source};
use crate::dnssec::load;
use crate::zone::signing::{DEFAULT_DNSKEY_TTL, DEFAULT_LIFETIME, Denial, KeyRole, Signing};

/// The shortest and longest signature lifetimes accepted.
const MIN_LIFETIME: Duration = Duration::from_secs(3600);
const MAX_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

type Result<T> = std::result::Result<T, ConfigError>;

/// Loads the section's keys and adds the apex key sets to `names`.
pub(super) fn signing(
    src: &Source,
    origin: &Name,
    raw: &Spanned<RawDnssec>,
    names: &mut Names,
) -> Result<Arc<Signing>> {
    let section = raw.get_ref();
    let dir = src.path.parent().unwrap_or(std::path::Path::new("."));
    let mut keys = Vec::new();
    for k in section.keys.get_ref() {
        let entry = k.get_ref();
        let role = match entry.role.as_ref().map(|r| r.get_ref().as_str()) {
            None | Some("csk") => KeyRole::Csk,
            Some("ksk") => KeyRole::Ksk,
            Some("zsk") => KeyRole::Zsk,
            Some(other) => {
                let span = entry.role.as_ref().map_or(k.span(), Spanned::span);
                return Err(src.error(
                    span,
                    format!("unknown key role {other:?}: expected \"csk\", \"ksk\" or \"zsk\""),
                ));
            }
        };
        let path = dir.join(entry.file.get_ref());
        let loaded = load::load(&path, role, entry.sign.unwrap_or(true))
            .map_err(|e| src.error(entry.file.span(), e.to_string()))?;
        if loaded.readable_by_others {
            warn!(
                file = %path.display(),
                "DNSSEC key file is readable by its group or everyone (chmod 600 it)"
            );
        }
        if keys
            .iter()
            .any(|o: &crate::zone::signing::ZoneKey| o.dnskey == loaded.dnskey)
        {
            return Err(src.error(entry.file.span(), "the same key is listed twice"));
        }
        keys.push(loaded);
    }
    let lifetime = match &section.lifetime {
        Some(l) if !(MIN_LIFETIME..=MAX_LIFETIME).contains(&l.get_ref().0) => {
            return Err(src.error(
                l.span(),
                "lifetime must be from 1h to 365d (signatures are renewed at half of it)",
            ));
        }
        Some(l) => l.get_ref().0,
        None => DEFAULT_LIFETIME,
    };
    let denial = match section.denial.as_ref().map(|d| d.get_ref().as_str()) {
        None | Some("nsec") => Denial::Nsec,
        Some("nsec3") => Denial::Nsec3,
        Some(other) => {
            let span = section.denial.as_ref().map_or(raw.span(), Spanned::span);
            return Err(src.error(
                span,
                format!("unknown denial {other:?}: expected \"nsec\" or \"nsec3\""),
            ));
        }
    };
    let signing = Signing {
        denial,
        keys,
        lifetime,
        dnskey_ttl: section
            .dnskey_ttl
            .as_ref()
            .map_or(DEFAULT_DNSKEY_TTL, |t| t.get_ref().0),
        cds: section.cds.unwrap_or(true),
    };
    if signing.key_signers().next().is_none() {
        return Err(src.error(
            section.keys.span(),
            "no key signs the DNSKEY set: list a csk or ksk with sign = true",
        ));
    }
    if signing.zone_signers().next().is_none() {
        return Err(src.error(
            section.keys.span(),
            "no key signs the zone's records: list a csk or zsk with sign = true",
        ));
    }
    add_key_sets(origin, &signing, raw.span().start, names)
        .map_err(|e| src.error(raw.span(), e))?;
    Ok(Arc::new(signing))
}

/// The DNSKEY set, and CDS (SHA-256) and CDNSKEY for every KSK and CSK when `cds` is on.
fn add_key_sets(
    origin: &Name,
    signing: &Signing,
    at: usize,
    names: &mut Names,
) -> std::result::Result<(), String> {
    let ttl = signing.dnskey_ttl;
    let rr = |data: DNSSECRData| Record::from_rdata(origin.clone(), ttl, RData::DNSSEC(data));
    let dnskeys = signing
        .keys
        .iter()
        .map(|k| rr(DNSSECRData::DNSKEY(k.dnskey.clone())))
        .collect();
    add_rrset(names, origin, dnskeys, at);
    if signing.denial == Denial::Nsec3 {
        let param = NSEC3PARAM::new(Nsec3HashAlgorithm::SHA1, false, 0, Vec::new());
        // TTL 0, as Knot publishes it: only secondaries and signers read it.
        let record = Record::from_rdata(
            origin.clone(),
            0,
            RData::DNSSEC(DNSSECRData::NSEC3PARAM(param)),
        );
        add_rrset(names, origin, vec![record], at);
    }
    if !signing.cds {
        return Ok(());
    }
    let mut cds = Vec::new();
    let mut cdnskey = Vec::new();
    // Every key the parent's DS may point at, signing or not: a KSK published ahead of a
    // rollover is in CDS while the old one still signs (double-DS), so a parent that reads CDS
    // publishes the new DS before the new key takes over.
    for k in signing
        .keys
        .iter()
        .filter(|k| matches!(k.role, KeyRole::Csk | KeyRole::Ksk))
    {
        let algorithm = k.dnskey.algorithm();
        let digest = k
            .dnskey
            .to_digest(origin, DigestType::SHA256)
            .map_err(|e| format!("cannot make the CDS of key {}: {e}", k.tag))?;
        cds.push(rr(DNSSECRData::CDS(CDS::new(
            k.tag,
            Some(algorithm),
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        ))));
        cdnskey.push(rr(DNSSECRData::CDNSKEY(CDNSKEY::with_flags(
            k.dnskey.flags(),
            Some(algorithm),
            k.dnskey.public_key().public_bytes().to_vec(),
        ))));
    }
    add_rrset(names, origin, cds, at);
    add_rrset(names, origin, cdnskey, at);
    Ok(())
}
