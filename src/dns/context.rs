//! What the fast and the full path share about one query: how it arrived ([`Received`],
//! [`Transport`]), what it is answered from ([`Context`]), what was sent ([`Sent`]) and how
//! large the response may be ([`size_limit`]).

use std::net::SocketAddr;

use super::cookie;
use crate::health::Snapshot;
pub use crate::wire::size::MAX_UDP_PAYLOAD;
use crate::wire::tsig::Key;

/// Which transport a query came on (it bounds the response size).
pub use crate::telemetry::Transport;

/// One query as it arrived: its bytes, its source and its transport.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub bytes: &'a [u8],
    pub src: SocketAddr,
    pub transport: Transport,
}

/// What the fast or the full path sent, for rate limiting.
pub(crate) struct Sent {
    /// The zone that answered, if any.
    pub zone: Option<usize>,
    /// True when the query's source is proven, so its response is never rate limited: it
    /// showed a valid server cookie, or its TSIG verified with the transfer key (its sender
    /// holds the key; a limited reply would go out as an unsigned slip, which RFC 8945 §5.3
    /// forbids and a secondary drops).
    pub proven: bool,
}

/// Everything one query is answered from, read once per query.
pub(crate) struct Context<'a> {
    pub snap: &'a Snapshot,
    /// Read only for a query that carries a cookie.
    pub cookies: &'a cookie::Shared,
    /// Answer BADCOOKIE over UDP to a client cookie without a valid server cookie.
    pub require_cookies: bool,
    /// Seconds since the epoch for cookie timestamps; `None` reads the clock, and only for a
    /// query that carries a cookie.
    pub now: Option<u32>,
    /// The TSIG key signed queries are verified with (the transfer key), when there is one.
    pub key: Option<&'a Key>,
}

impl Context<'_> {
    /// The COOKIE reply to a well-formed cookie option; `Err` when policy wants BADCOOKIE.
    pub fn cookie(
        &self,
        cookie: Option<&[u8]>,
        query: &Received<'_>,
    ) -> Result<Option<cookie::Reply>, cookie::Reply> {
        let Some(c) = cookie else { return Ok(None) };
        let now = self.now.unwrap_or_else(cookie::now);
        let reply = cookie::reply(&self.cookies.load(), c, query.src.ip(), now);
        if self.require_cookies && !reply.valid && query.transport == Transport::Udp {
            return Err(reply);
        }
        Ok(Some(reply))
    }
}

/// The most a response may take: the client's EDNS payload size (`None` without EDNS) on UDP,
/// at least 512 (RFC 1035) and at most what gslbd advertises; the TCP frame limit on TCP.
pub(crate) fn size_limit(transport: Transport, payload: Option<u16>) -> u16 {
    match transport {
        Transport::Udp => crate::wire::size::udp_limit(payload),
        Transport::Tcp | Transport::Tls | Transport::Quic => u16::MAX,
    }
}
