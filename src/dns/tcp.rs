//! The TCP path (RFC 7766): length-prefixed messages, several per connection, with the limits
//! an internet-facing server needs (RFC 7766 §6.2, RFC 9210; Knot's `tcp-max-clients` and
//! `tcp-io-timeout`, NSD's `tcp-count` and `tcp-timeout`):
//!
//! - a global and a per-source cap on open connections; when one is reached the connection
//!   idle longest is closed to make room, and when none is idle the new one is refused;
//! - an idle timeout between messages, an I/O timeout on reading a started message and on
//!   every write (a client that sends and never reads is dropped), and a lifetime after which
//!   the connection closes between messages;
//! - back-off when accepting fails (out of file descriptors), after closing the longest-idle
//!   connection to free one.
//!
//! Shutdown is graceful: the listener stops accepting, idle connections close, and a
//! connection in the middle of a query reads the rest of it, answers it, and then closes.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::{Id, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::handler::{Handler, Received, Transport};

/// How long shutdown waits for queries in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the kernel queues before they are accepted.
const LISTEN_BACKLOG: i32 = 1024;
/// The first and the longest pause after a failed accept.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Connection limits and timeouts (`gslbd serve --tcp-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open connections at most, over every source.
    pub max_clients: usize,
    /// Open connections at most from one source address.
    pub max_per_source: usize,
    /// A connection with no message started for this long is closed.
    pub idle_timeout: Duration,
    /// Reading the rest of a started message, and each write, must finish within this.
    pub io_timeout: Duration,
    /// A connection is closed between messages once it is this old.
    pub lifetime: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_clients: 1024,
            max_per_source: 64,
            idle_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(5),
            lifetime: Duration::from_secs(120),
        }
    }
}

/// What the accept loop knows of one open connection; the connection updates `idle` and
/// `last_active` itself, without a lock.
struct Conn {
    src: IpAddr,
    idle: AtomicBool,
    /// Milliseconds since the loop's start at the connection's last message.
    last_active: AtomicU64,
    /// Accept order: of two connections last active in the same millisecond, the older goes.
    seq: u64,
    close: CancellationToken,
}

/// Every open connection, owned by the accept loop alone.
struct Registry {
    start: Instant,
    conns: HashMap<Id, Arc<Conn>>,
    per_source: HashMap<IpAddr, usize>,
}

impl Registry {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn add(&mut self, id: Id, conn: Arc<Conn>) {
        *self.per_source.entry(conn.src).or_default() += 1;
        self.conns.insert(id, conn);
    }

    fn remove(&mut self, id: Id) {
        if let Some(c) = self.conns.remove(&id)
            && let Some(n) = self.per_source.get_mut(&c.src)
        {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&c.src);
            }
        }
    }

    /// Closes the connection idle longest (from `src` only, when given); false when none is
    /// idle.
    fn evict_idle(&mut self, src: Option<IpAddr>) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| c.idle.load(Ordering::Relaxed) && src.is_none_or(|s| c.src == s))
            .min_by_key(|(_, c)| (c.last_active.load(Ordering::Relaxed), c.seq))
            .map(|(id, _)| *id);
        let Some(id) = oldest else { return false };
        if let Some(c) = self.conns.get(&id) {
            c.close.cancel();
        }
        self.remove(id);
        true
    }

    /// Makes room for a connection from `src`; false when it must be refused.
    fn admit(&mut self, src: IpAddr, limits: &TcpLimits) -> bool {
        let from_src = self.per_source.get(&src).copied().unwrap_or(0);
        if from_src >= limits.max_per_source && !self.evict_idle(Some(src)) {
            return false;
        }
        self.conns.len() < limits.max_clients || self.evict_idle(None)
    }
}

