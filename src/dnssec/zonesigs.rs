//! A zone's signatures, made when its zone set is loaded (or its window renews): every static
//! RRset it is authoritative for, the apex key sets, every answer a bounded pool can give
//! (each set of at most `answers` regions, and the fallback), and the NSEC chain. Signatures
//! of an earlier build with the same keys and window are reused, so a reload signs only what
//! changed.

use std::collections::HashMap;

use hickory_proto::rr::{LowerName, Name, Record, RecordType};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

use super::chain::{self, Chain, Link};
use super::fast::{FastSigs, region_key};
use super::sign::{SignError, sign};
use super::window::{Window, window};
use crate::zone::signing::{KeyRole, Signing};
use crate::zone::wire::Rrs;
use crate::zone::{Policy, Pool, Zone};

/// The most answer sets one pool may need signed ahead as every set of at most `answers` of
/// its regions; a signed pool with more answers with ring windows (`Pool::ring`).
pub const MAX_VARIANTS: u64 = 4096;
/// The most answer sets a ring pool may need signed ahead: a signed zone refuses one with more.
pub const MAX_RING_VARIANTS: u64 = 65_536;

/// An RRset as signatures are looked up: owner, type and its distinct RDATA in canonical
/// form and order (TTL and record order do not matter).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SetKey {
    owner: LowerName,
    rtype: RecordType,
    data: Box<[u8]>,
}

/// The key of `records` (one RRset); `None` for an empty slice or unencodable data.
pub fn set_key(records: &[Record]) -> Option<SetKey> {
    let first = records.first()?;
    let mut rdatas = Vec::with_capacity(records.len());
    for r in records {
        let mut bytes = Vec::new();
        let mut enc = BinEncoder::new(&mut bytes);
        enc.set_canonical_form(true);
        r.data.emit(&mut enc).ok()?;
        rdatas.push(bytes);
    }
    rdatas.sort();
    rdatas.dedup();
    let mut data = Vec::new();
    for d in rdatas {
        data.extend_from_slice(&u16::try_from(d.len()).ok()?.to_be_bytes());
        data.extend_from_slice(&d);
    }
    Some(SetKey {
        owner: LowerName::new(&first.name),
        rtype: first.record_type(),
        data: data.into_boxed_slice(),
    })
}

/// How many answer sets `pool` can give that must be signed ahead: every non-empty set of at
/// most `answers` regions, plus the fallback. `None` for `all` pools, whose one current set
/// is signed when it changes.
pub fn variant_count(pool: &Pool) -> Option<u64> {
    if pool.policy == Policy::All {
        return None;
    }
    let n = pool.regions.len() as u64;
    let k = (pool.answers as u64).min(n);
    if pool.ring {
        // Each region's window: the subsets holding the region (at most; windows overlap).
        let per = 1u64
            .checked_shl(k.saturating_sub(1) as u32)
            .unwrap_or(u64::MAX);
        return Some(
            n.saturating_mul(per)
                .saturating_add(u64::from(!pool.fallback.is_empty())),
        );
    }
    let mut total = u64::from(!pool.fallback.is_empty());
    let mut c: u64 = 1;
    for j in 1..=k {
        c = c.saturating_mul(n - j + 1) / j;
        total = total.saturating_add(c);
    }
    Some(total)
}

/// What identifies the keys a build signed with (a change re-signs everything).
type KeysId = Vec<(u16, KeyRole, bool)>;

fn keys_id(signing: &Signing) -> KeysId {
    signing
        .keys
        .iter()
        .map(|k| (k.tag, k.role, k.sign))
        .collect()
}

/// The signatures of one zone.
#[derive(Debug)]
pub struct ZoneSigs {
    pub origin: LowerName,
    pub window: Window,
    /// The signature lifetime the window was cut with.
    pub lifetime: std::time::Duration,
    keys: KeysId,
    sets: HashMap<SetKey, Box<[Record]>>,
    pub chain: Chain,
    /// The same signatures of plain answers, pre-encoded for the fast path.
    pub fast: FastSigs,
    /// Signatures made by this build (not reused).
    pub made: usize,
}

impl ZoneSigs {
    /// The RRSIGs of `records`, if they were signed.
    pub fn rrsigs(&self, records: &[Record]) -> Option<&[Record]> {
        self.rrsigs_of(&set_key(records)?)
    }

    /// The RRSIGs of the set with key `key`, if it was signed.
    pub fn rrsigs_of(&self, key: &SetKey) -> Option<&[Record]> {
        self.sets.get(key).map(|s| &s[..])
    }

    /// How many RRsets are signed (the NSEC chain included).
    pub fn sets(&self) -> usize {
        self.sets.len() + self.chain.len()
    }

    /// True when this build's signatures can serve `zone` at `now`'s window.
    pub fn reusable_for(&self, zone: &Zone, signing: &Signing, now: u64) -> bool {
        self.origin == zone.origin
            && self.keys == keys_id(signing)
            && self.window == window(now, signing.lifetime)
    }
}

/// Signs the RRsets of one zone build, reusing an earlier build's signatures.
struct SetSigner<'z> {
    signing: &'z Signing,
    signer: Name,
    win: Window,
    reuse: Option<&'z ZoneSigs>,
    made: usize,
    sets: HashMap<SetKey, Box<[Record]>>,
}

