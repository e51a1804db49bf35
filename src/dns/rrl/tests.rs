//! The limiter's unit tests: rates, bursts, buckets, slips, and buckets sharing a cell.

use super::*;

fn limiter(rate: u32, slip: u32) -> Limiter {
    Limiter::new(RrlConfig {
        rate,
        slip,
        exempt: loopback(),
    })
    .expect("on")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn a_bucket_sends_its_rate_with_a_one_second_burst_then_limits() {
    let l = limiter(10, 0);
    let c = ip("192.0.2.1");
    let sent = (0..100)
        .filter(|_| l.check_at(c, Class::Answer, Key::Zone(1), 0) == Verdict::Send)
        .count();
    assert_eq!(sent, 11, "a second's burst (and the first)");
    // A tenth of a second later, one more.
    assert_eq!(
        l.check_at(c, Class::Answer, Key::Zone(1), BURST / 10),
        Verdict::Send
    );
    assert_eq!(
        l.check_at(c, Class::Answer, Key::Zone(1), BURST / 10),
        Verdict::Drop
    );
    // Over ten seconds at 100 a second: about rate × time + burst get through.
    let sent = (0..1000u64)
        .filter(|i| {
            l.check_at(c, Class::Answer, Key::Zone(1), BURST + i * BURST / 100) == Verdict::Send
        })
        .count();
    assert!((100..=112).contains(&sent), "{sent}");
}

#[test]
fn buckets_are_per_prefix_class_and_name() {
    let l = limiter(1, 0);
    let now = 0;
    for (client, class, key) in [
        ("192.0.2.1", Class::Answer, Key::Zone(1)),
        ("192.0.2.200", Class::Answer, Key::Zone(1)), // the same /24
    ] {
        for _ in 0..5 {
            l.check_at(ip(client), class, key, now);
        }
    }
    assert_eq!(
        l.check_at(ip("192.0.2.9"), Class::Answer, Key::Zone(1), now),
        Verdict::Drop
    );
    assert_eq!(
        l.check_at(ip("192.0.3.9"), Class::Answer, Key::Zone(1), now),
        Verdict::Send
    );
    assert_eq!(
        l.check_at(ip("192.0.2.9"), Class::Answer, Key::Zone(2), now),
        Verdict::Send
    );
    assert_eq!(
        l.check_at(ip("192.0.2.9"), Class::NxDomain, Key::Zone(1), now),
        Verdict::Send
    );
    // Errors ignore the key: one bucket per prefix.
    for _ in 0..5 {
        l.check_at(ip("198.51.100.1"), Class::Error, Key::Zone(7), now);
    }
    assert_eq!(
        l.check_at(ip("198.51.100.1"), Class::Error, Key::Zone(8), now),
        Verdict::Drop
    );
    // IPv6 per /56.
    for _ in 0..5 {
        l.check_at(ip("2001:db8:0:100::1"), Class::Answer, Key::Zone(1), now);
    }
    assert_eq!(
        l.check_at(ip("2001:db8:0:1ff::9"), Class::Answer, Key::Zone(1), now),
        Verdict::Drop
    );
    assert_eq!(
        l.check_at(ip("2001:db8:0:200::9"), Class::Answer, Key::Zone(1), now),
        Verdict::Send
    );
}

#[test]
fn every_slip_th_limited_response_is_truncated() {
    let l = limiter(1, 3);
    let c = ip("192.0.2.1");
    let verdicts: Vec<Verdict> = (0..11)
        .map(|_| l.check_at(c, Class::Answer, Key::Zone(1), 0))
        .collect();
    let limited = &verdicts[2..];
    let slips = limited.iter().filter(|v| **v == Verdict::Slip).count();
    assert_eq!(slips, 3, "{verdicts:?}");
    assert!(
        Limiter::new(RrlConfig {
            rate: 0,
            ..RrlConfig::default()
        })
        .is_none(),
        "0 is off"
    );
    // Exempt clients are never limited.
    let l = limiter(1, 0);
    for client in ["127.0.0.1", "::1", "::ffff:127.0.0.9"] {
        let sent = (0..50)
            .filter(|_| l.check(ip(client), Class::Answer, Key::Zone(1)) == Verdict::Send)
            .count();
        assert_eq!(sent, 50, "{client}");
    }
}

/// A bucket of another prefix that lands in the cell of `("192.0.2.1", Answer, zone 0)`.
fn colliding(l: &Limiter) -> Key<'static> {
    let cell = |h: u64| h & (CELLS as u64 - 1);
    let victim = cell(l.hash(ip("192.0.2.1"), Class::Answer, Key::Zone(0)));
    (0..10_000_000)
        .map(Key::Zone)
        .find(|k| cell(l.hash(ip("198.51.100.1"), Class::Answer, *k)) == victim)
        .expect("a collision")
}

