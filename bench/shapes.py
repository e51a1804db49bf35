"""Every query shape resolvers send, gslbd beside gdnsd, Knot and NSD in one interleaved run:
CPU per answered query at a fixed offered load, and saturation throughput. Replaces the
"Query shapes" section of bench/RESULTS.md. Started by ``bench/run --shapes`` after it built
gslbd.

Every server holds the same names: www (gslbd: weighted pool over three probed regions), h
(gslbd: hashed pool), t (gslbd: topology pool; the Client Subnet 198.51.100.0/24 is located
at us-east), static SOA, NS with glue, MX, TXT. The peers answer www, h and t with the same
three static addresses.

Beside them run three floors (bench/floor.rs): gslbd's own UDP transport with an answer that
costs nothing (header, question and one fixed A record). `floor-1` is one socket and one thread:
what the kernel charges any server on the sockets API for one query and one reply. `floor-crew`
is gslbd's design (one socket, a thread per core, the helpers woken only by full batches) and
`floor-reuseport` the design before it (a `SO_REUSEPORT` socket and thread per core). NSD runs
as Debian ships it (one server process)."""

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time

import backends as hb
import peers
from bench import BIN, Server, dnsperf, wait_answering
from host import CLK_TCK, cpu_ticks, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
FLOOR = os.path.join(os.path.dirname(HERE), "target", "release", "examples", "bench-floor")
ORIGIN = peers.ORIGIN
ECS = "8:00011800c63364"  # family 1, source /24, scope 0, 198.51.100.0
COOKIE = "10:0102030405060708"  # an 8-byte client cookie
# bench-floor's arguments after the port for each floor (None: the number of cores).
FLOORS = {"floor-1": ["1"], "floor-crew": [None, "crew"], "floor-reuseport": [None, "reuseport"]}

TOPOLOGY = """\
default = ["eu-west"]
[locations.us-east]
networks = ["198.51.100.0/24"]
prefer = ["us-east", "us-west", "eu-west"]
[locations.eu-west]
networks = ["203.0.113.0/24"]
prefer = ["eu-west", "us-east"]
"""


def gslbd_pools(backends):
    """The hashed and topology pools gslbd adds to the benchmark zone."""
    text = ""
    for pool, policy in (("h", "hashed"), ("t", "topology")):
        text += f'\n[pools.{pool}]\ntype = "A"\nttl = 30\npolicy = "{policy}"\n' \
                f'[pools.{pool}.probe]\ninterval = "2s"\ntimeout = "1s"\nfall = 3\nrise = 2\n'
        for (name, addr, w), port in zip(peers.REGIONS, backends):
            text += f'[pools.{pool}.regions.{name}]\naddresses = ["{addr}"]\nweight = {w}\n' \
                    f'check = "http://127.0.0.1:{port}/health"\n'
    return text


def static_extra():
    return "".join(f"{n} 30 IN A {addr}\n" for n in ("h", "t") for _, addr, _ in peers.REGIONS)