impl SetSigner<'_> {
    /// Signs `records` (one RRset) unless signed already; its RRSIGs.
    fn add(&mut self, records: &[Record]) -> Result<Option<&[Record]>, SignError> {
        let Some(key) = set_key(records) else {
            return Ok(None);
        };
        if !self.sets.contains_key(&key) {
            let ttl = records.first().map_or(0, |r| r.ttl);
            let previous = self.reuse.and_then(|p| p.sets.get(&key));
            let sigs = match previous.filter(|s| super::sign::made_for_ttl(s, ttl)) {
                Some(s) => s.clone(),
                None => {
                    self.made += 1;
                    sign(self.signing, &self.signer, records, self.win)?
                }
            };
            self.sets.insert(key.clone(), sigs);
        }
        Ok(self.sets.get(&key).map(|s| &s[..]))
    }
}

/// Signs `zone` as of `now` (seconds since the epoch); `None` when it is not signed.
pub fn sign_zone(
    zone: &Zone,
    previous: Option<&ZoneSigs>,
    now: u64,
) -> Result<Option<ZoneSigs>, SignError> {
    let Some(signing) = zone.signing.as_deref() else {
        return Ok(None);
    };
    let win = window(now, signing.lifetime);
    let reuse = previous.filter(|p| p.reusable_for(zone, signing, now));
    let mut s = SetSigner {
        signing,
        signer: Name::from(&zone.origin),
        win,
        reuse,
        made: 0,
        sets: HashMap::new(),
    };
    let mut fast = FastSigs::with_pools(zone.pools.len());
    for (name, node) in &zone.nodes {
        let cut = zone.delegation_above(name);
        if cut.is_some_and(|c| c != name) {
            continue; // glue below a cut is not the zone's data
        }
        for set in &node.rrsets {
            if node.delegation && set.rtype != RecordType::DS {
                continue; // the child's NS and glue are not signed (RFC 4035 §2.2)
            }
            if let Some(sigs) = s.add(&set.records)?
                && cut.is_none()
            {
                fast.add_static(name, set.rtype, sigs);
            }
        }
    }
    for (pi, pool) in zone.pools.iter().enumerate() {
        if !pool.fallback.is_empty() {
            fast.pools[pi].fallback = s.add(&pool.fallback)?.and_then(Rrs::encode);
        }
        for regions in variants(pool) {
            let records: Vec<Record> = regions
                .iter()
                .flat_map(|i| pool.regions[*i].records.iter().cloned())
                .collect();
            if let (Some(sigs), Some(key)) = (s.add(&records)?, region_key(&regions))
                && let Some(rrs) = Rrs::encode(sigs)
            {
                fast.pools[pi].sets.insert(key, rrs);
            }
        }
    }
    let SetSigner {
        signer,
        sets,
        mut made,
        ..
    } = s;
    let mut chain = Chain::of(zone);
    for (owner, nsec, empty) in chain::unsigned(zone) {
        let mut one = |r: &Record| -> Result<Box<[Record]>, SignError> {
            let previous = reuse
                .and_then(|p| p.chain.link(&owner))
                .and_then(|l| {
                    std::iter::once((&l.nsec, &l.rrsigs))
                        .chain(l.empty.iter().map(|(_, n, s)| (n, s)))
                        .find(|(n, _)| *n == r && n.ttl == r.ttl)
                })
                .map(|(_, s)| s.clone());
            match previous {
                Some(s) => Ok(s),
                None => {
                    made += 1;
                    sign(signing, &signer, std::slice::from_ref(r), win)
                }
            }
        };
        let rrsigs = one(&nsec)?;
        let mut variants = Vec::with_capacity(empty.len());
        for (t, r) in empty {
            let s = one(&r)?;
            variants.push((t, r, s));
        }
        chain.insert(
            owner,
            Link {
                nsec,
                rrsigs,
                empty: variants,
            },
        );
    }
    Ok(Some(ZoneSigs {
        origin: zone.origin.clone(),
        window: win,
        lifetime: signing.lifetime,
        keys: keys_id(signing),
        sets,
        chain,
        fast,
        made,
    }))
}

/// The region sets a bounded pool can answer with: every non-empty set of at most `answers`
/// regions, as sorted indexes. (`all` pools: only the set of every region, for failing open.)
fn variants(pool: &Pool) -> Vec<Vec<usize>> {
    let n = pool.regions.len();
    if pool.policy == Policy::All {
        return vec![(0..n).collect()];
    }
    if pool.ring {
        return ring_sets(pool);
    }
    let k = pool.answers.min(n);
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(k);
    subsets(n, k, 0, &mut current, &mut out);
    out
}

/// Every answer set a ring pool can give (`select`'s ring windows), as sorted region indexes:
/// for each region, every subset of its window (itself and the `answers - 1` regions after it,
/// wrapping) that holds it.
fn ring_sets(pool: &Pool) -> Vec<Vec<usize>> {
    let m = pool.regions.len();
    let k = pool.answers.clamp(1, m.max(1));
    let mut out = std::collections::BTreeSet::new();
    for first in 0..m {
        for mask in 0..(1u64 << (k - 1).min(63)) {
            let mut set: Vec<usize> = std::iter::once(first)
                .chain(
                    (1..k)
                        .filter(|j| mask & (1 << (j - 1)) != 0)
                        .map(|j| (first + j) % m),
                )
                .collect();
            set.sort_unstable();
            out.insert(set);
        }
    }
    out.into_iter().collect()
}

fn subsets(n: usize, k: usize, from: usize, current: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for i in from..n {
        current.push(i);
        out.push(current.clone());
        if current.len() < k {
            subsets(n, k, i + 1, current, out);
        }
        current.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_of_at_most_k_regions() {
        let mut out = Vec::new();
        subsets(4, 2, 0, &mut Vec::new(), &mut out);
        assert_eq!(out.len(), 4 + 6);
        assert!(out.iter().all(|s| !s.is_empty() && s.len() <= 2));
        let mut sorted = out.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), out.len());
    }
}
