"""gslbd against gdnsd, PowerDNS (LUA, =yes and =shared), Knot and NSD on one machine, in one
run, interleaved; writes bench/RESULTS.md. Started by bench/run (which installs and builds)."""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import backends as hb
import peers
import scale
from host import CLK_TCK, cpu_ticks, dig, free_port, rss_kib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "gslbd")
def dnsperf(port, queryfile, seconds, clients=4, qps=None, extra=()):
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", queryfile, "-l", str(seconds),
            "-c", str(clients), "-T", "2", *extra]
    if qps:
        args += ["-Q", str(qps)]
    out = subprocess.run(args, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Queries per second:"):
            res["qps"] = float(line.split()[3])
        elif line.startswith("Queries lost:"):
            res["lost"] = int(line.split()[2])
        elif line.startswith("Queries completed:"):
            res["completed"] = int(line.split()[2])
    if "qps" not in res:
        raise RuntimeError(f"dnsperf failed on port {port}:\n{out}")
    return res


class Server:
    def __init__(self, name, proc, port, probing):
        self.name, self.proc, self.port, self.probing = name, proc, port, probing

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_answering(port, want=3, limit=30.0):
    end = time.time() + limit
    while time.time() < end:
        if len(dig(port)) >= 1 and (want == 0 or len(set(dig_many(port, 30))) >= want):
            return True
        time.sleep(0.2)
    return False


def dig_many(port, n):
    seen = []
    for _ in range(n):
        seen += dig(port)
    return seen


def start_all(tmp, backend_ports, logdir, which, threads):
    """Starts every server; returns them by name (skipping peers that are not installed)."""
    servers = {}
    have = peers.available()

    def log(name):
        return open(os.path.join(logdir, f"{name}.log"), "w")

    def add(name, proc, port, probing):
        servers[name] = Server(name, proc, port, probing)

    port = free_port()
    add("gslbd", peers.gslbd(BIN, f"{tmp}/gslbd", port, backend_ports, log("gslbd"),
                             extra_args=["--admin", "off"]), port, True)
    if "gslbd-metrics" in which:
        port = free_port()
        add("gslbd-metrics", peers.gslbd(BIN, f"{tmp}/gslbd-metrics", port, backend_ports,
                                         log("gslbd-metrics"),
                                         extra_args=["--admin", f"127.0.0.1:{free_port()}"]),
            port, True)
    if have["gdnsd"] and "gdnsd" in which:
        port = free_port()
        add("gdnsd", peers.gdnsd(f"{tmp}/gdnsd", port, backend_ports, log("gdnsd")), port, True)
    if have["pdns"]:
        for lua in ("shared", "yes"):
            if f"pdns-{lua}" in which:
                port = free_port()
                add(f"pdns-{lua}", peers.pdns(f"{tmp}/pdns-{lua}", port, backend_ports,
                                              log(f"pdns-{lua}"), lua=lua), port, True)
    if have["knot"] and "knot" in which:
        port = free_port()
        add("knot", peers.knot(f"{tmp}/knot", port, log("knot")), port, False)
    if have["nsd"] and "nsd" in which:
        port = free_port()
        add("nsd", peers.nsd(f"{tmp}/nsd", port, log("nsd"), threads), port, False)
    for s in list(servers.values()):
        # PowerDNS treats every address as down until its first check: wait for all three.
        if not wait_answering(s.port, want=3 if s.probing or s.name in ("knot", "nsd") else 1):
            print(f"bench: {s.name} did not answer; left out (see {logdir}/{s.name}.log)",
                  file=sys.stderr)
            s.stop()
            del servers[s.name]
    return servers


def summary(values):
    if not values:
        return None
    return (min(values), statistics.median(values), max(values))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="short runs, one repetition")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--only", default="saturation,efficiency,memory,failover,probes,zones",
                    help="comma-separated workloads")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds = 1, 5
    only = set(args.only.split(","))
    threads = os.cpu_count() or 1

    results = {"args": vars(args), "machine": machine()}
    logdir = tempfile.mkdtemp(prefix="gslbd-bench-logs-")
    with tempfile.TemporaryDirectory(prefix="gslbd-bench-") as tmp, hb.Backends(3) as backs:
        names = ["gslbd", "gslbd-metrics", "gdnsd", "nsd", "knot", "pdns-shared", "pdns-yes"]
        servers = start_all(tmp, backs.ports, logdir, set(names), threads)
        try:
            order = [n for n in names if n in servers]
            results["servers"] = order
            qfiles = write_queries(tmp)
            if "saturation" in only:
                results["saturation"] = saturation(servers, order, qfiles, args)
            if "efficiency" in only:
                results["efficiency"] = efficiency(servers, order, qfiles, args)
            if "memory" in only:
                results["memory"] = {n: rss_kib(servers[n].proc.pid) for n in order}
        finally:
            for s in servers.values():
                s.stop()
        if "failover" in only:
            results["failover"] = scale.failover(BIN, tmp, backs, logdir, args)
        if "probes" in only:
            results["probes"] = scale.probes(BIN, tmp, logdir, args)
            results["probes_ops"] = scale.probes(BIN, tmp, logdir, args, ops=True)
            results["probes_edit"] = scale.probes(BIN, tmp, logdir, args, ops=True, edit=True)
        if "zones" in only:
            results["zones"] = scale.zones(BIN, tmp, logdir, args)
    import report
    text = report.render(results)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)
    print(f"bench: logs in {logdir}", file=sys.stderr)


