"""The DNS path's own costs, side by side in one interleaved run (issue #10's figures):

- the fast path against the previous build (``--before BINARY``), plain and with a client
  cookie, in CPU-seconds per million queries at a fixed offered load;
- the price of response rate limiting: every query checked by the limiter (no client exempt,
  a rate no query reaches) against rate limiting off;
- a spoofed flood: many source ports on eight addresses of one victim /24 send queries at a
  high rate; what reaches the victim (full answers, truncated slips, bytes) against the
  configured rate.

Writes bench/DNSPATH.md. Started by ``bench/run --dns-path`` after it built gslbd."""

import argparse
import os
import socket
import statistics
import struct
import sys
import tempfile
import time

import peers
from bench import BIN, Server, dnsperf, wait_answering
from host import CLK_TCK, cpu_ticks, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
COOKIE = "10:0102030405060708"


def start(binary, tmp, name, extra):
    port = free_port()
    work = os.path.join(tmp, name)
    os.makedirs(os.path.join(work, "zones"), exist_ok=True)
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    # Unprobed regions: the zone answers without backends, so only the DNS path is measured.
    zone = peers.gslbd_zone([0, 0, 0]).replace('check = "http://127.0.0.1:0/health"\n', "")
    with open(os.path.join(work, "zones", "gslb.example.toml"), "w") as f:
        f.write(zone)
    proc = peers.spawn([binary, "serve", "--zones", os.path.join(work, "zones"), "--listen",
                        f"127.0.0.1:{port}", "--admin", "off", "--log", "warn", *extra], log)
    s = Server(name, proc, port, False)
    if not wait_answering(port, want=1):
        raise RuntimeError(f"{name} did not answer; see {tmp}/{name}.log")
    return s


def cpu_per_million(server, qfile, seconds, qps, options=()):
    before = cpu_ticks(server.proc.pid)
    r = dnsperf(server.port, qfile, seconds, clients=4, qps=qps, extra=options)
    used = (cpu_ticks(server.proc.pid) - before) / CLK_TCK
    return used / max(r["completed"], 1) * 1e6, r


def instructions(binary, tmp, name, opts, extra=(), counts=(2000, 10000)):
    """Instructions per query (callgrind, user space): the slope between two runs with
    different query counts, so start-up and shutdown cancel out. Independent of machine noise."""
    totals = []
    for n in counts:
        out = os.path.join(tmp, f"callgrind-{name}-{n}.out")
        port = free_port()
        work = os.path.join(tmp, f"cg-{name}-{n}")
        os.makedirs(os.path.join(work, "zones"), exist_ok=True)
        zone = peers.gslbd_zone([0, 0, 0]).replace('check = "http://127.0.0.1:0/health"\n', "")
        with open(os.path.join(work, "zones", "gslb.example.toml"), "w") as f:
            f.write(zone)
        log = open(os.path.join(tmp, f"cg-{name}-{n}.log"), "w")
        proc = peers.spawn(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            binary, "serve", "--zones", os.path.join(work, "zones"), "--listen",
                            f"127.0.0.1:{port}", "--admin", "off", "--log", "warn", *extra],
                           log)
        s = Server(name, proc, port, False)
        if not wait_answering(port, want=1, limit=120):
            raise RuntimeError(f"{name} under valgrind did not answer")
        qfile = os.path.join(tmp, "www.txt")
        r = dnsperf_count(port, qfile, n, opts)
        s.stop()
        with open(out) as f:
            total = next(int(l.split()[1]) for l in f if l.startswith(("summary:", "totals:")))
        totals.append((r, total))
    (n1, t1), (n2, t2) = totals
    return (t2 - t1) / max(n2 - n1, 1)


def dnsperf_count(port, qfile, n, opts):
    """Sends exactly `n` queries at a gentle rate; returns how many completed."""
    import subprocess
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-n", str(n),
            "-c", "1", "-T", "1", "-Q", "2000", *opts]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.strip().startswith("Queries completed:"):
            return int(line.split()[2])
    raise RuntimeError(out)


def query(name, ident):
    msg = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        msg += bytes([len(label)]) + label.encode()
    return msg + b"\0" + struct.pack("!HH", 1, 1)


