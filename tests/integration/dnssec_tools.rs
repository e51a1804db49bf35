//! The validators and signers behind the DNSSEC tests: zone keys from `gslbd keygen`, trust
//! anchors, a validating Unbound's verdict on one question (with its reason when bogus), `delv`
//! with a static DS anchor, Knot signing a zone by itself (the harness's control) and raw DO=1
//! queries for byte-for-byte comparisons.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Gslbd, Killed, dig, free_port, poll, run};
use crate::resolver::Unbound;
use crate::secondary::{knotd, sbin};

/// A DS record that a validator takes as the zone's trust anchor.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub zone: String,
    pub tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub digest: String,
}

impl Anchor {
    /// From a DS line as `gslbd keygen` and `keymgr ds` print it: `ZONE [TTL] [IN] DS TAG ALG
    /// TYPE HEX`.
    pub fn parse(line: &str) -> Anchor {
        let f: Vec<&str> = line.split_whitespace().collect();
        let at = f.iter().position(|x| *x == "DS").expect("a DS line");
        let num = |i: usize| f.get(at + i).unwrap_or_else(|| panic!("short DS: {line}"));
        Anchor {
            zone: f[0].to_ascii_lowercase(),
            tag: num(1).parse().expect("key tag"),
            algorithm: num(2).parse().expect("algorithm"),
            digest_type: num(3).parse().expect("digest type"),
            digest: f[at + 4..].concat().to_ascii_uppercase(),
        }
    }

    /// As Unbound's `trust-anchor:` takes it.
    pub fn unbound(&self) -> String {
        let Anchor {
            zone,
            tag,
            algorithm,
            digest_type,
            digest,
        } = self;
        format!("{zone} DS {tag} {algorithm} {digest_type} {digest}")
    }

    /// The same anchor with one digest nibble changed: a validator holding it must find the
    /// zone bogus.
    pub fn corrupted(&self) -> Anchor {
        let mut wrong = self.clone();
        let first = if wrong.digest.starts_with('0') {
            "1"
        } else {
            "0"
        };
        wrong.digest.replace_range(0..1, first);
        wrong
    }
}

/// A zone key made by `gslbd keygen` (kept as text, written next to the zone file).
pub struct Key {
    pub pem: String,
    /// The DNSKEY line keygen printed.
    pub dnskey: String,
    pub anchor: Anchor,
}

impl Key {
    /// `gslbd keygen --zone ZONE --algorithm ALGORITHM` (`ecdsa-p256` or `ed25519`).
    pub fn new(zone: &str, algorithm: &str) -> Key {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("k.pem");
        let text = keygen_printed(&file, zone, algorithm);
        let line = |kind: &str| {
            text.lines()
                .find(|l| l.contains(&format!(" IN {kind} ")))
                .unwrap_or_else(|| panic!("keygen printed no {kind}: {text}"))
                .to_string()
        };
        Key {
            pem: std::fs::read_to_string(&file).expect("key file"),
            dnskey: line("DNSKEY"),
            anchor: Anchor::parse(&line("DS")),
        }
    }
}

/// Runs `gslbd keygen --zone ZONE --algorithm ALGORITHM --out FILE`; what it printed.
pub fn keygen_printed(file: &std::path::Path, zone: &str, algorithm: &str) -> String {
    let dir = file.parent().expect("a directory");
    let out = run(
        &[
            "keygen",
            "--zone",
            zone,
            "--algorithm",
            algorithm,
            "--out",
            file.to_str().expect("utf8"),
        ],
        dir,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "keygen: {text}{:?}", out.stderr);
    text
}

/// A key for `gslb.example.` written to `dir/file`; its DS, as a trust anchor.
pub fn keygen(dir: &std::path::Path, file: &str, algorithm: &str) -> Anchor {
    let text = keygen_printed(&dir.join(file), "gslb.example.", algorithm);
    Anchor::parse(
        text.lines()
            .find(|l| l.contains(" DS "))
            .expect("a DS line"),
    )
}

/// gslbd serving `zone` (zone file text) signed with `key`, a CSK in `k0.pem` beside it.
pub fn signed(zone: &str, key: &Key) -> Gslbd {
    signed_with(zone, &[(key, "")])
}

