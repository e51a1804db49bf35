//! Zone deploys the way operators do them: the zones directory replaced whole, or a symlink
//! swapped to a new release, under `--watch`; and zone files that cannot be read are errors,
//! never zones silently missing.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Gslbd, poll, run, zone_head};

fn zone(txt: &str) -> String {
    format!(
        "{}[[records]]\nname = \"@\"\ntype = \"TXT\"\ndata = [\"{txt}\"]\n",
        zone_head("gslb.example.")
    )
}

fn release(root: &Path, name: &str, txt: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("gslb.example.toml"), zone(txt)).expect("zone");
    dir
}

fn serves(g: &Gslbd, txt: &str) -> bool {
    poll(Duration::from_secs(8), Duration::from_millis(100), || {
        (g.dig("gslb.example TXT").answers("TXT") == vec![format!("\"{txt}\"")]).then_some(())
    })
    .is_some()
}

#[test]
fn watch_follows_a_symlink_swapped_to_a_new_release() {
    let dir = tempfile::tempdir().expect("tempdir");
    release(dir.path(), "v1", "one");
    release(dir.path(), "v2", "two");
    std::os::unix::fs::symlink("v1", dir.path().join("zones")).expect("symlink");
    let root = dir.path().to_path_buf();
    let g = Gslbd::start_in(dir, &["--watch"]);
    assert!(serves(&g, "one"));
    // The atomic deploy: a new link renamed over the old one.
    std::os::unix::fs::symlink("v2", root.join("zones.new")).expect("symlink");
    std::fs::rename(root.join("zones.new"), root.join("zones")).expect("swap");
    assert!(serves(&g, "two"), "{}", g.logs().join("\n"));
    // And a change inside the new release is seen too.
    std::fs::write(root.join("v2/gslb.example.toml"), zone("three")).expect("edit");
    assert!(serves(&g, "three"), "{}", g.logs().join("\n"));
}

#[test]
fn watch_follows_a_zones_directory_removed_and_created_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = release(dir.path(), "zones", "one");
    let g = Gslbd::start_in(dir, &["--watch"]);
    assert!(serves(&g, "one"));
    std::fs::remove_dir_all(&zones).expect("rm");
    // While it is gone, the last good zones keep serving.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(g.dig("gslb.example TXT").answers("TXT"), vec!["\"one\""]);
    release(zones.parent().expect("parent"), "zones", "two");
    assert!(serves(&g, "two"), "{}", g.logs().join("\n"));
    std::fs::write(zones.join("gslb.example.toml"), zone("three")).expect("edit");
    assert!(serves(&g, "three"), "{}", g.logs().join("\n"));
}

#[test]
fn a_zone_file_that_cannot_be_read_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = release(dir.path(), "zones", "one");
    std::os::unix::fs::symlink("missing.toml", zones.join("broken.toml")).expect("symlink");
    let out = run(&["check", "--zones", "zones"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("broken.toml: No such file or directory"),
        "{err}"
    );

    std::fs::remove_file(zones.join("broken.toml")).expect("rm");
    std::fs::create_dir(zones.join("dir.toml")).expect("mkdir");
    let out = run(&["check", "--zones", "zones"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("dir.toml: not a regular file"), "{err}");

    // On a reload, the old zones keep serving and the error names the file.
    std::fs::remove_dir(zones.join("dir.toml")).expect("rmdir");
    let g = Gslbd::start_in(dir, &[]);
    std::os::unix::fs::symlink("missing.toml", g.zones_dir().join("broken.toml")).expect("symlink");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"].as_str().unwrap_or("").contains("broken.toml"),
        "{body}"
    );
    assert_eq!(g.dig("gslb.example TXT").answers("TXT"), vec!["\"one\""]);
}