def flood(port, seconds, rate_qps):
    """Queries from 8 addresses of 127.0.9.0/24 (the 'victim'), 16 ports each; returns what
    the victim got back."""
    socks = []
    for a in range(1, 9):
        for _ in range(16):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((f"127.0.9.{a}", 0))
            s.setblocking(False)
            s.connect(("127.0.0.1", port))
            socks.append(s)
    sent = sent_bytes = answers = slips = got_bytes = 0
    start = time.monotonic()
    interval = 1.0 / rate_qps
    nxt = start
    i = 0

    def drain():
        nonlocal answers, slips, got_bytes
        for s in socks:
            while True:
                try:
                    data = s.recv(1500)
                except BlockingIOError:
                    break
                got_bytes += len(data)
                if data[2] & 0x02:
                    slips += 1
                elif struct.unpack("!H", data[6:8])[0] > 0:
                    answers += 1

    while time.monotonic() - start < seconds:
        name = "www.gslb.example" if i % 2 == 0 else f"r{i}.gslb.example"
        q = query(name, i & 0xFFFF)
        try:
            socks[i % len(socks)].send(q)
            sent += 1
            sent_bytes += len(q)
        except BlockingIOError:
            pass
        i += 1
        nxt += interval
        if i % 256 == 0:
            drain()
        delay = nxt - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - start
    time.sleep(0.3)
    drain()
    for s in socks:
        s.close()
    return {"seconds": elapsed, "sent": sent, "sent_bytes": sent_bytes, "answers": answers,
            "slips": slips, "got_bytes": got_bytes}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--before", help="the previous build's gslbd binary, for the fast path ratio")
    p.add_argument("--before-label", default="previous build (before #10)",
                   help="how the report names the previous build")
    p.add_argument("--why", default="the previous build ignored cookies; this one computes a "
                   "SipHash server cookie into every reply",
                   help="the reason given beside the fast path ratio")
    p.add_argument("--out", default="DNSPATH.md", help="the report's file name in bench/")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--qps", type=int, default=40000)
    p.add_argument("--flood-rate", type=int, default=20)
    p.add_argument("--before-limiter", action="store_true",
                   help="also run the previous build with the limiter on every query, for the "
                   "limiter's own ratio between the builds")
    p.add_argument("--instructions", action="store_true",
                   help="also count instructions per query under callgrind (needs valgrind)")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="gslbd-dnspath-") as tmp:
        qfile = os.path.join(tmp, "www.txt")
        with open(qfile, "w") as f:
            f.write("www.gslb.example A\n")
        servers = {}
        if args.before:
            servers["before"] = start(args.before, tmp, "before", [])
        servers["now"] = start(BIN, tmp, "now", [])
        servers["rrl-off"] = start(BIN, tmp, "rrl-off", ["--rrl-rate", "0"])
        every_query = ["--rrl-rate", "100000000", "--rrl-exempt", "none"]
        servers["rrl-every-query"] = start(BIN, tmp, "rrl-every-query", every_query)
        if args.before and args.before_limiter:
            servers["before-rrl-every-query"] = start(
                args.before, tmp, "before-rrl-every-query", every_query)
        shapes = {"plain": (), "cookie": ("-E", COOKIE)}
        cpu = {(n, shape): [] for n in servers for shape in shapes}
        try:
            for rep in range(args.reps):
                for shape, opts in shapes.items():
                    for n, s in servers.items():
                        per_m, r = cpu_per_million(s, qfile, args.seconds, args.qps, opts)
                        cpu[(n, shape)].append(per_m)
                        print(f"rep {rep + 1} {shape} {n}: {per_m:.2f} cpu-s/M "
                              f"({r['qps']:.0f} q/s, lost {r.get('lost', 0)})", file=sys.stderr)
            ir = {}
            if args.instructions:
                binaries = {"now": (BIN, ())}
                if args.before:
                    binaries["before"] = (args.before, ())
                if args.before and args.before_limiter:
                    binaries["rrl-every-query"] = (BIN, every_query)
                    binaries["before-rrl-every-query"] = (args.before, every_query)
                for n, (binary, extra) in binaries.items():
                    for shape, opts in shapes.items():
                        ir[(n, shape)] = instructions(binary, tmp, f"{n}-{shape}", opts, extra)
                        print(f"instructions {n} {shape}: {ir[(n, shape)]:.0f}/query",
                              file=sys.stderr)
            flooded = start(BIN, tmp, "flooded", ["--rrl-rate", str(args.flood_rate),
                                                  "--rrl-exempt", "none"])
            servers["flooded"] = flooded
            fl = flood(flooded.port, args.seconds, 5000)
            print(f"flood: {fl}", file=sys.stderr)
        finally:
            for s in servers.values():
                s.stop()
    write(args, servers, cpu, shapes, fl, ir)


