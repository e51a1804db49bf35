"""Queries over TCP: gslbd beside gdnsd, Knot and NSD in one interleaved run, to see whether
TCP connection work has the cost the UDP receive design had (more wakeups than answers at
moderate load). Writes bench/TCP.md; started by ``bench/run --tcp`` after it built gslbd.

Each run is dnsperf over TCP (`-m tcp`, 4 connections kept open, `-T 2`) asking `www A`; per
server: CPU-seconds per million answered queries at a fixed offered rate, the context
switches of all its threads per query (voluntary: it slept for work; involuntary: it was
preempted), and saturation q/s. The servers are the ones `bench/run --shapes` starts."""

import argparse
import os
import statistics
import sys
import tempfile
import time

import backends as hb
import shapes
from bench import dnsperf
from host import CLK_TCK, cpu_ticks, family

HERE = os.path.dirname(os.path.abspath(__file__))


def switches(pid):
    """Voluntary and involuntary context switches of every thread of `pid` (and children)."""
    vol = inv = 0
    for p in family(pid):
        try:
            tids = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                for line in open(f"/proc/{p}/task/{tid}/status"):
                    if line.startswith("voluntary_ctxt_switches"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        inv += int(line.split()[1])
            except OSError:
                continue
    return vol, inv


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--qps", type=int, default=20000)
    ap.add_argument("--out", default=os.path.join(HERE, "TCP.md"))
    ap.add_argument("--before", help="a previous gslbd build, measured beside this one")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="gslbd-tcp-") as tmp, hb.Backends(3) as back:
        logdir = f"{tmp}/logs"
        os.makedirs(logdir)
        servers = shapes.start(tmp, back.ports, logdir, os.cpu_count() or 1, args.before)
        for s in servers.values():
            if s.name.startswith("floor"):  # the floors speak UDP only
                s.stop()
        servers = {n: s for n, s in servers.items() if not n.startswith("floor")}
        qfile = f"{tmp}/www.txt"
        with open(qfile, "w") as f:
            f.write(f"www.{shapes.ORIGIN} A\n")
        time.sleep(3)
        try:
            for rep in range(args.reps):
                for name, s in servers.items():
                    (c0, (v0, i0)) = cpu_ticks(s.proc.pid), switches(s.proc.pid)
                    r = dnsperf(s.port, qfile, args.seconds, qps=args.qps, extra=["-m", "tcp"])
                    (c1, (v1, i1)) = cpu_ticks(s.proc.pid), switches(s.proc.pid)
                    n = max(r["completed"], 1)
                    sat = dnsperf(s.port, qfile, args.seconds, extra=["-m", "tcp"])
                    row = {"cpu": (c1 - c0) / CLK_TCK * 1e6 / n, "vol": (v1 - v0) / n,
                           "inv": (i1 - i0) / n, "sat": sat["qps"], "lost": r["lost"]}
                    rows.setdefault(name, []).append(row)
                    print(f"tcp rep {rep + 1} {name}: {row}", file=sys.stderr)
        finally:
            for s in servers.values():
                s.stop()
    write(rows, args)


def write(rows, args):
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in rows.items()}
    best = min((m["cpu"] for n, m in med.items() if not n.startswith("gslbd")), default=None)
    lines = ["# Queries over TCP: gslbd beside gdnsd, Knot and NSD", "",
             f"Written by `bench/run --tcp` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
             f": {args.reps} interleaved repetitions, dnsperf `-m tcp -c 4 -T 2` runs of "
             f"{args.seconds} s on `www A`, medians. CPU-seconds per million answered queries "
             f"and context switches per query at {args.qps} q/s offered; saturation unlimited. "
             "NSD runs as Debian ships it (one server process).", "",
             "| server | CPU-s/M | / best peer | voluntary switches per query "
             "| involuntary per query | saturation q/s | lost |",
             "|---|---|---|---|---|---|---|"]
    for n, m in med.items():
        ratio = f"{m['cpu'] / best:.2f}×" if best else "-"
        lines.append(f"| {n} | {m['cpu']:.2f} | {ratio} | {m['vol']:.3f} | {m['inv']:.3f} "
                     f"| {m['sat']:.0f} | {m['lost']:.0f} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
