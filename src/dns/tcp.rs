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

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::conns::TcpLimits;
use super::conns::{Conn, Registry};
use super::context::{Received, Transport};
use super::handler::Handler;
use crate::wire::scan::HEADER_LEN;

/// How long shutdown waits for queries in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections the kernel queues before they are accepted.
const LISTEN_BACKLOG: i32 = 1024;
/// The read buffer of a connection: room for dozens of typical queries (a longer message is
/// read straight into its own buffer once this one is empty).
const READ_BUFFER: usize = 4096;
/// How long a closing connection may take to say so (a TLS close_notify).
const CLOSE_TIMEOUT: Duration = Duration::from_millis(200);
/// The least a zone transfer's message gets to be written: up to 64 KiB each, to a secondary
/// that may be far away, where a slow start can take several round trips. Only a configured
/// secondary's address gets it (a refusal to anyone else is written within the I/O timeout),
/// so this gives a slow-read flood nothing.
const TRANSFER_WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// The first and the longest pause after a failed accept.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// What an accepted connection becomes before its first message: plain TCP, or a TLS session
/// after its handshake (DoT, in `encrypted`).
pub(crate) trait Upgrade: Clone + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The transport its queries are answered as.
    const TRANSPORT: Transport;
    /// The stream to serve, or `None` when the connection is to be dropped.
    fn upgrade(&self, tcp: TcpStream) -> impl Future<Output = Option<Self::Stream>> + Send;
}

/// Plain TCP (port 53).
#[derive(Clone, Copy)]
pub(crate) struct Plain;

impl Upgrade for Plain {
    type Stream = TcpStream;
    const TRANSPORT: Transport = Transport::Tcp;
    async fn upgrade(&self, tcp: TcpStream) -> Option<TcpStream> {
        Some(tcp)
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
pub(crate) async fn serve<U: Upgrade>(
    listener: TcpListener,
    handler: Handler,
    limits: TcpLimits,
    upgrade: U,
    stop: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    let mut reg = Registry::new();
    let mut backoff = ACCEPT_BACKOFF.0;
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
                    let _ = stream.set_nodelay(true);
                    let conn = reg.conn(src.ip(), stop.child_token());
                    let (upgrade, handler, c) = (upgrade.clone(), handler.clone(), conn.clone());
                    let task = async move {
                        // A handshake counts as idle: a newcomer may close a stalled one.
                        let stream = tokio::select! {
                            _ = c.close.cancelled() => return,
                            s = upgrade.upgrade(stream) => s,
                        };
                        if let Some(stream) = stream {
                            connection(stream, src, handler, limits, c, U::TRANSPORT).await;
                        }
                    };
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

/// Serves one connection until it closes, then ends it cleanly (a TLS close_notify). Reads go
/// through a buffer of [`READ_BUFFER`] bytes: a length prefix and its message, and the queries
/// a client pipelines, come out of one read of the socket instead of three reads each.
async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    src: SocketAddr,
    handler: Handler,
    limits: TcpLimits,
    conn: Arc<Conn>,
    transport: Transport,
) {
    let mut stream = tokio::io::BufReader::with_capacity(READ_BUFFER, stream);
    messages(&mut stream, src, handler, limits, &conn, transport).await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
}

async fn messages<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    src: SocketAddr,
    handler: Handler,
    limits: TcpLimits,
    conn: &Conn,
    transport: Transport,
) {
    let mut rng = SmallRng::from_os_rng();
    let mut msg = Vec::new();
    let mut out = Vec::new();
    let mut frame = Vec::new();
    let end_of_life = Instant::now() + limits.lifetime;
    loop {
        // Between messages a shutdown or an eviction closes the connection; once a message
        // has started, it is read and answered.
        let wait = limits
            .idle_timeout
            .min(end_of_life.saturating_duration_since(Instant::now()));
        let first = tokio::select! {
            _ = conn.close.cancelled() => return,
            r = tokio::time::timeout(wait, stream.read_u8()) => r,
        };
        let Ok(Ok(hi)) = first else { return };
        let _busy = conn.start();
        match tokio::time::timeout(limits.io_timeout, read_message(stream, hi, &mut msg)).await {
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
        // Shorter than a header: nothing to answer and no client's mistake, so the connection
        // goes, as in Knot and NSD (a stream of `00 00` frames would otherwise cost nothing).
        if msg.len() < HEADER_LEN {
            debug!(%src, len = msg.len(), "tcp message shorter than a header; closing");
            return;
        }
        // Messages come out of the read buffer without touching the socket, and one that gets
        // no answer writes nothing: without this a client streaming such messages would keep
        // the worker from every other task for tens of milliseconds (review of #28).
        tokio::task::consume_budget().await;
        let query = Received {
            bytes: &msg,
            src,
            transport,
        };
        // Zone transfers are served on port 53 only, by the transfer service.
        let transfers = handler.transfers().filter(|_| transport == Transport::Tcp);
        let transfer = match transfers {
            Some(x) => x.transfer(&msg, src.ip()).await,
            None => None,
        };
        if let (Some(t), Some(x)) = (transfer, transfers) {
            let timeout = match x.is_secondary(src.ip()) {
                true => limits.io_timeout.max(TRANSFER_WRITE_TIMEOUT),
                false => limits.io_timeout,
            };
            for m in &t.messages {
                if !write_frame(stream, m, &mut frame, timeout, src).await {
                    return;
                }
            }
            continue;
        }
        if !handler.respond(query, &mut rng, &mut out) {
            continue;
        }
        if !write_frame(stream, &out, &mut frame, limits.io_timeout, src).await {
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
    let write = async {
        stream.write_all(frame).await?;
        stream.flush().await
    };
    match tokio::time::timeout(timeout, write).await {
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
pub(crate) async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    src: SocketAddr,
    handler: Handler,
) {
    let conn = Conn::detached(src.ip());
    let limits = TcpLimits::default();
    connection(stream, src, handler, limits, conn, Transport::Tcp).await;
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
mod tests;
