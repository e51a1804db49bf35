//! The admin API through the real binary: drain visible in dig and kept across a restart,
//! reload that keeps health state, a bad reload that keeps serving, tokens, explain.

use std::time::Duration;

use crate::harness::{Gslbd, poll, zone_head};

const POLL: Duration = Duration::from_millis(20);

/// Pool `www` (policy all): region `a` probed at a closed port (goes down), `b` unprobed.
fn zone(extra: &str) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    format!(
        "{}{extra}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"http://127.0.0.1:{port}/\"\n\
         [pools.www.regions.a.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\n",
        zone_head("gslb.example.")
    )
}

/// A temp dir holding `zones/z.toml`.
fn zones_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone("")).expect("write");
    dir
}

fn www(g: &Gslbd) -> Vec<String> {
    let mut a = g.dig("www.gslb.example A").answers("A");
    a.sort();
    a
}

fn region<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["zones"][0]["pools"][0]["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["region"] == name))
        .expect("region in /status")
}

#[test]
fn drain_takes_effect_at_once_shows_in_status_and_survives_a_restart() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    assert!(www(&g).contains(&"192.0.2.2".to_string()));
    let (code, body) = g.api("POST", "/regions/gslb.example/www/b/drain", None);
    assert_eq!(code, 200, "{body}");
    assert!(
        !www(&g).contains(&"192.0.2.2".to_string()),
        "drain is visible in DNS at once"
    );
    let (_, status) = g.api("GET", "/status", None);
    assert_eq!(region(&status, "b")["override"], "drain");
    assert_eq!(region(&status, "b")["serving"], false);
    assert!(
        g.logs()
            .iter()
            .any(|l| l.contains("operator override") && l.contains("action=\"drain\""))
    );

    // Same zones dir, new process: the drain is still there.
    let g = g.restart();
    assert!(
        !www(&g).contains(&"192.0.2.2".to_string()),
        "drain survives a restart"
    );
    let (code, _) = g.api("POST", "/regions/gslb.example./www/b/undrain", None);
    assert_eq!(code, 200);
    assert!(www(&g).contains(&"192.0.2.2".to_string()));
}

#[test]
fn force_up_overrides_a_failing_probe() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    assert!(
        poll(Duration::from_secs(5), POLL, || (!www(&g)
            .contains(&"192.0.2.1".to_string()))
        .then_some(()))
        .is_some()
    );
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/force-up", None)
            .0,
        200
    );
    assert!(www(&g).contains(&"192.0.2.1".to_string()));
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/a/force-down", None)
            .0,
        200
    );
    assert!(!www(&g).contains(&"192.0.2.1".to_string()));
}

#[test]
fn reload_keeps_health_and_a_bad_reload_keeps_serving() {
    let text = zone("");
    let g = Gslbd::start(&[("z.toml", &text)]);
    assert!(
        poll(Duration::from_secs(5), POLL, || (www(&g)
            == vec!["192.0.2.2"])
        .then_some(()))
        .is_some()
    );

    // A good reload adds a record; region a stays down without re-detection.
    let added = text.replace(
        "[pools.www]",
        "[[records]]\nname = \"new\"\ntype = \"A\"\ndata = [\"192.0.2.77\"]\n[pools.www]",
    );
    std::fs::write(g.zones_dir().join("z.toml"), &added).expect("write");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        www(&g),
        vec!["192.0.2.2"],
        "unchanged target kept its down state"
    );
    assert_eq!(g.dig("new.gslb.example A").answers("A"), vec!["192.0.2.77"]);

    // A bad file: 422 with path:line:col, the old zones keep serving.
    std::fs::write(
        g.zones_dir().join("z.toml"),
        format!("{added}\nbogus = 1\n"),
    )
    .expect("write");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 422);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("z.toml:") && e.contains("unknown field `bogus`")),
        "{body}"
    );
    assert_eq!(g.dig("new.gslb.example A").answers("A"), vec!["192.0.2.77"]);

    // SIGHUP does the same as POST /reload.
    std::fs::write(
        g.zones_dir().join("z.toml"),
        text.replace(
            "[pools.www]",
            "[[records]]\nname = \"hup\"\ntype = \"A\"\ndata = [\"192.0.2.88\"]\n[pools.www]",
        ),
    )
    .expect("write");
    g.signal("HUP");
    let ok = poll(Duration::from_secs(5), POLL, || {
        (g.dig("hup.gslb.example A").answers("A") == vec!["192.0.2.88"]).then_some(())
    });
    assert!(ok.is_some(), "SIGHUP reloaded");
}

#[test]
fn token_guards_mutating_endpoints() {
    let dir = zones_dir();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").expect("write");
    let g = Gslbd::start_in(dir, &["--admin-token-file", token.to_str().expect("utf8")]);
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/b/drain", None).0,
        401
    );
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/b/drain", Some("wrong"))
            .0,
        403
    );
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/b/drain", Some("s3cret"))
            .0,
        200
    );
    assert_eq!(g.api("GET", "/status", None).0, 200, "reads need no token");
}

#[test]
fn bad_requests_get_json_errors() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    let (code, body) = g.api("POST", "/regions/gslb.example/www/nope/drain", None);
    assert_eq!(code, 404);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no region")),
        "{body}"
    );
    assert_eq!(
        g.api("POST", "/regions/gslb.example/www/b/explode", None).0,
        404
    );
    assert_eq!(g.api("GET", "/explain?name=a..b", None).0, 400);
    assert_eq!(
        g.api("GET", "/explain?name=www.gslb.example&client=xyz", None)
            .0,
        400
    );
    assert_eq!(g.api("GET", "/nothing", None).0, 404);
}

#[test]
fn explain_says_what_and_why() {
    let g = Gslbd::start(&[("z.toml", &zone(""))]);
    assert!(
        poll(Duration::from_secs(5), POLL, || (www(&g)
            == vec!["192.0.2.2"])
        .then_some(()))
        .is_some()
    );
    let (code, e) = g.api(
        "GET",
        "/explain?name=www.gslb.example&type=A&client=203.0.113.7",
        None,
    );
    assert_eq!(code, 200, "{e}");
    // A query from 203.0.113.7 is decided on that address.
    assert_eq!(e["client"], "203.0.113.7/32");
    assert_eq!(e["pool"]["rule"], "policy");
    assert_eq!(e["pool"]["chosen"], serde_json::json!(["b"]));
    let a = e["pool"]["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["region"] == "a"))
        .expect("a");
    assert_eq!(a["serving"], false);
    assert!(
        e["answer"][0]
            .as_str()
            .is_some_and(|r| r.contains("192.0.2.2")),
        "{e}"
    );
}

#[test]
fn a_public_admin_address_needs_a_token() {
    let dir = zones_dir();
    let zones = dir.path().join("zones");
    let out = crate::harness::run(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "0.0.0.0:0",
            "--zones",
            zones.to_str().expect("utf8"),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("set --admin-token-file"));
}
