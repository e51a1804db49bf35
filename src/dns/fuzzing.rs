//! Entry points for the fuzz targets in `fuzz/` and their unit tests: the query path (fast and
//! full), TCP framing, and zone loading. Each runs the real code on arbitrary bytes and panics
//! when an invariant breaks; a panic anywhere else is a bug the fuzzer found.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::context::{Context, Received, Transport, size_limit};
use super::cookie::Secrets;
use super::fast;
use super::full::{first_question, full};
use super::handler::Handler;
use crate::health::{HealthTable, Outcome, Overrides, Snapshot};
use crate::wire::scan;

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
static SHARED_SECRETS: std::sync::LazyLock<super::cookie::Shared> =
    std::sync::LazyLock::new(|| Arc::new(arc_swap::ArcSwap::from_pointee(SECRETS)));

/// The context the fuzz targets and the unit tests answer in: a fixed cookie secret and clock.
pub(super) fn context(snap: &Snapshot, require_cookies: bool) -> Context<'_> {
    Context {
        key: None,
        snap,
        cookies: &SHARED_SECRETS,
        require_cookies,
        now: Some(NOW),
    }
}

/// [`ZONE`] and [`CHILD`] loaded, ready to answer fuzzed queries.
pub struct Fixture {
    snap: Snapshot,
    handler: Handler,
    runtime: tokio::runtime::Runtime,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let parent = format!(
            "{ZONE}[[records]]\nname = \"kid\"\ntype = \"NS\"\ndata = [\"ns1.t.example.\"]\n"
        );
        let sources = [
            (PathBuf::from("t.toml"), parent),
            (PathBuf::from("kid.toml"), CHILD.to_string()),
            (PathBuf::from("topology.toml"), MAP.to_string()),
        ];
        let snap = snapshot_of(&sources);
        let handler = Handler::new(Arc::new(arc_swap::ArcSwap::from_pointee(snapshot_of(
            &sources,
        ))));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a current-thread runtime");
        Fixture {
            snap,
            handler,
            runtime,
        }
    }

    /// One query: the first byte picks the transport (bit 0: TCP) and the cookie policy (bit 1:
    /// required); the rest is the message. The fast and the full path must agree byte for
    /// byte whenever the fast path answers, and every response must parse, carry the query's
    /// ID and question, and fit the transport's limit.
    pub fn query(&self, data: &[u8]) {
        let Some((&flags, bytes)) = data.split_first() else {
            return;
        };
        let transport = if flags & 1 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        let ctx = context(&self.snap, flags & 2 != 0);
        let query = Received {
            bytes,
            src: "192.0.2.99:5300".parse::<SocketAddr>().expect("address"),
            transport,
        };
        let mut fast_out = Vec::new();
        let fast = fast::respond(&ctx, query, &mut SmallRng::seed_from_u64(1), &mut fast_out);
        let mut full_out = Vec::new();
        let full = full(&ctx, query, &mut SmallRng::seed_from_u64(1), &mut full_out);
        if fast.is_some() {
            assert!(
                full.is_some(),
                "the fast path answered, the full path did not"
            );
            assert_eq!(fast_out, full_out, "fast and full paths disagree");
        }
        if full.is_none() {
            return;
        }
        check_response(bytes, &full_out, transport);
    }

    /// A TCP byte stream through the real connection loop: every response goes out as one
    /// complete frame, at most one per complete query frame, and each parses.
    pub fn tcp(&self, stream: &[u8]) {
        let complete = complete_frames(stream);
        let mut io = tokio::io::join(stream, Vec::new());
        let src = "192.0.2.99:5300".parse::<SocketAddr>().expect("address");
        self.runtime
            .block_on(super::tcp::session(&mut io, src, self.handler.clone()));
        let (_, written) = io.into_inner();
        let mut at = 0;
        let mut frames = 0;
        while at < written.len() {
            let len = written
                .get(at..at + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .expect("a whole length prefix");
            let msg = written.get(at + 2..at + 2 + len).expect("a whole frame");
            let m = Message::from_vec(msg).expect("every TCP response parses");
            assert_eq!(m.metadata.message_type, MessageType::Response);
            at += 2 + len;
            frames += 1;
        }
        assert!(
            frames <= complete,
            "{frames} responses to {complete} queries"
        );
    }
}

/// The invariants of a response to `query`.
fn check_response(query: &[u8], response: &[u8], transport: Transport) {
    let m = match Message::from_vec(response) {
        Ok(m) => m,
        Err(e) => panic!("the response does not parse: {e}"),
    };
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(response.get(..2), query.get(..2), "the query's ID");
    let opt = scan::Scan::of(query).opt;
    let limit = size_limit(transport, opt.map(|o| o.payload));
    assert!(response.len() <= usize::from(limit), "over the size limit");
    if let (Some(asked), Some(answered)) = (first_question(query), m.queries.first()) {
        assert_eq!(&asked, answered, "the query's question");
    }
}

/// How many complete length-prefixed frames `stream` holds.
fn complete_frames(stream: &[u8]) -> usize {
    let mut at = 0;
    let mut n = 0;
    while let Some(b) = stream.get(at..at + 2) {
        let end = at + 2 + usize::from(u16::from_be_bytes([b[0], b[1]]));
        if end > stream.len() {
            break;
        }
        n += 1;
        at = end;
    }
    n
}

/// A zone file's text through `check`'s validation: an error names the file, line and
/// column; a valid set gets its cutover report and N-1 table without panicking.
pub fn zone(text: &str) {
    match crate::config::from_str(Path::new("fuzz.toml"), text) {
        Err(errors) => {
            for e in errors.0 {
                let shown = e.to_string();
                assert!(
                    shown.starts_with("fuzz.toml"),
                    "an error without its file: {shown}"
                );
            }
        }
        Ok(set) => {
            let _ = crate::check::report(&set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_targets_run_on_their_seed_inputs() {
        let f = Fixture::new();
        let mut q = vec![0u8];
        q.extend_from_slice(&[
            0, 7, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'w', b'w', 1, b't',
        ]);
        q.extend_from_slice(&[7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0, 0, 1, 0, 1]);
        f.query(&q);
        q[0] = 1;
        f.query(&q);
        let mut stream = vec![0, u8::try_from(q.len() - 1).expect("short")];
        stream.extend_from_slice(&q[1..]);
        stream.extend_from_slice(&stream.clone());
        stream.push(0);
        f.tcp(&stream);
        zone(ZONE);
        zone("origin = 1");
    }
}
