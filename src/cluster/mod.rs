//! Health consensus across the instances of an NS set (`[cluster]` in `gslbd.toml`).
//!
//! Each instance publishes its **own** probe verdicts at `GET /cluster/verdicts` (never the
//! consensus: no feedback loop), each with its age since the last probe (relative, so clocks
//! do not matter) and a hash of the region's probe settings and addresses. The engine's poller
//! (`engine::peers`) fetches the peers' verdicts and hands them to [`Cluster::agree`], which
//! runs the same function ([`decide`]) on every instance, and DNS answers from its result.
//! This module holds no task and does no I/O.

pub mod decide;
pub mod names;
pub mod news;
mod view;

pub use view::{ClusterStatus, PeerStatus};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::config::instance::ClusterConfig;
use crate::health::{HealthTable, RegionKey, State};
use crate::zone::{Region, ZoneSet};
use decide::{Abstain, Agreement, Ballot, How, Vote};

/// What `GET /cluster/verdicts` serves: this instance's own probe verdicts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdicts {
    pub instance: String,
    pub regions: Vec<RegionVerdict>,
}

/// One region's own verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegionVerdict {
    pub zone: String,
    pub pool: String,
    pub region: String,
    pub state: State,
    /// Milliseconds since the last probe result (`None`: not probed yet).
    pub age_ms: Option<u64>,
    /// Hash of the region's probe settings and addresses: votes count only between equals.
    pub settings: String,
}

/// The hash of a probed region's probe settings and addresses (SHA-256, 128 bits in hex);
/// `None` for a region without a probe.
pub fn settings_hash(region: &Region) -> Option<String> {
    let spec = region.probe.as_ref()?;
    let text = serde_json::to_vec(&(spec, &region.addresses)).ok()?;
    let digest = ring::digest::digest(&ring::digest::SHA256, &text);
    Some(
        digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// A peer as this instance knows it.
#[derive(Debug)]
struct Peer {
    /// Its admin URL, as configured.
    url: String,
    /// The name it publishes.
    name: Option<String>,
    /// When its verdicts last arrived.
    heard: Option<Instant>,
    votes: HashMap<RegionKey, Vote>,
    /// Why the last poll failed.
    error: Option<String>,
    /// Polled at least once (heard from or not).
    polled: bool,
    /// The name conflict last logged.
    said_conflict: Option<String>,
    /// The freshness last logged (`None`: not yet).
    said_fresh: Option<bool>,
}

impl Peer {
    fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.url)
    }
}

/// A change of a region's consensus.
pub struct Change {
    pub key: RegionKey,
    pub from: bool,
    pub agreement: Agreement,
}

/// The cluster state the engine keeps: the peers' latest verdicts and the last consensus.
pub struct Cluster {
    pub config: Arc<ClusterConfig>,
    peers: Vec<Peer>,
    /// The last result per region (serving or not): what a change is measured from.
    last: HashMap<RegionKey, bool>,
    /// The last result a quorum of votes decided per region (never a tie, never this
    /// instance's own isolated decisions): what a tie keeps, and what an isolated instance
    /// keeps a pool at. The same on every instance that counted the same votes.
    agreed: HashMap<RegionKey, bool>,
    /// Settings hashes of the current zones, by region id.
    settings: Vec<Option<String>>,
    /// The last agreement per region id (`None`: not probed).
    agreements: Vec<Option<Agreement>>,
    /// Whether this instance was last said to be isolated (`None`: not yet said).
    said_isolated: Option<bool>,
}

impl Cluster {
    pub fn new(config: Arc<ClusterConfig>, zones: &ZoneSet) -> Self {
        let peers = config
            .peers
            .iter()
            .map(|u| Peer {
                url: u.to_string(),
                name: None,
                heard: None,
                votes: HashMap::new(),
                error: None,
                polled: false,
                said_conflict: None,
                said_fresh: None,
            })
            .collect();
        let mut c = Cluster {
            config,
            peers,
            last: HashMap::new(),
            agreed: HashMap::new(),
            settings: Vec::new(),
            agreements: Vec::new(),
            said_isolated: None,
        };
        c.zones_changed(zones);
        c
    }

