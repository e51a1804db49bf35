//! Rate limiting's buckets through the real binary: a client cannot compute a query that
//! shares another client's cell (the cell hash is keyed per process), and random names under
//! a delegation or random types at one name fill one bucket (referrals are counted per
//! delegation point, NODATA per name).

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use xxhash_rust::xxh3::xxh3_64;

use crate::harness::{Gslbd, zone_head};
use crate::rrl::{query, query_type, socket};

/// `gslb.example.` with `www` A and `sub` delegated (with glue).
fn zone() -> String {
    let mut z = zone_head("gslb.example.");
    z.push_str(
        "[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n\
         [[records]]\nname = \"sub\"\ntype = \"NS\"\ndata = [\"ns.sub.gslb.example.\"]\n\
         [[records]]\nname = \"ns.sub\"\ntype = \"A\"\ndata = [\"192.0.2.53\"]\n",
    );
    z
}

fn start(rate: &str) -> Gslbd {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
    Gslbd::start_in(
        dir,
        &[
            "--rrl-rate",
            rate,
            "--rrl-slip",
            "0",
            "--rrl-exempt",
            "none",
        ],
    )
}

/// How many responses came back on `sock` until it was quiet for `quiet`.
fn responses(sock: &UdpSocket, quiet: Duration) -> usize {
    sock.set_read_timeout(Some(quiet)).expect("timeout");
    let mut buf = [0u8; 1500];
    let mut n = 0;
    while sock.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// The cell gslbd's unkeyed table (before #24) put a response in: xxh3 of the client's /24,
/// the response class (answer 0, NODATA 1) and xxh3 of the lowercase name and type.
fn unkeyed_cell(prefix: [u8; 3], class: u8, name: &[u8], qtype: u16) -> u64 {
    let mut key = name.to_vec();
    key.extend_from_slice(&qtype.to_be_bytes());
    let mut bytes = [0u8; 26];
    bytes[..3].copy_from_slice(&prefix);
    bytes[8] = class;
    bytes[9..17].copy_from_slice(&xxh3_64(&key).to_le_bytes());
    xxh3_64(&bytes) & 0xffff
}

#[test]
fn a_client_cannot_compute_a_query_that_limits_another_clients_answers() {
    // Offline, as an attacker would: a /24 and a type at `www` (NODATA) that the unkeyed
    // table put in the victim's cell (`www A` from 127.0.2.0/24).
    let www = b"\x03www\x04gslb\x07example\x00";
    let victim = unkeyed_cell([127, 0, 2], 0, www, 1);
    let (net, qtype) = (3..=255u8)
        .flat_map(|n| (1024..=65279u16).map(move |t| (n, t)))
        .find(|&(n, t)| unkeyed_cell([127, 0, n], 1, www, t) == victim)
        .expect("a colliding query");
    let g = start("5");
    let attacker = socket(&format!("127.0.{net}.1"), g.port);
    for id in 0..50u16 {
        attacker
            .send(&query_type("www.gslb.example", qtype, id, None))
            .expect("send");
    }
    // Right after (the attacker's cell holds over a second of debt), the victim asks once
    // and gets its answer.
    let victim = socket("127.0.2.1", g.port);
    victim
        .send(&query("www.gslb.example", 7, None))
        .expect("send");
    assert!(responses(&attacker, Duration::from_millis(300)) < 50);
    victim
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 1500];
    let n = victim
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("the victim's answer was dropped ({e}); TYPE{qtype}"));
    assert_eq!(buf[2] & 0x02, 0, "not truncated: {:?}", &buf[..n]);
    assert_eq!(u16::from_be_bytes([buf[6], buf[7]]), 1, "one answer");
}

#[test]
fn random_names_under_a_delegation_and_random_types_at_a_name_share_a_bucket() {
    let g = start("5");
    for (from, what) in [("127.0.3.1", "referral"), ("127.0.4.1", "nodata")] {
        let sock = socket(from, g.port);
        let start = Instant::now();
        for i in 0..100u16 {
            let q = match what {
                "referral" => query(&format!("r{i}.sub.gslb.example"), i, None),
                _ => query_type("www.gslb.example", 1000 + i, i, None),
            };
            sock.send(&q).expect("send");
        }
        let got = responses(&sock, Duration::from_millis(300));
        let elapsed = start.elapsed().as_secs_f64();
        // One bucket at 5/s with a one-second burst.
        let bound = (5.0 * (elapsed + 1.0)).ceil() as usize + 1;
        assert!(
            got <= bound,
            "{what}: {got} of 100 answered in {elapsed:.1}s; at most {bound}"
        );
        assert!(got >= 5, "{what}: the burst is answered: {got}");
    }
    // The delegation is answered as a referral, and another name's NODATA has its own bucket.
    let d = g.dig("x.sub.gslb.example A -b 127.0.5.1 +norec");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert!(d.raw.contains("ns.sub.gslb.example."), "{}", d.raw);
    let d = g.dig("ns1.gslb.example TXT -b 127.0.4.2");
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
}
