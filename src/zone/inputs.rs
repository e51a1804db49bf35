//! Where a zone set came from: what its load read, every file with a hash of the bytes the loader used, so that a reload
//! can tell that nothing changed and keep the set it has (Knot and NSD skip an unchanged zone
//! file the same way). The hash is of the bytes actually parsed, never re-read afterwards, so a
//! file that changes during a load is always loaded again.

use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::xxh3_64;

/// Files read by one load: the zone files (and `topology.toml`) in the order given, then the
/// files the topology map named (CSV networks, a geo database).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    pub files: Vec<(PathBuf, u64)>,
    pub extra: Vec<(PathBuf, u64)>,
}

/// The hash an input is compared by.
pub fn hash(bytes: &[u8]) -> u64 {
    xxh3_64(bytes)
}

fn same(path: &Path, h: u64) -> bool {
    std::fs::read(path).is_ok_and(|b| hash(&b) == h)
}

impl Inputs {
    /// True when loading `files` now would read exactly what this load read: the same files,
    /// each with the same bytes, and the same bytes in every file the map named.
    pub fn unchanged(&self, files: &[PathBuf]) -> bool {
        !self.files.is_empty()
            && self.files.len() == files.len()
            && self.files.iter().zip(files).all(|((p, _), f)| p == f)
            && self
                .files
                .iter()
                .chain(&self.extra)
                .all(|(p, h)| same(p, *h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_byte_a_new_file_or_a_changed_extra_is_a_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b, csv) = (
            dir.path().join("a.toml"),
            dir.path().join("b.toml"),
            dir.path().join("n.csv"),
        );
        std::fs::write(&a, "one").expect("write");
        std::fs::write(&csv, "192.0.2.0/24,x").expect("write");
        let inputs = Inputs {
            files: vec![(a.clone(), hash(b"one"))],
            extra: vec![(csv.clone(), hash(b"192.0.2.0/24,x"))],
        };
        assert!(inputs.unchanged(std::slice::from_ref(&a)));
        std::fs::write(&b, "two").expect("write");
        assert!(!inputs.unchanged(&[a.clone(), b]), "a new zone file");
        std::fs::write(&csv, "192.0.2.0/24,y").expect("write");
        assert!(
            !inputs.unchanged(std::slice::from_ref(&a)),
            "the map's CSV changed"
        );
        std::fs::write(&csv, "192.0.2.0/24,x").expect("write");
        std::fs::write(&a, "onE").expect("write");
        assert!(!inputs.unchanged(std::slice::from_ref(&a)), "one byte");
        std::fs::remove_file(&a).expect("rm");
        assert!(!inputs.unchanged(&[a]), "gone");
        assert!(!Inputs::default().unchanged(&[]), "nothing loaded yet");
    }
}
