//! The UDP path: one blocking thread per socket, and one `SO_REUSEPORT` socket per core, so the
//! kernel spreads queries across threads with no lock and no task switch. Each thread keeps its
//! buffers and RNG. It waits for one query, takes every other one already queued in the same
//! `recvmmsg`, answers them all with [`Respond::respond`] ([`Handler`] in the server) and sends
//! the responses with one `sendmmsg`: under load, a system call serves many queries.
//!
//! A socket bound to a wildcard address (`0.0.0.0`, `[::]`) asks the kernel for each query's
//! destination address (`IP_PKTINFO`, `IPV6_RECVPKTINFO`) and answers from that address, so a
//! host with several addresses (anycast on `lo`, secondary IPs) never answers from another one,
//! which resolvers drop (RFC 5452 §3).

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg, setsockopt, sockopt,
};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use socket2::{Domain, Protocol, Socket, Type};
use tracing::debug;

use super::context::{Received, Transport};
use super::handler::Handler;

/// What a UDP thread asks of each query: the response written into `out` (cleared first), or
/// `false` when nothing is to be sent. gslbd's [`Handler`]; `bench/floor.rs` plugs in an answer
/// that costs nothing to measure this transport alone.
pub trait Respond: Send + 'static {
    fn respond(&self, query: Received<'_>, rng: &mut SmallRng, out: &mut Vec<u8>) -> bool;
}

impl Respond for Handler {
    fn respond(&self, query: Received<'_>, rng: &mut SmallRng, out: &mut Vec<u8>) -> bool {
        Handler::respond(self, query, rng, out)
    }
}

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
/// and the address they share.
pub fn bind_shared(addr: SocketAddr, n: usize) -> io::Result<(Vec<UdpSocket>, SocketAddr)> {
    let first = bind(addr)?;
    let local = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..n {
        all.push(bind(local)?);
    }
    Ok((all, local))
}

/// Serves `socket` on its own thread until `stop` is set.
pub fn spawn<H: Respond>(
    socket: UdpSocket,
    handler: H,
    stop: Arc<AtomicBool>,
    n: usize,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("gslbd-udp-{n}"))
        .spawn(move || run(&socket, &handler, &stop))
}

fn run<H: Respond>(socket: &UdpSocket, handler: &H, stop: &AtomicBool) {
    let wildcard = socket.local_addr().is_ok_and(|a| a.ip().is_unspecified());
    let mut batch = Batch::new(wildcard);
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

/// The local address a query arrived at, on a wildcard socket: the response's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Local {
    V4(Ipv4Addr),
    /// The address and the interface (a link-local address needs it).
    V6(Ipv6Addr, u32),
}

impl Local {
    fn of(cmsg: ControlMessageOwned) -> Option<Local> {
        match cmsg {
            ControlMessageOwned::Ipv4PacketInfo(i) => {
                Some(Local::V4(Ipv4Addr::from(u32::from_be(i.ipi_addr.s_addr))))
            }
            ControlMessageOwned::Ipv6PacketInfo(i) => Some(Local::V6(
                Ipv6Addr::from(i.ipi6_addr.s6_addr),
                i.ipi6_ifindex,
            )),
            _ => None,
        }
    }
}

/// The control message that sets a response's source address.
enum Source {
    V4(libc::in_pktinfo),
    V6(libc::in6_pktinfo),
}

impl Source {
    fn of(local: Local) -> Source {
        match local {
            // The interface is left to routing; the source address is what matters.
            Local::V4(addr) => Source::V4(libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(addr).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            }),
            Local::V6(addr, ifindex) => Source::V6(libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: addr.octets(),
                },
                ipi6_ifindex: ifindex,
            }),
        }
    }

    fn cmsg(&self) -> ControlMessage<'_> {
        match self {
            Source::V4(i) => ControlMessage::Ipv4PacketInfo(i),
            Source::V6(i) => ControlMessage::Ipv6PacketInfo(i),
        }
    }
}

/// One datagram received: its length, its source (raw and as a `SocketAddr`), and where it
/// arrived.
type Arrived = (usize, Option<(SockaddrStorage, SocketAddr)>, Option<Local>);

/// One thread's buffers: up to [`BATCH`] queries in, their responses out.
struct Batch {
    queries: Box<[[u8; RECV_BUFFER]; BATCH]>,
    /// Each query received: its length, its source as the kernel gave it (the response's
    /// destination) and as a `SocketAddr` (for the handler), and where it arrived (wildcard
    /// sockets only).
    received: Vec<Arrived>,
    responses: [Vec<u8>; BATCH],
    /// Where each response goes and where from; `None` when there is nothing to send.
    peers: [Option<SockaddrStorage>; BATCH],
    locals: [Option<Local>; BATCH],
    recv_headers: MultiHeaders<SockaddrStorage>,
    send_headers: MultiHeaders<SockaddrStorage>,
    /// Bound to a wildcard address: queries carry their destination address.
    wildcard: bool,
}

impl Batch {
    fn new(wildcard: bool) -> Self {
        // Room for one packet-info control message per datagram (the IPv6 one is the larger).
        let cmsg = || wildcard.then(|| nix::cmsg_space!(libc::in6_pktinfo));
        Batch {
            queries: Box::new([[0u8; RECV_BUFFER]; BATCH]),
            received: Vec::with_capacity(BATCH),
            responses: std::array::from_fn(|_| {
                Vec::with_capacity(usize::from(super::MAX_UDP_PAYLOAD))
            }),
            peers: [None; BATCH],
            locals: [None; BATCH],
            recv_headers: MultiHeaders::preallocate(BATCH, cmsg()),
            send_headers: MultiHeaders::preallocate(BATCH, cmsg()),
            wildcard,
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
            let local = if self.wildcard {
                msg.cmsgs().ok().and_then(|mut c| c.find_map(Local::of))
            } else {
                None
            };
            self.received.push((msg.bytes, src, local));
        }
        Ok(self.received.len())
    }

    /// Answers the first `n` queries received.
    fn answer<H: Respond>(&mut self, n: usize, handler: &H, rng: &mut SmallRng) {
        let slots = self
            .responses
            .iter_mut()
            .zip(&mut self.peers)
            .zip(&mut self.locals);
        for (((len, src, local), query), ((out, peer), to_local)) in self
            .received
            .iter()
            .zip(self.queries.iter())
            .zip(slots)
            .take(n)
        {
            *to_local = *local;
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

    /// Sends the responses to the first `n` queries, one `sendmmsg` per run of responses from
    /// the same local address (queries that get none split the runs). A response that cannot
    /// be sent is logged and skipped.
    fn send(&mut self, socket: &UdpSocket, n: usize) {
        let n = n.min(BATCH);
        let slices = self.responses.each_ref().map(|r| [IoSlice::new(r)]);
        let mut at = 0;
        while at < n {
            // Only a wildcard socket's responses carry a source address to set.
            let local = if self.wildcard { self.locals[at] } else { None };
            let run = if self.wildcard {
                self.peers[at..n]
                    .iter()
                    .zip(&self.locals[at..n])
                    .take_while(|(p, l)| p.is_some() && **l == local)
                    .count()
            } else {
                self.peers[at..n].iter().take_while(|p| p.is_some()).count()
            };
            if run == 0 {
                at += 1;
                continue;
            }
            let source = local.map(Source::of);
            let cmsg = source.as_ref().map(Source::cmsg);
            match sendmmsg(
                socket.as_raw_fd(),
                &mut self.send_headers,
                &slices[at..at + run],
                &self.peers[at..at + run],
                cmsg.as_slice(),
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
