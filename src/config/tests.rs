//! Good and bad zone files. In each bad case `§` marks where the error must point; the helper
//! removes it, loads the file, and asserts `path:line:col: message`.

use hickory_proto::rr::{LowerName, Name, RData};
use hickory_proto::serialize::binary::BinEncodable;
use std::path::PathBuf;

use super::*;

const HEAD: &str = r#"origin = "t.example."
[soa]
mname = "ns1.t.example."
rname = "hostmaster.t.example."
[[records]]
name = "@"
type = "NS"
data = ["ns1.t.example."]
"#;

const POOL: &str = r#"
[pools.www]
type = "A"
[pools.www.regions.a]
addresses = ["192.0.2.1"]
"#;

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temp zone");
    path
}

pub(super) fn load_text(text: &str) -> Result<ZoneSet, ConfigErrors> {
    let dir = tempfile::tempdir().expect("tempdir");
    load_files(&[write(&dir, "z.toml", text)])
}

/// Asserts that `marked` (with one `§`) fails with `message` at the marker's line:col.
pub(super) fn bad(marked: &str, message: &str) {
    let at = marked.find('§').expect("case needs a § marker");
    let text = marked.replacen('§', "", 1);
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    let err = match load_text(&text) {
        Ok(_) => panic!("accepted a bad zone; expected {message:?}:\n{text}"),
        Err(e) => e.to_string(),
    };
    let want = format!("z.toml:{line}:{col}: ");
    assert!(
        err.contains(&want),
        "expected position {want} in {err:?}\n{text}"
    );
    assert!(err.contains(message), "expected {message:?} in {err:?}");
}

#[test]
fn toml_syntax_error() {
    bad(&format!("{HEAD}ttl = §\n"), "string values must be quoted");
}

#[test]
fn unknown_top_level_key() {
    bad(&format!("{HEAD}§wieght = 3\n"), "unknown field `wieght`");
}

#[test]
fn unknown_region_key_lists_the_expected_ones() {
    bad(
        &format!("{HEAD}{POOL}§wieght = 3\n"),
        "unknown field `wieght`, expected one of `addresses`, `weight`",
    );
}

#[test]
fn wrong_type() {
    bad(
        &format!("{HEAD}ttl = §\"long\"\n"),
        "expected a TTL: a whole number of seconds",
    );
}

#[test]
fn missing_soa() {
    bad(
        "§origin = \"t.example.\"\n[[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns1.t.example.\"]\n",
        "missing [soa] table",
    );
}

#[test]
fn missing_apex_ns() {
    bad(
        "origin = §\"t.example.\"\n[soa]\nmname = \"ns1.t.example.\"\nrname = \"h.t.example.\"\n",
        "missing NS records at the apex",
    );
}

#[test]
fn name_outside_origin() {
    bad(
        &format!(
            "{HEAD}[[records]]\nname = §\"www.other.example.\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n"
        ),
        "name \"www.other.example.\" is outside the origin \"t.example.\"",
    );
}

#[test]
fn cname_beside_other_data() {
    bad(
        &format!(
            "{HEAD}[[records]]\nname = \"x\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n[[records]]\nname = \"x\"\ntype = §\"CNAME\"\ndata = [\"y\"]\n"
        ),
        "CNAME at \"x.t.example.\" cannot stand beside other data (line 9)",
    );
}

#[test]
fn data_beside_cname() {
    bad(
        &format!(
            "{HEAD}[[records]]\nname = \"x\"\ntype = \"CNAME\"\ndata = [\"y\"]\n[[records]]\nname = \"x\"\ntype = §\"TXT\"\ndata = [\"hi\"]\n"
        ),
        "cannot stand beside other data",
    );
}

#[test]
fn pool_name_is_also_a_static_name() {
    bad(
        &format!(
            "{HEAD}[[records]]\nname = \"www\"\ntype = \"TXT\"\ndata = [\"x\"]\n[pools.§www]\ntype = \"A\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n"
        ),
        "pool \"www\" answers www.t.example. which is also a static record name (line 9)",
    );
}

#[test]
fn duplicate_region_is_a_duplicate_key() {
    bad(
        &format!("{HEAD}{POOL}[pools.www.regions.§a]\naddresses = [\"192.0.2.2\"]\n"),
        "duplicate key",
    );
}

