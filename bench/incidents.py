"""The query path during incidents: one gslbd process holding 10,000 probed pools (HTTP, 1 s)
and 100,000 static records answers `www A` at a fixed offered load (dnsperf `-Q`, 40k q/s by
default) while, in turn,

- quiet: nothing else happens (the probes run as always);
- probes: every one of the 10,000 targets fails at once (their backend is killed) and recovers
  (restarted halfway through the run);
- reload: the 100,000-record zone is edited and reloaded (one full parse and rebuild);
- scrape: `/metrics` and `/status` are fetched every second.

With `--pin` (two cores or more), gslbd runs on core 0 and everything else (dnsperf, the
health-check backends, this script) on core 1, as a server and its clients on separate
machines. On a two-core machine one core cannot carry 10,000 probes a second and 40k q/s
together, so the full-scale run is unpinned by default.

For each: dnsperf's per-query latencies (p50, p99, max), queries lost, the CPU of the UDP
threads (`gslbd-udp*`) per answered query, and the whole process's. Repetitions interleave the
four so drift hits them alike; medians. With `--before OLD`, the probe engine alone (10,000
HTTP targets at 1 s, `bench/scale.py`) is measured quietly on this build and on OLD,
interleaved. Writes `bench/INCIDENTS.md`. Started by ``bench/run --incidents`` after it built
gslbd."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import backends as hb
import peers
from bench import BIN, wait_answering
from host import CLK_TCK, proc_stat, cpu_ticks, free_port
import scale
from scale import read_ready, drain_logs

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGIN = peers.ORIGIN


def write_zones(zdir, probe_port, www_ports, pools, records):
    """The bench zone (www over three probed regions) plus `pools` probed pools on one backend,
    and a second zone with `records` static records; returns the big zone's path."""
    peers.write(f"{zdir}/{ORIGIN}.toml", peers.gslbd_zone(www_ports) + "".join(
        f'\n[pools.p{i}]\ntype = "A"\npolicy = "all"\n'
        f'[pools.p{i}.probe]\ninterval = "1s"\ntimeout = "500ms"\nfall = 3\nrise = 2\n'
        f'[pools.p{i}.regions.r]\naddresses = ["192.0.2.1"]\n'
        f'check = "http://127.0.0.1:{probe_port}/h/{i}"\n' for i in range(pools)))
    big = f"{zdir}/records.example.toml"
    head = peers.gslbd_zone(www_ports).split("[pools.www]")[0].replace(ORIGIN, "records.example")
    peers.write(big, head + "".join(
        f'[[records]]\nname = "h{i}"\ntype = "A"\n'
        f'data = ["10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"]\n' for i in range(records)))
    return big


def udp_ticks(pid):
    """CPU ticks (utime + stime) of the process's UDP threads."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if not f.read().startswith("gslbd-udp"):
                    continue
            fields = proc_stat(f"{pid}/task/{tid}")
            total += int(fields[11]) + int(fields[12])
        except OSError:
            continue
    return total


SERVER_CORE, CLIENT_CORE = [], []
INCIDENTS = ("probes", "reload", "scrape", "metrics", "status", "hog")
HOG = """
import time
while True:
    t = time.time()
    text = "".join(f'gslbd_probe_results_total{{target="http://127.0.0.1/h/{i}",result="ok"}} {i}\\n'
                   for i in range(160000))
    del text
    time.sleep(max(0.0, 1.0 - (time.time() - t)))
"""
SCRAPER_NICE = 19


def pin():
    """Puts gslbd on core 0 and its clients (and this script) on core 1."""
    global SERVER_CORE, CLIENT_CORE
    if (os.cpu_count() or 1) >= 2:
        SERVER_CORE, CLIENT_CORE = ["taskset", "-c", "0"], ["taskset", "-c", "1"]
        os.sched_setaffinity(0, {1})


def pin_clients(proc):
    """Moves a client-side process (a backend) to the clients' core."""
    if CLIENT_CORE:
        os.sched_setaffinity(proc.pid, {1})


def dnsperf_latencies(port, qfile, seconds, qps):
    """dnsperf -v: every answered query's latency in seconds, and the counts."""
    out = subprocess.run([*CLIENT_CORE, "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", qfile, "-l",
                          str(seconds), "-c", "4", "-T", "2", "-Q", str(qps), "-v"],
                         capture_output=True, text=True).stdout
    lat, completed, lost = [], 0, 0
    for line in out.splitlines():
        if line.startswith("> "):
            try:
                lat.append(float(line.rsplit(" ", 1)[1]))
            except ValueError:
                pass
        elif line.strip().startswith("Queries completed:"):
            completed = int(line.split()[2])
        elif line.strip().startswith("Queries lost:"):
            lost = int(line.split()[2])
    return sorted(lat), completed, lost


def post(url):
    req = urllib.request.Request(url, method="POST", headers={"X-Gslbd-Request": "1"})
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()


