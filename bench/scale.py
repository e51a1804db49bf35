"""The workloads that are not dnsperf: failover timing (gslbd, gdnsd and PowerDNS probing the
same backends with the same settings), probe scale (10,000 HTTP targets at 1 s) and zone scale
(10,000 pools + 100,000 static records)."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import backends as hb
import peers
from host import CLK_TCK, cpu_ticks, dig, free_port, rss_kib

POLL = 0.05


def read_ready(proc, limit=120.0):
    """Reads gslbd's log until `ready`; returns (seconds, admin address or None)."""
    start = time.time()
    admin = None
    while time.time() - start < limit:
        line = proc.stderr.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError("gslbd exited before ready")
            continue
        m = re.search(r"admin listening on http://(\S+)", line)
        if m:
            admin = m.group(1)
        if " ready" in line:
            return time.time() - start, admin
    raise RuntimeError("gslbd not ready in time")


def drain_logs(proc):
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()


def failover(binary, tmp, backs, logdir, args):
    """Kills the weight-3 backend, polls each server every 50 ms until 192.0.2.1 leaves its
    answers (every healthy address is answered: policy all, gdnsd multi, ifurlextup all), then
    restarts it and times the return. Same probe settings everywhere: interval 2 s, fall 3."""
    reps = 2 if args.quick else 5
    have = peers.available()
    servers = {}
    port = free_port()
    zone = peers.gslbd_zone(backs.ports).replace('policy = "weighted"', 'policy = "all"')
    peers.write(f"{tmp}/fo-gslbd/zones/gslb.example.toml", zone)
    servers["gslbd"] = peers.spawn([binary, "serve", "--zones", f"{tmp}/fo-gslbd/zones",
                                    "--listen", f"127.0.0.1:{port}", "--admin", "off",
                                    "--log", "warn"], open(f"{logdir}/fo-gslbd.log", "w")), port
    if have["gdnsd"]:
        port = free_port()
        servers["gdnsd"] = peers.gdnsd(f"{tmp}/fo-gdnsd", port, backs.ports,
                                       open(f"{logdir}/fo-gdnsd.log", "w"), multi=True), port
    if have["pdns"]:
        port = free_port()
        servers["pdns-shared"] = peers.pdns(f"{tmp}/fo-pdns", port, backs.ports,
                                            open(f"{logdir}/fo-pdns.log", "w"), lua="shared",
                                            interval=2, weighted=False), port

    target = "192.0.2.1"
    try:
        for name, (_, port) in servers.items():
            if not wait_all(port, 3, 30):
                print(f"failover: {name} never answered all three", file=sys.stderr)
        out = {n: {"detection": [], "recovery": []} for n in servers}
        victim = backs.items[0]
        for rep in range(reps):
            # Settle: everything up everywhere.
            for _, port in servers.values():
                wait_all(port, 3, 30)
            time.sleep(1.0)
            t0 = time.time()
            victim.kill()
            timed = poll_all(servers, lambda a: target not in a, t0, 20)
            for n, t in timed.items():
                out[n]["detection"].append(t)
            t1 = time.time()
            victim.restart()
            timed = poll_all(servers, lambda a: target in a, t1, 30)
            for n, t in timed.items():
                out[n]["recovery"].append(t)
            print(f"failover rep {rep + 1}: " + ", ".join(
                f"{n} {out[n]['detection'][-1]}/{out[n]['recovery'][-1]}" for n in out),
                file=sys.stderr)
        check = subprocess.run([binary, "check", "--json", "--zones", f"{tmp}/fo-gslbd/zones"],
                               capture_output=True, text=True)
        worst = json.loads(check.stdout)["zones"][0]["pools"][0]["worst"] if check.stdout else {}
        return {"servers": out, "computed": worst}
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_all(port, n, limit):
    end = time.time() + limit
    while time.time() < end:
        if len(set(dig(port))) >= n:
            return True
        time.sleep(0.2)
    return False


