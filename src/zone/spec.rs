//! Probe specs: everything that decides how a target is checked and judged (two regions with
//! equal specs share one prober and one health state), and how a target is shown to people.

use std::time::Duration;

/// The kind of health check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    Http,
    Https,
    Tcp,
}

/// HTTP method for http(s) probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum HttpMethod {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
}

/// What a target counts as before its first verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Initial {
    Up,
    Down,
}

/// A fully resolved probe: everything that decides how a target is checked and judged.
///
/// Two regions with equal specs share one prober and one health state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ProbeSpec {
    pub kind: ProbeKind,
    /// A URL for http(s), `host:port` for tcp.
    pub target: String,
    #[serde(with = "crate::zone::spec::secs")]
    pub interval: Duration,
    #[serde(with = "crate::zone::spec::secs")]
    pub timeout: Duration,
    pub fall: u32,
    pub rise: u32,
    /// Accepted status codes, as inclusive ranges.
    pub expect: Vec<(u16, u16)>,
    /// A substring the body must contain.
    pub body: Option<String>,
    /// Host header and TLS SNI override.
    pub host: Option<String>,
    pub headers: Vec<(String, String)>,
    pub method: HttpMethod,
    pub tls_verify: bool,
    /// http(s): reuse one connection across probes (a failed one is replaced at once);
    /// `false` opens a fresh connection for every probe.
    pub keepalive: bool,
    pub initial: Initial,
    /// A target that just went down stays down at least this long.
    #[serde(with = "crate::zone::spec::opt_secs")]
    pub hold_down: Option<Duration>,
}

impl ProbeSpec {
    /// The target as shown to people (status, page, logs, metric labels): a URL's user name
    /// and password replaced by `***`. Header values are never shown at all.
    pub fn shown(&self) -> String {
        redact_userinfo(&self.target)
    }
}

/// `scheme://user:pass@host/…` → `scheme://***@host/…`; anything else as it is.
pub fn redact_userinfo(target: &str) -> String {
    let Some(start) = target.find("://").map(|i| i + 3) else {
        return target.to_string();
    };
    let rest = &target[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    match authority.rfind('@') {
        Some(at) => format!("{}***{}", &target[..start], &rest[at..]),
        None => target.to_string(),
    }
}

#[cfg(test)]
impl ProbeSpec {
    /// An http probe of 127.0.0.1 with the given settings (unit tests).
    pub fn for_test(interval: Duration, timeout: Duration, fall: u32, rise: u32) -> Self {
        ProbeSpec {
            kind: ProbeKind::Http,
            target: "http://127.0.0.1:1/".into(),
            interval,
            timeout,
            fall,
            rise,
            expect: vec![(200, 299)],
            body: None,
            host: None,
            headers: vec![],
            method: HttpMethod::Get,
            tls_verify: true,
            keepalive: true,
            initial: Initial::Up,
            hold_down: None,
        }
    }
}

/// Serde helpers that publish durations as fractional seconds.
pub(crate) mod secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub(crate) mod opt_secs {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact_userinfo;

    #[test]
    fn userinfo_is_redacted_and_nothing_else() {
        for (given, shown) in [
            ("http://u:p@h:8/x", "http://***@h:8/x"),
            ("https://tok@h/x?a=b@c", "https://***@h/x?a=b@c"),
            ("http://h/x@y", "http://h/x@y"),
            ("http://a:b@c@h/", "http://***@h/"),
            ("127.0.0.1:80", "127.0.0.1:80"),
        ] {
            assert_eq!(redact_userinfo(given), shown, "{given}");
        }
    }
}