/// gslbd serving `zone` with `keys` in its `[dnssec]` section, each `(key, more fields)`, e.g.
/// `role = "zsk", sign = false`; the files are `k0.pem`, `k1.pem`… beside the zone file.
pub fn signed_with(zone: &str, keys: &[(&Key, &str)]) -> Gslbd {
    signed_env(zone, keys, &[])
}

/// [`signed_with`], with `env` added to gslbd's environment (e.g. libfaketime's).
pub fn signed_env(zone: &str, keys: &[(&Key, &str)], env: &[(&str, &str)]) -> Gslbd {
    let zone = keyed(zone, keys);
    let names: Vec<String> = (0..keys.len()).map(|i| format!("k{i}.pem")).collect();
    let mut files = vec![("z.toml", zone.as_str())];
    files.extend(
        names
            .iter()
            .zip(keys)
            .map(|(n, (k, _))| (n.as_str(), k.pem.as_str())),
    );
    Gslbd::start_env(&files, env)
}

/// `zone` with a `[dnssec]` section naming `keys` as `k0.pem`, `k1.pem`… (see [`signed_with`]).
pub fn keyed(zone: &str, keys: &[(&Key, &str)]) -> String {
    let entries: Vec<String> = (0..keys.len())
        .map(|i| match keys[i].1 {
            "" => format!("{{ file = \"k{i}.pem\" }}"),
            more => format!("{{ file = \"k{i}.pem\", {more} }}"),
        })
        .collect();
    format!("{zone}\n[dnssec]\nkeys = [{}]\n", entries.join(", "))
}

/// A validating Unbound in front of the servers on `ports` for the anchor's zone.
pub fn validator(anchor: &Anchor, ports: &[u16], extra: &[&str]) -> Unbound {
    Unbound::validating(&[(&anchor.zone, ports)], &[&anchor.unbound()], extra)
}

/// A validating resolver's answer to one question.
#[derive(Debug)]
pub struct Verdict {
    pub status: String,
    /// The AD bit: the answer (or its denial) validated.
    pub ad: bool,
    /// The data of the answer records of the question's type.
    pub answers: Vec<String>,
    /// The Extended DNS Error text (Unbound puts "validation failure <…>: reason" there).
    pub reason: String,
    pub raw: String,
}

/// Asks the resolver `question` ("NAME TYPE") with DO=1.
pub fn ask(u: &Unbound, question: &str) -> Verdict {
    let d = u.dig(&format!("+dnssec {question}"));
    let qtype = question.split_whitespace().last().unwrap_or("A");
    Verdict {
        ad: d.has_flag("ad"),
        answers: d.answers(qtype),
        reason: d
            .raw
            .lines()
            .filter(|l| l.starts_with("; EDE:"))
            .collect::<Vec<_>>()
            .join("\n"),
        status: d.status.clone(),
        raw: d.raw,
    }
}

/// Asks `question` and asserts it validated (AD) with rcode `status`, showing Unbound's reason
/// and its logged validation failures when not.
pub fn secure(u: &Unbound, question: &str, status: &str) -> Verdict {
    let v = ask(u, question);
    assert!(
        v.status == status && v.ad,
        "{question}: want {status} with AD, got {} ad={}\nreason: {}\n{}\nunbound: {}",
        v.status,
        v.ad,
        v.reason,
        v.raw,
        failures(u).join("\n")
    );
    v
}

/// Unbound's logged validation failures.
pub fn failures(u: &Unbound) -> Vec<String> {
    u.log()
        .lines()
        .filter(|l| l.contains("validation failure"))
        .map(String::from)
        .collect()
}

/// What `delv` made of one question.
#[derive(Debug)]
pub struct Delv {
    /// It printed "; fully validated" (or "; negative response, fully validated").
    pub validated: bool,
    pub out: String,
}

/// `delv @127.0.0.1 -p PORT -a ANCHORS +root=ZONE NAME TYPE`, the anchor as a `static-ds`.
pub fn delv(port: u16, anchor: &Anchor, question: &str) -> Delv {
    delv_all(port, &[anchor], question)
}

