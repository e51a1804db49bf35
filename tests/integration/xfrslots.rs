//! What a transfer or a signed answer holds: refusals decided before a transfer slot is taken
//! (8 stalled transfers do not delay another address's REFUSED), and the room a signed UDP
//! answer keeps for its TSIG (the real length for the key, not a fixed reserve), and transfers
//! that complete while every core is busy with other work.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::dig;
use crate::xfrserve::{KEY, axfr_messages, axfr_of_gslb_example, bulk, primary};

/// Opens `n` TCP connections to `port` with a 2 KiB receive buffer, sends a signed AXFR on
/// each and never reads; prints `ready` once all are sent, then sleeps (killed by PID).
const STALL: &str = r#"
import socket, struct, sys, time
import dns.message, dns.tsigkeyring, dns.tsig
port, n, secret = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ring = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha256", secret)})
socks = []
for _ in range(n):
    q = dns.message.make_query("gslb.example.", "AXFR")
    q.use_tsig(ring, keyname="xfr-key.", algorithm=dns.tsig.HMAC_SHA256)
    w = q.to_wire()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(("127.0.0.1", port))
    s.sendall(struct.pack("!H", len(w)) + w)
    socks.append(s)
print("ready", flush=True)
time.sleep(30)
"#;

#[test]
fn a_refusal_does_not_wait_behind_eight_stalled_transfers() {
    let g = primary(&bulk(60_000), true, "");
    let secret = KEY.rsplit(':').next().expect("secret");
    let mut stall = Command::new("/usr/bin/python3")
        .args(["-c", STALL, &g.port.to_string(), "8", secret])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 (apt-get install python3-dnspython)");
    let mut line = String::new();
    let out = stall.stdout.take().expect("stdout");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("read");
    assert_eq!(line.trim(), "ready");
    // The 8 transfers hold their slots while they are built and until their sockets fill.
    std::thread::sleep(Duration::from_millis(100));
    let t0 = Instant::now();
    let d = dig(g.port, "-b 127.0.0.9 gslb.example AXFR");
    let took = t0.elapsed();
    let _ = stall.kill();
    let _ = stall.wait();
    // dig prints an AXFR's REFUSED as "Transfer failed."; no answer is "no servers".
    assert!(d.raw.contains("Transfer failed"), "{}", d.raw);
    eprintln!("refused in {took:?}");
    assert!(took < Duration::from_secs(1), "the refusal took {took:?}");
}

/// A zone with 22 A records at `r22`.
fn r22() -> String {
    let mut z = crate::harness::zone_head("gslb.example.");
    let data: Vec<String> = (1..=22).map(|i| format!("\"10.0.0.{i}\"")).collect();
    z.push_str(&format!(
        "[[records]]\nname = \"r22\"\ntype = \"A\"\ndata = [{}]\n",
        data.join(", ")
    ));
    z
}

#[test]
fn a_signed_answer_that_fits_512_bytes_with_its_tsig_is_not_truncated() {
    let g = primary(&r22(), true, "");
    // 386 bytes unsigned and an 80-byte TSIG: 466 <= 512 (BIND answers it in 500 bytes).
    let d = dig(
        g.port,
        &format!("-y {KEY} r22.gslb.example A +noedns +ignore +norec"),
    );
    assert!(!d.flags.iter().any(|f| f == "tc"), "{}", d.raw);
    assert_eq!(d.answers("A").len(), 22, "{}", d.raw);
    assert!(
        d.raw.contains("TSIG") || d.raw.contains("tsig"),
        "{}",
        d.raw
    );
}

/// Spins one thread per core at normal priority until dropped: a host busy with queries.
struct Busy(
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    Vec<std::thread::JoinHandle<()>>,
);

impl Busy {
    fn every_core() -> Busy {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let spinners = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Busy(stop, spinners)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn transfers_over_the_slots_complete_while_every_core_is_busy() {
    let g = primary(&bulk(50_000), false, "");
    let (query, single) = axfr_of_gslb_example(g.port);
    let busy = Busy::every_core();
    let t0 = Instant::now();
    // Two more than the 8 slots: the last two wait for a slot, which a build at the lowest
    // priority held past the 10 s wait (SERVFAIL: one message) on a busy host.
    let pullers: Vec<_> = (0..10)
        .map(|_| {
            let (query, port) = (query.clone(), g.port);
            std::thread::spawn(move || axfr_messages(port, &query, Some(single)))
        })
        .collect();
    let got: Vec<usize> = pullers
        .into_iter()
        .map(|p| p.join().expect("puller"))
        .collect();
    drop(busy);
    eprintln!(
        "10 transfers of {single} messages beside busy cores: {:?}",
        t0.elapsed()
    );
    assert!(
        got.iter().all(|n| *n == single),
        "messages per transfer: {got:?}"
    );
}

#[test]
fn a_transfer_whose_build_cannot_start_gets_servfail_at_once() {
    let g = primary(&bulk(100), false, "");
    let _cgroup = crate::harness::PidsCgroup::freeze_threads(g.pid());
    let t0 = Instant::now();
    let out = Command::new("dig")
        .args(["+tcp", "+time=15", "+tries=1", "-p", &g.port.to_string()])
        .args(["@127.0.0.1", "gslb.example.", "AXFR"])
        .output()
        .expect("dig");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // dig says "Transfer failed." for an error rcode, and "end of file" when the connection
    // closes without an answer (the 10 s idle timeout, before).
    assert!(
        text.contains("Transfer failed."),
        "no error answer after {:?}: {text}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let logs = g.logs().join("\n");
    assert!(logs.contains("answered SERVFAIL"), "{logs}");
}
