//! What changed about the peers since it was last said: a peer going stale or being heard from
//! again (quorum or not), a name conflict appearing or clearing; so the engine logs
//! transitions, not every poll.

use std::time::Instant;

use super::Cluster;

/// A change about one peer.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerNews {
    /// Not heard from within `stale_after` (or never, after its first poll): it abstains.
    Stale {
        url: String,
        name: Option<String>,
        /// Why its last poll failed.
        error: Option<String>,
        /// Since it was last heard from (`None`: never).
        seconds: Option<f64>,
    },
    /// Heard from again (or for the first time).
    Fresh { url: String, name: Option<String> },
    /// Its name now conflicts (why); it abstains.
    Conflict { url: String, why: String },
    /// Its name no longer conflicts.
    ConflictCleared { url: String },
}

impl Cluster {
    /// The changes about the peers since this was last asked.
    pub fn peer_news(&mut self, now: Instant) -> Vec<PeerNews> {
        let conflicts = self.conflicts(now);
        let fresh: Vec<bool> = self.peers.iter().map(|p| self.fresh(p, now)).collect();
        let mut news = Vec::new();
        for (peer, fresh) in self.peers.iter_mut().zip(fresh) {
            if !peer.polled || peer.said_fresh == Some(fresh) {
                continue;
            }
            let (url, name) = (peer.url.clone(), peer.name.clone());
            news.push(if fresh {
                PeerNews::Fresh { url, name }
            } else {
                PeerNews::Stale {
                    url,
                    name,
                    error: peer.error.clone(),
                    seconds: peer
                        .heard
                        .map(|h| now.saturating_duration_since(h).as_secs_f64()),
                }
            });
            peer.said_fresh = Some(fresh);
        }
        for (peer, conflict) in self.peers.iter_mut().zip(conflicts) {
            if peer.said_conflict == conflict {
                continue;
            }
            let url = peer.url.clone();
            news.push(match &conflict {
                Some(why) => PeerNews::Conflict {
                    url,
                    why: why.clone(),
                },
                None => PeerNews::ConflictCleared { url },
            });
            peer.said_conflict = conflict;
        }
        news
    }
}
