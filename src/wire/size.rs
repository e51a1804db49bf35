//! The size rules every encoder of gslbd keeps: the UDP payload it advertises and the room a
//! TSIG record needs in a message, and how large a UDP response may be.

/// The UDP payload size gslbd advertises (the DNS flag day 2020 value).
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// The most a UDP response may take: the client's EDNS payload size (`None` without EDNS), at
/// least 512 (RFC 1035) and at most what gslbd advertises.
pub fn udp_limit(payload: Option<u16>) -> u16 {
    payload.map_or(512, |p| p.clamp(512, MAX_UDP_PAYLOAD))
}

/// Room kept in a message for a TSIG record (RFC 8945): an HMAC-SHA256 TSIG with BADTIME's
/// other data takes 77 bytes besides its owner, the key name, which is at most
/// [`TSIG_KEY_NAME`] bytes. Validation keeps every RRset this far under 64 KiB, so that a
/// signed answer or transfer still fits whatever the key; a signed answer itself keeps only
/// its key's real TSIG length (`Key::record_len`, 80 bytes for a 9-byte key name).
pub const TSIG_ROOM: u16 = 160;
/// The longest key name (in wire form) that fits in [`TSIG_ROOM`].
pub const TSIG_KEY_NAME: usize = 80;
