//! The admin API's tokens and connection limits through the real binary: unusable token files
//! are refused at start, a read token guards the reads (bearer or HTTP Basic), and idle or
//! slow admin clients can neither starve the probes of file descriptors nor hold a connection.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{
    BIN, Gslbd, finish_within, poll, raw_http, spawn_serve, try_raw_http, zone_head,
};

/// Pool `www` (policy all): regions a and b with tcp probes every 200 ms.
fn zone(a: &Backend, b: &Backend) -> String {
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

/// `gslbd serve` with a token file holding `token`: its exit status and stderr when it exits
/// within 10 s (`None`: it kept running).
fn start_with_token(token: &str, flag: &str, extra: &[&str]) -> Option<(i32, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone_head("gslb.example.")).expect("zone");
    let file = dir.path().join("token");
    std::fs::write(&file, token).expect("token");
    let flags = [flag, file.to_str().expect("utf8")];
    let child = spawn_serve(
        &dir.path().join("zones"),
        &[&flags[..], extra].concat(),
        &[],
        Stdio::piped(),
    );
    let (exited, err) = finish_within(child, Duration::from_secs(10));
    exited.map(|s| (s.code().unwrap_or(-1), err))
}

#[test]
fn empty_blank_or_unsendable_token_files_are_refused_at_start() {
    for (token, why) in [
        ("", "is empty"),
        ("  \n\t\n", "is empty"),
        ("two words\n", "printable ASCII"),
    ] {
        for flag in ["--admin-token-file", "--admin-read-token-file"] {
            let (code, err) = start_with_token(token, flag, &[])
                .unwrap_or_else(|| panic!("{flag} with {token:?} was accepted"));
            assert_eq!(code, 1, "{flag} {token:?}: {err}");
            assert!(
                err.contains("not a usable token") && err.contains(why),
                "{err}"
            );
        }
    }
    // A read token alone would leave changes open while reads are closed.
    let (code, err) = start_with_token("r3ad", "--admin-read-token-file", &[]).expect("refused");
    assert_eq!(code, 1);
    assert!(err.contains("needs --admin-token-file"), "{err}");
}

#[test]
fn a_read_token_guards_the_page_status_explain_and_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    let (a, b) = (Backend::tcp(), Backend::tcp());
    std::fs::write(dir.path().join("zones/z.toml"), zone(&a, &b)).expect("zone");
    std::fs::write(dir.path().join("admin"), "adm1n\n").expect("token");
    std::fs::write(dir.path().join("read"), "r3ad\n").expect("token");
    let (admin_file, read_file) = (dir.path().join("admin"), dir.path().join("read"));
    let g = Gslbd::start_in(
        dir,
        &[
            "--admin-token-file",
            admin_file.to_str().expect("utf8"),
            "--admin-read-token-file",
            read_file.to_str().expect("utf8"),
        ],
    );
    let addr = g.admin.clone().expect("admin");
    let get = |path: &str, auth: &str| {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
        raw_http(&addr, &req).0
    };
    for path in [
        "/",
        "/status",
        "/metrics",
        "/explain?name=www.gslb.example&type=A",
    ] {
        assert_eq!(get(path, ""), 401, "{path} without a token");
        assert_eq!(get(path, "Authorization: Bearer nope\r\n"), 403, "{path}");
        assert_eq!(get(path, "Authorization: Bearer r3ad\r\n"), 200, "{path}");
        assert_eq!(get(path, "Authorization: Bearer adm1n\r\n"), 200, "{path}");
        // HTTP Basic with the token as the password, as a browser sends it ("op:r3ad").
        assert_eq!(
            get(path, "Authorization: Basic b3A6cjNhZA==\r\n"),
            200,
            "{path}"
        );
    }
    for path in ["/healthz", "/readyz"] {
        let code = get(path, "");
        assert!(code == 200 || code == 503, "{path} stays open: {code}");
    }
    // The browser is asked for Basic credentials.
    let mut s = TcpStream::connect(&addr).expect("connect");
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    assert!(
        raw.to_ascii_lowercase()
            .contains("www-authenticate: bearer, basic realm=\"gslbd\""),
        "{raw}"
    );
    // The read token cannot change anything.
    let drain = "/regions/gslb.example/www/a/drain";
    assert_eq!(g.api("POST", drain, Some("r3ad")).0, 403);
    assert_eq!(g.api("POST", drain, Some("adm1n")).0, 200);

    // `gslbd status` sends the token from a file.
    let status = |extra: &[&str]| {
        Command::new(BIN)
            .args(["status", "--admin", &addr])
            .args(extra)
            .output()
            .expect("gslbd status")
    };
    let denied = status(&[]);
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
    let out = status(&["--token-file", read_file.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("gslb.example"));
}

