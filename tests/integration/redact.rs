//! Secrets in probe targets never leave the process: a URL's user name and password and the
//! probe's header values are absent from `/status`, the page, the metrics and the log.

use std::time::Duration;

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

#[test]
fn credentials_in_probe_urls_and_headers_are_never_shown() {
    let mut b = Backend::http();
    let check = format!("http://probe:hunter2@{}/health", b.addr);
    let zone = format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n\
         [pools.www.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         headers = {{ Authorization = \"Bearer t0psecret\", X-Api-Key = \"k3y-value\" }}\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{check}\"\n",
        zone_head("gslb.example.")
    );
    let g = Gslbd::start(&[("z.toml", &zone)]);
    let state = || {
        let (_, s) = g.api("GET", "/status", None);
        s["zones"][0]["pools"][0]["regions"][0].clone()
    };
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (state()["state"] == "up").then_some(())
    })
    .expect("up: the probe carries its credentials");
    // A transition, so the log has a line naming the target.
    b.set(Mode::Status(503));
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (state()["state"] == "down").then_some(())
    })
    .expect("down");
    let shown = format!("http://***@{}/health", b.addr);
    assert_eq!(state()["target"], shown.as_str());

    let (_, status) = g.api("GET", "/status", None);
    let page = crate::harness::http(g.admin.as_deref().expect("admin"), "GET", "/", None).1;
    let metrics =
        crate::harness::http(g.admin.as_deref().expect("admin"), "GET", "/metrics", None).1;
    let logs = g.logs().join("\n");
    assert!(
        metrics.contains(&format!("target=\"{shown}\"")),
        "{metrics}"
    );
    assert!(logs.contains(&format!("target=\"{shown}\"")), "{logs}");
    for (what, text) in [
        ("status", status.to_string()),
        ("page", page),
        ("metrics", metrics),
        ("log", logs),
    ] {
        for secret in ["hunter2", "probe:", "t0psecret", "k3y-value"] {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
}
