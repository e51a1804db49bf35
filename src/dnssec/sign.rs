//! Signing one RRset: an RRSIG per signing key of the right role (the DNSKEY, CDS and CDNSKEY
//! sets by KSKs and CSKs, everything else by ZSKs and CSKs), over the set in canonical form
//! (hickory-proto's `TBS`), for a given [`Window`].

use hickory_proto::dnssec::TBS;
use hickory_proto::dnssec::rdata::sig::SigInput;
use hickory_proto::dnssec::rdata::{DNSSECRData, RRSIG};
use hickory_proto::rr::SerialNumber;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::window::Window;
use crate::zone::signing::Signing;

/// Why a set could not be signed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot sign {owner} {rtype}: {reason}")]
pub struct SignError {
    pub owner: String,
    pub rtype: RecordType,
    pub reason: String,
}

/// True for the sets the key-signing keys sign.
fn key_set(rtype: RecordType) -> bool {
    matches!(
        rtype,
        RecordType::DNSKEY | RecordType::CDS | RecordType::CDNSKEY
    )
}

/// The keys that sign sets of `rtype`.
pub fn signers(signing: &Signing, rtype: RecordType) -> Vec<&crate::zone::signing::ZoneKey> {
    if key_set(rtype) {
        signing.key_signers().collect()
    } else {
        signing.zone_signers().collect()
    }
}

/// The RRSIGs of `records` (one RRset: same owner, type and TTL) in zone `signer`.
pub fn sign(
    signing: &Signing,
    signer: &Name,
    records: &[Record],
    window: Window,
) -> Result<Box<[Record]>, SignError> {
    let Some(first) = records.first() else {
        return Ok(Box::default());
    };
    let rtype = first.record_type();
    let fail = |reason: String| SignError {
        owner: first.name.to_string(),
        rtype,
        reason,
    };
    let keys = signers(signing, rtype);
    // An RRset holds each RR once (RFC 2181 §5): regions sharing an address are signed as
    // validators see the set.
    let mut distinct: Vec<&Record> = Vec::with_capacity(records.len());
    for r in records {
        if !distinct.iter().any(|d| d.data == r.data) {
            distinct.push(r);
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        let input = SigInput {
            type_covered: rtype,
            algorithm: k.key.algorithm(),
            num_labels: first.name.num_labels(),
            original_ttl: first.ttl,
            sig_expiration: SerialNumber::new(window.expiration),
            sig_inception: SerialNumber::new(window.inception),
            key_tag: k.tag,
            signer_name: signer.clone(),
        };
        let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, distinct.iter().copied())
            .map_err(|e| fail(e.to_string()))?;
        let sig = k.key.sign(&tbs).map_err(|e| fail(e.to_string()))?;
        out.push(Record::from_rdata(
            first.name.clone(),
            first.ttl,
            RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
        ));
    }
    Ok(out.into_boxed_slice())
}

/// True when every RRSIG in `rrsigs` was made over a set with TTL `ttl` (its Original TTL): a
/// signature is reused only for the same TTL, since validators cap the set's TTL by it.
pub fn made_for_ttl(rrsigs: &[Record], ttl: u32) -> bool {
    rrsigs.iter().all(|r| match &r.data {
        RData::DNSSEC(DNSSECRData::RRSIG(s)) => s.input().original_ttl == ttl,
        _ => false,
    })
}
