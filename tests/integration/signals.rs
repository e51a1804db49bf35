//! Signals as a service manager sends them: SIGHUP at any time (even during start-up) never
//! kills gslbd, SIGTERM stops it within a bounded grace period whatever a client holds open, a
//! second SIGTERM exits at once, and systemd hears READY, RELOADING and STOPPING. A process
//! that can start no more threads (its user's `RLIMIT_NPROC`, a pids cgroup) still stops
//! cleanly.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Gslbd, PidsCgroup, exited_within, http, spawn_serve, zone_head};

fn zones_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone_head("gslb.example.")).expect("zone");
    dir
}

fn spawn(dir: &tempfile::TempDir, env: &[(&str, &str)]) -> Child {
    spawn_serve(&dir.path().join("zones"), &[], env, Stdio::null())
}

/// gslbd started with `NOTIFY_SOCKET` pointing at a socket the test reads (with `timeout`).
fn notified(dir: &tempfile::TempDir, timeout: Duration) -> (UnixDatagram, Child) {
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(timeout)).expect("timeout");
    let child = spawn(dir, &[("NOTIFY_SOCKET", sock_path.to_str().expect("utf8"))]);
    (sock, child)
}

fn kill(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

#[test]
fn sighup_during_start_up_does_not_kill_the_process() {
    let dir = zones_dir();
    let (sock, mut child) = notified(&dir, Duration::from_millis(10));
    std::thread::sleep(Duration::from_millis(20));
    // SIGHUP every 10 ms from 20 ms after the start until READY.
    let mut buf = [0u8; 512];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "never ready");
        if let Ok(Some(s)) = child.try_wait() {
            panic!("a SIGHUP during start-up killed gslbd: {s}");
        }
        kill(child.id(), "HUP");
        if let Ok(n) = sock.recv(&mut buf)
            && String::from_utf8_lossy(&buf[..n]).contains("READY=1")
        {
            break;
        }
    }
    assert!(
        child.try_wait().expect("wait").is_none(),
        "alive after the SIGHUPs"
    );
    kill(child.id(), "TERM");
    assert!(exited_within(&mut child, Duration::from_secs(15)).is_some());
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let dir = zones_dir();
    let (sock, mut child) = notified(&dir, Duration::from_secs(30));
    let next = || {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(next().contains("READY=1"));
    kill(child.id(), "HUP");
    let reloading = next();
    assert!(reloading.contains("RELOADING=1"), "{reloading}");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    assert!(next().contains("READY=1"));
    kill(child.id(), "TERM");
    assert!(next().contains("STOPPING=1"));
    let status = exited_within(&mut child, Duration::from_secs(15)).expect("stopped");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sigterm_is_bounded_by_the_grace_period_and_a_second_one_exits_at_once() {
    // A half-open admin request holds a connection the whole time.
    let g = Gslbd::start_in(zones_dir(), &[]);
    let admin = g.admin.clone().expect("admin");
    let mut held = std::net::TcpStream::connect(&admin).expect("connect");
    held.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        .expect("half a request");
    let mut g = g;
    let t0 = Instant::now();
    let status = g
        .terminate_within(Duration::from_secs(20))
        .expect("stopped within the grace period");
    assert!(
        t0.elapsed() <= Duration::from_secs(12),
        "took {:?}",
        t0.elapsed()
    );
    assert_eq!(status.code(), Some(0));

    let g = Gslbd::start_in(zones_dir(), &[]);
    let admin = g.admin.clone().expect("admin");
    let mut held = std::net::TcpStream::connect(&admin).expect("connect");
    held.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
        .expect("half a request");
    let mut g = g;
    g.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    let t1 = Instant::now();
    g.signal("TERM");
    let status = g
        .wait_exit(Duration::from_secs(5))
        .expect("the second signal exits");
    assert!(
        t1.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t1.elapsed()
    );
    assert_eq!(status.code(), Some(1));
}

#[test]
fn with_no_thread_left_to_start_scrapes_fail_and_sigterm_still_exits_cleanly() {
    let mut g = Gslbd::start(&[("z.toml", &zone_head("gslb.example."))]);
    assert_eq!(g.dig("gslb.example SOA").status, "NOERROR");
    let _cgroup = PidsCgroup::freeze_threads(g.pid());
    let admin = g.admin.clone().expect("admin");
    let (code, _) = http(&admin, "GET", "/metrics", None);
    assert_eq!(
        code, 500,
        "a scrape that cannot start its thread fails, and says so"
    );
    assert_eq!(
        g.dig("gslb.example SOA").status,
        "NOERROR",
        "queries are answered"
    );
    let exit = g.terminate().expect("stopped");
    let logs = g.logs().join("\n");
    assert!(!logs.contains("panicked"), "{logs}");
    assert_eq!(exit.code(), Some(0), "{logs}");
}
