//! Wildcard listeners on a host with several addresses, in a network namespace the test makes:
//! every reply leaves from the address its query was sent to (RFC 5452 §3), over IPv4 and IPv6.

use std::process::Command;

use crate::harness::{Gslbd, zone_head};

/// A network namespace that is deleted on drop.
pub struct Netns(pub String);

impl Netns {
    /// A fresh namespace with `lo` up and `extra` addresses on it; `None` (with the reason
    /// printed) where namespaces cannot be made here.
    pub fn new(extra: &[&str]) -> Option<Netns> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("gslbd-test-{}-{n}", std::process::id());
        let ok = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .output()
                .map_err(|e| e.to_string())
                .and_then(|o| {
                    if o.status.success() {
                        Ok(())
                    } else {
                        Err(String::from_utf8_lossy(&o.stderr).into_owned())
                    }
                })
        };
        if let Err(e) = ok(&["netns", "add", &name]) {
            println!(
                "skipped: cannot make a network namespace here ({})",
                e.trim()
            );
            return None;
        }
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        for addr in extra {
            ns.exec(&["ip", "addr", "add", addr, "dev", "lo"]);
        }
        Some(ns)
    }

    pub fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.0]
    }

    /// Runs a command in the namespace; its stdout.
    pub fn exec(&self, cmd: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(cmd)
            .output()
            .expect("ip netns exec");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

#[test]
fn wildcard_listeners_reply_from_the_address_each_query_was_sent_to() {
    let Some(ns) = Netns::new(&["192.0.2.53/32", "fd00::53/128"]) else {
        return;
    };
    let mut zone = zone_head("gslb.example.");
    zone.push_str("[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.80\"]\n");
    // Both wildcards on one port (the IPv6 one IPv6-only), as the Docker image listens.
    let port = 5300 + (std::process::id() % 500) as u16;
    let v4 = format!("0.0.0.0:{port}");
    let v6 = format!("[::]:{port}");
    let mut g = Gslbd::start_prefixed(
        &ns.prefix(),
        &[("z.toml", &zone)],
        &["--listen", &v4, "--listen", &v6, "--admin", "off"],
    );
    let port = g.port.to_string();
    // From one address to another: the reply must come from the one the query went to, or
    // dig ignores it ("reply from unexpected source") and times out.
    for (server, source) in [
        ("127.0.0.2", "127.0.0.1"),
        ("192.0.2.53", "127.0.0.1"),
        ("127.0.0.1", "192.0.2.53"),
        ("fd00::53", "::1"),
        ("::1", "fd00::53"),
    ] {
        for transport in ["+notcp", "+tcp"] {
            let at = format!("@{server}");
            let out = ns.exec(&[
                "dig",
                &at,
                "-b",
                source,
                "-p",
                &port,
                "+tries=2",
                "+time=1",
                transport,
                "www.gslb.example",
                "A",
            ]);
            assert!(
                out.contains("status: NOERROR") && out.contains("192.0.2.80"),
                "{source} -> {server} {transport}:\n{out}"
            );
            assert!(!out.contains("unexpected source"), "{out}");
        }
    }
    assert_eq!(g.terminate().and_then(|s| s.code()), Some(0));
}
