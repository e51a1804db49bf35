//! Sets of zone files (two origins alike, every bad file reported, the examples in `zones/`),
//! the defaults, targets shared between pools, CNAME loops, child zones, the bounds on every
//! number, and files that are not UTF-8.

use std::path::PathBuf;
use std::str::FromStr;

use super::super::*;
use super::{HEAD, POOL, bad, load_text, write};

#[test]
fn two_files_with_the_same_origin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(&dir, "a.toml", HEAD);
    let b = write(&dir, "b.toml", &format!("\n\n{HEAD}"));
    let err = load_files(&[a, b])
        .expect_err("same origin twice")
        .to_string();
    assert!(
        err.contains("b.toml:3:10: origin \"t.example.\" is already served by"),
        "{err}"
    );
    assert!(err.contains("a.toml"), "{err}");
}

#[test]
fn every_bad_file_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = write(&dir, "a.toml", &format!("{HEAD}x = 1\n"));
    let b = write(&dir, "b.toml", &format!("{HEAD}y = 1\n"));
    let err = load_files(&[a, b]).expect_err("two bad files");
    assert_eq!(err.0.len(), 2, "{err}");
}

#[test]
fn the_example_zones_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("zones");
    let set = load_dir(&dir).unwrap_or_else(|e| panic!("zones/ must be valid:\n{e}"));
    assert!(!set.zones.is_empty());
    assert!(set.zones.iter().any(|z| z.pools.len() >= 2));
}

#[test]
fn defaults_and_relative_names() {
    let set = load_text(&format!(
        "{HEAD}[[records]]\nname = \"a.b\"\ntype = \"MX\"\ndata = [\"10 mail\"]\n{POOL}\n[pools.www.probe]\ninterval = \"1s\"\n"
    ))
    .expect("valid");
    let zone = &set.zones[0];
    assert_eq!(zone.ttl, 300);
    assert_eq!(zone.negative_ttl, 30);
    // a.b exists, and b is an empty non-terminal.
    let b = zone
        .nodes
        .get(&hickory_proto::rr::LowerName::from_str("b.t.example.").expect("name"));
    assert!(b.is_some_and(|n| n.is_empty()));
    let pool = &zone.pools[0];
    assert_eq!((pool.ttl, pool.answers), (300, 1));
    assert_eq!(pool.policy, crate::zone::Policy::Weighted);
    let region = &pool.regions[0];
    assert_eq!((region.weight, region.priority), (1, 1));
    let probe = region.probe.as_ref().expect("probed");
    assert_eq!(probe.target, "http://192.0.2.1:80/");
    assert_eq!(probe.timeout, std::time::Duration::from_millis(500));
    assert_eq!((probe.fall, probe.rise), (3, 2));
    assert_eq!(probe.expect, vec![(200, 299)]);
}

#[test]
fn shared_targets_get_one_id() {
    let set = load_text(&format!(
        "{HEAD}{POOL}check = \"http://127.0.0.1:9/\"\n[pools.api]\ntype = \"A\"\n[pools.api.regions.a]\naddresses = [\"192.0.2.9\"]\ncheck = \"http://127.0.0.1:9/\"\n"
    ))
    .expect("valid");
    assert_eq!(set.targets.len(), 1);
    assert_eq!(set.regions.len(), 2);
}

#[test]
fn cname_loops_are_rejected_within_and_across_zones() {
    bad(
        &format!("{HEAD}§[[records]]\nname = \"self\"\ntype = \"CNAME\"\ndata = [\"self\"]\n"),
        "CNAME loop: self.t.example. -> self.t.example.",
    );
    bad(
        &format!(
            "{HEAD}§[[records]]\nname = \"a\"\ntype = \"CNAME\"\ndata = [\"b\"]\n\
             [[records]]\nname = \"b\"\ntype = \"CNAME\"\ndata = [\"a\"]\n"
        ),
        "CNAME loop: a.t.example. -> b.t.example. -> a.t.example.",
    );
    // A chain that ends, and a chain into another zone and back, are told apart.
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = write(
        &dir,
        "ok.toml",
        &format!(
            "{HEAD}[[records]]\nname = \"a\"\ntype = \"CNAME\"\ndata = [\"b\"]\n\
             [[records]]\nname = \"b\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n"
        ),
    );
    assert!(load_files(&[ok]).is_ok());
    let other = HEAD.replace("t.example.", "o.example.");
    let a = write(
        &dir,
        "a.toml",
        &format!("{HEAD}[[records]]\nname = \"x\"\ntype = \"CNAME\"\ndata = [\"y.o.example.\"]\n"),
    );
    let b = write(
        &dir,
        "b.toml",
        &format!("{other}[[records]]\nname = \"y\"\ntype = \"CNAME\"\ndata = [\"x.t.example.\"]\n"),
    );
    let err = load_files(&[a, b])
        .expect_err("loop across zones")
        .to_string();
    assert!(
        err.contains("CNAME loop: x.t.example. -> y.o.example. -> x.t.example."),
        "{err}"
    );
}

