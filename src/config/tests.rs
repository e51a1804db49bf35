//! Good and bad zone files. In each bad case `§` marks where the error must point; the helper
//! removes it, loads the file, and asserts `path:line:col: message`. The cases are in
//! [`records`], [`pools`] and [`files`]; the helpers here serve them and `pieces`' tests.

use std::path::PathBuf;

use super::*;

mod files;
mod pools;
mod records;
mod signing;

pub(super) const HEAD: &str = r#"origin = "t.example."
[soa]
mname = "ns1.t.example."
rname = "hostmaster.t.example."
[[records]]
name = "@"
type = "NS"
data = ["ns1.t.example."]
"#;

pub(super) const POOL: &str = r#"
[pools.www]
type = "A"
[pools.www.regions.a]
addresses = ["192.0.2.1"]
"#;

pub(super) fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp zone");
    path
}

pub(super) fn load_text(text: &str) -> Result<ZoneSet, ConfigErrors> {
    let dir = tempfile::tempdir().expect("tempdir");
    load_files(&[write(&dir, "z.toml", text)])
}

/// Asserts that `marked` (with one `§`) fails with `message` at the marker's line:col.
pub(super) fn bad(marked: &str, message: &str) {
    let at = marked.find('§').expect("case needs a § marker");
    let text = marked.replacen('§', "", 1);
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    let err = match load_text(&text) {
        Ok(_) => panic!("accepted a bad zone; expected {message:?}:\n{text}"),
        Err(e) => e.to_string(),
    };
    let want = format!("z.toml:{line}:{col}: ");
    assert!(
        err.contains(&want),
        "expected position {want} in {err:?}\n{text}"
    );
    assert!(err.contains(message), "expected {message:?} in {err:?}");
}
