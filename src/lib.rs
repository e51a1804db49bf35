//! gslbd: an authoritative DNS server for global server load balancing.
//!
//! # Layers
//! Each module imports only the layers below it (`tests/architecture.rs` enforces it); from
//! the bottom:
//! - [`wire`] (bytes on the wire: names, the question/OPT/TSIG scan, compression, size rules,
//!   EDNS options, TSIG), [`telemetry`] (metric names and handles, labelled by the callers) and
//!   [`sched`] (query threads first, long jobs on threads of their own at the lowest priority).
//! - [`zone`]: the immutable model (zones, record sets, pools, regions, probe specs, timing).
//! - [`dnssec`]: zone keys (DNSKEY, DS) on hickory-proto's `dnssec-ring`.
//! - [`config`]: `zones/*.toml` and `gslbd.toml` → the validated model, errors as
//!   `path:line:col: message`.
//! - [`probe`]: http/https/tcp checks, their outcomes, the scheduler.
//! - [`health`]: rise/fall state machine, live weights, the snapshot DNS reads.
//! - [`select`] (answer policies, what a pool answers) and [`cutover`] (worst-case math).
//! - [`state`] (the state file) and [`cluster`] (the consensus rule).
//! - [`dns`] (transports, admission, fast and full paths) and [`xfr`] (zone transfers and
//!   NOTIFY), side by side.
//! - [`status`]: the operator view of every zone, pool and region.
//! - [`engine`]: the task that owns health (probe results, reloads, overrides, the cluster's
//!   votes; snapshots out) and the runtime tasks around it.
//! - [`check`], then [`simulate`]: the `gslbd check` report and drills on paper.
//! - [`admin`] (the admin HTTP API) and [`watch`] (`serve --watch`).
//! - [`fuzzing`]: entry points for the fuzz targets.
//! - [`server`]: [`serve`] wires them all.

pub mod admin;
#[cfg(test)]
mod allocs;
pub mod check;
pub mod cluster;
pub mod config;
pub mod cutover;
pub mod dns;
pub mod dnssec;
pub mod engine;
pub mod fuzzing;
pub mod health;
pub mod probe;
pub mod sched;
pub mod select;
pub mod server;
pub mod simulate;
pub mod state;
pub mod status;
pub mod telemetry;
pub mod watch;
pub mod wire;
pub mod xfr;
pub mod zone;

pub use server::{SHUTDOWN_GRACE, ServeConfig, ServeError, serve};
