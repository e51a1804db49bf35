//! gslbd: an authoritative DNS server for global server load balancing.
//!
//! # Layout
//! Data flows one way: `config → zone → probe → health → select → dns`.
//! - [`config`]: `zones/*.toml` → validated model, errors as `path:line:col: message`.
//! - [`zone`]: the immutable model (zones, record sets, pools, regions, probe specs).
//! - [`probe`]: http/https/tcp checks and the scheduler (one task per unique target).
//! - [`health`]: rise/fall state machine, live weights, the snapshot DNS reads.
//! - [`engine`]: the task that feeds probe results to health and publishes snapshots.
//! - [`select`]: answer policies (weighted, failover, all, hashed) and the all-down rule.
//! - [`dns`]: the hickory request handler, lookups and listeners.
//! - [`cutover`]: worst-case detection / cutover / recovery math.
//! - [`check`]: the `gslbd check` report (cutover and N-1 tables).
//!
//! [`serve`] wires them: it loads the zones, binds the listeners, starts the probes and the
//! engine, and runs until the shutdown future completes.

pub mod check;
pub mod config;
pub mod cutover;
pub mod dns;
pub mod engine;
pub mod health;
pub mod probe;
pub mod select;
pub mod zone;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::health::HealthTable;

/// What `gslbd serve` needs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub zones: PathBuf,
    pub listen: Vec<SocketAddr>,
}

/// Why serving could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] config::ConfigErrors),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Probe(#[from] probe::ProbeError),
}

/// How many probe results may wait for the engine before probers wait.
const RESULT_QUEUE: usize = 4096;

/// Serves the zones in `cfg.zones` until `shutdown` completes.
pub async fn serve(cfg: ServeConfig, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    let zones = Arc::new(config::load_dir(&cfg.zones)?);
    let table = HealthTable::new(zones.clone(), None, Instant::now());
    let shared: health::Shared = Arc::new(ArcSwap::from_pointee(table.snapshot()));

    let mut listeners = Vec::new();
    for addr in &cfg.listen {
        let l = dns::bind(*addr).await.map_err(|source| ServeError::Bind {
            addr: *addr,
            source,
        })?;
        listeners.push(l);
    }
    let clients = probe::Clients::new()?;
    let mut server = dns::serve(dns::Handler::new(shared.clone()), listeners);

    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel(RESULT_QUEUE);
    let mut probes = probe::spawn(&zones, 0, &clients, tx, cancel.clone());
    let engine = tokio::spawn(engine::run(table, rx, shared.clone(), 0));
    let pools: usize = zones.zones.iter().map(|z| z.pools.len()).sum();
    info!(
        zones = zones.zones.len(),
        pools,
        targets = zones.targets.len(),
        "ready"
    );

    shutdown.await;
    info!("shutting down");
    cancel.cancel();
    while probes.join_next().await.is_some() {}
    let _ = engine.await;
    if let Err(e) = server.shutdown_gracefully().await {
        warn!(error = %e, "listener closed with an error");
    }
    Ok(())
}
