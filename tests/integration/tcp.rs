//! TCP under abuse: connection caps (global and per source, the longest-idle closed first), a
//! client that never reads, running out of file descriptors, and the raised descriptor limit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{Gslbd, poll, zone_head};

fn zone() -> String {
    let mut z = zone_head("gslb.example.");
    z.push_str("[[records]]\nname = \"big\"\ntype = \"TXT\"\ndata = [\n");
    for i in 0..12 {
        z.push_str(&format!("  \"{i:02}{}\",\n", "x".repeat(180)));
    }
    z.push_str("]\n[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n");
    z
}

/// A TCP query for `name` TXT (ID 1), framed.
fn framed_query(name: &str) -> Vec<u8> {
    let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(u8::try_from(label.len()).expect("short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 16, 0, 1]);
    let mut framed = u16::try_from(q.len())
        .expect("short")
        .to_be_bytes()
        .to_vec();
    framed.extend_from_slice(&q);
    framed
}

/// Connects from `source` (a loopback address) to the server.
fn connect_from(g: &Gslbd, source: &str) -> TcpStream {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from: SocketAddr = format!("{source}:0").parse().expect("addr");
    sock.bind(&from.into()).expect("bind source");
    let to: SocketAddr = format!("127.0.0.1:{}", g.port).parse().expect("addr");
    sock.connect(&to.into()).expect("connect");
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s
}

/// True once the server has closed `s` (EOF or reset), waiting at most `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// One query over a fresh connection from `source`; true when it is answered.
fn answered_from(g: &Gslbd, source: &str) -> bool {
    let mut s = connect_from(g, source);
    if s.write_all(&framed_query("www.gslb.example")).is_err() {
        return false;
    }
    let mut len = [0u8; 2];
    s.read_exact(&mut len).is_ok()
}

#[test]
fn a_full_server_closes_the_longest_idle_connection_to_admit_a_new_one() {
    let g = Gslbd::start_limited(
        &[("z.toml", &zone())],
        &["--tcp-max-clients", "4", "--tcp-max-per-source", "100"],
        (4096, 4096),
    );
    let mut idle: Vec<TcpStream> = Vec::new();
    for _ in 0..4 {
        idle.push(connect_from(&g, "127.0.0.1"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(answered_from(&g, "127.0.0.1"), "a fifth client is served");
    assert!(
        closed_within(&mut idle[0], Duration::from_secs(3)),
        "the longest-idle connection made room"
    );
    let d = g.dig("www.gslb.example A +tcp");
    assert_eq!(d.status, "NOERROR");
}

#[test]
fn one_source_cannot_take_every_connection() {
    let g = Gslbd::start_limited(
        &[("z.toml", &zone())],
        &["--tcp-max-clients", "100", "--tcp-max-per-source", "2"],
        (4096, 4096),
    );
    let first = connect_from(&g, "127.0.0.1");
    std::thread::sleep(Duration::from_millis(50));
    let mut mine = [first, connect_from(&g, "127.0.0.1")];
    let mut other = connect_from(&g, "127.0.0.2");
    std::thread::sleep(Duration::from_millis(100));
    assert!(answered_from(&g, "127.0.0.1"));
    assert!(
        closed_within(&mut mine[0], Duration::from_secs(3)),
        "the source's own longest-idle connection made room"
    );
    other
        .write_all(&framed_query("www.gslb.example"))
        .expect("write");
    let mut len = [0u8; 2];
    other
        .read_exact(&mut len)
        .expect("another source's connection is untouched");
}

#[test]
fn a_client_that_sends_and_never_reads_is_dropped_after_the_io_timeout() {
    let g = Gslbd::start_limited(
        &[("z.toml", &zone())],
        &["--tcp-io-timeout", "1s"],
        (4096, 4096),
    );
    const QUERIES: usize = 20_000;
    let mut s = connect_from(&g, "127.0.0.1");
    let mut writer = s.try_clone().expect("clone");
    writer
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let q = framed_query("big.gslb.example");
    let burst: Vec<u8> = std::iter::repeat_n(q, QUERIES).flatten().collect();
    // Send every query, never read: the server's writes block once the buffers are full.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&burst);
    });
    std::thread::sleep(Duration::from_secs(4));
    // Meanwhile others are served.
    assert_eq!(g.dig("www.gslb.example A +tcp").status, "NOERROR");
    // Whatever was buffered arrives, then the end: far fewer than every answer.
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut total = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(30);
    let ended = loop {
        assert!(Instant::now() < deadline, "still open after 30 s");
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let _ = sender.join();
    let answer_len = 2 + 2300;
    assert!(ended, "the server closed the connection");
    assert!(
        total < QUERIES * answer_len / 2,
        "dropped long before answering everything ({total} bytes read)"
    );
}

#[test]
fn out_of_descriptors_the_server_backs_off_and_keeps_serving_tcp() {
    // Soft and hard limit 64: gslbd cannot raise it. The open-files budget clamps the asked
    // 1,000 connections to what fits, so 80 idle clients push each other out instead of
    // exhausting the descriptors; accept failures, when they happen, must not spin.
    let g = Gslbd::start_limited(
        &[("z.toml", &zone())],
        &["--tcp-max-clients", "1000", "--tcp-max-per-source", "1000"],
        (64, 64),
    );
    let hogs: Vec<TcpStream> = (0..80).map(|_| connect_from(&g, "127.0.0.1")).collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = g.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let spent = g.cpu_time() - before;
    assert!(
        spent < Duration::from_millis(600),
        "accept errors must not spin: {spent:?} of CPU in 2 s"
    );
    let served = poll(Duration::from_secs(15), Duration::from_millis(200), || {
        answered_from(&g, "127.0.0.1").then_some(())
    });
    assert!(served.is_some(), "a new TCP query is answered");
    assert!(
        g.logs()
            .iter()
            .any(|l| l.contains("open files budget") && l.contains("tcp_asked=1000")),
        "the asked cap was clamped to the limit"
    );
    drop(hogs);
    assert_eq!(g.dig("www.gslb.example A").status, "NOERROR");
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit_at_start() {
    let g = Gslbd::start_limited(&[("z.toml", &zone())], &[], (256, 4096));
    let logs = g.logs().join("\n");
    assert!(
        logs.contains("raised the open files limit from=256 to=4096"),
        "{logs}"
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", g.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("listed");
    assert!(line.contains("4096                 4096"), "{line}");
}

/// A zone whose pool `www` has two regions probed by TCP connects every 200 ms (fall 2).
fn probed_zone(a: &crate::backend::Backend, b: &crate::backend::Backend) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        a.addr,
        b.addr
    )
}

#[test]
fn connection_caps_are_clamped_to_the_open_files_limit_and_probes_keep_their_descriptors() {
    use crate::backend::Backend;
    let (a, b) = (Backend::tcp(), Backend::tcp());
    // 256 descriptors, hard: the default cap of 1,024 TCP connections does not fit.
    let g = Gslbd::start_limited(
        &[("z.toml", &probed_zone(&a, &b))],
        &["--tcp-io-timeout", "5s"],
        (256, 256),
    );
    let logs = g.logs().join("\n");
    let budget = logs
        .lines()
        .find(|l| l.contains("open files budget"))
        .unwrap_or_else(|| panic!("the reservation is logged:\n{logs}"));
    assert!(
        budget.contains("limit=256") && budget.contains("tcp_max_clients="),
        "{budget}"
    );
    let both = || g.dig("www.gslb.example A").answers("A").len() == 2;
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        both().then_some(())
    })
    .expect("both regions up");
    // 320 connections from five addresses (64 each, the per-source cap), each in the middle of
    // a query (busy: none can be closed to make room) for the 5 s I/O timeout.
    let mut flood = Vec::new();
    for i in 0..320 {
        let mut s = connect_from(&g, &format!("127.0.0.{}", 10 + i / 64));
        let _ = s.write_all(&[0]);
        flood.push(s);
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        // An answer (a dig that timed out on a loaded machine proves nothing either way) keeps
        // both regions.
        let d = g.dig("www.gslb.example A");
        assert!(
            d.status != "NOERROR" || d.answers("A").len() == 2,
            "a healthy region left the answers while 320 TCP clients waited: {:?}",
            d.answers("A")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = g.logs().join("\n");
    assert!(!logs.contains("region down"), "{logs}");
    // Every connection the cap allows is busy: a newcomer waits for the flood to end.
    drop(flood);
    let served = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        answered_from(&g, "127.0.0.2").then_some(())
    });
    assert!(served.is_some(), "TCP answers again");
}

#[test]
fn a_started_query_that_stalls_holds_its_slot_half_a_second_by_default() {
    let g = Gslbd::start(&[("z.toml", &zone())]);
    // Half a length prefix, then nothing: a slow-read (slowloris) client.
    let mut s = connect_from(&g, "127.0.0.1");
    let started = Instant::now();
    s.write_all(&[0]).expect("write");
    assert!(
        closed_within(&mut s, Duration::from_secs(6)),
        "closed at the I/O timeout"
    );
    let held = started.elapsed();
    assert!(
        held < Duration::from_millis(1200),
        "a stalled query held its connection for {held:?}"
    );
}

/// The `tcp_max_clients=N` of the logged budget line.
fn logged_tcp_cap(g: &Gslbd) -> usize {
    let logs = g.logs().join("\n");
    let budget = logs
        .lines()
        .find(|l| l.contains("open files budget"))
        .unwrap_or_else(|| panic!("the budget is logged:\n{logs}"));
    budget
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tcp_max_clients="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("tcp_max_clients in {budget}"))
}

#[test]
fn a_small_open_files_limit_keeps_a_share_of_tcp_that_a_few_stalled_clients_cannot_fill() {
    use crate::backend::Backend;
    let (a, b) = (Backend::tcp(), Backend::tcp());
    // 128 descriptors, hard, two probe targets: the reservation used to leave one connection.
    let g = Gslbd::start_limited(
        &[("z.toml", &probed_zone(&a, &b))],
        &["--tcp-io-timeout", "5s"],
        (128, 128),
    );
    let cap = logged_tcp_cap(&g);
    assert!(cap >= 32, "tcp_max_clients={cap} under nofile=128");
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (g.dig("www.gslb.example A").answers("A").len() == 2).then_some(())
    })
    .expect("both regions up");
    // Four clients from two sources each hold a half-sent query for the 5 s I/O timeout.
    let mut held = Vec::new();
    for i in 0..4 {
        let mut s = connect_from(&g, &format!("127.0.0.{}", 10 + i / 2));
        s.write_all(&[0]).expect("half a length prefix");
        held.push(s);
    }
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let answered = (0..10)
        .filter(|i| answered_from(&g, &format!("127.0.0.{}", 20 + i)))
        .count();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered while the stalled clients still held their connections"
    );
    assert_eq!(answered, 10, "TCP queries answered of 10");
    drop(held);
    // Every connection the cap allows busy (from sources under the per-source cap): the
    // probes keep their descriptors and both regions stay in the answers.
    let flood: Vec<TcpStream> = (0..cap)
        .map(|i| {
            let mut s = connect_from(&g, &format!("127.0.0.{}", 40 + i / 32));
            let _ = s.write_all(&[0]);
            s
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        let d = g.dig("www.gslb.example A");
        assert!(
            d.status != "NOERROR" || d.answers("A").len() == 2,
            "a healthy region left the answers while {cap} TCP clients waited: {:?}",
            d.answers("A")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let open = std::fs::read_dir(format!("/proc/{}/fd", g.pid()))
        .map(|d| d.count())
        .unwrap_or(0);
    eprintln!("descriptors open with {cap} busy TCP connections: {open} of 128");
    drop(flood);
    let logs = g.logs().join("\n");
    assert!(!logs.contains("region down"), "{logs}");
}