def write(args, servers, cpu, shapes, fl, ir):
    lines = ["# DNS path: fast path, cookies, rate limiting", "",
             f"Written by `bench/run --dns-path` on {time.strftime('%Y-%m-%d')}: "
             f"{args.reps} interleaved repetitions, {args.seconds} s dnsperf runs at "
             f"{args.qps} q/s offered (`-c 4 -T 2`), CPU-seconds of the server per million "
             "answered queries (median, min-max). Every server is gslbd on the same zone with "
             "unprobed regions, so only the DNS path differs.", "",
             "| server | plain `www A` | with a client cookie (`-E 10:…`) |", "|---|---|---|"]
    names = {"before": args.before_label, "now": "this build (defaults)",
             "rrl-off": "this build, `--rrl-rate 0`",
             "rrl-every-query": "this build, limiter on every query",
             "before-rrl-every-query": f"{args.before_label}, limiter on every query"}
    for n in [x for x in names if (x, "plain") in cpu]:
        cells = []
        for shape in shapes:
            xs = cpu[(n, shape)]
            cells.append(f"{med(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})")
        lines.append(f"| {names[n]} | {cells[0]} | {cells[1]} |")
    lines.append("")

    def ratio(a, b, shape):
        return med(cpu[(a, shape)]) / med(cpu[(b, shape)])

    if ("before", "plain") in cpu:
        lines.append(f"- Fast path, this build / previous build: plain {ratio('now', 'before', 'plain'):.2f}×, "
                     f"cookie {ratio('now', 'before', 'cookie'):.2f}× ({args.why}).")
    lines.append(f"- Rate limiting's price, limiter on every query / off: plain "
                 f"{ratio('rrl-every-query', 'rrl-off', 'plain'):.2f}×, cookie "
                 f"{ratio('rrl-every-query', 'rrl-off', 'cookie'):.2f}× (with a valid server "
                 "cookie a query skips the limiter; dnsperf's fixed client cookie never has one).")
    if ("before-rrl-every-query", "plain") in cpu:
        lines.append(f"- The limiter between the builds, limiter on every query, this build / "
                     f"previous build: plain "
                     f"{ratio('rrl-every-query', 'before-rrl-every-query', 'plain'):.2f}×, cookie "
                     f"{ratio('rrl-every-query', 'before-rrl-every-query', 'cookie'):.2f}×.")
    if ir:
        lines += ["", "Instructions per query in gslbd's user space, counted by callgrind (the slope "
                  "between 2,000 and 10,000 queries at 2,000 q/s, so start-up cancels out). Unlike "
                  "CPU time these counts do not move with the machine's load:", "",
                  "| build | plain `www A` | with a client cookie |", "|---|---|---|"]
        for n, label in [("before", "previous build"), ("now", "this build (defaults)"),
                         ("before-rrl-every-query", "previous build, limiter on every query"),
                         ("rrl-every-query", "this build, limiter on every query")]:
            if (n, "plain") in ir:
                lines.append(f"| {label} | {ir[(n, 'plain')]:.0f} | {ir[(n, 'cookie')]:.0f} |")
        if ("before", "plain") in ir:
            lines.append("")
            lines.append(f"- This build / previous build: plain "
                         f"{ir[('now', 'plain')] / ir[('before', 'plain')]:.2f}×, cookie "
                         f"{ir[('now', 'cookie')] / ir[('before', 'cookie')]:.2f}×.")
        if ("before-rrl-every-query", "plain") in ir:
            a, b = "rrl-every-query", "before-rrl-every-query"
            lines.append(f"- Limiter on every query, this build / previous build: plain "
                         f"{ir[(a, 'plain')] / ir[(b, 'plain')]:.2f}×, cookie "
                         f"{ir[(a, 'cookie')] / ir[(b, 'cookie')]:.2f}×.")
    rate = args.flood_rate
    secs = fl["seconds"]
    bound = 2 * rate * (secs + 1)
    lines += ["", f"Spoofed flood: {fl['sent']} queries in {secs:.1f} s "
              f"({fl['sent'] / secs:.0f} q/s) from 128 ports on 8 addresses of the victim's /24, "
              f"half `www A`, half random names (NXDOMAIN), against `--rrl-rate {rate}`:", "",
              "| reached the victim | count | per second |", "|---|---|---|",
              f"| full answers | {fl['answers']} | {fl['answers'] / secs:.1f} |",
              f"| truncated slips (TC=1, no records) | {fl['slips']} | {fl['slips'] / secs:.1f} |",
              f"| bytes back / bytes sent | {fl['got_bytes']} / {fl['sent_bytes']} | "
              f"{fl['got_bytes'] / max(fl['sent_bytes'], 1):.2f}× |", "",
              f"Two buckets (the name, and the zone's NXDOMAINs) at {rate}/s with a one-second "
              f"burst allow at most {bound:.0f} full answers in this time: "
              f"{'within' if fl['answers'] <= bound else 'OVER'} the configured rate."]
    path = os.path.join(HERE, args.out)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
