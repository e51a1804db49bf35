//! DNSSEC (RFC 4033–4035) on hickory-proto's `dnssec-ring` (no crypto of gslbd's own): zone
//! keys (`gslbd keygen`, loading), aligned validity windows, signing RRsets, the NSEC chain
//! and the proofs negative answers carry, and the signatures a snapshot answers with — every
//! one made when a zone set is loaded or a snapshot is published, never per query.

pub mod chain;
pub mod fast;
mod keys;
pub mod load;
mod published;
mod sign;
pub mod window;
mod zonesigs;

pub use keys::{KeyAlgorithm, KeyError, NewKey, ds_text, generate};
pub use published::{Dynamic, Published, Signed};
pub use sign::SignError;
pub use zonesigs::{MAX_RING_VARIANTS, MAX_VARIANTS, ZoneSigs, variant_count};
