//! The snapshot a health verdict publishes is what the very next lookup reads (moved from
//! health's tests: it needs the lookup).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use super::{Question, resolve};
use crate::health::{HealthTable, Outcome, Overrides, Shared, State};
use crate::select::ClientKey;

const MS: Duration = Duration::from_millis(1);

#[test]
fn the_next_lookup_after_a_verdict_sees_it() {
    let text = "origin = \"t.example.\"\n[soa]\nmname = \"ns.t.example.\"\nrname = \"h.t.example.\"\n\
                [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns.t.example.\"]\n\
                [pools.www]\ntype = \"A\"\npolicy = \"all\"\non_all_down = \"none\"\n\
                [pools.www.probe]\nfall = 1\n\
                [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n";
    let now = Instant::now();
    let zones = Arc::new(crate::config::from_str(Path::new("t.toml"), text).expect("valid"));
    let mut table = HealthTable::new(zones, None, now);
    let shared: Shared = Arc::new(ArcSwap::from_pointee(table.snapshot(&Overrides::new())));
    let name = hickory_proto::rr::Name::from_ascii("www.t.example.").expect("name");
    let lower = hickory_proto::rr::LowerName::new(&name);
    let q = Question {
        name: &lower,
        original: &name,
        qtype: hickory_proto::rr::RecordType::A,
        minimal_any: false,
    };
    let client = ClientKey::from_source("127.0.0.1".parse().expect("ip"));
    let mut rng = rand::rng();
    assert_eq!(
        resolve(&shared.load(), &q, &client, &mut rng, now)
            .answers
            .len(),
        1
    );

    // The engine's step: observe, then publish. No sleep before the next lookup.
    let t = table
        .observe(0, Outcome::Refused, MS, now)
        .expect("transition");
    assert_eq!(t.to, State::Down);
    shared.store(Arc::new(table.snapshot(&Overrides::new())));
    assert!(
        resolve(&shared.load(), &q, &client, &mut rng, now)
            .answers
            .is_empty()
    );
}
