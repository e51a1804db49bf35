//! DNS serving: UDP and TCP listeners on hickory's `Server`, answering through [`Handler`].

mod handler;
pub mod lookup;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_server::Server;
use tokio::net::{TcpListener, UdpSocket};
use tracing::info;

pub use handler::{Handler, MAX_UDP_PAYLOAD};

/// Idle time after which a TCP connection is closed.
const TCP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a random port is tried when UDP and TCP must share it.
const PORT_TRIES: usize = 50;

/// A UDP socket and a TCP listener on the same address.
pub struct Listener {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    pub addr: SocketAddr,
}

/// Binds UDP and TCP on `addr`; with port 0, one free port shared by both.
pub async fn bind(addr: SocketAddr) -> io::Result<Listener> {
    if addr.port() != 0 {
        let udp = UdpSocket::bind(addr).await?;
        let tcp = TcpListener::bind(addr).await?;
        return Ok(Listener { udp, tcp, addr });
    }
    let mut last = None;
    for _ in 0..PORT_TRIES {
        let udp = UdpSocket::bind(addr).await?;
        let local = udp.local_addr()?;
        match TcpListener::bind(local).await {
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

/// Starts serving on every listener; logs `listening on udp|tcp ADDR` for each.
pub fn serve(handler: Handler, listeners: Vec<Listener>) -> Server<Handler> {
    let mut server = Server::new(handler);
    for l in listeners {
        info!("listening on udp {}", l.addr);
        info!("listening on tcp {}", l.addr);
        server.register_socket(l.udp);
        server.register_listener(l.tcp, TCP_TIMEOUT, 65_535);
    }
    server
}
