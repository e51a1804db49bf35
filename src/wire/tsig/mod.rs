//! TSIG with HMAC-SHA256 (RFC 8945) on raw messages: verifying a signed request, signing
//! responses (the first of a transfer with the request's MAC, each later one chained to the
//! previous MAC, §5.3.1), and signing requests gslbd sends (NOTIFY). hickory-proto 0.26 has the
//! TSIG record type but no signer; the HMAC is `ring`'s. [`query`] applies it to queries on the
//! query path (verify, sign the response, the unsigned errors).

use hickory_proto::rr::Name;
use ring::hmac;

/// The only algorithm gslbd accepts.
pub const HMAC_SHA256: &str = "hmac-sha256.";
/// The fudge gslbd signs with and accepts (RFC 8945 §10 recommends 300 s).
pub const FUDGE: u16 = 300;
/// TSIG errors (RFC 8945 §3).
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
pub const BADTRUNC: u16 = 22;
/// The HMAC-SHA256 output length, and the shortest truncation RFC 8945 §5.2.2.1 allows
/// (10 bytes or half the hash, whichever is longer).
const MAC_LEN: usize = 32;
const MAC_MIN: usize = 16;

const TSIG_TYPE: u16 = 250;
const CLASS_ANY: u16 = 255;

mod query;
mod record;
pub use query::{sign_response, unsigned_error, verified_response, verify_query};
use record::{alg_name, fields, time48, unsigned, variables};
pub use record::{append, append_error};

/// A shared key.
pub struct Key {
    /// The key's name, lower case.
    pub name: Name,
    key: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "Key({})", self.name)
    }
}

impl Key {
    /// The length of a TSIG record signed with this key (RFC 8945 §4.2), `other` bytes of other
    /// data included (6 for BADTIME): the owner (the key name, uncompressed), type, class, TTL
    /// and RDLENGTH (10), the algorithm name, time signed (6), fudge (2), MAC size (2) and MAC,
    /// original ID (2), error (2) and other length (2). At most
    /// [`crate::wire::size::TSIG_ROOM`], since key names are bounded.
    pub fn record_len(&self, other: usize) -> usize {
        let owner = self.name.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
        let algorithm = HMAC_SHA256.len() + 1;
        owner + 10 + algorithm + 6 + 2 + 2 + MAC_LEN + 2 + 2 + 2 + other
    }

    /// A key written as dig's `-y` takes it: `hmac-sha256:NAME:BASE64SECRET`.
    pub fn parse(text: &str) -> Result<Key, String> {
        use base64::Engine as _;
        let mut parts = text.trim().splitn(3, ':');
        let (alg, name, secret) = match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(n), Some(s)) => (a, n, s),
            _ => return Err("expected hmac-sha256:NAME:BASE64SECRET".into()),
        };
        if !alg.eq_ignore_ascii_case("hmac-sha256") {
            return Err(format!("algorithm {alg:?}: only hmac-sha256 is supported"));
        }
        let mut name = Name::from_ascii(name).map_err(|e| format!("key name {name:?}: {e}"))?;
        name.set_fqdn(true);
        if name.len() + 1 > super::size::TSIG_KEY_NAME {
            return Err(format!(
                "key name {name:?}: longer than {} bytes, so a signature might not fit",
                super::size::TSIG_KEY_NAME
            ));
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret.trim())
            .map_err(|_| "the secret is not base64".to_string())?;
        if secret.len() < 16 {
            return Err("the secret is shorter than 16 bytes".into());
        }
        Ok(Key {
            name: name.to_lowercase(),
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
        })
    }
}

/// A verified request's TSIG: what the response is signed with.
#[derive(Debug, Clone)]
pub struct Request {
    pub mac: Vec<u8>,
    pub original_id: u16,
}

/// Why a signed request was not accepted, with what the response carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// NOTAUTH, unsigned, with this TSIG error (BADKEY, BADSIG).
    Unsigned(u16),
    /// NOTAUTH, signed, BADTIME: the request's time signed echoed, the server's time as other
    /// data (§5.2.3).
    BadTime {
        mac: Vec<u8>,
        original_id: u16,
        time: u64,
    },
    /// NOTAUTH, signed, BADTRUNC: a MAC that is right but truncated, which gslbd's policy (the
    /// whole MAC, BIND's default) does not accept (§5.2.2.1); signed as BIND signs it.
    BadTrunc { mac: Vec<u8>, original_id: u16 },
    /// FORMERR: a MAC shorter than [`MAC_MIN`] or longer than the hash (§5.2.2.1).
    Malformed,
}

