//! HTTP and HTTPS probes (reqwest with rustls): status in `expect`, optional body substring.

use std::error::Error as _;
use std::net::SocketAddr;

use reqwest::header::{HOST, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url};

use super::{Clients, Outcome, ProbeError, io_outcome};
use crate::zone::{HttpMethod, ProbeKind, ProbeSpec};

/// At most this much of a body is read when looking for `body`.
pub const MAX_BODY: usize = 64 * 1024;

/// A client, optionally with a name pinned to an address. Without `keepalive` it keeps no
/// idle connection, so every request opens a fresh one.
pub(super) fn client(
    verify: bool,
    keepalive: bool,
    pin: Option<(&str, SocketAddr)>,
    instance: Option<&str>,
) -> Result<Client, ProbeError> {
    let agent = concat!("gslbd/", env!("CARGO_PKG_VERSION"), " health-check");
    let mut b = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(match instance {
            Some(name) => format!("{agent} ({name})"),
            None => agent.to_string(),
        })
        .tls_danger_accept_invalid_certs(!verify);
    if !keepalive {
        b = b.pool_max_idle_per_host(0);
    }
    if let Some((name, addr)) = pin {
        b = b.resolve(name, addr);
    }
    b.build().map_err(|source| ProbeError::Client {
        target: pin.map_or(String::new(), |(n, _)| n.to_string()),
        source,
    })
}

pub struct HttpProbe {
    client: Client,
    url: Url,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<String>,
    expect: Vec<(u16, u16)>,
}

impl HttpProbe {
    pub fn new(spec: &ProbeSpec, clients: &Clients) -> Result<Self, ProbeError> {
        let shared = clients.of(spec);
        let mut url = Url::parse(&spec.target).map_err(|source| ProbeError::Target {
            target: spec.shown(),
            source,
        })?;
        let mut headers = Vec::new();
        let mut client = shared.clone();
        if let Some(host) = &spec.host {
            if spec.kind == ProbeKind::Https {
                // SNI and certificate name follow `host`: connect to the target's address
                // under that name.
                let port = url.port_or_known_default().unwrap_or(443);
                if let Some(ip) = url
                    .host_str()
                    .and_then(|h| h.trim_matches(['[', ']']).parse().ok())
                {
                    client = self::client(
                        spec.tls_verify,
                        spec.keepalive,
                        Some((host, SocketAddr::new(ip, port))),
                        clients.instance.as_deref(),
                    )?;
                    let _ = url.set_host(Some(host));
                }
            }
            if let Ok(v) = HeaderValue::from_str(host) {
                headers.push((HOST, v));
            }
        }
        for (k, v) in &spec.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                headers.push((k, v));
            }
        }
        Ok(HttpProbe {
            client,
            url,
            method: match spec.method {
                HttpMethod::Get => Method::GET,
                HttpMethod::Head => Method::HEAD,
            },
            headers,
            body: spec.body.clone(),
            expect: spec.expect.clone(),
        })
    }

    pub async fn check(&self) -> Outcome {
        let mut req = self.client.request(self.method.clone(), self.url.clone());
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return classify(&e, self.url.scheme() == "https"),
        };
        let status = resp.status().as_u16();
        if !self
            .expect
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&status))
        {
            return Outcome::Status(status);
        }
        let Some(want) = &self.body else {
            return Outcome::Ok;
        };
        let mut seen: Vec<u8> = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY.saturating_sub(seen.len());
                    seen.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if contains(&seen, want.as_bytes()) {
                        return Outcome::Ok;
                    }
                    if seen.len() >= MAX_BODY {
                        return Outcome::BodyMismatch;
                    }
                }
                Ok(None) => return Outcome::BodyMismatch,
                Err(e) => return classify(&e, false),
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// Classifies a failed request: refused, reset, timeout, dns, tls, or a generic error.
fn classify(e: &reqwest::Error, https: bool) -> Outcome {
    if e.is_timeout() {
        return Outcome::Timeout;
    }
    let mut source = e.source();
    let mut text = String::new();
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && let Some(o) = io_outcome(io.kind())
        {
            return o;
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return Outcome::Tls;
        }
        text.push_str(&s.to_string());
        text.push(' ');
        source = s.source();
    }
    let text = text.to_ascii_lowercase();
    if text.contains("dns error") || text.contains("failed to lookup address") {
        Outcome::Dns
    } else if text.contains("certificate") || text.contains("tls") || (https && e.is_connect()) {
        Outcome::Tls
    } else if text.contains("connection closed") || text.contains("reset") || e.is_body() {
        Outcome::Reset
    } else {
        Outcome::Error
    }
}
