//! Operator overrides by the names an operator types: the zone in any case, with or without
//! its final dot; overrides left behind by a reload (or found in the state file) that name no
//! served region are listed as orphaned, logged, and clearable.

use std::time::Duration;

use crate::harness::{Gslbd, poll, zone_head};

fn zone(regions: &[(&str, &str)]) -> String {
    let mut z = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\n",
        zone_head("gslb.example.")
    );
    for (name, addr) in regions {
        z.push_str(&format!(
            "[pools.www.regions.{name}]\naddresses = [\"{addr}\"]\n"
        ));
    }
    z
}

fn answers(g: &Gslbd) -> Vec<String> {
    let mut a = g.dig("www.gslb.example A").answers("A");
    a.sort();
    a
}

#[test]
fn an_override_applies_whatever_the_zone_names_case_and_clears_in_any_case() {
    let g = Gslbd::start(&[("z.toml", &zone(&[("a", "192.0.2.1"), ("b", "192.0.2.2")]))]);
    let (code, body) = g.api("POST", "/regions/GSLB.EXAMPLE/www/a/drain", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        body["zone"], "gslb.example.",
        "stored under the canonical name"
    );
    assert_eq!(answers(&g), vec!["192.0.2.2"], "the drain applies");
    let (code, _) = g.api("POST", "/regions/gslb.example./www/a/undrain", None);
    assert_eq!(code, 200);
    assert_eq!(
        answers(&g),
        vec!["192.0.2.1", "192.0.2.2"],
        "cleared in lower case"
    );
    let state = std::fs::read_to_string(g.zones_dir().join(".gslbd-state.json")).expect("state");
    assert!(!state.contains("GSLB"), "{state}");
}

#[test]
fn overrides_of_removed_regions_are_orphaned_listed_and_clearable() {
    let g = Gslbd::start(&[("z.toml", &zone(&[("a", "192.0.2.1"), ("b", "192.0.2.2")]))]);
    let (code, _) = g.api("POST", "/regions/gslb.example/www/b/force-down", None);
    assert_eq!(code, 200);
    std::fs::write(g.zones_dir().join("z.toml"), zone(&[("a", "192.0.2.1")])).expect("rewrite");
    let (code, _) = g.api("POST", "/reload", None);
    assert_eq!(code, 200);
    let (_, status) = g.api("GET", "/status", None);
    let orphaned = status["orphaned_overrides"]
        .as_array()
        .expect("a list")
        .clone();
    assert_eq!(orphaned.len(), 1, "{status}");
    assert_eq!(orphaned[0]["region"], "b");
    assert_eq!(orphaned[0]["override"], "force-down");
    let warned = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        g.logs()
            .iter()
            .any(|l| {
                l.contains("override for a region that is not served") && l.contains("region=\"b\"")
            })
            .then_some(())
    });
    assert!(warned.is_some(), "{}", g.logs().join("\n"));
    // It comes back with its region, and applies again.
    std::fs::write(
        g.zones_dir().join("z.toml"),
        zone(&[("a", "192.0.2.1"), ("b", "192.0.2.2")]),
    )
    .expect("rewrite");
    g.api("POST", "/reload", None);
    assert_eq!(
        answers(&g),
        vec!["192.0.2.1"],
        "force-down applies to b again"
    );
    // Removed again, then cleared while orphaned.
    std::fs::write(g.zones_dir().join("z.toml"), zone(&[("a", "192.0.2.1")])).expect("rewrite");
    g.api("POST", "/reload", None);
    let (code, body) = g.api("POST", "/regions/GSLB.EXAMPLE/www/b/undrain", None);
    assert_eq!(code, 200, "{body}");
    let (_, status) = g.api("GET", "/status", None);
    assert_eq!(status["orphaned_overrides"], serde_json::json!([]));
    let state = std::fs::read_to_string(g.zones_dir().join(".gslbd-state.json")).expect("state");
    assert!(!state.contains("\"b\""), "{state}");
}

#[test]
fn a_state_file_naming_unknown_regions_loads_with_a_warning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(
        zones.join("z.toml"),
        zone(&[("a", "192.0.2.1"), ("b", "192.0.2.2")]),
    )
    .expect("zone");
    std::fs::write(
        zones.join(".gslbd-state.json"),
        r#"{"overrides": [
            {"zone": "GSLB.EXAMPLE", "pool": "www", "region": "a", "action": "drain"},
            {"zone": "gone.example.", "pool": "www", "region": "x", "action": "drain"}
        ]}"#,
    )
    .expect("state");
    let g = Gslbd::start_in(dir, &[]);
    assert_eq!(answers(&g), vec!["192.0.2.2"], "the known override applies");
    assert!(
        g.logs()
            .iter()
            .any(|l| l.contains("override for a region that is not served")
                && l.contains("gone.example.")),
        "{}",
        g.logs().join("\n")
    );
    let (_, status) = g.api("GET", "/status", None);
    assert_eq!(status["orphaned_overrides"][0]["zone"], "gone.example.");
}
