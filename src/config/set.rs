//! Checks that need the whole zone set: one origin per file, no parent-zone data hidden by a
//! child zone served here, and no CNAME loop (within a zone or across zones).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use hickory_proto::rr::{LowerName, RData, RecordType};

use super::build::Built;
use super::{ConfigError, Source};

/// One built zone with the text it came from.
pub(super) struct Loaded<'a> {
    pub built: Built,
    pub src: Source<'a>,
}

/// Every set-level problem, in file order.
pub(super) fn check(zones: &[Loaded<'_>]) -> Vec<ConfigError> {
    let mut errors = one_origin_per_file(zones);
    if errors.is_empty() {
        errors.extend(hidden_by_child_zones(zones));
        errors.extend(cname_loops(zones));
    }
    errors
}

fn one_origin_per_file(zones: &[Loaded<'_>]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut seen: HashMap<_, PathBuf> = HashMap::new();
    for z in zones {
        let zone = &z.built.zone;
        if let Some(first) = seen.get(&zone.origin) {
            errors.push(ConfigError::Invalid {
                path: zone.file.clone(),
                line: z.built.origin_at.0,
                col: z.built.origin_at.1,
                message: format!(
                    "origin \"{}\" is already served by {}",
                    zone.origin_name,
                    first.display()
                ),
            });
        } else {
            seen.insert(zone.origin.clone(), zone.file.clone());
        }
    }
    errors
}

/// Data in a parent zone at or below a child zone's origin is never answered: the child zone
/// is authoritative there. Only the delegation itself (NS at the child's origin) and address
/// glue beneath it belong in the parent.
fn hidden_by_child_zones(zones: &[Loaded<'_>]) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for parent in zones {
        let p = &parent.built.zone;
        for child in zones {
            let c = &child.built.zone;
            if c.origin == p.origin || !p.origin.zone_of(&c.origin) {
                continue;
            }
            let delegated = p.nodes.get(&c.origin).is_some_and(|n| n.delegation);
            let mut hidden: Vec<(&LowerName, usize)> = parent
                .built
                .spans
                .iter()
                .filter(|(name, _)| c.origin.zone_of(name))
                .filter(|(name, _)| {
                    let Some(node) = p.nodes.get(*name) else {
                        return false;
                    };
                    let allowed = |t: RecordType| {
                        matches!(t, RecordType::A | RecordType::AAAA)
                            || (t == RecordType::NS && **name == c.origin)
                    };
                    !delegated
                        || !node.pools.is_empty()
                        || node.rrsets.iter().any(|s| !allowed(s.rtype))
                })
                .map(|(n, at)| (n, *at))
                .collect();
            hidden.sort_by_key(|(_, at)| *at);
            if let Some((name, at)) = hidden.first() {
                errors.push(parent.src.error(
                    *at..*at,
                    format!(
                        "data at \"{name}\" is hidden by zone \"{}\" ({}), which is authoritative there",
                        c.origin_name,
                        c.file.display()
                    ),
                ));
            }
        }
    }
    errors
}

/// Follows every CNAME through the zones served here; a chain that comes back to a name it
/// passed is a loop, which no resolver can finish.
fn cname_loops(zones: &[Loaded<'_>]) -> Vec<ConfigError> {
    let mut targets: HashMap<&LowerName, LowerName> = HashMap::new();
    for z in zones {
        for (name, node) in &z.built.zone.nodes {
            let target = node
                .rrset(RecordType::CNAME)
                .and_then(|s| s.records.first())
                .and_then(|r| match &r.data {
                    RData::CNAME(t) => Some(LowerName::new(&t.0)),
                    _ => None,
                });
            if let Some(t) = target {
                targets.insert(name, t);
            }
        }
    }
    let mut errors = Vec::new();
    let mut reported: HashSet<LowerName> = HashSet::new();
    for z in zones {
        let mut owners: Vec<(&LowerName, usize)> = z
            .built
            .spans
            .iter()
            .filter(|(n, _)| targets.contains_key(n))
            .map(|(n, at)| (n, *at))
            .collect();
        owners.sort_by_key(|(_, at)| *at);
        for (start, at) in owners {
            let mut seen = vec![start.clone()];
            let mut at_name = start;
            while let Some(next) = targets.get(at_name) {
                if seen.contains(next) {
                    if next == start && reported.insert(start.clone()) {
                        let chain: Vec<String> = seen.iter().map(|n| n.to_string()).collect();
                        errors.push(z.src.error(
                            at..at,
                            format!("CNAME loop: {} -> {next}", chain.join(" -> ")),
                        ));
                    }
                    break;
                }
                seen.push(next.clone());
                let Some((key, _)) = targets.get_key_value(next) else {
                    break;
                };
                at_name = key;
            }
        }
    }
    errors
}
