//! The status page at `GET /`: one self-contained HTML page (no CDN, no build step) rendered on
//! the server from [`Status`], readable in an incident. The header names every pool that is not
//! answering by its policy (failing open, fallback, NODATA, SERVFAIL); each pool says what DNS
//! answers now and lists its regions as rows (health badge, recent probes as a strip, live
//! weight bar, last probe, time in state, override), with the computed cutover and a timeline
//! of recent transitions. It refreshes itself every few seconds.

use std::time::{Duration, SystemTime};

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::cutover::Figures;
use crate::select::Rule;
use crate::status::{PoolStatus, RegionStatus, Status, TransitionRecord, ago};

/// How often the page refreshes itself.
const REFRESH_SECS: u32 = 2;
/// How many transitions the timeline shows.
const TIMELINE: usize = 50;

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:18px;margin:0}
main{padding:12px 20px}
section.zone{margin-bottom:24px}
.pool{background:#fff;border-radius:6px;padding:10px 14px;margin:10px 0;box-shadow:0 1px 2px #0002}
.pool h3{margin:0 0 6px;font-size:15px}
.meta{color:#5b6478;font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6eb;vertical-align:middle}
th{font-size:12px;color:#5b6478;font-weight:600}
.badge{display:inline-block;min-width:64px;text-align:center;border-radius:10px;padding:1px 8px;
 font-weight:700;font-size:12px;color:#fff;text-transform:uppercase}
.up{background:#1f8a4c}.down{background:#c62828}.unknown,.unprobed{background:#7a8194}
.override{background:#b26a00}
.bar{width:140px;height:10px;background:#e3e6eb;border-radius:5px;overflow:hidden;display:inline-block}
.bar span{display:block;height:100%;background:#2f6fdf}
.out{color:#c62828;font-weight:600}
.timeline td{font-size:12px}
.alert{background:#c62828;border-radius:4px;padding:1px 8px;font-weight:600}
.answering{font-size:13px;margin:2px 0 6px}
.answering.warn{color:#c62828;font-weight:700}
svg.recent{vertical-align:middle}
"#;

const SCRIPT: &str = r##"
setInterval(async () => {
  try {
    const r = await fetch(location.pathname, {cache: "no-store"});
    if (!r.ok) return;
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    document.querySelector("main").replaceWith(doc.querySelector("main"));
    document.querySelector("#updated").textContent = doc.querySelector("#updated").textContent;
  } catch (e) {}
}, REFRESH_MS);
"##;

/// The whole page.
pub fn render(status: &Status, now: SystemTime) -> String {
    let script = SCRIPT.replace("REFRESH_MS", &(REFRESH_SECS * 1000).to_string());
    let regions: usize = status
        .zones
        .iter()
        .flat_map(|z| &z.pools)
        .map(|p| p.regions.len())
        .sum();
    let down = status
        .zones
        .iter()
        .flat_map(|z| &z.pools)
        .flat_map(|p| &p.regions)
        .filter(|r| !r.serving)
        .count();
    // Pools not answering by their policy: failing open, on fallback, NODATA, SERVFAIL.
    let alerts: Vec<(&str, &PoolStatus)> = status
        .zones
        .iter()
        .flat_map(|z| z.pools.iter().map(move |p| (z.zone.as_str(), p)))
        .filter(|(_, p)| p.answering.rule != Rule::Policy)
        .collect();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "gslbd status" }
                noscript { meta http-equiv="refresh" content=(REFRESH_SECS); }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "gslbd" }
                    span { (status.zones.len()) " zones · " (regions) " regions · "
                        span.out[down > 0] { (down) " not serving" } }
                    @for (zone, p) in &alerts {
                        span.alert data-pool=(p.pool) { (zone) " " (p.pool) ": " (p.answering.summary) }
                    }
                    @if let Some(c) = &status.cluster {
                        @if c.isolated {
                            span.alert #isolated { "isolated: fewer than " (c.quorum)
                                " instances heard from; own verdicts decide" }
                        }
                    }
                    span { "config generation " (status.generation) }
                    span #updated { "updated " (clock(now)) }
                }
                main {
                    @if let Some(c) = &status.cluster { (cluster(c)) }
                    @for z in &status.zones {
                        section.zone data-zone=(z.zone) {
                            h2 { (z.zone) }
                            div.meta { (z.file) " · worst case " (figures(z.cutover.as_ref())) }
                            @for k in &z.dnssec {
                                div.meta.dnssec data-key=(k.tag) {
                                    "DNSSEC key " (k.tag) " (" (crate::status::json_name(&k.role)) ", "
                                    (k.algorithm) @if !k.signs { ", published only" } ")"
                                    @if let Some(ds) = &k.ds { " · DS " code { (ds) } }
                                }
                            }
                            @for p in &z.pools { (pool(&z.zone, p)) }
                        }
                    }
                    (timeline(&status.transitions, now))
                }
                script { (PreEscaped(script)) }
            }
        }
    }
    .into_string()
}

fn pool(zone: &str, p: &PoolStatus) -> Markup {
    let max = p
        .regions
        .iter()
        .map(|r| r.configured_weight)
        .max()
        .unwrap_or(1)
        .max(1);
    html! {
        div.pool data-pool=(p.pool) {
            h3 { (p.name) " " (p.rtype) " "
                span.meta { "pool " (p.pool) " · " (p.policy) " · ttl " (p.ttl)
                    "s · all down: " (p.on_all_down) } }
            div.meta { "cutover " (figures(p.cutover.as_ref())) }
            div.answering.warn[p.answering.rule != Rule::Policy] { (p.answering.summary) }
            @if p.held {
                div.answering.warn.held { "isolated: held at the last agreed regions (own \
                    verdicts would turn the pool all-down)" }
            }
            table {
                tr { th { "region" } th { "health" } th { "recent probes" } th { "weight" }
                     th { "last probe" } th { "in state" } th { "override" } th { "addresses" }
                     @if p.regions.iter().any(|r| r.votes.is_some()) { th { "votes" } } }
                @for r in &p.regions { (region(zone, p, r, max)) }
            }
            @if !p.locations.is_empty() {
                table.locations {
                    tr { th { "client location" } th { "answered from" } th { "step" } }
                    @for l in &p.locations {
                        tr.location data-location=(l.location) data-off=(l.off_first_choice) {
                            td { b { (l.location) } }
                            td.out[l.off_first_choice || l.answered_from.is_empty()] {
                                @if l.answered_from.is_empty() { "all-down rule" }
                                @else { (l.answered_from.join(", ")) }
                            }
                            td {
                                @match (l.step, l.off_first_choice) {
                                    (Some(_), false) => "first choice",
                                    (Some(s), true) => { "step " (s + 1) " (off its first choice)" }
                                    (None, _) => "—",
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn region(zone: &str, p: &PoolStatus, r: &RegionStatus, max: u32) -> Markup {
    let state = r.state.as_str();
    let pct = (r.live_weight / f64::from(max) * 100.0).clamp(0.0, 100.0);
    html! {
        tr.region data-zone=(zone) data-pool=(p.pool) data-region=(r.region) data-state=(state)
            data-serving=(r.serving) data-answered=(r.answered) {
            td { b { (r.region) } @if p.policy == "failover" { span.meta { " priority " (r.priority) } } }
            td {
                span.badge.(state) { (state) }
                @if !r.answered { " " span.out { "out" } }
                @else if !r.serving { " " span.meta { "answered (fail open)" } }
            }
            td { (recent(&r.recent_probes)) }
            td {
                span.bar title=(format!("{:.0}%", pct)) { span style=(format!("width:{pct:.1}%")) {} }
                " " (fmt_weight(r.live_weight)) " / " (r.configured_weight)
            }
            td {
                @match &r.last_probe {
                    Some(lp) => {
                        span.out[lp.outcome != "ok"] { (lp.outcome) }
                        " · " (format!("{:.1} ms", lp.latency_ms))
                        span.meta { " · " (ago(lp.seconds_ago)) " ago" }
                    }
                    None => span.meta { "—" }
                }
            }
            td { (r.seconds_in_state.map_or_else(|| "—".into(), ago)) }
            td {
                @if let Some(o) = &r.override_ { span.badge.override { (o.name()) } }
            }
            td.meta { (r.addresses.join(", ")) }
            @if let Some(v) = &r.votes {
                td.votes.out[v.disagrees()] title=(vote_detail(v)) { (crate::status::votes(v)) }
            }
        }
    }
}

/// Who voted what, for the votes cell's tooltip.
fn vote_detail(v: &crate::cluster::decide::Agreement) -> String {
    let abstain: Vec<String> = v
        .abstain
        .iter()
        .map(|(n, why)| format!("{n} ({})", crate::status::json_name(why)))
        .collect();
    format!(
        "up: {}; down: {}; abstain: {}",
        v.up.join(", "),
        v.down.join(", "),
        abstain.join(", ")
    )
}

/// The cluster panel: the rule, each peer's freshness.
fn cluster(c: &crate::cluster::ClusterStatus) -> Markup {
    html! {
        section.cluster {
            h2 { "cluster " (c.name) }
            div.meta { "rule " (c.rule) " · quorum " (c.quorum) " of " (c.size) }
            table {
                tr { th { "peer" } th { "url" } th { "verdicts" } th { "last error" } }
                @for p in &c.peers {
                    tr.peer data-peer=(p.url) data-fresh=(p.fresh) {
                        td { b { (p.name.as_deref().unwrap_or("?")) } }
                        td.meta { (p.url) }
                        td.out[!p.fresh] {
                            (if p.fresh { "fresh" } else { "stale" })
                            @if let Some(s) = p.seconds_since_heard { " · " (ago(s)) " ago" }
                        }
                        td.meta { (p.error.as_deref().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The latest probe results as a strip of bars, oldest left (green ok, red failed).
fn recent(results: &[bool]) -> Markup {
    if results.is_empty() {
        return html! { span.meta { "—" } };
    }
    let fails = results.iter().filter(|ok| !**ok).count();
    let title = format!("last {} probes: {fails} failed", results.len());
    let width = results.len() * 4;
    html! {
        svg.recent width=(width) height="14" viewBox=(format!("0 0 {width} 14")) role="img" {
            title { (title) }
            @for (i, ok) in results.iter().enumerate() {
                rect x=(i * 4) y=(if *ok { 4 } else { 0 }) width="3" height=(if *ok { 10 } else { 14 })
                    fill=(if *ok { "#1f8a4c" } else { "#c62828" }) {}
            }
        }
    }
}

fn timeline(ts: &[TransitionRecord], now: SystemTime) -> Markup {
    html! {
        section.timeline {
            h2 { "Recent transitions" }
            @if ts.is_empty() { p.meta { "none since start" } }
            @else {
                table {
                    tr { th { "time (UTC)" } th { "ago" } th { "region" } th { "change" }
                         th { "reason" } }
                    @for t in ts.iter().take(TIMELINE) {
                        @let at = SystemTime::UNIX_EPOCH + Duration::from_secs_f64(t.at.max(0.0));
                        tr.transition data-to=(t.to) {
                            td { (clock(at)) }
                            td { (ago(now.duration_since(at).unwrap_or_default().as_secs_f64())) }
                            td { (t.zone) " " (t.pool) " / " b { (t.region) } }
                            td { (t.from) " → " span.badge.(t.to) { (t.to) } }
                            td { (t.reason) }
                        }
                    }
                }
            }
        }
    }
}

fn figures(f: Option<&Figures>) -> String {
    match f {
        Some(f) => {
            let mut text = format!(
                "detection ≤ {:.1}s · cutover ≤ {:.1}s · back in gslbd's answers ≤ {:.1}s · \
                 recovery ≤ {:.1}s",
                f.detection, f.cutover, f.readmission, f.recovery
            );
            if f.recovery_cache.kind != crate::cutover::CacheKind::Ttl {
                text += &format!(" (bound by {})", f.recovery_cache.describe());
            }
            text
        }
        None => "not probed".into(),
    }
}

fn fmt_weight(w: f64) -> String {
    if w.fract() == 0.0 {
        format!("{w:.0}")
    } else {
        format!("{w:.2}")
    }
}

fn clock(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        let status = Status {
            queries_by_transport: Default::default(),
            cluster: None,
            generation: 0,
            orphaned_overrides: vec![],
            zones: vec![],
            transitions: vec![TransitionRecord {
                at: 0.0,
                zone: "z.".into(),
                pool: "p".into(),
                region: "<script>".into(),
                from: "up".into(),
                to: "down".into(),
                reason: "status=503".into(),
            }],
        };
        let page = render(&status, SystemTime::UNIX_EPOCH);
        assert!(page.contains("&lt;script&gt;"));
        assert!(!page.contains("<script>\""));
    }
}
