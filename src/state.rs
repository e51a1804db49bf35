//! The operator state file: overrides (drain, force-up, force-down) that survive a restart.
//!
//! JSON, written atomically (a temp file in the same directory, fsync, rename), so a crash
//! mid-write leaves the previous state intact.

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
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    overrides: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    zone: String,
    pool: String,
    region: String,
    action: Override,
}

/// The overrides in `path`; a missing file means none.
pub fn load(path: &Path) -> Result<Overrides, StateError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Overrides::new()),
        Err(source) => {
            return Err(StateError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let file: StateFile = serde_json::from_str(&text).map_err(|source| StateError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(file
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
        .collect())
}

/// Writes `overrides` to `path` atomically.
pub fn save(path: &Path, overrides: &Overrides) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = StateFile {
        overrides: overrides
            .iter()
            .map(|(k, a)| Entry {
                zone: k.zone.clone(),
                pool: k.pool.clone(),
                region: k.region.clone(),
                action: *a,
            })
            .collect(),
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        assert!(load(&path).expect("missing is empty").is_empty());
        let mut o = Overrides::new();
        let key = RegionKey {
            zone: "g.example.".into(),
            pool: "www".into(),
            region: "us-east".into(),
        };
        o.insert(key.clone(), Override::Drain);
        save(&path, &o).expect("save");
        assert_eq!(load(&path).expect("load").get(&key), Some(&Override::Drain));
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(load(&path), Err(StateError::Parse { .. })));
    }
}
