//! DNS over TLS (RFC 7858, ALPN `dot`) and over QUIC (RFC 9250), for resolvers that probe an
//! authoritative server's port 853 (RFC 9539): the settings here; the listeners in `server`
//! (DoT on gslbd's TCP transport with tokio-rustls, DoQ on quinn in `quic`), the certificate in
//! `certs`. They are the `encrypted` feature, on by default; the fuzz targets build without it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::TcpLimits;

#[cfg(feature = "encrypted")]
mod certs;
#[cfg(feature = "encrypted")]
mod quic;
#[cfg(feature = "encrypted")]
mod server;
#[cfg(feature = "encrypted")]
pub use certs::Certs;
#[cfg(feature = "encrypted")]
pub use server::{Encrypted, start};

/// What `--tls`, `--quic` and their certificate configure.
#[derive(Debug, Clone)]
pub struct EncryptedConfig {
    pub tls: Vec<SocketAddr>,
    pub quic: Vec<SocketAddr>,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The handshake limit of a connection.
    pub handshake_timeout: Duration,
    /// Connection caps and timeouts of each listener, as on TCP.
    pub limits: TcpLimits,
    /// The cap of each DoT listener: `limits.max_clients`, unless lowered to fit the open-files
    /// limit (DoQ connections take no descriptor of their own).
    pub dot_max_clients: usize,
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
        pub async fn shutdown(self) {}
    }
}
#[cfg(not(feature = "encrypted"))]
pub use disabled::{Encrypted, start};
