#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/seeds/: the query shapes the unit and integration tests send
(every name of the fuzz fixture's zones, every type, with and without EDNS, cookies, Client
Subnet good and bad, TSIG), the same queries framed for TCP, and the zone files of zones/ and
of the tests. Run it again after the fixture changes; the output is deterministic."""

import pathlib
import struct

HERE = pathlib.Path(__file__).resolve().parent
SEEDS = HERE / "seeds"

NAMES = ["www.t.example", "WwW.T.Example", "api.t.example", "sticky.t.example",
         "dark.t.example", "t.example", "ns1.t.example", "mail.t.example", "alias.t.example",
         "sub.t.example", "ns1.sub.t.example", "big.t.example", "nothing.t.example",
         "kid.t.example", "www.kid.t.example", "other.example", "near.t.example"]
TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "DS": 43,
         "CAA": 257, "ANY": 255, "AXFR": 252}


def name(n):
    out = b""
    for label in n.strip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def option(code, data):
    return struct.pack("!HH", code, len(data)) + data


def query(qname, qtype, ident, edns=None, options=b"", tsig=False, opcode=0):
    additional = (1 if edns else 0) + (1 if tsig else 0)
    msg = struct.pack("!HBBHHHH", ident, (opcode << 3) | 1, 0, 1, 0, 0, additional)
    msg += name(qname) + struct.pack("!HH", qtype, 1)
    if edns:
        payload, do, version = edns
        msg += b"\0" + struct.pack("!HHBBHH", 41, payload, 0, version, 0x8000 if do else 0,
                                   len(options)) + options
    if tsig:
        rdata = name("hmac-sha256") + struct.pack("!HIHH", 0, 1700000000, 300, 0)
        rdata += struct.pack("!HHH", ident, 0, 0)
        msg += name("key") + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    return msg


def shapes():
    ident = 0
    for n in NAMES:
        for t in TYPES.values():
            ident += 1
            yield query(n, t, ident)
            yield query(n, t, ident, (1232, True, 0), option(10, b"\7" * 8))
    ecs_good = option(8, bytes([0, 1, 24, 0, 198, 51, 100]))
    for extra in [b"", option(10, b"\7" * 24), ecs_good, option(8, bytes([0, 3, 24, 0, 1, 2, 3])),
                  option(8, bytes([0, 1, 23, 0, 198, 51, 101])), option(10, b"\7" * 12),
                  option(12, b"\0" * 40), ecs_good + option(10, b"\7" * 8)]:
        for payload in (512, 1232, 4096):
            yield query("sticky.t.example", 1, 7, (payload, False, 0), extra)
            yield query("big.t.example", 1, 8, (payload, True, 0), extra)
    # Topology: IPv4 and IPv6 client subnets inside, across and outside the map's networks.
    for ecs in [bytes([0, 1, 24, 0, 198, 51, 100]), bytes([0, 1, 16, 0, 10, 1]),
                bytes([0, 1, 0, 0]), bytes([0, 1, 32, 0, 203, 0, 113, 9]),
                bytes([0, 2, 48, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 1]),
                bytes([0, 2, 64, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0xff, 0, 0])]:
        yield query("near.t.example", 1, 12, (1232, False, 0), option(8, ecs))
        yield query("near.t.example", 1, 13, (1232, True, 0), option(8, ecs) + option(10, b"\7" * 8))
    yield query("www.t.example", 1, 9, (1232, False, 1))
    yield query("www.t.example", 1, 10, (1232, False, 0), tsig=True)
    yield query("www.t.example", 1, 11, opcode=4)


def main():
    for kind in ("query", "tcp", "zone"):
        (SEEDS / kind).mkdir(parents=True, exist_ok=True)
        for old in (SEEDS / kind).iterdir():
            old.unlink()
    for i, q in enumerate(shapes()):
        # The query target's first byte: bit 0 TCP, bit 1 cookies required.
        (SEEDS / "query" / f"{i:04}").write_bytes(bytes([i % 4]) + q)
        framed = struct.pack("!H", len(q)) + q
        (SEEDS / "tcp" / f"{i:04}").write_bytes(framed * 2 + framed[: len(framed) // 2])
    zones = list((HERE.parent / "zones").glob("*.toml"))
    for i, z in enumerate(sorted(zones)):
        (SEEDS / "zone" / f"zones-{i}.toml").write_bytes(z.read_bytes())
    fixture = (HERE.parent / "src" / "dns" / "fuzzing.rs").read_text()
    for i, part in enumerate(fixture.split('r#"')[1:]):
        (SEEDS / "zone" / f"fixture-{i}.toml").write_text(part.split('"#')[0])


if __name__ == "__main__":
    main()