def get(url):
    """Reads `url` the way a Prometheus on another host would cost this one nothing: with curl
    at nice 19 (`--scraper-nice 0` reads it at dnsperf's priority, competing for its cores)."""
    out = subprocess.run(["nice", "-n", str(SCRAPER_NICE), "curl", "-s", "-o", "/dev/null",
                          "-w", "%{size_download}", "--max-time", "30", url],
                         capture_output=True, text=True)
    return int(out.stdout or 0)


def incident(kind, admin, big, probe_backend, seconds, stop):
    """Runs beside dnsperf until `stop`; returns what it did."""
    done = []
    if kind == "probes":
        time.sleep(1)
        probe_backend.kill()
        done.append("backend killed")
        stop.wait(seconds / 2 - 1)
        probe_backend.restart()
        pin_clients(probe_backend.proc)
        done.append("backend restarted")
    elif kind == "reload":
        time.sleep(1)
        with open(big, "a") as f:
            f.write(f"# edited {time.time()}\n")
        t = time.time()
        post(f"http://{admin}/reload")
        done.append(f"reload {time.time() - t:.2f} s")
    elif kind == "hog":
        # The control: not gslbd but another process at nice 19 that each second spends about
        # what a scrape does, building and dropping a 12 MB text (as the exporter renders).
        hog = subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", HOG])
        stop.wait(seconds + 1)
        hog.kill()
        hog.wait()
        done.append("hog")
    elif kind in ("scrape", "metrics", "status"):
        # `scrape` reads both each second; `metrics` and `status` one of them, to tell apart.
        paths = ["/metrics", "/status"] if kind == "scrape" else [f"/{kind}"]
        while not stop.wait(1):
            for path in paths:
                get(f"http://{admin}{path}")
            done.append("scrape")
    return done


def pct(xs, q):
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1e3 if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reps", type=int)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--qps", type=int, default=40000)
    ap.add_argument("--quick", action="store_true",
                    help="2k pools, 20k records, one repetition unless --reps says")
    ap.add_argument("--out", default=os.path.join(HERE, "INCIDENTS.md"))
    ap.add_argument("--before", help="a previous gslbd build: its probe engine beside this one")
    ap.add_argument("--pin", action="store_true", help="gslbd on core 0, its clients on core 1")
    ap.add_argument("--kinds", default="quiet,probes,reload,scrape",
                    help="the runs, comma-separated (quiet is always one)")
    ap.add_argument("--scraper-nice", type=int, default=19,
                    help="the nice value of the scraping curl (19: it takes no CPU from dnsperf)")
    ap.add_argument("--probes-only", action="store_true",
                    help="with --before: only the probe engines side by side (at full scale "
                         "unless --quick), written to bench/PROBE-ENGINE.md")
    args = ap.parse_args()
    if args.probes_only:
        args.reps = args.reps or 3
        probes = probe_engines(args)
        text = "# The probe engine\n\nWritten by `bench/run --incidents --probes-only --before " \
               f"OLD` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n" + \
               "\n".join(probe_table(probes, args)[2:]) + "\n"
        with open(os.path.join(HERE, "PROBE-ENGINE.md"), "w") as f:
            f.write(text)
        print(text)
        return
    global SCRAPER_NICE
    SCRAPER_NICE = args.scraper_nice
    if args.pin:
        pin()
    pools, records = (2000, 20000) if args.quick else (10000, 100000)
    args.reps = args.reps or (1 if args.quick else 3)
    kinds = ["quiet"] + [k for k in args.kinds.split(",") if k in INCIDENTS]
    rows = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(prefix="gslbd-incidents-") as tmp, \
            hb.Backends(3) as www:
        probe_backend = hb.Backend()
        for b in [probe_backend, *www.items]:
            pin_clients(b.proc)
        zdir = f"{tmp}/zones"
        big = write_zones(zdir, probe_backend.port, www.ports, pools, records)
        port = free_port()
        proc = subprocess.Popen([*SERVER_CORE, BIN, "serve", "--zones", zdir, "--listen", f"127.0.0.1:{port}",
                                 "--admin", "127.0.0.1:0", "--log", "info"],
                                stderr=subprocess.PIPE, text=True)
        try:
            _, admin = read_ready(proc)
            drain_logs(proc)
            wait_answering(port)
            qfile = f"{tmp}/www.txt"
            with open(qfile, "w") as f:
                f.write(f"www.{ORIGIN} A\n")
            time.sleep(5)  # every target probed, verdicts in
            for rep in range(args.reps):
                for kind in kinds:
                    stop = threading.Event()
                    result = {}
                    side = threading.Thread(target=lambda: result.update(done=incident(
                        kind, admin, big, probe_backend, args.seconds, stop)))
                    u0, p0 = udp_ticks(proc.pid), cpu_ticks(proc.pid)
                    side.start()
                    lat, completed, lost = dnsperf_latencies(port, qfile, args.seconds, args.qps)
                    u1, p1 = udp_ticks(proc.pid), cpu_ticks(proc.pid)
                    stop.set()
                    side.join()
                    per = 1e6 / max(completed, 1) / CLK_TCK
                    row = {"p50": pct(lat, 0.5), "p99": pct(lat, 0.99), "max": pct(lat, 1.0),
                           "lost": lost, "completed": completed,
                           "udp": (u1 - u0) * per, "process": (p1 - p0) * per}
                    rows[kind].append(row)
                    print(f"incidents rep {rep + 1} {kind}: p50 {row['p50']:.3f} ms p99 "
                          f"{row['p99']:.3f} ms lost {lost} udp {row['udp']:.2f} process "
                          f"{row['process']:.2f} CPU-s/M; {result.get('done', [])[:2]}",
                          file=sys.stderr)
                    if kind == "probes":
                        time.sleep(5)  # every target back up before the next run
        finally:
            proc.terminate()
            proc.wait()
            probe_backend.kill()
    # The probe engine alone runs as bench/scale.py runs it: on every core.
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    probes = probe_engines(args) if args.before else None
    write(rows, kinds, args, pools, records, probes)


