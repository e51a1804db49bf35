//! What a transfer sends: the whole zone (AXFR, RFC 5936), or the differences from the
//! client's serial version by version (IXFR, RFC 1995 §4), from the journal.

use std::sync::Arc;

use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::BinEncodable;

use crate::xfr::{Journal, Version};

/// SOA, every record, SOA.
pub(super) fn full(journal: &Journal, v: &Version) -> Vec<Record> {
    let soa = journal.soa(v.serial);
    let mut all = Vec::with_capacity(v.len() + 2);
    all.push(soa.clone());
    all.extend(v.records().cloned());
    all.push(soa);
    all
}
/// The IXFR answer: the current SOA alone when the client is up to date, the differences
/// from its serial when the journal still has it, else the whole zone (RFC 1995 §4).
pub(super) fn ixfr(journal: &Journal, current: &Version, client: u32) -> Vec<Record> {
    if !crate::xfr::newer(current.serial, client) {
        return vec![journal.soa(current.serial)];
    }
    let Some(start) = journal.versions.iter().position(|v| v.serial == client) else {
        return full(journal, current);
    };
    let mut out = vec![journal.soa(current.serial)];
    let versions: Vec<&Version> = journal.versions.iter().skip(start).map(|v| &**v).collect();
    for pair in versions.windows(2) {
        let (old, new) = (pair[0], pair[1]);
        let same_statics = Arc::ptr_eq(&old.statics, &new.statics);
        out.push(journal.soa(old.serial));
        if !same_statics {
            out.extend(minus(&old.statics, &new.statics));
        }
        out.extend(minus(&old.pools, &new.pools));
        out.extend(minus(&old.dnssec, &new.dnssec));
        out.push(journal.soa(new.serial));
        if !same_statics {
            out.extend(minus(&new.statics, &old.statics));
        }
        out.extend(minus(&new.pools, &old.pools));
        out.extend(minus(&new.dnssec, &old.dnssec));
    }
    out.push(journal.soa(current.serial));
    out
}

/// The records of `a` not in `b`.
fn minus(a: &[Record], b: &[Record]) -> Vec<Record> {
    let wire = |r: &Record| r.to_bytes().unwrap_or_default();
    let b: std::collections::HashSet<Vec<u8>> = b.iter().map(wire).collect();
    a.iter()
        .filter(|r| !b.contains(&wire(r)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RData;
    use std::collections::VecDeque;

    fn rec(name: &str, ip: [u8; 4]) -> Record {
        Record::from_rdata(
            hickory_proto::rr::Name::from_ascii(name).expect("name"),
            30,
            RData::A(hickory_proto::rr::rdata::A::new(ip[0], ip[1], ip[2], ip[3])),
        )
    }

    fn journal() -> Journal {
        let soa = Record::from_rdata(
            hickory_proto::rr::Name::from_ascii("z.").expect("name"),
            60,
            RData::SOA(hickory_proto::rr::rdata::SOA::new(
                hickory_proto::rr::Name::from_ascii("ns.z.").expect("n"),
                hickory_proto::rr::Name::from_ascii("h.z.").expect("n"),
                1,
                1,
                1,
                1,
                1,
            )),
        );
        let statics = Arc::new(vec![rec("mail.z.", [9, 9, 9, 9])]);
        let v = |serial, ips: &[[u8; 4]]| {
            Arc::new(Version {
                serial,
                soa: crate::xfr::journal::with_serial(&soa, serial),
                statics: statics.clone(),
                pools: ips.iter().map(|ip| rec("www.z.", *ip)).collect(),
                dnssec: Vec::new(),
                inception: None,
                keys: Vec::new(),
            })
        };
        let versions = VecDeque::from([
            v(10, &[[1, 1, 1, 1], [2, 2, 2, 2]]),
            v(11, &[[1, 1, 1, 1]]),
            v(12, &[[1, 1, 1, 1], [3, 3, 3, 3]]),
        ]);
        Journal { soa, versions }
    }

    fn serial(r: &Record) -> Option<u32> {
        match &r.data {
            RData::SOA(s) => Some(s.serial),
            _ => None,
        }
    }

    #[test]
    fn ixfr_sends_each_difference_or_the_whole_zone_or_just_the_soa() {
        let j = journal();
        let cur = j.current().expect("current").clone();
        let diff = ixfr(&j, &cur, 10);
        let serials: Vec<Option<u32>> = diff.iter().map(serial).collect();
        assert_eq!(
            serials,
            [
                Some(12),
                Some(10),
                None,
                Some(11),
                Some(11),
                Some(12),
                None,
                Some(12)
            ]
        );
        assert_eq!(ixfr(&j, &cur, 12).len(), 1);
        let unknown = ixfr(&j, &cur, 3);
        assert_eq!(
            unknown.len(),
            5,
            "SOA, the static record, two pool records, SOA"
        );
    }
}
