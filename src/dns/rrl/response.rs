//! What rate limiting reads of a response (its [`Class`] and [`Key`]) and what it sends in
//! place of one (the truncated "slip"), from the response's bytes, so the fast and the full
//! path share it. No allocation: names are read into a stack buffer.

use std::net::IpAddr;

use super::{Class, Key, Limiter, Verdict};
use crate::telemetry;
use crate::wire::scan::HEADER_LEN;
use crate::wire::scan::{self, Scan};

/// The longest name in wire format (RFC 1035 §3.1).
const MAX_NAME: usize = 255;
/// How many labels and compression pointers a name may take to read.
const MAX_STEPS: usize = 128;
const TC: u8 = 0x02;
const AA: u8 = 0x04;

/// Applies rate limiting to the response in `out` to `client`, answered from `zone`; `false`
/// when it is dropped. A slipped response is rewritten in place by [`slip`].
pub fn limit(rrl: &Limiter, client: IpAddr, zone: Option<usize>, out: &mut Vec<u8>) -> bool {
    let Some(header) = out.get(..HEADER_LEN) else {
        return true;
    };
    let count = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let (questions, answers, authority) = (count(4), count(6), count(8));
    let rcode = header[3] & 0x0f;
    let aa = header[2] & AA != 0;
    let class = match rcode {
        0 if answers > 0 => Class::Answer,
        0 if !aa && authority > 0 => Class::Referral,
        0 => Class::NoData,
        3 => Class::NxDomain,
        _ => Class::Error,
    };
    let name_end = scan::skip_name(out, HEADER_LEN)
        .filter(|e| questions > 0 && *e + 4 <= out.len())
        .unwrap_or(0);
    let mut name = [0u8; MAX_NAME];
    let key = match class {
        _ if name_end == 0 => Key::None,
        Class::Answer => lower_name(out, HEADER_LEN, &mut name).map_or(Key::None, |n| {
            Key::NameType(n, u16::from_be_bytes([out[name_end], out[name_end + 1]]))
        }),
        Class::NoData => lower_name(out, HEADER_LEN, &mut name).map_or(Key::None, Key::Name),
        // The owner of the first authority record (no answers come before it): the
        // delegation point's NS set.
        Class::Referral => lower_name(out, name_end + 4, &mut name).map_or(Key::None, Key::Name),
        Class::NxDomain => zone.map_or(Key::None, Key::Zone),
        Class::Error => Key::None,
    };
    match rrl.check(client, class, key) {
        Verdict::Send => true,
        Verdict::Drop => {
            telemetry::rrl("drop");
            false
        }
        Verdict::Slip => {
            telemetry::rrl("slip");
            slip(out);
            true
        }
    }
}

/// Rewrites the response in `out` as its truncated form: the header with TC set, the question
/// when it has one, and its OPT record as it was (payload size, DO, extended rcode, the server
/// cookie; RFC 6891 §7 wants an OPT in the response to an EDNS query), no other records. A real
/// client retries over TCP, or over UDP with the server cookie, which is never limited.
fn slip(out: &mut Vec<u8>) {
    if out.len() < HEADER_LEN {
        return;
    }
    let (question_end, opt) = {
        let scan = Scan::of(out);
        (scan.question_end, scan.opt_record)
    };
    let end = question_end.unwrap_or(HEADER_LEN);
    let mut additional = 0u16;
    match opt.filter(|(from, _)| *from >= end) {
        Some((from, to)) => {
            out.copy_within(from..to, end);
            out.truncate(end + (to - from));
            additional = 1;
        }
        None => out.truncate(end),
    }
    out[2] |= TC;
    out[4..6].copy_from_slice(&u16::from(question_end.is_some()).to_be_bytes());
    out[6..10].fill(0);
    out[10..12].copy_from_slice(&additional.to_be_bytes());
}

