//! What secondaries are served: each transferred zone's published versions (a bounded
//! journal for IXFR), each with the SOA it was published under.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::rr::{LowerName, RData, Record};

/// One published version of a zone: its serial, its SOA and its records (the SOA apart).
#[derive(Debug)]
pub struct Version {
    pub serial: u32,
    /// The SOA published with this version (its serial set): SOA fields a reload changed are
    /// part of the version, so one serial always names one SOA.
    pub soa: Record,
    /// The static records, shared by every version of one zone load.
    pub statics: Arc<Vec<Record>>,
    /// The pools' records at this version.
    pub pools: Vec<Record>,
    /// A signed zone's RRSIG and NSEC records for this version.
    pub dnssec: Vec<Record>,
    /// The validity window (its inception) the version was signed in.
    pub inception: Option<u32>,
    /// The keys it was signed with (tag, signs).
    pub keys: Vec<(u16, bool)>,
}

impl Version {
    /// Every record (the SOA apart).
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.statics.iter().chain(&self.pools).chain(&self.dnssec)
    }

    pub fn len(&self) -> usize {
        self.statics.len() + self.pools.len() + self.dnssec.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A zone's published versions, oldest first, and its newest SOA.
#[derive(Debug)]
pub struct Journal {
    pub soa: Record,
    pub versions: VecDeque<Arc<Version>>,
}

impl Journal {
    pub fn current(&self) -> Option<&Arc<Version>> {
        self.versions.back()
    }

    /// The SOA published with `serial` (the newest SOA with that serial when the journal no
    /// longer has it).
    pub fn soa(&self, serial: u32) -> Record {
        if let Some(v) = self.versions.iter().find(|v| v.serial == serial) {
            return v.soa.clone();
        }
        with_serial(&self.soa, serial)
    }
}

/// `soa` with its serial set to `serial`.
pub fn with_serial(soa: &Record, serial: u32) -> Record {
    let mut soa = soa.clone();
    if let RData::SOA(s) = &mut soa.data {
        s.serial = serial;
    }
    soa
}

/// What the TCP listener reads: every transferred zone's journal.
#[derive(Debug, Default)]
pub struct Published {
    pub zones: HashMap<LowerName, Journal>,
}

/// The published journals, swapped whole by the engine.
pub type Shared = Arc<ArcSwap<Published>>;
