//! Entry points for the fuzz targets in `fuzz/` and their unit tests: the query path (fast and
//! full, answering `dns::fixture`'s zones), TCP framing, and zone loading. Each runs the real code on arbitrary bytes and panics
//! when an invariant breaks; a panic anywhere else is a bug the fuzzer found.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType};
use rand::SeedableRng;
use rand::rngs::SmallRng;

use crate::dns::context::{Received, Transport, size_limit};
use crate::dns::fixture::{CHILD, MAP, ZONE, context, snapshot_of};
use crate::dns::full::{first_question, full};
use crate::dns::{Handler, fast, tcp};
use crate::health::Snapshot;
use crate::wire::scan;

/// [`ZONE`] (signed, so DO=1 queries take the signing paths) and [`CHILD`] loaded, ready to
/// answer fuzzed queries.
pub struct Fixture {
    snap: Snapshot,
    handler: Handler,
    runtime: tokio::runtime::Runtime,
    /// Holds the zone's key file.
    _keys: tempfile::TempDir,
}

/// The fixture's zones as loaded, with the parent signed by a key written to `keys`.
fn signed_snapshot(sources: &[(PathBuf, String)]) -> Snapshot {
    let mut snap = snapshot_of(sources);
    // A fixed instant inside the windows' range, so every run signs the same way.
    let signed =
        crate::dnssec::Signed::build(&snap.zones, None, 1_796_000_000).expect("the fixture signs");
    snap.dnssec = Arc::new(crate::dnssec::Published::new(Arc::new(signed)));
    snap
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let keys = tempfile::tempdir().expect("a directory for the key");
        let key = keys.path().join("k.pem");
        let origin = hickory_proto::rr::Name::from_ascii("t.example.").expect("origin");
        crate::dnssec::generate(&origin, crate::dnssec::KeyAlgorithm::Ed25519)
            .and_then(|k| k.write_pem(&key))
            .expect("the fixture's key");
        let parent = format!(
            "{ZONE}[[records]]\nname = \"kid\"\ntype = \"NS\"\ndata = [\"ns1.t.example.\"]\n\
             [dnssec]\nkeys = [{{ file = \"{}\" }}]\n",
            key.display()
        );
        let sources = [
            (PathBuf::from("t.toml"), parent),
            (PathBuf::from("kid.toml"), CHILD.to_string()),
            (PathBuf::from("topology.toml"), MAP.to_string()),
        ];
        let snap = signed_snapshot(&sources);
        let handler = Handler::new(Arc::new(arc_swap::ArcSwap::from_pointee(signed_snapshot(
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
            _keys: keys,
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
            .block_on(tcp::session(&mut io, src, self.handler.clone()));
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
