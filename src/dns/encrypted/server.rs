//! The encrypted listeners on hickory-server.
//!
//! hickory-server owns the encrypted connections (handshake, framing, its timeout); every query
//! is answered by [`Adapter`] through the same [`Handler`] as UDP and TCP, so each transport gives
//! the same answer, flags, ECS scope and cookies. The certificate and key are PEM files, re-read
//! when they change ([`Certs`]); a broken new pair keeps the old one and says why. At shutdown the
//! queries in flight are counted down (bounded by the grace period) before hickory-server stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use hickory_proto::op::{Header, HeaderCounts, Message, ResponseCode};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::{EncryptedConfig, EncryptedError};
use crate::dns::handler::{Handler, Received, Transport};

/// The certificate served, swapped when its files change.
#[derive(Debug)]
pub struct Certs {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for Certs {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Loads a PEM certificate chain and its private key, checking that they match.
fn load(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, der, &provider)
        .map_err(|e| format!("{} and {}: {e}", cert.display(), key.display()))
}

/// The files' modification times and sizes, to notice a change.
fn stamp(paths: [&Path; 2]) -> Option<[(SystemTime, u64); 2]> {
    let one = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    };
    Some([one(paths[0])?, one(paths[1])?])
}

impl Certs {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Certs>, EncryptedError> {
        let pair = load(cert, key).map_err(EncryptedError::Cert)?;
        Ok(Arc::new(Certs {
            current: ArcSwap::from_pointee(pair),
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        }))
    }

    /// Re-reads the files every second while they change; a pair that does not load keeps
    /// the one in use.
    fn watch(self: Arc<Self>, cancel: CancellationToken) {
        tokio::spawn(async move {
            let mut seen = stamp([&self.cert, &self.key]);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                let now = stamp([&self.cert, &self.key]);
                if now == seen {
                    continue;
                }
                seen = now;
                match load(&self.cert, &self.key) {
                    Ok(pair) => {
                        self.current.store(Arc::new(pair));
                        info!(cert = %self.cert.display(), "tls: certificate reloaded");
                    }
                    Err(e) => {
                        warn!(error = %e, "tls: the new certificate does not load; keeping the old one");
                    }
                }
            }
        });
    }
}

/// Queries being answered, and when the last one finished.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds after `epoch` when the last query finished.
    last_done: std::sync::atomic::AtomicU64,
    epoch: Instant,
}

impl Activity {
    fn new() -> Self {
        Activity {
            in_flight: AtomicUsize::new(0),
            last_done: std::sync::atomic::AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// True when no query is being answered and none finished within `quiet`.
    fn settled(&self, quiet: Duration) -> bool {
        let quiet = u64::try_from(quiet.as_millis()).unwrap_or(u64::MAX);
        self.in_flight.load(Ordering::Acquire) == 0
            && self
                .millis()
                .saturating_sub(self.last_done.load(Ordering::Acquire))
                >= quiet
    }
}

/// Counts a query in flight while it lives.
struct InFlight<'a>(&'a Activity);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.last_done.store(self.0.millis(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long the encrypted transports must be quiet before a shutdown closes them: a query a
/// client already sent (pipelined behind others, or just arrived) is still answered.
const QUIET: Duration = Duration::from_millis(200);

/// hickory-server's way into gslbd's query path.
pub struct Adapter {
    handler: Handler,
    activity: Arc<Activity>,
    max_in_flight: usize,
}

#[async_trait::async_trait]
impl RequestHandler for Adapter {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let n = self.activity.in_flight.fetch_add(1, Ordering::AcqRel);
        let _counted = InFlight(&self.activity);
        let builder = MessageResponseBuilder::from_message_request(request);
        let error = |rcode: ResponseCode| {
            let mut meta = request.metadata;
            meta.message_type = hickory_proto::op::MessageType::Response;
            meta.response_code = rcode;
            meta
        };
        if n >= self.max_in_flight {
            let meta = error(ResponseCode::Refused);
            let _ = response
                .send_response(builder.error_msg(&meta, ResponseCode::Refused))
                .await;
            return info(meta);
        }
        let transport = match request.protocol() {
            Protocol::Quic => Transport::Quic,
            _ => Transport::Tls,
        };
        let query = Received {
            bytes: request.as_slice(),
            src: request.src(),
            transport,
        };
        let mut out = Vec::with_capacity(512);
        let answered = self.handler.respond(query, &mut rand::rng(), &mut out);
        let Some(m) = answered.then(|| Message::from_vec(&out).ok()).flatten() else {
            let meta = error(ResponseCode::ServFail);
            if answered {
                let _ = response
                    .send_response(builder.error_msg(&meta, ResponseCode::ServFail))
                    .await;
            }
            return info(meta);
        };
        let mut resp = builder.build(
            m.metadata,
            m.answers.iter(),
            m.authorities.iter(),
            std::iter::empty(),
            m.additionals.iter(),
        );
        if let Some(edns) = &m.edns {
            resp.set_edns(edns);
        }
        match response.send_response(resp).await {
            Ok(i) => i,
            Err(e) => {
                tracing::debug!(error = %e, src = %request.src(), "encrypted response not sent");
                info(m.metadata)
            }
        }
    }
}

fn info(metadata: hickory_proto::op::Metadata) -> ResponseInfo {
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

/// The running encrypted listeners.
pub struct Encrypted {
    server: Server<Adapter>,
    activity: Arc<Activity>,
    stop_watch: CancellationToken,
}

/// Binds the listeners and starts serving them with `handler`.
pub async fn start(handler: Handler, cfg: &EncryptedConfig) -> Result<Encrypted, EncryptedError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certs = Certs::load(&cfg.cert, &cfg.key)?;
    let stop_watch = CancellationToken::new();
    certs.clone().watch(stop_watch.clone());
    let activity = Arc::new(Activity::new());
    let mut server = Server::new(Adapter {
        handler,
        activity: activity.clone(),
        max_in_flight: cfg.max_in_flight,
    });
    let bind_err = |addr| move |source| EncryptedError::Bind { addr, source };
    for &addr in &cfg.tls {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(bind_err(addr))?;
        let local = l.local_addr().map_err(bind_err(addr))?;
        server
            .register_tls_listener(l, cfg.timeout, certs.clone())
            .map_err(bind_err(addr))?;
        info!("listening on tls {local}");
    }
    for &addr in &cfg.quic {
        let s = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(bind_err(addr))?;
        let local = s.local_addr().map_err(bind_err(addr))?;
        server
            .register_quic_listener(s, cfg.timeout, certs.clone())
            .map_err(bind_err(addr))?;
        info!("listening on quic {local}");
    }
    Ok(Encrypted {
        server,
        activity,
        stop_watch,
    })
}

impl Encrypted {
    /// Answers the queries in flight and those already sent (until the transports have been
    /// quiet for [`QUIET`], at most `grace`), then stops the listeners; idle connections are
    /// closed and their clients reconnect elsewhere.
    pub async fn shutdown(mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while !self.activity.settled(QUIET) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop_watch.cancel();
        if let Err(e) = self.server.shutdown_gracefully().await {
            warn!(error = %e, "encrypted listeners stopped with an error");
        }
    }
}