#[test]
fn duplicate_address_across_regions() {
    bad(
        &format!("{HEAD}{POOL}[pools.www.regions.b]\naddresses = [§\"192.0.2.1\"]\n"),
        "duplicate address 192.0.2.1 (also in region a)",
    );
}

#[test]
fn negative_weight() {
    bad(
        &format!("{HEAD}{POOL}weight = §-1\n"),
        "weight must be 0 or more, not -1",
    );
}

#[test]
fn zero_sum_weights() {
    bad(
        &format!(
            "{HEAD}\n[pools.§www]\ntype = \"A\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\nweight = 0\n"
        ),
        "the weights of pool \"www\" sum to zero",
    );
}

#[test]
fn address_of_wrong_family() {
    bad(
        &format!(
            "{HEAD}\n[pools.www]\ntype = \"AAAA\"\n[pools.www.regions.a]\naddresses = [§\"192.0.2.1\"]\n"
        ),
        "address 192.0.2.1 does not match the pool type AAAA",
    );
}

#[test]
fn invalid_address() {
    bad(
        &format!(
            "{HEAD}\n[pools.www]\ntype = \"A\"\n[pools.www.regions.a]\naddresses = [§\"192.0.2.300\"]\n"
        ),
        "invalid IP address \"192.0.2.300\"",
    );
}

#[test]
fn timeout_not_below_interval() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\ninterval = \"1s\"\ntimeout = §\"1s\"\n"),
        "timeout (1s) must be shorter than interval (1s)",
    );
}

#[test]
fn region_override_timeout_checked_against_pool_interval() {
    bad(
        &format!(
            "{HEAD}{POOL}[pools.www.regions.a.probe]\ntimeout = §\"3s\"\n[pools.www.probe]\ninterval = \"2s\"\n"
        ),
        "timeout (3s) must be shorter than interval (2s)",
    );
}

#[test]
fn fall_zero() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\nfall = §0\n"),
        "fall must be at least 1",
    );
}

#[test]
fn rise_zero() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\nrise = §0\n"),
        "rise must be at least 1",
    );
}

#[test]
fn invalid_duration() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\ninterval = §\"soon\"\n"),
        "invalid duration \"soon\"",
    );
}

#[test]
fn fallback_mode_without_fallback() {
    bad(
        &format!(
            "{HEAD}\n[pools.www]\ntype = \"A\"\non_all_down = §\"fallback\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n"
        ),
        "on_all_down = \"fallback\" needs a fallback address list",
    );
}

#[test]
fn unknown_policy() {
    bad(
        &format!(
            "{HEAD}\n[pools.www]\ntype = \"A\"\npolicy = §\"random\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n"
        ),
        "unknown policy \"random\", expected one of: weighted, failover, all, hashed",
    );
}

#[test]
fn pool_type_must_be_address() {
    bad(
        &format!(
            "{HEAD}\n[pools.www]\ntype = §\"MX\"\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n"
        ),
        "unknown pool type \"MX\", expected one of: A, AAAA",
    );
}

#[test]
fn pool_without_regions() {
    bad(
        &format!("{HEAD}\n[pools.§www]\ntype = \"A\"\n"),
        "pool \"www\" has no regions",
    );
}

#[test]
fn answers_zero() {
    bad(
        &format!(
            "{HEAD}\n[pools.www]\ntype = \"A\"\nanswers = §0\n[pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\n"
        ),
        "answers must be at least 1",
    );
}

#[test]
fn unsupported_record_type() {
    bad(
        &format!("{HEAD}[[records]]\nname = \"x\"\ntype = §\"HINFO\"\ndata = [\"a b\"]\n"),
        "unsupported record type \"HINFO\"",
    );
}

#[test]
fn soa_in_records() {
    bad(
        &format!("{HEAD}[[records]]\nname = \"@\"\ntype = §\"SOA\"\ndata = [\"a b 1 2 3 4 5\"]\n"),
        "the SOA comes from the [soa] table",
    );
}