/// The (possibly compressed) name at `at` in `msg`, lowercased into `buf` in wire form; `None`
/// when it is cut, too long or loops.
fn lower_name<'b>(msg: &[u8], mut at: usize, buf: &'b mut [u8; MAX_NAME]) -> Option<&'b [u8]> {
    let mut len = 0;
    for _ in 0..MAX_STEPS {
        let label = *msg.get(at)?;
        match label {
            0 => {
                *buf.get_mut(len)? = 0;
                return Some(&buf[..=len]);
            }
            1..=63 => {
                let bytes = msg.get(at..=at + usize::from(label))?;
                let dst = buf.get_mut(len..len + bytes.len())?;
                for (d, s) in dst.iter_mut().zip(bytes) {
                    *d = s.to_ascii_lowercase();
                }
                len += bytes.len();
                at += bytes.len();
            }
            0xC0..=0xFF => at = usize::from(u16::from_be_bytes([label & 0x3f, *msg.get(at + 1)?])),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response header: flags, rcode and the four counts.
    fn header(flags: u8, rcode: u8, counts: [u16; 4]) -> Vec<u8> {
        let mut h = vec![0, 1, 0x80 | flags, rcode];
        for c in counts {
            h.extend_from_slice(&c.to_be_bytes());
        }
        h
    }

    const WWW: &[u8] = b"\x03WwW\x01T\x00";

    #[test]
    fn names_are_read_lowercase_through_compression() {
        let mut buf = [0u8; MAX_NAME];
        let mut msg = header(0, 0, [1, 0, 1, 0]);
        msg.extend_from_slice(WWW);
        msg.extend_from_slice(&[0, 1, 0, 1]);
        let pointer = msg.len();
        msg.extend_from_slice(&[0xC0, 16]); // "T."
        assert_eq!(
            lower_name(&msg, HEADER_LEN, &mut buf),
            Some(&b"\x03www\x01t\x00"[..])
        );
        assert_eq!(lower_name(&msg, pointer, &mut buf), Some(&b"\x01t\x00"[..]));
        // A pointer to itself loops; a cut name ends nowhere.
        msg.extend_from_slice(&[0xC0, u8::try_from(msg.len()).expect("short")]);
        assert_eq!(lower_name(&msg, msg.len() - 2, &mut buf), None);
        assert_eq!(lower_name(&msg[..15], HEADER_LEN, &mut buf), None);
    }

    #[test]
    fn a_slip_keeps_header_question_and_opt_and_nothing_else() {
        // NOERROR with one answer, then an OPT and a TSIG in additional.
        let mut msg = header(AA, 0, [1, 1, 0, 2]);
        msg.extend_from_slice(WWW);
        msg.extend_from_slice(&[0, 1, 0, 1]);
        let question_end = msg.len();
        msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        let opt = [0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0, 0, 4, 0, 10, 0, 0];
        msg.extend_from_slice(&opt);
        msg.extend_from_slice(&[1, b'k', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 9, 9]);
        let original = msg.clone();
        slip(&mut msg);
        let mut want = header(AA | TC, 0, [1, 0, 0, 1]);
        want.extend_from_slice(&original[HEADER_LEN..question_end]);
        want.extend_from_slice(&opt);
        assert_eq!(msg, want);
        // Without a question: header and OPT (the FORMERR to a query with no question).
        let mut msg = header(0, 1, [0, 0, 0, 1]);
        msg.extend_from_slice(&opt);
        slip(&mut msg);
        let mut want = header(TC, 1, [0, 0, 0, 1]);
        want.extend_from_slice(&opt);
        assert_eq!(msg, want);
        // Without EDNS: header and question.
        let mut msg = header(AA, 0, [1, 1, 0, 0]);
        msg.extend_from_slice(&original[HEADER_LEN..question_end + 16]);
        slip(&mut msg);
        assert_eq!(msg.len(), question_end);
        assert_eq!(&msg[4..12], &[0, 1, 0, 0, 0, 0, 0, 0]);
    }

    /// A response to `label`.sub.t. A: a referral to sub.t. (its NS owner compressed into
    /// the question), or an answer.
    fn response(label: &[u8], referral: bool) -> Vec<u8> {
        let mut msg = if referral {
            header(0, 0, [1, 0, 1, 0])
        } else {
            header(AA, 0, [1, 1, 0, 0])
        };
        msg.push(u8::try_from(label.len()).expect("short"));
        msg.extend_from_slice(label);
        let sub = u8::try_from(msg.len()).expect("short");
        msg.extend_from_slice(b"\x03sub\x01t\x00\x00\x01\x00\x01");
        if referral {
            msg.extend_from_slice(&[0xC0, sub, 0, 2, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, sub]);
        } else {
            msg.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        }
        msg
    }

    #[test]
    fn referrals_are_counted_per_delegation_point_and_answers_per_name() {
        let l = Limiter::keyed(
            super::super::RrlConfig {
                rate: 1,
                slip: 0,
                exempt: vec![],
            },
            (3, 4),
        )
        .expect("on");
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        let sent = |referral: bool| {
            [&b"r1"[..], b"R2", b"r3", b"r4"]
                .iter()
                .filter(|label| limit(&l, client, Some(0), &mut response(label, referral)))
                .count()
        };
        // A bucket at 1/s sends two at once (the burst and the first), then drops.
        assert_eq!(sent(true), 2, "one bucket for the delegation");
        assert_eq!(sent(false), 4, "a bucket per name");
    }
}
