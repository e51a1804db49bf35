//! A peer going stale is logged even while a quorum holds (and logged again when it is heard
//! from), besides the isolation transitions.

use std::time::Duration;

use crate::backend::Backend;
use crate::cluster::{cluster, settled, status, zone};
use crate::harness::poll;

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
