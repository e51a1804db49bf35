//! The UDP path: one blocking thread per socket, and one `SO_REUSEPORT` socket per core, so the
//! kernel spreads queries across threads with no lock and no task switch. Each thread keeps its
//! buffers and RNG; a query costs one `recv_from`, one [`Handler::respond`] and one `send_to`.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::debug;

use super::handler::{Handler, Transport};

/// How often a blocked thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// Larger than any query gslbd answers (longer ones are truncated and get FORMERR).
const RECV_BUFFER: usize = 4096;
/// Kernel receive buffer: absorbs bursts while a thread is busy.
const SO_RCVBUF: usize = 4 << 20;

/// Binds one UDP socket on `addr` with `SO_REUSEPORT` (so siblings can share the port).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(SO_RCVBUF);
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(STOP_CHECK))?;
    Ok(socket.into())
}

/// Serves `socket` on its own thread until `stop` is set.
pub fn spawn(
    socket: UdpSocket,
    handler: Handler,
    stop: Arc<AtomicBool>,
    n: usize,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("gslbd-udp-{n}"))
        .spawn(move || run(&socket, &handler, &stop))
}

fn run(socket: &UdpSocket, handler: &Handler, stop: &AtomicBool) {
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut out = Vec::with_capacity(usize::from(super::MAX_UDP_PAYLOAD));
    let mut rng = SmallRng::from_os_rng();
    while !stop.load(Ordering::Relaxed) {
        let (len, src) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                debug!(error = %e, "udp receive failed");
                continue;
            }
        };
        let Some(query) = buf.get(..len) else {
            continue;
        };
        if handler.respond(query, src, Transport::Udp, &mut rng, &mut out)
            && let Err(e) = socket.send_to(&out, src)
        {
            debug!(error = %e, %src, "udp send failed");
        }
    }
}
