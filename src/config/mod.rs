//! Zone files (`zones/*.toml`) to the validated model, with `path:line:col` errors.
//!
//! `raw` mirrors the TOML with spans (`pieces` parses a large file a piece at a time), `build`
//! validates one file into a [`Zone`] (`names` its names, `records` its static record sets,
//! `pool` each of its pools, `probe` each region's probe), `set` checks the set as a whole (one
//! origin per file, nothing hidden by a child zone, no CNAME loop), and [`load_dir`] assigns
//! the dense region and probe-target ids the health engine indexes by. A file with any error
//! is rejected whole. Beside the zones: [`topology`] (the map), [`instance`] (`gslbd.toml`,
//! with [`transfer`]) and [`token`] (what makes a token usable).

mod build;
pub mod instance;
mod names;
mod pieces;
mod pool;
mod probe;
mod raw;
mod records;
mod set;
mod signing;
#[cfg(test)]
mod tests;
pub mod token;
pub mod topology;
pub mod transfer;

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::zone::{RegionRef, ZoneSet, wire};

/// One problem in one zone file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}:{col}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{}: no zone files (*.toml) found", path.display())]
    NoZones { path: PathBuf },
}

/// Every error found while loading; displayed one per line.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Source text of one file, to turn byte offsets into `line:col`.
pub(crate) struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = &self.text[..self.text.floor_char_boundary(offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, col) = self.line_col(span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            col,
            message: message.into(),
        }
    }
}

/// The `*.toml` files of a directory, sorted by name.
pub fn zone_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_none_or(|e| e != "toml")
            || path.file_name().is_some_and(|n| n == topology::FILE)
        {
            continue;
        }
        // A zone file that cannot be read (a broken symlink, a directory) is an error, never
        // a zone silently missing.
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => files.push(path),
            Ok(_) => {
                return Err(ConfigError::Io {
                    path,
                    source: std::io::Error::other("not a regular file"),
                });
            }
            Err(source) => return Err(ConfigError::Io { path, source }),
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(ConfigError::NoZones {
            path: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// A zone file that is not UTF-8: where the first bad byte is.
fn not_utf8(path: &Path, e: &std::string::FromUtf8Error) -> ConfigError {
    let bytes = e.as_bytes();
    let at = e.utf8_error().valid_up_to();
    // Every byte before `at` is valid, so this prefix converts.
    let text = String::from_utf8_lossy(&bytes[..at]);
    let src = Source { path, text: &text };
    let byte = bytes.get(at).copied().unwrap_or(0);
    src.error(
        at..at,
        format!("the file is not UTF-8 text (byte 0x{byte:02x}); zone files are UTF-8"),
    )
}

/// The files [`load_dir`] reads: the zone files, then the topology map when there is one.
pub fn dir_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let mut files = zone_files(dir)?;
    let map = dir.join(topology::FILE);
    if map.exists() {
        files.push(map);
    }
    Ok(files)
}

/// Loads every zone in a directory, and its topology map when it has one.
pub fn load_dir(dir: &Path) -> Result<ZoneSet, ConfigErrors> {
    let files = dir_files(dir).map_err(|e| ConfigErrors(vec![e]))?;
    load_files(&files)
}

/// Loads and validates the given zone files as one set. Any error rejects the set.
pub fn load_files(files: &[PathBuf]) -> Result<ZoneSet, ConfigErrors> {
    let mut errors = Vec::new();
    let mut sources = Vec::new();
    for path in files {
        match std::fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => sources.push((path.clone(), text)),
                Err(e) => errors.push(not_utf8(path, &e)),
            },
            Err(source) => errors.push(ConfigError::Io {
                path: path.clone(),
                source,
            }),
        }
    }
    let result = from_sources(&sources);
    drop(sources);
    release_freed_memory();
    match result {
        Ok(set) if errors.is_empty() => Ok(set),
        Ok(_) => Err(ConfigErrors(errors)),
        Err(mut more) => {
            errors.append(&mut more.0);
            Err(ConfigErrors(errors))
        }
    }
}