#[test]
fn idle_admin_clients_cannot_starve_the_probes_or_hold_a_connection() {
    let a = Backend::tcp();
    let mut b = Backend::tcp();
    let g = Gslbd::start_limited(&[("z.toml", &zone(&a, &b))], &[], (128, 128));
    let addr = g.admin.clone().expect("admin");
    let both = || g.dig("www.gslb.example A").answers("A").len() == 2;
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        both().then_some(())
    })
    .expect("both regions up");

    // 150 idle connections: more than the process may open.
    let mut idle: Vec<TcpStream> = (0..150)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    assert_eq!(idle.len(), 150);
    // Those over the cap (32) are told so at once and closed.
    let last = idle.last_mut().expect("connections");
    last.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut told = String::new();
    let _ = last.read_to_string(&mut told);
    assert!(
        told.starts_with("HTTP/1.1 503") && told.contains("too many admin connections"),
        "{told:?}"
    );
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        // A dig that timed out on a loaded machine proves nothing either way.
        let d = g.dig("www.gslb.example A");
        assert!(
            d.status != "NOERROR" || d.answers("A").len() == 2,
            "a healthy region left the answers while idle admin clients waited"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Probes still run: a failure is still detected.
    b.set(Mode::Refuse);
    let gone = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        (g.dig("www.gslb.example A").answers("A") == ["192.0.2.1"]).then_some(())
    });
    assert!(gone.is_some(), "region b left the answers");
    // Once the idle clients leave, the API answers again.
    drop(idle);
    let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let answered = poll(Duration::from_secs(5), Duration::from_millis(50), || {
        try_raw_http(&addr, &request)
            .ok()
            .filter(|(code, _)| *code == 200)
    });
    assert!(
        answered.is_some(),
        "the admin API answers after the idle clients left"
    );
}

#[test]
fn stalled_and_idle_admin_connections_are_closed_at_the_header_timeout() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start_limited(
        &[("z.toml", &zone(&a, &b))],
        &["--admin-header-timeout", "1s"],
        (4096, 4096),
    );
    let addr = g.admin.clone().expect("admin");
    // A client that starts a request and stalls; one that keeps an answered connection idle.
    let mut slow = TcpStream::connect(&addr).expect("connect");
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .expect("write");
    let mut idle = TcpStream::connect(&addr).expect("connect");
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
    let t = Instant::now();
    for (what, s, answered) in [("stalled", &mut slow, false), ("idle", &mut idle, true)] {
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut got = Vec::new();
        let r = s.read_to_end(&mut got);
        let took = t.elapsed();
        assert!(
            r.is_ok() && took < Duration::from_secs(3),
            "a {what} connection was closed after the 1 s header timeout ({took:?}, {r:?})"
        );
        assert_eq!(got.starts_with(b"HTTP/1.1 200"), answered, "{what}");
    }
}

/// A connection to the admin API from `source` that sent a request head and stopped.
fn partial_from(admin: &str, source: &str) -> Option<TcpStream> {
    sent_from(admin, source, b"GET /status HTTP/1.1\r\nHost: x\r\n")
}

/// A connection to the admin API from `source` that sent `bytes` and stopped.
fn sent_from(admin: &str, source: &str, bytes: &[u8]) -> Option<TcpStream> {
    use std::net::SocketAddr;
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
    let from: SocketAddr = format!("{source}:0").parse().ok()?;
    sock.bind(&from.into()).ok()?;
    let to: SocketAddr = admin.parse().ok()?;
    sock.connect(&to.into()).ok()?;
    let mut s: TcpStream = sock.into();
    s.write_all(bytes).ok()?;
    Some(s)
}

/// The status code of `GET path` to the admin API.
fn code_of(admin: &str, path: &str) -> u16 {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
    try_raw_http(admin, &request).map_or(0, |(code, _)| code)
}

#[test]
fn one_source_cannot_take_every_admin_connection() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    let held: Vec<TcpStream> = (0..40)
        .filter_map(|_| partial_from(&admin, "127.0.0.10"))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(code_of(&admin, "/status"), 200, "another client is served");
    drop(held);
}

#[test]
fn health_checks_get_in_while_partial_requests_hold_every_admin_slot() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    // 40 request heads from five addresses (eight each): every general slot is taken.
    let held: Vec<TcpStream> = (0..40)
        .filter_map(|i| partial_from(&admin, &format!("127.0.0.{}", 10 + i / 8)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        code_of(&admin, "/status"),
        503,
        "the general slots are full"
    );
    assert_eq!(code_of(&admin, "/healthz"), 200, "a liveness probe gets in");
    assert_eq!(code_of(&admin, "/readyz"), 200, "a readiness probe gets in");
    drop(held);
}

