//! The admin HTTP API: the status page, status, explain, Prometheus metrics, operator overrides
//! and reload.
//!
//! Reads go to the engine (status) or the published snapshot (explain); writes go only
//! through the engine's operations. [`guard`] decides who may do what (Host, CSRF, tokens);
//! [`listen`] bounds the connections. Errors are JSON `{"error": "..."}` with a 4xx/5xx status.

mod explain;
pub mod guard;
mod listen;
mod page;
mod rawerrors;

pub use guard::Access;
pub use listen::{AdminLimits, BEYOND_CAP, RESERVED};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::engine::{EngineHandle, OverrideError, OverrideRequest};
use crate::health::{Override, RegionKey, Shared};

/// Shared by every handler.
#[derive(Clone)]
pub struct AdminState {
    pub engine: EngineHandle,
    pub shared: Shared,
    /// Renders the Prometheus recorder.
    pub metrics: PrometheusHandle,
    /// The cluster, for fanning overrides out to the peers.
    pub cluster: Option<Arc<crate::config::instance::ClusterConfig>>,
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!({ "error": message.into() }))).into_response()
}

/// Every endpoint, behind the [`guard`].
pub fn router(state: AdminState, access: Arc<Access>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/explain", get(explain::handler))
        .route("/reload", post(reload))
        .route("/simulate", post(simulate))
        .route(guard::CLUSTER_PATH, get(cluster_verdicts))
        .route(
            "/regions/{zone}/{pool}/{region}/{action}",
            post(region_action),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: reads are GET, changes are POST",
            )
        })
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(access, guard::check))
}

/// Binds the admin listener; logs `admin listening on http://ADDR`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let l = TcpListener::bind(addr).await?;
    info!("admin listening on http://{}", l.local_addr()?);
    Ok(l)
}

/// Serves the admin API on `listener` until `cancel`.
pub async fn serve(
    listener: TcpListener,
    state: AdminState,
    access: Access,
    limits: AdminLimits,
    cancel: CancellationToken,
) {
    listen::serve(listener, router(state, Arc::new(access)), limits, cancel).await;
}

async fn status(State(state): State<AdminState>) -> Response {
    let Some(s) = state.engine.status().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "engine stopped");
    };
    // Every region, serialised on a background thread like `/metrics` (7 MB at 10,000).
    match crate::sched::background("status", move || serde_json::to_vec(&s)).await {
        Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the status render failed",
        ),
    }
}

