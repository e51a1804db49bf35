//! The open-files budget of the stream listeners. Every TCP and DoT connection holds a
//! descriptor, and so does every probe in progress, admin connection, listener and UDP socket:
//! caps that add up past the process's open-files limit let a connection flood take the
//! descriptors the probes need (320 busy TCP connections under `nofile=256` failed every
//! region and served the fallback).
//!
//! At start the caps of the TCP and DoT listeners are fitted under the limit after a
//! reservation for everything else. As Knot does (`tcp-max-clients` defaults to half the
//! descriptor limit, "set this below the file descriptor limit"), the server starts whatever
//! the limit: a cap that does not fit is clamped (both in proportion, at least one connection
//! per listener), never refused, so that a lower limit than planned (a container, a unit's
//! `LimitNOFILE=`) still serves, and what was chosen is logged. DoQ connections share their
//! listener's UDP socket and need no descriptor of their own.

use tracing::{info, warn};

/// Descriptors the process needs besides connections, probes and sockets: standard streams,
/// the runtime's epoll and wakers, signal and inotify handles, zone files read at a reload, the
/// state file and its lock, the certificate being re-read.
pub const BASE_RESERVE: u64 = 32;
/// The fewest descriptors kept for probes, however few the targets (a reload may add some).
pub const MIN_PROBE_RESERVE: u64 = 64;

/// What the process holds besides its stream connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserve {
    /// Listening and UDP sockets.
    pub sockets: u64,
    /// The admin API's connection cap (0 without the API).
    pub admin: u64,
    /// Unique probe targets.
    pub targets: u64,
    /// Cluster peers polled and secondaries sent NOTIFY.
    pub peers: u64,
}

impl Reserve {
    /// The descriptors kept back: two per probe target (a check and a kept-alive
    /// connection), at least [`MIN_PROBE_RESERVE`].
    pub fn total(&self) -> u64 {
        let probes = self.targets.saturating_mul(2).max(MIN_PROBE_RESERVE);
        [BASE_RESERVE, self.sockets, self.admin, probes, self.peers]
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// The stream listeners of one kind and the cap of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub listeners: usize,
    pub max_clients: usize,
}

impl Streams {
    fn want(&self) -> u128 {
        self.listeners as u128 * self.max_clients as u128
    }

    fn scaled(&self, room: u128, want: u128) -> usize {
        let share = self.max_clients as u128 * room / want.max(1);
        usize::try_from(share).unwrap_or(usize::MAX).max(1)
    }
}

/// The caps chosen under a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// The cap of each TCP listener.
    pub tcp: usize,
    /// The cap of each DoT listener.
    pub tls: usize,
    /// True when a cap was lowered.
    pub clamped: bool,
}

/// Fits the caps of `tcp` and `tls` under `limit` open files with `reserved` kept back.
pub fn fit(limit: u64, reserved: u64, tcp: Streams, tls: Streams) -> Fit {
    let room = u128::from(limit.saturating_sub(reserved));
    let want = tcp.want() + tls.want();
    if want <= room {
        return Fit {
            tcp: tcp.max_clients,
            tls: tls.max_clients,
            clamped: false,
        };
    }
    Fit {
        tcp: tcp.scaled(room, want),
        tls: tls.scaled(room, want),
        clamped: true,
    }
}

/// Raises the soft limit on open files to the hard limit (the usual soft limit, 1024, is far
/// below what the connection caps allow) and logs both; the limit in force, when it can be read.
pub fn raise_limit() -> Option<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => {
                info!(from = soft, to = hard, "raised the open files limit");
                Some(hard)
            }
            Err(e) => {
                warn!(error = %e, soft, hard, "cannot raise the open files limit");
                Some(soft)
            }
        },
        Ok((soft, _)) => {
            info!(limit = soft, "open files limit");
            Some(soft)
        }
        Err(e) => {
            warn!(error = %e, "cannot read the open files limit");
            None
        }
    }
}

/// [`fit`] under `limit` with `reserve` kept back, logged: a warning when a cap was lowered.
pub fn choose(limit: u64, reserve: &Reserve, tcp: Streams, tls: Streams) -> Fit {
    let reserved = reserve.total();
    let chosen = fit(limit, reserved, tcp, tls);
    let dot = tls.listeners > 0;
    let tls_max_clients = dot.then_some(chosen.tls);
    if chosen.clamped {
        warn!(
            limit,
            reserved,
            tcp_max_clients = chosen.tcp,
            tls_max_clients,
            tcp_asked = tcp.max_clients,
            tls_asked = dot.then_some(tls.max_clients),
            "open files budget: connection caps lowered to fit the open files limit \
             (raise it with ulimit -n or LimitNOFILE= to keep them)"
        );
    } else {
        info!(
            limit,
            reserved,
            tcp_max_clients = chosen.tcp,
            tls_max_clients,
            "open files budget: connection caps fit, descriptors reserved for probes and the admin API"
        );
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streams(listeners: usize, max_clients: usize) -> Streams {
        Streams {
            listeners,
            max_clients,
        }
    }

    #[test]
    fn caps_that_fit_are_kept() {
        let f = fit(65_536, 200, streams(2, 1024), streams(1, 1024));
        assert_eq!((f.tcp, f.tls, f.clamped), (1024, 1024, false));
        let f = fit(u64::MAX, 200, streams(1, 1_000_000), streams(0, 1024));
        assert!(!f.clamped, "an unlimited process");
    }

    #[test]
    fn caps_past_the_limit_are_clamped_in_proportion_to_what_is_left() {
        // 256 open files, 132 reserved: 124 for one TCP listener.
        let f = fit(256, 132, streams(1, 1024), streams(0, 1024));
        assert_eq!((f.tcp, f.clamped), (124, true));
        // TCP and DoT share what is left, each in proportion to its cap.
        let f = fit(1024, 224, streams(1, 1024), streams(1, 1024));
        assert_eq!((f.tcp, f.tls), (400, 400));
        let f = fit(1024, 224, streams(2, 1024), streams(1, 512));
        assert!(2 * f.tcp + f.tls <= 800, "{f:?}");
        assert_eq!(f.tcp, 320);
    }

    #[test]
    fn a_limit_below_the_reserve_leaves_one_connection_per_listener() {
        let f = fit(64, 132, streams(1, 1024), streams(2, 1024));
        assert_eq!((f.tcp, f.tls, f.clamped), (1, 1, true));
    }

    #[test]
    fn the_reserve_keeps_room_for_probes_and_the_admin_api() {
        let r = Reserve {
            sockets: 4,
            admin: 32,
            targets: 2,
            peers: 0,
        };
        assert_eq!(r.total(), 32 + 4 + 32 + 64);
        let r = Reserve { targets: 1000, ..r };
        assert_eq!(r.total(), 32 + 4 + 32 + 2000);
    }
}
