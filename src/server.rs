//! `gslbd serve` put together: it loads the zones, binds the listeners, starts the probes and
//! the engine, joins the transfer service to the DNS transports, and runs until the shutdown
//! future completes. The one module that names every other (the crate root only declares
//! them).

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::{admin, config, cutover, dns, engine, probe, state, telemetry, watch, wire, xfr};
use tracing::{info, warn};

/// What `gslbd serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub zones: PathBuf,
    pub listen: Vec<SocketAddr>,
    /// The admin HTTP API address (`None`: no admin API).
    pub admin: Option<SocketAddr>,
    /// Bearer token for mutating admin endpoints.
    pub admin_token: Option<String>,
    /// Token for the admin reads (the page, status, explain, metrics), when they are not open.
    pub admin_read_token: Option<String>,
    /// Host names the admin API answers to besides IP addresses and `localhost`.
    pub admin_hosts: Vec<String>,
    /// Admin listener connection cap and timeouts.
    pub admin_limits: admin::AdminLimits,
    /// Where operator overrides are kept (default: `.gslbd-state.json` in the zones directory).
    pub state_file: Option<PathBuf>,
    /// Reload when a zone file in `zones` changes.
    pub watch: bool,
    /// TCP connection limits and timeouts.
    pub tcp: dns::TcpLimits,
    /// The DNS Cookie secret(s), shared by the instances of an NS set; random when `None`.
    pub cookie_secret_file: Option<PathBuf>,
    /// Answer BADCOOKIE over UDP to a client cookie without a valid server cookie.
    pub require_cookies: bool,
    /// UDP response rate limiting.
    pub rrl: dns::RrlConfig,
    /// Health consensus with the rest of the NS set (`[cluster]` in `gslbd.toml`).
    pub cluster: Option<config::instance::ClusterConfig>,
    /// Zone transfers to secondaries (`[transfer]` in `gslbd.toml`).
    pub transfer: Option<xfr::TransferConfig>,
    /// DNS over TLS and QUIC (`--tls`, `--quic`).
    pub encrypted: Option<dns::encrypted::EncryptedConfig>,
}

/// Why serving could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] config::ConfigErrors),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the DNS threads")]
    Threads(#[source] std::io::Error),
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("the admin API on {0} is not loopback: set --admin-token-file")]
    AdminNeedsToken(SocketAddr),
    #[error("--admin-read-token-file needs --admin-token-file (otherwise changes would be open)")]
    ReadTokenAlone,
    #[error(
        "[cluster] needs the admin API: peers poll this instance's verdicts there (--admin off leaves them without its vote)"
    )]
    ClusterNeedsAdmin,
    #[error("the {which} token {source}")]
    Token {
        which: &'static str,
        source: admin::guard::TokenError,
    },
    #[error(transparent)]
    Watch(#[from] watch::WatchError),
    #[error("dnssec: {0}")]
    Sign(String),
    #[error("cookie secret: {0}")]
    CookieSecret(String),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error(transparent)]
    Encrypted(#[from] dns::encrypted::EncryptedError),
    #[error(
        "[transfer] keeps the last serial of each zone in the state file, which cannot be written: {0}"
    )]
    SerialsNotSaved(String),
    #[error("[transfer] notify_source {addr}: not an address of this host")]
    NotifySource {
        addr: std::net::IpAddr,
        source: std::io::Error,
    },
}

