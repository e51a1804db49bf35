//! The instance file (`gslbd.toml`, beside the zones directory): settings that belong to one
//! gslbd process rather than to the zones, validated with `path:line:col` errors.
//!
//! ```toml
//! [cluster]                                  # health consensus with the rest of the NS set
//! name = "ns1"                               # this instance, as its peers see it
//! peers = ["http://192.0.2.2:8053", "https://ns3.example.net:8053"]   # their admin APIs
//! token_file = "cluster.token"               # shared by all; relative to this file
//! ca_file = "peers-ca.pem"                   # optional: trusts https peers' certificates
//! poll_interval = "1s"                       # how often each peer's verdicts are fetched
//! poll_timeout = "1s"                        # each fetch's limit
//! stale_after = "6s"                         # a peer not heard from for this long abstains
//! rule = "majority"                          # or "any-up", "all-up"
//!
//! [transfer]                                 # hidden primary: standard secondaries follow
//! secondaries = ["192.0.2.53", "192.0.2.54:5300"]   # may AXFR/IXFR; NOTIFYed (port 53)
//! key_file = "xfr.key"                       # hmac-sha256:NAME:BASE64 (as dig -y takes it)
//! zones = ["gslb.example."]                  # default: every zone
//! coalesce = "1s"                            # at most one new serial per this
//! journal = 64                               # versions kept for IXFR
//! transfer_time = "2s"                       # NOTIFY → transfer done, for the figures
//! notify_source = "192.0.2.10"               # default: the --listen address (not a wildcard)
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::raw::HumanDuration;
use super::transfer::TransferConfig;
use super::{ConfigError, ConfigErrors, Source};

/// The instance file's name, in the directory that holds the zones directory.
pub const FILE: &str = "gslbd.toml";

/// Where the instance file is by default: beside the zones directory.
pub fn default_path(zones: &Path) -> PathBuf {
    let zones = std::path::absolute(zones).unwrap_or_else(|_| zones.to_path_buf());
    zones.parent().unwrap_or(Path::new(".")).join(FILE)
}

/// Everything `gslbd.toml` configures.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub cluster: Option<ClusterConfig>,
    pub transfer: Option<super::transfer::TransferConfig>,
}

/// How the health of a region is agreed on by the instances of an NS set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Up when more fresh votes say up than down; a tie keeps the previous state.
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
struct RawInstance {
    cluster: Option<Spanned<RawCluster>>,
    transfer: Option<Spanned<RawTransfer>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransfer {
    secondaries: Spanned<Vec<Spanned<String>>>,
    key_file: Option<Spanned<String>>,
    zones: Option<Vec<Spanned<String>>>,
    coalesce: Option<Spanned<HumanDuration>>,
    journal: Option<Spanned<u32>>,
    transfer_time: Option<Spanned<HumanDuration>>,
    notify_source: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    name: Spanned<String>,
    peers: Spanned<Vec<Spanned<String>>>,
    token_file: Spanned<String>,
    ca_file: Option<Spanned<String>>,
    poll_interval: Option<Spanned<HumanDuration>>,
    poll_timeout: Option<Spanned<HumanDuration>>,
    stale_after: Option<Spanned<HumanDuration>>,
    rule: Option<Spanned<Rule>>,
}

/// Reads the instance file; a missing file at the default place is an empty instance.
pub fn load(path: &Path, required: bool) -> Result<Instance, ConfigErrors> {
    load_with(path, required, false)
}

/// As [`load`], and also resolves the peers' hosts (what `gslbd check` does): two peer URLs
/// that reach one address and port are one instance listed twice.
pub fn load_resolved(path: &Path, required: bool) -> Result<Instance, ConfigErrors> {
    load_with(path, required, true)
}

fn load_with(path: &Path, required: bool, resolve: bool) -> Result<Instance, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_with(path, &text, resolve).map_err(ConfigErrors),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(Instance::default()),
        Err(source) => Err(ConfigErrors(vec![ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }])),
    }
}

