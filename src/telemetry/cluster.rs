//! The cluster's series: each peer's freshness and age, whether this instance is isolated, and
//! each region's votes. Set by the engine after every count; series no longer current are
//! forgotten (the exporter then drops them), the rest are touched at every scrape.

use std::collections::HashMap;
use std::sync::Mutex;

use metrics::Gauge;

/// 1 while the peer's verdicts are fresh (heard within `stale_after`), by `peer` (its URL).
pub const CLUSTER_PEER_FRESH: &str = "gslbd_cluster_peer_fresh";
/// Seconds since the peer's verdicts last arrived (as of the last poll), by `peer`.
pub const CLUSTER_PEER_AGE_SECONDS: &str = "gslbd_cluster_peer_age_seconds";
/// 1 while fewer instances than a quorum are heard from (own verdicts decide), else 0.
pub const CLUSTER_ISOLATED: &str = "gslbd_cluster_isolated";
/// Votes on a region, by `zone`, `pool`, `region` and `vote` (`up`, `down`, `abstain`).
pub const CLUSTER_REGION_VOTES: &str = "gslbd_cluster_region_votes";
/// 1 while the counted votes on a region disagree, by `zone`, `pool`, `region`.
pub const CLUSTER_REGION_DISAGREEMENT: &str = "gslbd_cluster_region_disagreement";

type Key = (&'static str, Vec<(&'static str, String)>);

static GAUGES: Mutex<Option<HashMap<Key, Gauge>>> = Mutex::new(None);

/// What the engine knows after a count.
pub struct Sample {
    pub isolated: bool,
    /// URL, fresh, seconds since heard (`None`: never).
    pub peers: Vec<(String, bool, Option<f64>)>,
    /// zone, pool, region, votes up / down / abstaining, disagreement.
    pub regions: Vec<([String; 3], [usize; 3], bool)>,
}

/// Sets every cluster series from `s`; forgets the series it does not name.
pub fn record(s: &Sample) {
    let mut values: Vec<(Key, f64)> = vec![(
        (CLUSTER_ISOLATED, Vec::new()),
        f64::from(u8::from(s.isolated)),
    )];
    for (url, fresh, age) in &s.peers {
        let labels = vec![("peer", url.clone())];
        values.push((
            (CLUSTER_PEER_FRESH, labels.clone()),
            f64::from(u8::from(*fresh)),
        ));
        if let Some(age) = age {
            values.push(((CLUSTER_PEER_AGE_SECONDS, labels), *age));
        }
    }
    for ([zone, pool, region], votes, disagrees) in &s.regions {
        let base = vec![
            ("zone", zone.clone()),
            ("pool", pool.clone()),
            ("region", region.clone()),
        ];
        for (vote, n) in ["up", "down", "abstain"].into_iter().zip(votes) {
            let mut labels = base.clone();
            labels.push(("vote", vote.to_string()));
            values.push(((CLUSTER_REGION_VOTES, labels), *n as f64));
        }
        values.push((
            (CLUSTER_REGION_DISAGREEMENT, base),
            f64::from(u8::from(*disagrees)),
        ));
    }
    let mut guard = GAUGES.lock().unwrap_or_else(|e| e.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    let mut current = HashMap::with_capacity(values.len());
    for (key, v) in values {
        let g = map.remove(&key).unwrap_or_else(|| {
            let labels: Vec<metrics::Label> = key
                .1
                .iter()
                .map(|(k, v)| metrics::Label::new(*k, v.clone()))
                .collect();
            metrics::gauge!(key.0, labels)
        });
        g.set(v);
        current.insert(key, g);
    }
    *map = current;
}

/// Marks every current cluster series as live (at scrape).
pub fn touch() {
    let guard = GAUGES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(map) = guard.as_ref() {
        for g in map.values() {
            g.increment(0.0);
        }
    }
}
