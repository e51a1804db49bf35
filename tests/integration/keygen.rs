//! `gslbd keygen`: a key file only its owner can read, never replaced, and DNSKEY and DS
//! records that BIND's `dnssec-dsfromkey` agrees with, for ECDSA P-256 and Ed25519.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::harness::run;

#[test]
fn keygen_writes_a_private_key_and_prints_a_ds_bind_agrees_with() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (algorithm, number) in [("ecdsa-p256", "13"), ("ed25519", "15")] {
        let file = dir.path().join(format!("{algorithm}.pem"));
        let out = run(
            &[
                "keygen",
                "--zone",
                "GSLB.Example",
                "--algorithm",
                algorithm,
                "--out",
                file.to_str().expect("utf8"),
            ],
            dir.path(),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = std::fs::metadata(&file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{algorithm}: only its owner reads it");
        let pem = std::fs::read_to_string(&file).expect("read key");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
        if algorithm == "ecdsa-p256" {
            // (ring writes Ed25519 keys as PKCS#8 v2, with the public key, which OpenSSL 3.0
            // does not load; ring reads both.)
            let parsed = Command::new("openssl")
                .args(["pkey", "-noout", "-in"])
                .arg(&file)
                .status()
                .expect("run openssl");
            assert!(
                parsed.success(),
                "{algorithm}: openssl reads the PKCS#8 key"
            );
        }
        let line = |kind: &str| {
            text.lines()
                .find(|l| l.contains(&format!(" IN {kind} ")))
                .unwrap_or_else(|| panic!("no {kind} in {text}"))
                .to_string()
        };
        let (dnskey, ds) = (line("DNSKEY"), line("DS"));
        assert!(
            dnskey.starts_with(&format!("gslb.example. 3600 IN DNSKEY 257 3 {number} ")),
            "{dnskey}"
        );
        // BIND computes the DS from the printed DNSKEY: the same key tag and digest.
        let keyfile = dir.path().join(format!("{algorithm}.dnskey"));
        std::fs::write(&keyfile, format!("{dnskey}\n")).expect("write dnskey");
        let bind = Command::new("dnssec-dsfromkey")
            .args(["-2", "-f"])
            .arg(&keyfile)
            .arg("gslb.example")
            .output()
            .expect("run dnssec-dsfromkey (bind9-utils)");
        let bind = String::from_utf8_lossy(&bind.stdout);
        let fields = |s: &str| -> Vec<String> {
            s.split_whitespace()
                .skip_while(|f| *f != "DS")
                .map(str::to_uppercase)
                .collect()
        };
        assert_eq!(
            fields(&ds),
            fields(bind.trim()),
            "gslbd: {ds}\nBIND: {bind}"
        );
    }
    // An existing file is never replaced.
    let file = dir.path().join("ed25519.pem");
    let before = std::fs::read(&file).expect("read");
    let out = run(
        &[
            "keygen",
            "--zone",
            "gslb.example",
            "--out",
            file.to_str().expect("utf8"),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("File exists"));
    assert_eq!(
        std::fs::read(&file).expect("read"),
        before,
        "the key is kept"
    );
}
