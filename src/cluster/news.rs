//! What changed about the peers since it was last said: a name conflict appearing or
//! clearing, so the engine logs transitions and not every poll.

use std::time::Instant;

use super::Cluster;

/// A change about one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerNews {
    /// Its name now conflicts (why); it abstains.
    Conflict { url: String, why: String },
    /// Its name no longer conflicts.
    ConflictCleared { url: String },
}

impl Cluster {
    /// The changes about the peers since this was last asked.
    pub fn peer_news(&mut self, now: Instant) -> Vec<PeerNews> {
        let conflicts = self.conflicts(now);
        let mut news = Vec::new();
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
