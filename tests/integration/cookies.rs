//! DNS Cookies (RFC 7873, RFC 9018) through `dig`: a server cookie for every client cookie,
//! FORMERR for a malformed one, BADCOOKIE only with `--require-cookies`, and a shared secret
//! file that an NS set rotates without invalidating the cookies it handed out.

use std::time::Duration;

use crate::harness::{Dig, Gslbd, poll, zone_head};

const SECRET_A: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";
const SECRET_B: &str = "00112233445566778899aabbccddeeff";

fn zone() -> String {
    let mut z = zone_head("gslb.example.");
    z.push_str("[[records]]\nname = \"www\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n");
    z
}

/// The COOKIE dig printed (client and server cookie, hex) and whether dig called it good.
fn cookie(d: &Dig) -> Option<(String, bool)> {
    d.raw.lines().find_map(|l| {
        let rest = l.strip_prefix("; COOKIE: ")?;
        let hex = rest.split_whitespace().next()?.to_string();
        Some((hex, rest.contains("(good)")))
    })
}

fn start(extra: &[&str], secret: Option<&str>) -> Gslbd {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
    let file = dir.path().join("cookie-secret");
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    if let Some(s) = secret {
        std::fs::write(&file, format!("{s}\n")).expect("secret");
        args.push("--cookie-secret-file".into());
        args.push(file.to_string_lossy().into_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Gslbd::start_in(dir, &args)
}

#[test]
fn every_client_cookie_gets_a_server_cookie_and_a_malformed_one_formerr() {
    let g = start(&[], None);
    for args in [
        "www.gslb.example A",
        "www.gslb.example A +tcp",
        "nothing.gslb.example A",
    ] {
        let d = g.dig(args);
        let (hex, good) = cookie(&d).unwrap_or_else(|| panic!("{args}: {}", d.raw));
        assert_eq!(
            hex.len(),
            48,
            "8-byte client and 16-byte server cookie: {hex}"
        );
        assert!(good, "{args}: dig accepts it");
        assert_eq!(&hex[16..18], "01", "RFC 9018 version 1");
    }
    let d = g.dig("www.gslb.example A +nocookie");
    assert!(cookie(&d).is_none(), "no cookie asked, none sent");
    for bad in ["0102", "010203040506070809", "00"] {
        let d = g.dig(&format!("www.gslb.example A +nocookie +ednsopt=10:{bad}"));
        assert_eq!(d.status, "FORMERR", "{bad}: {}", d.raw);
        assert!(d.edns.is_some());
    }
}

#[test]
fn require_cookies_answers_badcookie_until_the_client_shows_a_server_cookie() {
    let g = start(&["--require-cookies"], Some(SECRET_A));
    let d = g.dig("www.gslb.example A +nobadcookie");
    assert_eq!(d.status, "BADCOOKIE", "{}", d.raw);
    assert!(d.answer.is_empty());
    let (server_cookie, _) = cookie(&d).expect("a fresh server cookie comes with BADCOOKIE");
    let d = g.dig(&format!(
        "www.gslb.example A +nobadcookie +cookie={server_cookie}"
    ));
    assert_eq!(d.status, "NOERROR", "{}", d.raw);
    assert_eq!(d.answers("A"), vec!["192.0.2.1"]);
    // dig's own retry does the same; TCP and cookie-less queries are answered as always.
    assert_eq!(g.dig("www.gslb.example A").status, "NOERROR");
    assert_eq!(
        g.dig("www.gslb.example A +nobadcookie +tcp").status,
        "NOERROR"
    );
    assert_eq!(g.dig("www.gslb.example A +nocookie").status, "NOERROR");
}

#[test]
fn an_ns_set_sharing_a_secret_accepts_each_others_cookies_through_a_rotation() {
    let first = start(&["--require-cookies"], Some(SECRET_A));
    let second = start(&["--require-cookies"], Some(SECRET_A));
    let d = first.dig("www.gslb.example A");
    let (issued, _) = cookie(&d).expect("cookie");
    let with = |g: &Gslbd| {
        g.dig(&format!("www.gslb.example A +nobadcookie +cookie={issued}"))
            .status
    };
    assert_eq!(with(&second), "NOERROR", "the other instance accepts it");

    // Rotate on the second: new secret first, the old one second. The cookie stays valid.
    let file = second.dir.path().join("cookie-secret");
    std::fs::write(&file, format!("{SECRET_B}\n{SECRET_A}\n")).expect("rotate");
    let rotated = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        second
            .logs()
            .iter()
            .any(|l| l.contains("cookie secret changed"))
            .then_some(())
    });
    assert!(rotated.is_some(), "the file change is noticed");
    assert_eq!(
        with(&second),
        "NOERROR",
        "the previous secret is still accepted"
    );
    // Drop the old secret: the cookie is no longer valid there.
    std::fs::write(&file, format!("{SECRET_B}\n")).expect("retire");
    let retired = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        (with(&second) == "BADCOOKIE").then_some(())
    });
    assert!(
        retired.is_some(),
        "a cookie under a retired secret gets BADCOOKIE"
    );
    // A bad file keeps the secrets it had.
    std::fs::write(&file, "not hex\n").expect("bad");
    let warned = poll(Duration::from_secs(10), Duration::from_millis(200), || {
        second
            .logs()
            .iter()
            .any(|l| l.contains("bad cookie secret file"))
            .then_some(())
    });
    assert!(warned.is_some());
    assert_eq!(second.dig("www.gslb.example A").status, "NOERROR");
}

#[test]
fn a_bad_secret_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    std::fs::write(dir.path().join("zones/z.toml"), zone()).expect("zone");
    std::fs::write(dir.path().join("secret"), "short\n").expect("secret");
    let out = crate::harness::run(
        &[
            "serve",
            "--zones",
            "zones",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "off",
            "--cookie-secret-file",
            "secret",
        ],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("cookie secret: secret: the first secret must be 32 hex digits"),
        "{err}"
    );
}
