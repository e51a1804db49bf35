//! One query in, one response out, whatever the transport: [`Handler`] reads the published
//! snapshot, hands an IXFR over UDP to the transfer service, answers through the fast path or
//! the full path, pads on the encrypted transports, and rate limits what goes out over UDP.
//!
//! Reads the published snapshot (one atomic load), never waits on a lock or I/O, never panics.

use std::sync::Arc;

use rand::Rng;

use super::admission;
use super::context::{Context, Received, Sent, Transport, size_limit};
use super::rrl::{Limiter, RrlConfig};
use super::transfers::Transfers;
use super::{cookie, fast, full};
use crate::health::Shared;
use crate::telemetry;
use crate::wire::{padding, tsig};

/// Answers queries from the published snapshot.
#[derive(Clone)]
pub struct Handler {
    shared: Shared,
    cookies: cookie::Shared,
    require_cookies: bool,
    rrl: Option<Arc<Limiter>>,
    transfers: Option<Arc<dyn Transfers>>,
}

impl Handler {
    /// A handler with a random cookie secret that does not require cookies.
    pub fn new(shared: Shared) -> Self {
        let cookies =
            std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(cookie::Secrets::random()));
        Handler {
            shared,
            cookies,
            require_cookies: false,
            rrl: None,
            transfers: None,
        }
    }

    /// Hands zone transfers to `transfers` (and verifies TSIG-signed queries with its key).
    pub fn with_transfers(mut self, transfers: Arc<dyn Transfers>) -> Self {
        self.transfers = Some(transfers);
        self
    }

    /// The transfer service, when transfers are on.
    pub(crate) fn transfers(&self) -> Option<&dyn Transfers> {
        self.transfers.as_deref()
    }

    /// Limits UDP responses by `config` (none when its rate is 0).
    pub fn with_rrl(mut self, config: RrlConfig) -> Self {
        self.rrl = Limiter::new(config).map(Arc::new);
        self
    }

    /// Makes server cookies with `cookies`; with `require`, UDP queries with a client cookie
    /// but no valid server cookie get BADCOOKIE (RFC 7873 §5.2.3).
    pub fn with_cookies(mut self, cookies: cookie::Shared, require: bool) -> Self {
        self.cookies = cookies;
        self.require_cookies = require;
        self
    }

    /// Writes the response to `query` into `out` (cleared first); `false` when nothing must
    /// be sent.
    pub fn respond<R: Rng + ?Sized>(
        &self,
        query: Received<'_>,
        rng: &mut R,
        out: &mut Vec<u8>,
    ) -> bool {
        let snap = self.shared.load();
        let ctx = Context {
            snap: &snap,
            cookies: &self.cookies,
            require_cookies: self.require_cookies,
            now: None,
            key: self.transfers.as_ref().and_then(|t| t.key()),
        };
        telemetry::transport_query(query.transport.index());
        let sent = if let Some(sent) = self.ixfr_over_udp(query, out) {
            sent
        } else {
            match fast::respond(&ctx, query, rng, out) {
                Some(sent) => sent,
                None => match full::full(&ctx, query, rng, out) {
                    Some(sent) => sent,
                    None => return false,
                },
            }
        };
        if matches!(query.transport, Transport::Tls | Transport::Quic)
            && padding::requested(query.bytes)
        {
            padding::pad(out, usize::from(size_limit(query.transport, None)));
        }
        admission::rate_limit(self.rrl.as_ref(), &query, &sent, out)
    }

    /// An IXFR over UDP answered in `out` (RFC 1995 §2) by the transfer service; `None` for any
    /// other query, or without transfers (the full path then refuses it).
    fn ixfr_over_udp(&self, query: Received<'_>, out: &mut Vec<u8>) -> Option<Sent> {
        let t = self.transfers.as_ref()?;
        if query.transport != Transport::Udp {
            return None;
        }
        let m = t.ixfr_over_udp(query.bytes, query.src.ip())?;
        out.clear();
        out.extend_from_slice(&m);
        // A signed IXFR that verified proves its source, as on the full path.
        Some(Sent {
            zone: None,
            proven: tsig::verified_response(out),
        })
    }
}
