//! A third validator (#27): PowerDNS Recursor 4.8 (`dnssec=validate`, the zone's DS added as a
//! trust anchor with `addTA`, the zone forwarded to gslbd) must find the same answers secure
//! as Unbound and delv do: a pool answer before and after a failover, an emptied pool's NODATA,
//! NXDOMAIN, empty non-terminals, a CNAME into the pool, the DNSKEY set; and bogus with a
//! wrong anchor.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{Anchor, Key, signed};
use crate::harness::{Dig, Killed, dig, free_port, poll, zone_head};
use crate::secondary::sbin;

const ORIGIN: &str = "gslb.example.";

/// A validating PowerDNS Recursor forwarding the anchor's zone to 127.0.0.1:`port`.
struct Recursor {
    _child: Killed,
    port: u16,
    dir: tempfile::TempDir,
}

impl Recursor {
    fn start(anchor: &Anchor, port: u16) -> Recursor {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let own = free_port();
        let Anchor {
            zone,
            tag,
            algorithm,
            digest_type,
            digest,
        } = anchor;
        let ta = dir.path().join("ta.lua");
        std::fs::write(
            &ta,
            format!("addTA('{zone}', '{tag} {algorithm} {digest_type} {digest}')\n"),
        )
        .expect("ta.lua");
        let conf = format!(
            "local-address=127.0.0.1\nlocal-port={own}\nforward-zones={zone}=127.0.0.1:{port}\n\
             dnssec=validate\nlua-config-file={ta}\nsocket-dir={d}\ndaemon=no\nquiet=no\n\
             loglevel=6\nthreads=1\npdns-distributes-queries=no\nreuseport=no\n\
             security-poll-suffix=\nextended-resolution-errors=yes\n",
            ta = ta.display()
        );
        std::fs::write(dir.path().join("recursor.conf"), conf).expect("conf");
        let log = std::fs::File::create(dir.path().join("log")).expect("log");
        let child = Command::new(sbin("pdns_recursor"))
            .arg(format!("--config-dir={d}"))
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("pdns_recursor (apt-get install pdns-recursor)");
        let r = Recursor {
            _child: Killed(child),
            port: own,
            dir,
        };
        let up = poll(Duration::from_secs(10), Duration::from_millis(100), || {
            (!r.ask(&format!("{zone} SOA")).status.is_empty()).then_some(())
        });
        assert!(up.is_some(), "pdns_recursor started:\n{}", r.log());
        r
    }

    fn ask(&self, question: &str) -> Dig {
        dig(self.port, &format!("+recurse +dnssec {question}"))
    }

    /// Asks and asserts `status` with AD.
    fn secure(&self, question: &str, status: &str) -> Dig {
        let d = self.ask(question);
        assert!(
            d.status == status && d.has_flag("ad"),
            "{question}: want {status} with AD:\n{}\n{}",
            d.raw,
            self.log()
        );
        d
    }

    fn wipe(&self) {
        let ok = Command::new("rec_control")
            .arg(format!("--socket-dir={}", self.dir.path().display()))
            .args(["wipe-cache", &format!("{ORIGIN}$")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "rec_control wipe-cache");
    }

    fn log(&self) -> String {
        let path: PathBuf = self.dir.path().join("log");
        std::fs::read_to_string(path).unwrap_or_default()
    }
}

#[test]
fn powerdns_recursor_agrees_with_unbound_and_delv() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let (mut a, b) = (Backend::tcp(), Backend::tcp());
    let zone = format!(
        "{}[[records]]\nname = \"a.b.c\"\ntype = \"TXT\"\ndata = [\"deep\"]\n\
         [[records]]\nname = \"alias\"\ntype = \"CNAME\"\ndata = [\"www\"]\n\
         [pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"failover\"\non_all_down = \"none\"\n\
         [pools.www.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\npriority = 1\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\npriority = 2\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        a.addr,
        b.addr
    );
    let g = signed(&zone, &key);
    let r = Recursor::start(&key.anchor, g.port);
    assert_eq!(
        r.secure("www.gslb.example A", "NOERROR").answers("A"),
        ["192.0.2.1"]
    );
    assert_eq!(
        r.secure("alias.gslb.example A", "NOERROR").answers("A"),
        ["192.0.2.1"]
    );
    for (question, status) in [
        ("nope.gslb.example A", "NXDOMAIN"),
        ("www.gslb.example AAAA", "NOERROR"),
        ("b.c.gslb.example A", "NOERROR"),
        ("x.b.c.gslb.example A", "NXDOMAIN"),
        ("a.b.c.gslb.example TXT", "NOERROR"),
        ("gslb.example DNSKEY", "NOERROR"),
    ] {
        r.secure(question, status);
    }
    a.set(Mode::Refuse);
    let moved = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        r.wipe();
        (r.ask("www.gslb.example A").answers("A") == ["192.0.2.2"]).then_some(())
    });
    assert!(moved.is_some(), "the answer moved to b:\n{}", r.log());
    r.wipe();
    r.secure("www.gslb.example A", "NOERROR");
    // Both regions down: the pool's NODATA, proven by the NSEC without A.
    drop(b);
    let emptied = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        g.dig("www.gslb.example A").answer.is_empty().then_some(())
    });
    assert!(emptied.is_some(), "the pool emptied");
    r.wipe();
    let empty = r.secure("www.gslb.example A", "NOERROR");
    assert!(empty.answer.is_empty(), "{}", empty.raw);
    r.secure("alias.gslb.example A", "NOERROR");
    assert!(!r.log().contains("Bogus"), "{}", r.log());

    let wrong = Recursor::start(&key.anchor.corrupted(), g.port);
    let bogus = wrong.ask("ns1.gslb.example A");
    assert_eq!(bogus.status, "SERVFAIL", "{}", bogus.raw);
}
