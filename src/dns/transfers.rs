//! Where the transports hand zone transfers over: a transfer service behind [`Transfers`]
//! (the crate's wiring puts `xfr`'s behind it), so the query path knows nothing of how
//! transfers are rendered, refused or limited. The TCP connection loop gives it AXFR and IXFR
//! before the query path sees them; the handler asks it about IXFR over UDP and for the key
//! signed queries are verified with.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::wire::tsig::Key;

/// A transfer's messages, holding the service's slot (if it took one) until dropped.
pub struct Transfer {
    pub messages: Vec<Vec<u8>>,
    pub slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// What [`Transfers::transfer`] returns.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Option<Transfer>> + Send + 'a>>;

/// A zone transfer service.
pub trait Transfers: Send + Sync {
    /// The messages answering a zone transfer request `msg` from `src` over TCP; `None` when
    /// `msg` is not one (the query path then answers it).
    fn transfer<'a>(&'a self, msg: &'a [u8], src: IpAddr) -> Pending<'a>;

    /// An IXFR over UDP answered in one message within the query's UDP limit; `None` for any
    /// other query.
    fn ixfr_over_udp(&self, msg: &[u8], src: IpAddr) -> Option<Vec<u8>>;

    /// True when `src` is a configured secondary (its transfers' writes get longer).
    fn is_secondary(&self, src: IpAddr) -> bool;

    /// The TSIG key signed queries are verified with, when there is one.
    fn key(&self) -> Option<&Key>;
}
