//! Reloads off the engine's path: the zone files are read, compared and parsed on a blocking
//! thread while the engine keeps taking probe results, transitions and API calls; the new set
//! is swapped in when the parse is done. Requests that come in during a load are answered by
//! the next one, which reads the files as they are then (several coalesce into one).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ConfigErrors;
use crate::zone::ZoneSet;

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

/// What the blocking thread found.
pub enum Outcome {
    /// Every file reads as the serving set read it.
    Unchanged,
    /// A new, validated set.
    New(Box<ZoneSet>),
    /// The errors that reject the files as they are.
    Failed(ConfigErrors),
}

/// One load in progress and the requests it answers.
pub struct Loading {
    pub task: JoinHandle<Outcome>,
    pub replies: Vec<Reply>,
}

/// Reads `dir` on a blocking thread: `Unchanged` when every file is as `serving` read it.
pub fn start(dir: PathBuf, serving: Arc<ZoneSet>, replies: Vec<Reply>) -> Loading {
    let task = tokio::task::spawn_blocking(move || {
        let same =
            crate::config::dir_files(&dir).is_ok_and(|files| serving.inputs.unchanged(&files));
        drop(serving); // not held through the parse
        if same {
            return Outcome::Unchanged;
        }
        match crate::config::load_dir(&dir) {
            Ok(set) => Outcome::New(Box::new(set)),
            Err(e) => Outcome::Failed(e),
        }
    });
    Loading { task, replies }
}
