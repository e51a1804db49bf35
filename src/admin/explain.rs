//! `GET /explain?name=&type=&client=`: what gslbd would answer that client right now, and why.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Instant;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hickory_proto::rr::{LowerName, Name, RecordType};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{AdminState, error};
use crate::dns::lookup::{Question, resolve};
use crate::health::WEIGHT_SCALE;
use crate::select::ClientKey;
use crate::select::hashed::unit_hash;
use crate::zone::Policy;

#[derive(Deserialize)]
pub struct Params {
    name: String,
    #[serde(rename = "type")]
    rtype: Option<String>,
    /// An address (`203.0.113.7`) or a subnet as sent in ECS (`203.0.113.0/24`); IPv4-mapped
    /// IPv6 (`::ffff:203.0.113.7`) is the IPv4 client, as in DNS.
    client: Option<String>,
}

fn client_key(text: Option<&str>) -> Result<ClientKey, String> {
    let Some(text) = text else {
        return Ok(ClientKey::from_source(IpAddr::from([127, 0, 0, 1])));
    };
    let bad = || format!("invalid client {text:?}: expected an address or ADDR/PREFIX");
    match text.split_once('/') {
        Some((ip, prefix)) => {
            let ip: IpAddr = ip.parse().map_err(|_| bad())?;
            let prefix: u8 = prefix.parse().map_err(|_| bad())?;
            // Decided on the prefix as ECS carries it: 10.1.2.3/8 is 10.0.0.0/8 on the wire.
            let net = ipnet::IpNet::new(ip, prefix).map_err(|_| bad())?;
            Ok(ClientKey::from_ecs(net.network(), prefix))
        }
        None => Ok(ClientKey::from_source(text.parse().map_err(|_| bad())?)),
    }
}

pub async fn handler(
    State(state): State<AdminState>,
    params: Result<Query<Params>, QueryRejection>,
) -> Response {
    let p = match params {
        Ok(Query(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let mut name = match Name::from_ascii(p.name.trim()) {
        Ok(n) => n,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("invalid name {:?}: {e}", p.name),
            );
        }
    };
    name.set_fqdn(true);
    let rtype_text = p.rtype.as_deref().unwrap_or("A").to_ascii_uppercase();
    // hickory's parser does not know IXFR by name.
    let parsed = match rtype_text.as_str() {
        "IXFR" => Ok(RecordType::IXFR),
        t => RecordType::from_str(t),
    };
    let Ok(rtype) = parsed else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("invalid type {rtype_text:?}"),
        );
    };
    let client = match client_key(p.client.as_deref()) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if crate::dns::lookup::refused_qtype(rtype) {
        return Json(json!({
            "name": name.to_string(),
            "type": rtype.to_string(),
            "rcode": "Refused",
            "authoritative": false,
            "answer": [],
            "authority": [],
            "rule": "zone transfers are refused",
        }))
        .into_response();
    }
    let snap = state.shared.load();
    let lower = LowerName::new(&name);
    let now = Instant::now();
    let answer = resolve(
        &snap,
        &Question {
            name: &lower,
            original: &name,
            qtype: rtype,
            minimal_any: false,
        },
        &client,
        &mut rand::rng(),
        now,
    );
    let zone = answer.zone.and_then(|z| snap.zones.zones.get(z));
    let mut out = json!({
        "name": name.to_string(),
        "type": rtype.to_string(),
        // The prefix the answer is decided on, as DNS with that Client Subnet decides.
        "client": client.subnet(),
        "zone": zone.map(|z| z.origin_name.to_string()),
        "rcode": answer.rcode.to_string(),
        "authoritative": answer.authoritative,
        "answer": answer.answers.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        "authority": answer.authority.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    });
    if let Some(d) = answer.decisions.first()
        && let Some(pool) = snap
            .zones
            .zones
            .get(d.zone)
            .and_then(|z| z.pools.get(d.pool))
    {
        let weights: Vec<u64> = pool
            .regions
            .iter()
            .map(|r| snap.live.weight(pool, r, now))
            .collect();
        let tier_weights: Vec<u64> = pool
            .regions
            .iter()
            .zip(&weights)
            .map(|(r, w)| {
                if pool.policy != Policy::Failover || Some(r.priority) == d.selection.tier {
                    *w
                } else {
                    0
                }
            })
            .collect();
        let total: u64 = tier_weights.iter().sum();
        let key = client.bytes();
        let regions: Vec<Value> = pool
            .regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let live = snap.live.region(r.id);
                let mut v = json!({
                    "region": r.name,
                    "serving": live.is_some_and(|l| l.serving),
                    "override": live.and_then(|l| l.override_),
                    "configured_weight": r.weight,
                    "live_weight": weights[i] as f64 / WEIGHT_SCALE as f64,
                    "priority": r.priority,
                    "chosen": d.selection.regions.contains(&i),
                });
                if matches!(pool.policy, Policy::Weighted | Policy::Failover) && total > 0 {
                    v["probability_first"] = json!(tier_weights[i] as f64 / total as f64);
                }
                if pool.policy == Policy::Hashed {
                    v["hash"] = json!(unit_hash(&key, &r.name));
                }
                v
            })
            .collect();
        if let Some(topo) = &pool.topology {
            out["topology"] = topology(topo, &client, d.selection.topology);
        }
        out["pool"] = json!({
            "pool": pool.key,
            "policy": pool.policy,
            "on_all_down": pool.on_all_down,
            "ttl": pool.ttl,
            "rule": d.selection.rule,
            "tier": d.selection.tier,
            "chosen": d.selection.regions.iter().filter_map(|i| pool.regions.get(*i)).map(|r| r.name.clone()).collect::<Vec<_>>(),
            "regions": regions,
        });
        if matches!(pool.policy, Policy::Hashed | Policy::Topology) {
            // The subnet the rendezvous hash keys on.
            out["pool"]["hashed_on"] = json!(format!("{}/{}", client.addr, client.prefix));
        }
    }
    Json(out).into_response()
}

/// The topology part of an explanation: the matched prefix, the client's location and list,
/// and the step that answered.
fn topology(
    topo: &crate::zone::PoolTopology,
    client: &ClientKey,
    step: Option<crate::select::TopologyStep>,
) -> Value {
    let m = topo.map.lookup(client.ip);
    let list = topo.map.lists.get(m.list).cloned().unwrap_or_default();
    let prefix = ipnet::IpNet::new(client.ip, m.scope)
        .map(|n| n.trunc().to_string())
        .unwrap_or_default();
    let answered_from = step.map(|s| match list.get(s.step) {
        Some(loc) => loc.clone(),
        None => "regions in no listed location".to_string(),
    });
    json!({
        "matched_prefix": prefix,
        "location": topo.map.location_name(&m),
        "list": list,
        "step": step.map(|s| s.step),
        "answered_from": answered_from,
    })
}
