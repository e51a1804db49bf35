//! Health probes: one check per kind (`http.rs` for http and https, `tcp.rs`), classified into
//! an [`Outcome`] (`outcome.rs`; health consumes it), and the scheduler that runs one task per
//! unique target.

mod http;
mod outcome;
mod scheduler;
mod tcp;

pub use outcome::Outcome;
pub use scheduler::{ProbeResult, Probers, STALL_FLOOR, TaskKey, first_result_within, stall_after};

use crate::zone::{ProbeKind, ProbeSpec};

/// Why a prober could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    #[error("cannot build HTTP client for {target}: {source}")]
    Client {
        target: String,
        source: reqwest::Error,
    },
    #[error("invalid probe URL {target}: {source}")]
    Target {
        target: String,
        source: url::ParseError,
    },
}

/// HTTP clients shared by every http(s) probe, one per (certificate checks, keep-alive)
/// pair. A keep-alive client pools idle connections per host and replaces a closed one
/// transparently; the other opens a fresh connection for every probe.
#[derive(Clone)]
pub struct Clients {
    /// Indexed by `[tls_verify][keepalive]`.
    by_mode: [[reqwest::Client; 2]; 2],
    /// The cluster name the User-Agent carries.
    instance: Option<String>,
}

impl Clients {
    /// Clients whose User-Agent names `instance` (the cluster name), when given, so a backend
    /// can tell the vantages of an NS set apart.
    pub fn new(instance: Option<&str>) -> Result<Self, ProbeError> {
        // reqwest is built without a default crypto provider; ring is ours. Installing twice
        // (tests, several servers in one process) is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pair = |verify| -> Result<_, ProbeError> {
            Ok([
                http::client(verify, false, None, instance)?,
                http::client(verify, true, None, instance)?,
            ])
        };
        Ok(Clients {
            by_mode: [pair(false)?, pair(true)?],
            instance: instance.map(String::from),
        })
    }

    /// The shared client for a spec's certificate and keep-alive settings.
    fn of(&self, spec: &ProbeSpec) -> &reqwest::Client {
        &self.by_mode[usize::from(spec.tls_verify)][usize::from(spec.keepalive)]
    }
}

/// A ready-to-run check for one target.
pub enum Prober {
    Http(Box<http::HttpProbe>),
    Tcp(tcp::TcpProbe),
}

impl Prober {
    pub fn new(spec: &ProbeSpec, clients: &Clients) -> Result<Self, ProbeError> {
        Ok(match spec.kind {
            ProbeKind::Http | ProbeKind::Https => {
                Prober::Http(Box::new(http::HttpProbe::new(spec, clients)?))
            }
            ProbeKind::Tcp => Prober::Tcp(tcp::TcpProbe::new(spec)),
        })
    }

    /// Runs one check, bounded by the spec's timeout.
    pub async fn check(&self, timeout: std::time::Duration) -> Outcome {
        let run = async {
            match self {
                Prober::Http(p) => p.check().await,
                Prober::Tcp(p) => p.check().await,
            }
        };
        tokio::time::timeout(timeout, run)
            .await
            .unwrap_or(Outcome::Timeout)
    }
}

/// Classifies an I/O error kind.
fn io_outcome(kind: std::io::ErrorKind) -> Option<Outcome> {
    use std::io::ErrorKind::*;
    match kind {
        ConnectionRefused => Some(Outcome::Refused),
        ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => Some(Outcome::Reset),
        TimedOut => Some(Outcome::Timeout),
        _ => None,
    }
}