    /// Recomputes the settings hashes after a reload.
    pub fn zones_changed(&mut self, zones: &ZoneSet) {
        self.settings = (0..zones.regions.len())
            .map(|id| zones.region(id).and_then(|(_, _, r)| settings_hash(r)))
            .collect();
    }

    /// This instance's own verdicts, as peers fetch them.
    pub fn own(&self, table: &HealthTable, now: Instant) -> Verdicts {
        let zones = table.zones();
        let mut regions = Vec::new();
        for id in 0..zones.regions.len() {
            let (Some((zone, pool, region)), Some(Some(settings))) =
                (zones.region(id), self.settings.get(id))
            else {
                continue;
            };
            let Some(t) = region.target.and_then(|t| table.target(t)) else {
                continue;
            };
            let key = RegionKey::of(zone, pool, region);
            regions.push(RegionVerdict {
                zone: key.zone,
                pool: key.pool,
                region: key.region,
                state: t.state,
                age_ms: t
                    .last
                    .map(|(_, _, at)| millis(now.saturating_duration_since(at))),
                settings: settings.clone(),
            });
        }
        Verdicts {
            instance: self.config.name.clone(),
            regions,
        }
    }

    /// Records one poll of peer `index`: its verdicts, or why they could not be had.
    pub fn heard(&mut self, index: usize, result: Result<Verdicts, String>, at: Instant) {
        let Some(peer) = self.peers.get_mut(index) else {
            return;
        };
        peer.polled = true;
        match result {
            Ok(v) => {
                peer.name = Some(v.instance);
                peer.heard = Some(at);
                peer.error = None;
                peer.votes = v
                    .regions
                    .into_iter()
                    .map(|r| {
                        let age = r.age_ms.map_or(Duration::MAX, Duration::from_millis);
                        let key = RegionKey {
                            zone: r.zone,
                            pool: r.pool,
                            region: r.region,
                        };
                        let vote = Vote {
                            state: r.state,
                            age,
                            settings: r.settings,
                        };
                        (key, vote)
                    })
                    .collect();
            }
            Err(e) => peer.error = Some(e),
        }
    }

    fn fresh(&self, peer: &Peer, now: Instant) -> bool {
        peer.heard
            .is_some_and(|h| now.saturating_duration_since(h) <= self.config.stale_after)
    }

    /// Why each peer's name is in conflict (fresh peers only), in peer order.
    pub fn conflicts(&self, now: Instant) -> Vec<Option<String>> {
        let named: Vec<(&str, Option<&str>)> = self
            .peers
            .iter()
            .map(|p| {
                let name = self.fresh(p, now).then_some(p.name.as_deref()).flatten();
                (p.url.as_str(), name)
            })
            .collect();
        names::conflicts(&self.config.name, &named)
    }

