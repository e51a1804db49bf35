//! Abuse resistance through the real binary: response rate limiting (drop and slip, never on
//! TCP or for a client with a valid server cookie), a spoofed flood toward one victim held to
//! the rate with no amplification, replies to TSIG-signed queries never limited into unsigned
//! slips, and ANY over UDP answered with one RRset (RFC 8482).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::harness::{Gslbd, zone_head};

fn zone() -> String {
    let mut z = zone_head("gslb.example.");
    z.push_str(
        "[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n\
         [[records]]\nname = \"multi\"\ntype = \"A\"\ndata = [\"192.0.2.2\"]\n\
         [[records]]\nname = \"multi\"\ntype = \"TXT\"\ndata = [\"one\", \"two\"]\n\
         [[records]]\nname = \"multi\"\ntype = \"MX\"\ndata = [\"10 mail.gslb.example.\"]\n",
    );
    z
}

/// A query for `name` A with ID `id`, with an OPT carrying `cookie` when given.
pub(crate) fn query(name: &str, id: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    query_type(name, 1, id, cookie)
}

/// A query for `name` of type `qtype` with ID `id`, with an OPT carrying `cookie` when given.
pub(crate) fn query_type(name: &str, qtype: u16, id: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, u8::from(cookie.is_some())]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(u8::try_from(label.len()).expect("short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    if let Some(c) = cookie {
        let len = u16::try_from(c.len() + 4).expect("short");
        q.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0]);
        q.extend_from_slice(&len.to_be_bytes());
        q.extend_from_slice(&[0, 10]);
        q.extend_from_slice(&u16::try_from(c.len()).expect("short").to_be_bytes());
        q.extend_from_slice(c);
    }
    q
}

/// What came back on `sock` until it was quiet for `quiet`: (answers, truncated, bytes).
pub(crate) fn drain(sock: &UdpSocket, quiet: Duration) -> (usize, usize, usize) {
    sock.set_read_timeout(Some(quiet)).expect("timeout");
    let mut buf = [0u8; 1500];
    let (mut answers, mut truncated, mut bytes) = (0, 0, 0);
    while let Ok(n) = sock.recv(&mut buf) {
        bytes += n;
        if buf[2] & 0x02 != 0 {
            truncated += 1;
        } else if u16::from_be_bytes([buf[6], buf[7]]) > 0 {
            answers += 1;
        }
    }
    (answers, truncated, bytes)
}

pub(crate) fn socket(from: &str, port: u16) -> UdpSocket {
    let s = UdpSocket::bind((from, 0)).expect("bind");
    s.connect(("127.0.0.1", port)).expect("connect");
    s
}

/// The server cookie option (client + server) from a response, if it has one.
fn cookie_of(resp: &[u8]) -> Option<Vec<u8>> {
    let at = resp.windows(4).position(|w| w == [0, 10, 0, 24])?;
    resp.get(at + 4..at + 28).map(<[u8]>::to_vec)
}

#[test]
fn over_the_rate_udp_is_dropped_or_slipped_but_tcp_and_cookies_are_answered() {
    let g = Gslbd::start_in(
        {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
            std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
            dir
        },
        &[
            "--rrl-rate",
            "20",
            "--rrl-slip",
            "2",
            "--rrl-exempt",
            "none",
        ],
    );
    let sock = socket("127.0.0.1", g.port);
    for id in 0..200u16 {
        sock.send(&query("www.gslb.example", id, None))
            .expect("send");
    }
    let (answers, truncated, _) = drain(&sock, Duration::from_millis(700));
    assert!(
        (15..=30).contains(&answers),
        "about the rate plus a burst: {answers}"
    );
    assert!(
        truncated >= 60,
        "every second limited response slips: {truncated}"
    );
    assert!(answers + truncated < 200, "the rest are dropped");

    // A client that proves its address with a server cookie is never limited.
    sock.send(&query("www.gslb.example", 1, Some(&[7; 8])))
        .expect("send");
    std::thread::sleep(Duration::from_millis(1100));
    let mut buf = [0u8; 1500];
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let cookie = loop {
        let n = sock
            .recv(&mut buf)
            .expect("a response with a server cookie");
        if let Some(c) = cookie_of(&buf[..n]) {
            break c;
        }
    };
    for id in 0..200u16 {
        sock.send(&query("www.gslb.example", id, Some(&cookie)))
            .expect("send");
    }
    let (answers, truncated, _) = drain(&sock, Duration::from_millis(700));
    assert_eq!((answers, truncated), (200, 0), "valid cookies are exempt");

    // TCP is never limited.
    for _ in 0..30 {
        assert_eq!(g.dig("www.gslb.example A +tcp").status, "NOERROR");
    }
    let metrics =
        crate::harness::http(g.admin.as_deref().expect("admin"), "GET", "/metrics", None).1;
    for action in ["drop", "slip"] {
        assert!(
            metrics.contains(&format!("gslbd_dns_rrl_total{{action=\"{action}\"}}")),
            "{action} counted"
        );
    }
}

