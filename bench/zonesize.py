"""Negative answers cost the same whatever the zone's size (issue #16): two gslbd processes, one
serving the benchmark zone (about 10 names), one serving it plus 100,000 static names, answer
random-subdomain NXDOMAIN and NODATA queries side by side in one interleaved run. CPU is the
process's utime + stime per million answered queries at a fixed offered load; a positive
`www A` row is the reference. Replaces the "Zone size" section of bench/RESULTS.md. Started by
``bench/run --zone-size`` after it built gslbd."""

import argparse
import os
import random
import re
import sys
import tempfile
import time

import backends as hb
import peers
from bench import BIN, Server, dnsperf, wait_answering
from host import CLK_TCK, cpu_ticks, free_port
from shapes import med

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGIN = peers.ORIGIN
NAMES = 100_000


def big_records(n):
    """`n` static names, each with an A record, some two labels deep."""
    return "".join(f'\n[[records]]\nname = "h{i}{".deep" if i % 10 == 0 else ""}"\ntype = "A"\n'
                   f'data = ["10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"]\n'
                   for i in range(n))


def start(tmp, backend_ports, logdir, names):
    servers = {}
    for label, extra in (("10 names", ""), (f"{names // 1000}k names", big_records(names))):
        port = free_port()
        work = os.path.join(tmp, label.replace(" ", "-"))
        # The records go before the pools: TOML tables after [pools.*] would belong to them.
        zone = peers.gslbd_zone(backend_ports)
        head, pools = zone.split("[pools.www]", 1)
        peers.write(f"{work}/zones/{ORIGIN}.toml", head + extra + "\n[pools.www]" + pools)
        log = open(os.path.join(logdir, f"{label.replace(' ', '-')}.log"), "w")
        proc = peers.spawn([BIN, "serve", "--zones", f"{work}/zones", "--listen",
                            f"127.0.0.1:{port}", "--log", "warn", "--admin", "off"], log)
        servers[label] = Server(label, proc, port, True)
    for s in servers.values():
        if not wait_answering(s.port, want=3, limit=60):
            raise RuntimeError(f"zone-size: {s.name} did not answer; see {logdir}")
    return servers


def query_files(tmp):
    rnd = random.Random(11)

    def write(name, lines):
        path = os.path.join(tmp, f"{name}.txt")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        return path

    def label():
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))

    return {
        "www A (positive, reference)": write("www", [f"www.{ORIGIN} A"]),
        "random NXDOMAIN": write("nx", [f"{label()}.{ORIGIN} A" for _ in range(20000)]),
        "random NXDOMAIN, two labels": write("nx2", [f"{label()}.{label()}.{ORIGIN} A"
                                                     for _ in range(20000)]),
        "NODATA": write("nodata", [f"www.{ORIGIN} AAAA", f"mail.{ORIGIN} TXT"]),
    }


def render(order, cpu, args):
    big = order[1]
    out = ["<!-- zonesize -->", "## Zone size: negative answers in a 10-name and a "
           f"{big} zone", "",
           f"Written by `bench/run --zone-size` on "
           f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: two gslbd processes side by "
           f"side, {args.reps} interleaved repetitions, dnsperf runs of {args.seconds} s at "
           f"{args.qps // 1000}k q/s offered, `-c 4`. CPU-seconds per million answered queries "
           "(median). The target: the large zone answers NXDOMAIN and NODATA at the same cost "
           "per query as the small one.", "",
           "| shape | " + " | ".join(f"{n} CPU-s/M" for n in order) + f" | {big} / 10 names |",
           "|---|" + "---|" * (len(order) + 1)]
    for shape in cpu:
        c = {n: med(cpu[shape][n]) for n in order}
        out.append(f"| {shape} | " + " | ".join(f"{c[n]:.2f}" for n in order)
                   + f" | {c[big] / c[order[0]]:.2f}× |")
    out += ["", "<!-- /zonesize -->"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--qps", type=int, default=40000)
    ap.add_argument("--names", type=int, default=NAMES)
    ap.add_argument("--quick", action="store_true", help="one repetition, 5 s runs")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds = 1, 5
    logdir = tempfile.mkdtemp(prefix="gslbd-zonesize-logs-")
    with tempfile.TemporaryDirectory(prefix="gslbd-zonesize-") as tmp, hb.Backends(3) as backs:
        servers = start(tmp, backs.ports, logdir, args.names)
        order = list(servers)
        shapes = query_files(tmp)
        cpu = {s: {n: [] for n in order} for s in shapes}
        try:
            for rep in range(args.reps):
                turn = order if rep % 2 == 0 else list(reversed(order))
                for shape, path in shapes.items():
                    for n in turn:
                        s = servers[n]
                        before = cpu_ticks(s.proc.pid)
                        r = dnsperf(s.port, path, args.seconds, clients=4, qps=args.qps)
                        used = (cpu_ticks(s.proc.pid) - before) / CLK_TCK
                        cpu[shape][n].append(used / max(r["completed"], 1) * 1e6)
                        print(f"zone-size rep {rep + 1} {shape} {n}: "
                              f"{cpu[shape][n][-1]:.2f} cpu-s/M", file=sys.stderr)
        finally:
            for s in servers.values():
                s.stop()
    section = render(order, cpu, args)
    text = open(args.out).read() if os.path.exists(args.out) else ""
    pattern = re.compile(r"<!-- zonesize -->.*<!-- /zonesize -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(section)
    print(f"zone-size: logs in {logdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
