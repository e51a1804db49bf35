//! The zones, topology map, snapshot and answering context the query path's unit tests and
//! the fuzz targets (`crate::fuzzing`) answer with: every kind of name the query path treats
//! differently, a fixed cookie secret and a fixed clock.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::Context;
use super::cookie::{self, Secrets};
use crate::health::{HealthTable, Outcome, Overrides, Snapshot};

/// A zone with every kind of name the query path treats differently: static sets, a big set,
/// pools of every policy (one failed over to its fallback, one with nothing serving), a CNAME,
/// a delegation with glue.
pub const ZONE: &str = r#"
origin = "t.example."
ttl = 300
[soa]
mname = "ns1.t.example."
rname = "h.t.example."
[[records]]
name = "@"
type = "NS"
data = ["ns1.t.example.", "ns1.sub.t.example."]
[[records]]
name = "@"
type = "MX"
data = ["10 mail.t.example."]
[[records]]
name = "@"
type = "TXT"
data = ["v=spf1 -all", "second string"]
[[records]]
name = "@"
type = "CAA"
data = ["0 issue \"ca.example\""]
[[records]]
name = "ns1"
type = "A"
data = ["198.51.100.53"]
[[records]]
name = "mail"
type = "AAAA"
data = ["2001:db8::25"]
[[records]]
name = "alias"
type = "CNAME"
data = ["www"]
[[records]]
name = "sub"
type = "NS"
data = ["ns1.sub.t.example."]
[[records]]
name = "ns1.sub"
type = "A"
data = ["198.51.100.54"]
[[records]]
name = "big"
type = "A"
data = [
  "192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7",
  "192.0.2.8", "192.0.2.9", "192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13",
  "192.0.2.14", "192.0.2.15", "192.0.2.16", "192.0.2.17", "192.0.2.18", "192.0.2.19",
  "192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23", "192.0.2.24", "192.0.2.25",
  "192.0.2.26", "192.0.2.27", "192.0.2.28", "192.0.2.29", "192.0.2.30", "192.0.2.31",
  "192.0.2.32", "192.0.2.33", "192.0.2.34", "192.0.2.35", "192.0.2.36",
]

[pools.www]
type = "A"
ttl = 30
answers = 2
[pools.www.regions.a]
addresses = ["192.0.2.10", "192.0.2.11"]
weight = 3
[pools.www.regions.b]
addresses = ["192.0.2.20"]
weight = 2
[pools.www.regions.c]
addresses = ["192.0.2.30"]

[pools.www6]
name = "www"
type = "AAAA"
policy = "all"
[pools.www6.regions.a]
addresses = ["2001:db8::10"]
[pools.www6.regions.b]
addresses = ["2001:db8::20"]

[pools.api]
type = "A"
policy = "failover"
on_all_down = "fallback"
fallback = ["198.51.100.200"]
[pools.api.probe]
fall = 1
[pools.api.regions.one]
addresses = ["192.0.2.41"]
priority = 1
check = "http://127.0.0.1:1/"

[pools.sticky]
type = "A"
policy = "hashed"
[pools.sticky.regions.a]
addresses = ["192.0.2.51"]
[pools.sticky.regions.b]
addresses = ["192.0.2.52"]
[pools.sticky.regions.c]
addresses = ["192.0.2.53"]

[pools.near]
type = "A"
policy = "topology"
[pools.near.regions.east]
addresses = ["192.0.2.71"]
[pools.near.regions.west]
addresses = ["192.0.2.72"]
[pools.near.regions.west2]
addresses = ["192.0.2.73"]
location = "west"

[pools.dark]
type = "A"
on_all_down = "none"
[pools.dark.probe]
fall = 1
[pools.dark.regions.one]
addresses = ["192.0.2.61"]
check = "http://127.0.0.1:2/"
"#;

/// The topology map of [`ZONE`]'s `near` pool (IPv4 and IPv6 networks, a default).
pub const MAP: &str = r#"
default = ["west"]
[locations.east]
networks = ["198.51.100.0/24", "10.0.0.0/8", "2001:db8:1::/48"]
prefer = ["east", "west"]
[locations.west]
networks = ["203.0.113.0/24"]
"#;

/// A child zone served beside [`ZONE`], delegated from it.
pub const CHILD: &str = r#"
origin = "kid.t.example."
[soa]
mname = "ns1.t.example."
rname = "h.t.example."
[[records]]
name = "@"
type = "NS"
data = ["ns1.t.example."]
[[records]]
name = "www"
type = "A"
data = ["192.0.2.201"]
"#;

/// The zones loaded with both probed targets down (`api` answers its fallback, `dark` is empty).
pub fn snapshot_of(sources: &[(PathBuf, String)]) -> Snapshot {
    let zones = crate::config::from_sources(sources).expect("valid zones");
    let now = Instant::now();
    let mut table = HealthTable::new(Arc::new(zones), None, now);
    for target in 0..2 {
        table.observe(target, Outcome::Refused, Duration::from_millis(1), now);
    }
    table.snapshot(&Overrides::new())
}

/// The cookie secret and clock the fuzz targets answer with.
const SECRETS: Secrets = Secrets {
    current: [9; 16],
    previous: None,
};
const NOW: u32 = 1_700_000_000;
static SHARED_SECRETS: std::sync::LazyLock<cookie::Shared> =
    std::sync::LazyLock::new(|| Arc::new(arc_swap::ArcSwap::from_pointee(SECRETS)));

/// The context the fuzz targets and the unit tests answer in: a fixed cookie secret and clock.
pub(crate) fn context(snap: &Snapshot, require_cookies: bool) -> Context<'_> {
    Context {
        key: None,
        snap,
        cookies: &SHARED_SECRETS,
        require_cookies,
        now: Some(NOW),
    }
}
