//! UDP under ordinary and bursty load, through the binary: at an ordinary rate one thread
//! answers everything (the others stay parked, so a query costs one thread's wakeup), and a
//! burst longer than one batch wakes another thread and loses nothing.

use std::net::UdpSocket;
use std::time::Duration;

use crate::harness::{Gslbd, zone_head};

fn zone() -> String {
    let mut z = zone_head("crew.example.");
    z.push_str("[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n");
    z
}

/// A `www.crew.example. A` query with ID `id`, no EDNS.
fn query(id: u16) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in ["www", "crew", "example"] {
        q.push(u8::try_from(label.len()).expect("short label"));
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// CPU time (nanoseconds, from `schedstat`) of each UDP thread, by thread name.
fn udp_threads(pid: u32) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let comm = comm.trim();
        if !comm.starts_with("gslbd-udp") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        let ns = stat.split_whitespace().next().and_then(|v| v.parse().ok());
        out.push((comm.to_string(), ns.unwrap_or(0)));
    }
    out.sort();
    out
}

fn wakeups(g: &Gslbd) -> f64 {
    g.metrics()
        .lines()
        .find(|l| l.starts_with("gslbd_dns_udp_helper_wakeups_total"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Sixteen client sockets: sixteen source ports, as a resolver uses.
fn clients(port: u16) -> Vec<UdpSocket> {
    (0..16)
        .map(|_| {
            let c = UdpSocket::bind("127.0.0.1:0").expect("client socket");
            c.connect(("127.0.0.1", port)).expect("connect");
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            c
        })
        .collect()
}

fn answered(reply: &[u8], id: u16) -> bool {
    reply.len() > 12 && reply[..2] == id.to_be_bytes() && reply[3] & 0x0f == 0 && reply[7] == 1
}

#[test]
fn one_query_at_a_time_keeps_one_udp_thread_busy_and_a_burst_wakes_another() {
    let g = Gslbd::start(&[("crew.example.toml", &zone())]);
    let pid = g.pid();
    let socks = clients(g.port);
    let mut buf = [0u8; 512];
    let before = udp_threads(pid);
    assert!(!before.is_empty(), "no gslbd-udp threads");
    let woken = wakeups(&g);
    for i in 0..2000u16 {
        let c = &socks[usize::from(i) % socks.len()];
        c.send(&query(i)).expect("send");
        let n = c.recv(&mut buf).expect("every query is answered");
        assert!(answered(&buf[..n], i), "query {i}: {:?}", &buf[..n]);
    }
    let after = udp_threads(pid);
    let used: Vec<(String, u64)> = after
        .iter()
        .map(|(name, ns)| {
            let was = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, v)| *v);
            (name.clone(), ns.saturating_sub(was))
        })
        .collect();
    // The busiest thread did the work; every other one used a fifth of it at most.
    let (busiest, leader) = used
        .iter()
        .max_by_key(|(_, ns)| *ns)
        .cloned()
        .expect("a UDP thread");
    for (name, ns) in &used {
        if *name != busiest {
            assert!(
                *ns * 5 < leader,
                "{name} used {ns} ns beside {busiest}'s {leader}: {used:?}"
            );
        }
    }
    assert_eq!(
        wakeups(&g),
        woken,
        "one query at a time never fills a batch"
    );

    // A burst: queries pile up while the process is stopped, then arrive as one long queue.
    if used.len() > 1 {
        g.signal("STOP");
        for i in 0..200u16 {
            socks[usize::from(i) % socks.len()]
                .send(&query(10_000 + i))
                .expect("send");
        }
        g.signal("CONT");
        // Two threads answer at once, so a socket's replies may come in another order.
        for (k, c) in socks.iter().enumerate() {
            let mut want: Vec<u16> = (0..200u16)
                .filter(|i| usize::from(*i) % socks.len() == k)
                .map(|i| 10_000 + i)
                .collect();
            let mut got = Vec::new();
            for _ in 0..want.len() {
                let n = c
                    .recv(&mut buf)
                    .expect("every query of the burst is answered");
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                assert!(answered(&buf[..n], id), "burst reply {id}: {:?}", &buf[..n]);
                got.push(id);
            }
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "socket {k}");
        }
        assert!(wakeups(&g) > woken, "a queue of 200 woke no second thread");
    }
}
