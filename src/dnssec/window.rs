//! Signature validity windows, aligned so that every instance of an NS set and every restart
//! sign with the same inception and expiration: time is cut into periods of half the
//! lifetime; a signature made in a period is valid from an hour before the period's start
//! (clock skew) to the start plus the whole lifetime, and everything is signed again when the
//! next period starts, so a served signature always has at least half its lifetime left.

use std::time::Duration;

/// How far before its period a signature's inception lies, for resolvers whose clock is
/// behind.
pub const SKEW: u64 = 3600;

/// The validity of the signatures made in one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Signature inception (seconds since the epoch, as RRSIG carries it).
    pub inception: u32,
    /// Signature expiration.
    pub expiration: u32,
    /// When the next period starts and everything is signed again (seconds since the epoch).
    pub renew_at: u64,
}

/// The window of the period holding `now` (seconds since the epoch).
pub fn window(now: u64, lifetime: Duration) -> Window {
    let period = (lifetime.as_secs() / 2).max(1);
    let start = now / period * period;
    Window {
        inception: clamp(start.saturating_sub(SKEW)),
        expiration: clamp(start + lifetime.as_secs()),
        renew_at: start + period,
    }
}

/// RRSIG times are 32-bit serial numbers of seconds (RFC 4034 §3.1.5): they wrap in 2106.
fn clamp(t: u64) -> u32 {
    (t & 0xffff_ffff) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_keep_half_their_lifetime() {
        let life = Duration::from_secs(14 * 86_400);
        let half = 7 * 86_400;
        let t = 1_796_000_000u64;
        let w = window(t, life);
        assert_eq!(w, window(t / half * half, life), "one period, one window");
        assert_eq!(u64::from(w.inception) + SKEW, t / half * half);
        assert!(
            u64::from(w.expiration) >= t + half,
            "half the lifetime left"
        );
        assert!(w.renew_at > t && w.renew_at - t <= half);
        let next = window(w.renew_at, life);
        assert!(next.inception > w.inception && next.expiration > w.expiration);
        assert_eq!(window(w.renew_at - 1, life), w);
    }
}
