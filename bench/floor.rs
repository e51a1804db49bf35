//! The floor of a UDP DNS server on this kernel: what answering costs when the answer costs
//! nothing. One `SO_REUSEPORT` socket and thread per core (as gslbd), each taking every queued
//! query with one `recvmmsg` and sending the replies with one `sendmmsg`; a reply is the
//! query's header and question with one fixed A record (owner pointing at the question) and
//! nothing else. No zone, no parsing past the question, no metrics: the CPU it uses per query
//! is the kernel's share, which every server on the sockets API pays (`bench/shapes.py` runs
//! it beside the servers as `floor`).
//!
//! Usage: `bench-floor PORT [THREADS]` on 127.0.0.1 (0 picks a port, printed on stdout).

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use socket2::{Domain, Protocol, Socket, Type};

const BATCH: usize = 16;
const BUFFER: usize = 4096;
/// The answer: owner a pointer to the question, A IN, TTL 30, 192.0.2.1.
const ANSWER: [u8; 16] = [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1];

fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_port(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

/// The reply to `query` in `out`; false for anything that is not one plain question.
fn reply(query: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Some(mut at) = query.get(12..).map(|_| 12) else {
        return false;
    };
    while let Some(&len) = query.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    let end = at + 4;
    let Some(question) = query.get(..end) else {
        return false;
    };
    out.extend_from_slice(question);
    out[2] |= 0x84; // QR, AA
    out[3] = 0;
    out[6..12].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
    out.extend_from_slice(&ANSWER);
    true
}

fn serve(socket: &UdpSocket) -> nix::Result<()> {
    let mut queries = vec![[0u8; BUFFER]; BATCH];
    let mut replies: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(512)).collect();
    let mut peers: Vec<Option<SockaddrStorage>> = vec![None; BATCH];
    let mut lens = [0usize; BATCH];
    let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    loop {
        let n = {
            let mut iovs: Vec<[IoSliceMut; 1]> =
                queries.iter_mut().map(|q| [IoSliceMut::new(q)]).collect();
            let mut n = 0;
            for (i, msg) in recvmmsg(
                socket.as_raw_fd(),
                &mut recv_headers,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            )?
            .enumerate()
            {
                peers[i] = msg.address;
                lens[i] = msg.bytes;
                n = i + 1;
            }
            n
        };
        let mut ready = 0;
        for i in 0..n {
            if peers[i].is_some() && reply(&queries[i][..lens[i]], &mut replies[i]) {
                replies.swap(ready, i);
                peers.swap(ready, i);
                ready += 1;
            }
        }
        let slices: Vec<[IoSlice; 1]> =
            replies[..ready].iter().map(|r| [IoSlice::new(r)]).collect();
        if ready > 0 {
            sendmmsg(
                socket.as_raw_fd(),
                &mut send_headers,
                &slices,
                &peers[..ready],
                [],
                MsgFlags::MSG_DONTWAIT,
            )?;
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let first = bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    let addr = first.local_addr()?;
    println!("{}", addr.port());
    let mut sockets = vec![first];
    for _ in 1..threads {
        sockets.push(bind(addr)?);
    }
    let handles: Vec<_> = sockets
        .into_iter()
        .map(|s| std::thread::spawn(move || serve(&s)))
        .collect();
    for h in handles {
        if let Ok(Err(e)) = h.join() {
            eprintln!("bench-floor: {e}");
        }
    }
    Ok(())
}
