//! The state file under real operations: a corrupt or newer file never stops DNS (it is moved
//! aside), a second instance on the same file is refused, and an override that cannot be
//! saved still applies and says so.

use crate::harness::{Gslbd, run, zone_head};

fn zone() -> String {
    format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\n",
        zone_head("gslb.example.")
    )
}

fn dir_with(state: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone()).expect("zone");
    if let Some(s) = state {
        std::fs::write(zones.join(".gslbd-state.json"), s).expect("state");
    }
    dir
}

#[test]
fn a_corrupt_or_newer_state_file_is_moved_aside_and_dns_starts() {
    for (what, text) in [
        ("corrupt", "{\"overrides\": [ {\"zone\": "),
        (
            "newer",
            "{\"version\": 9, \"overrides\": [], \"shards\": []}",
        ),
    ] {
        let g = Gslbd::start_in(dir_with(Some(text)), &[]);
        assert_eq!(g.dig("www.gslb.example A").status, "NOERROR", "{what}");
        let logs = g.logs().join("\n");
        assert!(
            logs.contains("moved aside, starting with no overrides"),
            "{what}: {logs}"
        );
        let aside = std::fs::read_dir(g.zones_dir())
            .expect("ls")
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".gslbd-state.json.bad-")
            });
        assert!(aside, "{what}: the bad file is kept beside");
        // Overrides work and are saved again.
        let (code, body) = g.api("POST", "/regions/gslb.example/www/a/drain", None);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["persisted"], true);
    }
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_instance_in() {
    let g = Gslbd::start_in(dir_with(None), &[]);
    let zones = g.zones_dir();
    std::fs::remove_file(zones.join(".gslbd-state.json.lock")).expect("the lock file exists");
    let (code, err) = crate::harness::refused_start(&zones, &[]);
    assert_eq!(
        code,
        Some(1),
        "it started:
{err}"
    );
    assert!(err.contains("another gslbd uses this state file"), "{err}");
}

#[test]
fn a_second_instance_on_the_same_state_file_is_refused() {
    let g = Gslbd::start_in(dir_with(None), &[]);
    let zones = g.zones_dir();
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "off",
            "--zones",
            zones.to_str().expect("utf8"),
        ],
        g.dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another gslbd uses this state file"), "{err}");
    assert_eq!(
        g.dig("www.gslb.example A").status,
        "NOERROR",
        "the first one serves on"
    );
}

#[test]
fn an_override_that_cannot_be_saved_applies_and_says_why() {
    let dir = dir_with(None);
    let state_dir = dir.path().join("state");
    std::fs::create_dir(&state_dir).expect("mkdir");
    let state = state_dir.join("state.json");
    let g = Gslbd::start_in(dir, &["--state", state.to_str().expect("utf8")]);
    std::fs::remove_dir_all(&state_dir).expect("rm");
    let (code, body) = g.api("POST", "/regions/gslb.example/www/a/drain", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["persisted"], false, "{body}");
    assert!(
        body["persist_error"]
            .as_str()
            .unwrap_or("")
            .contains("No such file or directory"),
        "{body}"
    );
    assert_eq!(
        g.dig("www.gslb.example A").answers("A"),
        vec!["192.0.2.2"],
        "it applies"
    );
}

#[test]
fn a_symlinked_state_file_is_locked_and_saved_at_its_target() {
    for dangling in [false, true] {
        let dir = dir_with(None);
        let real = dir.path().join("real");
        std::fs::create_dir(&real).expect("mkdir");
        let target = real.join("state.json");
        if !dangling {
            std::fs::write(&target, "{\"version\": 1, \"overrides\": []}").expect("state");
        }
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let g = Gslbd::start_in(dir, &["--state", link.to_str().expect("utf8")]);
        // Another gslbd on the target itself is refused: the lock is the target's.
        let (code, err) = crate::harness::refused_start(
            &g.zones_dir(),
            &["--state", target.to_str().expect("utf8")],
        );
        assert_eq!(code, Some(1), "dangling={dangling}: it started:\n{err}");
        assert!(err.contains("another gslbd uses this state file"), "{err}");
        // A save writes the target and leaves the link a link.
        let (code, body) = g.api("POST", "/regions/gslb.example/www/a/drain", None);
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["persisted"], true, "{body}");
        let meta = std::fs::symlink_metadata(&link).expect("the link is there");
        assert!(
            meta.file_type().is_symlink(),
            "dangling={dangling}: the link was replaced"
        );
        let saved = std::fs::read_to_string(&target).expect("the target is written");
        assert!(saved.contains("\"drain\""), "{saved}");
    }
}
