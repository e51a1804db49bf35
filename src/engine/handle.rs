//! How the rest of gslbd talks to the engine: the commands it takes and a clonable handle
//! that sends them and waits for the replies.

use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::liveness::Liveness;
use crate::cluster::Verdicts;
use crate::health::{Override, RegionKey};
use crate::status::Status;

/// Requests to the engine (from the admin API and signal handlers).
pub enum Command {
    /// Reload the zones directory; replies with what the reload did or every error.
    Reload(Reply),
    /// Set or clear an override. Replies with the region's canonical key.
    Override(
        RegionKey,
        OverrideRequest,
        oneshot::Sender<Result<Applied, OverrideError>>,
    ),
    Status(oneshot::Sender<Status>),
    /// A peer's verdicts (or why its poll failed), by its index in the cluster's peers.
    Peer(usize, Result<Verdicts, String>, Instant),
    /// This instance's own verdicts (`None` without a cluster).
    Verdicts(oneshot::Sender<Option<Verdicts>>),
    /// Whether probe results still arrive (`/healthz`).
    Liveness(oneshot::Sender<Liveness>),
}

/// An override the engine applied.
pub struct Applied {
    /// The region's canonical key.
    pub key: RegionKey,
    /// Why it could not be saved to the state file (it applies anyway, until a restart).
    pub not_persisted: Option<String>,
}

/// A cheap, clonable way to talk to the engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) tx: mpsc::Sender<Command>,
}

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    pub async fn reload(&self) -> Result<Reloaded, String> {
        self.ask(Command::Reload)
            .await
            .unwrap_or_else(|| Err("engine stopped".into()))
    }

    pub async fn set_override(
        &self,
        key: RegionKey,
        req: OverrideRequest,
    ) -> Result<Applied, OverrideError> {
        self.ask(|r| Command::Override(key, req, r))
            .await
            .unwrap_or_else(|| Err(OverrideError::Failed("engine stopped".into())))
    }

    pub async fn status(&self) -> Option<Status> {
        self.ask(Command::Status).await
    }

    /// Whether probe results still arrive.
    pub async fn liveness(&self) -> Option<Liveness> {
        self.ask(Command::Liveness).await
    }

    /// Hands the engine one poll of a peer.
    pub async fn peer_heard(&self, index: usize, result: Result<Verdicts, String>, at: Instant) {
        let _ = self.tx.send(Command::Peer(index, result, at)).await;
    }

    /// This instance's own verdicts, as `GET /cluster/verdicts` serves them.
    pub async fn verdicts(&self) -> Option<Verdicts> {
        self.ask(Command::Verdicts).await.flatten()
    }
}

/// Why an override was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("no region {0}")]
    NoRegion(String),
    /// It would leave fewer serving regions than the pool's `min_serving`.
    #[error("{0}")]
    BelowMinServing(String),
    /// A drill on a region an operator override holds: it would replace that override and
    /// clear it when it ends.
    #[error("{0}")]
    Overridden(String),
    #[error("{0}")]
    Failed(String),
}

/// What the admin API asks for.
#[derive(Debug, Clone, Copy)]
pub struct OverrideRequest {
    /// `None` clears.
    pub action: Option<Override>,
    /// Apply even below `min_serving`.
    pub force: bool,
}

/// What a reload did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reloaded {
    /// Zones serving after it.
    pub zones: usize,
    /// False when every file read as before and the serving set was kept.
    pub changed: bool,
}

/// Where a reload's answer goes.
pub type Reply = oneshot::Sender<Result<Reloaded, String>>;
