//! Large zone files parsed a piece at a time.
//!
//! `toml` lexes a whole document into token and event buffers and builds its whole tree before
//! serde sees a field: for the 7.4 MiB benchmark file that is about 300 MiB at once, beside the
//! zone set that keeps serving through a reload. A file of [`MIN_LEN`] bytes or more is cut at
//! lines that open a `[[records]]` entry or a `[pools.NAME]` table, into pieces of about
//! [`PIECE_LEN`]; each piece is parsed alone and merged into one [`RawZone`] whose top-level spans
//! (each record, each pool key, the SOA table) count from the start of the file.
//!
//! The cut is conservative and the whole-file parse stays the reference: a file with multi-line
//! strings, or with `records`, `pools` or `soa` written as root keys, is not cut; a piece that
//! does not parse, or two pieces that define the same table, return `None`; and the caller parses
//! the whole file again whenever building from the merged pieces fails, so every error is the
//! whole-file parse's, with its `line:col`.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Deserialize;
use toml::Spanned;

use super::raw::{RawDnssec, RawPool, RawRecord, RawSoa, RawZone};

/// Files shorter than this are parsed whole.
pub(super) const MIN_LEN: usize = 1 << 20;
/// A piece ends at the first cut after this many bytes.
const PIECE_LEN: usize = 256 << 10;

/// What a piece after the first may hold: only tables (root keys come before any header).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    soa: Option<Spanned<RawSoa>>,
    dnssec: Option<Spanned<RawDnssec>>,
    #[serde(default)]
    records: Vec<Spanned<RawRecord>>,
    #[serde(default)]
    pools: BTreeMap<Spanned<String>, Spanned<RawPool>>,
}

/// The file parsed piece by piece, or `None` when it must be parsed whole.
pub(super) fn parse(text: &str) -> Option<RawZone> {
    let cuts = cuts(text)?;
    let mut zone: RawZone = toml::from_str(text.get(..*cuts.get(1)?)?).ok()?;
    for piece in cuts.windows(2).skip(1) {
        let base = piece[0];
        let part: RawPart = toml::from_str(text.get(piece[0]..piece[1])?).ok()?;
        if let Some(soa) = part.soa {
            if zone.soa.is_some() {
                return None;
            }
            zone.soa = Some(shift(soa, base));
        }
        if let Some(dnssec) = part.dnssec {
            if zone.dnssec.is_some() {
                return None;
            }
            zone.dnssec = Some(shift(dnssec, base));
        }
        zone.records
            .extend(part.records.into_iter().map(|r| shift(r, base)));
        for (key, pool) in part.pools {
            match zone.pools.entry(shift(key, base)) {
                Entry::Occupied(_) => return None,
                Entry::Vacant(v) => {
                    v.insert(shift(pool, base));
                }
            }
        }
    }
    Some(zone)
}

/// Byte offsets of the pieces' bounds (from 0 to the end), when the file is cut in two or more.
fn cuts(text: &str) -> Option<Vec<usize>> {
    if text.len() < MIN_LEN || text.contains("\"\"\"") || text.contains("'''") {
        return None;
    }
    let mut cuts = vec![0];
    let mut in_tables = false;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        if line.starts_with('[') {
            in_tables = true;
            let last = cuts.last().copied().unwrap_or(0);
            if start - last >= PIECE_LEN && opens_an_entry(line) {
                cuts.push(start);
            }
        } else if !in_tables && is_merged_root_key(line) {
            // `records = [...]` or `pools.x.type = "A"` before the first header: a later
            // `[[records]]` or `[pools.x]` piece would merge where TOML refuses.
            return None;
        }
    }
    cuts.push(text.len());
    (cuts.len() > 2).then_some(cuts)
}

/// A root key line that names a table the pieces merge (or a quoted key, which might).
fn is_merged_root_key(line: &str) -> bool {
    let key = line.trim_start();
    ["records", "pools", "soa", "\"", "'"]
        .iter()
        .any(|k| key.starts_with(k))
}

