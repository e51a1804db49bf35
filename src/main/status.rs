//! `gslbd status`: reads a running server's status from its admin API.

use anyhow::Context;

use super::args::StatusArgs;
use super::inputs::token;

/// `gslbd status`: a running server's `/status` as a table or JSON, once or every period.
pub fn status(args: StatusArgs) -> anyhow::Result<()> {
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
