//! Fake backends for probes: in-process loopback HTTP (or plain TCP) servers whose behaviour
//! a test flips at run time.
//!
//! HTTP connections are kept alive and every request is answered by the mode of the moment.
//! `Refuse` closes the listening socket (connections are refused) and every open connection,
//! and healing binds the same port again; `Hang` never answers; `Slow` answers after a delay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Healthy,
    Status(u16),
    WrongBody,
    Refuse,
    Hang,
    Slow(Duration),
}

pub struct Backend {
    rt: Runtime,
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    accept: Option<JoinHandle<()>>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// Plain TCP: accept and hold, no HTTP.
    raw_tcp: bool,
    /// Connections accepted so far.
    connections: Arc<AtomicUsize>,
    /// Requests whose User-Agent contains one of these get their connection dropped, as if
    /// the network between that prober and the backend had failed.
    blocked: Arc<Mutex<Vec<String>>>,
}

impl Backend {
    /// An HTTP backend that answers `200 OK` with body `ok` on any path.
    pub fn http() -> Backend {
        Self::new(None, false)
    }

    /// A plain TCP backend (for tcp probes).
    pub fn tcp() -> Backend {
        Self::new(None, true)
    }

    /// An HTTPS backend with a fresh self-signed certificate for `localhost`.
    pub fn https() -> Backend {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
        let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der())
            .expect("key");
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("tls config");
        Self::new(
            Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))),
            false,
        )
    }

    fn new(tls: Option<tokio_rustls::TlsAcceptor>, raw_tcp: bool) -> Backend {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut b = Backend {
            rt,
            addr,
            mode: Arc::new(Mutex::new(Mode::Healthy)),
            accept: None,
            tls,
            raw_tcp,
            connections: Arc::new(AtomicUsize::new(0)),
            blocked: Arc::new(Mutex::new(Vec::new())),
        };
        b.serve(listener);
        b
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn set(&mut self, mode: Mode) {
        let was = self.mode();
        if let Ok(mut m) = self.mode.lock() {
            *m = mode;
        }
        if mode == Mode::Refuse && was != Mode::Refuse {
            if let Some(h) = self.accept.take() {
                h.abort();
                // Wait for the listener to be dropped so the port refuses from here on.
                let _ = self.rt.block_on(h);
            }
        } else if mode != Mode::Refuse && was == Mode::Refuse {
            let listener = self.rt.block_on(bind_again(self.addr));
            self.serve(listener);
        }
    }

    /// Drops the requests of probers whose User-Agent contains `agent` (one vantage's path to
    /// the backend fails; the others' still works). An empty list heals it.
    pub fn block_agents(&self, agents: &[&str]) {
        if let Ok(mut b) = self.blocked.lock() {
            *b = agents.iter().map(|a| a.to_string()).collect();
        }
    }

    /// How many connections the backend has accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn mode(&self) -> Mode {
        self.mode.lock().map(|m| *m).unwrap_or(Mode::Healthy)
    }

    fn serve(&mut self, listener: TcpListener) {
        let (mode, tls, raw) = (self.mode.clone(), self.tls.clone(), self.raw_tcp);
        let connections = self.connections.clone();
        let blocked = self.blocked.clone();
        self.accept = Some(self.rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                connections.fetch_add(1, Ordering::Relaxed);
                let (mode, tls, blocked) = (mode.clone(), tls.clone(), blocked.clone());
                tokio::spawn(async move {
                    if raw {
                        if mode.lock().map(|m| *m).unwrap_or(Mode::Healthy) == Mode::Hang {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        return;
                    }
                    match tls {
                        Some(acceptor) => {
                            if let Ok(s) = acceptor.accept(stream).await {
                                respond(s, mode, blocked).await;
                            }
                        }
                        None => respond(stream, mode, blocked).await,
                    }
                });
            }
        }));
    }
}

async fn bind_again(addr: SocketAddr) -> TcpListener {
    for _ in 0..100 {
        if let Ok(l) = TcpListener::bind(addr).await {
            return l;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("could not bind {addr} again");
}

/// Serves HTTP/1.1 requests on one connection until the client closes it, each answered as
/// the backend's mode says at the time it arrives (a kept-alive connection sees a change).
/// `Refuse` closes the connection, as a stopped process would.
async fn respond<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    mode: Arc<Mutex<Mode>>,
    blocked: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    loop {
        let end = loop {
            if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            if seen.len() > 64 * 1024 {
                return;
            }
        };
        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
        seen.drain(..end);
        let agent = head
            .lines()
            .find_map(|l| l.strip_prefix("user-agent:"))
            .unwrap_or("")
            .to_string();
        let dropped = blocked
            .lock()
            .map(|b| b.iter().any(|a| agent.contains(&a.to_ascii_lowercase())))
            .unwrap_or(false);
        if dropped {
            return;
        }
        let (status, body) = match mode.lock().map(|m| *m).unwrap_or(Mode::Healthy) {
            Mode::Healthy => (200, "ok"),
            Mode::Status(code) => (code, "nope"),
            Mode::WrongBody => (200, "maintenance"),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Mode::Slow(d) => {
                tokio::time::sleep(d).await;
                (200, "ok")
            }
            Mode::Refuse => return,
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: text/plain\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}
