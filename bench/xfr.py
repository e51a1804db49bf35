"""Zone transfers (issue #24): gslbd and Knot serve the same 50,000-record zone and each is
pulled by AXFR over TCP, interleaved: bytes, messages and wall time per transfer (kdig's
count, the client's clock), and the server's CPU time per transfer (utime + stime from /proc);
then many AXFRs at once while an unrelated TCP query's latency is measured.
gslbd serves the benchmark zone (its `www` pool rendered as the three region addresses) plus
the records; Knot the same records from a zone file. Replaces the "Zone transfers" section of
bench/RESULTS.md. Started by ``bench/run --xfr`` after it built gslbd; ``--before BIN`` adds a
previous gslbd build beside them."""

import argparse
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import peers
from bench import BIN
from host import CLK_TCK, cpu_ticks, free_port
from shapes import med

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGIN = peers.ORIGIN
RECORDS = 50_000


def names(n):
    """`n` (name, address) pairs, every tenth name two labels deep."""
    return [(f"h{i}{'.deep' if i % 10 == 0 else ''}", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
            for i in range(n)]


def start_gslbd(binary, work, backend_ports, records, log):
    port = free_port()
    zone = peers.gslbd_zone(backend_ports)
    head, pools = zone.split("[pools.www]", 1)
    extra = "".join(f'\n[[records]]\nname = "{n}"\ntype = "A"\ndata = ["{a}"]\n'
                    for n, a in records)
    peers.write(f"{work}/zones/{ORIGIN}.toml", head + extra + "\n[pools.www]" + pools)
    # Any loopback client may transfer (the secondary's port does not matter for AXFR).
    peers.write(f"{work}/gslbd.toml", '[transfer]\nsecondaries = ["127.0.0.1:9"]\n')
    proc = peers.spawn([binary, "serve", "--config", f"{work}/gslbd.toml", "--zones",
                        f"{work}/zones", "--listen", f"127.0.0.1:{port}", "--log", "warn",
                        "--admin", "off"], log)
    return proc, port


def start_knot(work, records, log):
    port = free_port()
    extra = "".join(f"{n} 300 IN A {a}\n" for n, a in records)
    proc = peers.knot(work, port, log, extra=extra)
    # Knot allows AXFR only through an ACL: add one for loopback.
    conf = open(f"{work}/knot.conf").read()
    conf = conf.replace("zone:\n", "acl:\n  - id: local\n    address: 127.0.0.1\n    action: transfer\n"
                        "zone:\n", 1).rstrip("\n") + "\n    acl: local\n"
    proc.terminate()
    proc.wait()
    peers.write(f"{work}/knot.conf", conf)
    return peers.spawn(["knotd", "-c", f"{work}/knot.conf"], log), port


def axfr(port):
    """(bytes, messages, records, seconds) of one AXFR with kdig."""
    t0 = time.monotonic()
    out = subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), "+retry=0", "+timeout=30",
                          ORIGIN, "AXFR"], capture_output=True, text=True).stdout
    took = time.monotonic() - t0
    m = re.search(r"Received (\d+) B \((\d+) messages?, (\d+) records?\)", out)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), took


def query_wire(name, qtype, qid=1):
    """A DNS query in wire format."""
    q = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack("!HH", qtype, 1)


def read_frame(s):
    n = s.recv(2, socket.MSG_WAITALL)
    if len(n) < 2:
        return None
    return s.recv(struct.unpack("!H", n)[0], socket.MSG_WAITALL)


