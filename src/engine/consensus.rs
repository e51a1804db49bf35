//! The engine's side of a cluster: peers' verdicts come in, the consensus is counted after
//! every own transition, peer poll and reload, and each change of the consensus is logged
//! (zone, pool, region, votes, rule) and published.

use std::time::Instant;

use tracing::{info, warn};

use super::Engine;
use crate::cluster::decide::How;
use crate::cluster::news::PeerNews;
use crate::cluster::{Change, Verdicts};
use crate::status::TransitionRecord;
use crate::telemetry;

impl Engine {
    /// A peer's poll arrived.
    pub(super) fn on_peer(&mut self, index: usize, result: Result<Verdicts, String>, at: Instant) {
        let Some(cluster) = self.cluster.as_mut() else {
            return;
        };
        cluster.heard(index, result, at);
        for news in cluster.peer_news(at) {
            match news {
                PeerNews::Stale {
                    url,
                    name,
                    error,
                    seconds,
                } => warn!(
                    peer = %url,
                    name = name.as_deref().unwrap_or("?"),
                    error = error.as_deref().unwrap_or("-"),
                    seconds_since_heard = seconds.unwrap_or(-1.0),
                    "cluster: peer stale; its votes abstain"
                ),
                PeerNews::Fresh { url, name } => info!(
                    peer = %url,
                    name = name.as_deref().unwrap_or("?"),
                    "cluster: peer heard from; its votes count"
                ),
                PeerNews::Conflict { url, why } => warn!(
                    peer = %url,
                    error = %why,
                    "cluster: peer name conflict; its votes abstain"
                ),
                PeerNews::ConflictCleared { url } => {
                    info!(peer = %url, "cluster: peer name conflict cleared; it votes again")
                }
            }
        }
        if let Some(isolated) = cluster.isolation_news(at) {
            if isolated {
                warn!(
                    quorum = cluster.config.quorum(),
                    "cluster: isolated, fewer instances than a quorum are heard from; own verdicts decide"
                );
            } else {
                info!("cluster: a quorum of instances is heard from; the rule decides");
            }
        }
        if self.agree() {
            self.publish();
        }
    }

    /// This instance's own verdicts, for `GET /cluster/verdicts`.
    pub(super) fn own_verdicts(&self) -> Option<Verdicts> {
        let c = self.cluster.as_ref()?;
        Some(c.own(&self.table, Instant::now()))
    }

    /// Counts the votes again; true when what DNS answers changed. Without a cluster, false.
    pub(super) fn agree(&mut self) -> bool {
        let Some(cluster) = self.cluster.as_mut() else {
            return false;
        };
        let now = Instant::now();
        let (serving, changes) = cluster.agree(&self.table, now);
        let rule = cluster.config.rule.name();
        let sample = sample(cluster, &self.table, now);
        telemetry::cluster::record(&sample);
        for c in changes {
            self.log_consensus(&c, rule);
        }
        self.table.set_agreed(serving)
    }

    fn log_consensus(&mut self, c: &Change, rule: &'static str) {
        let a = &c.agreement;
        let (from, to) = (up_down(c.from), up_down(a.serving));
        let how = match a.how {
            How::Quorum => "quorum",
            How::Tie => "tie",
            How::Isolated => "isolated",
            How::IsolatedKept => "isolated-kept",
        };
        let reason = format!(
            "consensus ({rule}, {how}): up {:?}, down {:?}",
            a.up, a.down
        );
        let (zone, pool, region) = (
            c.key.zone.as_str(),
            c.key.pool.as_str(),
            c.key.region.as_str(),
        );
        if a.serving {
            info!(zone, pool, region, from, to, rule, how, up = ?a.up, down = ?a.down, "consensus: region up");
        } else {
            warn!(zone, pool, region, from, to, rule, how, up = ?a.up, down = ?a.down, "consensus: region down");
        }
        telemetry::transition(zone, pool, region, to);
        self.remember(TransitionRecord::new(&c.key, from, to, reason));
    }
}

fn up_down(serving: bool) -> &'static str {
    if serving { "up" } else { "down" }
}

/// The metric values after a count.
fn sample(
    cluster: &crate::cluster::Cluster,
    table: &crate::health::HealthTable,
    now: Instant,
) -> telemetry::cluster::Sample {
    let status = cluster.status(now);
    let zones = table.zones();
    let regions = (0..zones.regions.len())
        .filter_map(|id| {
            let a = cluster.agreement(id)?;
            let (z, p, r) = zones.region(id)?;
            Some((
                [z.origin_name.to_string(), p.key.clone(), r.name.clone()],
                [a.up.len(), a.down.len(), a.abstain.len()],
                a.disagrees(),
            ))
        })
        .collect();
    telemetry::cluster::Sample {
        isolated: status.isolated,
        peers: status
            .peers
            .into_iter()
            .map(|p| (p.url, p.fresh, p.seconds_since_heard))
            .collect(),
        regions,
    }
}
