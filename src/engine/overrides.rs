//! Operator overrides in the engine: setting and clearing them (canonical names, orphans),
//! the `min_serving` guard that refuses a drain leaving a pool too thin, persisting them, and
//! ending drills when their time is up (on the monotonic clock).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use tracing::{error, info, warn};

use super::Engine;
use super::handle::{Applied, OverrideError, OverrideRequest};
use crate::health::{Override, RegionKey};
use crate::status::TransitionRecord;
use crate::telemetry;

/// Seconds since the UNIX epoch.
pub fn unix_now() -> u64 {
    unix_now_ms() / 1000
}

/// Milliseconds since the UNIX epoch.
pub fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Engine {
    pub(super) fn set_override(
        &mut self,
        key: RegionKey,
        req: OverrideRequest,
    ) -> Result<Applied, OverrideError> {
        let zones = self.table.zones().clone();
        let name = || format!("{}/{}/{}", key.zone, key.pool, key.region);
        let key = match (key.canonical(&zones), req.action) {
            // The same override again (a drill is renewed) or clearing none changes nothing:
            // no log, no transition, no write.
            (Some(k), Some(a))
                if self.overrides.get(&k) == Some(&a) && !matches!(a, Override::Drill { .. }) =>
            {
                return Ok(Applied {
                    key: k,
                    not_persisted: None,
                });
            }
            (Some(k), None) if !self.overrides.contains_key(&k) => {
                return Ok(Applied {
                    key: k,
                    not_persisted: None,
                });
            }
            (Some(k), Some(a)) => {
                if let (Override::Drill { .. }, Some(held)) = (a, self.overrides.get(&k))
                    && !matches!(held, Override::Drill { .. })
                {
                    return Err(OverrideError::Overridden(format!(
                        "{} has an operator override ({}); a drill would replace it and clear \
                         it when it ends: undrain it first, or drill another region",
                        name(),
                        held.name()
                    )));
                }
                if a.takes_out() && !req.force {
                    self.check_min_serving(&k)?;
                }
                self.overrides.insert(k.clone(), a);
                k
            }
            (Some(k), None) => {
                self.overrides.remove(&k);
                k
            }
            // An orphaned override (its region left the zones) can still be cleared.
            (None, None) => {
                let Some(k) = self.orphaned.keys().find(|k| k.same_region(&key)).cloned() else {
                    return Err(OverrideError::NoRegion(name()));
                };
                self.orphaned.remove(&k);
                k
            }
            (None, Some(_)) => return Err(OverrideError::NoRegion(name())),
        };
        let persisted = self.persist();
        let what = req.action.map_or("cleared", |a| a.name());
        warn!(
            zone = key.zone,
            pool = key.pool,
            region = key.region,
            action = what,
            "operator override"
        );
        telemetry::transition(&key.zone, &key.pool, &key.region, what);
        self.remember(TransitionRecord::new(&key, "-", what, "operator".into()));
        self.publish();
        Ok(Applied {
            key,
            not_persisted: persisted.err(),
        })
    }

    /// Refuses to take `key` out when its pool would then have fewer serving regions than
    /// its `min_serving`.
    fn check_min_serving(&self, key: &RegionKey) -> Result<(), OverrideError> {
        let zones = self.table.zones().clone();
        let Some((zone, pool)) = zones
            .zones
            .iter()
            .find(|z| z.origin_name.to_string() == key.zone)
            .and_then(|z| z.pools.iter().find(|p| p.key == key.pool).map(|p| (z, p)))
        else {
            return Ok(());
        };
        if pool.min_serving == 0 {
            return Ok(());
        }
        let live = self.table.live(&self.overrides);
        let serving = pool
            .regions
            .iter()
            .filter(|r| r.name != key.region)
            .filter(|r| live.region(r.id).is_some_and(|l| l.serving))
            .count();
        if serving < pool.min_serving {
            return Err(OverrideError::BelowMinServing(format!(
                "taking {} out would leave {serving} serving region(s) in {} {}, below its \
                 min_serving = {}; add ?force=true to do it anyway",
                key.region, zone.origin_name, pool.key, pool.min_serving
            )));
        }
        Ok(())
    }

    /// Saves every override (the orphaned ones too) and the last published serials; the
    /// error says why it could not.
    pub(super) fn persist(&self) -> Result<(), String> {
        let mut overrides = self.overrides.clone();
        overrides.extend(self.orphaned.iter().map(|(k, a)| (k.clone(), *a)));
        let serials = self
            .xfr
            .as_ref()
            .map_or_else(|| self.serials.clone(), |x| x.last_serials().clone());
        // An override applies whether or not it could be kept: an operator in an incident
        // needs it now. The reply says when it will not survive a restart.
        let saved = crate::state::Saved { overrides, serials };
        crate::state::save(&self.state_file, &saved).map_err(|e| {
            let e = format!(
                "{e}: {}",
                std::error::Error::source(&e).map_or(String::new(), |s| s.to_string())
            );
            error!(error = %e, "the state file could not be saved (overrides and serials apply but do not survive a restart)");
            e
        })
    }

    /// When each drill (orphaned ones included) ends on the monotonic clock: taken from the
    /// wall clock once, when the drill is first seen (set, loaded at start, or replaced), and
    /// kept from then on, so a wall-clock step neither lengthens a drill nor ends it early.
    fn drill_deadlines(&mut self) -> Vec<(RegionKey, Instant)> {
        let drills: Vec<(RegionKey, u64, Option<u64>)> = self
            .overrides
            .iter()
            .chain(self.orphaned.iter())
            .filter_map(|(k, o)| Some((k.clone(), o.drill_end_ms()?, o.drill_length_ms())))
            .collect();
        let (now, wall) = (Instant::now(), unix_now_ms());
        let mut kept = HashMap::with_capacity(drills.len());
        for (key, end_ms, length_ms) in drills {
            let at = match self.drill_ends.get(&key) {
                Some(&(ms, at)) if ms == end_ms => at,
                _ => now + drill_left(end_ms, length_ms, wall),
            };
            kept.insert(key, (end_ms, at));
        }
        self.drill_ends = kept;
        self.drill_ends
            .iter()
            .map(|(k, (_, at))| (k.clone(), *at))
            .collect()
    }

    /// How long until the next drill ends (`None`: no drill), orphaned ones included.
    pub(super) fn next_drill_end(&mut self) -> Option<Duration> {
        let now = Instant::now();
        self.drill_deadlines()
            .into_iter()
            .map(|(_, at)| at.saturating_duration_since(now))
            .min()
    }

    /// Clears every drill whose time is up.
    pub(super) fn end_drills(&mut self) {
        let now = Instant::now();
        let ended: Vec<RegionKey> = self
            .drill_deadlines()
            .into_iter()
            .filter(|(_, at)| *at <= now)
            .map(|(k, _)| k)
            .collect();
        if ended.is_empty() {
            return;
        }
        for key in &ended {
            // A drill whose region a reload removed ends on time too.
            self.overrides.remove(key);
            self.orphaned.remove(key);
            info!(
                zone = key.zone,
                pool = key.pool,
                region = key.region,
                "drill ended; the region is back under its probes"
            );
            telemetry::transition(&key.zone, &key.pool, &key.region, "cleared");
            self.remember(TransitionRecord::new(
                key,
                "-",
                "cleared",
                "drill ended".into(),
            ));
        }
        let _ = self.persist();
        self.publish();
    }
}

/// What is left of a drill that ends at `end_ms` (wall clock) when first seen at `wall`: never
/// more than its length (after a restart with the clock stepped back, the saved end is further
/// away than that), and for a drill saved without its length (before lengths were kept, or
/// edited by hand) never more than the longest drill.
fn drill_left(end_ms: u64, length_ms: Option<u64>, wall: u64) -> Duration {
    let most = length_ms.unwrap_or(crate::health::MAX_DRILL_MS);
    Duration::from_millis(end_ms.saturating_sub(wall).min(most))
}

#[cfg(test)]
mod tests {
    use super::drill_left;
    use std::time::Duration;

    #[test]
    fn a_drill_never_has_more_left_than_its_length_or_a_day() {
        let ms = Duration::from_millis;
        assert_eq!(drill_left(10_000, Some(5_000), 7_000), ms(3_000));
        // The clock stepped back 300 s across a restart: the length bounds it.
        assert_eq!(drill_left(310_000, Some(5_000), 10_000), ms(5_000));
        // No length saved (an older state file, or edited): at most a day.
        assert_eq!(drill_left(u64::MAX, None, 0), ms(24 * 3600 * 1000));
        assert_eq!(drill_left(1_000, None, 5_000), ms(0));
    }
}
