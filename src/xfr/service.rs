//! The transfer service the DNS transports hand zone transfers to: AXFR and IXFR over TCP,
//! refused before a slot when they must be, built on a blocking thread and at most
//! [`MAX_TRANSFERS`] at once; IXFR over UDP answered in one datagram.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

use super::{Shared, TransferConfig, serve};
use crate::wire::scan::Scan;
use crate::wire::size::udp_limit;
use crate::wire::tsig::{self, Key};

/// Zone transfers built and sent at once (each holds its whole rendering until it is sent).
pub const MAX_TRANSFERS: usize = 8;
/// How long an authorised transfer waits for one of the [`MAX_TRANSFERS`] slots before it is
/// answered SERVFAIL (the secondary retries later, as after any failed transfer).
pub const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A transfer's messages, holding one of the [`MAX_TRANSFERS`] slots until dropped (none for
/// a refusal or SERVFAIL).
pub struct Transfer {
    pub messages: Vec<Vec<u8>>,
    pub slot: Option<OwnedSemaphorePermit>,
}

/// Zone transfers: the published versions, who may take them, and the slots.
#[derive(Clone)]
pub struct Service {
    published: Shared,
    config: Arc<TransferConfig>,
    /// Slots for transfers in progress ([`MAX_TRANSFERS`]).
    slots: Arc<Semaphore>,
}

impl Service {
    pub fn new(published: Shared, config: Arc<TransferConfig>) -> Service {
        Service {
            published,
            config,
            slots: Arc::new(Semaphore::new(MAX_TRANSFERS)),
        }
    }

    /// The messages answering a zone transfer request over TCP; `None` when `msg` is not one
    /// (the query path then refuses it).
    ///
    /// Refusals (address, TSIG, class, zone) are answered first, without a slot. At most
    /// [`MAX_TRANSFERS`] authorised transfers are built and sent at once; one over the cap
    /// waits for a slot up to [`SLOT_WAIT`], then gets SERVFAIL (signed like the other answers).
    /// Each is built on a blocking thread, so the async workers keep answering other queries.
    pub async fn transfer(&self, msg: &[u8], src: IpAddr) -> Option<Transfer> {
        if !serve::is_transfer(msg) {
            return None;
        }
        let now = tsig::now();
        let published = self.published.load_full();
        if let Some(messages) = serve::refusal(&published, &self.config, msg, src, now) {
            return Some(Transfer {
                messages,
                slot: None,
            });
        }
        let wait = tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned());
        let slot = match wait.await {
            Ok(slot) => slot.ok()?,
            Err(_) => {
                warn!(%src, "transfer refused: no transfer slot free within 10 s");
                let now = tsig::now();
                return Some(Transfer {
                    messages: serve::busy(&published, &self.config, msg, src, now),
                    slot: None,
                });
            }
        };
        // The version published when the slot came, which may be newer than the refusal's.
        let published = self.published.load_full();
        let build = {
            let (published, config, query) = (published.clone(), self.config.clone(), msg.to_vec());
            move || serve::respond(&published, &config, &query, src, tsig::now())
        };
        // At the normal priority: a secondary waits for it (crate::sched). When its thread
        // cannot start (no thread left to the process), SERVFAIL as when no slot is free: the
        // secondary retries now instead of waiting for the connection to time out.
        let messages = match crate::sched::job("xfr", build).await {
            Ok(messages) => messages,
            Err(e) => {
                warn!(error = %e, %src, "building a transfer failed; answered SERVFAIL");
                serve::busy(&published, &self.config, msg, src, tsig::now())
            }
        };
        Some(Transfer {
            messages,
            slot: Some(slot),
        })
    }

    /// True when `src` is a configured secondary (its transfers' writes get longer).
    pub fn is_secondary(&self, src: IpAddr) -> bool {
        let src = src.to_canonical();
        self.config
            .secondaries
            .iter()
            .any(|s| s.ip().to_canonical() == src)
    }

    /// An IXFR over UDP (RFC 1995 §2) answered in one message within the query's UDP limit;
    /// `None` for any other query.
    pub fn ixfr_over_udp(&self, msg: &[u8], src: IpAddr) -> Option<Vec<u8>> {
        if !serve::is_ixfr(msg) {
            return None;
        }
        let limit = udp_limit(Scan::of(msg).opt.map(|o| o.payload));
        serve::respond_udp(
            &self.published.load(),
            &self.config,
            msg,
            src,
            tsig::now(),
            usize::from(limit),
        )
    }

    /// The key transfers are signed with, which signed queries are verified with too.
    pub fn key(&self) -> Option<&Key> {
        self.config.key.as_deref()
    }
}
