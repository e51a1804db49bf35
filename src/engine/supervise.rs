//! The process's dealings with its supervisor: telling the service manager (systemd
//! `Type=notify`) where the service is (ready, reloading, stopping), and SIGHUP as a reload.

use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Tells systemd (when `NOTIFY_SOCKET` is set, `Type=notify`) where the service is.
pub fn notify(states: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        warn!(error = %e, "cannot notify the service manager");
    }
}

/// SIGHUP reloads the zones, like `POST /reload`.
pub async fn reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    engine: super::EngineHandle,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            Some(()) = hup.recv() => {
                info!(target: "gslbd", "SIGHUP: reloading zones");
                let _ = engine.reload().await;
            }
        }
    }
}
