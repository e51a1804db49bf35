//! The `gslbd` binary: CLI parsing, logging, signals and exit codes. All logic is in the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "Authoritative DNS for global server load balancing")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve the zones over DNS (UDP and TCP), probing every region.
    Serve(Box<ServeArgs>),
    /// Validate zone files and print the cutover and N-1 tables.
    Check(CheckArgs),
    /// Print a running server's status (its admin API's /status) as a table.
    Status(StatusArgs),
}

#[derive(Args)]
struct StatusArgs {
    /// The server's admin API address.
    #[arg(long, default_value = "127.0.0.1:8053")]
    admin: String,
    /// File holding the admin read token (or the admin token), when the reads need one.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Print the JSON as served instead of a table.
    #[arg(long)]
    json: bool,
    /// Print again every SECONDS (0.1 to 86400) until interrupted.
    #[arg(long, value_name = "SECONDS", value_parser = watch_seconds)]
    watch: Option<f64>,
}

#[derive(Args)]
struct ServeArgs {
    /// Directory of zone files (*.toml).
    #[arg(long, default_value = "zones")]
    zones: PathBuf,
    /// The instance file (`[cluster]`); default: gslbd.toml beside the zones directory, when
    /// it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to serve DNS on (UDP and TCP); repeat for more. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:5353")]
    listen: Vec<SocketAddr>,
    /// Admin HTTP API address (status, explain, drain, reload); "off" disables it.
    #[arg(long, default_value = "127.0.0.1:8053")]
    admin: String,
    /// File holding the bearer token required by mutating admin endpoints.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    /// File holding a token required by the admin reads (page, /status, /explain, /metrics);
    /// without it they are open to whoever can reach --admin.
    #[arg(long)]
    admin_read_token_file: Option<PathBuf>,
    /// A host name the admin API answers to (besides IP addresses and localhost), for a name
    /// in front of it; repeat for more. Other names get 403 (DNS rebinding).
    #[arg(long, value_name = "NAME")]
    admin_host: Vec<String>,
    /// Open admin connections at most; more are answered 503.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    admin_max_connections: u32,
    /// Open admin connections at most from one address (health checks and cluster peers get
    /// 8 more slots when the others are taken).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    admin_max_per_source: u32,
    /// A request's headers (and the next request on an idle connection) must arrive within
    /// this.
    #[arg(long, default_value = "3s", value_parser = tcp_duration)]
    admin_header_timeout: Duration,
    /// Where operator overrides are kept (default: ZONES/.gslbd-state.json).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Reload when a zone file in the directory is written, added or removed.
    #[arg(long)]
    watch: bool,
    /// Log filter (tracing EnvFilter syntax); RUST_LOG overrides it.
    #[arg(long, default_value = "info")]
    log: String,
    /// Open TCP connections at most; when full, the one idle longest is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tcp_max_clients: u32,
    /// Open TCP connections at most from one source address.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tcp_max_per_source: u32,
    /// Close a TCP connection with no query for this long.
    #[arg(long, default_value = "10s", value_parser = tcp_duration)]
    tcp_idle_timeout: Duration,
    /// Reading a started TCP message, and each write, must finish within this.
    #[arg(long, default_value = "500ms", value_parser = tcp_duration)]
    tcp_io_timeout: Duration,
    /// DNS Cookie secret: 32 hex digits, then optionally the previous secret on a second line
    /// (share it across the NS set; gslbd re-reads it when it changes). Default: random, rotated
    /// daily.
    #[arg(long)]
    cookie_secret_file: Option<PathBuf>,
    /// Answer BADCOOKIE over UDP to queries with a client cookie but no valid server cookie.
    #[arg(long)]
    require_cookies: bool,
    /// Response rate limiting: UDP responses per second per client prefix (/24, /56), response
    /// kind and name; 0 turns it off.
    #[arg(long, default_value_t = 200)]
    rrl_rate: u32,
    /// Of the responses over the rate, every Nth is sent truncated (TC=1) instead of dropped,
    /// so a real client retries over TCP; 0 drops them all.
    #[arg(long, default_value_t = 2)]
    rrl_slip: u32,
    /// Clients never rate limited (CIDR; repeat for more; "none" for no exemption). Default:
    /// loopback, which cannot be spoofed from the network.
    #[arg(long, value_name = "CIDR", value_parser = exempt_net)]
    rrl_exempt: Vec<Option<ipnet::IpNet>>,
    /// Serve DNS over TLS (RFC 7858) here, e.g. 0.0.0.0:853 (RFC 9539: the port-53 address);
    /// repeat for more. Needs --tls-cert and --tls-key.
    #[arg(long, value_name = "ADDR")]
    tls: Vec<SocketAddr>,
    /// Serve DNS over QUIC (RFC 9250) here, e.g. 0.0.0.0:853; repeat for more.
    #[arg(long, value_name = "ADDR")]
    quic: Vec<SocketAddr>,
    /// PEM certificate chain for --tls and --quic (re-read when it changes).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// An encrypted connection's handshake, and the wait for its next query, must finish
    /// within this.
    #[arg(long, default_value = "10s", value_parser = tcp_duration)]
    tls_timeout: Duration,
    /// Open connections at most on each --tls and --quic listener; when full, the one idle
    /// longest is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tls_max_clients: u32,
    /// Open connections at most from one source address on each --tls and --quic listener.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tls_max_per_source: u32,
    /// Close a TCP connection between queries once it is this old.
    #[arg(long, default_value = "120s", value_parser = tcp_duration)]
    tcp_lifetime: Duration,
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
struct CheckArgs {
    /// Directory of zone files (default: zones/ when no FILE is given).
    #[arg(long, conflicts_with = "files")]
    zones: Option<PathBuf>,
    /// Zone files to check, as one set.
    files: Vec<PathBuf>,
    /// The instance file whose `[cluster]` adds to the figures; default: gslbd.toml beside
    /// the zones directory, when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Preview a failure: what every pool would answer with these regions down (REGION,
    /// POOL/REGION or ZONE/POOL/REGION; comma-separated or repeated).
    #[arg(long, value_name = "REGION[,REGION]")]
    fail: Vec<String>,
    /// With --fail: the regions are drained (DNS changes at once) rather than failing.
    #[arg(long, requires = "fail")]
    drain: bool,
}

fn main() -> ExitCode {
    // A SIGHUP before the reload handler is in place (a deploy script, systemd's ExecReload
    // racing the start) must not kill the process: ignore it until `serve` handles it.
    // SAFETY: SIG_IGN installs no handler code; nothing else has touched signals yet.
    let _ = unsafe {
        nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGHUP,
            nix::sys::signal::SigHandler::SigIgn,
        )
    };
    let cli = Cli::parse();
    if !matches!(cli.cmd, Cmd::Serve(_)) {
        // `gslbd check | head`: a reader that went away ends the command as it ends cat or
        // grep (SIGPIPE), not with a panic on the failed write. `serve` keeps SIGPIPE ignored:
        // its sockets report a closed peer as an error.
        // SAFETY: SIG_DFL installs no handler code; no other thread exists yet.
        let _ = unsafe {
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGPIPE,
                nix::sys::signal::SigHandler::SigDfl,
            )
        };
    }
    match cli.cmd {
        Cmd::Serve(args) => exit(serve(*args)),
        Cmd::Check(args) => check(args),
        Cmd::Status(args) => exit(status(args)),
    }
}