/// Hands the pages freed by parsing back to the system. A large zone's TOML tree takes several
/// times the model's memory while it is parsed; glibc's allocator would keep those pages, and
/// the process's resident size with them, until the next load reused them. (The `gslbd` binary
/// allocates with mimalloc, which returns freed pages by itself; this covers the library under
/// the system allocator: tests, fuzzing, embedders.)
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own heap under its own locks; it has no
    // preconditions and cannot invalidate live allocations.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Validates one zone given as text (`path` names it in messages).
pub fn from_str(path: &Path, text: &str) -> Result<ZoneSet, ConfigErrors> {
    from_sources(&[(path.to_path_buf(), text.to_string())])
}

/// Validates zone texts as one set (a source named `topology.toml` is the topology map).
pub fn from_sources(sources: &[(PathBuf, String)]) -> Result<ZoneSet, ConfigErrors> {
    let mut errors = Vec::new();
    let mut loaded = Vec::new();
    let mut map = None;
    let mut extra = Vec::new();
    for (path, text) in sources {
        if path.file_name().is_some_and(|n| n == topology::FILE) {
            match topology::load(path, text) {
                Ok(mut m) => {
                    extra.append(&mut m.inputs);
                    map = Some(m);
                }
                Err(mut e) => errors.append(&mut e),
            }
            continue;
        }
        let src = Source { path, text };
        match build::zone(&src) {
            Ok(built) => loaded.push(set::Loaded { built, src }),
            Err(e) => errors.push(e),
        }
    }
    errors.extend(set::check(&loaded));
    let zones: Vec<crate::zone::Zone> = loaded.into_iter().map(|l| l.built.zone).collect();
    let map = map.and_then(|m| {
        // Every location a list names must be where some topology pool has a region.
        let known: std::collections::HashSet<&str> = zones
            .iter()
            .flat_map(|z| &z.pools)
            .filter(|p| p.policy == crate::zone::Policy::Topology)
            .flat_map(|p| &p.regions)
            .map(|r| r.location.as_str())
            .collect();
        if known.is_empty() {
            return Some(m.map);
        }
        let before = errors.len();
        for n in m.names {
            if !known.contains(n.name.as_str()) {
                errors.push(n.unknown());
            }
        }
        (errors.len() == before).then_some(m.map)
    });
    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    let mut set = assemble(zones, map.map(Arc::new));
    set.inputs = crate::zone::inputs::Inputs {
        files: sources
            .iter()
            .map(|(p, t)| (p.clone(), crate::zone::inputs::hash(t.as_bytes())))
            .collect(),
        extra,
    };
    Ok(set)
}

/// Orders zones for longest-suffix lookup and assigns region and target ids.
fn assemble(
    mut zones: Vec<crate::zone::Zone>,
    map: Option<Arc<crate::zone::topology::TopologyMap>>,
) -> ZoneSet {
    zones.sort_by(|a, b| {
        b.origin
            .num_labels()
            .cmp(&a.origin.num_labels())
            .then_with(|| a.origin.cmp(&b.origin))
    });
    let mut set = ZoneSet::default();
    let mut target_ids = HashMap::new();
    // Without a map every client is in the default entry (all regions, by weight).
    let for_pools = map.clone().unwrap_or_default();
    for (zi, zone) in zones.iter_mut().enumerate() {
        for (pi, pool) in zone.pools.iter_mut().enumerate() {
            if pool.policy == crate::zone::Policy::Topology {
                pool.topology = Some(crate::zone::PoolTopology::new(
                    for_pools.clone(),
                    &pool.regions,
                ));
            }
            for (ri, region) in pool.regions.iter_mut().enumerate() {
                region.id = set.regions.len();
                set.regions.push(RegionRef {
                    zone: zi,
                    pool: pi,
                    region: ri,
                });
                region.target = region.probe.as_ref().map(|spec| {
                    *target_ids.entry(spec.clone()).or_insert_with(|| {
                        set.targets.push(spec.clone());
                        set.targets.len() - 1
                    })
                });
            }
        }
    }
    set.zones = zones.into_iter().map(Arc::new).collect();
    set.wire = wire::Index::build(&set.zones);
    set.topology = map;
    set
}
