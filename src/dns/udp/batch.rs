//! One UDP thread's buffers and system calls: up to [`BATCH`] queries in with one `recvmmsg`,
//! their responses out with one `sendmmsg` per run of responses from the same local address.
//! On a wildcard socket each query's destination address (`IP_PKTINFO`, `IPV6_RECVPKTINFO`)
//! becomes its response's source.

use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg,
    sendmmsg,
};
use rand::rngs::SmallRng;
use tracing::debug;

use super::Respond;
use crate::dns::context::{Received, Transport};

/// How many datagrams one system call takes in or sends out.
pub(super) const BATCH: usize = 16;
/// Larger than any query gslbd answers. A longer datagram is cut to this size; what the
/// question and OPT record hold decides the answer, as for any datagram with bytes after them.
const RECV_BUFFER: usize = 4096;

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
pub(super) struct Batch {
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
    pub(super) fn new(wildcard: bool) -> Self {
        // Room for one packet-info control message per datagram (the IPv6 one is the larger).
        let cmsg = || wildcard.then(|| nix::cmsg_space!(libc::in6_pktinfo));
        Batch {
            queries: Box::new([[0u8; RECV_BUFFER]; BATCH]),
            received: Vec::with_capacity(BATCH),
            responses: std::array::from_fn(|_| {
                Vec::with_capacity(usize::from(crate::dns::MAX_UDP_PAYLOAD))
            }),
            peers: [None; BATCH],
            locals: [None; BATCH],
            recv_headers: MultiHeaders::preallocate(BATCH, cmsg()),
            send_headers: MultiHeaders::preallocate(BATCH, cmsg()),
            wildcard,
        }
    }

    /// Takes the queries queued on `socket`, up to [`BATCH`]: with `wait`, blocks for the first
    /// one (up to the socket's read timeout); without, returns `EAGAIN` when none is queued.
    pub(super) fn receive(&mut self, socket: &UdpSocket, wait: bool) -> nix::Result<usize> {
        self.received.clear();
        let mut iovs = self.queries.each_mut().map(|q| [IoSliceMut::new(q)]);
        let msgs = recvmmsg(
            socket.as_raw_fd(),
            &mut self.recv_headers,
            iovs.iter_mut(),
            if wait {
                MsgFlags::MSG_WAITFORONE
            } else {
                MsgFlags::MSG_DONTWAIT
            },
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
    pub(super) fn answer<H: Respond>(&mut self, n: usize, handler: &H, rng: &mut SmallRng) {
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
    pub(super) fn send(&mut self, socket: &UdpSocket, n: usize) {
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