impl Rejected {
    /// For the errors answered signed (BADTIME, BADTRUNC): the request to chain to, the time
    /// signed (BADTIME echoes the request's), the error and the other data (BADTIME: the
    /// server's time).
    pub fn signed_error(&self, now: u64) -> Option<(Request, u64, u16, Vec<u8>)> {
        match self {
            Rejected::BadTime {
                mac,
                original_id,
                time,
            } => {
                let req = Request {
                    mac: mac.clone(),
                    original_id: *original_id,
                };
                Some((req, *time, BADTIME, now.to_be_bytes()[2..].to_vec()))
            }
            Rejected::BadTrunc { mac, original_id } => {
                let req = Request {
                    mac: mac.clone(),
                    original_id: *original_id,
                };
                Some((req, now, BADTRUNC, Vec::new()))
            }
            Rejected::Unsigned(_) | Rejected::Malformed => None,
        }
    }
}

/// Verifies the TSIG of a request (`tsig`: where scan found it) with one of `keys`.
pub fn verify<'k>(
    msg: &[u8],
    owner: usize,
    rdata: usize,
    rdata_len: usize,
    keys: &'k [Key],
    now: u64,
) -> Result<(&'k Key, Request), Rejected> {
    let f = fields(msg, owner, rdata, rdata_len).ok_or(Rejected::Unsigned(BADSIG))?;
    // Class ANY and TTL 0, as the MAC assumes (§4.2).
    let fixed = super::scan::skip_name(msg, owner)
        .and_then(|at| msg.get(at + 2..at + 8))
        .ok_or(Rejected::Unsigned(BADSIG))?;
    if fixed[..2] != CLASS_ANY.to_be_bytes() || fixed[2..] != [0, 0, 0, 0] {
        return Err(Rejected::Unsigned(BADSIG));
    }
    let key = keys
        .iter()
        .find(|k| k.name == f.key.to_lowercase())
        .filter(|_| f.algorithm.to_lowercase() == alg_name())
        .ok_or(Rejected::Unsigned(BADKEY))?;
    if !(MAC_MIN..=MAC_LEN).contains(&f.mac.len()) {
        return Err(Rejected::Malformed);
    }
    let mut data = unsigned(msg, owner, f.original_id).ok_or(Rejected::Unsigned(BADSIG))?;
    variables(&mut data, &f.key, f.time, f.fudge, f.error, &f.other);
    if f.mac.len() < MAC_LEN {
        // A truncated MAC that is right is refused as BADTRUNC (gslbd's policy is the whole
        // MAC, as BIND's default), a wrong one as BADSIG.
        let full = hmac::sign(&key.key, &data);
        let same = full.as_ref()[..f.mac.len()]
            .iter()
            .zip(&f.mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        return Err(if same {
            Rejected::BadTrunc {
                mac: f.mac,
                original_id: f.original_id,
            }
        } else {
            Rejected::Unsigned(BADSIG)
        });
    }
    if hmac::verify(&key.key, &data, &f.mac).is_err() {
        return Err(Rejected::Unsigned(BADSIG));
    }
    if now.abs_diff(f.time) > u64::from(f.fudge) {
        return Err(Rejected::BadTime {
            mac: f.mac,
            original_id: f.original_id,
            time: f.time,
        });
    }
    Ok((
        key,
        Request {
            mac: f.mac,
            original_id: f.original_id,
        },
    ))
}

/// Signs the messages of one response in order (or a request, with no `prior`).
#[derive(Clone)]
pub struct Signer<'k> {
    key: &'k Key,
    /// The MAC the next message chains to: the request's, then each message's own.
    prior: Option<Vec<u8>>,
    original_id: u16,
    first: bool,
}

impl<'k> Signer<'k> {
    /// For the response to a verified request.
    pub fn response(key: &'k Key, request: &Request) -> Self {
        Signer {
            key,
            prior: Some(request.mac.clone()),
            original_id: request.original_id,
            first: true,
        }
    }

    /// For a request gslbd sends (NOTIFY), with ID `id`.
    pub fn request(key: &'k Key, id: u16) -> Self {
        Signer {
            key,
            prior: None,
            original_id: id,
            first: true,
        }
    }

    /// Appends a TSIG record to `msg` (a complete message) and bumps its ARCOUNT. `error` and
    /// `other` go in the record (BADTIME carries the server time in `other`).
    pub fn sign(&mut self, msg: &mut Vec<u8>, now: u64, error: u16, other: &[u8]) {
        let mut data = Vec::with_capacity(msg.len() + 128);
        if let Some(prior) = &self.prior {
            data.extend_from_slice(&u16::try_from(prior.len()).unwrap_or(0).to_be_bytes());
            data.extend_from_slice(prior);
        }
        data.extend_from_slice(msg);
        if self.first {
            variables(&mut data, &self.key.name, now, FUDGE, error, other);
        } else {
            time48(&mut data, now);
            data.extend_from_slice(&FUDGE.to_be_bytes());
        }
        let mac = hmac::sign(&self.key.key, &data).as_ref().to_vec();
        append(
            msg,
            &self.key.name,
            now,
            &mac,
            self.original_id,
            error,
            other,
        );
        self.prior = Some(mac);
        self.first = false;
    }
}

