//! Who may use the admin API: the `Host` check (DNS rebinding), the cross-site request checks
//! on changes (CSRF), and the bearer tokens.
//!
//! Every request must name this server in `Host`: an IP literal (a rebinding attack needs a
//! name it controls), `localhost`, or a name given with `--admin-host`. A change (`POST`) must
//! not come from another site (`Sec-Fetch-Site`, `Origin`) and must be a request a web page
//! cannot send without CORS permission, which this API never grants: one carrying
//! `Authorization`, a JSON content type or the `X-Gslbd-Request` header. With the admin token
//! configured, changes need `Authorization: Bearer TOKEN`; with a read token configured, reads
//! (the page, `/status`, `/explain`, `/metrics`) need either token, as a bearer token or as the
//! password of HTTP Basic authentication (so a browser can open the page). `/healthz` and
//! `/readyz` stay open for load balancers and supervisors.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use subtle::ConstantTimeEq;
use tracing::warn;

use super::error;
pub use crate::config::token::{REQUEST_HEADER, TokenError, check_token};

/// Where the peers of a cluster read this instance's own verdicts.
pub const CLUSTER_PATH: &str = "/cluster/verdicts";

/// Who may do what; built once at start.
#[derive(Debug, Default)]
pub struct Access {
    /// Needed by changes (and accepted for reads).
    pub admin_token: Option<String>,
    /// Needed by reads, when set.
    pub read_token: Option<String>,
    /// With a cluster: needed by `/cluster/verdicts`, and accepted for overrides (a peer
    /// fanning one out).
    pub cluster_token: Option<String>,
    /// Host names (lower case, no trailing dot, no port) accepted besides IP literals and
    /// `localhost`.
    pub hosts: Vec<String>,
}

/// Normalizes an `--admin-host` value: lower case, no trailing dot, no port.
pub fn host_name(value: &str) -> String {
    let (name, _) = split_port(value.trim());
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The axum middleware: the `Host` check on every request, then the CSRF and token checks.
pub async fn check(State(access): State<Arc<Access>>, req: Request, next: Next) -> Response {
    if let Err(host) = host_allowed(&access, req.headers(), req.uri().authority()) {
        warn!(
            host,
            path = req.uri().path(),
            "admin: refused a request for another host name"
        );
        return error(
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} is not an address of this admin API \
                 (use an IP address or localhost, or allow the name with --admin-host)"
            ),
        );
    }
    let path = req.uri().path();
    let open = matches!(path, "/healthz" | "/readyz");
    // A peer fanning out an override may use the cluster token.
    let peer_may = path
        .starts_with("/regions/")
        .then_some(access.cluster_token.as_deref())
        .flatten();
    let denied = if path == CLUSTER_PATH {
        // Only the peers read the verdicts: the cluster token, always.
        match access.cluster_token.as_deref() {
            Some(t) => token_check(Some(t), None, false, req.headers()),
            None => Some(error(StatusCode::NOT_FOUND, "no [cluster] is configured")),
        }
    } else if req.method() == Method::POST {
        token_check(
            access.admin_token.as_deref(),
            peer_may,
            false,
            req.headers(),
        )
        .or_else(|| {
            cross_site(req.headers()).map(|why| {
                warn!(path, reason = %why, "admin: refused a change");
                error(StatusCode::FORBIDDEN, why)
            })
        })
    } else if open || access.read_token.is_none() {
        None
    } else {
        let (read, admin) = (access.read_token.as_deref(), access.admin_token.as_deref());
        token_check(read, admin, true, req.headers())
    };
    match denied {
        Some(r) => r,
        None => next.run(req).await,
    }
}

/// `Err(host)` when the request names a host that is not this server.
fn host_allowed(
    access: &Access,
    headers: &HeaderMap,
    authority: Option<&axum::http::uri::Authority>,
) -> Result<(), String> {
    let named = headers
        .get(header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .into_iter()
        .chain(authority.map(|a| a.as_str().to_string()));
    for host in named {
        let (name, _) = split_port(&host);
        let name = name.trim_end_matches('.');
        let literal = name
            .strip_prefix('[')
            .and_then(|n| n.strip_suffix(']'))
            .unwrap_or(name)
            .parse::<IpAddr>()
            .is_ok();
        let known = literal
            || name.eq_ignore_ascii_case("localhost")
            || access.hosts.iter().any(|h| h.eq_ignore_ascii_case(name));
        if !known {
            return Err(host);
        }
    }
    Ok(())
}

/// Splits `name:port` (and `[v6]:port`); a bare IPv6 address has no port.
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((name, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            (name, Some(port))
        }
        _ => (host, None),
    }
}