def probe_engines(args):
    """The probe engine alone, this build and `--before`, interleaved: scale.probes per rep."""
    runs = {"this build": [], "before": []}
    with tempfile.TemporaryDirectory(prefix="gslbd-probes-") as tmp:
        for rep in range(args.reps):
            for name, binary in (("this build", BIN), ("before", args.before)):
                r = scale.probes(binary, f"{tmp}/{name.replace(' ', '-')}-{rep}", tmp, args)
                runs[name].append(r)
                print(f"probes rep {rep + 1} {name}: {r['cores']:.3f} cores, "
                      f"{r['probes_per_s']:.0f} probes/s, lateness p99 {r['lateness_p99']}, "
                      f"false down {r['false_down']} ({r['startup_down']} at start-up), "
                      f"failed {r['failed_by_outcome']} ({r['startup_failed']:.0f} at start-up)",
                      file=sys.stderr)
    return runs


def probe_table(probes, args):
    """The probe engines' figures as a Markdown section."""
    first = probes["this build"][0]
    out = ["## The probe engine alone, this build beside the build before", "",
           f"{first['targets']:,} HTTP targets at interval 1 s on one local backend, "
           f"{first['seconds']} s per run, {args.reps} interleaved repetitions, medians"
           f"{f' (before: `{args.before}`)' if args.before else ''}.", "",
           "| build | CPU (cores) | probes/s | lateness p50 s | lateness p99 s | false downs "
           "(of them at start-up) | RSS MiB |", "|---|---|---|---|---|---|---|"]
    for name, rs in probes.items():
        def m(key):
            return statistics.median(r[key] for r in rs)
        out.append(f"| {name} | {m('cores'):.3f} | {m('probes_per_s'):.0f} | "
                   f"{m('lateness_p50')} | {m('lateness_p99')} | "
                   f"{sum(r['false_down'] for r in rs):.0f} "
                   f"({sum(r['startup_down'] for r in rs):.0f}) | {m('rss_mib'):.0f} |")
    return out


def write(rows, kinds, args, pools, records, probes=None):
    def med(kind, key):
        return statistics.median(r[key] for r in rows[kind])

    quiet = med("quiet", "p99")
    out = ["# The query path during incidents", "",
           f"Written by `bench/run --incidents` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: "
           f"one gslbd process with {pools:,} pools probed over HTTP every second and "
           f"{records:,} static records, `www A` at {args.qps // 1000}k q/s offered (dnsperf "
           f"`-c 4 -T 2`, {args.seconds} s runs), {args.reps} interleaved repetitions, medians. "
           f"{'gslbd on core 0, dnsperf and the backends on core 1. ' if SERVER_CORE else ''}"
           "Latency is dnsperf's per query (`-v`); CPU is CPU-seconds per million answered "
           "queries, of the UDP threads and of the whole process (which also runs the probes, "
           "the reload or the scrapes). The target: p99 during each incident ≤ 1.2× the quiet "
           "p99, and no query lost. `probes`: the backend of every probed pool is killed and "
           "restarted; `reload`: a changed big zone file is reloaded; `scrape`: `/metrics` and "
           "`/status` read every second (`metrics`, `status`: one of them) by curl at nice 19; "
           "`hog` is the control: not gslbd but another process at nice 19 that each second "
           "builds and drops a 12 MB text, about a scrape's CPU.", "",
           "| run | p50 ms | p99 ms | max ms | p99 / quiet | lost | UDP threads CPU-s/M "
           "| process CPU-s/M |", "|---|---|---|---|---|---|---|---|"]
    for kind in kinds:
        p99 = med(kind, "p99")
        ratio = p99 / quiet if quiet else float("nan")
        lost = sum(r["lost"] for r in rows[kind])
        ok = "" if kind == "quiet" or (ratio <= 1.2 and lost == 0) else " (missed)"
        out.append(f"| {kind} | {med(kind, 'p50'):.3f} | {p99:.3f} | {med(kind, 'max'):.2f} | "
                   f"{ratio:.2f}×{ok} | {lost} | {med(kind, 'udp'):.2f} | "
                   f"{med(kind, 'process'):.2f} |")
    if probes:
        out += [""] + probe_table(probes, args)
    text = "\n".join(out) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
