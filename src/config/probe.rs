//! Resolution of a region's probe: pool defaults, region overrides, derived target, checks.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawProbe, RawRegion};
use super::{ConfigError, Source};
use crate::zone::{HttpMethod, Initial, ProbeKind, ProbeSpec};

/// Defaults, documented in README.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_FALL: u32 = 3;
pub const DEFAULT_RISE: u32 = 2;
/// Bounds, checked at load and documented in README.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);
pub const MAX_INTERVAL: Duration = Duration::from_secs(3600);
pub const MAX_HOLD: Duration = Duration::from_secs(24 * 3600);
pub const MAX_COUNT: u32 = 100;

type Result<T> = std::result::Result<T, ConfigError>;

/// The probe of one region, or `None` when neither the pool nor the region asks for one.
pub(super) fn resolve(
    src: &Source,
    pool: Option<&Spanned<Box<RawProbe>>>,
    region: &RawRegion,
    ips: &[IpAddr],
) -> Result<Option<ProbeSpec>> {
    if pool.is_none() && region.probe.is_none() && region.check.is_none() {
        return Ok(None);
    }
    let base = pool
        .map(|p| RawProbe::clone(p.get_ref()))
        .unwrap_or_default();
    let mut p = match &region.probe {
        Some(over) => base.overlay(over.get_ref()),
        None => base,
    };
    if region.check.is_some() {
        p.check = region.check.clone();
    }

    let kind = match &p.kind {
        Some(k) => match k.get_ref().trim() {
            "http" => ProbeKind::Http,
            "https" => ProbeKind::Https,
            "tcp" => ProbeKind::Tcp,
            other => {
                return Err(src.error(
                    k.span(),
                    format!("unknown probe kind {other:?}, expected one of: http, https, tcp"),
                ));
            }
        },
        None => match &p.check {
            Some(c) if c.get_ref().starts_with("https://") => ProbeKind::Https,
            _ => ProbeKind::Http,
        },
    };

    let interval = p
        .interval
        .as_ref()
        .map_or(DEFAULT_INTERVAL, |d| d.get_ref().0);
    if let Some(d) = &p.interval
        && !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval)
    {
        return Err(src.error(
            d.span(),
            format!(
                "interval must be from {} to {}, not {}",
                humantime::format_duration(MIN_INTERVAL),
                humantime::format_duration(MAX_INTERVAL),
                humantime::format_duration(interval)
            ),
        ));
    }
    let timeout = match &p.timeout {
        Some(t) => {
            let t_val = t.get_ref().0;
            if t_val.is_zero() {
                return Err(src.error(t.span(), "timeout must be longer than zero"));
            }
            if t_val >= interval {
                return Err(src.error(
                    t.span(),
                    format!(
                        "timeout ({}) must be shorter than interval ({})",
                        humantime::format_duration(t_val),
                        humantime::format_duration(interval)
                    ),
                ));
            }
            t_val
        }
        None => DEFAULT_TIMEOUT.min(interval / 2),
    };
    let count = |v: &Option<Spanned<u32>>, what: &str, default: u32| match v {
        Some(n) if *n.get_ref() == 0 => {
            Err(src.error(n.span(), format!("{what} must be at least 1")))
        }
        Some(n) if *n.get_ref() > MAX_COUNT => Err(src.error(
            n.span(),
            format!("{what} must be at most {MAX_COUNT}, not {}", n.get_ref()),
        )),
        Some(n) => Ok(*n.get_ref()),
        None => Ok(default),
    };
    let fall = count(&p.fall, "fall", DEFAULT_FALL)?;
    let rise = count(&p.rise, "rise", DEFAULT_RISE)?;

    if let Some(port) = &p.port
        && *port.get_ref() == 0
    {
        return Err(src.error(port.span(), "port must be from 1 to 65535"));
    }
    let hold_down = match &p.hold_down {
        Some(d) if d.get_ref().0 > MAX_HOLD => {
            return Err(src.error(
                d.span(),
                format!(
                    "hold_down must be at most {}",
                    humantime::format_duration(MAX_HOLD)
                ),
            ));
        }
        d => d.as_ref().map(|d| d.get_ref().0).filter(|d| !d.is_zero()),
    };
    let headers = match &p.headers {
        Some(h) => http_headers(src, h)?,
        None => Vec::new(),
    };
    if let Some(h) = &p.host
        && (h.get_ref().trim().is_empty()
            || h.get_ref().contains(char::is_whitespace)
            || reqwest::header::HeaderValue::from_str(h.get_ref()).is_err())
    {
        return Err(src.error(
            h.span(),
            format!(
                "host {:?} is not a host name a Host header can carry",
                h.get_ref()
            ),
        ));
    }

    if kind == ProbeKind::Tcp {
        for (field, span) in [
            ("path", p.path.as_ref().map(|s| s.span())),
            ("expect", p.expect.as_ref().map(|s| s.span())),
            ("body", p.body.as_ref().map(|s| s.span())),
            ("method", p.method.as_ref().map(|s| s.span())),
            ("host", p.host.as_ref().map(|s| s.span())),
        ] {
            if let Some(span) = span {
                return Err(src.error(
                    span,
                    format!("{field} applies to http and https probes only"),
                ));
            }
        }
    }

    let target = match kind {
        ProbeKind::Tcp => tcp_target(src, &p, ips)?,
        _ => http_target(src, kind, &p, ips)?,
    };

    let expect = match &p.expect {
        Some(list) if list.get_ref().is_empty() => {
            return Err(src.error(list.span(), "expect must list at least one status code"));
        }
        Some(list) => list
            .get_ref()
            .iter()
            .map(|e| (e.get_ref().0, e.get_ref().1))
            .collect(),
        None => vec![(200, 299)],
    };
    let method = match &p.method {
        Some(m) => match m.get_ref().trim().to_ascii_uppercase().as_str() {
            "GET" => HttpMethod::Get,
            "HEAD" => HttpMethod::Head,
            other => {
                return Err(src.error(
                    m.span(),
                    format!("unknown method {other:?}, expected GET or HEAD"),
                ));
            }
        },
        None => HttpMethod::Get,
    };
    if let (HttpMethod::Head, Some(b)) = (method, &p.body) {
        return Err(src.error(b.span(), "body cannot be checked with method = \"HEAD\""));
    }
    let initial = match &p.initial {
        Some(i) => match i.get_ref().trim() {
            "up" => Initial::Up,
            "down" => Initial::Down,
            other => {
                return Err(src.error(
                    i.span(),
                    format!("unknown initial state {other:?}, expected up or down"),
                ));
            }
        },
        None => Initial::Up,
    };
    Ok(Some(ProbeSpec {
        kind,
        target,
        interval,
        timeout,
        fall,
        rise,
        expect,
        body: p.body.as_ref().map(|b| b.get_ref().clone()),
        host: p.host.as_ref().map(|h| h.get_ref().clone()),
        headers,
        method,
        tls_verify: p.tls_verify.unwrap_or(true),
        keepalive: p.keepalive.unwrap_or(true),
        initial,
        hold_down,
    }))
}

