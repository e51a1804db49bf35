//! Bad pools, regions and probe settings in a zone file.

use super::{HEAD, POOL, bad};

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
