//! `gslbd check` and startup failures through the real binary.

use std::path::Path;

use crate::harness::{Gslbd, run, zone_head};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn check_accepts_the_example_zones_and_prints_the_cutover_table() {
    let out = run(&["check"], repo());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("detection") && text.contains("cutover") && text.contains("recovery"),
        "{text}"
    );
    assert!(text.contains("zone (worst pool)"), "{text}");
}

#[test]
fn check_json_has_the_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut z = zone_head("t.example.");
    z.push_str(
        "[pools.www]\ntype = \"A\"\nttl = 60\non_all_down = \"none\"\n[pools.www.probe]\ninterval = \"10s\"\ntimeout = \"2s\"\nfall = 3\nrise = 2\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncapacity = 0.6\n[pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncapacity = 0.6\n",
    );
    let file = dir.path().join("t.toml");
    std::fs::write(&file, z).expect("write");
    let out = run(&["check", "--json", file.to_str().expect("utf8")], repo());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pool = &v["zones"][0]["pools"][0];
    // 10 s × 3 + 2 s = 32 s detection; + 60 s TTL + 1 s resolver clock = 93 s; back in the
    // answers 2 × 10 + 2 = 22 s, + 60 s TTL + 1 s = 83 s recovery.
    assert_eq!(pool["worst"]["detection"], 32.0);
    assert_eq!(pool["worst"]["cutover"], 93.0);
    assert_eq!(pool["worst"]["readmission"], 22.0);
    assert_eq!(pool["worst"]["recovery"], 83.0);
    assert_eq!(pool["worst"]["recovery_cache"]["kind"], "ttl");
    // The NODATA of an all-down pool is cached 30 s (SOA minimum), within the TTL.
    assert_eq!(pool["all_down_cache"]["kind"], "negative");
    assert_eq!(pool["all_down_cache"]["seconds"], 30.0);
    assert_eq!(v["zones"][0]["worst"]["cutover"], 93.0);
    // N-1: either region failing sends 100 % to the other, over its 60 % capacity.
    let fails = &v["zones"][0]["n_minus_1"][0]["failures"];
    assert_eq!(fails[0]["over_capacity"][0], "b");
    assert_eq!(fails[1]["over_capacity"][0], "a");
}

#[test]
fn check_rejects_a_bad_file_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        format!(
            "{}[pools.www]\ntype = \"A\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\nwieght = 2\n",
            zone_head("t.example.")
        ),
    )
    .expect("write");
    let out = run(&["check", file.to_str().expect("utf8")], repo());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:23:1: unknown field `wieght`"),
        "{err}"
    );
}

#[test]
fn serve_refuses_to_start_on_a_bad_zone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("good.toml"), zone_head("good.example.")).expect("write");
    std::fs::write(
        zones.join("bad.toml"),
        format!("{}ttl = \"x\"\n", zone_head("bad.example.")),
    )
    .expect("write");
    let out = run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--zones",
            zones.to_str().expect("utf8"),
        ],
        repo(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:19:7: expected a TTL: a whole number of seconds"),
        "{err}"
    );
    assert_eq!(err.matches("bad.toml").count(), 1, "reported once: {err}");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let mut g = Gslbd::start(&[("t.toml", &zone_head("t.example."))]);
    assert_eq!(g.dig("t.example SOA").status, "NOERROR");
    let status = g.terminate().expect("exited after SIGTERM");
    assert!(status.success(), "{status}");
}

#[test]
fn absurd_numbers_are_load_errors_never_panics() {
    use crate::harness::{Gslbd, zone_head};
    let absurd = |probe: &str| {
        format!(
            "{}[pools.www]\ntype = \"A\"\n[pools.www.probe]\n{probe}\n\
             [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"http://127.0.0.1:1/\"\n",
            zone_head("gslb.example.")
        )
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    for probe in [
        "interval = \"18446744073s 709551616ns\"",
        "interval = \"100000000days\"",
        "hold_down = \"100000000days\"",
        "fall = 4000000000",
    ] {
        std::fs::write(zones.join("z.toml"), absurd(probe)).expect("write");
        let out = run(&["check", "--zones", "zones"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{probe}: {err}");
        assert!(err.contains("z.toml:22:"), "{probe}: {err}");
    }
    // A reload with one keeps the old zones serving and the engine alive.
    std::fs::write(zones.join("z.toml"), absurd("interval = \"1s\"")).expect("write");
    let g = Gslbd::start_in(dir, &[]);
    std::fs::write(
        g.zones_dir().join("z.toml"),
        absurd("hold_down = \"100000000days\""),
    )
    .expect("write");
    let (code, _) = g.api("POST", "/reload", None);
    assert_eq!(code, 422);
    assert_eq!(g.dig("www.gslb.example A").status, "NOERROR");
    let (code, _) = g.api("GET", "/status", None);
    assert_eq!(code, 200, "the engine still answers");
}

#[test]
fn status_watch_rejects_periods_that_are_not_finite_seconds() {
    let dir = tempfile::tempdir().expect("tempdir");
    for bad in ["nan", "inf", "-1", "0", "1e300"] {
        let arg = format!("--watch={bad}");
        let out = run(&["status", &arg, "--admin", "127.0.0.1:1"], dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(
            err.contains("the period must be from 0.1 to 86400 seconds"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn check_into_a_closed_pipe_exits_without_a_panic() {
    // `gslbd check | head`: the reader is gone before gslbd writes.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    for args in [
        &["check", "--zones"][..],
        &["check", "--json", "--zones"][..],
    ] {
        let out = std::process::Command::new(crate::harness::BIN)
            .args(args)
            .arg(repo().join("zones"))
            .stdout(writer.try_clone().expect("clone"))
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run gslbd check");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {stderr}");
    }
}
