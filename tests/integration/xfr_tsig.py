"""Crafted TSIG requests for gslbd's transfer tests (RFC 8945 §5): prints what came back as
`rcode=.. tsig_error=.. time=.. reqtime=.. alg=.. maclen=.. verified=..`.

Usage: xfr_tsig.py PORT CASE SECRET_BASE64 [SERIAL] (the key is named xfr-key, HMAC-SHA256)."""
import base64, hashlib, hmac, socket, struct, sys, time

import dns.message, dns.name, dns.rdatatype, dns.rdataclass, dns.rrset

port, case, secret = int(sys.argv[1]), sys.argv[2], base64.b64decode(sys.argv[3])
NOW = int(time.time())


def wire(name):
    return dns.name.from_text(name).canonicalize().to_wire()


def tsig_rr(msg, key="xfr-key.", alg="hmac-sha256.", t=NOW, mac_len=32, error=0, secret=secret, prior=None):
    """`msg` (wire, no TSIG) with a TSIG record appended, and the full MAC."""
    orig_id = struct.unpack("!H", msg[:2])[0]
    variables = (wire(key) + struct.pack("!HI", 255, 0) + wire(alg) + struct.pack("!Q", t)[2:]
                 + struct.pack("!HHH", 300, error, 0))
    data = (struct.pack("!H", len(prior)) + prior if prior else b"") + msg + variables
    digest = hashlib.sha512 if "512" in alg else hashlib.sha256
    mac = hmac.new(secret, data, digest).digest()
    rdata = (wire(alg) + struct.pack("!Q", t)[2:] + struct.pack("!HH", 300, mac_len) + mac[:mac_len]
             + struct.pack("!HHH", orig_id, error, 0))
    rr = wire(key) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    ar = struct.unpack("!H", msg[10:12])[0] + 1
    return msg[:10] + struct.pack("!H", ar) + msg[12:] + rr, mac


def name_end(m, at):
    while True:
        n = m[at]
        if n == 0:
            return at + 1
        if n & 0xC0 == 0xC0:
            return at + 2
        at += 1 + n


def read_name(m, at):
    labels = []
    while True:
        n = m[at]
        if n == 0:
            return ".".join(labels) + "."
        if n & 0xC0 == 0xC0:
            at = ((n & 0x3F) << 8) | m[at + 1]
            continue
        labels.append(m[at + 1:at + 1 + n].decode())
        at += 1 + n


def describe(m, req_mac=None):
    """The rcode and the TSIG record of the response `m`."""
    rcode = m[3] & 0x0F
    qd, an, ns, ar = struct.unpack("!HHHH", m[4:12])
    at = 12
    for _ in range(qd):
        at = name_end(m, at) + 4
    out = {"rcode": dns.rcode.to_text(rcode), "tsig_error": "none"}
    for _ in range(an + ns + ar):
        owner = at
        at = name_end(m, at)
        rtype, _, _, rdlen = struct.unpack("!HHIH", m[at:at + 10])
        rdata = at + 10
        if rtype == 41:
            out["opt"] = True
        if rtype == 250:
            a = name_end(m, rdata)
            t = struct.unpack("!Q", b"\0\0" + m[a:a + 6])[0]
            mac_len = struct.unpack("!H", m[a + 8:a + 10])[0]
            e = a + 10 + mac_len
            error = struct.unpack("!H", m[e + 2:e + 4])[0]
            out.update(tsig_error={0: "NOERROR", 16: "BADSIG", 17: "BADKEY", 18: "BADTIME",
                                   22: "BADTRUNC"}.get(error, str(error)),
                       time=t, alg=read_name(m, rdata), maclen=mac_len)
            if req_mac is not None and mac_len == 32:
                unsigned = bytearray(m[:owner])
                unsigned[10:12] = struct.pack("!H", ar - 1)
                # Response MAC: request MAC, message, then the TSIG variables (§4.3.3).
                again, _ = tsig_rr(bytes(unsigned), read_name(m, owner), read_name(m, rdata), t,
                                   32, error, prior=req_mac)
                out["verified"] = again == m[:rdata + rdlen]
        at = rdata + rdlen
    return out


def ask(msg, udp=False):
    if udp:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(msg, ("127.0.0.1", port))
        return s.recv(65535)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(struct.pack("!H", len(msg)) + msg)
    n = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
    return s.recv(n, socket.MSG_WAITALL)


def query(name="gslb.example.", rdtype="AXFR", soa_serial=None):
    q = dns.message.make_query(name, rdtype, use_edns=False)
    q.flags = 0
    if soa_serial is not None:
        soa = dns.rrset.from_text(name, 0, "IN", "SOA", f"ns1.{name} h.{name} {soa_serial} 1 1 1 1")
        q.authority.append(soa)
    return q.to_wire()


udp = False
if case == "badtime":
    msg, mac = tsig_rr(query(), t=NOW - 1000)
    reqtime = NOW - 1000
elif case == "soa_badtime_udp":
    msg, mac = tsig_rr(query(rdtype="SOA"), t=NOW - 1000)
    reqtime, udp = NOW - 1000, True
elif case == "badkey_alg":
    msg, mac = tsig_rr(query(), key="other-key.", alg="hmac-sha512.", mac_len=64)
    reqtime = NOW
elif case == "short_mac":
    msg, mac = tsig_rr(query(), mac_len=8)
    reqtime = NOW
elif case == "truncated_mac":
    msg, mac = tsig_rr(query(), mac_len=20)
    reqtime = NOW
elif case == "refused_signed":
    msg, mac = tsig_rr(query(name="not-here.example."))
    reqtime = NOW
elif case == "twice":
    once, _ = tsig_rr(query())
    msg, mac = tsig_rr(once)
    reqtime = NOW
elif case == "soa_twice_udp":
    once, _ = tsig_rr(query(rdtype="SOA"))
    msg, mac = tsig_rr(once)
    reqtime, udp = NOW, True
elif case == "soa_short_mac_udp":
    msg, mac = tsig_rr(query(rdtype="SOA"), mac_len=8)
    reqtime, udp = NOW, True
elif case == "not_last":
    signed, mac = tsig_rr(query())
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    ar = struct.unpack("!H", signed[10:12])[0] + 1
    msg = signed[:10] + struct.pack("!H", ar) + signed[12:] + opt
    reqtime = NOW
elif case == "ixfr_no_soa":
    msg, mac = tsig_rr(query(rdtype="IXFR"))
    reqtime = NOW
elif case == "ixfr_other_soa":
    q = dns.message.make_query("gslb.example.", "IXFR", use_edns=False)
    q.authority.append(dns.rrset.from_text("other.example.", 0, "IN", "SOA", "a. b. 1 1 1 1 1"))
    msg, mac = tsig_rr(q.to_wire())
    reqtime = NOW
elif case == "ixfr_udp_edns":
    q = dns.message.make_query("gslb.example.", "IXFR", use_edns=0, payload=1232)
    serial = int(sys.argv[4])
    q.authority.append(dns.rrset.from_text("gslb.example.", 0, "IN", "SOA",
                                           f"a. b. {serial} 1 1 1 1"))
    msg, mac = tsig_rr(q.to_wire())
    reqtime, udp = NOW, True
else:
    sys.exit(f"unknown case {case}")
d = describe(ask(msg, udp), mac)
d["reqtime"] = reqtime
print(" ".join(f"{k}={v}" for k, v in d.items()))
