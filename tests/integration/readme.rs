//! README.md stays true: every TOML example in it is a valid zone, the `gslbd check` sample is
//! what the binary prints for `zones/`, the set-up backend hint brings a region back, and the
//! admin API's curl examples work as written.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Gslbd, free_port, poll, run};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The bodies of fenced blocks that open with "```LANG".
fn blocks(text: &str, lang: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (current.as_mut(), fence) {
            (None, Some(l)) => current = Some((l.trim().to_string(), String::new())),
            (Some(_), Some("")) => {
                if let Some((l, body)) = current.take()
                    && l == lang
                {
                    out.push(body);
                }
            }
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_toml_example_is_a_valid_zone() {
    let toml = blocks(&readme(), "toml");
    assert!(!toml.is_empty());
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    for (i, b) in toml.iter().enumerate() {
        let file = dir.path().join(format!("readme-{i}.toml"));
        std::fs::write(&file, b).expect("write");
        if b.contains("[dnssec]") {
            // The signing section of the example zone: the zone with it, and the key it names.
            let key = dir.path().join("gslb.example.pem");
            let made = run(
                &[
                    "keygen",
                    "--zone",
                    "gslb.example.",
                    "--out",
                    key.to_str().expect("utf8"),
                ],
                dir.path(),
            );
            assert!(made.status.success(), "{made:?}");
            let zone = std::fs::read_to_string(zones.join("gslb.example.toml")).expect("zone");
            std::fs::write(&file, format!("{zone}\n{b}")).expect("write");
        }
        // An instance file (gslbd.toml) is checked with the example zones and its token file.
        let out = if b.contains("[cluster]") || b.contains("[transfer]") {
            std::fs::write(dir.path().join("cluster.token"), "readme-token").expect("token");
            let key = "hmac-sha256:xfr-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
            std::fs::write(dir.path().join("xfr.key"), key).expect("key");
            let zones = zones.to_str().expect("utf8");
            let config = file.to_str().expect("utf8");
            run(&["check", "--config", config, "--zones", zones], dir.path())
        } else {
            run(&["check", file.to_str().expect("utf8")], dir.path())
        };
        assert!(
            out.status.success(),
            "README toml block {i}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn check_sample_matches_the_binary() {
    let sample = blocks(&readme(), "")
        .into_iter()
        .find(|b| b.starts_with("zone gslb.example."))
        .expect("a check sample in README");
    let out = run(&["check"], Path::new(env!("CARGO_MANIFEST_DIR")));
    let actual = String::from_utf8_lossy(&out.stdout);
    for line in sample.lines() {
        assert!(
            actual.lines().any(|l| l == line),
            "README line not in `gslbd check` output:\n{line}\n---\n{actual}"
        );
    }
}

/// The example zones with their backend ports moved by `shift` (so the test cannot collide
/// with anything else on the machine), in a temp dir's `zones/`.
fn example_zones(shift: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    for entry in std::fs::read_dir(src).expect("zones/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).expect("read zone");
            std::fs::write(zones.join(path.file_name().expect("name")), shift(&text))
                .expect("write zone");
        }
    }
    dir
}

fn us_east(g: &Gslbd) -> String {
    let (_, s) = g.api("GET", "/status", None);
    s["zones"][0]["pools"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["pool"] == "www"))
        .and_then(|p| p["regions"].as_array())
        .and_then(|r| r.iter().find(|r| r["region"] == "us-east"))
        .and_then(|r| r["state"].as_str())
        .unwrap_or("")
        .to_string()
}

#[test]
fn the_set_up_backend_hint_brings_us_east_back() {
    let hint = blocks(&readme(), "sh")
        .into_iter()
        .find(|b| b.contains("http.server"))
        .expect("a backend hint in README");
    let port = free_port().to_string();
    let dir = example_zones(|z| z.replace("18081", &port));
    let g = Gslbd::start_in(dir, &[]);
    // A process group of its own: the hint's python runs as sh's child, and must go with it.
    let mut backend = Command::new("sh")
        .args([
            "-c",
            &format!("exec 2>/dev/null; {}", hint.replace("18081", &port)),
        ])
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("sh");
    let up = poll(Duration::from_secs(20), Duration::from_millis(100), || {
        (us_east(&g) == "up").then_some(())
    });
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", backend.id())])
        .status();
    let _ = backend.kill();
    let _ = backend.wait();
    assert!(
        up.is_some(),
        "us-east came back with the README's backend: {}",
        us_east(&g)
    );
}

#[test]
fn the_admin_curl_examples_work_as_written() {
    let g = Gslbd::start_in(example_zones(|z| z.to_string()), &[]);
    let admin = g.admin.clone().expect("admin");
    poll(Duration::from_secs(20), Duration::from_millis(100), || {
        (g.api("GET", "/readyz", None).0 == 200).then_some(())
    })
    .expect("ready");
    let section = readme();
    let section = &section[section.find("## Admin API").expect("admin section")..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    let commands: Vec<String> = blocks(section, "sh")
        .iter()
        .flat_map(|b| b.lines().map(str::to_string).collect::<Vec<_>>())
        .flat_map(|l| l.split(';').map(str::to_string).collect::<Vec<_>>())
        .map(|c| c.split(" | ").next().unwrap_or("").trim().to_string())
        .filter(|c| c.starts_with("curl ") && !c.contains("$("))
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    for c in commands {
        let c = c
            .replace("localhost:8053", &admin)
            .replace("127.0.0.1:8053", &admin);
        let out = Command::new("sh")
            .args(["-c", &format!("{c} -o /dev/null -w '%{{http_code}}'")])
            .output()
            .expect("sh");
        let code = String::from_utf8_lossy(&out.stdout);
        assert_eq!(code, "200", "{c}");
    }
}