#[test]
fn a_bucket_that_finds_its_cell_busy_is_held_to_the_rate_and_one_that_finds_it_idle_is_not() {
    let l = Limiter::keyed(
        RrlConfig {
            rate: 10,
            slip: 0,
            exempt: vec![],
        },
        (1, 2),
    )
    .expect("on");
    let (victim, attacker) = (ip("192.0.2.1"), ip("198.51.100.1"));
    let other = colliding(&l);
    let sent = |client, key, n, now| {
        (0..n)
            .filter(|_| l.check_at(client, Class::Answer, key, now) == Verdict::Send)
            .count()
    };
    // A flood in the cell spends the burst; a bucket that lands in it inherits that state
    // and gets the rate from there, no response for free.
    assert_eq!(sent(attacker, other, 100, 0), 11);
    assert_eq!(sent(victim, Key::Zone(0), 5, 0), 0);
    assert_eq!(sent(victim, Key::Zone(0), 5, BURST / 10), 1);
    assert_eq!(
        sent(attacker, other, 5, BURST / 10),
        0,
        "the victim took it"
    );
    // A cell whose burst is unused again is idle: whoever comes next gets the full burst.
    assert_eq!(sent(victim, Key::Zone(0), 100, 3 * BURST), 11);
    assert_eq!(sent(attacker, other, 100, 3 * BURST), 0, "still busy");
    assert_eq!(sent(attacker, other, 100, 6 * BURST), 11);
}

#[test]
fn two_buckets_in_one_cell_queried_in_turn_share_the_rate() {
    let l = Limiter::keyed(
        RrlConfig {
            rate: 10,
            slip: 0,
            exempt: vec![],
        },
        (1, 2),
    )
    .expect("on");
    let (victim, attacker) = (ip("192.0.2.1"), ip("198.51.100.1"));
    let other = colliding(&l);
    // Both buckets at 1000 a second each, in turn, for 5 s: together they get the cell's
    // rate (10 a second and the burst), not a response per query.
    let sent: usize = (0..5000u64)
        .map(|i| {
            let now = i * BURST / 1000;
            let v = l.check_at(victim, Class::Answer, Key::Zone(0), now) == Verdict::Send;
            let a = l.check_at(attacker, Class::Answer, other, now) == Verdict::Send;
            usize::from(v) + usize::from(a)
        })
        .sum();
    assert!((50..=62).contains(&sent), "{sent}");
}

#[test]
fn every_limiter_has_its_own_hash_key() {
    let config = RrlConfig::default();
    let a = Limiter::new(config.clone()).expect("on");
    let b = Limiter::new(config).expect("on");
    assert_ne!(a.key, b.key);
    let bucket = (
        ip("192.0.2.1"),
        Class::Answer,
        Key::NameType(b"\x01a\x00", 1),
    );
    assert_ne!(
        a.hash(bucket.0, bucket.1, bucket.2),
        b.hash(bucket.0, bucket.1, bucket.2)
    );
    // Names and types are keys; errors ignore them.
    let c = ip("192.0.2.1");
    assert_ne!(
        a.hash(c, Class::NoData, Key::Name(b"\x01a\x00")),
        a.hash(c, Class::NoData, Key::Name(b"\x01b\x00"))
    );
    assert_eq!(
        a.hash(c, Class::Error, Key::Name(b"\x01a\x00")),
        a.hash(c, Class::Error, Key::None)
    );
}
