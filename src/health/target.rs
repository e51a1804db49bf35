//! The rise/fall state machine of one probe target: where it stands ([`State`]), what a result
//! does to it ([`TargetState::observe`]) and the [`Transition`] it reports.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{Outcome, Recent};
use crate::zone::{Initial, ProbeSpec};

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// No verdict yet; counts as the pool's `initial` setting.
    Unknown,
    Up,
    Down,
}

/// A state change of one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: Outcome,
    /// Consecutive results that caused it.
    pub count: u32,
}

/// The state machine of one probe target.
#[derive(Debug, Clone)]
pub struct TargetState {
    pub state: State,
    pub ok_streak: u32,
    pub fail_streak: u32,
    /// When the state last changed (or the target was first seen).
    pub since: Instant,
    /// When it last went down (for `hold_down`).
    pub down_at: Option<Instant>,
    /// When it last came back from down (for `slow_start`).
    pub recovered_at: Option<Instant>,
    pub last: Option<(Outcome, Duration, Instant)>,
    /// The latest probe results, for the status page's timeline.
    pub recent: Recent,
    fall: u32,
    rise: u32,
    initial: Initial,
    hold_down: Option<Duration>,
}

impl TargetState {
    pub fn new(spec: &ProbeSpec, now: Instant) -> Self {
        TargetState {
            state: State::Unknown,
            ok_streak: 0,
            fail_streak: 0,
            since: now,
            down_at: None,
            recovered_at: None,
            last: None,
            recent: Recent::default(),
            fall: spec.fall,
            rise: spec.rise,
            initial: spec.initial,
            hold_down: spec.hold_down,
        }
    }

    /// The same state, streaks and times under `spec`'s thresholds (after a reload changed
    /// them).
    pub fn with_settings(&self, spec: &ProbeSpec) -> Self {
        TargetState {
            fall: spec.fall,
            rise: spec.rise,
            initial: spec.initial,
            hold_down: spec.hold_down,
            ..self.clone()
        }
    }

    /// Whether DNS may answer with this target's regions.
    pub fn serving(&self) -> bool {
        match self.state {
            State::Up => true,
            State::Down => false,
            State::Unknown => self.initial == Initial::Up,
        }
    }

    /// Feeds one probe result; returns the transition it caused, if any.
    pub fn observe(
        &mut self,
        outcome: Outcome,
        latency: Duration,
        now: Instant,
    ) -> Option<Transition> {
        self.last = Some((outcome, latency, now));
        self.recent.push(outcome.is_ok());
        let from = self.state;
        if outcome.is_ok() {
            self.ok_streak = self.ok_streak.saturating_add(1);
            self.fail_streak = 0;
            let held = match (self.down_at, self.hold_down) {
                (Some(at), Some(hold)) => now < at + hold,
                _ => false,
            };
            if from != State::Up && self.ok_streak >= self.rise && !held {
                self.state = State::Up;
                self.since = now;
                if from == State::Down {
                    self.recovered_at = Some(now);
                }
                return Some(Transition {
                    from,
                    to: State::Up,
                    reason: outcome,
                    count: self.ok_streak,
                });
            }
        } else {
            self.fail_streak = self.fail_streak.saturating_add(1);
            self.ok_streak = 0;
            if from != State::Down && self.fail_streak >= self.fall {
                self.state = State::Down;
                self.since = now;
                self.down_at = Some(now);
                self.recovered_at = None;
                return Some(Transition {
                    from,
                    to: State::Down,
                    reason: outcome,
                    count: self.fail_streak,
                });
            }
        }
        None
    }
}
