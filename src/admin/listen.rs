//! The admin listener: accepts HTTP/1.1 connections within a cap, with a header-read (and
//! keep-alive idle) timeout and a lifetime per connection, and drains them at shutdown.
//!
//! The cap keeps idle or slow admin clients from taking the file descriptors the probes need:
//! a connection over the cap is answered 503 at once and closed. One source holds at most
//! `max_per_source` connections, and when every general slot is taken, [`RESERVED`] more admit
//! only health checks (`/healthz`, `/readyz`) and cluster peers (`/cluster/verdicts`): a
//! liveness probe or a peer never fails because of other clients. A reserved slot goes only to
//! a request whose whole head arrived within a second, at most [`RESERVED_PER_SOURCE`] to one
//! source (also to a source at its own cap: the health checker's address is often a busy
//! one), and serves that one request: unfinished or kept-alive requests cannot hold them. At
//! most [`PENDING`] connections wait to be told apart; a newcomer past them closes the one
//! waiting longest, so the listener never holds more than `max_connections` + [`BEYOND_CAP`]
//! descriptors and a health check, whose head arrives at once, is read before any flood can
//! push it out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Open connections from one address at most.
    pub max_per_source: usize,
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
            max_per_source: 8,
            header_timeout: Duration::from_secs(3),
            lifetime: Duration::from_secs(300),
        }
    }
}

/// Connections beyond the cap kept for health checks and cluster peers.
pub const RESERVED: usize = 8;
/// Connections beyond the caps that may wait (at most [`REQUEST_HEAD_WAIT`]) to be told apart;
/// a newcomer past them closes the one waiting longest.
pub const PENDING: usize = 16;
/// The admin connections beyond `max_connections`: reserved and waiting.
pub const BEYOND_CAP: usize = RESERVED + PENDING;
/// Reserved connections (waiting or served) one source may hold.
pub const RESERVED_PER_SOURCE: usize = 2;
/// How long a connection over the cap may take to send its request head.
const REQUEST_HEAD_WAIT: Duration = Duration::from_secs(1);
/// The longest request head a reserved slot reads (a health check's is well under this).
const REQUEST_HEAD_MAX: usize = 2048;
/// The paths the reserved connections serve.
const PRIORITY: [&str; 3] = ["/healthz", "/readyz", "/cluster/verdicts"];

/// Open connections per source address.
#[derive(Default)]
struct Sources(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of a source; counted until dropped.
struct Held {
    sources: Arc<Sources>,
    ip: IpAddr,
}

impl Sources {
    fn admit(self: &Arc<Self>, ip: IpAddr, cap: usize) -> Option<Held> {
        let mut map = self.0.lock().ok()?;
        let n = map.entry(ip).or_insert(0);
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Held {
            sources: self.clone(),
            ip,
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Ok(mut map) = self.sources.0.lock()
            && let Some(n) = map.get_mut(&self.ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The connections waiting to be told apart, oldest first. A newcomer is always let in; past
/// [`PENDING`] the one that has waited longest (a health check's head arrives at once, a
/// flood's never does) is closed to make room, so a flood from any number of addresses holds
/// at most [`PENDING`] descriptors here and can never turn a health check away unread.
#[derive(Default)]
struct Waiting {
    queue: Mutex<VecDeque<(u64, CancellationToken)>>,
    next: AtomicU64,
}

impl Waiting {
    /// Enters a connection; returns its id and the token that closes it when it is evicted.
    fn enter(&self) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        if let Ok(mut q) = self.queue.lock() {
            while q.len() >= PENDING {
                if let Some((_, oldest)) = q.pop_front() {
                    oldest.cancel();
                }
            }
            q.push_back((id, token.clone()));
        }
        (id, token)
    }

    /// The connection `id` was told apart (or evicted).
    fn leave(&self, id: u64) {
        if let Ok(mut q) = self.queue.lock() {
            q.retain(|(i, _)| *i != id);
        }
    }
}

/// Waits (at most [`REQUEST_HEAD_WAIT`]) for the whole request head, without consuming it;
/// true when it arrived and asks for a health check or a peer's verdicts.
async fn is_priority(stream: &TcpStream) -> bool {
    let mut buf = vec![0u8; REQUEST_HEAD_MAX];
    let head = tokio::time::timeout(REQUEST_HEAD_WAIT, async {
        loop {
            let n = stream.peek(&mut buf).await.unwrap_or(0);
            if n == 0 || n == buf.len() {
                return 0;
            }
            if let Some(end) = head_end(&buf[..n]) {
                return end;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or(0);
    let line = String::from_utf8_lossy(&buf[..head]);
    let line = line.lines().next().unwrap_or("");
    let mut words = line.split(' ');
    let (method, path) = (words.next(), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    method == Some("GET") && PRIORITY.contains(&path)
}

/// Where a request head ends (after its blank line), if it has.
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    crlf.into_iter().chain(lf).min()
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
    let reserved = Arc::new(Semaphore::new(RESERVED));
    let sources = Arc::new(Sources::default());
    let reserved_sources = Arc::new(Sources::default());
    let waiting = Arc::new(Waiting::default());
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
        let (stream, peer) = match accepted {
            Ok(a) => {
                backoff = Duration::from_millis(10);
                a
            }
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let lifetime = limits.lifetime;
        let ip = peer.ip().to_canonical();
        let general = sources
            .admit(ip, limits.max_per_source.max(1))
            .and_then(|held| Some((slots.clone().try_acquire_owned().ok()?, held)));
        if let Some(slot) = general {
            let io = TokioIo::new(super::rawerrors::JsonErrors::new(stream));
            let conn = graceful.watch(http.serve_connection(io, service));
            tokio::spawn(async move {
                finish(conn, lifetime).await;
                drop(slot);
            });
            continue;
        }
        // Every general slot is taken, or this source's share of them: a health check or a
        // peer may use a reserved slot, for that one request. At most PENDING connections wait
        // to be told apart, and one source has at most RESERVED_PER_SOURCE waiting or served;
        // the rest are refused at once, so no number of sources can hold more descriptors.
        let Some(mine) = reserved_sources.admit(ip, RESERVED_PER_SOURCE) else {
            debug!(source = %peer.ip(), "admin connection refused: at the caps");
            refuse(stream);
            continue;
        };
        let (id, evicted) = waiting.enter();
        let (reserved, watcher, waiting) = (reserved.clone(), graceful.watcher(), waiting.clone());
        let mut http = http.clone();
        http.keep_alive(false);
        tokio::spawn(async move {
            let priority = tokio::select! {
                p = is_priority(&stream) => p,
                _ = evicted.cancelled() => false,
            };
            waiting.leave(id);
            let Some(slot) = priority
                .then(|| reserved.try_acquire_owned().ok())
                .flatten()
            else {
                refuse(stream);
                return;
            };
            let io = TokioIo::new(super::rawerrors::JsonErrors::new(stream));
            let conn = watcher.watch(http.serve_connection(io, service));
            finish(conn, lifetime).await;
            drop((slot, mine));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Runs one connection to its end or its lifetime.
async fn finish<E: std::fmt::Display>(
    conn: impl std::future::Future<Output = Result<(), E>>,
    lifetime: Duration,
) {
    match tokio::time::timeout(lifetime, conn).await {
        Ok(Err(e)) => debug!(error = %e, "admin connection ended"),
        Err(_) => debug!("admin connection closed at its lifetime"),
        Ok(Ok(())) => {}
    }
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
