//! The limits on DoT and DoQ connections through the real binary, as on TCP: a cap per source
//! address and in total, where the connection idle longest makes room and a newcomer is
//! refused when every connection is busy; and a QUIC handshake that never finishes does not
//! hold up anybody else's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::encrypted::{Encrypted, answers, dot_from, queries, start_with};

const CAPS: [&str; 4] = ["--tls-max-clients", "3", "--tls-max-per-source", "2"];

type Dot = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A DoT connection from `src` that has had one query answered.
fn dot_answered(e: &Encrypted, src: &str, id: u16) -> Dot {
    let mut s = dot_from(e.tls, &e.cert, src);
    s.write_all(&queries(id..id + 1)).expect("write");
    assert_eq!(answers(&mut s, 1), [id], "a query from {src}");
    s
}

/// True when the server has closed `s` (within 3 s).
fn dot_closed(s: &mut Dot) -> bool {
    s.sock
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    match s.read(&mut [0u8; 1]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn dot_connections_are_capped_per_source_and_in_total() {
    let e = start_with(&CAPS);
    let mut a = dot_answered(&e, "127.0.0.1", 1);
    let mut b = dot_answered(&e, "127.0.0.1", 2);
    // A third from the same source: its longest-idle connection makes room.
    let mut c = dot_answered(&e, "127.0.0.1", 3);
    assert!(
        dot_closed(&mut a),
        "the longest-idle connection of the source is closed"
    );
    // Full in total (b, c, d): a newcomer from elsewhere closes the longest idle overall.
    let mut d = dot_answered(&e, "127.0.0.2", 4);
    let mut f = dot_answered(&e, "127.0.0.3", 5);
    assert!(
        dot_closed(&mut b),
        "the longest-idle connection overall is closed"
    );
    // Every connection in the middle of a query: a newcomer is refused, nobody is closed.
    for s in [&mut c, &mut d, &mut f] {
        s.write_all(&[0]).expect("half a length");
        s.flush().expect("flush");
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut g = dot_from(e.tls, &e.cert, "127.0.0.4");
    let refused = g.write_all(&queries(6..7)).is_err() || answers(&mut g, 1).is_empty();
    assert!(
        refused,
        "a newcomer is refused while every connection is busy"
    );
    // The busy ones finish their queries.
    for (s, id) in [(&mut c, 7u16), (&mut d, 8), (&mut f, 9)] {
        let q = queries(id..id + 1);
        s.write_all(&q[1..]).expect("the rest");
        assert_eq!(answers(s, 1), [id]);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A DoQ client endpoint on the loopback address `src` that trusts `cert` only.
fn doq_client(cert: &[u8], src: &str) -> quinn::Endpoint {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.to_vec()))
        .expect("root");
    let mut tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"doq".to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).expect("quic tls");
    let mut ep =
        quinn::Endpoint::client(format!("{src}:0").parse().expect("address")).expect("endpoint");
    ep.set_default_client_config(quinn::ClientConfig::new(Arc::new(quic)));
    ep
}

async fn doq_connect(ep: &quinn::Endpoint, port: u16) -> Result<quinn::Connection, String> {
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    let connecting = ep.connect(to, "localhost").map_err(|e| e.to_string())?;
    tokio::time::timeout(Duration::from_secs(20), connecting)
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// One DoQ query (ID 0, RFC 9250 §4.2.1) for www; the answer's record count.
async fn doq_query(conn: &quinn::Connection) -> Result<usize, String> {
    let (mut send, mut recv) = conn.open_bi().await.map_err(|e| e.to_string())?;
    send.write_all(&queries(0..1))
        .await
        .map_err(|e| e.to_string())?;
    send.finish().map_err(|e| e.to_string())?;
    let bytes = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(65537))
        .await
        .map_err(|_| "no answer".to_string())?
        .map_err(|e| e.to_string())?;
    let m = hickory_proto::op::Message::from_vec(bytes.get(2..).unwrap_or_default())
        .map_err(|e| e.to_string())?;
    assert_eq!(m.metadata.id, 0, "DoQ answers carry ID 0");
    Ok(m.answers.len())
}

/// A connection from `ep` that has had one query answered.
async fn doq_answered(ep: &quinn::Endpoint, port: u16) -> quinn::Connection {
    let c = doq_connect(ep, port).await.expect("connect");
    assert_eq!(doq_query(&c).await, Ok(1));
    // Idle from here, after the connection before it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    c
}

async fn doq_closed(c: &quinn::Connection) -> bool {
    tokio::time::timeout(Duration::from_secs(3), c.closed())
        .await
        .is_ok()
}

#[test]
fn doq_connections_are_capped_per_source_and_in_total() {
    let e = start_with(&CAPS);
    runtime().block_on(async {
        let one = doq_client(&e.cert, "127.0.0.1");
        let a = doq_answered(&one, e.quic).await;
        let b = doq_answered(&one, e.quic).await;
        let c = doq_answered(&one, e.quic).await;
        assert!(doq_closed(&a).await, "the source's longest-idle is closed");
        let (two, three) = (
            doq_client(&e.cert, "127.0.0.2"),
            doq_client(&e.cert, "127.0.0.3"),
        );
        let d = doq_answered(&two, e.quic).await;
        let f = doq_answered(&three, e.quic).await;
        assert!(doq_closed(&b).await, "the longest-idle overall is closed");
        // A query half-sent on each: every connection is busy, so a newcomer is refused.
        let mut halves = Vec::new();
        for conn in [&c, &d, &f] {
            let (mut send, recv) = conn.open_bi().await.expect("stream");
            send.write_all(&[0]).await.expect("half a length");
            halves.push((send, recv));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let four = doq_client(&e.cert, "127.0.0.4");
        assert!(
            doq_connect(&four, e.quic).await.is_err(),
            "a newcomer is refused while every connection is busy"
        );
        // Nobody busy was closed; each finishes its query.
        let q = queries(0..1);
        for (mut send, mut recv) in halves {
            send.write_all(&q[1..]).await.expect("the rest");
            send.finish().expect("finish");
            let bytes = recv.read_to_end(65537).await.expect("answer");
            assert!(bytes.len() > 12, "an answer");
        }
        assert_eq!(doq_query(&c).await, Ok(1));
    });
}

/// The first datagram (a client Initial) of a QUIC handshake that will never finish.
async fn stalled_initial(cert: &[u8]) -> Vec<u8> {
    let sink = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let to = sink.local_addr().expect("addr");
    let ep = doq_client(cert, "127.0.0.1");
    let connecting = ep.connect(to, "localhost").expect("connect");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), sink.recv(&mut buf))
        .await
        .expect("an Initial")
        .expect("recv");
    buf.truncate(n);
    drop(connecting);
    ep.close(0u32.into(), b"");
    buf
}

#[test]
fn a_stalled_quic_handshake_does_not_hold_up_other_clients() {
    let e = start_with(&[]);
    runtime().block_on(async {
        // Three clients send their Initial and never answer the server's handshake.
        let to: SocketAddr = ([127, 0, 0, 1], e.quic).into();
        let mut stalled = Vec::new();
        for _ in 0..3 {
            let initial = stalled_initial(&e.cert).await;
            let s = tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind");
            s.send_to(&initial, to).await.expect("send");
            stalled.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let ep = doq_client(&e.cert, "127.0.0.1");
        let c = doq_connect(&ep, e.quic).await.expect("connect");
        assert_eq!(doq_query(&c).await, Ok(1));
        let took = started.elapsed();
        assert!(
            took < Duration::from_millis(1500),
            "a DoQ query behind three stalled handshakes took {took:?}"
        );
        drop(stalled);
    });
}

#[test]
fn a_doq_query_with_a_message_id_closes_the_connection_with_a_protocol_error() {
    let e = start_with(&[]);
    runtime().block_on(async {
        let ep = doq_client(&e.cert, "127.0.0.1");
        let c = doq_connect(&ep, e.quic).await.expect("connect");
        let (mut send, _recv) = c.open_bi().await.expect("stream");
        // RFC 9250 §4.2.1: the ID must be 0.
        send.write_all(&queries(7..8)).await.expect("write");
        send.finish().expect("finish");
        let closed = tokio::time::timeout(Duration::from_secs(3), c.closed())
            .await
            .expect("the connection is closed");
        match closed {
            quinn::ConnectionError::ApplicationClosed(a) => {
                assert_eq!(
                    a.error_code,
                    quinn::VarInt::from_u32(2),
                    "DOQ_PROTOCOL_ERROR"
                )
            }
            other => panic!("closed with {other:?}"),
        }
    });
}

#[test]
fn a_doq_query_in_flight_when_sigterm_comes_is_answered() {
    let e = start_with(&[]);
    runtime().block_on(async {
        let ep = doq_client(&e.cert, "127.0.0.1");
        let c = doq_connect(&ep, e.quic).await.expect("connect");
        assert_eq!(doq_query(&c).await, Ok(1));
        let (mut send, mut recv) = c.open_bi().await.expect("stream");
        let q = queries(0..1);
        send.write_all(&q[..q.len() / 2]).await.expect("half");
        tokio::time::sleep(Duration::from_millis(100)).await;
        e.g.signal("TERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
        send.write_all(&q[q.len() / 2..]).await.expect("the rest");
        send.finish().expect("finish");
        let bytes = tokio::time::timeout(Duration::from_secs(5), recv.read_to_end(65537))
            .await
            .expect("in time")
            .expect("an answer");
        let m = hickory_proto::op::Message::from_vec(&bytes[2..]).expect("a response");
        assert_eq!(m.answers.len(), 1);
        // A new connection is no longer accepted.
        let late = doq_client(&e.cert, "127.0.0.1");
        let connected = tokio::time::timeout(Duration::from_secs(3), doq_connect(&late, e.quic));
        assert!(
            !matches!(connected.await, Ok(Ok(_))),
            "accepted after SIGTERM"
        );
    });
}

/// True when `datagram` is a QUIC v1 Retry (long header, type 3).
fn is_retry(datagram: &[u8]) -> bool {
    datagram.first().is_some_and(|b| b & 0xf0 == 0xf0)
}

#[test]
fn unvalidated_initials_close_no_connection_and_get_a_retry_when_full() {
    let e = start_with(&["--tls-max-clients", "20"]);
    runtime().block_on(async {
        let one = doq_client(&e.cert, "127.0.0.1");
        let legit = doq_answered(&one, e.quic).await;
        // 30 one-packet Initials from 30 addresses that never go on (RFC 9000 §8.1: their
        // addresses are not validated).
        let to: SocketAddr = ([127, 0, 0, 1], e.quic).into();
        let mut flood = Vec::new();
        for i in 0..30u8 {
            let initial = stalled_initial(&e.cert).await;
            let s = tokio::net::UdpSocket::bind(format!("127.0.0.{}:0", 10 + i))
                .await
                .expect("bind");
            s.send_to(&initial, to).await.expect("send");
            flood.push(s);
        }
        // What each address got back first.
        let mut retries = 0;
        for s in &flood {
            let mut buf = vec![0u8; 4096];
            let got = tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf)).await;
            if let Ok(Ok(n)) = got {
                retries += usize::from(is_retry(&buf[..n]));
            }
        }
        assert_eq!(
            doq_query(&legit).await,
            Ok(1),
            "the idle connection is still open"
        );
        assert!(
            retries >= 10,
            "past the cap an unvalidated Initial gets a Retry ({retries} of 30 did)"
        );
        // A real client past the cap answers the Retry, is validated, and gets in.
        let two = doq_client(&e.cert, "127.0.0.2");
        let c = doq_connect(&two, e.quic)
            .await
            .expect("connect after a Retry");
        assert_eq!(doq_query(&c).await, Ok(1));
        drop(flood);
    });
}
