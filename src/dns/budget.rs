//! The open-files budget of the stream listeners. Every TCP and DoT connection holds a
//! descriptor, and so does every probe in progress, admin connection, listener and UDP socket:
//! caps that add up past the process's open-files limit let a connection flood take the
//! descriptors the probes need (320 busy TCP connections under `nofile=256` failed every
//! region and served the fallback).
//!
//! At start the caps of the TCP and DoT listeners are fitted under the limit after a
//! reservation for everything else, which grows with the probe targets (two each, and a few for
//! a reload). When that reservation would leave the streams less than half the limit (Knot's
//! default `tcp-max-clients`), they get half, taken from the admin API's share but never from the
//! probes', the sockets' or the process's own: under `nofile=128` the reservation used to leave
//! one TCP connection, which one client with a half-sent query could hold. As Knot does (`tcp-max-clients` defaults to half the
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
/// Descriptors kept for the probes of targets a reload adds (four targets' worth).
pub const PROBE_SLACK: u64 = 8;

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
    /// The descriptors never given to stream connections: the process's own, its sockets, two
    /// per probe target (a check and a kept-alive connection) and [`PROBE_SLACK`], the peers.
    pub fn kept(&self) -> u64 {
        let probes = self.targets.saturating_mul(2).saturating_add(PROBE_SLACK);
        [BASE_RESERVE, self.sockets, probes, self.peers]
            .iter()
            .fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// The descriptors kept back: [`Reserve::kept`] and the admin API's connections.
    pub fn total(&self) -> u64 {
        self.kept().saturating_add(self.admin)
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
    /// Descriptors of the admin API's reservation the stream connections may take (to keep
    /// half the limit); 0 when the whole reservation fits beside them.
    pub from_admin: u64,
}

/// Fits the caps of `tcp` and `tls` under `limit` open files with `reserve` kept back.
///
/// The stream listeners get what the whole reservation leaves, and at least half the limit
/// (Knot's default `tcp-max-clients`) when the reservation would leave less: that half is taken
/// from the admin API's share only, never from [`Reserve::kept`] (probes, sockets, the process).
pub fn fit(limit: u64, reserve: &Reserve, tcp: Streams, tls: Streams) -> Fit {
    let left = limit.saturating_sub(reserve.total());
    let half = (limit / 2).min(limit.saturating_sub(reserve.kept()));
    let room = u128::from(left.max(half));
    let want = tcp.want() + tls.want();
    let (tcp_cap, tls_cap, clamped) = if want <= room {
        (tcp.max_clients, tls.max_clients, false)
    } else {
        (tcp.scaled(room, want), tls.scaled(room, want), true)
    };
    let used = Streams {
        max_clients: tcp_cap,
        ..tcp
    }
    .want()
        + Streams {
            max_clients: tls_cap,
            ..tls
        }
        .want();
    Fit {
        tcp: tcp_cap,
        tls: tls_cap,
        clamped,
        from_admin: u64::try_from(used.saturating_sub(u128::from(left))).unwrap_or(u64::MAX),
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
    let chosen = fit(limit, reserve, tcp, tls);
    let dot = tls.listeners > 0;
    let tls_max_clients = dot.then_some(chosen.tls);
    if chosen.clamped {
        warn!(
            limit,
            reserved,
            kept_for_probes_and_sockets = reserve.kept(),
            from_admin = chosen.from_admin,
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
            from_admin = chosen.from_admin,
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

    /// One listener on a 2-core machine (3 UDP and TCP sockets and the admin listener), the
    /// admin API's default 32 connections and `targets` probe targets.
    fn reserve(targets: u64) -> Reserve {
        Reserve {
            sockets: 4,
            admin: 32,
            targets,
            peers: 0,
        }
    }

    #[test]
    fn caps_that_fit_are_kept() {
        let r = Reserve {
            sockets: 200,
            ..Reserve::default()
        };
        let f = fit(65_536, &r, streams(2, 1024), streams(1, 1024));
        assert_eq!((f.tcp, f.tls, f.clamped), (1024, 1024, false));
        let f = fit(u64::MAX, &r, streams(1, 1_000_000), streams(0, 1024));
        assert!(!f.clamped, "an unlimited process");
    }

    #[test]
    fn caps_past_the_limit_are_clamped_in_proportion_to_what_is_left() {
        // 512 open files, 80 reserved (two targets): 432 for one TCP listener.
        let f = fit(512, &reserve(2), streams(1, 1024), streams(0, 1024));
        assert_eq!((f.tcp, f.clamped), (432, true));
        // TCP and DoT share what is left, each in proportion to its cap.
        let f = fit(1024, &reserve(2), streams(1, 1024), streams(1, 1024));
        assert_eq!((f.tcp, f.tls), (472, 472));
        let f = fit(1024, &reserve(2), streams(2, 1024), streams(1, 512));
        assert!(2 * f.tcp + f.tls <= 1024 - 80, "{f:?}");
        assert_eq!(f.tcp, 377);
    }

    #[test]
    fn at_nofile_128_tcp_keeps_half_the_limit_with_or_without_probe_targets() {
        for targets in [0, 2, 4] {
            let f = fit(128, &reserve(targets), streams(1, 1024), streams(0, 1024));
            assert_eq!((f.tcp, f.clamped), (64, true), "{targets} targets");
        }
        // Half the limit comes out of the admin API's reservation, never the probes': with
        // 20 targets (40 descriptors, and 8 for a reload) 44 are left.
        let f = fit(128, &reserve(20), streams(1, 1024), streams(0, 1024));
        assert_eq!(f.tcp, 128 - (32 + 4 + 40 + 8));
        // TCP and DoT share the half.
        let f = fit(128, &reserve(2), streams(1, 1024), streams(1, 1024));
        assert_eq!((f.tcp, f.tls), (32, 32));
    }

    #[test]
    fn at_nofile_64_tcp_keeps_what_the_probes_and_the_process_do_not_need() {
        let f = fit(64, &reserve(0), streams(1, 1024), streams(0, 1024));
        assert_eq!(f.tcp, 64 - (32 + 4 + 8));
        let f = fit(64, &reserve(3), streams(1, 1024), streams(0, 1024));
        assert_eq!(f.tcp, 64 - (32 + 4 + 6 + 8));
        assert!(f.tcp >= 8, "{f:?}");
    }

    #[test]
    fn a_limit_below_what_the_probes_need_leaves_one_connection_per_listener() {
        let f = fit(64, &reserve(100), streams(1, 1024), streams(2, 1024));
        assert_eq!((f.tcp, f.tls, f.clamped), (1, 1, true));
    }

    #[test]
    fn the_reserve_grows_with_the_probe_targets_instead_of_a_floor() {
        let r = reserve(0);
        assert_eq!(r.total(), 32 + 4 + 32 + PROBE_SLACK);
        assert_eq!(reserve(2).total(), r.total() + 4);
        assert_eq!(reserve(3).total(), r.total() + 6);
        assert_eq!(reserve(1000).total(), 32 + 4 + 32 + 2000 + PROBE_SLACK);
        // What is never given to connections: everything but the admin API's share.
        assert_eq!(reserve(2).kept(), 32 + 4 + 4 + PROBE_SLACK);
    }
}
