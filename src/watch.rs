//! `serve --watch`: reloads the zones when a zone file in the directory is written, added or
//! removed.
//!
//! notify (inotify on Linux) reports creations, writes, renames and removals; reads are not
//! changes (a reload reads every file, and must not set off the next one). An editor's burst
//! of writes and renames becomes one reload once the directory has been quiet for [`SETTLE`].
//! The reload is the engine's, as for SIGHUP and `POST /reload`: a set that does not validate
//! is logged with its errors and the previous zones keep serving.
//!
//! Deploys that replace the directory itself (removed and created again, or a symlink swapped to
//! a new release) leave the old directory's watch with nothing to report, so the directory's
//! identity (device and inode, through symlinks) is looked at every [`RECHECK`]: when it changes,
//! the new directory is watched and the zones are reloaded.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::engine::EngineHandle;

/// How long the directory must be quiet before the zones are reloaded.
pub const SETTLE: Duration = Duration::from_millis(300);
/// How often the directory's identity is checked.
pub const RECHECK: Duration = Duration::from_secs(1);

/// Why the directory cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path}")]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

/// Watches `dir` until `cancel` fires, asking `engine` to reload after each settled change to
/// a `*.toml` file (the state file and editors' swap files do not count).
pub fn spawn(
    dir: &Path,
    engine: EngineHandle,
    cancel: CancellationToken,
) -> Result<JoinHandle<()>, WatchError> {
    let error = |source| WatchError {
        path: dir.to_path_buf(),
        source,
    };
    let (tx, mut changed) = mpsc::unbounded_channel();
    let mut watcher =
        notify::recommended_watcher(move |result: notify::Result<Event>| match result {
            Ok(event) if is_change(&event) => {
                let _ = tx.send(());
            }
            Ok(_) => {}
            Err(e) => warn!(error = %e, "watching the zones directory failed"),
        })
        .map_err(error)?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(error)?;
    info!(dir = %dir.display(), "watching zone files");
    let dir = dir.to_path_buf();
    let mut watched = identity(&dir);
    Ok(tokio::spawn(async move {
        // Watching stops when the watcher is dropped: it lives as long as this task.
        let mut watcher = watcher;
        let mut recheck = tokio::time::interval(RECHECK);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                Some(()) = changed.recv() => {
                    // Let the burst settle: every further change restarts the wait.
                    while let Ok(Some(())) = tokio::time::timeout(SETTLE, changed.recv()).await {}
                    info!("zone files changed: reloading");
                    let _ = engine.reload().await;
                }
                _ = recheck.tick() => {
                    let now = identity(&dir);
                    if now == watched {
                        continue;
                    }
                    // The directory was replaced (or went away): watch what is there now.
                    let _ = watcher.unwatch(&dir);
                    if now.is_some()
                        && let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive)
                    {
                        warn!(dir = %dir.display(), error = %e, "cannot watch the new zones directory");
                    }
                    watched = now;
                    info!(dir = %dir.display(), "zones directory replaced: reloading");
                    tokio::time::sleep(SETTLE).await;
                    let _ = engine.reload().await;
                }
            }
        }
    }))
}

/// The directory `dir` names now (through symlinks): its device and inode.
fn identity(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()))
}

/// A zone file was created, written, renamed or removed (the state file and editors' swap
/// files are not zone files; reading one is not a change).
fn is_change(event: &Event) -> bool {
    matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    ) && event.paths.iter().any(|p| is_zone_file(p))
}

/// The files `config::zone_files` loads.
fn is_zone_file(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "toml")
}
