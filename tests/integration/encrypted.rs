//! DNS over TLS and QUIC (`--tls`, `--quic`) through the real binary: kdig's `+tls` and
//! `+quic` get the same answers as UDP (a hashed pool with ECS, a static name, NXDOMAIN),
//! pipelined DoT queries on one connection are all answered, the certificate reloads when its
//! files change (a broken one keeps the old), queries are counted per transport, and a query in
//! flight when SIGTERM comes is answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Gslbd, poll, zone_head};

fn zone() -> String {
    format!(
        "{}[[records]]\nname = \"mail\"\ntype = \"A\"\ndata = [\"198.51.100.25\"]\n\
         [pools.www]\ntype = \"A\"\npolicy = \"hashed\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\n\
         [pools.www.regions.c]\naddresses = [\"192.0.2.3\"]\n",
        zone_head("gslb.example.")
    )
}

/// A fresh self-signed certificate for localhost and 127.0.0.1, written as PEM; its DER.
fn write_cert(dir: &Path) -> Vec<u8> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).expect("cert");
    std::fs::write(dir.join("cert.pem.new"), cert.cert.pem()).expect("cert");
    std::fs::write(dir.join("key.pem.new"), cert.signing_key.serialize_pem()).expect("key");
    // Replaced by rename, as a certificate manager does.
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).expect("rename");
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).expect("rename");
    cert.cert.der().to_vec()
}

pub(crate) struct Encrypted {
    pub(crate) g: Gslbd,
    pub(crate) tls: u16,
    pub(crate) quic: u16,
    pub(crate) cert: Vec<u8>,
}

fn start() -> Encrypted {
    start_with(&[])
}

/// gslbd with a DoT and a DoQ listener on loopback and `extra` arguments.
pub(crate) fn start_with(extra: &[&str]) -> Encrypted {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone()).expect("zone");
    let cert = write_cert(dir.path());
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (c, k) = (c.to_str().expect("utf8"), k.to_str().expect("utf8"));
    let mut args = vec![
        "--tls",
        "127.0.0.1:0",
        "--quic",
        "127.0.0.1:0",
        "--tls-cert",
        c,
        "--tls-key",
        k,
    ];
    args.extend_from_slice(extra);
    let g = Gslbd::start_in(dir, &args);
    let port = |kind: &str| {
        g.logs()
            .iter()
            .find_map(|l| {
                l.split(&format!("listening on {kind} "))
                    .nth(1)
                    .map(String::from)
            })
            .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
            .map(|a| a.port())
            .unwrap_or_else(|| panic!("no {kind} listener"))
    };
    let (tls, quic) = (port("tls"), port("quic"));
    Encrypted { g, tls, quic, cert }
}

/// kdig's view of one answer: the status and flags, the ECS option, and the answer and
/// authority sections (the transport-specific lines dropped).
fn kdig(port: u16, transport: &str, query: &str) -> Vec<String> {
    let out = Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            transport,
            "+edns",
            "+nopadding",
        ])
        .args(query.split_whitespace())
        .output()
        .expect("kdig (apt-get install knot-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut keep = Vec::new();
    let mut in_section = false;
    for line in text.lines() {
        if line.starts_with(";; ANSWER SECTION") || line.starts_with(";; AUTHORITY SECTION") {
            in_section = true;
        } else if line.trim().is_empty() {
            in_section = false;
        }
        let header = line.contains("status:") || line.starts_with(";; Flags:");
        if in_section || header || line.contains("CLIENT-SUBNET") {
            // The message ID differs per query.
            keep.push(line.split("; id:").next().unwrap_or(line).to_string());
        }
    }
    assert!(
        keep.iter().any(|l| l.contains("status:")),
        "no answer: {text}"
    );
    keep
}

#[test]
fn dot_and_doq_answer_exactly_as_udp_and_are_counted_per_transport() {
    let e = start();
    let queries = [
        "www.gslb.example A +subnet=198.51.100.0/24",
        "www.gslb.example A +subnet=203.0.113.0/24",
        "mail.gslb.example A",
        "nope.gslb.example A",
    ];
    for q in queries {
        let udp = kdig(e.g.port, "+notcp", q);
        assert_eq!(kdig(e.tls, "+tls", q), udp, "DoT: {q}");
        assert_eq!(kdig(e.quic, "+quic", q), udp, "DoQ: {q}");
    }
    assert!(
        kdig(e.g.port, "+notcp", queries[3])
            .iter()
            .any(|l| l.contains("NXDOMAIN"))
    );
    let (_, s) = e.g.api("GET", "/status", None);
    let counts = &s["queries_by_transport"];
    assert!(counts["tls"].as_u64() >= Some(4), "{counts}");
    assert!(counts["quic"].as_u64() >= Some(4), "{counts}");
    let metrics = e.g.metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gslbd_dns_transport_queries_total{transport=\"quic\"}")),
        "{metrics}"
    );
}