#[test]
fn parent_data_below_a_child_zone_served_here_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let child = HEAD.replace("origin = \"t.example.\"", "origin = \"kid.t.example.\"");
    let kid = write(&dir, "kid.toml", &child);
    // The delegation and its glue belong in the parent.
    let parent = write(
        &dir,
        "p.toml",
        &format!(
            "{HEAD}[[records]]\nname = \"kid\"\ntype = \"NS\"\ndata = [\"ns.kid\"]\n\
             [[records]]\nname = \"ns.kid\"\ntype = \"A\"\ndata = [\"192.0.2.53\"]\n"
        ),
    );
    assert!(load_files(&[parent, kid.clone()]).is_ok());
    for data in [
        "[[records]]\nname = \"www.kid\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n",
        "[[records]]\nname = \"kid\"\ntype = \"TXT\"\ndata = [\"x\"]\n",
        "[pools.w]\nname = \"w.kid\"\ntype = \"A\"\n[pools.w.regions.a]\naddresses = [\"192.0.2.1\"]\n",
    ] {
        let text = format!("{HEAD}{data}");
        let at = text.find(data).expect("appended");
        let line = text[..at].matches('\n').count() + 1;
        let parent = write(&dir, "p.toml", &text);
        let err = load_files(&[parent, kid.clone()])
            .expect_err("hidden data")
            .to_string();
        assert!(err.contains(&format!("p.toml:{line}:")), "{err}");
        assert!(err.contains(": data at \""), "{err}");
        assert!(
            err.contains("is hidden by zone \"kid.t.example.\""),
            "{err}"
        );
    }
}

#[test]
fn every_number_is_bounded_at_load() {
    let probe = |body: &str| format!("{HEAD}{POOL}[pools.www.probe]\n{body}\n");
    for (marked, message) in [
        (
            probe("interval = §\"2h\""),
            "interval must be from 10ms to 1h, not 2h",
        ),
        (
            probe("interval = §\"18446744073s 709551616ns\""),
            "interval must be from 10ms to 1h",
        ),
        (
            probe("interval = §\"1ms\""),
            "interval must be from 10ms to 1h",
        ),
        (probe("fall = §101"), "fall must be at most 100, not 101"),
        (probe("rise = §1000"), "rise must be at most 100"),
        (
            probe("hold_down = §\"2days\""),
            "hold_down must be at most 1day",
        ),
        (probe("port = §0"), "port must be from 1 to 65535"),
        (
            format!("{HEAD}{POOL}check = §\"http://127.0.0.1:0/\"\n"),
            "check URL \"http://127.0.0.1:0/\" has port 0 (1 to 65535)",
        ),
        (
            format!("{HEAD}{POOL}check = §\"127.0.0.1:0\"\n"),
            "check URL \"http://127.0.0.1:0/\" has port 0 (1 to 65535)",
        ),
        (
            probe("headers = §{ \"X Bad\" = \"v\" }"),
            "header name \"X Bad\" is not a valid HTTP header name",
        ),
        (
            probe("headers = §{ \"X-Ok\" = \"a\\nb\" }"),
            "the value of header \"X-Ok\" holds characters HTTP cannot carry",
        ),
        (
            probe("host = §\"bad host\""),
            "host \"bad host\" is not a host name a Host header can carry",
        ),
        (
            format!(
                "{HEAD}[pools.www]\ntype = \"A\"\nslow_start = §\"30days\"\n\
                 [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n"
            ),
            "slow_start must be at most 1day",
        ),
        (
            format!("resolver_failure_ttl = §\"2h\"\n{HEAD}"),
            "resolver_failure_ttl must be at most 1h",
        ),
        (
            format!("ttl = §4294967296\n{HEAD}"),
            "TTLs and SOA timers take 0 to 2147483647",
        ),
        (
            format!(
                "{HEAD}[[records]]\nname = \"x\"\ntype = \"A\"\nttl = §2147483648\ndata = [\"192.0.2.1\"]\n"
            ),
            "2147483648 is out of range",
        ),
        (
            format!(
                "{HEAD}[pools.www]\ntype = \"A\"\n[pools.www.regions.a]\n\
                 addresses = [\"192.0.2.1\"]\nweight = §1000001\n"
            ),
            "weight must be at most 1000000",
        ),
    ] {
        // Only the first § marks the place; a case that needs the text twice keeps one.
        let first = marked.find('§').expect("marker");
        let text = format!(
            "{}§{}",
            &marked[..first],
            marked[first + '§'.len_utf8()..].replace('§', "")
        );
        bad(&text, message);
    }
}

#[test]
fn a_file_that_is_not_utf8_names_the_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("z.toml");
    let mut bytes = HEAD.as_bytes().to_vec();
    bytes.extend_from_slice(b"[[records]]\nname = \"x\xff\"\n");
    std::fs::write(&path, &bytes).expect("write");
    let err = load_files(&[path]).expect_err("not UTF-8").to_string();
    let line = HEAD.matches('\n').count() + 2;
    assert!(
        err.contains(&format!(
            "z.toml:{line}:10: the file is not UTF-8 text (byte 0xff)"
        )),
        "{err}"
    );
}
