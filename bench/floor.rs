//! The floor of a UDP DNS server on this kernel: what answering costs when the answer costs
//! nothing. gslbd's own UDP transport (`gslbd::dns::udp`: `recvmmsg` in, one `sendmmsg` out)
//! with a responder that copies the query's header and question and appends one fixed A record
//! (owner pointing at the question). No zone, no parsing past the question, no metrics.
//! `bench/shapes.py` runs it beside the servers in three designs:
//!
//! - `floor-1` (`THREADS` = 1): one socket, one thread — the kernel's share of a query, which
//!   every server on the sockets API pays;
//! - `floor-crew` (`crew`): one socket, a thread per core, one busy at ordinary rates and the
//!   others woken by full batches — gslbd's design;
//! - `floor-reuseport` (`reuseport`): one `SO_REUSEPORT` socket and thread per core, each
//!   blocking for its own queries — the design gslbd had before.
//!
//! Usage: `bench-floor PORT [THREADS] [crew|reuseport]` on 127.0.0.1 (0 picks a port, printed
//! on stdout); THREADS defaults to the cores, the design to `crew`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use gslbd::dns::Received;
use gslbd::dns::udp::{self, Respond};
use rand::rngs::SmallRng;

/// The answer: owner a pointer to the question, A IN, TTL 30, 192.0.2.1.
const ANSWER: [u8; 16] = [0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1];
const HEADER: usize = 12;

struct Floor;

impl Respond for Floor {
    /// The header and question with QR and AA set, one answer and no other section; nothing
    /// for a datagram too short to hold a question.
    fn respond(&self, query: Received<'_>, _: &mut SmallRng, out: &mut Vec<u8>) -> bool {
        out.clear();
        let q = query.bytes;
        let mut at = HEADER;
        while let Some(&len) = q.get(at) {
            at += 1 + usize::from(len);
            if len == 0 {
                break;
            }
        }
        let Some(question) = q.get(..at + 4).filter(|_| at > HEADER) else {
            return false;
        };
        out.extend_from_slice(question);
        out[2] |= 0x84; // QR, AA
        out[3] = 0;
        out[6..HEADER].copy_from_slice(&[0, 1, 0, 0, 0, 0]);
        out.extend_from_slice(&ANSWER);
        true
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let threads: usize = args.next().and_then(|t| t.parse().ok()).unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let reuseport = match args.next().as_deref() {
        None | Some("crew") => false,
        Some("reuseport") => true,
        Some(other) => {
            eprintln!("bench-floor: unknown design {other} (crew or reuseport)");
            std::process::exit(2);
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // Runs until killed: nothing ever sets the stop flag.
    let stop = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    if reuseport {
        let (sockets, addr) = udp::bind_shared(addr, threads)?;
        println!("{}", addr.port());
        for (n, s) in sockets.into_iter().enumerate() {
            handles.extend(udp::spawn(s, Floor, 1, stop.clone(), &format!("floor{n}"))?);
        }
    } else {
        let socket = udp::bind(addr)?;
        println!("{}", socket.local_addr()?.port());
        handles.extend(udp::spawn(socket, Floor, threads, stop.clone(), "floor")?);
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
