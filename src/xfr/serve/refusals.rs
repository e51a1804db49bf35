//! Refused transfer requests: counted per reason (read by telemetry at scrape) and logged at
//! most once per source per [`LOG_INTERVAL`], with how many were left unlogged since, so that a
//! client sending thousands of refused requests on one connection costs a few log lines.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Why a transfer was refused (the `reason` label of the refusal counter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A class other than IN or ANY.
    Class,
    /// Not a transferred zone.
    Zone,
    /// Not a configured secondary's address.
    Address,
    /// Not signed with the transfer key.
    Unsigned,
    /// A TSIG that failed (BADKEY, BADSIG, BADTRUNC, BADTIME).
    Tsig,
    /// Malformed: a misplaced TSIG, a MAC too short, an IXFR without the zone's SOA.
    Malformed,
    /// AXFR over UDP.
    Udp,
}

impl Reason {
    /// Every reason, in counter order.
    pub const ALL: [Reason; 7] = [
        Reason::Class,
        Reason::Zone,
        Reason::Address,
        Reason::Unsigned,
        Reason::Tsig,
        Reason::Malformed,
        Reason::Udp,
    ];

    /// Its label.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Class => "class",
            Reason::Zone => "zone",
            Reason::Address => "address",
            Reason::Unsigned => "unsigned",
            Reason::Tsig => "tsig",
            Reason::Malformed => "malformed",
            Reason::Udp => "udp",
        }
    }
}

/// How often one source's refusals are logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Sources remembered; past this, sources whose interval is over are forgotten (the table is
/// swept at most once per [`LOG_INTERVAL`]), and otherwise a new source's refusal is counted
/// but not logged.
const SOURCES: usize = 4096;

static COUNTS: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];
static LOG: Mutex<Option<Limiter>> = Mutex::new(None);

/// Refusals so far, per reason, in [`Reason::ALL`] order.
pub fn counts() -> [u64; 7] {
    COUNTS.each_ref().map(|c| c.load(Ordering::Relaxed))
}

/// Counts a refusal and logs it unless `src` was logged within [`LOG_INTERVAL`].
pub fn refused(reason: Reason, zone: &dyn std::fmt::Display, src: IpAddr) {
    COUNTS[reason as usize].fetch_add(1, Ordering::Relaxed);
    let verdict = {
        let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
        log.get_or_insert_with(Limiter::default)
            .check(src, Instant::now())
    };
    if let Some(suppressed) = verdict {
        tracing::warn!(%zone, %src, reason = reason.name(), suppressed,
            "transfer refused (one line per source per 10 s; suppressed: refusals not logged since)");
    }
}

/// When each source was last logged and how many of its refusals went unlogged since.
#[derive(Default)]
struct Limiter {
    sources: HashMap<IpAddr, (Instant, u64)>,
    /// Entries looked at by sweeps so far (the work a full table costs).
    scanned: u64,
    /// When the full table was last swept for expired sources.
    swept: Option<Instant>,
}

impl Limiter {
    /// `Some(suppressed since the last line)` when this refusal is to be logged.
    fn check(&mut self, src: IpAddr, now: Instant) -> Option<u64> {
        if let Some((at, suppressed)) = self.sources.get_mut(&src) {
            if now.duration_since(*at) < LOG_INTERVAL {
                *suppressed += 1;
                return None;
            }
            let n = *suppressed;
            *at = now;
            *suppressed = 0;
            return Some(n);
        }
        if self.sources.len() >= SOURCES {
            // Swept at most once per interval: between sweeps a new source is counted, not
            // logged, without rescanning the table (spoofed sources are free).
            if self
                .swept
                .is_some_and(|at| now.duration_since(at) < LOG_INTERVAL)
            {
                return None;
            }
            self.swept = Some(now);
            self.scanned += self.sources.len() as u64;
            self.sources
                .retain(|_, (at, _)| now.duration_since(*at) < LOG_INTERVAL);
            if self.sources.len() >= SOURCES {
                return None;
            }
        }
        self.sources.insert(src, (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_source_per_interval_with_the_count_left_out() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        assert_eq!(l.check(a, t0), Some(0));
        let logged = (1..20_000u32)
            .filter(|i| {
                l.check(a, t0 + Duration::from_micros(u64::from(*i)))
                    .is_some()
            })
            .count();
        assert_eq!(logged, 0);
        assert_eq!(
            l.check(b, t0),
            Some(0),
            "another source has its own interval"
        );
        assert_eq!(l.check(a, t0 + LOG_INTERVAL), Some(19_999));
        assert_eq!(l.check(a, t0 + LOG_INTERVAL), None);
    }

    #[test]
    fn the_sources_remembered_are_bounded() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..SOURCES as u32 {
            assert!(l.check(IpAddr::from(i.to_be_bytes()), t0).is_some());
        }
        let late: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(l.check(late, t0), None, "full: counted, not logged");
        assert_eq!(
            l.check(late, t0 + LOG_INTERVAL),
            Some(0),
            "the old ones expired"
        );
        assert_eq!(l.sources.len(), 1);
    }

    #[test]
    fn new_sources_while_full_cost_at_most_one_sweep_per_interval() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        for i in 0..SOURCES as u32 {
            assert!(l.check(IpAddr::from(i.to_be_bytes()), t0).is_some());
        }
        // 20,000 spoofed new sources within one interval: counted, not logged, and the table
        // is swept at most once (it was rescanned for each: 80 million entries).
        let logged = (0..20_000u32)
            .filter(|i| {
                let src = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
                l.check(src, t0 + Duration::from_micros(u64::from(*i)))
                    .is_some()
            })
            .count();
        assert_eq!(logged, 0);
        assert!(
            l.scanned <= SOURCES as u64,
            "{} entries scanned for 20,000 refusals",
            l.scanned
        );
        // After the interval one sweep forgets the old sources and new ones are logged again.
        let late: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(l.check(late, t0 + 2 * LOG_INTERVAL), Some(0));
        assert!(l.scanned <= 2 * SOURCES as u64, "{}", l.scanned);
    }
}