def start(tmp, backend_ports, logdir, threads, before=None):
    servers = {}
    have = peers.available()

    def log(name):
        return open(os.path.join(logdir, f"{name}.log"), "w")

    builds = [("gslbd", BIN)] + ([("gslbd-before", before)] if before else [])
    for name, binary in builds:
        port = free_port()
        work = f"{tmp}/{name}"
        peers.write(f"{work}/zones/{ORIGIN}.toml",
                    peers.gslbd_zone(backend_ports) + gslbd_pools(backend_ports))
        peers.write(f"{work}/zones/topology.toml", TOPOLOGY)
        proc = peers.spawn([binary, "serve", "--zones", f"{work}/zones", "--listen",
                            f"127.0.0.1:{port}", "--log", "warn", "--admin", "off"], log(name))
        servers[name] = Server(name, proc, port, True)
    if have["gdnsd"]:
        port = free_port()
        servers["gdnsd"] = Server("gdnsd", peers.gdnsd(f"{tmp}/gdnsd", port, backend_ports,
                                                       log("gdnsd"), extra=static_extra()),
                                  port, True)
    if have["knot"]:
        port = free_port()
        servers["knot"] = Server("knot", peers.knot(f"{tmp}/knot", port, log("knot"),
                                                    extra=static_extra()), port, False)
    if have["nsd"]:
        port = free_port()
        servers["nsd"] = Server("nsd", peers.nsd(f"{tmp}/nsd", port, log("nsd"), 1,
                                                 extra=static_extra()), port, False)
    if os.path.exists(FLOOR):
        for name, args in FLOORS.items():
            proc = subprocess.Popen([FLOOR, "0", *(a or str(threads) for a in args)],
                                    stdout=subprocess.PIPE, text=True, stderr=log(name))
            servers[name] = Server(name, proc, int(proc.stdout.readline()), False)
    for s in list(servers.values()):
        if not wait_answering(s.port, want=1 if s.name.startswith("floor") else 3):
            print(f"shapes: {s.name} did not answer; left out", file=sys.stderr)
            s.stop()
            del servers[s.name]
    return servers


def query_files(tmp):
    """One dnsperf input per shape: (file, dnsperf options)."""
    rnd = random.Random(7)

    def write(name, lines):
        path = os.path.join(tmp, f"{name}.txt")
        with open(path, "w") as f:
            f.write("".join(line + "\n" for line in lines))
        return path

    def random_name():
        return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))

    www = write("www", [f"www.{ORIGIN} A"])
    mix = (["www.{o} A"] * 50 + ["www.{o} AAAA"] * 10 + ["mail.{o} A"] * 5 + ["{o} MX"] * 5
           + ["{o} SOA"] * 5 + ["{o} NS"] * 5 + ["x{n}.{o} A"] * 20)
    mix_lines = []
    for i in range(2000):
        mix_lines.append(mix[i % len(mix)].format(o=ORIGIN, n=random_name()))
    rnd.shuffle(mix_lines)
    return {
        "www A": (www, []),
        "DO=1": (www, ["-D"]),
        "client cookie": (www, ["-E", COOKIE]),
        "ECS weighted": (www, ["-E", ECS]),
        "ECS hashed": (write("h", [f"h.{ORIGIN} A"]), ["-E", ECS]),
        "ECS topology": (write("t", [f"t.{ORIGIN} A"]), ["-E", ECS]),
        "random NXDOMAIN": (write("nx", [f"{random_name()}.{ORIGIN} A"
                                         for _ in range(20000)]), []),
        "NODATA": (write("nodata", [f"www.{ORIGIN} AAAA", f"mail.{ORIGIN} TXT"]), []),
        "apex SOA / NS + glue": (write("apex", [f"{ORIGIN} SOA", f"{ORIGIN} NS"]), []),
        "mix, DO=1": (write("mix", mix_lines), ["-D"]),
    }


def measure(servers, order, shapes, args):
    if args.only:
        shapes = {k: v for k, v in shapes.items() if k in args.only.split(",")}
    cpu = {s: {n: [] for n in order} for s in shapes}
    sat = {s: {n: [] for n in order} for s in shapes}
    for rep in range(args.reps):
        for shape, (path, opts) in shapes.items():
            for n in order:
                s = servers[n]
                before = cpu_ticks(s.proc.pid)
                r = dnsperf(s.port, path, args.seconds, clients=4, qps=args.qps, extra=opts)
                used = (cpu_ticks(s.proc.pid) - before) / CLK_TCK
                cpu[shape][n].append(used / max(r["completed"], 1) * 1e6)
                r = dnsperf(s.port, path, args.seconds, clients=4, extra=opts)
                sat[shape][n].append(r["qps"])
                print(f"shapes rep {rep + 1} {shape} {n}: {cpu[shape][n][-1]:.2f} cpu-s/M, "
                      f"{r['qps']:.0f} q/s", file=sys.stderr)
    return cpu, sat


