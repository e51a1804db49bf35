//! Reading a zone key: a PKCS#8 PEM file (as `gslbd keygen` writes it) into a signing key of
//! its algorithm (ECDSA P-256 or Ed25519, detected from the key), its DNSKEY and key tag, and
//! whether the file is readable by anyone but its owner.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::dnssec::crypto::{EcdsaSigningKey, Ed25519SigningKey};
use hickory_proto::dnssec::rdata::DNSKEY;
use hickory_proto::dnssec::{Algorithm, SigningKey};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;

use crate::zone::signing::{KeyRole, ZoneKey};

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read key file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error(
        "key file {path} holds no key gslbd signs with (a PKCS#8 ECDSA P-256 or Ed25519 key, as `gslbd keygen` writes)"
    )]
    Unsupported { path: String },
    #[error("key file {path}: {reason}")]
    Key { path: String, reason: String },
}

/// Reads the key in `path` for `role`.
pub fn load(path: &Path, role: KeyRole, sign: bool) -> Result<ZoneKey, LoadError> {
    let shown = path.display().to_string();
    let read = |reason: String| LoadError::Read {
        path: shown.clone(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| read(e.to_string()))?;
    let der = PrivatePkcs8KeyDer::from_pem_file(path).map_err(|e| read(e.to_string()))?;
    let key: Arc<dyn SigningKey> =
        if let Ok(k) = EcdsaSigningKey::from_pkcs8(&der, Algorithm::ECDSAP256SHA256) {
            Arc::new(k)
        } else if let Ok(k) = Ed25519SigningKey::from_pkcs8(&der) {
            Arc::new(k)
        } else {
            return Err(LoadError::Unsupported { path: shown });
        };
    let bad = |e: &dyn std::fmt::Display| LoadError::Key {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let public = key.to_public_key().map_err(|e| bad(&e))?;
    let entry_point = matches!(role, KeyRole::Csk | KeyRole::Ksk);
    let dnskey = DNSKEY::new(true, entry_point, false, public);
    let tag = dnskey.calculate_key_tag().map_err(|e| bad(&e))?;
    Ok(ZoneKey {
        file: path.to_path_buf(),
        role,
        sign,
        dnskey,
        tag,
        key,
        readable_by_others: meta.permissions().mode() & 0o077 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnssec::{KeyAlgorithm, generate};
    use hickory_proto::rr::Name;

    #[test]
    fn a_generated_key_loads_with_its_tag_and_role_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let zone = Name::from_ascii("gslb.example.").expect("name");
        for (i, algorithm) in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519]
            .into_iter()
            .enumerate()
        {
            let new = generate(&zone, algorithm).expect("key");
            let path = dir.path().join(format!("k{i}.pem"));
            new.write_pem(&path).expect("write");
            let csk = load(&path, KeyRole::Csk, true).expect("load");
            assert_eq!(csk.tag, new.key_tag, "{algorithm:?}");
            assert_eq!(csk.dnskey.flags(), 257);
            assert!(!csk.readable_by_others, "keygen writes 0600");
            let zsk = load(&path, KeyRole::Zsk, true).expect("load");
            assert_eq!(zsk.dnskey.flags(), 256);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(
                load(&path, KeyRole::Csk, true)
                    .expect("load")
                    .readable_by_others
            );
        }
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a key").expect("write");
        assert!(load(&junk, KeyRole::Csk, true).is_err());
        assert!(load(&dir.path().join("missing.pem"), KeyRole::Csk, true).is_err());
    }
}
