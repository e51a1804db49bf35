//! DNS over QUIC (RFC 9250) on quinn: each query on its own bidirectional stream, two-octet
//! length first, message ID 0; the answer on the same stream, which is then finished.
//!
//! Connections are limited as on TCP ([`Registry`]): a cap in total and per source, where a
//! handshake in progress, or else the connection idle longest (no stream in progress), makes
//! room and a newcomer is refused when every connection is busy. Only a validated address
//! (RFC 9000 §8.1) may make room: past a cap, an Initial without a Retry token gets a Retry, so
//! one-packet Initials from spoofed or throwaway addresses close no established connection. Handshakes run in their own tasks, bounded by the handshake
//! timeout, so one that never finishes holds up nobody else; a connection with no stream for
//! the idle timeout is closed, and one past its lifetime closes between queries. Shutdown stops
//! accepting, lets the streams in progress be answered (bounded), and closes every connection
//! with DOQ_NO_ERROR.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::{Endpoint, Incoming, RecvStream, SendStream, VarInt};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::EncryptedError;
use crate::dns::conns::{Conn, Registry, TcpLimits};
use crate::dns::context::{Received, Transport};
use crate::dns::handler::Handler;

/// RFC 9250 §4.3 error codes.
const DOQ_NO_ERROR: u32 = 0x0;
const DOQ_PROTOCOL_ERROR: u32 = 0x2;
const DOQ_REQUEST_CANCELLED: u32 = 0x3;
/// Streams a client may have open at once on one connection.
const MAX_STREAMS: u32 = 64;
/// A DNS message and its length prefix, at most.
const MAX_FRAME: usize = 2 + 65_535;
/// How long shutdown lets the closing connections tell their clients.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// A DoQ endpoint on `socket` with `tls` (ALPN `doq`, TLS 1.3).
pub fn endpoint(
    socket: std::net::UdpSocket,
    tls: rustls::ServerConfig,
    limits: &TcpLimits,
) -> Result<Endpoint, EncryptedError> {
    let addr = socket.local_addr().ok();
    let bind = |source| EncryptedError::Bind {
        addr: addr.unwrap_or_else(|| ([0, 0, 0, 0], 0).into()),
        source,
    };
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| EncryptedError::Cert(e.to_string()))?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .max_concurrent_bidi_streams(VarInt::from_u32(MAX_STREAMS))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .max_idle_timeout(limits.idle_timeout.try_into().ok())
        .datagram_receive_buffer_size(None);
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    server.transport_config(Arc::new(transport));
    Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server),
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(bind)
}

/// Accepts connections until `stop` fires, then lets them finish (bounded).
pub async fn serve(
    endpoint: Endpoint,
    handler: Handler,
    limits: TcpLimits,
    handshake: Duration,
    stop: CancellationToken,
) {
    let mut tasks = JoinSet::new();
    let mut reg = Registry::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let src = incoming.remote_address();
                // RFC 9000 §8.1: an address not proven yet closes nobody's connection. When a
                // cap is reached, its Initial gets a Retry (stateless); a client that returns
                // the token has proved its address and may make room like any other.
                if !incoming.remote_address_validated() && !reg.has_room(src.ip(), &limits) {
                    debug!(%src, "quic caps reached: Retry to validate the address");
                    if let Err(e) = incoming.retry() {
                        e.into_incoming().refuse();
                    }
                    continue;
                }
                if !reg.admit(src.ip(), &limits) {
                    debug!(%src, "quic connection refused: every connection is busy");
                    incoming.refuse();
                    continue;
                }
                let conn = reg.pending(src.ip(), stop.child_token());
                let task = connection(incoming, src, handler.clone(), limits, handshake, conn.clone());
                let id = tasks.spawn(task).id();
                reg.add(id, conn);
            }
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                reg.remove(match done {
                    Ok((id, ())) => id,
                    Err(e) => e.id(),
                });
            }
        }
    }
    endpoint.set_server_config(None);
    let drained = tokio::time::timeout(limits.io_timeout, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(
            left = tasks.len(),
            "quic connections still open at shutdown"
        );
    }
    endpoint.close(VarInt::from_u32(DOQ_NO_ERROR), b"");
    let _ = tokio::time::timeout(CLOSE_WAIT, endpoint.wait_idle()).await;
}