def write_queries(tmp):
    www = os.path.join(tmp, "www.txt")
    with open(www, "w") as f:
        f.write("www.gslb.example A\n")
    mix = os.path.join(tmp, "mix.txt")
    with open(mix, "w") as f:
        for i in range(100):
            f.write(f"nx{i}.gslb.example A\n" if i % 10 == 9 else "www.gslb.example A\n")
    return {"www": www, "mix": mix}


def saturation(servers, order, qfiles, args):
    """QPS with dnsperf -c 4, every server in turn, repeated: a ratio holds when the box drifts."""
    out = {q: {n: [] for n in order} for q in qfiles}
    for rep in range(args.reps):
        for q, path in qfiles.items():
            for n in order:
                r = dnsperf(servers[n].port, path, args.seconds, clients=4)
                out[q][n].append(r["qps"])
                print(f"saturation {q} rep {rep + 1} {n}: {r['qps']:.0f} q/s", file=sys.stderr)
    return out


def efficiency(servers, order, qfiles, args):
    """CPU-seconds per million queries at a fixed offered load (40k q/s; PowerDNS =yes gets
    what it can)."""
    out = {n: [] for n in order}
    for rep in range(args.reps):
        for n in order:
            s = servers[n]
            before = cpu_ticks(s.proc.pid)
            r = dnsperf(s.port, qfiles["www"], args.seconds, clients=4, qps=40000)
            used = (cpu_ticks(s.proc.pid) - before) / CLK_TCK
            per_m = used / max(r["completed"], 1) * 1e6
            out[n].append(per_m)
            print(f"efficiency rep {rep + 1} {n}: {per_m:.2f} cpu-s/M ({r['qps']:.0f} q/s)",
                  file=sys.stderr)
    return out


def machine():
    def cmd(*a):
        try:
            return subprocess.run(a, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "kernel": platform.release(),
        "cpu": f"{cpu} × {os.cpu_count()}",
        "gslbd": cmd(BIN, "--version"),
        "dnsperf": pkg("dnsperf"),
        "gdnsd": pkg("gdnsd"),
        "pdns": pkg("pdns-server"),
        "knot": pkg("knot"),
        "nsd": pkg("nsd"),
    }


def pkg(name):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", name], capture_output=True,
                         text=True)
    return out.stdout.strip() or "not installed"


if __name__ == "__main__":
    main()