/// A header line `[[records]]` or `[pools.NAME]` (a bare NAME), with an optional comment.
fn opens_an_entry(line: &str) -> bool {
    let header = line.split('#').next().unwrap_or("").trim_end();
    if header == "[[records]]" {
        return true;
    }
    header
        .strip_prefix("[pools.")
        .and_then(|rest| rest.strip_suffix(']'))
        .is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// `s` with its span moved by `base` bytes.
fn shift<T>(s: Spanned<T>, base: usize) -> Spanned<T> {
    let span = s.span();
    Spanned::new(span.start + base..span.end + base, s.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{bad, load_text};
    use crate::zone::Zone;

    /// A zone file of about `len` bytes: records and pools in turn.
    fn big(len: usize) -> String {
        let mut text = String::from(
            "origin = \"big.example.\"\n[soa]\nmname = \"ns1\"\nrname = \"h\"\n\
             [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns1\"]\n",
        );
        let mut i = 0;
        while text.len() < len {
            text.push_str(&format!(
                "[[records]]\nname = \"h{i}\"\ntype = \"A\"\ndata = [\"10.0.{}.{}\"]\n\
                 [pools.p{i}]\ntype = \"A\"\n[pools.p{i}.regions.a]\naddresses = [\"10.1.0.1\"]\n",
                (i / 256) % 256,
                i % 256
            ));
            i += 1;
        }
        text
    }

    #[test]
    fn a_large_file_is_cut_only_before_records_and_pools() {
        let text = big(3 * MIN_LEN);
        let cuts = cuts(&text).expect("cut");
        assert!(cuts.len() > 10, "{} pieces", cuts.len() - 1);
        for c in &cuts[1..cuts.len() - 1] {
            assert!(opens_an_entry(text[*c..].lines().next().unwrap_or("")));
        }
    }

    #[test]
    fn pieces_merge_to_the_whole_parse_with_file_spans() {
        let text = big(2 * MIN_LEN);
        let pieces = parse(&text).expect("pieces");
        let whole: RawZone = toml::from_str(&text).expect("whole");
        assert_eq!(pieces.records.len(), whole.records.len());
        for (a, b) in pieces.records.iter().zip(&whole.records) {
            assert_eq!(a.span(), b.span());
            assert_eq!(a.get_ref().name, b.get_ref().name);
        }
        assert_eq!(pieces.pools.len(), whole.pools.len());
        for ((ka, _), (kb, _)) in pieces.pools.iter().zip(&whole.pools) {
            assert_eq!((ka.get_ref(), ka.span()), (kb.get_ref(), kb.span()));
        }
    }

    #[test]
    fn what_the_cut_could_change_is_parsed_whole() {
        let text = big(2 * MIN_LEN);
        // Small files, multi-line strings and root keys the pieces merge are not cut.
        assert!(cuts(&big(MIN_LEN / 2)).is_none());
        let multiline = text.replacen("rname = \"h\"", "rname = \"\"\"h\"\"\"", 1);
        assert!(cuts(&multiline).is_none());
        let root = text.replacen("[soa]", "records = []\n[soa]", 1);
        assert!(cuts(&root).is_none());
        // A second [soa] or a pool defined twice, in different pieces: TOML refuses, so the
        // merge does too.
        let twice = format!("{text}[soa]\nmname = \"ns1\"\nrname = \"h\"\n");
        assert!(parse(&twice).is_none());
        let again = format!("{text}[pools.p0]\ntype = \"A\"\n");
        assert!(parse(&again).is_none());
    }

    /// A zone as sorted text (its maps iterate in a random order).
    fn sorted(zone: &Zone) -> Vec<String> {
        let mut lines: Vec<String> = zone
            .nodes
            .iter()
            .map(|(name, node)| format!("{name} {node:?}"))
            .collect();
        lines.sort();
        lines.extend(zone.pools.iter().map(|p| format!("{p:?}")));
        lines.push(format!("{:?} {}", zone.soa, zone.has_delegations));
        lines
    }

    #[test]
    fn a_large_file_builds_the_same_zone_in_pieces_as_whole() {
        // Empty non-terminals, a delegation with glue and a second (AAAA) pool at one name.
        let mut text = big(2 * MIN_LEN);
        text.push_str(
            "[[records]]\nname = \"x.y.deep\"\ntype = \"TXT\"\ndata = [\"t\"]\n\
             [[records]]\nname = \"sub\"\ntype = \"NS\"\ndata = [\"ns.sub\"]\n\
             [[records]]\nname = \"ns.sub\"\ntype = \"A\"\ndata = [\"192.0.2.53\"]\n\
             [pools.p0v6]\nname = \"p0\"\ntype = \"AAAA\"\n\
             [pools.p0v6.regions.a]\naddresses = [\"2001:db8::1\"]\n",
        );
        assert!(cuts(&text).is_some_and(|c| c.len() > 3));
        let pieces = load_text(&text).expect("pieces");
        // Three quotes in a comment make the file go whole.
        let whole = load_text(&format!("{text}# '''\n")).expect("whole");
        assert_eq!(sorted(&pieces.zones[0]), sorted(&whole.zones[0]));
        assert!(pieces.zones[0].has_delegations);
    }

    #[test]
    fn errors_in_a_large_file_point_where_the_whole_parse_does() {
        let head = big(2 * MIN_LEN);
        let record = |name: &str, data: &str| {
            format!("{head}[[records]]\nname = \"{name}\"\ntype = \"A\"\ndata = [{data}]\n")
        };
        // A bad value, a syntax error and a pool defined twice, each far past the first cut.
        bad(&record("bad", "§\"10.0.0.256\""), "invalid A data");
        bad(&format!("{head}[[records]]\nname = §= \"x\"\n"), "");
        bad(
            &format!("{head}[pools.§p0]\ntype = \"A\"\n"),
            "duplicate key",
        );
        // A static name that a pool in an earlier piece answers: the pool is the one named.
        let clash = record("p1", "\"192.0.2.9\"").replacen("[pools.p1]", "[pools.§p1]", 1);
        bad(&clash, "also a static record name");
    }
}
