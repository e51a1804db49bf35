//! The open connections of one stream listener (TCP, DoT or DoQ) and their limits: a global and
//! a per-source cap, where the connection idle longest is closed to make room for a new one and
//! a newcomer is refused when none is idle (RFC 7766 §6.2, RFC 9210; Knot's `tcp-max-clients`,
//! NSD's `tcp-count`).
//!
//! A QUIC connection whose handshake is still going is *pending*: its address is not validated
//! yet (RFC 9000 §8.1), so it is the first to be closed to make room, and it may close nobody
//! else's ([`Registry::has_room`] tells the listener when to answer with a Retry instead).
//!
//! The registry is owned by the accept loop alone; each connection updates its own activity
//! through atomics, without a lock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::task::Id;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The default bound on reading the rest of a started message and on each write (Knot's
/// `tcp-io-timeout`). A started message holds its connection busy, where no newcomer may close
/// it, so this is how long a slow-read (slowloris) client holds a slot: holding all 1,024 takes
/// 1,024 ÷ 0.5 s = 2,048 new partial queries a second from at least 16 addresses (the per-source
/// cap is 64), where 5 s took ~205 a second. A real query arrives in one or two segments and
/// its answer fits the socket buffer, well within it.
pub const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// Connection limits and timeouts (`gslbd serve --tcp-*`, and `--tls-*` for DoT and DoQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLimits {
    /// Open connections at most, over every source.
    pub max_clients: usize,
    /// Open connections at most from one source address.
    pub max_per_source: usize,
    /// A connection with no message started for this long is closed.
    pub idle_timeout: Duration,
    /// Reading the rest of a started message, and each write, must finish within this.
    pub io_timeout: Duration,
    /// A connection is closed between messages once it is this old.
    pub lifetime: Duration,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_clients: 1024,
            max_per_source: 64,
            idle_timeout: Duration::from_secs(10),
            io_timeout: IO_TIMEOUT,
            lifetime: Duration::from_secs(120),
        }
    }
}

/// What the accept loop knows of one open connection.
pub(crate) struct Conn {
    pub src: IpAddr,
    /// Messages being read or answered; the connection is idle at 0.
    pub busy: AtomicUsize,
    /// Milliseconds since the registry's start at the connection's last message.
    last_active: AtomicU64,
    /// Accept order: of two connections last active in the same millisecond, the older goes.
    seq: u64,
    /// Cancelled to close the connection (eviction or shutdown).
    pub close: CancellationToken,
    epoch: Instant,
    /// A QUIC handshake still in progress (the address not validated): closed first.
    pending: AtomicBool,
}

impl Conn {
    /// A connection that is idle and has not been active yet (`seq` 0, its own epoch): the
    /// fuzz target's single session.
    pub fn detached(src: IpAddr) -> Arc<Conn> {
        Arc::new(Conn {
            src,
            busy: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            seq: 0,
            close: CancellationToken::new(),
            epoch: Instant::now(),
            pending: AtomicBool::new(false),
        })
    }

    /// The handshake finished: the client has proved its address.
    #[cfg_attr(not(feature = "encrypted"), allow(dead_code))]
    pub fn established(&self) {
        self.pending.store(false, Ordering::Release);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(now, Ordering::Relaxed);
    }

    /// A message started: the connection is busy until the guard drops.
    pub fn start(&self) -> Busy<'_> {
        self.busy.fetch_add(1, Ordering::AcqRel);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_active.store(now, Ordering::Relaxed);
        Busy(self)
    }

    fn idle(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }
}