/// One connection: its handshake, then its streams until it closes.
async fn connection(
    incoming: Incoming,
    src: SocketAddr,
    handler: Handler,
    limits: TcpLimits,
    handshake: Duration,
    conn: Arc<Conn>,
) {
    let connecting = match incoming.accept() {
        Ok(c) => c,
        Err(e) => {
            debug!(%src, error = %e, "quic connection not accepted");
            return;
        }
    };
    // A handshake in progress is the first a newcomer closes to make room.
    let quic = tokio::select! {
        _ = conn.close.cancelled() => return,
        r = tokio::time::timeout(handshake, connecting) => match r {
            Ok(Ok(q)) => q,
            Ok(Err(e)) => {
                debug!(%src, error = %e, "quic handshake failed");
                return;
            }
            Err(_) => {
                debug!(%src, "quic handshake timed out");
                return;
            }
        },
    };
    conn.established();
    let end_of_life = Instant::now() + limits.lifetime;
    let mut streams = JoinSet::new();
    let mut idle_since = Instant::now();
    let code = loop {
        let quiet = streams.is_empty();
        let idle_end = (idle_since + limits.idle_timeout).min(end_of_life);
        tokio::select! {
            _ = conn.close.cancelled() => break DOQ_NO_ERROR,
            _ = tokio::time::sleep_until(idle_end), if quiet => break DOQ_NO_ERROR,
            accepted = quic.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    let task = answer(send, recv, src, handler.clone(), limits.io_timeout, conn.clone());
                    streams.spawn(task);
                }
                Err(e) => {
                    debug!(%src, error = %e, "quic connection ended");
                    return;
                }
            },
            Some(done) = streams.join_next(), if !quiet => {
                idle_since = Instant::now();
                if let Ok(Err(Protocol)) = done {
                    break DOQ_PROTOCOL_ERROR;
                }
                if idle_since >= end_of_life && streams.is_empty() {
                    break DOQ_NO_ERROR;
                }
            }
        }
    };
    if code == DOQ_NO_ERROR {
        // Queries already being answered are finished first.
        let _ = tokio::time::timeout(limits.io_timeout, async {
            while streams.join_next().await.is_some() {}
        })
        .await;
    }
    quic.close(VarInt::from_u32(code), b"");
}

/// A stream that breaks RFC 9250 §4.2: the connection is closed with DOQ_PROTOCOL_ERROR.
struct Protocol;

/// Reads one query from a stream and answers it on the same stream.
async fn answer(
    mut send: SendStream,
    mut recv: RecvStream,
    src: SocketAddr,
    handler: Handler,
    io_timeout: Duration,
    conn: Arc<Conn>,
) -> Result<(), Protocol> {
    let _busy = conn.start();
    let frame = match tokio::time::timeout(io_timeout, recv.read_to_end(MAX_FRAME)).await {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            debug!(%src, error = %e, "quic stream not read");
            let _ = send.reset(VarInt::from_u32(DOQ_REQUEST_CANCELLED));
            return Ok(());
        }
        Err(_) => {
            debug!(%src, "quic stream read timed out");
            let _ = send.reset(VarInt::from_u32(DOQ_REQUEST_CANCELLED));
            return Ok(());
        }
    };
    // The length prefix covers the rest of the stream, and the message ID is 0.
    let Some((len, msg)) = frame.split_first_chunk::<2>() else {
        return Err(Protocol);
    };
    if usize::from(u16::from_be_bytes(*len)) != msg.len() || msg.get(..2) != Some(&[0, 0]) {
        return Err(Protocol);
    }
    let query = Received {
        bytes: msg,
        src,
        transport: Transport::Quic,
    };
    let mut out = Vec::with_capacity(512);
    if !handler.respond(query, &mut rand::rng(), &mut out) {
        let _ = send.reset(VarInt::from_u32(DOQ_REQUEST_CANCELLED));
        return Ok(());
    }
    let Ok(len) = u16::try_from(out.len()) else {
        let _ = send.reset(VarInt::from_u32(DOQ_REQUEST_CANCELLED));
        return Ok(());
    };
    let mut reply = Vec::with_capacity(out.len() + 2);
    reply.extend_from_slice(&len.to_be_bytes());
    reply.extend_from_slice(&out);
    // Until the client has the whole answer: closing the connection (shutdown, eviction)
    // would discard what is still unacknowledged.
    let write = async {
        send.write_all(&reply).await.ok()?;
        send.finish().ok()?;
        send.stopped().await.ok()
    };
    if tokio::time::timeout(io_timeout, write)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        debug!(%src, "quic answer not sent");
    }
    Ok(())
}