#[test]
fn a_spoofed_flood_toward_one_victim_stays_within_the_rate_with_no_amplification() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
    let g = Gslbd::start_in(dir, &["--rrl-rate", "20", "--rrl-exempt", "none"]);
    // "Spoofed": the flood's sources are eight addresses of the victim's /24, many ports.
    let victims: Vec<UdpSocket> = (1..=8)
        .map(|i| socket(&format!("127.0.9.{i}"), g.port))
        .collect();
    let start = Instant::now();
    let mut sent_bytes = 0;
    let mut sent = 0u16;
    while start.elapsed() < Duration::from_secs(2) {
        for (i, v) in victims.iter().enumerate() {
            // Half for an existing name, half for random names (NXDOMAIN).
            let name = if i % 2 == 0 {
                "www.gslb.example".to_string()
            } else {
                format!("r{sent}.gslb.example")
            };
            let q = query(&name, sent, None);
            sent_bytes += q.len();
            let _ = v.send(&q);
            sent = sent.wrapping_add(1);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    let elapsed = start.elapsed().as_secs_f64();
    // Meanwhile another client is served as usual.
    let d = g.dig("www.gslb.example A -b 127.0.7.1");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    let mut answers = 0;
    let mut received = 0;
    for v in &victims {
        let (a, _, bytes) = drain(v, Duration::from_millis(300));
        answers += a;
        received += bytes;
    }
    // Two buckets (www A, and the zone's NXDOMAINs) at 20/s, each with a 1 s burst.
    let bound = (2.0 * 20.0 * (elapsed + 1.0)).ceil() as usize + 4;
    assert!(
        answers <= bound,
        "{answers} full answers from {sent} queries in {elapsed:.1}s; at most {bound}"
    );
    assert!(
        received <= sent_bytes,
        "no amplification: {received} bytes back for {sent_bytes} sent"
    );
}

#[test]
fn any_over_udp_is_one_rrset_and_over_tcp_everything() {
    let g = Gslbd::start(&[("z.toml", &zone())]);
    let d = g.dig("multi.gslb.example ANY +notcp");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    let types: std::collections::BTreeSet<&str> =
        d.answer.iter().map(|r| r.rtype.as_str()).collect();
    assert_eq!(types.len(), 1, "one RRset over UDP: {}", d.raw);
    let d = g.dig("multi.gslb.example ANY +tcp");
    let types: std::collections::BTreeSet<&str> =
        d.answer.iter().map(|r| r.rtype.as_str()).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        vec!["A", "MX", "TXT"]
    );
}

/// The truncated responses among what came back on `sock` until it was quiet for `quiet`.
fn slips(sock: &UdpSocket, quiet: Duration) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(quiet)).expect("timeout");
    let mut buf = [0u8; 1500];
    let mut found = Vec::new();
    while let Ok(n) = sock.recv(&mut buf) {
        if buf[2] & 0x02 != 0 {
            found.push(buf[..n].to_vec());
        }
    }
    found
}

