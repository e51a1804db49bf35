//! No Docker engine runs here, so the image is checked another way: every path the
//! Dockerfile copies exists, it runs as a non-root user, and its ENTRYPOINT + CMD start the
//! real binary (with the zones volume pointed at `zones/` and the port at 0) until `ready`.

use std::path::Path;

use crate::harness::Gslbd;

fn dockerfile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/Dockerfile");
    std::fs::read_to_string(path).expect("docker/Dockerfile")
}

/// The JSON array after an instruction, e.g. `CMD ["serve", ...]`.
fn exec_form(text: &str, instruction: &str) -> Vec<String> {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("no {instruction} line"));
    serde_json::from_str(line[instruction.len()..].trim()).expect("exec form JSON array")
}

#[test]
fn copied_paths_exist_and_user_is_not_root() {
    let text = dockerfile();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            assert!(
                root.join(src).exists(),
                "Dockerfile copies missing path {src}"
            );
        }
    }
    let user = text
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER line");
    assert_ne!(user.trim(), "root");
    assert!(text.contains("VOLUME [\"/zones\"]"));
}

#[test]
fn entrypoint_and_cmd_start_the_server() {
    let text = dockerfile();
    let entry = exec_form(&text, "ENTRYPOINT");
    assert_eq!(entry, vec!["gslbd"]);
    let zones = Path::new(env!("CARGO_MANIFEST_DIR")).join("zones");
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state.json");
    let args: Vec<String> = exec_form(&text, "CMD")
        .into_iter()
        .map(|a| match a.as_str() {
            "/zones" => zones.to_string_lossy().into_owned(),
            "0.0.0.0:5353" => "127.0.0.1:0".to_string(),
            "/var/lib/gslbd/state.json" => state.to_string_lossy().into_owned(),
            _ => a,
        })
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("serve"));
    let g = Gslbd::start_args(&args[1..]);
    assert_eq!(g.dig("gslb.example SOA").status, "NOERROR");
}
