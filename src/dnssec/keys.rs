//! Zone signing keys: a new key as PKCS#8 (written as a PEM file only its owner may read), its
//! DNSKEY (flags 257: a CSK, zone key and secure entry point) and the DS (SHA-256) a parent
//! publishes for it.

use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::dnssec::{Algorithm, DigestType, SigningKey};
use hickory_proto::rr::Name;
use rustls::pki_types::PrivatePkcs8KeyDer;

/// The algorithms gslbd signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 with SHA-256 (algorithm 13), the default.
    EcdsaP256,
    /// Ed25519 (algorithm 15): deterministic signatures.
    Ed25519,
}

impl KeyAlgorithm {
    fn dnssec(self) -> Algorithm {
        match self {
            KeyAlgorithm::EcdsaP256 => Algorithm::ECDSAP256SHA256,
            KeyAlgorithm::Ed25519 => Algorithm::ED25519,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot make a key: {0}")]
    Crypto(String),
    #[error("{}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// The TTL the printed records carry (an hour, what registries commonly use for DS).
const TTL: u32 = 3600;

/// A new key: its PKCS#8 bytes, and the records a zone and its parent publish for it.
pub struct NewKey {
    pkcs8: PrivatePkcs8KeyDer<'static>,
    /// The apex DNSKEY record, in zone-file form.
    pub dnskey: String,
    /// The DS record (SHA-256) for the parent, in zone-file form.
    pub ds: String,
    /// The key tag (RFC 4034 Appendix B).
    pub key_tag: u16,
}

/// Makes a new key for `zone`.
pub fn generate(zone: &Name, algorithm: KeyAlgorithm) -> Result<NewKey, KeyError> {
    let crypto = |e: &dyn std::fmt::Display| KeyError::Crypto(e.to_string());
    let alg = algorithm.dnssec();
    let (pkcs8, public) = match algorithm {
        KeyAlgorithm::EcdsaP256 => {
            let der = EcdsaSigningKey::generate_pkcs8(alg).map_err(|e| crypto(&e))?;
            let key = EcdsaSigningKey::from_pkcs8(&der, alg).map_err(|e| crypto(&e))?;
            (der, key.to_public_key().map_err(|e| crypto(&e))?)
        }
        KeyAlgorithm::Ed25519 => {
            let der = Ed25519SigningKey::generate_pkcs8().map_err(|e| crypto(&e))?;
            let key = Ed25519SigningKey::from_pkcs8(&der).map_err(|e| crypto(&e))?;
            (der, key.to_public_key().map_err(|e| crypto(&e))?)
        }
    };
    let dnskey = DNSKEY::new(true, true, false, public);
    let key_tag = dnskey.calculate_key_tag().map_err(|e| crypto(&e))?;
    let owner = zone.to_ascii();
    Ok(NewKey {
        pkcs8,
        dnskey: format!("{owner} {TTL} IN DNSKEY {dnskey}"),
        ds: ds_text(zone, &dnskey, key_tag, TTL)?,
        key_tag,
    })
}

/// The DS record (SHA-256) of `dnskey` in `zone`, in zone-file form, for the parent.
pub fn ds_text(zone: &Name, dnskey: &DNSKEY, tag: u16, ttl: u32) -> Result<String, KeyError> {
    use hickory_proto::dnssec::Verifier;
    let digest = dnskey
        .to_digest(zone, DigestType::SHA256)
        .map_err(|e| KeyError::Crypto(e.to_string()))?;
    let ds = DS::new(
        tag,
        dnskey.algorithm(),
        DigestType::SHA256,
        digest.as_ref().to_vec(),
    );
    Ok(format!("{} {ttl} IN DS {ds}", zone.to_ascii()))
}

impl NewKey {
    /// Writes the key as a PEM file readable by its owner only; never replaces a file.
    pub fn write_pem(&self, path: &Path) -> Result<(), KeyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.pkcs8.secret_pkcs8_der());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        file.write_all(pem.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_key_reads_back_as_the_same_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = Name::from_ascii("gslb.example.").expect("name");
        for algorithm in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let key = generate(&zone, algorithm).expect("key");
            let path = dir.path().join(format!("{algorithm:?}.pem"));
            key.write_pem(&path).expect("write");
            let pem = std::fs::read_to_string(&path).expect("read");
            let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64");
            assert_eq!(der, key.pkcs8.secret_pkcs8_der(), "{algorithm:?}");
            let der = PrivatePkcs8KeyDer::from(der);
            let public = match algorithm {
                KeyAlgorithm::EcdsaP256 => EcdsaSigningKey::from_pkcs8(&der, algorithm.dnssec())
                    .expect("ecdsa")
                    .to_public_key(),
                KeyAlgorithm::Ed25519 => Ed25519SigningKey::from_pkcs8(&der)
                    .expect("ed25519")
                    .to_public_key(),
            }
            .expect("public key");
            let dnskey = DNSKEY::new(true, true, false, public);
            assert_eq!(dnskey.calculate_key_tag().expect("tag"), key.key_tag);
            assert!(key.write_pem(&path).is_err(), "never replaced");
        }
    }
}
