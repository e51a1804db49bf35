//! The certificate of the encrypted listeners and their rustls configurations: PEM files,
//! re-read when they change ([`Certs`]); a broken new pair keeps the old one and says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::EncryptedError;

/// The certificate served, swapped when its files change.
#[derive(Debug)]
pub struct Certs {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Loads a PEM certificate chain and its private key, checking that they match.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, der, &provider)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))
}

/// The files' modification times and sizes, to notice a change.
fn stamp(paths: [&Path; 2]) -> Option<[(SystemTime, u64); 2]> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    Some([one(paths[0])?, one(paths[1])?])
}

impl Certs {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certs>, EncryptedError> {
        let pair = load(cert, key).map_err(EncryptedError::Cert)?;
        Ok(Arc::new(Certs {
            current: ArcSwap::from_pointee(pair),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }))
    }

    /// Re-reads the files every second while they change; a pair that does not load keeps
    /// the one in use.
    pub fn watch(self: Arc<Self>, cancel: CancellationToken) {
        tokio::spawn(async move {
            let mut seen = stamp([&self.cert, &self.key]);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let now = stamp([&self.cert, &self.key]);
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&self.cert, &self.key) {
                    Ok(pair) => {
                        self.current.store(Arc::new(pair));
                        info!(cert = %self.cert.display(), "tls: certificate reloaded");
                    }
                    Err(e) => {
                        warn!(error = %e, "tls: the new certificate does not load; keeping the old one");
                    }
                }
            }
        });
    }
}

/// A rustls server configuration serving `certs` with the ALPN protocol `alpn`; TLS 1.3 only
/// when `tls13_only` (QUIC).
pub fn server_config(
    certs: Arc<Certs>,
    alpn: &[u8],
    tls13_only: bool,
) -> Result<ServerConfig, EncryptedError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider);
    let builder = if tls13_only {
        builder.with_protocol_versions(&[&rustls::version::TLS13])
    } else {
        builder.with_safe_default_protocol_versions()
    };
    let mut config = builder
        .map_err(|e| EncryptedError::Cert(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}
