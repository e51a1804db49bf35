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

use serde::Deserialize;
use toml::Spanned;

use super::transfer::{RawTransfer, TransferConfig};
use super::{ConfigError, ConfigErrors, Source};

mod cluster;
pub use cluster::{ClusterConfig, Rule};
use cluster::{RawCluster, cluster};

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
    pub transfer: Option<TransferConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstance {
    cluster: Option<Spanned<RawCluster>>,
    transfer: Option<Spanned<RawTransfer>>,
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
        super::transfer::parse(&src, t.into_inner())
            .map_err(|e| errors.extend(e))
            .ok()
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Instance { cluster, transfer })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