/// Header names and values an HTTP request can carry: a token for the name, no control
/// characters (a newline would split the request) in the value.
fn http_headers(
    src: &Source,
    h: &Spanned<BTreeMap<String, String>>,
) -> Result<Vec<(String, String)>> {
    use reqwest::header::{HeaderName, HeaderValue};
    for (name, value) in h.get_ref() {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(src.error(
                h.span(),
                format!("header name {name:?} is not a valid HTTP header name"),
            ));
        }
        if HeaderValue::from_str(value).is_err() {
            return Err(src.error(
                h.span(),
                format!("the value of header {name:?} holds characters HTTP cannot carry (a newline or another control character)"),
            ));
        }
    }
    Ok(h.get_ref().clone().into_iter().collect())
}

fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

fn http_target(src: &Source, kind: ProbeKind, p: &RawProbe, ips: &[IpAddr]) -> Result<String> {
    let scheme = if kind == ProbeKind::Https {
        "https"
    } else {
        "http"
    };
    let path = match &p.path {
        Some(path) if !path.get_ref().starts_with('/') => {
            return Err(src.error(path.span(), "path must start with \"/\""));
        }
        Some(path) => path.get_ref().clone(),
        None => "/".to_string(),
    };
    let (url, span) = match &p.check {
        Some(c) if c.get_ref().contains("://") => {
            let text = c.get_ref().trim();
            if !text.starts_with(&format!("{scheme}://")) {
                return Err(src.error(
                    c.span(),
                    format!(
                        "check URL {:?} does not match probe kind \"{scheme}\"",
                        crate::zone::redact_userinfo(text)
                    ),
                ));
            }
            (text.to_string(), Some(c.span()))
        }
        Some(c) => (
            format!("{scheme}://{}{path}", c.get_ref().trim()),
            Some(c.span()),
        ),
        None => {
            let port = p
                .port
                .as_ref()
                .map_or(if scheme == "https" { 443 } else { 80 }, |p| *p.get_ref());
            (format!("{scheme}://{}:{port}{path}", host_of(ips[0])), None)
        }
    };
    match reqwest::Url::parse(&url) {
        Ok(u) if u.port() == Some(0) => Err(src.error(
            span.unwrap_or(0..0),
            format!(
                "check URL {:?} has port 0 (1 to 65535)",
                crate::zone::redact_userinfo(u.as_str())
            ),
        )),
        Ok(u) if u.host().is_some() => Ok(url),
        _ => Err(src.error(
            span.unwrap_or(0..0),
            format!("invalid check URL {:?}", crate::zone::redact_userinfo(&url)),
        )),
    }
}

fn tcp_target(src: &Source, p: &RawProbe, ips: &[IpAddr]) -> Result<String> {
    match &p.check {
        Some(c) => {
            let text = c.get_ref().trim();
            let ok = text
                .rsplit_once(':')
                .is_some_and(|(h, port)| !h.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
            if ok {
                Ok(text.to_string())
            } else {
                Err(src.error(
                    c.span(),
                    format!("tcp check {text:?} must be \"host:port\""),
                ))
            }
        }
        None => match &p.port {
            Some(port) => Ok(format!("{}:{}", host_of(ips[0]), port.get_ref())),
            None => Err(src.error(
                p.kind.as_ref().map_or(0..0, |k| k.span()),
                "a tcp probe needs port = N or check = \"host:port\"",
            )),
        },
    }
}
