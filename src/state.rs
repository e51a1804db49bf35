//! The state file: what must survive a restart — operator overrides (drain, force-up,
//! force-down, drills) and, for zone transfers, the last SOA serial published per zone (so a
//! restart never publishes a serial the secondaries already passed).
//!
//! JSON, written atomically (a temp file in the same directory, fsync, rename, fsync of the
//! directory), so a crash mid-write leaves the previous state intact. A file that cannot be
//! read as this version's state (corrupt, or written by a newer gslbd) is moved aside at start
//! and gslbd starts with no overrides rather than not at all. One gslbd at a time uses a state
//! file: a lock (`FILE.lock`, flock) and a name only a living process can hold (an abstract
//! Unix socket named by the file's path, which deleting the lock file cannot remove) refuse
//! a second.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::health::{Override, Overrides, RegionKey};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a gslbd state file", path.display())]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: written by a newer gslbd (state version {found}, this one reads {VERSION})", path.display())]
    Newer { path: PathBuf, found: u32 },
    #[error("{}: another gslbd uses this state file (its lock {} is held)", path.display(), lock.display())]
    Locked { path: PathBuf, lock: PathBuf },
}

/// The state file format this gslbd writes and reads.
pub const VERSION: u32 = 2;

fn version_one() -> u32 {
    1
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    /// Files from before versions were written are version 1.
    #[serde(default = "version_one")]
    version: u32,
    overrides: Vec<Entry>,
    /// The last serial published per transferred zone (origin, lower case, with the dot).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    serials: BTreeMap<String, u32>,
}

/// Everything the state file keeps.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Saved {
    pub overrides: Overrides,
    /// The last serial published per transferred zone, by origin.
    pub serials: BTreeMap<String, u32>,
}

/// Only the version, read first: a newer file may have fields this gslbd does not know.
#[derive(Deserialize)]
struct Versioned {
    #[serde(default = "version_one")]
    version: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    zone: String,
    pool: String,
    region: String,
    action: Override,
}

/// The state in `path`; a missing file means none.
pub fn load(path: &Path) -> Result<Saved, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Saved::default()),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let parse = |source| StateError::Parse {
        path: path.to_path_buf(),
        source,
    };
    let found = serde_json::from_str::<Versioned>(&text)
        .map_err(parse)?
        .version;
    if found > VERSION {
        return Err(StateError::Newer {
            path: path.to_path_buf(),
            found,
        });
    }
    let file: StateFile = serde_json::from_str(&text).map_err(parse)?;
    let overrides = file
        .overrides
        .into_iter()
        .map(|e| {
            (
                RegionKey {
                    zone: e.zone,
                    pool: e.pool,
                    region: e.region,
                },
                e.action,
            )
        })
        .collect();
    Ok(Saved {
        overrides,
        serials: file.serials,
    })
}

/// Writes `saved` to `path` atomically.
pub fn save(path: &Path, saved: &Saved) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = StateFile {
        version: VERSION,
        overrides: saved
            .overrides
            .iter()
            .map(|(k, a)| Entry {
                zone: k.zone.clone(),
                pool: k.pool.clone(),
                region: k.region.clone(),
                action: *a,
            })
            .collect(),
        serials: saved.serials.clone(),
    };
    let text = serde_json::to_string_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    tmp.write_all(text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    // The rename is durable only once the directory is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// The state in `path`, or none when it cannot be used: a corrupt or newer file is moved
/// aside (`FILE.bad-UNIXTIME`) and logged as an error; DNS starts either way.
pub fn load_or_set_aside(path: &Path) -> Saved {
    match load(path) {
        Ok(o) => o,
        Err(e @ (StateError::Parse { .. } | StateError::Newer { .. })) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let mut aside = path.as_os_str().to_owned();
            aside.push(format!(".bad-{stamp}"));
            let aside = PathBuf::from(aside);
            match std::fs::rename(path, &aside) {
                Ok(()) => tracing::error!(error = %e, moved_to = %aside.display(),
                    "the state file cannot be used; moved aside, starting with no overrides"),
                Err(m) => tracing::error!(error = %e, move_error = %m,
                    "the state file cannot be used nor moved aside; starting with no overrides"),
            }
            Saved::default()
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read the state file; starting with no overrides");
            Saved::default()
        }
    }
}

/// The file `path` names, as an absolute path with every symlink followed (a dangling link
/// names its target, which the first save creates): the lock, the load and the save all use
/// it, so two names of one file share one lock, and a save replaces the file, not a link to
/// it. A path that cannot be resolved further is kept as far as it was.
pub fn resolve(path: &Path) -> PathBuf {
    let mut at = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    // As many links as the kernel follows (ELOOP past 40).
    for _ in 0..40 {
        match std::fs::read_link(&at) {
            Ok(to) => {
                let base = at.parent().map(Path::to_path_buf).unwrap_or_default();
                at = base.join(to);
            }
            Err(_) => break,
        }
    }
    // The directory's own links, and `..`, resolved where the directory exists.
    match (at.parent(), at.file_name()) {
        (Some(dir), Some(name)) => dir.canonicalize().map_or(at.clone(), |d| d.join(name)),
        _ => at,
    }
}