fn exit(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gslbd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exit status when a task panicked (EX_SOFTWARE): the process stops rather than serve health
/// that no longer changes, and a supervisor restarts it.
const EXIT_PANIC: i32 = 70;

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        eprintln!("gslbd: a task panicked; exiting so that a supervisor restarts gslbd");
        std::process::exit(EXIT_PANIC);
    }));
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&args.log))
        .context("invalid --log filter")?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
    let admin = match args.admin.as_str() {
        "off" => None,
        a => Some(
            a.parse::<SocketAddr>()
                .with_context(|| format!("invalid --admin {a:?}"))?,
        ),
    };
    let instance =
        instance(args.config.as_deref(), Some(&args.zones)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listeners = (
        args.tls.is_empty() && args.quic.is_empty(),
        &args.tls_cert,
        &args.tls_key,
    );
    let tcp = gslbd::dns::TcpLimits {
        max_clients: args.tcp_max_clients as usize,
        max_per_source: args.tcp_max_per_source as usize,
        idle_timeout: args.tcp_idle_timeout,
        io_timeout: args.tcp_io_timeout,
        lifetime: args.tcp_lifetime,
    };
    let encrypted = match listeners {
        (true, None, None) => None,
        (false, Some(cert), Some(key)) => Some(gslbd::dns::encrypted::EncryptedConfig {
            tls: args.tls.clone(),
            quic: args.quic.clone(),
            cert: cert.clone(),
            key: key.clone(),
            handshake_timeout: args.tls_timeout,
            limits: gslbd::dns::TcpLimits {
                max_clients: args.tls_max_clients as usize,
                max_per_source: args.tls_max_per_source as usize,
                idle_timeout: args.tls_timeout,
                ..tcp
            },
            dot_max_clients: args.tls_max_clients as usize,
        }),
        (false, _, _) => anyhow::bail!("--tls and --quic need --tls-cert and --tls-key"),
        (true, _, _) => anyhow::bail!("--tls-cert and --tls-key need --tls or --quic"),
    };
    let admin_token = args.admin_token_file.as_deref().map(token).transpose()?;
    let admin_read_token = args
        .admin_read_token_file
        .as_deref()
        .map(token)
        .transpose()?;
    runtime.block_on(async {
        let cfg = gslbd::ServeConfig {
            zones: args.zones,
            listen: args.listen,
            admin,
            admin_token,
            admin_read_token,
            admin_hosts: args.admin_host,
            admin_limits: gslbd::admin::AdminLimits {
                max_connections: args.admin_max_connections as usize,
                max_per_source: args.admin_max_per_source as usize,
                header_timeout: args.admin_header_timeout,
                ..Default::default()
            },
            state_file: args.state,
            watch: args.watch,
            tcp,
            cookie_secret_file: args.cookie_secret_file,
            require_cookies: args.require_cookies,
            rrl: gslbd::dns::RrlConfig {
                rate: args.rrl_rate,
                slip: args.rrl_slip,
                exempt: if args.rrl_exempt.is_empty() {
                    gslbd::dns::rrl_loopback()
                } else {
                    args.rrl_exempt.iter().flatten().copied().collect()
                },
            },
            cluster: instance.cluster,
            transfer: instance.transfer,
            encrypted,
        };
        let stop = shutdown_signal();
        gslbd::serve(cfg, stop).await?;
        Ok(())
    })
}