    /// Counts every probed region's votes; returns the serving verdict per region id (`None`:
    /// not probed, the table's own view applies) and the regions whose consensus changed.
    pub fn agree(&mut self, table: &HealthTable, now: Instant) -> (Vec<Option<bool>>, Vec<Change>) {
        let zones = table.zones().clone();
        let (rule, quorum) = (self.config.rule, self.config.quorum());
        let mut agreements: Vec<Option<Agreement>> = vec![None; zones.regions.len()];
        let mut keys: Vec<Option<RegionKey>> = vec![None; zones.regions.len()];
        let conflicts = self.conflicts(now);
        for (id, slot) in agreements.iter_mut().enumerate() {
            let Some((zone, pool, region)) = zones.region(id) else {
                continue;
            };
            let (Some(spec), Some(t)) = (
                region.probe.as_ref(),
                region.target.and_then(|t| table.target(t)),
            ) else {
                continue;
            };
            let key = RegionKey::of(zone, pool, region);
            let own = Vote {
                state: t.state,
                age: t.last.map_or(Duration::ZERO, |(_, _, at)| {
                    now.saturating_duration_since(at)
                }),
                settings: self.settings.get(id).cloned().flatten().unwrap_or_default(),
            };
            let peer_votes: Vec<(&str, Result<Option<Vote>, Abstain>)> = self
                .peers
                .iter()
                .zip(&conflicts)
                .map(|(p, conflict)| {
                    if conflict.is_some() {
                        return (p.url.as_str(), Err(Abstain::Duplicate));
                    }
                    let vote = self.fresh(p, now).then(|| {
                        p.votes.get(&key).map(|v| Vote {
                            age: v.age.saturating_add(
                                p.heard
                                    .map_or(Duration::ZERO, |h| now.saturating_duration_since(h)),
                            ),
                            ..v.clone()
                        })
                    });
                    (p.label(), vote.ok_or(Abstain::Stale))
                })
                .collect();
            let ballot = Ballot {
                own: &own,
                own_serving: t.serving(),
                max_age: spec.interval + spec.timeout + self.config.stale_after,
                peers: peer_votes
                    .iter()
                    .map(|(n, v)| (*n, v.as_ref().map(|v| v.as_ref()).map_err(|e| *e)))
                    .collect(),
            };
            *slot = Some(decide::region(&self.config.name, &ballot, rule, quorum));
            keys[id] = Some(key);
        }
        for zone in &zones.zones {
            for pool in &zone.pools {
                let ids: Vec<usize> = pool.regions.iter().map(|r| r.id).collect();
                let mut taken: Vec<(Agreement, Option<bool>)> = ids
                    .iter()
                    .filter_map(|&id| {
                        let a = agreements.get_mut(id)?.take()?;
                        let prev = keys[id].as_ref().and_then(|k| self.agreed.get(k).copied());
                        Some((a, prev))
                    })
                    .collect();
                let mut refs: Vec<(&mut Agreement, Option<bool>)> =
                    taken.iter_mut().map(|(a, p)| (a, *p)).collect();
                decide::guard_pool(&mut refs);
                let mut back = taken.into_iter();
                for &id in &ids {
                    if keys[id].is_some() {
                        agreements[id] = back.next().map(|(a, _)| a);
                    }
                }
            }
        }
        let mut changes = Vec::new();
        let (mut last, mut agreed) = (HashMap::new(), HashMap::new());
        for (key, a) in keys.into_iter().zip(&agreements) {
            let (Some(key), Some(a)) = (key, a) else {
                continue;
            };
            if let Some(&from) = self.last.get(&key)
                && from != a.serving
            {
                changes.push(Change {
                    key: key.clone(),
                    from,
                    agreement: a.clone(),
                });
            }
            if let Some(v) = (a.how == How::Quorum)
                .then_some(a.serving)
                .or_else(|| self.agreed.get(&key).copied())
            {
                agreed.insert(key.clone(), v);
            }
            last.insert(key, a.serving);
        }
        self.last = last;
        self.agreed = agreed;
        let serving = agreements
            .iter()
            .map(|a| a.as_ref().map(|a| a.serving))
            .collect();
        self.agreements = agreements;
        (serving, changes)
    }

    /// True when the isolation guard holds any of these regions (by id) at the last agreed set.
    pub fn held(&self, ids: impl IntoIterator<Item = usize>) -> bool {
        ids.into_iter().any(|id| {
            self.agreement(id)
                .is_some_and(|a| a.how == How::IsolatedKept)
        })
    }

    /// A region's last agreement, by region id.
    pub fn agreement(&self, id: usize) -> Option<&Agreement> {
        self.agreements.get(id)?.as_ref()
    }

    /// Whether this instance became isolated (`Some(true)`) or joined a quorum again
    /// (`Some(false)`) since this was last asked; first answered once every peer was polled.
    pub fn isolation_news(&mut self, now: Instant) -> Option<bool> {
        if !self.peers.iter().all(|p| p.polled) {
            return None;
        }
        let isolated = self.isolated(now);
        (self.said_isolated != Some(isolated)).then(|| {
            self.said_isolated = Some(isolated);
            isolated
        })
    }

    /// True when fewer instances than a quorum are heard from (this one included).
    pub fn isolated(&self, now: Instant) -> bool {
        let fresh = self
            .peers
            .iter()
            .zip(self.conflicts(now))
            .filter(|(p, conflict)| conflict.is_none() && self.fresh(p, now))
            .count();
        fresh + 1 < self.config.quorum()
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