def pull(port, frames):
    """One AXFR over TCP, read as `frames` length-prefixed messages without decoding them."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        q = query_wire(ORIGIN, 252)
        s.sendall(struct.pack("!H", len(q)) + q)
        for _ in range(frames):
            if read_frame(s) is None:
                return False
    return True


def tcp_latency(port):
    """Seconds for one `www A` query over a new TCP connection."""
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        q = query_wire(f"www.{ORIGIN}", 1)
        s.sendall(struct.pack("!H", len(q)) + q)
        read_frame(s)
    return time.monotonic() - t0


def concurrent(port, frames, pullers, probes=20):
    """`pullers` AXFRs at once; the latencies of unrelated TCP queries meanwhile, and whether
    every transfer completed."""
    done = []
    threads = [threading.Thread(target=lambda: done.append(pull(port, frames)))
               for _ in range(pullers)]
    for t in threads:
        t.start()
    lat = []
    for _ in range(probes):
        time.sleep(0.05)
        lat.append(tcp_latency(port))
    for t in threads:
        t.join()
    return lat, sum(done) == pullers


def wait_transfer(port, want, limit=120):
    end = time.time() + limit
    while time.time() < end:
        r = axfr(port)
        if r and r[2] >= want:
            return r
        time.sleep(0.5)
    return None


def render(order, results, args, counts, busy):
    ref = "Knot"
    out = ["<!-- xfr -->", f"## Zone transfers: AXFR of a {args.records // 1000}k-record zone", "",
           f"Written by `bench/run --xfr` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
           f"the servers side by side, {args.reps} interleaved AXFRs each with kdig over TCP "
           "on loopback (unsigned), medians. Time is kdig's wall clock (it decodes every "
           "record); CPU is the server's utime + stime per transfer. Records: "
           + ", ".join(f"{n} {counts[n]}" for n in order) + " (gslbd's `www` pool and the "
           "zone head differ by a few records).", "",
           "| server | bytes | messages | bytes / record | time (s) | server CPU (s) | bytes / Knot | time / Knot |",
           "|---|---|---|---|---|---|---|---|"]
    for n in order:
        r = results[n]
        b, msgs, t, c = med(r["bytes"]), med(r["messages"]), med(r["time"]), med(r["cpu"])
        kb, kt = med(results[ref]["bytes"]), med(results[ref]["time"])
        out.append(f"| {n} | {b:,.0f} | {msgs:.0f} | {b / counts[n]:.1f} | {t:.3f} | {c:.3f} | "
                   f"{b / kb:.2f}× | {t / kt:.2f}× |")
    out += ["", f"{args.pullers} AXFRs of the zone at once (read without decoding) while an "
            "unrelated `www A` query goes over a new TCP connection every 50 ms, 20 times: its "
            "latency (median / max, ms), and whether every transfer completed.", "",
            "| server | median | max | transfers completed |", "|---|---|---|---|"]
    for n in order:
        lat, ok = busy[n]
        out.append(f"| {n} | {med(lat) * 1000:.1f} | {max(lat) * 1000:.1f} | "
                   f"{'all' if ok else 'not all'} |")
    out += ["", "<!-- /xfr -->"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--records", type=int, default=RECORDS)
    ap.add_argument("--before", help="a previous gslbd build to run beside")
    ap.add_argument("--bin", default=BIN, help="the gslbd build measured")
    ap.add_argument("--pullers", type=int, default=60, help="concurrent transfers")
    ap.add_argument("--quick", action="store_true", help="two transfers each")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    if args.quick:
        args.reps = 2
    logdir = tempfile.mkdtemp(prefix="gslbd-xfr-logs-")
    records = names(args.records)
    # No health-check backends: the `www` regions' checks fail, and the all-down rule serves
    # all three addresses, as Knot's static zone does.
    closed = [free_port() for _ in range(3)]
    with tempfile.TemporaryDirectory(prefix="gslbd-xfr-") as tmp:
        procs = {}
        builds = [("gslbd", args.bin)] + ([("gslbd before", args.before)] if args.before else [])
        for label, binary in builds:
            log = open(os.path.join(logdir, f"{label.replace(' ', '-')}.log"), "w")
            procs[label] = start_gslbd(binary, os.path.join(tmp, label.replace(" ", "-")),
                                       closed, records, log)
        log = open(os.path.join(logdir, "knot.log"), "w")
        procs["Knot"] = start_knot(os.path.join(tmp, "knot"), records, log)
        order = list(procs)
        results = {n: {"bytes": [], "messages": [], "time": [], "cpu": []} for n in order}
        counts = {}
        try:
            for n in order:
                first = wait_transfer(procs[n][1], args.records)
                if not first:
                    raise RuntimeError(f"xfr: {n} never served the zone; see {logdir}")
                counts[n] = first[2]
            for rep in range(args.reps):
                for n in (order if rep % 2 == 0 else list(reversed(order))):
                    proc, port = procs[n]
                    before = cpu_ticks(proc.pid)
                    b, msgs, _, took = axfr(port)
                    cpu = (cpu_ticks(proc.pid) - before) / CLK_TCK
                    for k, v in (("bytes", b), ("messages", msgs), ("time", took), ("cpu", cpu)):
                        results[n][k].append(v)
                    print(f"xfr rep {rep + 1} {n}: {b} B in {msgs} messages, {took:.3f} s, "
                          f"cpu {cpu:.3f} s", file=sys.stderr)
            busy = {}
            for n in order:
                frames = results[n]["messages"][0]
                busy[n] = concurrent(procs[n][1], frames, args.pullers)
                print(f"xfr {args.pullers} at once {n}: query latency median "
                      f"{med(busy[n][0]) * 1000:.1f} ms max {max(busy[n][0]) * 1000:.1f} ms, "
                      f"all completed: {busy[n][1]}", file=sys.stderr)
        finally:
            for proc, _ in procs.values():
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    section = render(order, results, args, counts, busy)
    text = open(args.out).read() if os.path.exists(args.out) else ""
    pattern = re.compile(r"<!-- xfr -->.*<!-- /xfr -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(section)
    print(f"xfr: logs in {logdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
