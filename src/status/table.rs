//! [`Status`] as a plain-text table, for `gslbd status` in an SSH session.

use std::fmt;

use super::{LastProbe, RegionStatus, Status, ago};
use crate::select::Rule;

fn probe(lp: Option<&LastProbe>) -> String {
    lp.map_or_else(
        || "-".into(),
        |lp| {
            format!(
                "{} {:.1}ms {} ago",
                lp.outcome,
                lp.latency_ms,
                ago(lp.seconds_ago)
            )
        },
    )
}

fn row(r: &RegionStatus) -> [String; 8] {
    [
        r.region.clone(),
        r.state.clone(),
        match (r.serving, r.answered) {
            (true, _) => "yes",
            // Down, but answered: the pool fails open.
            (false, true) => "no, answered",
            (false, false) => "NO",
        }
        .into(),
        format!("{}/{}", trim(r.live_weight), r.configured_weight),
        probe(r.last_probe.as_ref()),
        r.seconds_in_state.map_or_else(|| "-".into(), ago),
        r.override_
            .map_or_else(|| "-".into(), |o| o.name().to_string()),
        r.votes.as_ref().map_or_else(|| "-".into(), votes),
    ]
}

/// A region's votes: "2 up, 1 down, 1 abstains (quorum)".
pub fn votes(a: &crate::cluster::decide::Agreement) -> String {
    let mut s = format!("{} up, {} down", a.up.len(), a.down.len());
    if !a.abstain.is_empty() {
        s.push_str(&format!(", {} abstain", a.abstain.len()));
    }
    s.push_str(&format!(" ({})", super::json_name(&a.how)));
    s
}

/// The cluster's header lines.
fn cluster(f: &mut fmt::Formatter<'_>, c: &crate::cluster::ClusterStatus) -> fmt::Result {
    writeln!(
        f,
        "cluster {}: rule {}, quorum {} of {}",
        c.name, c.rule, c.quorum, c.size
    )?;
    if c.isolated {
        writeln!(
            f,
            "  !! isolated: fewer than {} instances heard from; own verdicts decide",
            c.quorum
        )?;
    }
    for p in &c.peers {
        let name = p.name.as_deref().unwrap_or("?");
        let heard = p
            .seconds_since_heard
            .map_or_else(|| "never heard".into(), |s| format!("heard {} ago", ago(s)));
        let fresh = if p.fresh { "fresh" } else { "STALE" };
        let err = p
            .error
            .as_deref()
            .map_or(String::new(), |e| format!(" ({e})"));
        writeln!(f, "  peer {name} {}: {fresh}, {heard}{err}", p.url)?;
    }
    Ok(())
}

fn trim(w: f64) -> String {
    let s = format!("{w:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

const HEAD: [&str; 8] = [
    "REGION",
    "STATE",
    "SERVING",
    "WEIGHT",
    "LAST PROBE",
    "IN STATE",
    "OVERRIDE",
    "VOTES",
];

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = if self.cluster.is_some() { 8 } else { 7 };
        let rows: Vec<[String; 8]> = self
            .zones
            .iter()
            .flat_map(|z| &z.pools)
            .flat_map(|p| &p.regions)
            .map(row)
            .collect();
        let mut width = HEAD.map(str::len);
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| {
            let mut s = String::from("    ");
            for (c, w) in cells.iter().zip(width).take(columns) {
                s.push_str(&format!("{c:<w$}  "));
            }
            writeln!(f, "{}", s.trim_end())
        };
        let mut rows = rows.iter();
        if let Some(c) = &self.cluster {
            cluster(f, c)?;
        }
        for z in &self.zones {
            writeln!(f, "zone {} ({})", z.zone, z.file)?;
            for k in &z.dnssec {
                let signs = if k.signs { "signs" } else { "published only" };
                let ds =
                    k.ds.as_deref()
                        .map_or(String::new(), |d| format!("; DS {d}"));
                writeln!(
                    f,
                    "  dnssec key {} {} {} {signs}{ds}",
                    k.tag,
                    crate::status::json_name(&k.role),
                    k.algorithm
                )?;
            }
            for p in &z.pools {
                let cut = p.cutover.map_or_else(
                    || "not probed".into(),
                    |c| format!("detection {}s, cutover {}s", c.detection, c.cutover),
                );
                writeln!(
                    f,
                    "  pool {} {} {} ttl {}s, {cut}",
                    p.pool, p.rtype, p.policy, p.ttl
                )?;
                if !p.answering.summary.is_empty() {
                    let mark = if p.answering.rule == Rule::Policy {
                        ""
                    } else {
                        "!! "
                    };
                    writeln!(f, "    {mark}{}", p.answering.summary)?;
                }
                if p.held {
                    writeln!(f, "    !! isolated: held at the last agreed regions")?;
                }
                line(f, &HEAD.map(String::from))?;
                for _ in &p.regions {
                    if let Some(r) = rows.next() {
                        line(f, r)?;
                    }
                }
            }
        }
        writeln!(f, "config generation {}", self.generation)?;
        if let Some(t) = self.transitions.first() {
            write!(
                f,
                "last transition: {} {} / {} {} -> {} ({})",
                t.zone, t.pool, t.region, t.from, t.to, t.reason
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{PoolStatus, ZoneStatus};

    fn region(name: &str, state: &str, serving: bool, live: f64) -> RegionStatus {
        RegionStatus {
            region: name.into(),
            addresses: vec!["192.0.2.1".into()],
            state: state.into(),
            serving,
            answered: serving,
            override_: None,
            configured_weight: 3,
            live_weight: live,
            priority: 0,
            target: None,
            last_probe: Some(LastProbe {
                outcome: "status=503".into(),
                latency_ms: 1.25,
                seconds_ago: 0.5,
            }),
            recent_probes: vec![],
            ok_streak: 0,
            fail_streak: 3,
            seconds_in_state: Some(75.0),
            votes: None,
        }
    }

    #[test]
    fn regions_line_up_under_their_pool() {
        let s = Status {
            queries_by_transport: Default::default(),
            cluster: None,
            generation: 2,
            orphaned_overrides: vec![],
            zones: vec![ZoneStatus {
                zone: "gslb.example.".into(),
                file: "zones/g.toml".into(),
                dnssec: Vec::new(),
                cutover: None,
                pools: vec![PoolStatus {
                    pool: "www".into(),
                    name: "www.gslb.example.".into(),
                    rtype: "A".into(),
                    policy: "weighted".into(),
                    ttl: 30,
                    on_all_down: "all".into(),
                    cutover: None,
                    held: false,
                    answering: crate::status::Answering {
                        rule: Rule::AllDownAll,
                        summary: "failing open: no region healthy, answering a, b".into(),
                    },
                    locations: vec![],
                    regions: vec![
                        region("us-east", "up", true, 1.5),
                        region("eu-west-long", "down", false, 0.0),
                    ],
                }],
            }],
            transitions: vec![],
        };
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "zone gslb.example. (zones/g.toml)");
        assert!(lines[1].starts_with("  pool www A weighted ttl 30s"));
        assert_eq!(
            lines[2],
            "    !! failing open: no region healthy, answering a, b"
        );
        let col = lines[3].find("STATE").expect("header");
        assert_eq!(lines[4].find("up "), Some(col));
        assert_eq!(lines[5].find("down"), Some(col));
        assert!(lines[4].contains("1.5/3") && lines[5].contains("0/3"));
        assert!(lines[5].contains("NO") && lines[5].contains("1m 15s"));
    }
}
