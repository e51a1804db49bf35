//! The snapshot the DNS path reads ([`Snapshot`], published through [`Shared`]) and the
//! [`Meter`] it carries: where queries and pool answers are counted. Health names no metric
//! type; the engine gives each zone load its telemetry handles behind this trait.

use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::Live;
use crate::zone::{AllDown, ZoneSet};

/// A pool's answer as it is counted.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    /// The regions answered, as indexes into the pool's regions, in answer order.
    pub regions: &'a [usize],
    /// The all-down rule that answered (`Fallback` also for a failover pool's last tier);
    /// `None` when the pool's policy did.
    pub all_down: Option<AllDown>,
    /// Topology answers: the client's location (`None`: the default entry) and the step of
    /// its list that answered.
    pub topology: Option<(Option<usize>, usize)>,
}

/// The counters of one zone load, as the DNS path and a scrape use them.
pub trait Meter: Send + Sync + std::fmt::Debug {
    /// Counts one response.
    fn query(&self, zone: Option<usize>, qtype: RecordType, rcode: ResponseCode);
    /// Counts the regions (or fallback) a pool answered with.
    fn answer(&self, zone: usize, pool: usize, answered: Answered<'_>);
    /// Right before a scrape: sets the region gauges from `live` as of `now` (so a slow-start
    /// ramp shows as it is) and marks every series of the load current.
    fn refresh(&self, zones: &ZoneSet, live: &Live, now: Instant);
}

/// A meter that counts nothing (tables built outside the engine: tests, `check`, fuzzing).
#[derive(Debug)]
pub struct NoMeter;

impl Meter for NoMeter {
    fn query(&self, _: Option<usize>, _: RecordType, _: ResponseCode) {}
    fn answer(&self, _: usize, _: usize, _: Answered<'_>) {}
    fn refresh(&self, _: &ZoneSet, _: &Live, _: Instant) {}
}

/// What the DNS path reads: the zones and the live state that belongs to them.
#[derive(Debug)]
pub struct Snapshot {
    pub zones: Arc<ZoneSet>,
    pub live: Live,
    /// Where the DNS path counts what it answered: the metric handles of this zone load
    /// (shared by every snapshot of it), behind [`Meter`].
    pub metrics: Arc<dyn Meter>,
    /// Transferred zones' published SOA serials, by zone index (`None`: the configured one).
    pub serials: Vec<Option<u32>>,
    /// The signatures of signed zones' answers (empty when no zone is signed).
    pub dnssec: Arc<crate::dnssec::Published>,
}

impl Snapshot {
    /// The published serial of zone `zone`, when it is transferred.
    pub fn serial(&self, zone: usize) -> Option<u32> {
        self.serials.get(zone).copied().flatten()
    }
}

/// The published snapshot: written by the health task and reloads, read lock-free by DNS.
pub type Shared = Arc<ArcSwap<Snapshot>>;
