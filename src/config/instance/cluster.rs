//! The `[cluster]` section of the instance file: the peers, the shared token, the poll
//! settings and the consensus rule, validated.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::config::raw::HumanDuration;
use crate::config::{ConfigError, Source};

/// How the health of a region is agreed on by the instances of an NS set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Up when more fresh votes say up than down; a tie keeps the last state a quorum decided
    /// (serving when there is none).
    Majority,
    /// Up while any fresh vote says up (Route 53's bias towards answering).
    AnyUp,
    /// Up only while every fresh vote says up.
    AllUp,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Majority => "majority",
            Rule::AnyUp => "any-up",
            Rule::AllUp => "all-up",
        }
    }
}

/// The `[cluster]` section, validated.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub name: String,
    /// The peers' admin API base URLs (no trailing slash).
    pub peers: Vec<url::Url>,
    /// Sent to peers and required from them (never logged).
    pub token: String,
    /// PEM certificates trusted for https peers, besides none.
    pub ca_pem: Option<Vec<u8>>,
    pub poll_interval: Duration,
    pub poll_timeout: Duration,
    pub stale_after: Duration,
    pub rule: Rule,
}

impl ClusterConfig {
    /// Instances in the cluster, this one included.
    pub fn size(&self) -> usize {
        self.peers.len() + 1
    }

    /// Fresh votes needed for the rule to decide: a strict majority of the instances.
    pub fn quorum(&self) -> usize {
        self.size() / 2 + 1
    }

    /// What a cluster adds to detection and recovery: a peer's verdict reaches this instance
    /// at most one poll later.
    pub fn delay(&self) -> Duration {
        self.poll_interval + self.poll_timeout
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCluster {
    name: Spanned<String>,
    peers: Spanned<Vec<Spanned<String>>>,
    token_file: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    poll_interval: Option<Spanned<HumanDuration>>,
    poll_timeout: Option<Spanned<HumanDuration>>,
    stale_after: Option<Spanned<HumanDuration>>,
    rule: Option<Spanned<Rule>>,
}

/// Limits on the poll settings.
const POLL_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));