/// [`delv`] trusting every anchor in `anchors` (a parent serving several DS records), all of
/// one zone.
pub fn delv_all(port: u16, anchors: &[&Anchor], question: &str) -> Delv {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("anchors.conf");
    let zone = &anchors.first().expect("an anchor").zone;
    let lines: String = anchors
        .iter()
        .map(|a| {
            format!(
                "{} static-ds {} {} {} \"{}\";\n",
                a.zone, a.tag, a.algorithm, a.digest_type, a.digest
            )
        })
        .collect();
    std::fs::write(&file, format!("trust-anchors {{\n{lines}}};\n")).expect("write anchors");
    let out = Command::new("timeout")
        .args(["20", "delv", "@127.0.0.1", "-p", &port.to_string(), "-a"])
        .arg(&file)
        .arg(format!("+root={zone}"))
        .args(question.split_whitespace())
        .output()
        .expect("run delv (bind9-dnsutils)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Delv {
        validated: out.lines().any(|l| l.ends_with("fully validated")),
        out,
    }
}

/// Knot signing a zone by itself (automatic ECDSA P-256 CSK, NSEC), on a loopback port,
/// killed on drop.
pub struct Knot {
    _child: Killed,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Knot {
    /// Serves `origin` from zone file text `zone`, signed with `dnssec-signing: on`.
    pub fn signing(origin: &str, zone: &str) -> Knot {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\n  user: root:root\n\
             log:\n  - target: {d}/knot.log\n    any: info\n\
             database:\n  storage: {d}/db\n\
             policy:\n  - id: p\n    algorithm: ecdsap256sha256\n    single-type-signing: on\n    nsec3: off\n\
             zone:\n  - domain: {origin}\n    storage: {d}\n    file: signed.zone\n    dnssec-signing: on\n    \
             dnssec-policy: p\n    zonefile-sync: -1\n    journal-content: none\n"
        );
        std::fs::create_dir_all(dir.path().join("db/keys")).expect("key store");
        std::fs::write(dir.path().join("signed.zone"), zone).expect("zone");
        let child = Killed(knotd(dir.path(), &conf));
        let k = Knot {
            _child: child,
            port,
            dir,
        };
        let signed = poll(Duration::from_secs(20), Duration::from_millis(100), || {
            let d = dig(port, &format!("+dnssec +norecurse {origin} SOA"));
            (!d.answers("RRSIG").is_empty()).then_some(())
        });
        assert!(signed.is_some(), "knot signed {origin}:\n{}", k.log());
        k
    }

    /// The SHA-256 DS of the zone's key, from `keymgr ZONE ds`.
    pub fn anchor(&self, origin: &str) -> Anchor {
        let out = Command::new(sbin("keymgr"))
            .arg("-c")
            .arg(self.dir.path().join("knot.conf"))
            .args([origin, "ds"])
            .output()
            .expect("run keymgr");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(4) == Some("2"))
            .unwrap_or_else(|| panic!("no SHA-256 DS from keymgr: {text}"));
        Anchor::parse(line)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }
}

/// A DO=1 query for `name`/`qtype` with message ID `id`, RD clear, EDNS payload 1232.
pub fn do_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend(id.to_be_bytes());
    m.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        m.push(label.len() as u8);
        m.extend(label.as_bytes());
    }
    m.push(0);
    m.extend(qtype.to_be_bytes());
    m.extend([0, 1]);
    // OPT: root owner, type 41, payload 1232, extended rcode 0, version 0, DO, no options.
    m.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    m
}

/// Sends `query` over UDP to gslbd on `port` and returns the response's bytes (three tries).
pub fn udp_exchange(port: u16, query: &[u8]) -> Vec<u8> {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut buf = vec![0u8; 65535];
    for _ in 0..3 {
        sock.send_to(query, ("127.0.0.1", port)).expect("send");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return buf[..n].to_vec();
        }
    }
    panic!("no answer from 127.0.0.1:{port}");
}

/// `gslbd_dns_transport_queries_total{transport}` from gslbd's metrics.
pub fn transport_queries(g: &Gslbd, transport: &str) -> u64 {
    let want = format!("gslbd_dns_transport_queries_total{{transport=\"{transport}\"}} ");
    g.metrics()
        .lines()
        .find_map(|l| l.strip_prefix(&want))
        .and_then(|n| n.trim().parse::<f64>().ok())
        .map_or(0, |n| n as u64)
}
