//! RFC 9539 with a real resolver: Debian's pdns-recursor, with DoT probing of authoritative
//! servers on (`max-busy-dot-probes`), follows a delegation to gslbd, first over UDP, probes
//! gslbd's port 853 and upgrades: gslbd's transport counters show the later queries over TLS.
//! The parent zone is served by a second gslbd; everything runs in a network namespace the
//! test makes, so port 53 and 853 are the test's own.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::harness::{Gslbd, Killed, poll, zone_head};
use crate::netns::Netns;

/// `example.`, delegating `gslb.example.` to ns1.gslb.example (127.0.0.1).
const PARENT: &str = "origin = \"example.\"\nttl = 3600\n[soa]\nmname = \"ns.example.\"\n\
    rname = \"hostmaster.example.\"\nminimum = 60\n\
    [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.example.\"]\n\
    [[records]]\nname = \"ns\"\ntype = \"A\"\ndata = [\"127.0.0.3\"]\n\
    [[records]]\nname = \"gslb\"\ntype = \"NS\"\ndata = [\"ns1.gslb.example.\"]\n\
    [[records]]\nname = \"ns1.gslb\"\ntype = \"A\"\ndata = [\"127.0.0.1\"]\n";

/// gslbd's transport counter for `transport` (`ip netns exec … curl`).
fn counted(ns: &Netns, transport: &str) -> f64 {
    let metrics = ns.exec(&["curl", "-s", "http://127.0.0.1:8053/metrics"]);
    metrics
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "gslbd_dns_transport_queries_total{{transport=\"{transport}\"}}"
            ))
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0)
}

#[test]
fn pdns_recursor_probes_port_853_and_upgrades_to_dot() {
    let Some(ns) = Netns::new(&["127.0.0.2/8", "127.0.0.3/8"]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).expect("cert");
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).expect("cert");
    std::fs::write(&k, cert.signing_key.serialize_pem()).expect("key");
    // TTL 1: the resolver comes back every second.
    let zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"all\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n",
        zone_head("gslb.example.")
    );
    let (c, k) = (c.to_str().expect("utf8"), k.to_str().expect("utf8"));
    let child = Gslbd::start_prefixed(
        &ns.prefix(),
        &[("z.toml", &zone)],
        &[
            "--listen",
            "127.0.0.1:53",
            "--admin",
            "127.0.0.1:8053",
            "--tls",
            "127.0.0.1:853",
            "--tls-cert",
            c,
            "--tls-key",
            k,
        ],
    );
    let parent = Gslbd::start_prefixed(
        &ns.prefix(),
        &[("example.toml", PARENT)],
        &["--listen", "127.0.0.3:53", "--admin", "off"],
    );
    let conf = dir.path().join("recursor");
    std::fs::create_dir(&conf).expect("mkdir");
    std::fs::write(conf.join("recursor.conf"), "").expect("conf");
    let sbin = if std::path::Path::new("/usr/sbin/pdns_recursor").exists() {
        "/usr/sbin/pdns_recursor"
    } else {
        "pdns_recursor"
    };
    let conf_dir = format!("--config-dir={}", conf.display());
    let socket_dir = format!("--socket-dir={}", conf.display());
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.0, sbin])
        .args([
            conf_dir.as_str(),
            socket_dir.as_str(),
            "--local-address=127.0.0.2",
            "--local-port=53",
            "--allow-from=127.0.0.0/8",
            // The parent is reached as a forwarder; gslb.example by the delegation.
            "--forward-zones=example=127.0.0.3",
            "--dont-query=",
            "--dnssec=off",
            "--max-busy-dot-probes=100",
            "--daemon=no",
            "--disable-syslog=yes",
            "--quiet=yes",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _recursor = Killed(
        cmd.spawn()
            .expect("pdns_recursor (apt-get install pdns-recursor)"),
    );
    let upgraded = poll(Duration::from_secs(30), Duration::from_millis(300), || {
        let out = ns.exec(&[
            "dig",
            "@127.0.0.2",
            "www.gslb.example",
            "A",
            "+short",
            "+tries=1",
            "+time=2",
        ]);
        // Until the recursor listens dig says why; once it answers, the answer is right.
        let answer = out.trim();
        if answer.starts_with("192.") {
            assert_eq!(answer, "192.0.2.1");
        }
        (counted(&ns, "tls") >= 3.0).then_some(())
    });
    assert!(upgraded.is_some(), "the recursor never upgraded to DoT");
    // It began over UDP (before the probe) and went on over TLS.
    assert!(counted(&ns, "udp") >= 1.0);
    drop((child, parent));
}
