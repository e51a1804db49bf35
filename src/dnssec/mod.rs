//! DNSSEC (RFC 4033–4035): zone keys. For now the keys themselves — generating them
//! (`gslbd keygen`), and the DNSKEY and DS records a parent needs — on hickory-proto's
//! `dnssec-ring` (no crypto of gslbd's own).

mod keys;

pub use keys::{KeyAlgorithm, KeyError, NewKey, generate};
