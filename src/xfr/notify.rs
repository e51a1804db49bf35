//! NOTIFY (RFC 1996) to every secondary on each new version, over UDP, TSIG-signed when a key
//! is configured, from the address transfers are served on (secondaries accept NOTIFY only
//! from their primary's address), tried at +0, 1, 3, 7 and 15 s until the secondary
//! acknowledges it; a refusal is logged with the secondary's rcode and tried again on the same
//! schedule. A newer version for the same zone replaces the retries of an older one.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Announce, TransferConfig};
use crate::wire::tsig::{self, Signer};

/// The waits between tries; a try's answer is awaited for its wait.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// The address NOTIFY to `to` leaves from: the first of `sources` in its family, else the
/// wildcard (the kernel's choice).
pub fn source_for(sources: &[IpAddr], to: SocketAddr) -> SocketAddr {
    let ip = sources
        .iter()
        .copied()
        .find(|s| s.is_ipv4() == to.is_ipv4())
        .unwrap_or(if to.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        });
    (ip, 0).into()
}

/// The addresses NOTIFY may leave from: `notify_source` when set, else every listen address
/// that is not a wildcard.
pub fn sources(config: &TransferConfig, listen: &[SocketAddr]) -> Vec<IpAddr> {
    match config.notify_source {
        Some(ip) => vec![ip],
        None => listen
            .iter()
            .map(SocketAddr::ip)
            .filter(|ip| !ip.is_unspecified())
            .collect(),
    }
}

/// Sends the NOTIFYs for every announced version, from `sources`, until `cancel`.
pub fn spawn(
    config: Arc<TransferConfig>,
    sources: Vec<IpAddr>,
    mut announced: mpsc::UnboundedReceiver<Announce>,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        let mut running: HashMap<(Name, SocketAddr), JoinHandle<()>> = HashMap::new();
        loop {
            let a = tokio::select! {
                _ = cancel.cancelled() => break,
                a = announced.recv() => match a { Some(a) => a, None => break },
            };
            for &to in &config.secondaries {
                let from = source_for(&sources, to);
                let task = tokio::spawn(notify(a.clone(), from, to, config.key.clone()));
                if let Some(old) = running.insert((a.zone.clone(), to), task) {
                    old.abort();
                }
            }
            running.retain(|_, t| !t.is_finished());
        }
        for t in running.values() {
            t.abort();
        }
    });
}

/// Notifies one secondary of one version from `from`, trying again until it acknowledges.
async fn notify(a: Announce, from: SocketAddr, to: SocketAddr, key: Option<Arc<tsig::Key>>) {
    let sock = match UdpSocket::bind(from).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, zone = %a.zone, secondary = %to, source = %from.ip(),
                "NOTIFY: cannot open a socket on the source address");
            return;
        }
    };
    for (attempt, wait) in BACKOFF.iter().enumerate() {
        let tried = tokio::time::Instant::now();
        let id: u16 = rand::random();
        let msg = message(&a.zone, id, key.as_deref());
        if let Err(e) = sock.send_to(&msg, to).await {
            debug!(error = %e, zone = %a.zone, secondary = %to, "NOTIFY not sent");
            tokio::time::sleep_until(tried + *wait).await;
            continue;
        }
        match tokio::time::timeout(*wait, answer(&sock, to, id)).await {
            Ok(Some(ResponseCode::NoError)) => {
                info!(zone = %a.zone, serial = a.serial, secondary = %to, attempt = attempt + 1,
                    "NOTIFY acknowledged");
                return;
            }
            Ok(Some(rcode)) => {
                warn!(zone = %a.zone, serial = a.serial, secondary = %to, source = %from.ip(),
                    %rcode, code = u16::from(rcode), attempt = attempt + 1,
                    "NOTIFY refused by the secondary");
                // The next try keeps to the schedule.
                tokio::time::sleep_until(tried + *wait).await;
            }
            _ => debug!(zone = %a.zone, secondary = %to, "NOTIFY unanswered"),
        }
    }
    warn!(zone = %a.zone, serial = a.serial, secondary = %to, tries = BACKOFF.len(),
        "NOTIFY never acknowledged; the secondary catches up at its SOA refresh");
}

/// The NOTIFY message: opcode NOTIFY, AA, the zone's SOA as the question.
pub fn message(zone: &Name, id: u16, key: Option<&tsig::Key>) -> Vec<u8> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Notify);
    m.metadata.authoritative = true;
    m.add_query(Query::query(zone.clone(), RecordType::SOA));
    let mut bytes = m.to_vec().unwrap_or_default();
    if let Some(k) = key {
        Signer::request(k, id).sign(&mut bytes, tsig::now(), 0, &[]);
    }
    bytes
}

/// Waits for the answer with `id` from `from`; its rcode.
async fn answer(sock: &UdpSocket, from: SocketAddr, id: u16) -> Option<ResponseCode> {
    let mut buf = [0u8; 4096];
    loop {
        let (n, src) = sock.recv_from(&mut buf).await.ok()?;
        if src != from {
            continue;
        }
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if m.metadata.id == id && m.metadata.message_type == MessageType::Response {
            return Some(m.metadata.response_code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_leaves_from_a_listen_address_of_the_secondarys_family() {
        let config = |source: Option<&str>| TransferConfig {
            secondaries: Vec::new(),
            key: None,
            zones: None,
            coalesce: Duration::from_secs(1),
            journal: 1,
            transfer_time: Duration::from_secs(1),
            notify_source: source.map(|s| s.parse().expect("ip")),
        };
        let listen: Vec<SocketAddr> =
            ["0.0.0.0:53", "[::]:53", "192.0.2.10:53", "[2001:db8::1]:53"]
                .iter()
                .map(|a| a.parse().expect("addr"))
                .collect();
        let from = sources(&config(None), &listen);
        let to4: SocketAddr = "192.0.2.53:53".parse().expect("addr");
        let to6: SocketAddr = "[2001:db8::53]:53".parse().expect("addr");
        assert_eq!(source_for(&from, to4).to_string(), "192.0.2.10:0");
        assert_eq!(source_for(&from, to6).to_string(), "[2001:db8::1]:0");
        // Only wildcards: the kernel chooses.
        let wild = sources(&config(None), &listen[..2]);
        assert_eq!(source_for(&wild, to4).to_string(), "0.0.0.0:0");
        // notify_source wins; a secondary of the other family gets the wildcard.
        let set = sources(&config(Some("192.0.2.99")), &listen);
        assert_eq!(source_for(&set, to4).to_string(), "192.0.2.99:0");
        assert_eq!(source_for(&set, to6).to_string(), "[::]:0");
    }
}
