//! Bad zone files in their syntax, names and static record sets, and record data as loaded
//! (TXT split into character-strings, the one-message limit).

use hickory_proto::rr::{LowerName, Name, RData};
use hickory_proto::serialize::binary::BinEncodable;

use super::{HEAD, POOL, bad, load_text};

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
