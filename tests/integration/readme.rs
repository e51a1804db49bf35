//! README.md stays true: every TOML example in it is a valid zone, and the `gslbd check`
//! sample is what the binary prints for `zones/`.

use std::path::Path;

use crate::harness::run;

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
    for (i, b) in toml.iter().enumerate() {
        let file = dir.path().join(format!("readme-{i}.toml"));
        std::fs::write(&file, b).expect("write");
        let out = run(&["check", file.to_str().expect("utf8")], dir.path());
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
