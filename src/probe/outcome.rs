//! The classified result of one probe ([`Outcome`]) and its bounded metric labels: what a
//! check produces and health consumes.

/// The classified result of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Refused,
    Timeout,
    Reset,
    Dns,
    Tls,
    Status(u16),
    BodyMismatch,
    Error,
}

impl Outcome {
    pub fn is_ok(self) -> bool {
        self == Outcome::Ok
    }

    /// Every [`Outcome::label`], in [`Outcome::index`] order.
    pub const LABELS: [&'static str; 9] = [
        "ok",
        "refused",
        "timeout",
        "reset",
        "dns",
        "tls",
        "status",
        "body_mismatch",
        "error",
    ];

    /// The position of this outcome's label in [`Outcome::LABELS`].
    pub fn index(self) -> usize {
        match self {
            Outcome::Ok => 0,
            Outcome::Refused => 1,
            Outcome::Timeout => 2,
            Outcome::Reset => 3,
            Outcome::Dns => 4,
            Outcome::Tls => 5,
            Outcome::Status(_) => 6,
            Outcome::BodyMismatch => 7,
            Outcome::Error => 8,
        }
    }

    /// A bounded label (for metrics; the status code is in [`Outcome`]'s Display).
    pub fn label(self) -> &'static str {
        Self::LABELS[self.index()]
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Status(code) => write!(f, "status={code}"),
            other => f.write_str(other.label()),
        }
    }
}
