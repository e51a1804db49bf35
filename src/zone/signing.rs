//! What a signed zone is signed with: its keys (loaded by `config` through `dnssec`) and the
//! signing settings of its `[dnssec]` section. The `dnssec` layer signs with them; nothing
//! here signs or reads a file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::dnssec::SigningKey;
use hickory_proto::dnssec::rdata::DNSKEY;

/// Default signature lifetime (re-signed at half-life).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(14 * 86_400);
/// Default TTL of the apex DNSKEY, CDS and CDNSKEY sets.
pub const DEFAULT_DNSKEY_TTL: u32 = 3600;

/// A zone's `[dnssec]` section, with its keys loaded.
#[derive(Debug)]
pub struct Signing {
    pub keys: Vec<ZoneKey>,
    /// How long a signature is valid from its (aligned) inception.
    pub lifetime: Duration,
    pub dnskey_ttl: u32,
    /// Publish CDS and CDNSKEY (RFC 7344) for every KSK and CSK (signing or published ahead).
    pub cds: bool,
    pub denial: Denial,
}

/// How nonexistence is proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Denial {
    /// NSEC (RFC 4034): the chain of the zone's names.
    Nsec,
    /// NSEC3 (RFC 5155) with no extra iterations, an empty salt and no opt-out (RFC 9276):
    /// the chain of the names' hashes, so the zone cannot be listed by walking it.
    Nsec3,
}

impl Signing {
    /// The keys that sign the apex DNSKEY (and CDS/CDNSKEY) set: signing KSKs and CSKs.
    pub fn key_signers(&self) -> impl Iterator<Item = &ZoneKey> {
        self.keys
            .iter()
            .filter(|k| k.sign && matches!(k.role, KeyRole::Csk | KeyRole::Ksk))
    }

    /// The keys that sign every other set: signing ZSKs and CSKs.
    pub fn zone_signers(&self) -> impl Iterator<Item = &ZoneKey> {
        self.keys
            .iter()
            .filter(|k| k.sign && matches!(k.role, KeyRole::Csk | KeyRole::Zsk))
    }
}

/// What a key does in the zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// Signs everything (DNSKEY flags 257).
    Csk,
    /// Signs the DNSKEY set (flags 257, the DS at the parent points at it).
    Ksk,
    /// Signs everything but the DNSKEY set (flags 256).
    Zsk,
}

/// One key of a zone.
pub struct ZoneKey {
    /// The PEM file it was read from.
    pub file: PathBuf,
    pub role: KeyRole,
    /// `false`: published in the DNSKEY set only (before it signs, or after it stopped).
    pub sign: bool,
    pub dnskey: DNSKEY,
    /// The key tag (RFC 4034 Appendix B).
    pub tag: u16,
    /// The private key (never shown).
    pub key: Arc<dyn SigningKey>,
    /// Its file's mode lets its group or everyone read it (warned about).
    pub readable_by_others: bool,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("file", &self.file)
            .field("role", &self.role)
            .field("sign", &self.sign)
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}
