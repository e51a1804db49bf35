//! DNSSEC series: signatures made (at loads, renewals and publishes), RRsets signed, the time
//! the last load's signing took, failures, and the seconds until the earliest signature
//! expires (computed at each scrape from the expiration the engine recorded).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{Counter, Gauge};

/// Signatures made, by `when` (`load`: a zone set's signing, `publish`: sets a snapshot added).
pub const DNSSEC_SIGNATURES_TOTAL: &str = "gslbd_dnssec_signatures_total";
/// RRsets signed ahead for the serving zones (the signature cache's size, NSEC included).
pub const DNSSEC_SIGNED_SETS: &str = "gslbd_dnssec_signed_sets";
/// How long the last zone set's signing took.
pub const DNSSEC_SIGNING_SECONDS: &str = "gslbd_dnssec_signing_seconds";
/// Snapshots or renewals that could not be signed (the previous signatures kept serving).
pub const DNSSEC_SIGNING_FAILURES_TOTAL: &str = "gslbd_dnssec_signing_failures_total";
/// Seconds until the earliest served signature expires (absent when nothing is signed).
pub const DNSSEC_EXPIRY_SECONDS: &str = "gslbd_dnssec_expiry_seconds";

static LOAD: OnceLock<Counter> = OnceLock::new();
static PUBLISH: OnceLock<Counter> = OnceLock::new();
static FAILURES: OnceLock<Counter> = OnceLock::new();
static SETS: OnceLock<Gauge> = OnceLock::new();
static SECONDS: OnceLock<Gauge> = OnceLock::new();
static EXPIRY: OnceLock<Gauge> = OnceLock::new();
/// The earliest expiration (seconds since the epoch); 0: nothing signed.
static EXPIRES_AT: AtomicU64 = AtomicU64::new(0);

/// A zone set was signed: `made` new signatures, `sets` RRsets in all, in `seconds`,
/// expiring first at `expires_at`.
pub fn signed(made: usize, sets: usize, seconds: f64, expires_at: Option<u32>) {
    LOAD.get_or_init(|| metrics::counter!(DNSSEC_SIGNATURES_TOTAL, "when" => "load"))
        .increment(made as u64);
    SETS.get_or_init(|| metrics::gauge!(DNSSEC_SIGNED_SETS))
        .set(sets as f64);
    SECONDS
        .get_or_init(|| metrics::gauge!(DNSSEC_SIGNING_SECONDS))
        .set(seconds);
    EXPIRES_AT.store(expires_at.map_or(0, u64::from), Ordering::Relaxed);
}

/// `n` signatures were made for a snapshot.
pub fn published(n: u64) {
    PUBLISH
        .get_or_init(|| metrics::counter!(DNSSEC_SIGNATURES_TOTAL, "when" => "publish"))
        .increment(n);
}

/// A snapshot or a renewal could not be signed.
pub fn failed() {
    FAILURES
        .get_or_init(|| metrics::counter!(DNSSEC_SIGNING_FAILURES_TOTAL))
        .increment(1);
}

/// At a scrape: the seconds until expiry as of `now`, and every series touched.
pub fn touch(now: u64) {
    let at = EXPIRES_AT.load(Ordering::Relaxed);
    if at == 0 {
        return;
    }
    EXPIRY
        .get_or_init(|| metrics::gauge!(DNSSEC_EXPIRY_SECONDS))
        .set(at.saturating_sub(now) as f64);
    for c in [&LOAD, &PUBLISH, &FAILURES] {
        if let Some(c) = c.get() {
            c.increment(0);
        }
    }
    for g in [&SETS, &SECONDS] {
        if let Some(g) = g.get() {
            g.increment(0.0);
        }
    }
}