/// The instance file: `explicit` (which must exist), or gslbd.toml beside `zones` when it
/// exists.
fn instance(
    explicit: Option<&std::path::Path>,
    zones: Option<&std::path::Path>,
) -> Result<gslbd::config::instance::Instance, gslbd::config::ConfigErrors> {
    use gslbd::config::instance;
    match (explicit, zones) {
        (Some(path), _) => instance::load(path, true),
        (None, Some(zones)) => instance::load(&instance::default_path(zones), false),
        (None, None) => Ok(instance::Instance::default()),
    }
}

/// As [`instance`], resolving the peers' hosts (for `check`).
fn instance_resolved(
    explicit: Option<&std::path::Path>,
    zones: Option<&std::path::Path>,
) -> Result<gslbd::config::instance::Instance, gslbd::config::ConfigErrors> {
    use gslbd::config::instance;
    match (explicit, zones) {
        (Some(path), _) => instance::load_resolved(path, true),
        (None, Some(zones)) => instance::load_resolved(&instance::default_path(zones), false),
        (None, None) => Ok(instance::Instance::default()),
    }
}

/// A token file's content, surrounding whitespace trimmed (`serve` refuses an empty one).
fn token(path: &std::path::Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let t = text.trim();
    gslbd::admin::guard::check_token(t)
        .with_context(|| format!("{}: not a usable token", path.display()))?;
    Ok(t.to_string())
}

/// Listens for SIGTERM and SIGINT from now on (so a signal right after start-up is not
/// lost); the future completes on the first, and from then on a second one exits at once.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let listen = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(error = %e, signal = name, "cannot watch the signal");
            None
        }
    };
    let mut term = listen(SignalKind::terminate(), "SIGTERM");
    let mut int = listen(SignalKind::interrupt(), "SIGINT");
    async fn next(s: &mut Option<Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            _ = next(&mut term) => {}
            _ = next(&mut int) => {}
        }
        tracing::info!("stopping; a second SIGTERM or SIGINT exits at once");
        tokio::spawn(async move {
            tokio::select! {
                _ = next(&mut term) => {}
                _ = next(&mut int) => {}
            }
            eprintln!("gslbd: second stop signal: exiting now");
            std::process::exit(1);
        });
    }
}