def med(xs):
    return statistics.median(xs) if xs else None


def render(order, cpu, sat, args):
    peers_in = [n for n in order if not n.startswith("gslbd") and not n.startswith("floor")]
    out = ["<!-- shapes -->", "## Query shapes: gslbd beside gdnsd, Knot and NSD", "",
           f"Written by `bench/run --shapes` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
           f": {args.reps} interleaved repetitions, dnsperf runs of {args.seconds} s, `-c 4 -T 2`. "
           "Medians. CPU is the server's process tree (utime + stime) per million answered "
           f"queries at {args.qps // 1000}k q/s offered; saturation is q/s without a limit. "
           "`best peer` is the most efficient (lowest CPU) or fastest peer of the shape in "
           "this run; the targets are CPU ≤ 1.0× of it and ≤ 1.05× `floor-1`, and throughput "
           "≥ 1.0× of it. The floors (bench/floor.rs) answer every query with one fixed record "
           "through gslbd's sockets and system calls: `floor-1` with one thread (the kernel's "
           "share of a query), `floor-crew` with gslbd's design, `floor-reuseport` with the "
           "design before it. NSD runs with Debian's default of one server process.", "",
           "| shape | " + " | ".join(f"{n} CPU-s/M" for n in order) + " | gslbd / best peer CPU "
           "| gslbd / floor-1 CPU | " + " | ".join(f"{n} q/s" for n in order)
           + " | gslbd / best peer q/s |",
           "|---|" + "---|" * (2 * len(order) + 3)]
    for shape in cpu:
        c = {n: med(cpu[shape][n]) for n in order}
        q = {n: med(sat[shape][n]) for n in order}
        best_c = min((c[n] for n in peers_in if c[n]), default=None)
        best_q = max((q[n] for n in peers_in if q[n]), default=None)
        rc = f"{c['gslbd'] / best_c:.2f}×" if best_c else "–"
        rq = f"{q['gslbd'] / best_q:.2f}×" if best_q else "–"
        rc += "" if not best_c or c["gslbd"] <= best_c else " (missed)"
        rq += "" if not best_q or q["gslbd"] >= best_q else " (missed)"
        f1 = c.get("floor-1")
        rf = f"{c['gslbd'] / f1:.2f}×" + ("" if c["gslbd"] <= 1.05 * f1 else " (missed)") \
            if f1 else "–"
        out.append(f"| {shape} | " + " | ".join(f"{c[n]:.2f}" for n in order)
                   + f" | {rc} | {rf} | " + " | ".join(f"{q[n]:.0f}" for n in order)
                   + f" | {rq} |")
    out += ["", "<!-- /shapes -->"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--qps", type=int, default=40000)
    ap.add_argument("--quick", action="store_true", help="one repetition, 5 s runs")
    ap.add_argument("--before", help="a previous gslbd build, measured beside (gslbd-before)")
    ap.add_argument("--only", help="comma-separated shape names (default: every shape)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds = 1, 5
    threads = os.cpu_count() or 1
    logdir = tempfile.mkdtemp(prefix="gslbd-shapes-logs-")
    with tempfile.TemporaryDirectory(prefix="gslbd-shapes-") as tmp, hb.Backends(3) as backs:
        servers = start(tmp, backs.ports, logdir, threads, args.before)
        try:
            order = [n for n in ("gslbd", "gslbd-before", "gdnsd", "knot", "nsd", *FLOORS)
                     if n in servers]
            cpu, sat = measure(servers, order, query_files(tmp), args)
        finally:
            for s in servers.values():
                s.stop()
    section = render(order, cpu, sat, args)
    text = open(args.out).read() if os.path.exists(args.out) else ""
    pattern = re.compile(r"<!-- shapes -->.*<!-- /shapes -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else \
        text.rstrip("\n") + "\n\n" + section + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(section)
    print(f"shapes: logs in {logdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