/// A message in progress on a connection (see [`Conn::start`]).
pub(crate) struct Busy<'a>(&'a Conn);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Every open connection of one listener.
pub(crate) struct Registry {
    start: Instant,
    seq: u64,
    conns: HashMap<Id, Arc<Conn>>,
    per_source: HashMap<IpAddr, usize>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry {
            start: Instant::now(),
            seq: 0,
            conns: HashMap::new(),
            per_source: HashMap::new(),
        }
    }

    /// A new connection from `src`, idle from now, closed by `close`.
    pub fn conn(&mut self, src: IpAddr, close: CancellationToken) -> Arc<Conn> {
        self.new_conn(src, close, false)
    }

    /// A new QUIC connection from `src` whose handshake has yet to finish (see
    /// [`Conn::established`]).
    #[cfg_attr(not(feature = "encrypted"), allow(dead_code))]
    pub fn pending(&mut self, src: IpAddr, close: CancellationToken) -> Arc<Conn> {
        self.new_conn(src, close, true)
    }

    fn new_conn(&mut self, src: IpAddr, close: CancellationToken, pending: bool) -> Arc<Conn> {
        self.seq += 1;
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        Arc::new(Conn {
            src,
            busy: AtomicUsize::new(0),
            last_active: AtomicU64::new(now),
            seq: self.seq,
            close,
            epoch: self.start,
            pending: AtomicBool::new(pending),
        })
    }

    pub fn add(&mut self, id: Id, conn: Arc<Conn>) {
        *self.per_source.entry(conn.src).or_default() += 1;
        self.conns.insert(id, conn);
    }

    pub fn remove(&mut self, id: Id) {
        if let Some(c) = self.conns.remove(&id)
            && let Some(n) = self.per_source.get_mut(&c.src)
        {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&c.src);
            }
        }
    }

    /// Closes a pending connection (the oldest) or else the one idle longest (from `src` only,
    /// when given); false when none is idle.
    pub fn evict_idle(&mut self, src: Option<IpAddr>) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| c.idle() && src.is_none_or(|s| c.src == s))
            .min_by_key(|(_, c)| {
                let established = !c.pending.load(Ordering::Acquire);
                (established, c.last_active.load(Ordering::Relaxed), c.seq)
            })
            .map(|(id, _)| *id);
        let Some(id) = oldest else { return false };
        if let Some(c) = self.conns.get(&id) {
            c.close.cancel();
        }
        self.remove(id);
        true
    }

    /// True when a connection from `src` fits under both caps without closing another.
    #[cfg_attr(not(feature = "encrypted"), allow(dead_code))]
    pub fn has_room(&self, src: IpAddr, limits: &TcpLimits) -> bool {
        let from_src = self.per_source.get(&src).copied().unwrap_or(0);
        from_src < limits.max_per_source && self.conns.len() < limits.max_clients
    }

    /// Makes room for a connection from `src`; false when it must be refused.
    pub fn admit(&mut self, src: IpAddr, limits: &TcpLimits) -> bool {
        let from_src = self.per_source.get(&src).copied().unwrap_or(0);
        if from_src >= limits.max_per_source && !self.evict_idle(Some(src)) {
            return false;
        }
        self.conns.len() < limits.max_clients || self.evict_idle(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::task::JoinSet;

    fn conn(src: &str, busy: bool, last: u64) -> Arc<Conn> {
        Arc::new(Conn {
            src: src.parse().expect("ip"),
            busy: AtomicUsize::new(usize::from(busy)),
            last_active: AtomicU64::new(last),
            seq: last,
            close: CancellationToken::new(),
            epoch: Instant::now(),
            pending: AtomicBool::new(false),
        })
    }

    #[tokio::test]
    async fn full_registry_closes_the_longest_idle_connection_first() {
        let limits = TcpLimits {
            max_clients: 3,
            max_per_source: 2,
            ..TcpLimits::default()
        };
        let mut set = JoinSet::new();
        let mut reg = Registry::new();
        let a = conn("192.0.2.1", false, 5);
        let b = conn("192.0.2.1", false, 1);
        let c = conn("192.0.2.2", true, 0);
        for x in [&a, &b, &c] {
            let id = set.spawn(std::future::pending::<()>()).id();
            reg.add(id, x.clone());
        }
        // A third from 192.0.2.1: its own longest-idle (b) makes room.
        assert!(reg.admit("192.0.2.1".parse().expect("ip"), &limits));
        assert!(b.close.is_cancelled() && !a.close.is_cancelled());
        assert_eq!(reg.conns.len(), 2);
        // Room for one more in total without closing anything.
        assert!(reg.admit("192.0.2.3".parse().expect("ip"), &limits));
        let id = set.spawn(std::future::pending::<()>()).id();
        reg.add(id, conn("192.0.2.3", true, 9));
        // Full: the only idle one left (a) goes; then nothing is idle and a newcomer is refused.
        assert!(reg.admit("192.0.2.4".parse().expect("ip"), &limits));
        assert!(a.close.is_cancelled());
        let id = set.spawn(std::future::pending::<()>()).id();
        reg.add(id, conn("192.0.2.4", true, 10));
        assert!(!reg.admit("192.0.2.5".parse().expect("ip"), &limits));
        assert!(!c.close.is_cancelled(), "a busy connection is never closed");
        set.abort_all();
    }

    #[tokio::test]
    async fn a_pending_handshake_goes_before_any_established_connection() {
        let limits = TcpLimits {
            max_clients: 2,
            ..TcpLimits::default()
        };
        let mut set = JoinSet::new();
        let mut reg = Registry::new();
        let idle = conn("192.0.2.1", false, 0);
        let id = set.spawn(std::future::pending::<()>()).id();
        reg.add(id, idle.clone());
        let src = "192.0.2.2".parse().expect("ip");
        let handshake = reg.pending(src, CancellationToken::new());
        let id = set.spawn(std::future::pending::<()>()).id();
        reg.add(id, handshake.clone());
        assert!(!reg.has_room("192.0.2.3".parse().expect("ip"), &limits));
        assert!(reg.admit("192.0.2.3".parse().expect("ip"), &limits));
        assert!(
            handshake.close.is_cancelled(),
            "the newer, pending one goes"
        );
        assert!(!idle.close.is_cancelled());
        set.abort_all();
    }

    #[test]
    fn a_connection_is_busy_while_any_message_is_in_progress() {
        let c = conn("192.0.2.1", false, 0);
        let one = c.start();
        let two = c.start();
        drop(one);
        assert!(!c.idle(), "another message is still in progress");
        drop(two);
        assert!(c.idle());
    }
}