/// `Some(why)` when a change comes from (or could come from) another web site.
fn cross_site(headers: &HeaderMap) -> Option<String> {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Some(format!(
            "refused a {} request (Sec-Fetch-Site): changes are not accepted from web pages",
            String::from_utf8_lossy(site.as_bytes())
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://").or(o.strip_prefix("https://")))
            .zip(host)
            .is_some_and(|(o, h)| o.as_bytes().eq_ignore_ascii_case(h));
        if !same {
            return Some(format!(
                "refused a request from origin {:?}: changes are not accepted from web pages",
                String::from_utf8_lossy(origin.as_bytes())
            ));
        }
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
    let tool =
        headers.contains_key(header::AUTHORIZATION) || headers.contains_key(REQUEST_HEADER) || json;
    (!tool).then(|| {
        "a change needs a header a web page cannot send: Authorization, \
         Content-Type: application/json, or X-Gslbd-Request: 1 (curl --json '' URL)"
            .to_string()
    })
}

/// `Some(rejection)` when `token` is configured and the request carries neither it nor `also`.
/// Reads accept HTTP Basic with a token as the password; changes only a bearer token.
fn token_check(
    token: Option<&str>,
    also: Option<&str>,
    reads: bool,
    headers: &HeaderMap,
) -> Option<Response> {
    let token = token?;
    let Some(given) = credentials(headers, reads) else {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "missing Authorization: Bearer <token>",
        );
        let challenge = if reads {
            "Bearer, Basic realm=\"gslbd\", charset=\"UTF-8\""
        } else {
            "Bearer"
        };
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        return Some(r);
    };
    let ok = [Some(token), also]
        .into_iter()
        .flatten()
        .fold(false, |ok, t| ok | bool::from(given.ct_eq(t.as_bytes())));
    (!ok).then(|| error(StatusCode::FORBIDDEN, "invalid token").into_response())
}

/// The credential in `Authorization`: a bearer token (scheme case-insensitive), or with
/// `basic`, the password of HTTP Basic authentication.
fn credentials(headers: &HeaderMap, basic: bool) -> Option<Vec<u8>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(rest.as_bytes().to_vec())
    } else if basic && scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some(decoded[colon + 1..].to_vec())
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hosts_are_ip_literals_localhost_or_allowed_names() {
        let access = Access {
            hosts: vec![host_name("GSLB.Example.:8053")],
            ..Access::default()
        };
        for ok in [
            "127.0.0.1:8053",
            "[::1]:8053",
            "::1",
            "10.1.2.3",
            "LOCALHOST:8053",
            "gslb.example",
            "gslb.example.:9000",
        ] {
            let h = headers(&[("host", ok)]);
            assert_eq!(host_allowed(&access, &h, None), Ok(()), "{ok}");
        }
        for bad in [
            "evil.example:8053",
            "127.0.0.1.evil.example",
            "localhost.evil",
        ] {
            let h = headers(&[("host", bad)]);
            assert!(host_allowed(&access, &h, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn changes_need_a_header_no_web_page_can_send_and_no_foreign_origin() {
        assert!(cross_site(&headers(&[])).is_some());
        assert!(cross_site(&headers(&[("content-type", "text/plain")])).is_some());
        assert!(cross_site(&headers(&[("content-type", "application/json")])).is_none());
        assert!(cross_site(&headers(&[(REQUEST_HEADER, "1")])).is_none());
        assert!(cross_site(&headers(&[("authorization", "Bearer x")])).is_none());
        for site in ["cross-site", "same-site"] {
            let h = headers(&[("sec-fetch-site", site), (REQUEST_HEADER, "1")]);
            assert!(cross_site(&h).is_some(), "{site}");
        }
        let h = headers(&[
            ("host", "127.0.0.1:8053"),
            ("origin", "http://127.0.0.1:8053"),
            ("content-type", "application/json"),
        ]);
        assert!(cross_site(&h).is_none());
        for origin in ["null", "http://127.0.0.1:9999", "http://evil.example"] {
            let mut h = headers(&[("host", "127.0.0.1:8053"), (REQUEST_HEADER, "1")]);
            h.insert("origin", HeaderValue::from_static(origin));
            assert!(cross_site(&h).is_some(), "{origin}");
        }
    }

    #[test]
    fn tokens_compare_whole_and_schemes_are_case_insensitive() {
        let t = Some("s3cret");
        let write =
            |v: &'static str| token_check(t, None, false, &headers(&[("authorization", v)]));
        assert!(write("bearer s3cret").is_none() && write("BEARER s3cret").is_none());
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "Bearer ",
            "Basic OnMzY3JldA==",
        ] {
            assert!(write(bad).is_some(), "{bad}");
        }
        // Reads take the read token, the admin token, or Basic with either as the password.
        let read = |v: &'static str| {
            token_check(
                Some("r"),
                Some("w"),
                true,
                &headers(&[("authorization", v)]),
            )
            .is_none()
        };
        assert!(read("Bearer r") && read("Bearer w") && read("basic dTpy"));
        assert!(!read("Bearer x") && !read("Basic dTp4"));
        assert_eq!(check_token(""), Err(TokenError::Empty));
        assert_eq!(check_token("a b"), Err(TokenError::NotPrintable));
        assert_eq!(check_token("abc"), Ok(()));
    }
}
