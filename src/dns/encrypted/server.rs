//! The encrypted listeners: DoT on gslbd's own TCP transport (the same connection limits,
//! timeouts, pipelining and graceful shutdown as port 53, with a TLS handshake first), DoQ on
//! quinn. Every query is answered by the same [`Handler`] as UDP and TCP, so each transport
//! gives the same answer, flags, ECS scope and cookies.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::certs::{Certs, server_config};
use super::{EncryptedConfig, EncryptedError, quic};
use crate::dns::context::Transport;
use crate::dns::handler::Handler;
use crate::dns::tcp::{self, Upgrade};

/// A DoT connection: the TLS handshake, bounded by the handshake timeout.
#[derive(Clone)]
struct Tls {
    acceptor: TlsAcceptor,
    handshake: Duration,
}

impl Upgrade for Tls {
    type Stream = TlsStream<TcpStream>;
    const TRANSPORT: Transport = Transport::Tls;

    async fn upgrade(&self, tcp: TcpStream) -> Option<Self::Stream> {
        let accept = self.acceptor.accept(tcp);
        match tokio::time::timeout(self.handshake, accept).await {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "tls handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!("tls handshake timed out");
                None
            }
        }
    }
}

/// The running encrypted listeners.
pub struct Encrypted {
    tasks: Vec<JoinHandle<()>>,
    stop: CancellationToken,
}

/// Binds the listeners and starts serving them with `handler`.
pub async fn start(handler: Handler, cfg: &EncryptedConfig) -> Result<Encrypted, EncryptedError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = Certs::load(&cfg.cert, &cfg.key)?;
    let stop = CancellationToken::new();
    let bind_err = |addr| move |source| EncryptedError::Bind { addr, source };
    let mut tasks = Vec::new();
    if !cfg.tls.is_empty() {
        let tls = Tls {
            acceptor: TlsAcceptor::from(Arc::new(server_config(certs.clone(), b"dot", false)?)),
            handshake: cfg.handshake_timeout,
        };
        for &addr in &cfg.tls {
            let l = tcp::bind(addr).map_err(bind_err(addr))?;
            let local = l.local_addr().map_err(bind_err(addr))?;
            let limits = crate::dns::TcpLimits {
                max_clients: cfg.dot_max_clients,
                ..cfg.limits
            };
            let task = tcp::serve(l, handler.clone(), limits, tls.clone(), stop.clone());
            tasks.push(tokio::spawn(task));
            info!("listening on tls {local}");
        }
    }
    for &addr in &cfg.quic {
        let socket = std::net::UdpSocket::bind(addr).map_err(bind_err(addr))?;
        let local = socket.local_addr().map_err(bind_err(addr))?;
        let tls = server_config(certs.clone(), b"doq", true)?;
        let endpoint = quic::endpoint(socket, tls, &cfg.limits)?;
        let task = quic::serve(
            endpoint,
            handler.clone(),
            cfg.limits,
            cfg.handshake_timeout,
            stop.clone(),
        );
        tasks.push(tokio::spawn(task));
        info!("listening on quic {local}");
    }
    certs.watch(stop.clone());
    Ok(Encrypted { tasks, stop })
}

impl Encrypted {
    /// Stops accepting; queries in progress are answered (bounded, as on TCP), idle
    /// connections are closed and their clients reconnect elsewhere.
    pub async fn shutdown(self) {
        self.stop.cancel();
        for t in self.tasks {
            if let Err(e) = t.await {
                warn!(error = %e, "an encrypted listener task failed");
            }
        }
    }
}
