//! `gslbd serve`: the options turned into the library's `ServeConfig`, logging, the panic
//! policy and the stop signals.

use std::io::IsTerminal;
use std::net::SocketAddr;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use super::args::ServeArgs;
use super::inputs::{instance, token};

/// Exit status when a task panicked (EX_SOFTWARE): the process stops rather than serve health
/// that no longer changes, and a supervisor restarts it.
const EXIT_PANIC: i32 = 70;

/// `gslbd serve`: logging, the runtime, the settings from the options and the instance file,
/// then the library's `serve` until SIGTERM or SIGINT.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
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

/// Listens for SIGTERM and SIGINT from now on (so a signal right after start-up is not
/// lost); the future completes on the first, and from then on a second one exits at once.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    let listen = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!(target: "gslbd", error = %e, signal = name, "cannot watch the signal");
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
        tracing::info!(target: "gslbd", "stopping; a second SIGTERM or SIGINT exits at once");
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
