//! Zone transfers served to clients that misbehave or ask in unusual ways: classes other than
//! IN, IXFR over UDP, TSIG errors as RFC 8945 words them, refusal floods, large zones
//! (compression, concurrent transfers) and records as large as a message allows.

use std::process::Command;

use crate::harness::{Gslbd, free_port, zone_head};

const KEY: &str = "hmac-sha256:xfr-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";

/// gslbd transferring `zone` to 127.0.0.1 (any port), signed with [`KEY`] when `signed`;
/// `extra` goes into `[transfer]`.
fn primary(zone: &str, signed: bool, extra: &str) -> Gslbd {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone).expect("zone");
    std::fs::write(dir.path().join("xfr.key"), format!("{KEY}\n")).expect("key");
    let key = if signed {
        "key_file = \"xfr.key\"\n"
    } else {
        ""
    };
    std::fs::write(
        dir.path().join("gslbd.toml"),
        format!(
            "[transfer]\nsecondaries = [\"127.0.0.1:{}\"]\n{key}{extra}",
            free_port()
        ),
    )
    .expect("gslbd.toml");
    Gslbd::start_in(dir, &[])
}

/// A zone with `n` A records besides the head.
fn bulk(n: usize) -> String {
    let mut z = zone_head("gslb.example.");
    for i in 0..n {
        z.push_str(&format!(
            "[[records]]\nname = \"h{i}\"\ntype = \"A\"\ndata = [\"10.{}.{}.{}\"]\n",
            i >> 16 & 255,
            i >> 8 & 255,
            i & 255
        ));
    }
    z
}

/// kdig's output.
fn kdig(port: u16, args: &[&str]) -> String {
    let out = Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+retry=0",
            "+timeout=5",
        ])
        .args(args)
        .output()
        .expect("kdig (apt-get install knot-dnsutils)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_transfer_in_class_ch_is_refused_and_in_class_any_served_as_knot_and_nsd_do() {
    let g = primary(&bulk(3), true, "");
    let ch = kdig(g.port, &["-y", KEY, "-c", "CH", "gslb.example", "AXFR"]);
    assert!(ch.contains("REFUSED"), "{ch}");
    assert!(!ch.contains("h0.gslb.example"), "{ch}");
    let ch = kdig(g.port, &["-y", KEY, "-c", "CH", "gslb.example", "IXFR=1"]);
    assert!(ch.contains("REFUSED"), "{ch}");
    let any = kdig(g.port, &["-y", KEY, "-c", "ANY", "gslb.example", "AXFR"]);
    assert!(any.contains("h2.gslb.example"), "{any}");
}