/// Serves the zones in `cfg.zones` until `shutdown` completes. SIGHUP reloads the zones, and so
/// does a change to a zone file with `cfg.watch`.
pub async fn serve(
    mut cfg: ServeConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    if let Some(addr) = cfg.admin
        && !addr.ip().is_loopback()
        && cfg.admin_token.is_none()
    {
        return Err(ServeError::AdminNeedsToken(addr));
    }
    if cfg.admin_read_token.is_some() && cfg.admin_token.is_none() {
        return Err(ServeError::ReadTokenAlone);
    }
    if cfg.admin.is_none() && cfg.cluster.is_some() {
        return Err(ServeError::ClusterNeedsAdmin);
    }
    for (which, token) in [
        ("admin", &cfg.admin_token),
        ("admin read", &cfg.admin_read_token),
    ] {
        if let Some(t) = token {
            admin::guard::check_token(t).map_err(|source| ServeError::Token { which, source })?;
        }
    }
    let open_files = dns::budget::raise_limit();
    let secrets =
        dns::cookie::load(cfg.cookie_secret_file.as_ref()).map_err(ServeError::CookieSecret)?;
    let cookies: dns::cookie::Shared = Arc::new(arc_swap::ArcSwap::from_pointee(secrets));
    let cluster = cfg.cluster.clone().map(Arc::new);
    let mut zones = config::load_dir(&cfg.zones)?;
    zones.timing = cutover::Timing {
        consensus: cluster
            .as_ref()
            .map_or(std::time::Duration::ZERO, |c| c.delay()),
        secondary: cfg.transfer.as_ref().map(xfr::TransferConfig::timing),
    };
    let zones = Arc::new(zones);
    if let Some(limit) = open_files {
        fit_open_files(&mut cfg, limit, zones.targets.len());
    }
    let state_file = state::resolve(
        &cfg.state_file
            .clone()
            .unwrap_or_else(|| cfg.zones.join(".gslbd-state.json")),
    );
    let state_lock = state::lock(&state_file)?;
    let saved = state::load_or_set_aside(&state_file);
    if let Some(t) = &cfg.transfer {
        // Serials must survive a restart: a state file that cannot be written would let a
        // restart publish a serial twice.
        state::save(&state_file, &saved).map_err(|e| {
            ServeError::SerialsNotSaved(format!(
                "{e}: {}",
                std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())
            ))
        })?;
        for z in t.unknown_zones(&zones) {
            warn!(target: "gslbd", zone = %z, "[transfer] zones names a zone that no zone file serves");
        }
    }
    // Metrics are recorded only when the admin API can serve them (`--admin off`: no recorder,
    // and every handle is a no-op).
    let metrics = cfg.admin.map(|_| telemetry::install());
    // After the recorder is installed, so the signing figures are recorded.
    let signed =
        engine::signing::sign_set(&zones, None).map_err(|e| ServeError::Sign(e.to_string()))?;

    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let l = dns::bind(*addr).await.map_err(|source| ServeError::Bind {
            addr: *addr,
            source,
        })?;
        listeners.push(l);
    }
    let admin_listener = match cfg.admin {
        Some(addr) => Some(
            admin::bind(addr)
                .await
                .map_err(|source| ServeError::Bind { addr, source })?,
        ),
        None => None,
    };
    let clients = probe::Clients::new(cluster.as_ref().map(|c| c.name.as_str()))?;
    if let Some(addr) = cfg.transfer.as_ref().and_then(|t| t.notify_source) {
        std::net::UdpSocket::bind((addr, 0))
            .map_err(|source| ServeError::NotifySource { addr, source })?;
    }
    let transfer = cfg.transfer.clone().map(Arc::new);
    let (announce, announced) = tokio::sync::mpsc::unbounded_channel();
    let xfr = transfer
        .as_ref()
        .map(|t| xfr::Xfr::new(t.clone(), announce.clone(), saved.serials.clone()));
    let published = xfr.as_ref().map(xfr::Xfr::shared);
    let (engine, results, shared) = engine::Engine::start(
        cfg.zones.clone(),
        state_file,
        zones.clone(),
        saved,
        clients,
        cluster.clone(),
        xfr,
        signed,
    );
    let mut handler = dns::Handler::new(shared.clone())
        .with_cookies(cookies.clone(), cfg.require_cookies)
        .with_rrl(cfg.rrl.clone());
    if let (Some(config), Some(published)) = (&transfer, published) {
        let service = xfr::Service::new(published, config.clone());
        handler = handler.with_transfers(Arc::new(Transfers(service)));
    }
    let encrypted = match &cfg.encrypted {
        Some(e) => Some(dns::encrypted::start(handler.clone(), e).await?),
        None => None,
    };
    let server = dns::serve(handler, listeners, cfg.tcp).map_err(ServeError::Threads)?;

    let cancel = CancellationToken::new();
    if let Some(t) = &transfer {
        let sources = xfr::notify::sources(t, &cfg.listen);
        xfr::notify::spawn(t.clone(), sources.clone(), announced, cancel.clone());
        info!(target: "gslbd",
            secondaries = t.secondaries.len(),
            signed = t.key.is_some(),
            notify_from = ?sources,
            "transfer: serving AXFR/IXFR and sending NOTIFY"
        );
    }
    tokio::spawn(dns::cookie::keep(
        cookies,
        cfg.cookie_secret_file.clone(),
        cancel.clone(),
    ));
    let (handle, commands) = engine::Engine::channel();
    let engine_task = tokio::spawn(engine.run(results, commands, cancel.clone()));
    let admin_task = admin_listener.zip(metrics).map(|(l, metrics)| {
        let state = admin::AdminState {
            engine: handle.clone(),
            shared: shared.clone(),
            metrics,
            cluster: cluster.clone(),
        };
        let access = admin::Access {
            admin_token: cfg.admin_token.clone(),
            read_token: cfg.admin_read_token.clone(),
            cluster_token: cluster.as_ref().map(|c| c.token.clone()),
            hosts: cfg
                .admin_hosts
                .iter()
                .map(|h| admin::guard::host_name(h))
                .collect(),
        };
        tokio::spawn(admin::serve(
            l,
            state,
            access,
            cfg.admin_limits,
            cancel.clone(),
        ))
    });
    if cfg.watch {
        watch::spawn(&cfg.zones, handle.clone(), cancel.clone())?;
    }
    if let Some(c) = &cluster {
        engine::peers::spawn(c.clone(), handle.clone(), cancel.clone())
            .map_err(|e| ServeError::Cluster(e.to_string()))?;
        info!(target: "gslbd",
            name = c.name,
            peers = c.peers.len(),
            rule = c.rule.name(),
            quorum = c.quorum(),
            "cluster: polling peers"
        );
    }
    // Watched before READY: a SIGHUP right after READY must reload, not be ignored.
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(hup) => {
            tokio::spawn(engine::supervise::reload_on_sighup(
                hup,
                handle,
                cancel.clone(),
            ));
        }
        Err(e) => {
            warn!(target: "gslbd", error = %e, "cannot watch SIGHUP; reload with POST /reload")
        }
    }
    let pools: usize = zones.zones.iter().map(|z| z.pools.len()).sum();
    info!(target: "gslbd",
        zones = zones.zones.len(),
        pools,
        targets = zones.targets.len(),
        "ready"
    );

    engine::supervise::notify(&[sd_notify::NotifyState::Ready]);

    shutdown.await;
    info!(target: "gslbd", "shutting down");
    engine::supervise::notify(&[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    let stopping = async {
        let _ = engine_task.await;
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        let encrypted = async {
            if let Some(e) = encrypted {
                e.shutdown().await;
            }
        };
        tokio::join!(server.shutdown(), encrypted);
    };
    // Queries in flight are finished; nothing (a half-open admin connection, a hung client)
    // holds the exit longer than the grace period.
    if tokio::time::timeout(SHUTDOWN_GRACE, stopping)
        .await
        .is_err()
    {
        warn!(target: "gslbd", grace = ?SHUTDOWN_GRACE, "shutdown took longer than its grace period; stopping now");
    }
    drop(state_lock);
    info!(target: "gslbd", "stopped");
    Ok(())
}

/// The longest a SIGTERM waits for queries and connections to finish.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Fits the TCP and DoT connection caps under `limit` open files, keeping descriptors for the
/// probes of `targets`, the admin API, the sockets and the process itself (see
/// [`dns::budget`], which logs the reservation and the caps chosen).
fn fit_open_files(cfg: &mut ServeConfig, limit: u64, targets: usize) {
    use dns::budget::{Reserve, Streams};
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    let (tls, quic) = cfg
        .encrypted
        .as_ref()
        .map_or((0, 0), |e| (e.tls.len(), e.quic.len()));
    let listen = cfg.listen.len();
    let reserve = Reserve {
        sockets: count(listen * 2 + tls + quic + 1),
        admin: cfg.admin.map_or(0, |_| {
            count(cfg.admin_limits.max_connections + admin::BEYOND_CAP)
        }),
        targets: count(targets),
        peers: count(
            cfg.cluster.as_ref().map_or(0, |c| c.peers.len())
                + cfg.transfer.as_ref().map_or(0, |t| t.secondaries.len()),
        ),
    };
    let tcp = Streams {
        listeners: listen,
        max_clients: cfg.tcp.max_clients,
    };
    let dot = Streams {
        listeners: tls,
        max_clients: cfg.encrypted.as_ref().map_or(0, |e| e.dot_max_clients),
    };
    let chosen = dns::budget::choose(limit, &reserve, tcp, dot);
    cfg.tcp.max_clients = chosen.tcp;
    if let Some(e) = cfg.encrypted.as_mut() {
        e.dot_max_clients = chosen.tls;
    }
}

/// `xfr`'s transfer service behind the DNS transports' [`dns::Transfers`] (dns and xfr do not
/// import each other; the wiring joins them).
struct Transfers(xfr::Service);

impl dns::Transfers for Transfers {
    fn transfer<'a>(&'a self, msg: &'a [u8], src: std::net::IpAddr) -> dns::transfers::Pending<'a> {
        Box::pin(async move {
            let t = self.0.transfer(msg, src).await?;
            Some(dns::Transfer {
                messages: t.messages,
                slot: t.slot,
            })
        })
    }

    fn ixfr_over_udp(&self, msg: &[u8], src: std::net::IpAddr) -> Option<Vec<u8>> {
        self.0.ixfr_over_udp(msg, src)
    }

    fn is_secondary(&self, src: std::net::IpAddr) -> bool {
        self.0.is_secondary(src)
    }

    fn key(&self) -> Option<&wire::tsig::Key> {
        self.0.key()
    }
}
