//! DNSSEC over DNS over TLS (#27): a validating Unbound that reaches gslbd only through its DoT
//! listener (`tls-upstream: yes`, gslbd's self-signed certificate as its bundle) finds pool
//! answers, NXDOMAIN and NODATA secure, before and after a failover: the signed answers and
//! proofs survive the TLS transport (and its padding).

use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::dnssec_tools::{Key, failures, keyed, secure, validator};
use crate::harness::{Gslbd, poll, zone_head};

const ORIGIN: &str = "gslb.example.";

#[test]
fn a_validator_reaching_gslbd_over_dot_finds_its_answers_secure() {
    let key = Key::new(ORIGIN, "ecdsa-p256");
    let (mut a, b) = (Backend::tcp(), Backend::tcp());
    let zone = format!(
        "{}[pools.www]\ntype = \"A\"\nttl = 1\npolicy = \"failover\"\non_all_down = \"none\"\n\
         [pools.www.probe]\nkind = \"tcp\"\ninterval = \"200ms\"\ntimeout = \"150ms\"\nfall = 2\nrise = 1\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\npriority = 1\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\npriority = 2\ncheck = \"{}\"\n",
        zone_head(ORIGIN),
        a.addr,
        b.addr
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("zones dir");
    std::fs::write(zones.join("z.toml"), keyed(&zone, &[(&key, "")])).expect("zone");
    std::fs::write(zones.join("k0.pem"), &key.pem).expect("key");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&c, cert.cert.pem()).expect("cert");
    std::fs::write(&k, cert.signing_key.serialize_pem()).expect("key");
    let (cs, ks) = (
        c.to_string_lossy().into_owned(),
        k.to_string_lossy().into_owned(),
    );
    let g = Gslbd::start_in(
        dir,
        &["--tls", "127.0.0.1:0", "--tls-cert", &cs, "--tls-key", &ks],
    );
    let tls = g
        .logs()
        .iter()
        .find_map(|l| l.split("listening on tls ").nth(1).map(String::from))
        .and_then(|a| a.trim().parse::<std::net::SocketAddr>().ok())
        .map(|a| a.port())
        .expect("a DoT listener");
    let bundle = format!("tls-cert-bundle: \"{cs}\"");
    let u = validator(&key.anchor, &[tls], &["tls-upstream: yes", &bundle]);
    let before = transport_count(&g);
    let www = secure(&u, "www.gslb.example A", "NOERROR");
    assert_eq!(www.answers, ["192.0.2.1"]);
    secure(&u, "nope.gslb.example A", "NXDOMAIN");
    secure(&u, "www.gslb.example AAAA", "NOERROR");
    a.set(Mode::Refuse);
    let moved = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        u.flush_zone(ORIGIN);
        (secure(&u, "www.gslb.example A", "NOERROR").answers == ["192.0.2.2"]).then_some(())
    });
    assert!(moved.is_some(), "the answer moved to b");
    assert!(transport_count(&g) > before, "Unbound asked over DoT");
    assert!(failures(&u).is_empty(), "{}", u.log());
}

/// Queries gslbd received over DoT.
fn transport_count(g: &Gslbd) -> u64 {
    crate::dnssec_tools::transport_queries(g, "tls")
}
