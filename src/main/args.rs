//! The command line: `serve`, `check`, `status` and `keygen` with their options, and the parsers of
//! option values that clap does not know (bounded durations, RRL exemptions).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Authoritative DNS for global server load balancing")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Serve the zones over DNS (UDP and TCP), probing every region.
    Serve(Box<ServeArgs>),
    /// Validate zone files and print the cutover and N-1 tables.
    Check(CheckArgs),
    /// Print a running server's status (its admin API's /status) as a table.
    Status(StatusArgs),
    /// Make a DNSSEC key for a zone: writes it (PKCS#8 PEM, mode 0600) and prints its DNSKEY
    /// and the DS record for the parent.
    Keygen(KeygenArgs),
}

#[derive(Args)]
pub struct KeygenArgs {
    /// The zone the key signs (e.g. gslb.example.com).
    #[arg(long)]
    pub zone: String,
    /// The signing algorithm.
    #[arg(long, value_enum, default_value = "ecdsa-p256")]
    pub algorithm: KeygenAlgorithm,
    /// Where to write the key (never replaced); default: ZONE.key.pem in the current directory.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `--algorithm`: ECDSA P-256 (13) or Ed25519 (15).
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum KeygenAlgorithm {
    EcdsaP256,
    Ed25519,
}

#[derive(Args)]
pub struct StatusArgs {
    /// The server's admin API address.
    #[arg(long, default_value = "127.0.0.1:8053")]
    pub admin: String,
    /// File holding the admin read token (or the admin token), when the reads need one.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Print the JSON as served instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Print again every SECONDS (0.1 to 86400) until interrupted.
    #[arg(long, value_name = "SECONDS", value_parser = watch_seconds)]
    pub watch: Option<f64>,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Directory of zone files (*.toml).
    #[arg(long, default_value = "zones")]
    pub zones: PathBuf,
    /// The instance file (`[cluster]`); default: gslbd.toml beside the zones directory, when
    /// it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to serve DNS on (UDP and TCP); repeat for more. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5353")]
    pub listen: Vec<SocketAddr>,
    /// Admin HTTP API address (status, explain, drain, reload); "off" disables it.
    #[arg(long, default_value = "127.0.0.1:8053")]
    pub admin: String,
    /// File holding the bearer token required by mutating admin endpoints.
    #[arg(long)]
    pub admin_token_file: Option<PathBuf>,
    /// File holding a token required by the admin reads (page, /status, /explain, /metrics);
    /// without it they are open to whoever can reach --admin.
    #[arg(long)]
    pub admin_read_token_file: Option<PathBuf>,
    /// A host name the admin API answers to (besides IP addresses and localhost), for a name
    /// in front of it; repeat for more. Other names get 403 (DNS rebinding).
    #[arg(long, value_name = "NAME")]
    pub admin_host: Vec<String>,
    /// Open admin connections at most; more are answered 503.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub admin_max_connections: u32,
    /// Open admin connections at most from one address (health checks and cluster peers get
    /// 8 more slots when the others are taken).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub admin_max_per_source: u32,
    /// A request's headers (and the next request on an idle connection) must arrive within
    /// this.
    #[arg(long, default_value = "3s", value_parser = tcp_duration)]
    pub admin_header_timeout: Duration,
    /// Where operator overrides are kept (default: ZONES/.gslbd-state.json).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Reload when a zone file in the directory is written, added or removed.
    #[arg(long)]
    pub watch: bool,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Open TCP connections at most; when full, the one idle longest is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tcp_max_clients: u32,
    /// Open TCP connections at most from one source address.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tcp_max_per_source: u32,
    /// Close a TCP connection with no query for this long.
    #[arg(long, default_value = "10s", value_parser = tcp_duration)]
    pub tcp_idle_timeout: Duration,
    /// Reading a started TCP message, and each write, must finish within this.
    #[arg(long, default_value = "500ms", value_parser = tcp_duration)]
    pub tcp_io_timeout: Duration,
    /// DNS Cookie secret: 32 hex digits, then optionally the previous secret on a second line
    /// (share it across the NS set; gslbd re-reads it when it changes). Default: random, rotated
    /// daily.
    #[arg(long)]
    pub cookie_secret_file: Option<PathBuf>,
    /// Answer BADCOOKIE over UDP to queries with a client cookie but no valid server cookie.
    #[arg(long)]
    pub require_cookies: bool,
    /// Response rate limiting: UDP responses per second per client prefix (/24, /56), response
    /// kind and name; 0 turns it off.
    #[arg(long, default_value_t = 200)]
    pub rrl_rate: u32,
    /// Of the responses over the rate, every Nth is sent truncated (TC=1) instead of dropped,
    /// so a real client retries over TCP; 0 drops them all.
    #[arg(long, default_value_t = 2)]
    pub rrl_slip: u32,
    /// Clients never rate limited (CIDR; repeat for more; "none" for no exemption). Default:
    /// loopback, which cannot be spoofed from the network.
    #[arg(long, value_name = "CIDR", value_parser = exempt_net)]
    pub rrl_exempt: Vec<Option<ipnet::IpNet>>,
    /// Serve DNS over TLS (RFC 7858) here, e.g. 0.0.0.0:853 (RFC 9539: the port-53 address);
    /// repeat for more. Needs --tls-cert and --tls-key.
    #[arg(long, value_name = "ADDR")]
    pub tls: Vec<SocketAddr>,
    /// Serve DNS over QUIC (RFC 9250) here, e.g. 0.0.0.0:853; repeat for more.
    #[arg(long, value_name = "ADDR")]
    pub quic: Vec<SocketAddr>,
    /// PEM certificate chain for --tls and --quic (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// An encrypted connection's handshake, and the wait for its next query, must finish
    /// within this.
    #[arg(long, default_value = "10s", value_parser = tcp_duration)]
    pub tls_timeout: Duration,
    /// Open connections at most on each --tls and --quic listener; when full, the one idle
    /// longest is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tls_max_clients: u32,
    /// Open connections at most from one source address on each --tls and --quic listener.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub tls_max_per_source: u32,
    /// Close a TCP connection between queries once it is this old.
    #[arg(long, default_value = "120s", value_parser = tcp_duration)]
    pub tcp_lifetime: Duration,
}

/// A `status --watch` period: a finite number of seconds from 0.1 to a day.
fn watch_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if v.is_finite() && (0.1..=86_400.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!(
            "{s:?}: the period must be from 0.1 to 86400 seconds"
        ))
    }
}

