//! Name compression (RFC 1035 §4.1.4) on raw labels.
//!
//! [`Compressor::new`] makes exactly the choices hickory-proto's encoder makes, so that the
//! fast path's response copied together from pre-encoded pieces is byte for byte the one the
//! full path encodes. hickory's rule (`Name::emit` with `BinEncoder`): every name written with
//! compression is compared, suffix by suffix from the longest, with the suffixes stored so far
//! (raw label bytes, case-sensitive); the first stored suffix equal to one of the name's becomes
//! a pointer and ends it. Each suffix that finds no match is stored (at most 64 in all), and at
//! most 120 names per message are compressed.
//!
//! [`Compressor::every_name`] lifts both limits (every suffix a pointer can reach is a target,
//! every name is compressed), for zone transfers, whose messages hold hundreds of names.

use std::collections::HashMap;

/// How many suffixes hickory keeps as compression targets.
const CANDIDATES: usize = 64;
/// How many names per message hickory compresses.
const COMPRESSED_NAMES: usize = 120;
/// Offsets a pointer can reach, and below which hickory stores targets.
const POINTER_REACH: usize = 0x3FFF;

/// The suffixes written so far, as hickory's encoder would hold them.
pub struct Compressor<'a> {
    /// (offset in the message, the suffix's raw labels without the root byte).
    stored: [(u16, &'a [u8]); CANDIDATES],
    len: usize,
    names: usize,
    /// With [`Compressor::every_name`]: every suffix a pointer can reach, by its labels (the
    /// first written wins); `stored` is then unused.
    every: Option<HashMap<&'a [u8], u16>>,
}

impl Default for Compressor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> Compressor<'a> {
    /// hickory's choices (at most 64 targets, 120 compressed names).
    pub fn new() -> Self {
        Compressor {
            stored: [(0, &[][..]); CANDIDATES],
            len: 0,
            names: 0,
            every: None,
        }
    }

    /// Every name compressed against every earlier suffix within pointer reach.
    pub fn every_name() -> Self {
        Compressor {
            every: Some(HashMap::new()),
            ..Self::new()
        }
    }

    /// Records a name hickory would have written at `at` with nothing stored before it (the
    /// question, copied from the query): its suffixes become targets.
    pub fn written(&mut self, at: usize, labels: &'a [u8]) {
        self.names += 1;
        let end = at + labels.len();
        let mut i = 0;
        while i < labels.len() {
            self.store(end, at + i, &labels[i..]);
            i += 1 + usize::from(labels[i]);
        }
    }

    /// Writes the name whose raw labels (without the root byte) are `labels` to `out`,
    /// compressed as hickory would. `labels` must be well-formed labels.
    pub fn name(&mut self, labels: &'a [u8], out: &mut Vec<u8>) {
        let compress = self.every.is_some() || self.names < COMPRESSED_NAMES;
        let start = out.len();
        out.extend_from_slice(labels);
        let end = out.len();
        if compress {
            self.names += 1;
        }
        let mut at = 0;
        while at < labels.len() {
            let suffix = &labels[at..];
            if compress && let Some(pointer) = self.find(suffix) {
                out.truncate(start + at);
                out.extend_from_slice(&(0xC000 | pointer).to_be_bytes());
                return;
            }
            self.store(end, start + at, suffix);
            at += 1 + usize::from(labels[at]);
        }
        out.push(0);
    }

    /// Stores `suffix`, written at `at` in a name whose labels end at `end`, as hickory does.
    fn store(&mut self, end: usize, at: usize, suffix: &'a [u8]) {
        if let Some(every) = &mut self.every {
            if let Ok(at) = u16::try_from(at)
                && usize::from(at) < POINTER_REACH
            {
                every.entry(suffix).or_insert(at);
            }
            return;
        }
        if end < POINTER_REACH && self.len < CANDIDATES {
            self.stored[self.len] = (at as u16, suffix);
            self.len += 1;
        }
    }

    fn find(&self, suffix: &[u8]) -> Option<u16> {
        if let Some(every) = &self.every {
            return every.get(suffix).copied();
        }
        self.stored[..self.len]
            .iter()
            .find(|(_, s)| *s == suffix)
            .map(|(at, _)| *at)
    }
}

/// The raw labels of a wire-format name (without its root byte).
pub fn labels(wire: &[u8]) -> &[u8] {
    &wire[..wire.len().saturating_sub(1)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Name;
    use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

    fn wire(name: &Name) -> Vec<u8> {
        let mut v = Vec::new();
        for l in name.iter() {
            v.push(l.len() as u8);
            v.extend_from_slice(l);
        }
        v
    }

    #[test]
    fn compresses_exactly_as_hickory_does() {
        let sets: &[&[&str]] = &[
            &[
                "www.T.example.",
                "t.example.",
                "ns1.t.example.",
                "hostmaster.t.example.",
            ],
            &[
                "Foo.Bar.T.Example.",
                "t.example.",
                "bar.t.example.",
                "T.Example.",
            ],
            &["a.b.c.", "x.y.", "b.c.", "y.", "c.", "."],
            &[
                "hostmaster.t.example.",
                "t.example.",
                "ns.hostmaster.t.example.",
            ],
        ];
        for names in sets.iter().filter(|n| n.len() > 1) {
            let names: Vec<Name> = names
                .iter()
                .map(|n| Name::from_ascii(n).expect("name"))
                .collect();
            let mut expected = vec![0u8; 12];
            let mut enc = BinEncoder::new(&mut expected);
            enc.set_offset(12);
            for n in &names {
                n.emit(&mut enc).expect("emits");
            }
            let raw: Vec<Vec<u8>> = names.iter().map(wire).collect();
            // The first name as a copied question, the others written.
            let mut got = expected[..12 + raw[0].len() + 1].to_vec();
            let mut c = Compressor::new();
            c.written(12, &raw[0]);
            for r in &raw[1..] {
                c.name(r, &mut got);
            }
            assert_eq!(got, expected, "{names:?}");
        }
    }
}