/// How long `/healthz` waits for the engine.
const LIVENESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /healthz`: liveness. 200 when the health engine answers and probe results arrive; 503
/// when it does not answer, or when a target has had no probe result for three intervals and
/// its timeout (at least 5 s): probing has stalled.
async fn healthz(State(state): State<AdminState>) -> Response {
    match tokio::time::timeout(LIVENESS_TIMEOUT, state.engine.liveness()).await {
        Ok(Some(l)) if l.stalled == 0 => {
            Json(json!({ "ok": true, "generation": l.generation })).into_response()
        }
        Ok(Some(l)) => {
            let (target, silent) = l.worst.unwrap_or_default();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "error": format!(
                        "no probe result for {} target(s) in three intervals: probing has stalled \
                         ({target}: none for {:.1}s)",
                        l.stalled,
                        silent.as_secs_f64()
                    ),
                    "stalled_targets": l.stalled,
                })),
            )
                .into_response()
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the health engine does not answer",
        ),
    }
}

/// `GET /readyz`: readiness. 200 once the zones are loaded and every probed region has had
/// its first probe result; 503 (with how many are waiting) before.
async fn readyz(State(state): State<AdminState>) -> Response {
    let Ok(Some(s)) = tokio::time::timeout(LIVENESS_TIMEOUT, state.engine.status()).await else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the health engine does not answer",
        );
    };
    let regions = s
        .zones
        .iter()
        .flat_map(|z| &z.pools)
        .flat_map(|p| &p.regions)
        .filter(|r| r.state != "unprobed");
    let (probed, waiting) = regions.fold((0, 0), |(n, w), r| {
        (n + 1, w + usize::from(r.last_probe.is_none()))
    });
    let body = json!({ "ready": waiting == 0, "zones": s.zones.len(), "probed_regions": probed, "waiting_for_first_probe": waiting });
    let code = if waiting == 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// `GET /`: the status page, rendered on a background thread like `/metrics` (it lists every
/// region).
async fn status_page(State(state): State<AdminState>) -> Response {
    let Some(s) = state.engine.status().await else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "engine stopped");
    };
    match crate::sched::background("page", move || page::render(&s, SystemTime::now())).await {
        Ok(html) => Html(html).into_response(),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the page render failed"),
    }
}

/// `GET /metrics`: the Prometheus text format; region gauges are refreshed first. Rendered on a
/// background thread ([`crate::sched::background`]): with 10,000 targets a scrape is 7.5 MB and
/// a quarter of a second of CPU, which on a runtime worker delayed probes by as much, and at
/// normal priority delayed queries.
async fn metrics(State(state): State<AdminState>) -> Response {
    let snap = state.shared.load_full();
    let handle = state.metrics.clone();
    let rendered = crate::sched::background("metrics", move || {
        crate::engine::metrics::scrape(&handle, &snap, Instant::now())
    })
    .await;
    let Ok(text) = rendered else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the metrics render failed",
        );
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// `GET /cluster/verdicts`: this instance's own probe verdicts, for its peers (cluster token).
async fn cluster_verdicts(State(state): State<AdminState>) -> Response {
    match state.engine.verdicts().await {
        Some(v) => Json(v).into_response(),
        None => error(StatusCode::NOT_FOUND, "no [cluster] is configured"),
    }
}

async fn reload(State(state): State<AdminState>) -> Response {
    match state.engine.reload().await {
        Ok(r) => Json(json!({ "reloaded": true, "zones": r.zones, "changed": r.changed }))
            .into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "reloaded": false, "error": e, "errors": e.lines().collect::<Vec<_>>() })),
        )
            .into_response(),
    }
}

/// `?fail=REGION[,REGION]` and `?mode=down|drain`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SimulateParams {
    fail: String,
    mode: Option<String>,
}

/// `POST /simulate`: what every pool would answer with the regions taken out, from the live
/// state, changing nothing.
async fn simulate(
    State(state): State<AdminState>,
    params: Result<Query<SimulateParams>, QueryRejection>,
) -> Response {
    use crate::simulate::{Mode, resolve, run};
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let mode = match params.mode.as_deref() {
        None | Some("down") => Mode::Down,
        Some("drain") => Mode::Drain,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("mode {other:?}: down or drain"),
            );
        }
    };
    let snap = state.shared.load();
    let failed = match resolve(&snap.zones, &[params.fail]) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::NOT_FOUND, e),
    };
    let now = Instant::now();
    let sim = run(&snap.zones, &failed, mode, |pool, r| {
        (
            snap.live.weight(pool, r, now),
            snap.live.fail_open_weight(r),
        )
    });
    Json(sim).into_response()
}

/// `?force=true` (apply below `min_serving`) and `?duration=60s` (drills).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionParams {
    force: Option<bool>,
    duration: Option<String>,
    /// With a cluster: also apply it on every peer.
    peers: Option<bool>,
}

/// The longest drill.
const MAX_DRILL: std::time::Duration =
    std::time::Duration::from_millis(crate::health::MAX_DRILL_MS);

async fn region_action(
    State(state): State<AdminState>,
    path: Result<Path<(String, String, String, String)>, PathRejection>,
    params: Result<Query<ActionParams>, QueryRejection>,
) -> Response {
    let Path((zone, pool, region, action_name)) = match path {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Query(params) = match params {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    if params.peers == Some(true) && state.cluster.is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            "?peers=true needs a [cluster] in gslbd.toml",
        );
    }
    let action = match (action_name.as_str(), &params.duration) {
        ("drain", None) => Some(Override::Drain),
        ("force-up", None) => Some(Override::ForceUp),
        ("force-down", None) => Some(Override::ForceDown),
        ("undrain" | "clear", None) => None,
        ("drill", Some(d)) => match humantime::parse_duration(d) {
            Ok(d) if (std::time::Duration::from_secs(1)..=MAX_DRILL).contains(&d) => {
                Some(Override::drill(crate::engine::unix_now_ms(), d))
            }
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("duration {d:?} must be a duration from 1s to 1day (e.g. 60s, 5m)"),
                );
            }
        },
        ("drill", None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "a drill needs ?duration= (e.g. 60s): it ends by itself",
            );
        }
        (other, Some(_)) if other != "drill" => {
            return error(StatusCode::BAD_REQUEST, "only a drill takes a duration");
        }
        (other, _) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("unknown action {other:?}: drain, undrain, force-up, force-down, drill"),
            );
        }
    };
    let zone = if zone.ends_with('.') {
        zone
    } else {
        format!("{zone}.")
    };
    let key = RegionKey { zone, pool, region };
    let req = OverrideRequest {
        action,
        force: params.force.unwrap_or(false),
    };
    match state.engine.set_override(key, req).await {
        Ok(applied) => {
            let key = applied.key;
            let mut body = json!({ "zone": key.zone, "pool": key.pool, "region": key.region,
                "override": action.map(|a| a.name()), "persisted": applied.not_persisted.is_none() });
            if let Some(Override::Drill {
                until, until_ms, ..
            }) = action
            {
                body["until"] = json!(until);
                body["until_ms"] = json!(until_ms);
            }
            if let Some(e) = applied.not_persisted {
                body["persist_error"] = json!(e);
            }
            if let (Some(true), Some(cluster)) = (params.peers, &state.cluster) {
                let mut query = Vec::new();
                if let Some(f) = params.force {
                    query.push(("force", f.to_string()));
                }
                if let Some(d) = &params.duration {
                    query.push(("duration", d.clone()));
                }
                let segments = ["regions", &key.zone, &key.pool, &key.region, &action_name];
                let sent = crate::engine::peers::fan_out(cluster, &segments, &query).await;
                body["peers"] = json!(sent);
            }
            Json(body).into_response()
        }
        Err(e @ OverrideError::NoRegion(_)) => error(StatusCode::NOT_FOUND, e.to_string()),
        Err(e @ (OverrideError::BelowMinServing(_) | OverrideError::Overridden(_))) => {
            error(StatusCode::CONFLICT, e.to_string())
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