/// Binds a TCP listener on `addr`; an IPv6 one is IPv6-only, as the UDP sockets are, so that
/// `0.0.0.0` and `[::]` can both be listened on.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections until `stop` fires, then waits (bounded) for queries in flight.
pub async fn serve(
    listener: TcpListener,
    handler: Handler,
    limits: TcpLimits,
    stop: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    let mut reg = Registry {
        start: Instant::now(),
        conns: HashMap::new(),
        per_source: HashMap::new(),
    };
    let mut backoff = ACCEPT_BACKOFF.0;
    let mut seq = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, src)) => {
                    backoff = ACCEPT_BACKOFF.0;
                    if !reg.admit(src.ip(), &limits) {
                        debug!(%src, "tcp connection refused: every connection is busy");
                        continue;
                    }
                    seq += 1;
                    let _ = stream.set_nodelay(true);
                    let conn = Arc::new(Conn {
                        src: src.ip(),
                        idle: AtomicBool::new(true),
                        last_active: AtomicU64::new(reg.now_ms()),
                        seq,
                        close: stop.child_token(),
                    });
                    let task = connection(stream, src, handler.clone(), limits, conn.clone(), reg.start);
                    let id = tasks.spawn(task).id();
                    reg.add(id, conn);
                }
                Err(e) => {
                    // Out of descriptors (EMFILE/ENFILE) or a passing error: free the
                    // longest-idle connection and pause, instead of spinning on accept.
                    warn!(error = %e, pause = ?backoff, "tcp accept failed");
                    reg.evict_idle(None);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                }
            },
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                };
                reg.remove(id);
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(
            left = tasks.len(),
            "tcp connections still open at shutdown; closing them"
        );
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    src: SocketAddr,
    handler: Handler,
    limits: TcpLimits,
    conn: Arc<Conn>,
    epoch: Instant,
) {
    let mut rng = SmallRng::from_os_rng();
    let mut msg = Vec::new();
    let mut out = Vec::new();
    let mut frame = Vec::new();
    let end_of_life = Instant::now() + limits.lifetime;
    loop {
        // Between messages a shutdown or an eviction closes the connection; once a message
        // has started, it is read and answered.
        conn.idle.store(true, Ordering::Relaxed);
        let wait = limits
            .idle_timeout
            .min(end_of_life.saturating_duration_since(Instant::now()));
        let first = tokio::select! {
            _ = conn.close.cancelled() => return,
            r = tokio::time::timeout(wait, stream.read_u8()) => r,
        };
        let Ok(Ok(hi)) = first else { return };
        conn.idle.store(false, Ordering::Relaxed);
        let now_ms = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        conn.last_active.store(now_ms, Ordering::Relaxed);
        match tokio::time::timeout(limits.io_timeout, read_message(&mut stream, hi, &mut msg)).await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(error = %e, %src, "tcp read failed");
                return;
            }
            Err(_) => {
                debug!(%src, "tcp read timed out");
                return;
            }
        }
        let query = Received {
            bytes: &msg,
            src,
            transport: Transport::Tcp,
        };
        if let Some(messages) = handler.transfer(&msg, src.ip()) {
            for m in messages {
                if !write_frame(&mut stream, &m, &mut frame, limits.io_timeout, src).await {
                    return;
                }
            }
            continue;
        }
        if !handler.respond(query, &mut rng, &mut out) {
            continue;
        }
        if !write_frame(&mut stream, &out, &mut frame, limits.io_timeout, src).await {
            return;
        }
        if Instant::now() >= end_of_life {
            return;
        }
    }
}

/// Writes one length-prefixed message (within `timeout`); false when the connection is done.
async fn write_frame<S: AsyncWrite + Unpin>(
    stream: &mut S,
    msg: &[u8],
    frame: &mut Vec<u8>,
    timeout: std::time::Duration,
    src: SocketAddr,
) -> bool {
    let Ok(len) = u16::try_from(msg.len()) else {
        return false;
    };
    frame.clear();
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(msg);
    match tokio::time::timeout(timeout, stream.write_all(frame)).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            debug!(error = %e, %src, "tcp write failed");
            false
        }
        Err(_) => {
            debug!(%src, "tcp write timed out: the client does not read");
            false
        }
    }
}

/// Serves one connection's byte stream until it ends (the fuzz target's way in): the same loop
/// as a real connection, with the default limits.
pub(super) async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    src: SocketAddr,
    handler: Handler,
) {
    let conn = Arc::new(Conn {
        src: src.ip(),
        idle: AtomicBool::new(true),
        last_active: AtomicU64::new(0),
        seq: 0,
        close: CancellationToken::new(),
    });
    connection(
        stream,
        src,
        handler,
        TcpLimits::default(),
        conn,
        Instant::now(),
    )
    .await;
}

/// Reads the rest of the length prefix (its first byte is `hi`) and the message.
async fn read_message<S: AsyncRead + Unpin>(
    stream: &mut S,
    hi: u8,
    msg: &mut Vec<u8>,
) -> io::Result<()> {
    let lo = stream.read_u8().await?;
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    msg.resize(len, 0);
    stream.read_exact(msg).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(src: &str, idle: bool, last: u64) -> Arc<Conn> {
        Arc::new(Conn {
            src: src.parse().expect("ip"),
            idle: AtomicBool::new(idle),
            last_active: AtomicU64::new(last),
            seq: last,
            close: CancellationToken::new(),
        })
    }

    #[tokio::test]
    async fn full_registry_closes_the_longest_idle_connection_first() {
        let limits = TcpLimits {
            max_clients: 3,
            max_per_source: 2,
            ..TcpLimits::default()
        };
        let mut set = JoinSet::new();
        let mut reg = Registry {
            start: Instant::now(),
            conns: HashMap::new(),
            per_source: HashMap::new(),
        };
        let a = conn("192.0.2.1", true, 5);
        let b = conn("192.0.2.1", true, 1);
        let c = conn("192.0.2.2", false, 0);
        for x in [&a, &b, &c] {
            let id = set.spawn(std::future::pending::<()>()).id();
            reg.add(id, x.clone());
        }
        // A third from 192.0.2.1: its own longest-idle (b) makes room.
        assert!(reg.admit("192.0.2.1".parse().expect("ip"), &limits));
        assert!(b.close.is_cancelled() && !a.close.is_cancelled());
        assert_eq!(reg.conns.len(), 2);
        // Room for one more in total without closing anything.
        assert!(reg.admit("192.0.2.3".parse().expect("ip"), &limits));
        let id = set.spawn(std::future::pending::<()>()).id();
        reg.add(id, conn("192.0.2.3", false, 9));
        // Full: the only idle one left (a) goes; then nothing is idle and a newcomer is refused.
        assert!(reg.admit("192.0.2.4".parse().expect("ip"), &limits));
        assert!(a.close.is_cancelled());
        let id = set.spawn(std::future::pending::<()>()).id();
        reg.add(id, conn("192.0.2.4", false, 10));
        assert!(!reg.admit("192.0.2.5".parse().expect("ip"), &limits));
        assert!(!c.close.is_cancelled(), "a busy connection is never closed");
        set.abort_all();
    }
}
