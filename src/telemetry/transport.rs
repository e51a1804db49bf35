//! Queries by transport: the [`Transport`] vocabulary (shared by the DNS listeners, metrics and
//! `/status`), one relaxed add per query, and the counters set from those adds at a scrape.

use std::sync::atomic::{AtomicU64, Ordering};

use super::{DNS_TRANSPORT_QUERIES_TOTAL, DNS_UDP_HELPER_WAKEUPS_TOTAL};

/// The transport a query arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    /// DNS over TLS (port 853).
    Tls,
    /// DNS over QUIC (port 853).
    Quic,
}

impl Transport {
    /// Its index in [`Transport::NAMES`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Every transport's name, as metrics and `/status` label it.
    pub const NAMES: [&'static str; 4] = ["udp", "tcp", "tls", "quic"];
}

/// Queries received per transport (udp, tcp, tls, quic): one relaxed add per query; the
/// counters are set from these at scrape.
static TRANSPORT_QUERIES: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Counts one query on the transport with index `i` (see [`Transport::NAMES`]).
pub fn transport_query(i: usize) {
    if let Some(c) = TRANSPORT_QUERIES.get(i) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// Queries received so far, per transport, in [`Transport::NAMES`] order.
pub fn transport_queries() -> [u64; 4] {
    TRANSPORT_QUERIES
        .each_ref()
        .map(|c| c.load(Ordering::Relaxed))
}

/// Times a UDP thread woke a parked sibling (one relaxed add per wakeup, never per query).
static UDP_HELPER_WAKEUPS: AtomicU64 = AtomicU64::new(0);

/// Counts one UDP helper woken by a full batch.
pub fn udp_helper_woken() {
    UDP_HELPER_WAKEUPS.fetch_add(1, Ordering::Relaxed);
}

/// Sets the per-transport counters from [`TRANSPORT_QUERIES`], and the UDP wakeups.
pub(super) fn refresh() {
    for (name, n) in Transport::NAMES.into_iter().zip(transport_queries()) {
        metrics::counter!(DNS_TRANSPORT_QUERIES_TOTAL, "transport" => name).absolute(n);
    }
    metrics::counter!(DNS_UDP_HELPER_WAKEUPS_TOTAL)
        .absolute(UDP_HELPER_WAKEUPS.load(Ordering::Relaxed));
}