#[test]
fn unfinished_health_check_requests_cannot_take_the_reserved_slots() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    let mut held: Vec<TcpStream> = (0..32)
        .filter_map(|i| partial_from(&admin, &format!("127.0.0.{}", 10 + i / 8)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // Six more sources, eight each, send a health check's request line and never finish it.
    held.extend((0..48).filter_map(|i| {
        sent_from(
            &admin,
            &format!("127.0.0.{}", 20 + i / 8),
            b"GET /healthz HTTP/1.1\r\n",
        )
    }));
    // And one source sends whole health check heads and never reads: it keeps two at most.
    held.extend((0..8).filter_map(|_| {
        sent_from(
            &admin,
            "127.0.0.30",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        )
    }));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        code_of(&admin, "/status"),
        503,
        "the general slots are full"
    );
    assert_eq!(
        code_of(&admin, "/healthz"),
        200,
        "a liveness probe still gets in"
    );
    assert_eq!(
        code_of(&admin, "/readyz"),
        200,
        "a readiness probe still gets in"
    );
    drop(held);
}

#[test]
fn a_reserved_connection_serves_one_request_and_closes() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    let held: Vec<TcpStream> = (0..32)
        .filter_map(|i| partial_from(&admin, &format!("127.0.0.{}", 10 + i / 8)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // A kept-alive health check on a reserved slot: the second request (for the status, which
    // a reserved slot does not serve) is never answered, the connection closes after the first.
    let mut s = TcpStream::connect(&admin).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let two = format!(
        "GET /healthz HTTP/1.1\r\nHost: {admin}\r\n\r\nGET /status HTTP/1.1\r\nHost: {admin}\r\n\r\n"
    );
    s.write_all(two.as_bytes()).expect("write");
    let mut got = Vec::new();
    let r = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(r.is_ok(), "closed, not left open: {r:?} {text}");
    assert_eq!(text.matches("HTTP/1.1 ").count(), 1, "one response: {text}");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(held);
}

/// The open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn connections_beyond_the_cap_hold_a_bounded_number_of_descriptors() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    std::thread::sleep(Duration::from_millis(300));
    let before = open_fds(g.pid());
    // 60 addresses, 8 half-sent requests each (each within the per-source cap).
    let held: Vec<TcpStream> = (0..480)
        .filter_map(|i| partial_from(&admin, &format!("127.0.1.{}", 10 + i / 8)))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = open_fds(g.pid());
    // The 32 general slots, 8 reserved and 16 waiting to be told apart, and a little slack.
    assert!(
        during <= before + 32 + 8 + 16 + 4,
        "{} connections held {} descriptors (from {before})",
        held.len(),
        during - before
    );
    drop(held);
}

#[test]
fn half_sent_requests_from_the_health_checkers_own_address_do_not_fail_it() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    let held: Vec<TcpStream> = (0..8)
        .filter_map(|_| partial_from(&admin, "127.0.0.1"))
        .collect();
    assert_eq!(held.len(), 8);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        code_of(&admin, "/healthz"),
        200,
        "the liveness probe gets in"
    );
    assert_eq!(
        code_of(&admin, "/readyz"),
        200,
        "the readiness probe gets in"
    );
    assert_eq!(
        code_of(&admin, "/status"),
        503,
        "other requests from it wait"
    );
    drop(held);
}

#[test]
fn a_request_head_over_400_kib_is_431() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    let big = "x".repeat(500_000);
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {admin}\r\nX-Big: {big}\r\nConnection: close\r\n\r\n"
    );
    let code = try_raw_http(&admin, &request).map_or(0, |(code, _)| code);
    assert_eq!(code, 431, "a 500,000-byte header");
    assert_eq!(code_of(&admin, "/healthz"), 200, "and a normal one passes");
}

#[test]
fn health_checks_get_in_while_many_addresses_keep_reconnecting_half_sent_requests() {
    let (a, b) = (Backend::tcp(), Backend::tcp());
    let g = Gslbd::start(&[("z.toml", &zone(&a, &b))]);
    let admin = g.admin.clone().expect("admin");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 12 addresses, 8 half-sent requests each, each reopened as soon as it is closed.
    let flooders: Vec<_> = (0..12)
        .map(|i| {
            let (admin, stop) = (admin.clone(), stop.clone());
            std::thread::spawn(move || {
                let source = format!("127.0.2.{}", 10 + i);
                let mut held: Vec<Option<TcpStream>> = (0..8).map(|_| None).collect();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    for slot in &mut held {
                        let open = slot.as_ref().is_some_and(|s| {
                            let _ = s.set_nonblocking(true);
                            let mut b = [0u8; 64];
                            matches!(s.peek(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
                        });
                        if !open {
                            *slot = partial_from(&admin, &source);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    let codes: Vec<u16> = (0..20)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            code_of(&admin, "/healthz")
        })
        .collect();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for f in flooders {
        let _ = f.join();
    }
    let ok = codes.iter().filter(|c| **c == 200).count();
    assert!(ok >= 19, "{ok} of 20 health checks answered 200: {codes:?}");
}
