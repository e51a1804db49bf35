//! DNS over TLS (RFC 7858, ALPN `dot`) and over QUIC (RFC 9250), for resolvers that probe an
//! authoritative server's port 853 (RFC 9539): the settings here, the listeners on
//! hickory-server in `server` (the `encrypted` feature, on by default; the fuzz targets build
//! without it).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "encrypted")]
mod server;
#[cfg(feature = "encrypted")]
pub use server::{Certs, Encrypted, start};

/// What `--tls`, `--quic` and their certificate configure.
#[derive(Debug, Clone)]
pub struct EncryptedConfig {
    pub tls: Vec<SocketAddr>,
    pub quic: Vec<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Handshake and idle limit of a connection.
    pub timeout: Duration,
    /// Queries answered at once on the encrypted transports; more get REFUSED.
    pub max_in_flight: usize,
}

/// Why the encrypted listeners could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptedError {
    #[error("certificate: {0}")]
    Cert(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[cfg(not(feature = "encrypted"))]
mod disabled {
    use super::{EncryptedConfig, EncryptedError};
    use crate::dns::Handler;

    /// Never started: this build has no encrypted transports.
    pub struct Encrypted;

    pub async fn start(_: Handler, _: &EncryptedConfig) -> Result<Encrypted, EncryptedError> {
        Err(EncryptedError::Cert(
            "this gslbd was built without the `encrypted` feature (DoT/DoQ)".into(),
        ))
    }

    impl Encrypted {
        pub async fn shutdown(self, _grace: std::time::Duration) {}
    }
}
#[cfg(not(feature = "encrypted"))]
pub use disabled::{Encrypted, start};