/// A DoT client that trusts `cert` only.
pub(crate) fn dot(
    port: u16,
    cert: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    dot_from(port, cert, "127.0.0.1")
}

/// A DoT client that trusts `cert` only, connecting from the loopback address `src`.
pub(crate) fn dot_from(
    port: u16,
    cert: &[u8],
    src: &str,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(cert.to_vec()))
        .expect("root");
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"dot".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let tcp = connect_from(src, port);
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    rustls::StreamOwned::new(conn, tcp)
}

/// A TCP connection to 127.0.0.1:`port` from the loopback address `src`.
fn connect_from(src: &str, port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let src: std::net::SocketAddr = format!("{src}:0").parse().expect("address");
    socket.bind(&src.into()).expect("bind");
    let dst: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.connect(&dst.into()).expect("connect");
    socket.into()
}

/// Framed queries for `www.gslb.example A` with IDs `ids`.
pub(crate) fn queries(ids: std::ops::Range<u16>) -> Vec<u8> {
    use hickory_proto::op::{Message, Query};
    let mut out = Vec::new();
    for id in ids {
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(Query::query(
            hickory_proto::rr::Name::from_ascii("www.gslb.example.").expect("name"),
            hickory_proto::rr::RecordType::A,
        ));
        let bytes = m.to_vec().expect("encode");
        out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// Reads `n` framed responses; their IDs.
pub(crate) fn answers<S: Read>(s: &mut S, n: usize) -> Vec<u16> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let mut len = [0u8; 2];
        if s.read_exact(&mut len).is_err() {
            break;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if s.read_exact(&mut msg).is_err() {
            break;
        }
        let m = hickory_proto::op::Message::from_vec(&msg).expect("a response");
        assert_eq!(m.answers.len(), 1);
        ids.push(m.metadata.id);
    }
    ids.sort_unstable();
    ids
}

#[test]
fn pipelined_dot_queries_on_one_connection_are_all_answered() {
    let e = start();
    let mut s = dot(e.tls, &e.cert);
    s.write_all(&queries(1..21)).expect("write");
    s.flush().expect("flush");
    assert_eq!(answers(&mut s, 20), (1..21).collect::<Vec<_>>());
}

/// The certificate a new DoT connection is shown.
fn served_cert(port: u16, trust: &[u8]) -> Option<Vec<u8>> {
    let mut s = dot(port, trust);
    s.write_all(&queries(1..2)).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    s.conn
        .peer_certificates()
        .and_then(|c| c.first().map(|c| c.to_vec()))
}

#[test]
fn the_certificate_reloads_under_load_and_a_broken_one_keeps_the_old() {
    let e = start();
    let dir = e.g.dir.path().to_path_buf();
    // Queries keep coming on one connection while the files change.
    let (port, first) = (e.tls, e.cert.clone());
    let load = std::thread::spawn(move || {
        let mut s = dot(port, &first);
        let (mut answered, mut sent) = (0usize, 0usize);
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            // IDs 1..=60000 over and over (a fast server answers more than 65,535 in 4 s).
            let id = (sent % 60_000) as u16 + 1;
            if s.write_all(&queries(id..id + 1)).is_err() {
                break;
            }
            sent += 1;
            answered += answers(&mut s, 1).len();
        }
        (answered, sent)
    });
    std::thread::sleep(Duration::from_millis(500));
    let second = write_cert(&dir);
    poll(Duration::from_secs(10), Duration::from_millis(200), || {
        (served_cert(e.tls, &second).as_deref() == Some(&second[..])).then_some(())
    })
    .expect("the new certificate is served");
    let (answered, sent) = load.join().expect("load");
    assert_eq!(
        answered, sent,
        "every query on the old connection was answered"
    );
    // A broken certificate file: the last good pair stays.
    std::fs::write(dir.join("cert.pem"), "not a certificate").expect("write");
    let logs = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        let l = e.g.logs().join("\n");
        l.contains("does not load").then_some(l)
    })
    .expect("the broken certificate is reported");
    assert!(logs.contains("keeping the old one"), "{logs}");
    assert_eq!(served_cert(e.tls, &second).as_deref(), Some(&second[..]));
}

#[test]
fn a_query_in_flight_when_sigterm_comes_is_answered() {
    let e = start();
    let mut s = dot(e.tls, &e.cert);
    s.write_all(&queries(1..2)).expect("write");
    assert_eq!(answers(&mut s, 1), [1]);
    // Half of the next query is sent, SIGTERM comes, then the rest.
    let q = queries(2..3);
    let (head, tail) = q.split_at(q.len() / 2);
    s.write_all(head).expect("write");
    s.flush().expect("flush");
    e.g.signal("TERM");
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(tail).expect("write");
    s.flush().expect("flush");
    assert_eq!(answers(&mut s, 1), [2]);
}
