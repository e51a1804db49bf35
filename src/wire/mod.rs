//! Bytes on the wire that both the query path (`dns`) and zone transfers (`xfr`) read and
//! write: names read and skipped and the question, OPT and TSIG records located ([`scan`]),
//! EDNS options checked ([`scan::options`]) and padding added ([`padding`]), name compression
//! ([`compress`]), the encoder's size rules ([`size`]), and TSIG signing and verifying
//! ([`tsig`]). It imports no other module of the crate.

pub mod compress;
pub mod padding;
pub mod scan;
pub mod size;
pub mod tsig;
