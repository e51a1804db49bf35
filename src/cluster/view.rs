//! The cluster as `/status` shows it: name, rule, quorum, isolation and each peer's freshness
//! and last error (a poll's failure, or its name conflict).

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Cluster;

impl Cluster {
    /// The cluster part of `/status`.
    pub fn status(&self, now: Instant) -> ClusterStatus {
        ClusterStatus {
            name: self.config.name.clone(),
            rule: self.config.rule.name().to_string(),
            size: self.config.size(),
            quorum: self.config.quorum(),
            isolated: self.isolated(now),
            peers: self
                .peers
                .iter()
                .zip(self.conflicts(now))
                .map(|(p, conflict)| PeerStatus {
                    url: p.url.clone(),
                    name: p.name.clone(),
                    fresh: self.fresh(p, now),
                    seconds_since_heard: p
                        .heard
                        .map(|h| now.saturating_duration_since(h).as_secs_f64()),
                    error: conflict.or_else(|| p.error.clone()),
                })
                .collect(),
        }
    }
}

/// The cluster as `/status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub name: String,
    pub rule: String,
    pub size: usize,
    pub quorum: usize,
    /// Fewer instances than a quorum are heard from: own verdicts decide.
    pub isolated: bool,
    pub peers: Vec<PeerStatus>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerStatus {
    pub url: String,
    pub name: Option<String>,
    /// Heard from within `stale_after`.
    pub fresh: bool,
    pub seconds_since_heard: Option<f64>,
    /// Why the last poll failed.
    pub error: Option<String>,
}
