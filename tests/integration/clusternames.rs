//! Votes count once per instance: a cluster counts each peer by the name it publishes, so one
//! instance listed twice (`127.0.0.1:P` and `localhost:P`), two peers publishing one name, or a
//! peer publishing this instance's own name abstain (an error in `/status`, logged) instead of
//! voting twice; `check` rejects peer URLs that resolve to the same address.

use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::cluster::{
    BOTH, CONSENSUS, DETECTION, answers, fake_peer, instance, instance_file_urls, instance_urls,
    region, settled, status, zone,
};
use crate::harness::{free_port, http, poll, run};

#[test]
fn one_instance_listed_twice_or_a_name_published_twice_abstains_and_says_so() {
    let (east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let (held, pp) = crate::cluster::held_port();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let b = instance("b", pb, &[pa, pc], &[("z.toml", &z)]);
    let c = instance("c", pc, &[pa, pb], &[("z.toml", &z)]);
    // A relay publishing b's verdicts under b's name.
    let relay = fake_peer(held, format!("127.0.0.1:{pb}"), "b", false);
    // a lists b three times (two URLs of b itself and the relay), and itself.
    let peers: Vec<String> = [
        format!("http://127.0.0.1:{pb}"),
        format!("http://localhost:{pb}"),
        format!("http://127.0.0.1:{pp}"),
        format!("http://127.0.0.1:{pc}"),
        format!("http://127.0.0.1:{pa}"),
    ]
    .into();
    let a = instance_urls("a", pa, &peers, &[("z.toml", &z)]);
    settled(&[&b, &c]);
    poll(Duration::from_secs(20), Duration::from_millis(100), || {
        let s = status(&a);
        let heard = s["cluster"]["peers"]
            .as_array()?
            .iter()
            .filter(|p| p["url"] != format!("http://127.0.0.1:{pa}/"))
            .all(|p| p["seconds_since_heard"].is_number());
        let up = ["east", "west"]
            .iter()
            .all(|r| region(&s, r)["state"] == "up");
        (heard && up).then_some(())
    })
    .expect("a hears every peer");
    // b's path to east breaks: b votes down, a and c up.
    east.block_agents(&["(b)"]);
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (region(&status(&b), "east")["state"] == "down").then_some(())
    })
    .expect("b sees east down");
    // Counted three times, b would outvote a and c at a: the NS set would answer differently.
    let until = Instant::now() + Duration::from_secs_f64(3.0 * (DETECTION + CONSENSUS));
    while Instant::now() < until {
        for g in [&a, &b, &c] {
            assert_eq!(answers(g), BOTH, "an instance dropped east");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = status(&a);
    let east_a = region(&s, "east");
    assert_eq!(east_a["votes"]["down"], serde_json::json!([]), "{east_a}");
    let duplicates = east_a["votes"]["abstain"]
        .as_array()
        .expect("abstain")
        .iter()
        .filter(|v| v[1] == "duplicate")
        .count();
    assert_eq!(duplicates, 4, "{east_a}");
    // Each is an error in /status, naming the conflict.
    for p in s["cluster"]["peers"].as_array().expect("peers") {
        let url = p["url"].as_str().expect("url");
        let error = p["error"].as_str().unwrap_or_default();
        if url.contains(&pc.to_string()) {
            assert!(p["error"].is_null(), "{p}");
        } else if url.contains(&pa.to_string()) {
            assert!(error.contains("this instance's name"), "{p}");
        } else {
            assert!(error.contains("also calls itself \"b\""), "{p}");
        }
    }
    let logs = a.logs().join("\n");
    assert!(logs.contains("cluster: peer name conflict"), "{logs}");
    let _ = http(&format!("127.0.0.1:{pp}"), "GET", "/stop", None);
    let _ = relay.join();
}

#[test]
fn check_rejects_peer_urls_that_resolve_to_one_instance() {
    let (east, west) = (Backend::http(), Backend::http());
    let (dir, _) = crate::cluster::instance_dir(&east, &west);
    let port = free_port();
    let peers = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
    ];
    std::fs::write(
        dir.path().join("gslbd.toml"),
        instance_file_urls("a", &peers),
    )
    .expect("toml");
    let out = run(&["check", "--zones", "zones"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let col = instance_file_urls("a", &peers)
        .lines()
        .nth(2)
        .and_then(|l| l.find("\"http://localhost"))
        .expect("column")
        + 1;
    assert!(
        err.contains(&format!(
            "gslbd.toml:3:{col}: peer http://localhost:{port}/ reaches the same instance as \
             peer http://127.0.0.1:{port}/ (127.0.0.1:{port})"
        )),
        "{err}"
    );
    // Different ports of one host are different instances.
    let other = [
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{}", free_port()),
    ];
    std::fs::write(
        dir.path().join("gslbd.toml"),
        instance_file_urls("a", &other),
    )
    .expect("toml");
    let out = run(&["check", "--zones", "zones"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
