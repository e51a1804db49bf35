//! Static answers whose records hold names (SOA, NS, MX), kept in pieces: the DNS path writes
//! them with their names compressed as the full path's encoder would, and with the glue the
//! full path adds (the A and AAAA records of in-zone NS and MX targets).

use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::Answer;
use crate::zone::Zone;

/// Static types answered from templates.
pub const NAMED_STATIC: [RecordType; 3] = [RecordType::SOA, RecordType::NS, RecordType::MX];

/// One record, in pieces.
#[derive(Debug)]
pub struct Template {
    /// The owner's raw labels (without the root byte); `None`: the question name.
    pub owner: Option<Box<[u8]>>,
    /// Type, class and TTL, encoded.
    pub fixed: [u8; 8],
    pub rdata: Box<[Piece]>,
}

/// A piece of RDATA.
#[derive(Debug)]
pub enum Piece {
    Bytes(Box<[u8]>),
    /// A name to compress: raw labels without the root byte.
    Name(Box<[u8]>),
    /// A SOA serial (a transferred zone answers its published one instead).
    Serial(u32),
}

/// The raw labels of a name as written (case kept), without the root byte.
pub fn labels(name: &Name) -> Box<[u8]> {
    let mut v = Vec::new();
    for l in name.iter() {
        // Labels are at most 63 bytes (the name parser enforces it).
        v.push(l.len() as u8);
        v.extend_from_slice(l);
    }
    v.into_boxed_slice()
}

/// The answer for a static SOA, NS or MX set at an owner that is not delegated; `None` for
/// any other type or a record that cannot be encoded.
pub fn answer(zi: usize, zone: &Zone, records: &[Record]) -> Option<Answer> {
    let answers: Vec<Template> = records
        .iter()
        .map(|r| template(r, None))
        .collect::<Option<_>>()?;
    let mut glue = Vec::new();
    zone.glue(records, &mut glue);
    let additional = glue
        .iter()
        .map(|r| template(r, Some(labels(&r.name))))
        .collect::<Option<Vec<_>>>()?;
    Some(Answer::Named {
        zone: zi,
        answers: answers.into_boxed_slice(),
        additional: additional.into_boxed_slice(),
    })
}

fn template(r: &Record, owner: Option<Box<[u8]>>) -> Option<Template> {
    let mut fixed = [0u8; 8];
    fixed[..2].copy_from_slice(&u16::from(r.record_type()).to_be_bytes());
    fixed[2..4].copy_from_slice(&u16::from(DNSClass::IN).to_be_bytes());
    fixed[4..].copy_from_slice(&r.ttl.to_be_bytes());
    let rdata: Vec<Piece> = match &r.data {
        RData::SOA(soa) => {
            let mut timers = Vec::with_capacity(16);
            for v in [soa.refresh, soa.retry, soa.expire] {
                timers.extend_from_slice(&v.to_be_bytes());
            }
            timers.extend_from_slice(&soa.minimum.to_be_bytes());
            vec![
                Piece::Name(labels(&soa.mname)),
                Piece::Name(labels(&soa.rname)),
                Piece::Serial(soa.serial),
                Piece::Bytes(timers.into_boxed_slice()),
            ]
        }
        RData::NS(ns) => vec![Piece::Name(labels(&ns.0))],
        RData::MX(mx) => vec![
            Piece::Bytes(Box::new(mx.preference.to_be_bytes())),
            Piece::Name(labels(&mx.exchange)),
        ],
        RData::A(_) | RData::AAAA(_) => {
            let mut bytes = Vec::new();
            r.data.emit(&mut BinEncoder::new(&mut bytes)).ok()?;
            vec![Piece::Bytes(bytes.into_boxed_slice())]
        }
        _ => return None,
    };
    Some(Template {
        owner,
        fixed,
        rdata: rdata.into_boxed_slice(),
    })
}
