//! The engine task: feeds probe results into the health table, logs every transition once,
//! and publishes a new snapshot on each, so the next DNS query sees it.

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::health::{HealthTable, Shared, State, Transition};
use crate::probe::ProbeResult;
use crate::zone::TargetId;

/// Runs until every probe sender is gone.
pub async fn run(
    mut table: HealthTable,
    mut rx: mpsc::Receiver<ProbeResult>,
    shared: Shared,
    generation: u64,
) {
    while let Some(r) = rx.recv().await {
        if r.generation != generation {
            continue;
        }
        if let Some(t) = table.observe(r.target, r.outcome, r.latency, r.at) {
            log_transition(&table, r.target, &t);
            shared.store(Arc::new(table.snapshot()));
        }
    }
}

/// One line per region the target feeds, with every field an operator filters on.
fn log_transition(table: &HealthTable, target: TargetId, t: &Transition) {
    let zones = table.zones();
    let url = zones.targets.get(target).map_or("", |s| s.target.as_str());
    for id in table.regions_of(target) {
        let Some((zone, pool, region)) = zones.region(*id) else {
            continue;
        };
        let (zone, pool, region) = (
            zone.origin_name.to_string(),
            pool.key.as_str(),
            region.name.as_str(),
        );
        let (from, to, reason, count) = (state(t.from), state(t.to), t.reason.to_string(), t.count);
        macro_rules! transition {
            ($level:ident, $msg:literal) => {
                $level!(
                    zone,
                    pool,
                    region,
                    target = url,
                    from,
                    to,
                    reason,
                    count,
                    $msg
                )
            };
        }
        if t.to == State::Down {
            transition!(warn, "region down");
        } else {
            transition!(info, "region up");
        }
    }
}

fn state(s: State) -> &'static str {
    match s {
        State::Unknown => "unknown",
        State::Up => "up",
        State::Down => "down",
    }
}
