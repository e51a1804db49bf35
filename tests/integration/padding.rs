//! EDNS(0) Padding (RFC 7830 §4, RFC 8467): a query that carries the Padding option over DoT
//! or DoQ gets a response padded to a multiple of 468 octets; over UDP and TCP on port 53, and
//! without the option, nothing is padded.

use std::process::Command;

use crate::encrypted::start_with;

/// kdig's response to `query`: its size in octets and its padding (`None` without one).
fn kdig(port: u16, args: &[&str], query: &str) -> (usize, Option<usize>, String) {
    let out = Command::new("kdig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+edns", "+timeout=2"])
        .args(args)
        .args(query.split_whitespace())
        .output()
        .expect("kdig (apt-get install knot-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // ";; Received 468 B" and "; PADDING: 400 B".
    let number = |after: &str| {
        text.lines().find_map(|l| {
            let rest = l.split(after).nth(1)?;
            rest.split_whitespace().next()?.parse::<usize>().ok()
        })
    };
    let size = number(";; Received ").unwrap_or_else(|| panic!("no response: {text}"));
    (size, number("PADDING: "), text)
}

#[test]
fn padded_queries_over_dot_and_doq_get_responses_in_468_octet_blocks() {
    let e = start_with(&[]);
    for query in [
        "www.gslb.example A",
        "nope.gslb.example A",
        "gslb.example NS",
    ] {
        for (port, transport) in [(e.tls, "+tls"), (e.quic, "+quic")] {
            let (size, padding, text) = kdig(port, &[transport, "+padding"], query);
            assert!(
                padding.is_some(),
                "{transport} {query}: not padded:\n{text}"
            );
            assert_eq!(size % 468, 0, "{transport} {query}: {size} octets:\n{text}");
            // Without the option in the query, no padding.
            let (_, padding, text) = kdig(port, &[transport, "+nopadding"], query);
            assert_eq!(padding, None, "{transport} {query}:\n{text}");
        }
        // Port 53 never pads, whatever the query asks (RFC 7830 §4: encrypted transports only).
        for transport in ["+notcp", "+tcp"] {
            let (_, padding, text) = kdig(e.g.port, &[transport, "+padding"], query);
            assert_eq!(padding, None, "{transport} {query}:\n{text}");
        }
    }
}
