//! The admin API against web pages: a cross-site form or fetch in headless Chromium cannot
//! drain a region (with or without a token), a rebound DNS name cannot read it, and curl
//! (with the token, or `--json`) still can.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Gslbd, poll, zone_head};
use crate::page::chromium;

/// Pool `www` (policy all, no probes): regions a, b, c, d.
fn zone() -> String {
    let mut z = format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\non_all_down = \"none\"\n",
        zone_head("gslb.example.")
    );
    for (i, r) in ["a", "b", "c", "d"].iter().enumerate() {
        z += &format!(
            "[pools.www.regions.{r}]\naddresses = [\"192.0.2.{}\"]\n",
            i + 1
        );
    }
    z
}

/// A page that tries four ways to change gslbd from a browser: a form (drains a), a no-cors
/// fetch (drains b), a no-cors fetch with a JSON-looking text body (drains c), and a CORS
/// fetch with a JSON content type (drains d; needs a preflight that gslbd never grants).
fn attack_page(admin: &str) -> String {
    let url = |r: &str| format!("http://{admin}/regions/gslb.example/www/{r}/drain");
    format!(
        "<html><body><iframe name=\"sink\"></iframe>\
         <form id=\"f\" method=\"POST\" target=\"sink\" action=\"{a}\"></form>\
         <script>\
         document.getElementById('f').submit();\
         fetch('{b}', {{method: 'POST', mode: 'no-cors'}}).catch(() => {{}});\
         fetch('{c}', {{method: 'POST', mode: 'no-cors', headers: {{'Content-Type': 'text/plain'}}, body: '{{}}'}}).catch(() => {{}});\
         fetch('{d}', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body: '{{}}'}}).catch(() => {{}});\
         setTimeout(() => {{ document.title = 'sent'; }}, 1500);\
         </script></body></html>",
        a = url("a"),
        b = url("b"),
        c = url("c"),
        d = url("d"),
    )
}

/// Serves `html` to every request on a loopback port until the process ends: another site's
/// page (same site as the admin API: both are 127.0.0.1).
fn serve_page(html: String) -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind page server");
    let addr = l.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    addr
}

fn answers(g: &Gslbd) -> usize {
    g.dig("www.gslb.example A").answers("A").len()
}

fn refusals(g: &Gslbd) -> usize {
    g.logs()
        .iter()
        .filter(|l| l.contains("admin: refused a change"))
        .count()
}

#[test]
fn cross_site_forms_and_fetches_cannot_drain_a_region_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("write zone");
    let g = Gslbd::start_in(dir, &[]);
    let admin = g.admin.clone().expect("admin");
    assert_eq!(answers(&g), 4);

    // From a file the operator opens (Origin: null, cross-site) ...
    let page = g.dir.path().join("attack.html");
    std::fs::write(&page, attack_page(&admin)).expect("write page");
    let file_url = format!("file://{}", page.display());
    // ... and from another service's page on the same host (same-site).
    let http_url = format!("http://{}/", serve_page(attack_page(&admin)));
    for url in [file_url, http_url] {
        let before = refusals(&g);
        let dom = chromium(&["--virtual-time-budget=4000", "--dump-dom", &url]);
        assert!(dom.contains("<title>sent</title>"), "the page ran: {dom}");
        // The form and the two no-cors fetches reached gslbd and were refused; the CORS fetch
        // stopped at its preflight.
        let refused = poll(Duration::from_secs(5), Duration::from_millis(50), || {
            let n = refusals(&g) - before;
            (n >= 3).then_some(n)
        });
        assert_eq!(answers(&g), 4, "nothing was drained from {url}");
        assert_eq!(refused, Some(3), "refusals from {url}: {:#?}", g.logs());
    }
    let (_, status) = g.api("GET", "/status", None);
    let overrides = status["zones"][0]["pools"][0]["regions"]
        .as_array()
        .expect("regions")
        .iter()
        .filter(|r| !r["override"].is_null())
        .count();
    assert_eq!(overrides, 0, "{status}");

    // A tool is not a web page: `curl --json` (or X-Gslbd-Request) changes it.
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl is installed (tests/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let plain = curl(&[
        "-X",
        "POST",
        &format!("http://{admin}/regions/gslb.example/www/a/drain"),
    ]);
    assert!(
        plain.ends_with("403") && plain.contains("--json"),
        "{plain}"
    );
    let json = curl(&[
        "--json",
        "",
        &format!("http://{admin}/regions/gslb.example/www/a/drain"),
    ]);
    assert!(json.ends_with("200"), "{json}");
    assert_eq!(answers(&g), 3);
}

#[test]
fn with_a_token_curl_works_and_the_browser_still_cannot() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("write zone");
    let token = dir.path().join("token");
    std::fs::write(&token, "  s3cret-token\n").expect("write token");
    let token = token.to_string_lossy().into_owned();
    let g = Gslbd::start_in(dir, &["--admin-token-file", &token]);
    let admin = g.admin.clone().expect("admin");
    let page = g.dir.path().join("attack.html");
    std::fs::write(&page, attack_page(&admin)).expect("write page");
    chromium(&[
        "--virtual-time-budget=4000",
        "--dump-dom",
        &format!("file://{}", page.display()),
    ]);
    assert_eq!(answers(&g), 4, "nothing was drained");

    let drain = format!("http://{admin}/regions/gslb.example/www/b/drain");
    let curl = |extra: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
            .args(extra)
            .arg(&drain)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(curl(&[]), "401", "no token");
    assert_eq!(curl(&["-H", "Authorization: Bearer wrong"]), "403");
    assert_eq!(curl(&["-H", "Authorization: Bearer s3cret-tok"]), "403");
    // The scheme is case-insensitive (RFC 9110), and the token alone marks a tool's request.
    assert_eq!(curl(&["-H", "authorization: bearer s3cret-token"]), "200");
    assert_eq!(answers(&g), 3);
}

#[test]
fn a_rebound_name_cannot_read_the_api_but_an_allowed_name_can() {
    let g = Gslbd::start_in(
        {
            let dir = tempfile::tempdir().expect("tempdir");
            std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
            std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("write zone");
            dir
        },
        &["--admin-host", "gslb-admin.test"],
    );
    let admin = g.admin.clone().expect("admin");
    let port = admin.rsplit(':').next().expect("port");
    // The attacker's name resolves to the admin address (as after DNS rebinding): the browser
    // treats the API as the attacker's own origin, so only the Host check stands in the way.
    let read = |name: &str| {
        chromium(&[
            &format!("--host-resolver-rules=MAP {name} 127.0.0.1"),
            "--dump-dom",
            &format!("http://{name}:{port}/status"),
        ])
    };
    let dom = read("rebind.test");
    assert!(dom.contains("is not an address of this admin API"), "{dom}");
    assert!(!dom.contains("\"zones\""), "{dom}");
    let dom = read("gslb-admin.test");
    assert!(
        dom.contains("\"zones\""),
        "an allowed name reads the status: {dom}"
    );
    for host in [format!("localhost:{port}"), admin.clone()] {
        let (code, _) = crate::harness::raw_http(
            &admin,
            &format!("GET /status HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        assert_eq!(code, 200, "{host}");
    }
}