#[test]
fn a_slip_is_a_proper_truncated_response_with_the_question_and_opt() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
    let g = Gslbd::start_in(
        dir,
        &["--rrl-rate", "1", "--rrl-slip", "1", "--rrl-exempt", "none"],
    );
    // An EDNS query with a client cookie: header, question, OPT with the client cookie and a
    // fresh server cookie (RFC 6891 §7, RFC 7873 §5.2.3), nothing after it.
    let sock = socket("127.0.6.1", g.port);
    let client = [7u8; 8];
    let q = query("www.gslb.example", 1, Some(&client));
    for _ in 0..10 {
        sock.send(&q).expect("send");
    }
    let got = slips(&sock, Duration::from_millis(500));
    assert!(!got.is_empty(), "slips");
    let question_end = 12 + "www.gslb.example".len() + 2 + 4;
    for s in &got {
        assert_eq!(&s[4..12], &[0, 1, 0, 0, 0, 0, 0, 1], "counts: {s:?}");
        assert_eq!(&s[12..question_end], &q[12..question_end], "question");
        let opt = &s[question_end..];
        assert_eq!(&opt[..3], &[0, 0, 41], "an OPT: {s:?}");
        assert_eq!(
            opt.len(),
            11 + 4 + 24,
            "one cookie option, nothing after: {s:?}"
        );
        assert_eq!(&opt[11..15], &[0, 10, 0, 24], "a server cookie: {s:?}");
        assert_eq!(&opt[15..23], &client, "the client cookie echoed");
        let m = hickory_proto::op::Message::from_vec(s).expect("parses");
        assert!(m.metadata.truncation, "TC");
    }
    // A query without a question gets FORMERR with an OPT; its slip is header and OPT.
    let sock = socket("127.0.6.2", g.port);
    let mut bare = vec![0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    bare.extend_from_slice(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
    for _ in 0..10 {
        sock.send(&bare).expect("send");
    }
    let got = slips(&sock, Duration::from_millis(500));
    assert!(!got.is_empty(), "slips");
    for s in &got {
        assert_eq!(s[3] & 0x0f, 1, "FORMERR: {s:?}");
        assert_eq!(&s[4..12], &[0, 0, 0, 0, 0, 0, 0, 1], "counts: {s:?}");
        assert_eq!(s.len(), 12 + 11, "header and OPT, nothing after: {s:?}");
        assert_eq!(&s[12..15], &[0, 0, 41], "an OPT: {s:?}");
    }
}

/// Sends 30 queries of `www.gslb.example` A (or `gslb.example` IXFR from serial 1, as the
/// third argument says) signed with `xfr-key` (HMAC-SHA256, `secret`) from 127.0.0.6 to
/// `port` at once over UDP, and reads what comes back: `signed=N unsigned=N` (a signed reply's
/// TSIG must verify, or the script fails).
const SIGNED_FLOOD: &str = r#"
import socket, sys
import dns.message, dns.rrset, dns.tsigkeyring, dns.tsig
port, secret, kind = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ring = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha256", secret)})
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.6", 0))
s.settimeout(0.7)
sent = {}
for i in range(30):
    if kind == "A":
        q = dns.message.make_query("www.gslb.example.", "A", use_edns=0)
    else:
        q = dns.message.make_query("gslb.example.", "IXFR")
        q.authority.append(dns.rrset.from_text("gslb.example.", 0, "IN", "SOA", ". . 1 0 0 0 0"))
    q.id = i
    q.use_tsig(ring, keyname="xfr-key.", algorithm=dns.tsig.HMAC_SHA256)
    s.sendto(q.to_wire(), ("127.0.0.1", port))
    sent[i] = q
signed = unsigned = 0
while True:
    try:
        data = s.recv(1500)
    except socket.timeout:
        break
    q = sent[int.from_bytes(data[:2], "big")]
    m = dns.message.from_wire(data, keyring=ring, request_mac=q.mac)
    if m.had_tsig:
        signed += 1
    else:
        unsigned += 1
print(f"signed={signed} unsigned={unsigned}")
"#;

#[test]
fn replies_to_tsig_signed_queries_are_never_limited_into_unsigned_slips() {
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
    std::fs::write(
        dir.path().join("xfr.key"),
        format!("hmac-sha256:xfr-key:{secret}\n"),
    )
    .expect("key");
    std::fs::write(
        dir.path().join("gslbd.toml"),
        "[transfer]\nsecondaries = [\"127.0.0.6:53\"]\nkey_file = \"xfr.key\"\n",
    )
    .expect("gslbd.toml");
    let g = Gslbd::start_in(
        dir,
        &["--rrl-rate", "5", "--rrl-slip", "2", "--rrl-exempt", "none"],
    );
    // The sender holds the key, so its address is proven, as a server cookie proves it:
    // every reply comes back, signed; none is a truncated unsigned slip a secondary drops.
    assert_eq!(signed_flood(g.port, secret, "A"), "signed=30 unsigned=0");
    // The same for IXFR over UDP (RFC 1995 §2), once there is a version to transfer.
    crate::transfers::first_version(&g);
    assert_eq!(signed_flood(g.port, secret, "IXFR"), "signed=30 unsigned=0");
}

/// What [`SIGNED_FLOOD`] of `kind` to `port` saw.
fn signed_flood(port: u16, secret: &str, kind: &str) -> String {
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SIGNED_FLOOD, &port.to_string(), secret, kind])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.trim().to_string()
}
