//! Health: the rise/fall state machine per probe target, live region weights, and the snapshot
//! the DNS path reads.
//!
//! [`HealthTable`] is owned by one task; every probe result goes through [`HealthTable::observe`],
//! and a transition publishes a new [`Snapshot`] (ArcSwap), so the very next query sees it. No
//! I/O and no clock of its own: callers pass `now`. Probe outcomes come from [`crate::probe`];
//! the counters a snapshot carries are the engine's, behind [`Meter`].
//!
//! - `target.rs`: one target's state machine ([`TargetState`], [`Transition`]).
//! - `overrides.rs`: operator overrides and the region keys they are set by.
//! - `live.rs`: what the DNS path knows per region, and live weights.
//! - `snapshot.rs`: the published [`Snapshot`] and its [`Meter`].
//! - `table.rs`: the [`HealthTable`] of one zone set.
//! - `recent.rs`: the last results of a target, for the status page.

mod live;
mod overrides;
mod recent;
mod snapshot;
mod table;
mod target;

pub use live::{Live, RegionLive, SLOW_START_FLOOR, WEIGHT_SCALE};
pub use overrides::{MAX_DRILL_MS, Override, Overrides, RegionKey, canonical_overrides};
pub use recent::Recent;
pub use snapshot::{Answered, Meter, NoMeter, Shared, Snapshot};
pub use table::HealthTable;
pub use target::{State, TargetState, Transition};

/// Probe outcomes are the probe module's; kept here for the many callers that name them so.
pub use crate::probe::Outcome;

#[cfg(test)]
mod tests;
