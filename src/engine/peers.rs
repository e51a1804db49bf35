//! Talking to the cluster's peers (the engine's runtime side of `cluster`): one task per peer fetches its verdicts every `poll_interval` (each
//! fetch bounded by `poll_timeout`) and hands them to the engine; overrides can be fanned out
//! to every peer.

use std::sync::Arc;
use std::time::Instant;

use reqwest::header::AUTHORIZATION;
use tokio_util::sync::CancellationToken;

use super::EngineHandle;
use crate::cluster::Verdicts;
use crate::config::instance::ClusterConfig;

/// The largest verdicts document read from a peer.
const MAX_BODY: usize = 32 * 1024 * 1024;

/// The HTTP client for peers: the poll timeout, no proxy, and for https only the certificates
/// of `ca_file`.
pub fn client(config: &ClusterConfig) -> Result<reqwest::Client, reqwest::Error> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .timeout(config.poll_timeout)
        .connect_timeout(config.poll_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("gslbd/", env!("CARGO_PKG_VERSION"), " cluster"));
    if let Some(pem) = &config.ca_pem {
        b = b.tls_certs_only(reqwest::Certificate::from_pem_bundle(pem)?);
    }
    b.build()
}

/// Starts one polling task per peer.
pub fn spawn(
    config: Arc<ClusterConfig>,
    engine: EngineHandle,
    cancel: CancellationToken,
) -> Result<(), reqwest::Error> {
    let client = client(&config)?;
    for (index, url) in config.peers.iter().enumerate() {
        let url = format!("{}/cluster/verdicts", url.as_str().trim_end_matches('/'));
        let (client, engine, cancel, config) = (
            client.clone(),
            engine.clone(),
            cancel.clone(),
            config.clone(),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let result = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = fetch(&client, &url, &config.token) => r,
                };
                engine.peer_heard(index, result, Instant::now()).await;
            }
        });
    }
    Ok(())
}

/// One poll: the peer's verdicts, or why they could not be had (never the token).
async fn fetch(client: &reqwest::Client, url: &str, token: &str) -> Result<Verdicts, String> {
    let mut resp = client
        .get(url)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(format!("verdicts larger than {MAX_BODY} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a verdicts document: {e}"))
}

/// A reqwest error with its causes, the way an operator reads it.
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The result of fanning a change out to one peer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Fanned {
    pub peer: String,
    /// The peer's HTTP status, when it answered.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// Sends `POST {peer}/{segments…}?{query}` to every peer with the cluster token, concurrently.
pub async fn fan_out(
    config: &ClusterConfig,
    segments: &[&str],
    query: &[(&str, String)],
) -> Vec<Fanned> {
    let client = match client(config) {
        Ok(c) => c,
        Err(e) => {
            return config
                .peers
                .iter()
                .map(|p| Fanned {
                    peer: p.to_string(),
                    status: None,
                    error: Some(describe(&e)),
                })
                .collect();
        }
    };
    let sends = config.peers.iter().map(|p| {
        let mut url = p.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let req = client
            .post(url)
            .header(AUTHORIZATION, format!("Bearer {}", config.token))
            .header(crate::config::token::REQUEST_HEADER, "cluster");
        async move {
            let (status, error) = match req.send().await {
                Ok(r) if r.status().is_success() => (Some(r.status().as_u16()), None),
                Ok(r) => {
                    let code = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    (Some(code), Some(text.chars().take(500).collect()))
                }
                Err(e) => (None, Some(describe(&e))),
            };
            Fanned {
                peer: p.to_string(),
                status,
                error,
            }
        }
    });
    futures_util::future::join_all(sends).await
}
