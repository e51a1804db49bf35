//! The signatures of plain answers pre-encoded for the DNS fast path: each record's owner a
//! pointer to the question (as the fast path writes answers), so a DO=1 answer is its records
//! followed by these bytes. Static sets are found by wire-format owner and type, a pool's
//! answer by its sorted region indexes (or its fallback).

use std::collections::HashMap;

use hickory_proto::rr::{LowerName, Record, RecordType};
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::zone::wire::{Rrs, wire_name};

/// One pool's pre-encoded signatures.
#[derive(Debug, Default)]
pub struct PoolFast {
    /// By the sorted indexes of the regions answered.
    pub sets: HashMap<Box<[u16]>, Rrs, Xxh3DefaultBuilder>,
    pub fallback: Option<Rrs>,
}

/// A zone's pre-encoded signatures.
#[derive(Debug, Default)]
pub struct FastSigs {
    /// By lowercase wire-format owner, then type.
    statics: HashMap<Box<[u8]>, Vec<(RecordType, Rrs)>, Xxh3DefaultBuilder>,
    /// By pool index.
    pub pools: Vec<PoolFast>,
}

impl FastSigs {
    pub fn with_pools(n: usize) -> Self {
        FastSigs {
            statics: HashMap::default(),
            pools: (0..n).map(|_| PoolFast::default()).collect(),
        }
    }

    /// Adds the RRSIGs of the static set of `rtype` at `owner`.
    pub fn add_static(&mut self, owner: &LowerName, rtype: RecordType, rrsigs: &[Record]) {
        if let Some(rrs) = Rrs::encode(rrsigs) {
            self.statics
                .entry(wire_name(owner))
                .or_default()
                .push((rtype, rrs));
        }
    }

    /// The RRSIGs of the static set of `rtype` at a lowercase wire-format name.
    pub fn static_sigs(&self, name: &[u8], rtype: RecordType) -> Option<&Rrs> {
        self.statics
            .get(name)?
            .iter()
            .find(|(t, _)| *t == rtype)
            .map(|(_, r)| r)
    }
}

impl PoolFast {
    /// The signatures of the answer made of `regions` (any order), without allocating for
    /// answers of up to 8 regions.
    pub fn get(&self, regions: &[usize]) -> Option<&Rrs> {
        let mut small = [0u16; 8];
        if regions.len() <= small.len() {
            for (slot, i) in small.iter_mut().zip(regions) {
                *slot = u16::try_from(*i).ok()?;
            }
            let key = &mut small[..regions.len()];
            key.sort_unstable();
            return self.sets.get(&key[..]);
        }
        self.sets.get(&region_key(regions)?[..])
    }
}

/// Sorted region indexes as the key of a pool's set.
pub fn region_key(regions: &[usize]) -> Option<Box<[u16]>> {
    let mut key: Vec<u16> = regions
        .iter()
        .map(|i| u16::try_from(*i).ok())
        .collect::<Option<_>>()?;
    key.sort_unstable();
    Some(key.into_boxed_slice())
}