def poll_all(servers, done, t0, limit):
    """Polls every server in its own thread; returns seconds until `done(answers)` (None when
    it never happened within `limit`)."""
    out = {}

    def one(name, port):
        end = t0 + limit
        while time.time() < end:
            if done(dig(port)):
                out[name] = round(time.time() - t0, 3)
                return
            time.sleep(POLL)
        out[name] = None

    threads = [threading.Thread(target=one, args=(n, p)) for n, (_, p) in servers.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def metrics(admin):
    with urllib.request.urlopen(f"http://{admin}/metrics", timeout=30) as r:
        return r.read().decode()


def histogram_quantiles(text, name, qs):
    """Quantiles (upper bucket bounds) of a Prometheus histogram, summed over labels."""
    buckets = {}
    for line in text.splitlines():
        m = re.match(rf'{name}_bucket{{.*le="([^"]+)".*}} (\S+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets[le] = buckets.get(le, 0) + float(m.group(2))
    if not buckets:
        return {q: None for q in qs}
    total = buckets[max(buckets)]
    res = {}
    for q in qs:
        res[q] = next((le for le in sorted(buckets) if buckets[le] >= q * total), None)
    return res


def counter_sum(text, name, label_filter=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label_filter in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def big_zone(tmp, name, parts):
    """Writes the static head of the bench zone plus `parts` as tmp/name/zones/NAME.toml."""
    zdir = f"{tmp}/{name}/zones"
    head = peers.gslbd_zone([1, 1, 1]).split("[pools.www]")[0]
    peers.write(f"{zdir}/{name}.toml", head + "".join(parts))
    return zdir, f"{zdir}/{name}.toml"


def start_gslbd(binary, zdir):
    """Starts gslbd with an admin API; returns (process, seconds to ready, admin address)."""
    proc = subprocess.Popen([binary, "serve", "--zones", zdir, "--listen",
                             f"127.0.0.1:{free_port()}", "--admin", "127.0.0.1:0",
                             "--log", "info"], stderr=subprocess.PIPE, text=True)
    took, admin = read_ready(proc)
    drain_logs(proc)
    return proc, took, admin


def probes(binary, tmp, logdir, args, ops=False, edit=False):
    """gslbd alone, 10,000 HTTP targets at interval 1 s against one local backend; with `ops`,
    every pool has slow start, every probe a hold-down, and the zones reload every 10 s; with
    `edit` as well, the zone file gains a comment line before every reload, so each one parses
    and rebuilds the whole set (without it the files are unchanged and the reload keeps the
    serving set)."""
    n = 2000 if args.quick else 10000
    seconds = 10 if args.quick else 30
    back = hb.Backend()
    extra_probe = 'hold_down = "10s"\n' if ops else ""
    extra_pool = 'slow_start = "30s"\n' if ops else ""
    zdir, zfile = big_zone(tmp, "probes-edit" if edit else "probes-ops" if ops else "probes", (
        f'[pools.p{i}]\ntype = "A"\npolicy = "all"\n{extra_pool}'
        f'[pools.p{i}.probe]\ninterval = "1s"\ntimeout = "500ms"\nfall = 3\nrise = 2\n'
        f'{extra_probe}'
        f'[pools.p{i}.regions.r]\naddresses = ["192.0.2.1"]\n'
        f'check = "http://127.0.0.1:{back.port}/h/{i}"\n' for i in range(n)))
    proc, _, admin = start_gslbd(binary, zdir)
    stop = threading.Event()
    reloads = []

    def reload_every_10s():
        while not stop.wait(10):
            if edit:
                with open(zfile, "a") as f:
                    f.write(f"# edit {len(reloads) + 1}\n")
            req = urllib.request.Request(f"http://{admin}/reload", method="POST",
                                         headers={"X-Gslbd-Request": "1"})
            with urllib.request.urlopen(req, timeout=60) as r:
                reloads.append(r.status)

    try:
        time.sleep(3)  # every target probed at least once, first verdicts in
        reloader = threading.Thread(target=reload_every_10s) if ops else None
        if reloader:
            reloader.start()
        before_cpu, before_t = cpu_ticks(proc.pid), time.time()
        m0 = metrics(admin)
        time.sleep(seconds)
        cores = (cpu_ticks(proc.pid) - before_cpu) / CLK_TCK / (time.time() - before_t)
        m1 = metrics(admin)
        stop.set()
        if reloader:
            reloader.join()
        # Every down transition since the start (each a false one: the backend never fails),
        # and of those the ones before the measured window (every target probed at once).
        startup_down = counter_sum(m0, "gslbd_health_transitions_total", 'kind="down"')
        down = counter_sum(m1, "gslbd_health_transitions_total", 'kind="down"')
        probes_done = (counter_sum(m1, "gslbd_probe_results_total")
                       - counter_sum(m0, "gslbd_probe_results_total"))
        failed = (counter_sum(m1, "gslbd_probe_results_total")
                  - counter_sum(m1, "gslbd_probe_results_total", 'outcome="ok"'))
        startup_failed = (counter_sum(m0, "gslbd_probe_results_total")
                          - counter_sum(m0, "gslbd_probe_results_total", 'outcome="ok"'))
        q = histogram_quantiles(m1, "gslbd_probe_lateness_seconds", [0.5, 0.99])
        outcomes = {}
        for line in m1.splitlines():
            if line.startswith("gslbd_probe_results_total") and 'outcome="ok"' not in line:
                kind = line.split('outcome="')[1].split('"')[0]
                outcomes[kind] = outcomes.get(kind, 0) + float(line.rsplit(" ", 1)[1])
        return {"failed_by_outcome": outcomes, "targets": n, "seconds": seconds, "cores": cores,
                "probes_per_s": probes_done / seconds, "lateness_p50": q[0.5],
                "lateness_p99": q[0.99], "false_down": down, "startup_down": startup_down,
                "failed_probes": failed, "startup_failed": startup_failed,
                "rss_mib": rss_kib(proc.pid, "VmRSS") / 1024, "reloads": len(reloads)}
    finally:
        stop.set()
        proc.terminate()
        proc.wait()
        back.kill()


def zones(binary, tmp, logdir, args):
    """10,000 pools + 100,000 static records: load time, RSS, reload time; and idle RSS on the
    example zones."""
    pools = 2000 if args.quick else 10000
    records = 20000 if args.quick else 100000
    records_toml = (f'[[records]]\nname = "h{i}"\ntype = "A"\n'
                    f'data = ["10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"]\n'
                    for i in range(records))
    pools_toml = (f'[pools.p{i}]\ntype = "A"\npolicy = "weighted"\n'
                  f'[pools.p{i}.regions.a]\naddresses = ["192.0.2.1"]\nweight = 3\n'
                  f'[pools.p{i}.regions.b]\naddresses = ["192.0.2.2"]\n' for i in range(pools))
    zdir, path = big_zone(tmp, "zscale", list(records_toml) + list(pools_toml))
    out = {"pools": pools, "records": records, "file_mib": os.path.getsize(path) / 2**20}
    proc, out["load_s"], admin = start_gslbd(binary, zdir)
    try:
        out["rss_mib"] = rss_kib(proc.pid, "VmRSS") / 1024
        # An unchanged file would keep the serving set: edit it so the reload parses it all.
        with open(path, "a") as f:
            f.write("# edited\n")
        t = time.time()
        req = urllib.request.Request(f"http://{admin}/reload", method="POST",
                                     headers={"X-Gslbd-Request": "1"})
        with urllib.request.urlopen(req, timeout=120) as r:
            r.read()
        out["reload_s"] = time.time() - t
        out["peak_rss_mib"] = rss_kib(proc.pid, "VmHWM") / 1024
    finally:
        proc.terminate()
        proc.wait()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc, _, _ = start_gslbd(binary, os.path.join(root, "zones"))
    try:
        time.sleep(2)
        out["idle_rss_mib"] = rss_kib(proc.pid, "VmRSS") / 1024
    finally:
        proc.terminate()
        proc.wait()
    return out