fn status(args: StatusArgs) -> anyhow::Result<()> {
    let url = format!("http://{}/status", args.admin);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    // reqwest is built without a default crypto provider (see gslbd::probe::Clients).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let token = args.token_file.as_deref().map(token).transpose()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .context("cannot build the HTTP client")?;
        loop {
            let mut request = client.get(&url);
            if let Some(t) = &token {
                request = request.bearer_auth(t);
            }
            let body = request
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .with_context(|| format!("cannot reach the admin API at {url}"))?
                .text()
                .await
                .with_context(|| format!("cannot read {url}"))?;
            if args.json {
                println!("{body}");
            } else {
                let s: gslbd::status::Status = serde_json::from_str(&body)
                    .with_context(|| format!("{url} did not answer a gslbd status"))?;
                if args.watch.is_some() {
                    // Clear the terminal, like watch(1).
                    print!("\x1b[H\x1b[2J");
                }
                println!("{s}");
            }
            match args.watch {
                Some(secs) => {
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs_f64(secs.max(0.1))) => {}
                        _ = tokio::signal::ctrl_c() => return Ok(()),
                    }
                }
                None => return Ok(()),
            }
        }
    })
}

/// `gslbd check --fail`: the simulation on the configured weights.
fn drill(set: &gslbd::zone::ZoneSet, args: &CheckArgs) -> ExitCode {
    use gslbd::simulate;
    let failed = match simulate::resolve(set, &args.fail) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gslbd: {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if args.drain {
        simulate::Mode::Drain
    } else {
        simulate::Mode::Down
    };
    let sim = simulate::run(set, &failed, mode, simulate::configured);
    print_report(&sim, args.json)
}

/// Prints a report as text or as pretty JSON.
fn print_report<T: serde::Serialize + std::fmt::Display>(report: &T, json: bool) -> ExitCode {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("gslbd: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!("{}", report.to_string().trim_end());
    }
    ExitCode::SUCCESS
}

/// `files` plus the topology map beside them, as `serve` would read it from their directory
/// (said on stderr, so nobody wonders which map the figures used).
fn with_maps(files: &[PathBuf]) -> Vec<PathBuf> {
    let named = |p: &PathBuf| {
        p.file_name()
            .is_some_and(|n| n == gslbd::config::topology::FILE)
    };
    let mut all = files.to_vec();
    if files.iter().any(named) {
        return all;
    }
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| f.parent().map_or_else(PathBuf::new, PathBuf::from))
        .collect();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        let map = dir.join(gslbd::config::topology::FILE);
        if map.is_file() {
            eprintln!(
                "gslbd: reading the topology map beside the zone files: {}",
                map.display()
            );
            all.push(map);
        }
    }
    all
}

fn check(args: CheckArgs) -> ExitCode {
    let zones_dir = args
        .files
        .is_empty()
        .then(|| args.zones.clone().unwrap_or_else(|| PathBuf::from("zones")));
    let loaded = match &zones_dir {
        Some(dir) => gslbd::config::load_dir(dir),
        None => gslbd::config::load_files(&with_maps(&args.files)),
    };
    let loaded = loaded.and_then(|mut set| {
        let inst = instance_resolved(args.config.as_deref(), zones_dir.as_deref())?;
        set.timing = gslbd::cutover::Timing {
            consensus: inst.cluster.as_ref().map_or(Duration::ZERO, |c| c.delay()),
            secondary: inst.transfer.as_ref().map(|t| t.timing()),
        };
        Ok(set)
    });
    match loaded {
        Ok(set) if !args.fail.is_empty() => drill(&set, &args),
        Ok(set) => {
            if let Ok(inst) = instance(args.config.as_deref(), zones_dir.as_deref())
                && let Some(t) = &inst.transfer
            {
                for z in t.unknown_zones(&set) {
                    eprintln!(
                        "gslbd: warning: [transfer] zones names {z}, which no zone file serves"
                    );
                }
            }
            print_report(&gslbd::check::report(&set), args.json)
        }
        Err(errors) => {
            if args.json {
                let list: Vec<String> = errors.0.iter().map(|e| e.to_string()).collect();
                println!("{}", serde_json::json!({ "valid": false, "errors": list }));
            }
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}