/// Holds the state file's lock for as long as it lives.
#[derive(Debug)]
pub struct Lock {
    _lock: Option<nix::fcntl::Flock<std::fs::File>>,
    /// A name only a living holder can keep (see [`claim`]).
    _name: Option<std::os::unix::net::UnixDatagram>,
}

/// Binds an abstract Unix socket named by the state file's canonical path: the kernel frees
/// the name when the holder exits, and no file operation can remove it, so deleting
/// `FILE.lock` cannot let a second gslbd in (a flock lives on an inode that `rm` takes away
/// from the name). `Ok(None)` when the name cannot be formed; `Err(())` when another process
/// holds it.
fn claim(path: &Path) -> Result<Option<std::os::unix::net::UnixDatagram>, ()> {
    use std::os::linux::net::SocketAddrExt;
    let canonical = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            match dir.canonicalize() {
                Ok(d) => d.join(name),
                Err(_) => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    // Abstract names hold 107 bytes: a hash of the path keeps any length apart.
    let hash = xxhash_rust::xxh3::xxh3_128(canonical.as_os_str().as_encoded_bytes());
    let name = format!("gslbd-state-{hash:032x}");
    let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) else {
        return Ok(None);
    };
    match std::os::unix::net::UnixDatagram::bind_addr(&addr) {
        Ok(sock) => Ok(Some(sock)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(()),
        Err(_) => Ok(None),
    }
}

/// Takes the state file's lock (`FILE.lock`), refusing when another gslbd holds it. When the
/// lock cannot even be created (the directory is missing or read-only), overrides cannot be
/// kept either: that is logged loudly and gslbd runs without the lock.
pub fn lock(path: &Path) -> Result<Lock, StateError> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let lock_path = PathBuf::from(name);
    let locked = |lock| {
        let name = claim(path).map_err(|()| StateError::Locked {
            path: path.to_path_buf(),
            lock: lock_path.clone(),
        })?;
        Ok(Lock {
            _lock: lock,
            _name: name,
        })
    };
    let file = match std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
    {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e,
                "the state file's directory is not writable: overrides will apply but not survive a restart");
            return locked(None);
        }
    };
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(l) => locked(Some(l)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(StateError::Locked {
            path: path.to_path_buf(),
            lock: lock_path.clone(),
        }),
        Err((_, e)) => Err(StateError::Io {
            path: lock_path.clone(),
            source: e.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_follows_relative_and_chained_links_to_a_missing_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).expect("mkdir");
        std::fs::create_dir(&b).expect("mkdir");
        std::os::unix::fs::symlink("../b/state.json", a.join("one")).expect("link");
        std::os::unix::fs::symlink("one", a.join("two")).expect("link");
        let want = b.canonicalize().expect("b").join("state.json");
        assert_eq!(resolve(&a.join("two")), want);
        assert_eq!(resolve(&b.join("state.json")), want);
    }

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert_eq!(load(&path).expect("missing is empty"), Saved::default());
        let mut o = Overrides::new();
        let key = RegionKey {
            zone: "g.example.".into(),
            pool: "www".into(),
            region: "us-east".into(),
        };
        o.insert(key.clone(), Override::Drain);
        let saved = Saved {
            overrides: o,
            serials: [("g.example.".to_string(), 2026120404)].into(),
        };
        save(&path, &saved).expect("save");
        assert_eq!(load(&path).expect("load"), saved);
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(load(&path), Err(StateError::Parse { .. })));
        std::fs::write(&path, r#"{"version": 3, "overrides": [], "new": 1}"#).expect("write");
        assert!(matches!(
            load(&path),
            Err(StateError::Newer { found: 3, .. })
        ));
        // A drill kept before milliseconds ends on its whole second.
        std::fs::write(
            &path,
            r#"{"version": 2, "overrides": [{"zone": "g.example.", "pool": "www",
                "region": "a", "action": {"drill": {"until": 1800000000}}}]}"#,
        )
        .expect("write");
        let old = load(&path).expect("old drill");
        let drill = old.overrides.values().next().expect("a drill");
        assert_eq!(drill.drill_end_ms(), Some(1_800_000_000_000));
        // A file from before versions were written is version 1.
        std::fs::write(&path, r#"{"overrides": []}"#).expect("write");
        assert_eq!(load(&path).expect("old file"), Saved::default());
    }
}
