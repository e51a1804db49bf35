//! NOTIFY (RFC 1996) to every secondary on each new version, over UDP, TSIG-signed when a key
//! is configured, retried with back-off (1 s, 2 s, 4 s, 8 s, 16 s) until the secondary answers.
//! A newer version for the same zone replaces the retries of an older one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::tsig::{self, Signer};
use super::{Announce, TransferConfig};

/// The waits between tries; a try's answer is awaited for its wait.
pub const BACKOFF: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// Sends the NOTIFYs for every announced version until `cancel`.
pub fn spawn(
    config: Arc<TransferConfig>,
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
                let task = tokio::spawn(notify(a.clone(), to, config.key.clone()));
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

/// Notifies one secondary of one version, retrying until it answers.
async fn notify(a: Announce, to: SocketAddr, key: Option<Arc<tsig::Key>>) {
    let bind: SocketAddr = if to.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = match UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, zone = %a.zone, secondary = %to, "NOTIFY: cannot open a socket");
            return;
        }
    };
    for (attempt, wait) in BACKOFF.iter().enumerate() {
        let id: u16 = rand::random();
        let msg = message(&a.zone, id, key.as_deref());
        if let Err(e) = sock.send_to(&msg, to).await {
            debug!(error = %e, zone = %a.zone, secondary = %to, "NOTIFY not sent");
        } else if let Ok(Some(rcode)) = tokio::time::timeout(*wait, answer(&sock, to, id)).await {
            if rcode == ResponseCode::NoError {
                info!(zone = %a.zone, serial = a.serial, secondary = %to, attempt = attempt + 1, "NOTIFY acknowledged");
            } else {
                warn!(zone = %a.zone, serial = a.serial, secondary = %to, %rcode, "NOTIFY refused by the secondary");
            }
            return;
        }
        if attempt + 1 < BACKOFF.len() {
            debug!(zone = %a.zone, secondary = %to, "NOTIFY unanswered; retrying");
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
