//! The UDP path: one blocking thread per socket, and one `SO_REUSEPORT` socket per core, so the
//! kernel spreads queries across threads with no lock and no task switch. Each thread keeps its
//! buffers and RNG. It waits for one query, takes every other one already queued in the same
//! `recvmmsg`, answers them all with [`Handler::respond`] and sends the responses with one
//! `sendmmsg`: under load, a system call serves many queries.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::debug;

use super::handler::{Handler, Received, Transport};

/// How often a blocked thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// How many datagrams one system call takes in or sends out.
const BATCH: usize = 16;
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
    let mut batch = Batch::new();
    let mut rng = SmallRng::from_os_rng();
    while !stop.load(Ordering::Relaxed) {
        let received = match batch.receive(socket) {
            Ok(n) => n,
            Err(Errno::EAGAIN | Errno::ETIMEDOUT | Errno::EINTR) => continue,
            Err(e) => {
                debug!(error = %e, "udp receive failed");
                continue;
            }
        };
        batch.answer(received, handler, &mut rng);
        batch.send(socket, received);
    }
}

/// One thread's buffers: up to [`BATCH`] queries in, their responses out.
struct Batch {
    queries: Box<[[u8; RECV_BUFFER]; BATCH]>,
    /// Each query received: its length, and its source as the kernel gave it (the response's
    /// destination) and as a `SocketAddr` (for the handler).
    received: Vec<(usize, Option<(SockaddrStorage, SocketAddr)>)>,
    responses: [Vec<u8>; BATCH],
    /// Where each response goes; `None` when there is nothing to send.
    peers: [Option<SockaddrStorage>; BATCH],
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
}

impl Batch {
    fn new() -> Self {
        Batch {
            queries: Box::new([[0u8; RECV_BUFFER]; BATCH]),
            received: Vec::with_capacity(BATCH),
            responses: std::array::from_fn(|_| {
                Vec::with_capacity(usize::from(super::MAX_UDP_PAYLOAD))
            }),
            peers: [None; BATCH],
            recv_headers: MultiHeaders::preallocate(BATCH, None),
            send_headers: MultiHeaders::preallocate(BATCH, None),
        }
    }

    /// Waits for at least one query, then takes every other one already queued.
    fn receive(&mut self, socket: &UdpSocket) -> nix::Result<usize> {
        self.received.clear();
        let mut iovs = self.queries.each_mut().map(|q| [IoSliceMut::new(q)]);
        let msgs = recvmmsg(
            socket.as_raw_fd(),
            &mut self.recv_headers,
            iovs.iter_mut(),
            MsgFlags::MSG_WAITFORONE,
            None,
        )?;
        for msg in msgs {
            let src = msg
                .address
                .and_then(|raw| socket_addr(&raw).map(|addr| (raw, addr)));
            self.received.push((msg.bytes, src));
        }
        Ok(self.received.len())
    }

    /// Answers the first `n` queries received.
    fn answer<R: rand::Rng>(&mut self, n: usize, handler: &Handler, rng: &mut R) {
        let slots = self.responses.iter_mut().zip(&mut self.peers);
        for (((len, src), query), (out, peer)) in self
            .received
            .iter()
            .zip(self.queries.iter())
            .zip(slots)
            .take(n)
        {
            *peer = match (src, query.get(..*len)) {
                (Some((raw, src)), Some(q)) => handler
                    .respond(
                        Received {
                            bytes: q,
                            src: *src,
                            transport: Transport::Udp,
                        },
                        rng,
                        out,
                    )
                    .then_some(*raw),
                _ => None,
            };
        }
    }

    /// Sends the responses to the first `n` queries, one `sendmmsg` per run of responses
    /// (queries that get none split the runs). A response that cannot be sent is logged and
    /// skipped.
    fn send(&mut self, socket: &UdpSocket, n: usize) {
        let n = n.min(BATCH);
        let slices = self.responses.each_ref().map(|r| [IoSlice::new(r)]);
        let mut at = 0;
        while at < n {
            let run = self.peers[at..n].iter().take_while(|p| p.is_some()).count();
            if run == 0 {
                at += 1;
                continue;
            }
            match sendmmsg(
                socket.as_raw_fd(),
                &mut self.send_headers,
                &slices[at..at + run],
                &self.peers[at..at + run],
                [],
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(sent) => at += sent.count().max(1),
                Err(Errno::EINTR) => {}
                Err(e) => {
                    debug!(error = %e, "udp send failed");
                    at += 1;
                }
            }
        }
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    addr.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}
