//! Losing peers: one going stale is logged even while a quorum holds (and logged again when it
//! is heard from), besides the isolation transitions; an instance isolated after a consensus
//! keeps a pool its own verdicts would empty at the last *agreed* regions, and shows it held.

use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::cluster::{BOTH, answers, cluster, region, settled, status, until_east, zone};
use crate::harness::{http, poll};

#[test]
fn a_peer_going_stale_while_the_quorum_holds_is_logged() {
    let (east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let mut nodes = cluster(3, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    let c_url = status(&nodes[0])["cluster"]["peers"][1]["url"]
        .as_str()
        .expect("url")
        .to_string();
    assert_eq!(status(&nodes[0])["cluster"]["peers"][1]["name"], "c");
    // Peers not up yet at start are logged as stale there: only what comes after counts.
    let before = nodes[0].logs().len();
    nodes[2].terminate();
    let after = || nodes[0].logs().split_off(before).join("\n");
    let logs = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        let logs = after();
        logs.lines()
            .any(|l| l.contains("cluster: peer stale") && l.contains(&c_url))
            .then_some(logs)
    });
    let logs = logs.unwrap_or_else(after);
    assert!(
        logs.contains("cluster: peer stale"),
        "a's log does not say c went stale:\n{logs}"
    );
    // The series behind GslbdClusterPeerStale and the dashboard's cluster panels.
    let metrics = nodes[0].metrics();
    let stale = format!("gslbd_cluster_peer_fresh{{peer=\"{c_url}\"}} 0");
    assert!(metrics.lines().any(|l| l == stale), "{metrics}");
    assert!(
        metrics.lines().any(|l| l == "gslbd_cluster_isolated 0"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gslbd_cluster_region_disagreement{")),
        "{metrics}"
    );
    // The quorum held: a never said it was isolated.
    assert_eq!(status(&nodes[0])["cluster"]["isolated"], false);
    assert!(!logs.contains("cluster: isolated"), "{logs}");
}

#[test]
fn an_isolated_instance_keeps_the_last_agreed_regions_of_a_pool_it_would_empty() {
    let (mut east, mut west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let mut nodes = cluster(3, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    // The last consensus has east and west serving (a quorum decided both: on a slow machine
    // answers can settle before every peer has voted on every region); then b and c go away.
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let s = status(&nodes[0]);
        ["east", "west"]
            .iter()
            .all(|r| region(&s, r)["votes"]["how"] == "quorum")
            .then_some(())
    })
    .expect("a quorum decided east and west");
    for mut g in nodes.drain(1..) {
        g.terminate();
    }
    let a = nodes.pop().expect("a");
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (status(&a)["cluster"]["isolated"] == true).then_some(())
    })
    .expect("a is isolated");
    // Alone, its own view takes east out (the pool still serves west)...
    east.set(Mode::Status(503));
    until_east(&a, false, Duration::from_secs(10)).expect("east leaves");
    assert_eq!(region(&status(&a), "east")["votes"]["how"], "isolated");
    assert_ne!(status(&a)["zones"][0]["pools"][0]["held"], true);
    // ...but when west fails too, the pool keeps its last *agreed* regions (east and west),
    // not the region its own isolated decisions saw fail last.
    west.set(Mode::Status(503));
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (region(&status(&a), "west")["state"] == "down").then_some(())
    })
    .expect("west down by its own probes");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(answers(&a), BOTH);
    let s = status(&a);
    for r in ["east", "west"] {
        assert_eq!(region(&s, r)["votes"]["how"], "isolated-kept", "{r}");
        assert_eq!(region(&s, r)["serving"], true, "{r}");
    }
    assert_eq!(s["zones"][0]["pools"][0]["held"], true);
    let (_, page) = http(a.admin.as_deref().expect("admin"), "GET", "/", None);
    assert!(
        page.contains("held at the last agreed regions"),
        "the page shows the pool held"
    );
    // A region that recovers is back on its own view: the hold ends.
    east.set(Mode::Healthy);
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let s = status(&a);
        (s["zones"][0]["pools"][0]["held"] == false && answers(&a) == ["192.0.2.1"]).then_some(())
    })
    .expect("the hold ends when east is back");
}
