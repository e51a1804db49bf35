//! The `gslbd` binary: CLI parsing, logging, signals and exit codes. All logic is in the library.
//! The options are in `main/args.rs`, each command in its own file beside it.

use std::process::ExitCode;

use clap::Parser;

#[path = "main/args.rs"]
mod args;
#[path = "main/check.rs"]
mod check;
#[path = "main/inputs.rs"]
mod inputs;
#[path = "main/keygen.rs"]
mod keygen;
#[path = "main/serve.rs"]
mod serve;
#[path = "main/status.rs"]
mod status;

use args::{Cli, Cmd};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Cmd::Serve(args) => exit(serve::serve(*args)),
        Cmd::Check(args) => check::check(args),
        Cmd::Status(args) => exit(status::status(args)),
        Cmd::Keygen(args) => exit(keygen::keygen(&args)),
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