/// Seconds since the UNIX epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "hmac-sha256:xfr-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";

    fn query(id: u16) -> Vec<u8> {
        use hickory_proto::op::{Message, Query};
        use hickory_proto::rr::RecordType;
        let mut m = Message::query();
        m.metadata.id = id;
        m.add_query(Query::query(
            Name::from_ascii("gslb.example.").expect("name"),
            RecordType::AXFR,
        ));
        m.to_vec().expect("encode")
    }

    fn find(msg: &[u8]) -> crate::wire::scan::Tsig {
        crate::wire::scan::Scan::of(msg)
            .tsig
            .expect("a tsig record")
    }

    #[test]
    fn the_room_kept_is_the_real_tsig_length_and_within_the_validation_bound() {
        let key = Key::parse(KEY).expect("key");
        // xfr-key. (9) + 10 + hmac-sha256. (13) + 6 + 2 + 2 + 32 + 2 + 2 + 2, as BIND sends it.
        assert_eq!(key.record_len(0), 80);
        assert_eq!(key.record_len(6), 86);
        let long = format!("{}.{}", "a".repeat(63), "b".repeat(14));
        let key = Key::parse(&format!("hmac-sha256:{long}:c2VjcmV0LXNlY3JldC1zZWNyZXQ="))
            .expect("the longest key name");
        assert!(key.record_len(6) <= usize::from(crate::wire::size::TSIG_ROOM));
    }

    #[test]
    fn a_signed_request_verifies_and_tampering_or_a_wrong_key_is_refused() {
        let key = Key::parse(KEY).expect("key");
        let mut msg = query(7);
        Signer::request(&key, 7).sign(&mut msg, 1_000_000, 0, &[]);
        let t = find(&msg);
        let keys = [key];
        let (k, req) =
            verify(&msg, t.owner, t.rdata, t.rdata_len, &keys, 1_000_010).expect("verifies");
        assert_eq!(k.name.to_string(), "xfr-key.");
        assert_eq!((req.mac.len(), req.original_id), (32, 7));
        // Too far from the signing time.
        let late = verify(&msg, t.owner, t.rdata, t.rdata_len, &keys, 1_000_400);
        assert!(matches!(late, Err(Rejected::BadTime { .. })));
        // One bit flipped in the question.
        let mut bad = msg.clone();
        bad[14] ^= 1;
        assert_eq!(
            verify(&bad, t.owner, t.rdata, t.rdata_len, &keys, 1_000_010).err(),
            Some(Rejected::Unsigned(BADSIG))
        );
        let other = [
            Key::parse("hmac-sha256:other:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=")
                .expect("key"),
        ];
        assert_eq!(
            verify(&msg, t.owner, t.rdata, t.rdata_len, &other, 1_000_010).err(),
            Some(Rejected::Unsigned(BADKEY))
        );
    }

    #[test]
    fn truncated_or_mangled_signatures_are_refused_without_panicking() {
        let key = Key::parse(KEY).expect("key");
        let mut msg = query(9);
        Signer::request(&key, 9).sign(&mut msg, 1_000_000, 0, &[]);
        let t = find(&msg);
        let keys = [key];
        for cut in 0..msg.len() {
            let short = &msg[..cut];
            let _ = verify(short, t.owner, t.rdata, t.rdata_len, &keys, 1_000_000);
        }
        for at in 0..msg.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = msg.clone();
                bad[at] ^= bit;
                if let Some(t) = crate::wire::scan::Scan::of(&bad).tsig {
                    let r = verify(&bad, t.owner, t.rdata, t.rdata_len, &keys, 1_000_000);
                    // The ID is replaced by the original ID before the MAC is checked.
                    assert!(
                        r.is_err() || at < 2,
                        "byte {at} bit {bit:#x} still verified"
                    );
                }
            }
        }
    }

    #[test]
    fn keys_are_read_as_dig_writes_them_and_never_shown() {
        assert!(Key::parse("hmac-md5:k:c2VjcmV0LXNlY3JldC1zZWNyZXQ=").is_err());
        assert!(Key::parse("hmac-sha256:k:not base64!").is_err());
        assert!(Key::parse("hmac-sha256:k:c2hvcnQ=").is_err());
        let long = format!(
            "hmac-sha256:{}:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=",
            "k".repeat(90)
        );
        assert!(Key::parse(&long).is_err());
        let k = Key::parse(KEY).expect("key");
        assert_eq!(format!("{k:?}"), "Key(xfr-key.)");
    }
}
