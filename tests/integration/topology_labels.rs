//! The client location gslbd reports for a topology answer, in `/explain` and in the
//! `location` label of `gslbd_dns_topology_answers_total`: the location whose network holds the
//! client, also when its list equals the default's (the default only for unmapped clients);
//! and the client `/explain` shows: the prefix it decides on, as DNS with that Client Subnet.

use crate::backend::Backend;
use crate::topology_scope::serve;

#[test]
fn a_location_with_the_defaults_list_is_labelled_as_itself() {
    let backend = Backend::http();
    // us-east (10.128.0.0/9) answers like the default; 10.0.0.0/9 beside it is unmapped.
    let g = serve(
        &backend,
        "default = [\"us-east\"]\n[locations.us-east]\nnetworks = [\"10.128.0.0/9\"]\n\
         [locations.eu]\nnetworks = [\"198.51.100.0/24\"]\n",
        &[],
    );
    let (code, e) = g.api(
        "GET",
        "/explain?name=www.gslb.example&type=A&client=10.200.0.1",
        None,
    );
    assert_eq!(code, 200, "{e}");
    assert_eq!(e["topology"]["location"], "us-east", "{e}");
    assert_eq!(e["topology"]["matched_prefix"], "0.0.0.0/1", "{e}");
    let (_, e) = g.api(
        "GET",
        "/explain?name=www.gslb.example&type=A&client=10.1.0.1",
        None,
    );
    assert_eq!(e["topology"]["location"], "default", "{e}");
    let count = |metrics: &str, location: &str| {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("gslbd_dns_topology_answers_total{")
                    && l.contains(&format!("location=\"{location}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = g.metrics();
    // Three queries from us-east, one from the unmapped half.
    for subnet in [
        "10.200.0.1/32",
        "10.128.0.9/32",
        "10.255.1.1/32",
        "10.1.0.1/32",
    ] {
        let d = g.dig(&format!("www.gslb.example A +subnet={subnet}"));
        assert_eq!(d.answers("A"), ["192.0.2.1"], "{subnet}");
    }
    let after = g.metrics();
    let delta = |l: &str| count(&after, l) - count(&before, l);
    assert_eq!((delta("us-east"), delta("default")), (3.0, 1.0), "{after}");
}

#[test]
fn explain_decides_on_the_masked_prefix_as_dns_does() {
    let backend = Backend::http();
    let g = serve(
        &backend,
        "default = [\"us-east\"]\n[locations.eu]\nnetworks = [\"10.1.0.0/16\"]\n",
        &[],
    );
    // 10.1.2.3/8 is 10.0.0.0/8 on the wire: outside eu's 10.1.0.0/16.
    let (code, e) = g.api(
        "GET",
        "/explain?name=www.gslb.example&type=A&client=10.1.2.3/8",
        None,
    );
    assert_eq!(code, 200, "{e}");
    assert_eq!(e["client"], "10.0.0.0/8", "{e}");
    let dns = g.dig("www.gslb.example A +subnet=10.0.0.0/8").answers("A");
    let explained: Vec<String> = e["answer"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(e["topology"]["location"], "default", "{e}");
    assert!(
        explained
            .iter()
            .all(|r| dns.iter().any(|d| r.contains(d.as_str()))),
        "/explain {explained:?} against DNS {dns:?}"
    );
}

/// `/explain`'s client and answer for `client`, and DNS's answer for the same Client Subnet.
fn explain_and_dig(g: &crate::harness::Gslbd, client: &str) -> (String, Vec<String>, Vec<String>) {
    let (code, e) = g.api(
        "GET",
        &format!("/explain?name=www.gslb.example&type=A&client={client}"),
        None,
    );
    assert_eq!(code, 200, "{e}");
    let explained: Vec<String> = e["answer"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str()?.split_whitespace().last().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let subnet = if client.contains('/') {
        client.to_string()
    } else if client.contains(':') {
        format!("{client}/128")
    } else {
        format!("{client}/32")
    };
    let dns = g
        .dig(&format!("www.gslb.example A +subnet={subnet}"))
        .answers("A");
    (
        e["client"].as_str().unwrap_or_default().to_string(),
        explained,
        dns,
    )
}

#[test]
fn explain_shows_the_prefix_it_decided_on() {
    let backend = Backend::http();
    // 10.1.2.3 alone is ap; the rest of 10.1.0.0/16 is eu.
    let g = serve(
        &backend,
        "default = [\"us-east\"]\n[locations.eu]\nnetworks = [\"10.1.0.0/16\"]\n\
         [locations.ap]\nnetworks = [\"10.1.2.3/32\"]\n",
        &[],
    );
    for (client, shown, answer) in [
        ("10.1.2.3/32", "10.1.2.3/32", "192.0.2.4"),
        ("10.1.2.3", "10.1.2.3/32", "192.0.2.4"),
        ("::ffff:10.1.2.3/128", "10.1.2.3/32", "192.0.2.4"),
        ("::ffff:10.1.2.3", "10.1.2.3/32", "192.0.2.4"),
        ("10.1.2.0/24", "10.1.2.0/24", "192.0.2.3"),
        ("::ffff:10.1.2.3/120", "10.1.2.0/24", "192.0.2.3"),
    ] {
        let (client_shown, explained, dns) = explain_and_dig(&g, client);
        assert_eq!(client_shown, shown, "{client}");
        assert_eq!(explained, [answer], "{client}: /explain");
        assert_eq!(dns, [answer], "{client}: DNS");
    }
}
