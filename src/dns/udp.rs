//! The UDP path: one socket per address, served by a crew of blocking threads (one per core)
//! that share it, with no lock and no task switch. Each thread keeps its buffers and RNG
//! ([`batch`]): it takes every query queued (up to [`BATCH`]) with one `recvmmsg`, answers them
//! with [`Respond::respond`] ([`Handler`] in the server) and sends the responses with one
//! `sendmmsg`, so under load one system call serves many queries.
//!
//! At ordinary rates one thread does all the work: the leader blocks for the next query, and
//! the others stay parked. Spreading the queries over a thread per core would split each burst
//! over more wakeups, each costing more than the answer (`bench/RESULTS.md`, "UDP receive").
//! When a batch comes back full, the queue is longer than one batch: the thread that took it
//! wakes one parked helper first, which takes batches from the same socket without blocking
//! while they come back full (waking the next helper in turn) and parks again at the first
//! short one. So CPU per query at moderate load is one thread's, and saturation uses every
//! core.
//!
//! A socket bound to a wildcard address (`0.0.0.0`, `[::]`) asks the kernel for each query's
//! destination address (`IP_PKTINFO`, `IPV6_RECVPKTINFO`) and answers from that address, so a
//! host with several addresses (anycast on `lo`, secondary IPs) never answers from another one,
//! which resolvers drop (RFC 5452 §3).

mod batch;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{setsockopt, sockopt};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::debug;

use super::context::Received;
use super::handler::Handler;
use batch::{BATCH, Batch};

/// What a UDP thread asks of each query: the response written into `out` (cleared first), or
/// `false` when nothing is to be sent. gslbd's [`Handler`]; `bench/floor.rs` plugs in an answer
/// that costs nothing to measure this transport alone.
pub trait Respond: Send + Sync + 'static {
    fn respond(&self, query: Received<'_>, rng: &mut SmallRng, out: &mut Vec<u8>) -> bool;
}

impl Respond for Handler {
    fn respond(&self, query: Received<'_>, rng: &mut SmallRng, out: &mut Vec<u8>) -> bool {
        Handler::respond(self, query, rng, out)
    }
}

/// How often a blocked or parked thread looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);
/// Kernel receive buffer: absorbs bursts while a thread is busy.
const SO_RCVBUF: usize = 4 << 20;

/// Binds one UDP socket on `addr` with `SO_REUSEPORT` (so siblings can share the port).
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    if addr.ip().is_unspecified() {
        if addr.is_ipv6() {
            setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?;
        } else {
            setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?;
        }
    }
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(SO_RCVBUF);
    socket.bind(&addr.into())?;
    socket.set_read_timeout(Some(STOP_CHECK))?;
    Ok(socket.into())
}

/// Binds `n` sockets sharing one port on `addr` (with port 0, the first picks it); returns them
/// and the address they share. The kernel spreads queries over them by source: `bench/floor.rs`
/// serves each with a one-thread crew to measure the design of a socket and thread per core.
pub fn bind_shared(addr: SocketAddr, n: usize) -> io::Result<(Vec<UdpSocket>, SocketAddr)> {
    let first = bind(addr)?;
    let local = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..n {
        all.push(bind(local)?);
    }
    Ok((all, local))
}

/// The threads serving one socket beyond its leader, and whether each is taking batches.
struct Crew {
    /// Set by whoever wakes a helper; cleared by the helper when it parks again.
    working: Box<[AtomicBool]>,
    /// The helpers' threads, known once they are all spawned.
    threads: OnceLock<Box<[Thread]>>,
}

impl Crew {
    /// Wakes one parked helper, if any is parked; called by a thread whose batch came back
    /// full, before it answers that batch.
    fn wake_one(&self) {
        let Some(threads) = self.threads.get() else {
            return;
        };
        for (working, thread) in self.working.iter().zip(threads.iter()) {
            if !working.load(Ordering::Relaxed)
                && working
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                thread.unpark();
                crate::telemetry::udp_helper_woken();
                return;
            }
        }
    }
}

/// Serves `socket` with `threads` threads (at least one, the leader) until `stop` is set; the
/// threads are named `NAME-0` (the leader) to `NAME-(threads-1)`.
pub fn spawn<H: Respond>(
    socket: UdpSocket,
    handler: H,
    threads: usize,
    stop: Arc<AtomicBool>,
    name: &str,
) -> io::Result<Vec<JoinHandle<()>>> {
    let (socket, handler) = (Arc::new(socket), Arc::new(handler));
    let helpers = threads.saturating_sub(1);
    let crew = Arc::new(Crew {
        working: (0..helpers).map(|_| AtomicBool::new(false)).collect(),
        threads: OnceLock::new(),
    });
    // On a failed start, the threads already started stop too.
    let start = |role: Option<usize>| {
        let (socket, handler, crew, flag) =
            (socket.clone(), handler.clone(), crew.clone(), stop.clone());
        std::thread::Builder::new()
            .name(format!("{name}-{}", role.map_or(0, |n| n + 1)))
            .spawn(move || serve(&socket, &*handler, &crew, role, &flag))
            .inspect_err(|_| stop.store(true, Ordering::Relaxed))
    };
    let mut handles = (0..helpers)
        .map(|n| start(Some(n)))
        .collect::<io::Result<Vec<_>>>()?;
    let _ = crew
        .threads
        .set(handles.iter().map(|h| h.thread().clone()).collect());
    handles.push(start(None)?);
    Ok(handles)
}

/// One thread of the crew. The leader (`helper` None) blocks for the next query, so one thread
/// carries every ordinary load; helper `n` is parked until a full batch wakes it, then takes
/// batches without blocking while they come back full.
fn serve<H: Respond>(
    socket: &UdpSocket,
    handler: &H,
    crew: &Crew,
    helper: Option<usize>,
    stop: &AtomicBool,
) {
    crate::sched::query_thread();
    let working = helper.and_then(|n| crew.working.get(n));
    let wildcard = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let mut batch = Batch::new(wildcard);
    let mut rng = SmallRng::from_os_rng();
    while !stop.load(Ordering::Relaxed) {
        if working.is_some_and(|w| !w.load(Ordering::Acquire)) {
            std::thread::park_timeout(STOP_CHECK);
            continue;
        }
        let received = match batch.receive(socket, working.is_none()) {
            Ok(n) => n,
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN | Errno::ETIMEDOUT) => 0,
            Err(e) => {
                debug!(error = %e, "udp receive failed");
                0
            }
        };
        if received == BATCH {
            crew.wake_one();
        } else if let Some(w) = working {
            w.store(false, Ordering::Release);
        }
        if received > 0 {
            batch.answer(received, handler, &mut rng);
            batch.send(socket, received);
        }
    }
}

#[cfg(test)]
mod tests;