/// An `--rrl-exempt` value: a network, an address (a /32 or /128), or `none`.
fn exempt_net(s: &str) -> Result<Option<ipnet::IpNet>, String> {
    if s == "none" {
        return Ok(None);
    }
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(Some)
        .map_err(|_| format!("{s:?} is not a network (CIDR), an address, or \"none\""))
}

/// A TCP timeout: from 100 ms to 1 hour.
fn tcp_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&d) {
        return Err("must be from 100ms to 1h".into());
    }
    Ok(d)
}

#[derive(Args)]
pub struct CheckArgs {
    /// Directory of zone files (default: zones/ when no FILE is given).
    #[arg(long, conflicts_with = "files")]
    pub zones: Option<PathBuf>,
    /// Zone files to check, as one set.
    pub files: Vec<PathBuf>,
    /// The instance file whose `[cluster]` adds to the figures; default: gslbd.toml beside
    /// the zones directory, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Preview a failure: what every pool would answer with these regions down (REGION,
    /// POOL/REGION or ZONE/POOL/REGION; comma-separated or repeated).
    #[arg(long, value_name = "REGION[,REGION]")]
    pub fail: Vec<String>,
    /// With --fail: the regions are drained (DNS changes at once) rather than failing.
    #[arg(long, requires = "fail")]
    pub drain: bool,
}
