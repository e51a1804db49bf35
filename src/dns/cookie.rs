//! DNS Cookies (RFC 7873) with interoperable server cookies (RFC 9018): a client that sends a
//! client cookie gets a server cookie back, made from its client cookie, its address, the time
//! and a secret with SipHash-2-4, so any server of an NS set that shares the secret accepts it.
//!
//! The secret comes from `--cookie-secret-file` (shared by the instances of an NS set; the
//! second line, when present, is the previous secret, still accepted) and is re-read when the
//! file changes, or is random per process and rotated daily. Answering never waits: the DNS
//! path reads the secrets with one atomic load.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use rand::Rng;
use siphasher::sip::SipHasher24;
use std::hash::Hasher;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A client cookie's length (RFC 7873 §4.1).
pub const CLIENT_LEN: usize = 8;
/// The COOKIE option data gslbd answers: the client cookie, then a 16-byte server cookie.
pub const OPTION_LEN: usize = CLIENT_LEN + 16;
/// The server cookie version of RFC 9018.
const VERSION: u8 = 1;
/// A server cookie older than this, or this far in the future, is not valid (RFC 9018 §4.3).
const MAX_AGE: u32 = 3600;
const MAX_AHEAD: u32 = 300;
/// How often the secret file is looked at; how often a random secret is replaced.
const FILE_CHECK: Duration = Duration::from_secs(2);
const ROTATE: Duration = Duration::from_secs(24 * 3600);

/// A 128-bit SipHash key.
pub type Secret = [u8; 16];

/// The secret server cookies are made with, and the one before it (still accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secrets {
    pub current: Secret,
    pub previous: Option<Secret>,
}

impl Secrets {
    pub fn random() -> Secrets {
        Secrets {
            current: rand::rng().random(),
            previous: None,
        }
    }

    /// One or two secrets as 32 hex digits a line: current first, then previous.
    pub fn parse(text: &str) -> Result<Secrets, String> {
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let mut secret = |what: &str| -> Result<Option<Secret>, String> {
            let Some(line) = lines.next() else {
                return Ok(None);
            };
            let bytes = (0..line.len())
                .step_by(2)
                .map(|i| {
                    line.get(i..i + 2)
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                })
                .collect::<Option<Vec<u8>>>();
            match bytes.map(Secret::try_from) {
                Some(Ok(s)) => Ok(Some(s)),
                _ => Err(format!("the {what} secret must be 32 hex digits")),
            }
        };
        let current = secret("first")?.ok_or("no secret in the file")?;
        let previous = secret("second")?;
        if lines.next().is_some() {
            return Err("at most two secrets: the current one, then the previous one".into());
        }
        Ok(Secrets { current, previous })
    }
}

/// The secrets the DNS path reads, swapped whole by [`keep`].
pub type Shared = Arc<ArcSwap<Secrets>>;

/// What a query's COOKIE option gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The COOKIE option data of the response: the client cookie and a fresh server cookie.
    pub option: [u8; OPTION_LEN],
    /// True when the query carried a server cookie this server (or its NS set) made.
    pub valid: bool,
}

/// The reply to a well-formed COOKIE option (`cookie`: 8 bytes, or 16 to 40) from `client` at
/// `now` (seconds since the epoch, wrapping).
pub fn reply(secrets: &Secrets, cookie: &[u8], client: IpAddr, now: u32) -> Reply {
    let (client_cookie, server) = cookie.split_at(CLIENT_LEN.min(cookie.len()));
    let valid = server.len() == 16
        && server[0] == VERSION
        && server[1..4] == [0, 0, 0]
        && {
            let stamp = u32::from_be_bytes([server[4], server[5], server[6], server[7]]);
            let age = now.wrapping_sub(stamp);
            // Serial-number arithmetic (RFC 1982): "age" below 2^31 is the past.
            if age < 1 << 31 {
                age <= MAX_AGE
            } else {
                stamp.wrapping_sub(now) <= MAX_AHEAD
            }
        }
        && [Some(secrets.current), secrets.previous]
            .into_iter()
            .flatten()
            .any(|key| server_cookie(&key, client_cookie, client, &server[4..8]) == server[..]);
    let mut option = [0u8; OPTION_LEN];
    option[..CLIENT_LEN].copy_from_slice(client_cookie);
    option[CLIENT_LEN..].copy_from_slice(&server_cookie(
        &secrets.current,
        client_cookie,
        client,
        &now.to_be_bytes(),
    ));
    Reply { option, valid }
}

/// Version, reserved, timestamp, then SipHash-2-4 of the client cookie, those four bytes and
/// the timestamp, and the client's address (RFC 9018 §4.4).
fn server_cookie(key: &Secret, client_cookie: &[u8], client: IpAddr, stamp: &[u8]) -> [u8; 16] {
    let mut head = [0u8; 8];
    head[0] = VERSION;
    head[4..8].copy_from_slice(stamp);
    let mut h = SipHasher24::new_with_key(key);
    h.write(client_cookie);
    h.write(&head);
    match client {
        IpAddr::V4(v4) => h.write(&v4.octets()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => h.write(&v4.octets()),
            None => h.write(&v6.octets()),
        },
    }
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&head);
    // SipHash's 64-bit result goes out least significant byte first (RFC 9018 §4.4).
    out[8..].copy_from_slice(&h.finish().to_le_bytes());
    out
}

