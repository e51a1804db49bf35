//! A real resolver over DoT: Debian's pdns-recursor, told to reach gslbd's zone at port 853
//! (`dot-to-port-853`, its RFC 9539 path to authoritative servers on that port), resolves a
//! pool name through gslbd's DoT listener, and gslbd's transport counters show the queries came
//! over TLS. Both run in a network namespace the test makes, so port 853 is the test's own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{Gslbd, poll, zone_head};
use crate::netns::Netns;

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pdns_recursor_resolves_through_gslbd_over_dot_on_port_853() {
    let Some(ns) = Netns::new(&["127.0.0.2/8"]) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).expect("cert");
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).expect("cert");
    std::fs::write(&k, cert.signing_key.serialize_pem()).expect("key");
    let zone = format!(
        "{}[pools.www]\ntype = \"A\"\npolicy = \"all\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n",
        zone_head("gslb.example.")
    );
    let (c, k) = (c.to_str().expect("utf8"), k.to_str().expect("utf8"));
    let g = Gslbd::start_prefixed(
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
            "--forward-zones=gslb.example=127.0.0.1:853",
            "--dot-to-port-853=yes",
            "--dnssec=off",
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
    let answer = poll(Duration::from_secs(20), Duration::from_millis(200), || {
        let out = ns.exec(&[
            "dig",
            "@127.0.0.2",
            "www.gslb.example",
            "A",
            "+short",
            "+tries=1",
            "+time=1",
        ]);
        (out.trim() == "192.0.2.1").then_some(out)
    });
    assert!(
        answer.is_some(),
        "the recursor never resolved www.gslb.example"
    );
    let metrics = ns.exec(&["curl", "-s", "http://127.0.0.1:8053/metrics"]);
    let tls = metrics
        .lines()
        .find(|l| l.starts_with("gslbd_dns_transport_queries_total{transport=\"tls\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(tls >= 1.0, "no query came over TLS:\n{metrics}");
    drop(g);
}
