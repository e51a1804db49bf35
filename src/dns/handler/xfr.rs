//! Where the query path hands zone transfers to `xfr`: AXFR and IXFR over TCP, built on a
//! blocking thread and at most [`MAX_TRANSFERS`] at once; IXFR over UDP answered in one
//! datagram.

use std::sync::Arc;

use tracing::warn;

use super::{Handler, Received, Sent, Transport, size_limit};
use crate::wire::scan::Scan;
use crate::wire::tsig;

/// Zone transfers built and sent at once (each holds its whole rendering until it is sent).
pub const MAX_TRANSFERS: usize = 8;
/// How long an authorised transfer waits for one of the [`MAX_TRANSFERS`] slots before it is
/// answered SERVFAIL (the secondary retries later, as after any failed transfer).
pub const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A transfer's messages, holding one of the [`MAX_TRANSFERS`] slots until dropped (none for
/// a refusal or SERVFAIL).
pub struct Transfer {
    pub messages: Vec<Vec<u8>>,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Zone transfers: the published versions and who may take them.
#[derive(Clone)]
pub struct XfrAccess {
    pub published: crate::xfr::Shared,
    pub config: Arc<crate::xfr::TransferConfig>,
}

impl Handler {
    /// The messages answering a zone transfer request over TCP; `None` when `msg` is not one
    /// or transfers are off (the full path then refuses it).
    ///
    /// Refusals (address, TSIG, class, zone) are answered first, without a slot. At most
    /// [`MAX_TRANSFERS`] authorised transfers are built and sent at once; one over the cap
    /// waits for a slot up to [`SLOT_WAIT`], then gets SERVFAIL (signed like the other answers).
    /// Each is built on a blocking thread, so the async workers keep answering other queries.
    pub async fn transfer(&self, msg: &[u8], src: std::net::IpAddr) -> Option<Transfer> {
        let x = self.xfr.as_ref()?;
        if !crate::xfr::serve::is_transfer(msg) {
            return None;
        }
        let now = tsig::now();
        let published = x.published.load_full();
        if let Some(messages) = crate::xfr::serve::refusal(&published, &x.config, msg, src, now) {
            return Some(Transfer {
                messages,
                _slot: None,
            });
        }
        let wait = tokio::time::timeout(SLOT_WAIT, self.transfers.clone().acquire_owned());
        let slot = match wait.await {
            Ok(slot) => slot.ok()?,
            Err(_) => {
                warn!(%src, "transfer refused: no transfer slot free within 10 s");
                let now = tsig::now();
                return Some(Transfer {
                    messages: crate::xfr::serve::busy(&published, &x.config, msg, src, now),
                    _slot: None,
                });
            }
        };
        let (published, config, msg) = (x.published.load_full(), x.config.clone(), msg.to_vec());
        let build = move || {
            let now = tsig::now();
            crate::xfr::serve::respond(&published, &config, &msg, src, now)
        };
        let messages = tokio::task::spawn_blocking(build)
            .await
            .unwrap_or_else(|e| {
                warn!(error = %e, "building a transfer failed");
                Vec::new()
            });
        Some(Transfer {
            messages,
            _slot: Some(slot),
        })
    }

    /// True when `src` is a configured secondary (its transfers' writes get longer).
    pub fn is_secondary(&self, src: std::net::IpAddr) -> bool {
        let src = src.to_canonical();
        self.xfr.as_ref().is_some_and(|x| {
            x.config
                .secondaries
                .iter()
                .any(|s| s.ip().to_canonical() == src)
        })
    }

    /// An IXFR over UDP answered in `out` (RFC 1995 §2); `None` for any other query, or without
    /// transfers (the full path then refuses it).
    pub(super) fn ixfr_over_udp(&self, query: Received<'_>, out: &mut Vec<u8>) -> Option<Sent> {
        let x = self.xfr.as_ref()?;
        if query.transport != Transport::Udp || !crate::xfr::serve::is_ixfr(query.bytes) {
            return None;
        }
        let limit = size_limit(Transport::Udp, Scan::of(query.bytes).opt.map(|o| o.payload));
        let m = crate::xfr::serve::respond_udp(
            &x.published.load(),
            &x.config,
            query.bytes,
            query.src.ip(),
            tsig::now(),
            usize::from(limit),
        )?;
        out.clear();
        out.extend_from_slice(&m);
        // A signed IXFR that verified proves its source, as on the full path.
        Some(Sent {
            zone: None,
            proven: tsig::verified_response(out),
        })
    }
}
