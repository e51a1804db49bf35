//! DNS serving: the listeners and the query path.
//!
//! UDP runs on a crew of blocking threads per socket, one busy at ordinary rates and one per core
//! at saturation ([`udp`]); TCP runs on
//! tokio ([`tcp`]). Both answer through [`Handler`], which reads the published snapshot.
//! Plain queries are answered from pre-encoded records ([`fast`]); hickory-proto encodes and
//! decodes everything else ([`full`]), after [`admission`] (cookies, TSIG, the refusals, RRL).
//! The TCP loop hands zone transfers to a transfer service behind [`Transfers`].

mod admission;
pub mod budget;
mod conns;
pub(crate) mod context;
pub mod cookie;
mod encode;
pub mod encrypted;
pub(crate) mod fast;
pub mod fixture;
pub(crate) mod full;
mod handler;
pub mod lookup;
mod rrl;
mod secure;
pub(crate) mod tcp;
pub mod transfers;
pub mod udp;

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use tokio::net::TcpListener;
use tokio::task::JoinHandle as TaskHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use conns::TcpLimits;
pub use context::{MAX_UDP_PAYLOAD, Received, Transport};
pub use handler::Handler;
pub use rrl::{RrlConfig, loopback as rrl_loopback};
pub use transfers::{Transfer, Transfers};

/// How often a random port is tried when UDP and TCP must share it.
const PORT_TRIES: usize = 50;

/// A UDP socket and a TCP listener on the same address.
pub struct Listener {
    udp: UdpSocket,
    tcp: TcpListener,
    pub addr: SocketAddr,
}

/// How many UDP threads serve each address at most (one per core).
pub fn udp_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Binds UDP and TCP on `addr`; with port 0, one free port shared by both.
pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
    if addr.port() != 0 {
        let udp = udp::bind(addr)?;
        let addr = udp.local_addr()?;
        let tcp = tcp::bind(addr)?;
        return Ok(Listener { udp, tcp, addr });
    }
    let mut last = None;
    for _ in 0..PORT_TRIES {
        let udp = udp::bind(addr)?;
        let local = udp.local_addr()?;
        match tcp::bind(local) {
            Ok(tcp) => {
                return Ok(Listener {
                    udp,
                    tcp,
                    addr: local,
                });
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

/// The running listeners; [`Server::shutdown`] stops them.
pub struct Server {
    stop_udp: Arc<AtomicBool>,
    stop_tcp: CancellationToken,
    threads: Vec<JoinHandle<()>>,
    tasks: Vec<TaskHandle<()>>,
}

/// Starts serving on every listener; logs `listening on udp|tcp ADDR` for each.
pub fn serve(handler: Handler, listeners: Vec<Listener>, tcp: TcpLimits) -> io::Result<Server> {
    let mut server = Server {
        stop_udp: Arc::new(AtomicBool::new(false)),
        stop_tcp: CancellationToken::new(),
        threads: Vec::new(),
        tasks: Vec::new(),
    };
    for l in listeners {
        let name = format!("gslbd-udp{}", server.tasks.len());
        server.threads.extend(udp::spawn(
            l.udp,
            handler.clone(),
            udp_threads(),
            server.stop_udp.clone(),
            &name,
        )?);
        info!("listening on udp {}", l.addr);
        info!("listening on tcp {}", l.addr);
        server.tasks.push(tokio::spawn(tcp::serve(
            l.tcp,
            handler.clone(),
            tcp,
            tcp::Plain,
            server.stop_tcp.clone(),
        )));
    }
    Ok(server)
}

/// How long shutdown waits for the UDP threads, which see the stop within their 100 ms read
/// timeout (and a batch of answers).
const UDP_JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// How often shutdown looks whether they are done.
const UDP_JOIN_POLL: std::time::Duration = std::time::Duration::from_millis(10);

impl Server {
    /// Stops accepting, finishes TCP queries in flight (bounded), and joins the UDP threads.
    pub async fn shutdown(self) {
        self.stop_tcp.cancel();
        for t in self.tasks {
            if let Err(e) = t.await {
                warn!(error = %e, "tcp listener task failed");
            }
        }
        self.stop_udp.store(true, Ordering::Relaxed);
        // Joined once finished, without starting a thread to wait on them: a process that
        // can start no more threads (RLIMIT_NPROC, a pids cgroup) still stops cleanly.
        let mut threads = self.threads;
        let deadline = tokio::time::Instant::now() + UDP_JOIN_TIMEOUT;
        while !threads.iter().all(|t| t.is_finished()) {
            if tokio::time::Instant::now() >= deadline {
                warn!(
                    left = threads.iter().filter(|t| !t.is_finished()).count(),
                    "udp threads still running at shutdown"
                );
                return;
            }
            tokio::time::sleep(UDP_JOIN_POLL).await;
        }
        if !threads.drain(..).all(|t| t.join().is_ok()) {
            warn!("a udp thread failed");
        }
    }
}

#[cfg(test)]
mod tests;
