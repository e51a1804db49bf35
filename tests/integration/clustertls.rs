//! A cluster peer reached over https: gslbd verifies its certificate against `ca_file` and
//! counts its votes; a peer whose certificate is not trusted is never heard from.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::harness::{Gslbd, free_port, http, poll, zone_head};

const TOKEN: &str = "cluster-tls-token";

/// A peer on https://localhost:PORT that serves `doc` to requests with the token, for 60 s.
fn tls_peer(doc: String) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let pem = cert.cert.pem();
    let key =
        rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).expect("key");
    let config = Arc::new(
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .expect("tls config"),
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let stop = Instant::now() + Duration::from_secs(60);
        while Instant::now() < stop {
            let Ok((tcp, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = tcp.set_nonblocking(false);
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 4096];
            let Ok(n) = tls.read(&mut buf) else { continue };
            let request = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let body = if request.contains(&format!("bearer {}", TOKEN.to_ascii_lowercase())) {
                doc.clone()
            } else {
                String::new()
            };
            let status = if body.is_empty() { "401 X" } else { "200 OK" };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(resp.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, pem)
}

fn zone(b: &Backend) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n[pools.www.probe]\ninterval = \"400ms\"\n\
         timeout = \"200ms\"\n[pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        b.url("/")
    )
}

/// An instance named `name` on `admin` with `peers` and the CA in `ca` (PEM).
fn instance(name: &str, admin: u16, peers: &[String], ca: Option<&str>, zone: &str) -> Gslbd {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone).expect("zone");
    std::fs::write(dir.path().join("cluster.token"), TOKEN).expect("token");
    let ca_line = match ca {
        Some(pem) => {
            std::fs::write(dir.path().join("ca.pem"), pem).expect("ca");
            "ca_file = \"ca.pem\"\n"
        }
        None => "",
    };
    let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
    std::fs::write(
        dir.path().join("gslbd.toml"),
        format!(
            "[cluster]\nname = \"{name}\"\npeers = [{}]\ntoken_file = \"cluster.token\"\n\
             {ca_line}poll_interval = \"300ms\"\npoll_timeout = \"300ms\"\n",
            peers.join(", ")
        ),
    )
    .expect("gslbd.toml");
    Gslbd::start_in(dir, &["--admin", &format!("127.0.0.1:{admin}")])
}

#[test]
fn an_https_peer_is_verified_against_ca_file_and_an_untrusted_one_is_never_heard() {
    let backend = Backend::http();
    let z = zone(&backend);
    // A plain instance to copy a genuine verdicts document from.
    let (pb, pa) = (free_port(), free_port());
    let b = instance("b", pb, &[format!("http://127.0.0.1:{pa}")], None, &z);
    let (_, doc) = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let (code, body) = http(
            &format!("127.0.0.1:{pb}"),
            "GET",
            "/cluster/verdicts",
            Some(TOKEN),
        );
        (code == 200 && body.contains("\"up\"")).then_some((code, body))
    })
    .expect("b's verdicts");
    let doc = doc.replace("\"instance\":\"b\"", "\"instance\":\"secure\"");
    let (trusted, ca) = tls_peer(doc.clone());
    let (untrusted, _other_ca) = tls_peer(doc);
    let a = instance(
        "a",
        pa,
        &[
            format!("https://localhost:{trusted}"),
            format!("https://localhost:{untrusted}"),
        ],
        Some(&ca),
        &z,
    );
    let peers = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let s = a.api("GET", "/status", None).1;
        let peers = s["cluster"]["peers"].as_array()?.clone();
        (peers[0]["fresh"] == true && peers[1]["error"].is_string()).then_some(peers)
    })
    .expect("the trusted peer heard, the other refused");
    assert_eq!(peers[0]["name"], "secure");
    assert_eq!(peers[1]["fresh"], false);
    let err = peers[1]["error"].as_str().unwrap_or("");
    assert!(
        err.contains("certificate") || err.contains("connect"),
        "{err}"
    );
    drop(b);
}
