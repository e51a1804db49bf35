//! Every admin error is JSON, axum's own rejections and 405s included; `/explain` says what
//! DNS does for zone transfers (REFUSED).

use crate::harness::{Gslbd, http, zone_head};

#[test]
fn every_error_is_json_and_explain_refuses_transfers_like_dns() {
    let g = Gslbd::start(&[("z.toml", &zone_head("gslb.example."))]);
    let admin = g.admin.clone().expect("admin");
    for (method, path, code) in [
        ("GET", "/reload", 405),
        ("POST", "/status", 405),
        ("GET", "/explain", 400),
        ("GET", "/explain?name=www.gslb.example&client=%FF", 400),
        ("POST", "/regions/%FF/www/a/drain", 400),
        ("GET", "/nothing", 404),
    ] {
        let (status, body) = http(&admin, method, path, None);
        assert_eq!(status, code, "{method} {path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {body:?}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
    for qtype in ["AXFR", "IXFR"] {
        let (code, v) = g.api(
            "GET",
            &format!("/explain?name=gslb.example&type={qtype}"),
            None,
        );
        assert_eq!(code, 200);
        assert_eq!(v["rcode"], "Refused", "{qtype}: {v}");
    }
    assert!(g.dig("gslb.example AXFR").raw.contains("Transfer failed"));
}

/// The errors hyper answers by itself before any handler runs (a request line or a head that
/// is too long) are JSON with a reason too, like every other admin error.
#[test]
fn too_long_uris_and_heads_are_json_errors() {
    let g = Gslbd::start(&[("z.toml", &zone_head("gslb.example."))]);
    let admin = g.admin.clone().expect("admin");
    let long_uri = format!(
        "GET /status?x={} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let many_headers = format!(
        "GET /status HTTP/1.1\r\nHost: {admin}\r\n{}Connection: close\r\n\r\n",
        (0..120)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    for (what, request, code) in [("URI", long_uri, 414), ("head", many_headers, 431)] {
        let (status, body) = crate::harness::raw_http(&admin, &request);
        assert_eq!(status, code, "too long {what}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|_| panic!("too long {what}: not JSON: {body:?}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
    // The server goes on answering.
    assert_eq!(http(&admin, "GET", "/healthz", None).0, 200);
}
