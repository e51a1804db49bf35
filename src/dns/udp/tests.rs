//! The crew through real loopback sockets: who answers at an ordinary rate and in a burst.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;

use super::{Respond, bind, spawn};
use crate::dns::Received;

/// Echoes the query and counts, per thread name, the queries it answered; `work` is how long
/// each answer takes.
#[derive(Clone)]
struct Counting {
    by_thread: Arc<Mutex<HashMap<String, usize>>>,
    work: Duration,
}

impl Respond for Counting {
    fn respond(&self, query: Received<'_>, _: &mut SmallRng, out: &mut Vec<u8>) -> bool {
        if !self.work.is_zero() {
            std::thread::sleep(self.work);
        }
        let name = std::thread::current().name().unwrap_or("").to_string();
        if let Ok(mut m) = self.by_thread.lock() {
            *m.entry(name).or_default() += 1;
        }
        out.clear();
        out.extend_from_slice(query.bytes);
        true
    }
}

/// A crew of two on a loopback socket, and sixteen client sockets (sixteen source ports, as
/// resolvers use, which the kernel would spread over `SO_REUSEPORT` sockets).
fn setup(work: Duration) -> (Counting, Arc<AtomicBool>, Vec<UdpSocket>) {
    let counting = Counting {
        by_thread: Arc::default(),
        work,
    };
    let socket = bind("127.0.0.1:0".parse().expect("address")).expect("bind");
    let addr = socket.local_addr().expect("local address");
    let stop = Arc::new(AtomicBool::new(false));
    spawn(socket, counting.clone(), 2, stop.clone(), "crewtest").expect("spawn");
    let clients = (0..16)
        .map(|_| {
            let c = UdpSocket::bind("127.0.0.1:0").expect("client");
            c.connect(addr).expect("connect");
            c.set_read_timeout(Some(Duration::from_secs(5)))
                .expect("timeout");
            c
        })
        .collect();
    (counting, stop, clients)
}

fn answered(c: &Counting) -> HashMap<String, usize> {
    c.by_thread.lock().map(|m| m.clone()).unwrap_or_default()
}

#[test]
fn one_query_at_a_time_is_answered_by_the_leader_alone() {
    let (counting, stop, clients) = setup(Duration::ZERO);
    let mut buf = [0u8; 64];
    for i in 0..400u16 {
        let c = &clients[usize::from(i) % clients.len()];
        c.send(&i.to_be_bytes()).expect("send");
        let n = c.recv(&mut buf).expect("every query is answered");
        assert_eq!(&buf[..n], &i.to_be_bytes());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let by = answered(&counting);
    assert_eq!(by.get("crewtest-0"), Some(&400), "{by:?}");
    assert_eq!(by.get("crewtest-1"), None, "{by:?}");
}

#[test]
fn a_burst_longer_than_a_batch_wakes_the_helper_and_nothing_is_lost() {
    // Each answer takes 200 µs, so waves of 64 queries queue up faster than one thread drains.
    let (counting, stop, clients) = setup(Duration::from_micros(200));
    let mut buf = [0u8; 64];
    for wave in 0..8u16 {
        for i in 0..64u16 {
            let c = &clients[usize::from(i) % clients.len()];
            c.send(&(wave * 64 + i).to_be_bytes()).expect("send");
        }
        for i in 0..64u16 {
            let c = &clients[usize::from(i) % clients.len()];
            c.recv(&mut buf)
                .expect("every query of the wave is answered");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let by = answered(&counting);
    assert_eq!(by.values().sum::<usize>(), 512, "{by:?}");
    assert!(by.get("crewtest-1").is_some_and(|&n| n > 0), "{by:?}");
}