pub(super) fn cluster(
    src: &Source<'_>,
    raw: Spanned<RawCluster>,
    resolve: bool,
) -> Result<ClusterConfig, Vec<ConfigError>> {
    let span = raw.span();
    let raw = raw.into_inner();
    let mut errors = Vec::new();
    let name = raw.name.get_ref().trim().to_string();
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !name_ok {
        errors.push(src.error(
            raw.name.span(),
            "the instance name must be 1 to 63 letters, digits, '-', '_' or '.'",
        ));
    }
    let mut peers: Vec<url::Url> = Vec::new();
    if raw.peers.get_ref().is_empty() {
        errors.push(src.error(
            raw.peers.span(),
            "a cluster needs at least one peer (the other instances' admin URLs)",
        ));
    }
    for p in raw.peers.get_ref() {
        match peer_url(p.get_ref()) {
            Ok(u) if peers.contains(&u) => {
                errors.push(src.error(p.span(), format!("peer {u} is listed twice")))
            }
            Ok(u) => {
                if resolve && let Some(why) = same_instance(&peers, &u) {
                    errors.push(src.error(p.span(), why));
                }
                peers.push(u)
            }
            Err(why) => errors.push(src.error(p.span(), why)),
        }
    }
    let base = src.path.parent().unwrap_or(Path::new("."));
    let token = match std::fs::read_to_string(base.join(raw.token_file.get_ref())) {
        Ok(t) => match crate::config::token::check_token(t.trim()) {
            Ok(()) => t.trim().to_string(),
            Err(e) => {
                errors.push(src.error(raw.token_file.span(), format!("the cluster token {e}")));
                String::new()
            }
        },
        Err(e) => {
            errors.push(src.error(
                raw.token_file.span(),
                format!("cannot read {}: {e}", raw.token_file.get_ref()),
            ));
            String::new()
        }
    };
    let ca_pem = raw
        .ca_file
        .as_ref()
        .and_then(|f| match std::fs::read(base.join(f.get_ref())) {
            Ok(pem) if reqwest::Certificate::from_pem_bundle(&pem).is_ok_and(|c| !c.is_empty()) => {
                Some(pem)
            }
            Ok(_) => {
                errors.push(src.error(f.span(), "no PEM certificate in it"));
                None
            }
            Err(e) => {
                errors.push(src.error(f.span(), format!("cannot read {}: {e}", f.get_ref())));
                None
            }
        });
    if ca_pem.is_none() && raw.ca_file.is_none() {
        for p in raw.peers.get_ref() {
            if p.get_ref().trim().starts_with("https:") {
                errors.push(src.error(
                    p.span(),
                    "an https peer needs ca_file: the certificates its peers are trusted with",
                ));
            }
        }
    }
    let mut duration = |v: &Option<Spanned<HumanDuration>>, default: Duration, what: &str| {
        let Some(v) = v else { return default };
        let d = v.get_ref().0;
        if !(POLL_RANGE.0..=POLL_RANGE.1).contains(&d) {
            errors.push(src.error(v.span(), format!("{what} must be from 100ms to 1h")));
        }
        d
    };
    let poll_interval = duration(&raw.poll_interval, Duration::from_secs(1), "poll_interval");
    let poll_timeout = duration(&raw.poll_timeout, Duration::from_secs(1), "poll_timeout");
    let stale_after = duration(
        &raw.stale_after,
        (poll_interval + poll_timeout) * 3,
        "stale_after",
    );
    if stale_after <= poll_interval + poll_timeout {
        let at = raw.stale_after.as_ref().map_or(span, |s| s.span());
        errors.push(src.error(
            at,
            format!(
                "stale_after ({}) must be longer than poll_interval + poll_timeout ({}): \
                 otherwise a healthy peer abstains between two polls",
                humantime::format_duration(stale_after),
                humantime::format_duration(poll_interval + poll_timeout)
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(ClusterConfig {
        name,
        peers,
        token,
        ca_pem,
        poll_interval,
        poll_timeout,
        stale_after,
        rule: raw.rule.map_or(Rule::Majority, |r| r.into_inner()),
    })
}

/// Why `url` is one of `earlier` listed again: an address and port both resolve to. Hosts
/// that do not resolve are not compared (the running cluster still counts each name once).
fn same_instance(earlier: &[url::Url], url: &url::Url) -> Option<String> {
    use std::net::ToSocketAddrs;
    let resolve = |u: &url::Url| -> Vec<std::net::SocketAddr> {
        let (Some(host), Some(port)) = (u.host_str(), u.port_or_known_default()) else {
            return Vec::new();
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (host, port)
            .to_socket_addrs()
            .map(|a| a.collect())
            .unwrap_or_default()
    };
    let mine = resolve(url);
    earlier.iter().find_map(|e| {
        let shared = resolve(e).into_iter().find(|a| mine.contains(a))?;
        Some(format!(
            "peer {url} reaches the same instance as peer {e} ({shared}): \
             one instance listed twice would vote twice"
        ))
    })
}

/// A peer's admin base URL: http or https, a host, no credentials, no query.
fn peer_url(text: &str) -> Result<url::Url, String> {
    let mut u = url::Url::parse(text.trim()).map_err(|e| format!("peer {text:?}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(format!(
            "peer {text:?}: an http:// or https:// URL of its admin API"
        ));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "peer {}: no credentials in the URL (the cluster token is sent instead)",
            crate::zone::redact_userinfo(text)
        ));
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err(format!(
            "peer {text:?}: a base URL without query or fragment"
        ));
    }
    let path = u.path().trim_end_matches('/').to_string();
    u.set_path(&path);
    Ok(u)
}
