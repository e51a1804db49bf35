//! The TCP path (RFC 7766): length-prefixed messages, several per connection, an idle timeout.
//!
//! Shutdown is graceful: the listener stops accepting, idle connections close, and a
//! connection in the middle of a query reads the rest of it, answers it, and then closes.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::handler::{Handler, Received, Transport};

/// Idle time after which a connection is closed; also bounds reading one message.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for queries in flight.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts connections until `stop` fires, then waits (bounded) for queries in flight.
pub async fn serve(listener: TcpListener, handler: Handler, stop: CancellationToken) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, src)) => {
                    conns.spawn(connection(stream, src, handler.clone(), stop.clone()));
                }
                Err(e) => debug!(error = %e, "tcp accept failed"),
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(
            left = conns.len(),
            "tcp connections still open at shutdown; closing them"
        );
    }
}

async fn connection(
    mut stream: TcpStream,
    src: SocketAddr,
    handler: Handler,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let mut rng = SmallRng::from_os_rng();
    let mut msg = Vec::new();
    let mut out = Vec::new();
    let mut frame = Vec::new();
    loop {
        // Between messages a shutdown closes the connection; once a message has started, it
        // is read and answered.
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(IDLE_TIMEOUT, stream.read_u8()) => r,
        };
        let Ok(Ok(hi)) = first else { return };
        match tokio::time::timeout(IDLE_TIMEOUT, read_message(&mut stream, hi, &mut msg)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(error = %e, %src, "tcp read failed");
                return;
            }
            Err(_) => return,
        }
        let query = Received {
            bytes: &msg,
            src,
            transport: Transport::Tcp,
        };
        if !handler.respond(query, &mut rng, &mut out) {
            continue;
        }
        let Ok(len) = u16::try_from(out.len()) else {
            return;
        };
        frame.clear();
        frame.extend_from_slice(&len.to_be_bytes());
        frame.extend_from_slice(&out);
        if let Err(e) = stream.write_all(&frame).await {
            debug!(error = %e, %src, "tcp write failed");
            return;
        }
    }
}

/// Reads the rest of the length prefix (its first byte is `hi`) and the message.
async fn read_message(stream: &mut TcpStream, hi: u8, msg: &mut Vec<u8>) -> io::Result<()> {
    let lo = stream.read_u8().await?;
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    msg.resize(len, 0);
    stream.read_exact(msg).await?;
    Ok(())
}