/// Seconds since the epoch, as cookies count them (wrapping at 2^32).
pub fn now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// The starting secrets: from `file` when given (an error names it), else random.
pub fn load(file: Option<&PathBuf>) -> Result<Secrets, String> {
    match file {
        None => Ok(Secrets::random()),
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| Secrets::parse(&t))
            .map_err(|e| format!("{}: {e}", f.display())),
    }
}

/// Keeps the secrets current until `cancel`: re-reads `file` when it changes (a bad file keeps
/// the old secrets and says why), or, without a file, rotates a random secret daily.
pub async fn keep(shared: Shared, file: Option<PathBuf>, cancel: CancellationToken) {
    let mut last_text = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
    let mut rotated = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(FILE_CHECK) => {}
        }
        match &file {
            Some(f) => {
                let text = match std::fs::read_to_string(f) {
                    Ok(t) => t,
                    Err(e) => {
                        if last_text.take().is_some() {
                            warn!(file = %f.display(), error = %e, "cannot read the cookie secret file; keeping the secrets");
                        }
                        continue;
                    }
                };
                if last_text.as_ref() == Some(&text) {
                    continue;
                }
                last_text = Some(text.clone());
                match Secrets::parse(&text) {
                    Ok(s) => {
                        shared.store(Arc::new(s));
                        info!(file = %f.display(), "cookie secret changed");
                    }
                    Err(e) => {
                        warn!(file = %f.display(), error = %e, "bad cookie secret file; keeping the secrets")
                    }
                }
            }
            None if rotated.elapsed() >= ROTATE => {
                let old = shared.load().current;
                shared.store(Arc::new(Secrets {
                    current: rand::rng().random(),
                    previous: Some(old),
                }));
                rotated = tokio::time::Instant::now();
                info!("cookie secret rotated");
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Secret = [1; 16];
    const B: Secret = [2; 16];

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_server_cookie_is_valid_for_the_same_client_within_the_hour() {
        let s = Secrets {
            current: A,
            previous: None,
        };
        let first = reply(&s, &[7; 8], ip("192.0.2.1"), 1_000_000);
        assert!(
            !first.valid,
            "a client cookie alone is not a valid server cookie"
        );
        assert_eq!(&first.option[..8], &[7; 8]);
        assert_eq!(first.option[8], VERSION);
        let cookie = first.option;
        assert!(reply(&s, &cookie, ip("192.0.2.1"), 1_000_000 + MAX_AGE).valid);
        assert!(!reply(&s, &cookie, ip("192.0.2.1"), 1_000_001 + MAX_AGE).valid);
        assert!(reply(&s, &cookie, ip("192.0.2.1"), 1_000_000 - MAX_AHEAD).valid);
        assert!(!reply(&s, &cookie, ip("192.0.2.1"), 999_999 - MAX_AHEAD).valid);
        assert!(
            !reply(&s, &cookie, ip("192.0.2.2"), 1_000_000).valid,
            "another client"
        );
        let mut other = cookie;
        other[0] ^= 1;
        assert!(!reply(&s, &other, ip("192.0.2.1"), 1_000_000).valid);
    }

    #[test]
    fn rotation_keeps_the_previous_secret_valid_and_then_drops_it() {
        let old = Secrets {
            current: A,
            previous: None,
        };
        let cookie = reply(&old, &[7; 8], ip("2001:db8::1"), 50).option;
        let rotated = Secrets {
            current: B,
            previous: Some(A),
        };
        let r = reply(&rotated, &cookie, ip("2001:db8::1"), 60);
        assert!(r.valid);
        assert_ne!(
            r.option[8..],
            cookie[8..],
            "a fresh cookie under the new secret"
        );
        let gone = Secrets {
            current: B,
            previous: None,
        };
        assert!(!reply(&gone, &cookie, ip("2001:db8::1"), 60).valid);
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn the_rfc_9018_test_vectors() {
        // Appendix A.1: a client learns a server cookie; A.2: it comes back 40 minutes later,
        // is valid, and is renewed.
        let key = Secrets::parse("e5e973e5a6b2a43f48e7dc849e37bfcf").expect("hex");
        let client = ip("198.51.100.100");
        let r = reply(&key, &hex("2464c4abcf10c957"), client, 1_559_731_985);
        assert_eq!(
            r.option[..],
            hex("2464c4abcf10c957010000005cf79f111f8130c3eee29480")
        );
        let r = reply(&key, &r.option, client, 1_559_734_385);
        assert!(r.valid);
        assert_eq!(
            r.option[..],
            hex("2464c4abcf10c957010000005cf7a871d4a564a1442aca77")
        );
    }

    #[test]
    fn secret_files_hold_one_or_two_hex_secrets() {
        let s = Secrets::parse("0102030405060708090a0b0c0d0e0f10\n").expect("one");
        assert_eq!(s.current[0], 1);
        assert!(s.previous.is_none());
        let s =
            Secrets::parse(&format!("{}\n{}\n", "aa".repeat(16), "bb".repeat(16))).expect("two");
        assert_eq!(s.previous, Some([0xbb; 16]));
        for bad in [
            "",
            "xyz",
            &"aa".repeat(15),
            &format!("{0}\n{0}\n{0}", "aa".repeat(16)),
        ] {
            assert!(Secrets::parse(bad).is_err(), "{bad:?}");
        }
    }
}
