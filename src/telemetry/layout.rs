//! The labels a caller hands telemetry: what one zone load serves ([`Layout`], from which the
//! [`Handles`](super::Handles) are made), a pool's answer as counted ([`Answer`]) and a region's
//! gauge values at a scrape ([`RegionGauges`]). Telemetry's own vocabulary, so it names no type
//! of the layers that report to it.

/// Everything one zone load serves, as its series are labelled.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The zones, in zone index order.
    pub zones: Vec<ZoneLayout>,
    /// The probe targets, in target id order.
    pub targets: Vec<TargetLayout>,
    /// Every value of the `outcome` label of probe results, in the order the caller indexes
    /// them by.
    pub outcomes: &'static [&'static str],
}

/// One zone's labels.
#[derive(Debug, Clone)]
pub struct ZoneLayout {
    /// The `zone` label (the origin, with its final dot).
    pub name: String,
    /// Its pools, in pool index order.
    pub pools: Vec<PoolLayout>,
}

/// One pool's labels.
#[derive(Debug, Clone)]
pub struct PoolLayout {
    /// The `pool` label.
    pub key: String,
    /// The computed worst cases, in seconds: detection, cutover, readmission, recovery
    /// (`None`: not computed for this pool, no gauge).
    pub worst: Option<[f64; 4]>,
    /// Its regions, in region index order.
    pub regions: Vec<RegionLayout>,
    /// Topology pools: by client location (the default entry last), the `location` label and
    /// the `from` label of each step of its list. Empty for the other policies.
    pub topology: Vec<(String, Vec<String>)>,
}

/// One region's labels.
#[derive(Debug, Clone)]
pub struct RegionLayout {
    /// The `region` label.
    pub name: String,
    /// The `tier` label of its policy answers (1-based; 1 for every policy but failover).
    pub tier: usize,
}

/// One probe target's labels.
#[derive(Debug, Clone)]
pub struct TargetLayout {
    /// The `target` label.
    pub target: String,
    /// The `kind` label of its histograms (`http`, `https`, `tcp`).
    pub kind: &'static str,
}

/// The all-down rule an answer came from, as the `kind` label of
/// [`DNS_ALL_DOWN_TOTAL`](super::DNS_ALL_DOWN_TOTAL) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllDownKind {
    All,
    None,
    Servfail,
    Fallback,
}

impl AllDownKind {
    /// Its index among the pool's all-down counters.
    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// Its `kind` label.
    pub(super) fn label(self) -> &'static str {
        ["all", "none", "servfail", "fallback"][self.index()]
    }
}

/// A pool's answer, as it is counted.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The regions answered, as indexes into the pool's regions.
    pub regions: &'a [usize],
    /// The all-down rule that answered (`None`: the pool's policy).
    pub all_down: Option<AllDownKind>,
    /// Topology answers: the client's location (`None`: the default entry) and the step.
    pub topology: Option<(Option<usize>, usize)>,
}

/// A region's gauge values at a scrape.
#[derive(Debug, Clone, Copy)]
pub struct RegionGauges {
    /// DNS answers with it.
    pub up: bool,
    /// Its live weight in configured units.
    pub weight: f64,
    /// An operator override is set on it.
    pub overridden: bool,
}
