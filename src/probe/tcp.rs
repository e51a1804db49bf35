//! TCP probes: healthy when a connection to `host:port` is accepted.

use tokio::net::{TcpStream, lookup_host};

use super::{Outcome, io_outcome};
use crate::zone::ProbeSpec;

pub struct TcpProbe {
    target: String,
}

impl TcpProbe {
    pub fn new(spec: &ProbeSpec) -> Self {
        TcpProbe {
            target: spec.target.clone(),
        }
    }

    pub async fn check(&self) -> Outcome {
        let addrs: Vec<_> = match lookup_host(self.target.as_str()).await {
            Ok(a) => a.collect(),
            Err(_) => return Outcome::Dns,
        };
        let Some(addr) = addrs.first() else {
            return Outcome::Dns;
        };
        match TcpStream::connect(addr).await {
            Ok(_) => Outcome::Ok,
            Err(e) => io_outcome(e.kind()).unwrap_or(Outcome::Error),
        }
    }
}
