//! The admin listener: accepts HTTP/1.1 connections within a cap, with a header-read (and
//! keep-alive idle) timeout and a lifetime per connection, and drains them at shutdown.
//!
//! The cap keeps idle or slow admin clients from taking the file descriptors the probes need:
//! a connection over the cap is answered 503 at once and closed.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

/// Limits of the admin listener.
#[derive(Debug, Clone, Copy)]
pub struct AdminLimits {
    /// Open connections at most; more are answered 503 and closed.
    pub max_connections: usize,
    /// A request's headers, and the next request on a kept-alive connection, must arrive
    /// within this.
    pub header_timeout: Duration,
    /// A connection is closed once it is this old (a client that never reads its response).
    pub lifetime: Duration,
}

impl Default for AdminLimits {
    fn default() -> Self {
        AdminLimits {
            max_connections: 32,
            header_timeout: Duration::from_secs(10),
            lifetime: Duration::from_secs(300),
        }
    }
}

/// What a connection over the cap is told before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
content-length: 55\r\nconnection: close\r\nretry-after: 1\r\n\r\n\
{\"error\":\"too many admin connections, try again later\"}";

/// Serves `app` on `listener` until `cancel`, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: AdminLimits,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut backoff = Duration::from_millis(10);
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(10);
                stream
            }
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refuse(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let io = TokioIo::new(super::rawerrors::JsonErrors::new(stream));
        let conn = graceful.watch(http.serve_connection(io, service));
        let lifetime = limits.lifetime;
        tokio::spawn(async move {
            match tokio::time::timeout(lifetime, conn).await {
                Ok(Err(e)) => debug!(error = %e, "admin connection ended"),
                Err(_) => debug!("admin connection closed at its lifetime"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers 503 without waiting (the socket buffer of a new connection has room) and closes.
/// What the client already sent is read first, so that the close is a FIN the client reads
/// after the 503, not a reset that discards it.
fn refuse(stream: TcpStream) {
    debug!("admin connection refused: at the cap");
    let mut sink = [0u8; 4096];
    while matches!(stream.try_read(&mut sink), Ok(n) if n > 0) {}
    let _ = stream.try_write(BUSY);
    if let Ok(s) = stream.into_std() {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
}