#[test]
fn invalid_mx_data() {
    bad(
        &format!("{HEAD}[[records]]\nname = \"@\"\ntype = \"MX\"\ndata = [§\"mail.t.example.\"]\n"),
        "invalid MX data \"mail.t.example.\"",
    );
}

#[test]
fn two_cname_targets() {
    bad(
        &format!("{HEAD}[[records]]\nname = \"x\"\ntype = \"CNAME\"\ndata = §[\"a\", \"b\"]\n"),
        "a CNAME has exactly one target",
    );
}

#[test]
fn rrset_ttl_mismatch() {
    bad(
        &format!(
            "{HEAD}[[records]]\nname = \"x\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n[[records]]\nname = §\"x\"\ntype = \"A\"\ndata = [\"192.0.2.2\"]\nttl = 5\n"
        ),
        "A records at \"x.t.example.\" must share one TTL",
    );
}

#[test]
fn data_hidden_below_delegation() {
    bad(
        &format!(
            "{HEAD}[[records]]\nname = \"sub\"\ntype = \"NS\"\ndata = [\"ns.sub\"]\n§[[records]]\nname = \"www.sub\"\ntype = \"TXT\"\ndata = [\"x\"]\n"
        ),
        "TXT records at \"www.sub.t.example.\" are hidden by the delegation at \"sub.t.example.\"",
    );
}

#[test]
fn wildcards_rejected() {
    bad(
        &format!("{HEAD}[[records]]\nname = §\"*.x\"\ntype = \"A\"\ndata = [\"192.0.2.1\"]\n"),
        "wildcard name \"*.x\" is not supported",
    );
}

#[test]
fn tcp_probe_needs_a_port() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\nkind = §\"tcp\"\n"),
        "a tcp probe needs port = N or check",
    );
}

#[test]
fn check_url_must_match_kind() {
    bad(
        &format!(
            "{HEAD}{POOL}check = §\"https://127.0.0.1:1/\"\n[pools.www.probe]\nkind = \"http\"\n"
        ),
        "does not match probe kind \"http\"",
    );
}

#[test]
fn bad_expect() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\nexpect = §[\"300-200\"]\n"),
        "expected a status code",
    );
}

#[test]
fn body_not_for_tcp() {
    bad(
        &format!("{HEAD}{POOL}\n[pools.www.probe]\nkind = \"tcp\"\nport = 80\nbody = §\"ok\"\n"),
        "body applies to http and https probes only",
    );
}

#[test]
fn capacity_must_be_positive() {
    bad(
        &format!("{HEAD}{POOL}capacity = §0.0\n"),
        "capacity must be a share of peak traffic above 0",
    );
}

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

use std::str::FromStr;

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
fn txt_is_split_between_characters_and_a_set_must_fit_one_message() {
    // 254 ASCII bytes, then a 3-byte character across byte 255.
    let value = format!("{}€tail", "a".repeat(254));
    let set = load_text(&format!(
        "{HEAD}[[records]]\nname = \"t\"\ntype = \"TXT\"\ndata = [\"{value}\"]\n"
    ))
    .expect("valid");
    let zone = &set.zones[0];
    let name = LowerName::from(Name::from_ascii("t.t.example.").expect("name"));
    let txt = &zone.nodes[&name].rrsets[0].records[0];
    let RData::TXT(t) = &txt.data else {
        panic!("TXT")
    };
    let pieces: Vec<&[u8]> = t.txt_data.iter().map(|b| &b[..]).collect();
    assert_eq!(pieces.len(), 2);
    assert_eq!(pieces[0].len(), 254);
    assert!(std::str::from_utf8(pieces[1]).is_ok());
    let mut wire = Vec::new();
    txt.emit(&mut hickory_proto::serialize::binary::BinEncoder::new(
        &mut wire,
    ))
    .expect("the record encodes");

    let huge: Vec<String> = (0..300)
        .map(|i| format!("\"{i:03}{}\"", "x".repeat(250)))
        .collect();
    bad(
        &format!(
            "{HEAD}§[[records]]\nname = \"big\"\ntype = \"TXT\"\ndata = [{}]\n",
            huge.join(", ")
        ),
        "the TXT records at \"big.t.example.\" do not fit in one DNS message (64 KiB, less 160 \
         bytes for a TSIG signature)",
    );
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