/// Validates the instance file's text (`path` names it and anchors relative file names).
pub fn parse(path: &Path, text: &str) -> Result<Instance, Vec<ConfigError>> {
    parse_with(path, text, false)
}

fn parse_with(path: &Path, text: &str, resolve: bool) -> Result<Instance, Vec<ConfigError>> {
    let src = Source { path, text };
    let raw: RawInstance = toml::from_str(text)
        .map_err(|e| vec![src.error(e.span().unwrap_or(0..0), e.message().trim().to_string())])?;
    let mut errors = Vec::new();
    let cluster = raw
        .cluster
        .and_then(|c| cluster(&src, c, resolve).map_err(|e| errors.extend(e)).ok());
    let transfer = raw.transfer.and_then(|t| {
        transfer(&src, t.into_inner())
            .map_err(|e| errors.extend(e))
            .ok()
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Instance { cluster, transfer })
}

/// Limits on the poll settings.
const POLL_RANGE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(3600));

fn cluster(
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
        Ok(t) => match super::token::check_token(t.trim()) {
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

fn transfer(src: &Source<'_>, raw: RawTransfer) -> Result<TransferConfig, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let mut secondaries = Vec::new();
    for s in raw.secondaries.get_ref() {
        let text = s.get_ref().trim();
        let addr = text
            .parse::<std::net::SocketAddr>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()));
        match addr {
            Ok(a) => secondaries.push(a),
            Err(_) => errors.push(src.error(
                s.span(),
                format!(
                    "secondary {text:?}: an IP address, optionally with :port (NOTIFY goes there)"
                ),
            )),
        }
    }
    if raw.secondaries.get_ref().is_empty() {
        errors.push(src.error(raw.secondaries.span(), "name at least one secondary"));
    }
    let base = src.path.parent().unwrap_or(Path::new("."));
    let key = raw.key_file.as_ref().and_then(|f| {
        let text = match std::fs::read_to_string(base.join(f.get_ref())) {
            Ok(t) => t,
            Err(e) => {
                errors.push(src.error(f.span(), format!("cannot read {}: {e}", f.get_ref())));
                return None;
            }
        };
        match crate::xfr::tsig::Key::parse(&text) {
            Ok(k) => Some(std::sync::Arc::new(k)),
            Err(e) => {
                // The message never quotes the file (it holds the secret).
                errors.push(src.error(f.span(), format!("{}: {e}", f.get_ref())));
                None
            }
        }
    });
    let zones = raw.zones.map(|zones| {
        zones
            .iter()
            .filter_map(|z| match hickory_proto::rr::Name::from_ascii(z.get_ref()) {
                Ok(mut n) => {
                    n.set_fqdn(true);
                    Some(n.to_lowercase())
                }
                Err(e) => {
                    errors.push(src.error(z.span(), format!("zone {:?}: {e}", z.get_ref())));
                    None
                }
            })
            .collect()
    });
    let mut duration = |v: &Option<Spanned<HumanDuration>>, default: Duration, what: &str| {
        let Some(v) = v else { return default };
        let d = v.get_ref().0;
        if !(Duration::from_secs(1)..=Duration::from_secs(3600)).contains(&d) {
            errors.push(src.error(v.span(), format!("{what} must be from 1s to 1h")));
        }
        d
    };
    let coalesce = duration(&raw.coalesce, Duration::from_secs(1), "coalesce");
    let transfer_time = duration(&raw.transfer_time, Duration::from_secs(2), "transfer_time");
    let notify_source = raw.notify_source.as_ref().and_then(|n| {
        match n.get_ref().trim().parse::<std::net::IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => Some(ip),
            _ => {
                errors.push(src.error(
                    n.span(),
                    format!(
                        "notify_source {:?}: an IP address of this host (NOTIFY leaves from it)",
                        n.get_ref()
                    ),
                ));
                None
            }
        }
    });
    let journal = match &raw.journal {
        Some(j) if !(1..=10_000).contains(j.get_ref()) => {
            errors.push(src.error(j.span(), "journal must keep 1 to 10000 versions"));
            64
        }
        Some(j) => *j.get_ref() as usize,
        None => 64,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(TransferConfig {
        secondaries,
        key,
        zones,
        coalesce,
        journal,
        transfer_time,
        notify_source,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_token(text: &str) -> (tempfile::TempDir, Result<Instance, Vec<ConfigError>>) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("t"), "s3cret\n").expect("token");
        let path = dir.path().join(FILE);
        let r = parse(&path, text);
        (dir, r)
    }

    fn errors(text: &str) -> Vec<String> {
        match with_token(text).1 {
            Ok(_) => Vec::new(),
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn a_cluster_reads_with_defaults_and_its_quorum() {
        let text = "[cluster]\nname = \"a\"\npeers = [\"http://127.0.0.1:1/\", \"http://127.0.0.1:2\"]\ntoken_file = \"t\"\n";
        let (_d, r) = with_token(text);
        let c = r.expect("valid").cluster.expect("cluster");
        assert_eq!(c.token, "s3cret");
        assert_eq!(c.peers[0].as_str(), "http://127.0.0.1:1/");
        assert_eq!((c.size(), c.quorum()), (3, 2));
        assert_eq!(c.rule, Rule::Majority);
        assert_eq!(c.stale_after, Duration::from_secs(6));
        assert_eq!(c.delay(), Duration::from_secs(2));
    }

    #[test]
    fn bad_settings_are_named_at_their_line_and_column() {
        let head = "[cluster]\nname = \"a\"\ntoken_file = \"t\"\n";
        let e = errors(&format!(
            "{head}peers = [\"http://127.0.0.1:1\"]\npoll_interval = \"2s\"\nstale_after = \"2s\"\n"
        ));
        assert!(
            e[0].contains("gslbd.toml:6:15") && e[0].contains("stale_after (2s)"),
            "{e:?}"
        );
        let e = errors(&format!("{head}peers = [\"ftp://x\", \"http://u:p@h\"]\n"));
        assert!(
            e[0].contains(":4:10") && e[0].contains("http:// or https://"),
            "{e:?}"
        );
        assert!(
            e[1].contains("no credentials") && !e[1].contains(":p@"),
            "{e:?}"
        );
        let e = errors(&format!("{head}peers = [\"https://h\"]\n"));
        assert!(e[0].contains("needs ca_file"), "{e:?}");
        let e = errors(&format!("{head}peers = []\nrule = \"most\"\n"));
        assert!(
            e[0].contains(":5:8") && e[0].contains("unknown variant"),
            "{e:?}"
        );
        let e =
            errors("[cluster]\nname = \"a b\"\ntoken_file = \"missing\"\npeers = [\"http://h\"]\n");
        assert!(
            e[0].contains(":2:8") && e[0].contains("instance name"),
            "{e:?}"
        );
        assert!(
            e[1].contains(":3:14") && e[1].contains("cannot read missing"),
            "{e:?}"
        );
    }

    #[test]
    fn notify_source_is_an_address_of_this_host() {
        let (_d, r) = with_token(
            "[transfer]\nsecondaries = [\"127.0.0.1\"]\nnotify_source = \"127.0.0.2\"\n",
        );
        let t = r.expect("valid").transfer.expect("transfer");
        assert_eq!(t.notify_source, Some("127.0.0.2".parse().expect("ip")));
        for bad in ["\"ns1\"", "\"0.0.0.0\""] {
            let e = errors(&format!(
                "[transfer]\nsecondaries = [\"127.0.0.1\"]\nnotify_source = {bad}\n"
            ));
            assert!(
                e[0].contains(":3:17") && e[0].contains("an IP address of this host"),
                "{e:?}"
            );
        }
    }
}
