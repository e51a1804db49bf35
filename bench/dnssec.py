"""DNSSEC costs, side by side in one interleaved run (issue #27's figures):

- CPU per query of a signed DO=1 answer against the same answer unsigned (DO=0), on gslbd
  (weighted pool www, ECDSA P-256, pre-signed at load) beside Knot serving a zone it signed
  itself (pre-signed) and PowerDNS signing its LUA record online (its signature cache warm),
  at a fixed offered load; NXDOMAIN with its NSEC proof as well;
- signing time at load for 10,000 pools, and the memory of the signatures (resident size of
  the signed zone set against the same set unsigned).

Writes bench/DNSSEC.md. Started by ``bench/run --dnssec`` after it built gslbd."""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import peers
from bench import BIN, Server, dnsperf, wait_answering
from host import CLK_TCK, cpu_ticks, free_port, rss_kib

HERE = os.path.dirname(os.path.abspath(__file__))
ORIGIN = peers.ORIGIN


def keygen(path):
    subprocess.run([BIN, "keygen", "--zone", ORIGIN + ".", "--out", path], check=True,
                   capture_output=True)


def gslbd(tmp, name="gslbd"):
    work = os.path.join(tmp, name)
    zones = os.path.join(work, "zones")
    os.makedirs(zones, exist_ok=True)
    keygen(os.path.join(zones, "k.pem"))
    zone = peers.gslbd_zone([0, 0, 0]).replace('check = "http://127.0.0.1:0/health"\n', "")
    peers.write(os.path.join(zones, "gslb.example.toml"),
                zone + '[dnssec]\nkeys = [{ file = "k.pem" }]\n')
    port = free_port()
    log = open(os.path.join(tmp, f"{name}.log"), "w")
    proc = peers.spawn([BIN, "serve", "--zones", zones, "--listen", f"127.0.0.1:{port}",
                        "--admin", "off", "--log", "warn"], log)
    return Server(name, proc, port, False)


def knot(tmp):
    work = os.path.join(tmp, "knot")
    os.makedirs(os.path.join(work, "db"), exist_ok=True)
    port = free_port()
    log = open(os.path.join(tmp, "knot.log"), "w")
    peers.write(f"{work}/{ORIGIN}.zone", peers.static_zone())
    peers.write(f"{work}/knot.conf", textwrap.dedent(f"""\
        server:
            listen: 127.0.0.1@{port}
            rundir: {work}
            user: root:root
        database:
            storage: {work}/db
        log:
          - target: stderr
            any: warning
        policy:
          - id: p
            algorithm: ecdsap256sha256
            single-type-signing: on
        zone:
          - domain: {ORIGIN}
            storage: {work}
            file: {ORIGIN}.zone
            dnssec-signing: on
            dnssec-policy: p
        """))
    proc = peers.spawn(["knotd", "-c", f"{work}/knot.conf"], log)
    return Server("knot", proc, port, False)


def pdns(tmp):
    work = os.path.join(tmp, "pdns")
    os.makedirs(work, exist_ok=True)
    port = free_port()
    weights = ", ".join(f"['{addr}']={w}" for _, addr, w in peers.REGIONS)
    code = (f";local w={{{weights}}} local t={{}} for a,x in pairs(w) do "
            f"table.insert(t, {{x, a}}) end return pickwrandom(t)")
    peers.write(f"{work}/{ORIGIN}.zone", peers.STATIC_BIND + f'www 30 IN LUA A "{code}"\n')
    peers.write(f"{work}/named.conf",
                f'zone "{ORIGIN}" {{ type native; file "{work}/{ORIGIN}.zone"; }};\n')
    peers.write(f"{work}/pdns.conf", textwrap.dedent(f"""\
        launch=bind
        bind-config={work}/named.conf
        bind-dnssec-db={work}/dnssec.db
        enable-lua-records=yes
        local-address=127.0.0.1
        local-port={port}
        socket-dir={work}
        daemon=no
        guardian=no
        disable-syslog=yes
        write-pid=no
        loglevel=3
        """))
    util = ["pdnsutil", f"--config-dir={work}"]
    subprocess.run(util + ["create-bind-db", f"{work}/dnssec.db"], check=True,
                   capture_output=True)
    subprocess.run(util + ["secure-zone", ORIGIN], check=True, capture_output=True)
    log = open(os.path.join(tmp, "pdns.log"), "w")
    proc = peers.spawn(["pdns_server", f"--config-dir={work}"], log)
    return Server("pdns", proc, port, False)


def cpu_per_million(server, qfile, seconds, qps, dnssec):
    before = cpu_ticks(server.proc.pid)
    r = dnsperf(server.port, qfile, seconds, clients=4, qps=qps,
                extra=("-D",) if dnssec else ())
    used = (cpu_ticks(server.proc.pid) - before) / CLK_TCK
    return used / max(r["completed"], 1) * 1e6


def signed_answer(port, name):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+dnssec", "+norec", name, "A"],
                         capture_output=True, text=True).stdout
    return "RRSIG" in out


def scale(tmp, pools):
    """Signing time at load (gslbd check) and resident size, signed against unsigned."""
    work = os.path.join(tmp, "scale")
    out = {}
    for signed in (False, True):
        zones = os.path.join(work, "signed" if signed else "unsigned")
        os.makedirs(zones, exist_ok=True)
        text = peers.gslbd_zone([0, 0, 0]).replace('check = "http://127.0.0.1:0/health"\n', "")
        text += "".join(
            f'[pools.p{i}]\ntype = "A"\nttl = 30\n'
            f'[pools.p{i}.regions.a]\naddresses = ["10.{i >> 8 & 255}.{i & 255}.1"]\n'
            f'[pools.p{i}.regions.b]\naddresses = ["10.{i >> 8 & 255}.{i & 255}.2"]\n'
            for i in range(pools))
        if signed:
            keygen(os.path.join(zones, "k.pem"))
            text += '[dnssec]\nkeys = [{ file = "k.pem" }]\n'
        peers.write(os.path.join(zones, "z.toml"), text)
        started = time.time()
        check = subprocess.run([BIN, "check", "--zones", zones], capture_output=True, text=True)
        took = time.time() - started
        m = re.search(r"(\d+) RRsets signed in (\d+) ms", check.stdout)
        port = free_port()
        log = open(os.path.join(work, f"serve-{signed}.log"), "w")
        proc = peers.spawn([BIN, "serve", "--zones", zones, "--listen", f"127.0.0.1:{port}",
                            "--admin", "off", "--log", "warn"], log)
        s = Server("scale", proc, port, False)
        wait_answering(port, want=1, limit=120)
        # Parsing and signing leave freed pages behind for a moment (the allocator returns
        # them by itself): the steady size after a few seconds.
        time.sleep(5)
        rss = rss_kib(proc.pid, "VmRSS")
        s.stop()
        out[signed] = {"check_s": took, "rss_mib": rss / 1024,
                       "sets": int(m.group(1)) if m else None,
                       "sign_ms": int(m.group(2)) if m else None}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "DNSSEC.md"))
    args = ap.parse_args()
    reps, seconds, qps = (1, 3, 10000) if args.quick else (3, 5, 20000)
    tmp = tempfile.mkdtemp(prefix="gslbd-dnssec-")
    qfiles = {}
    for kind, name in [("www", f"www.{ORIGIN}"), ("nx", f"nothing-here.{ORIGIN}")]:
        qfiles[kind] = os.path.join(tmp, f"{kind}.txt")
        with open(qfiles[kind], "w") as f:
            f.write(f"{name} A\n")
    servers = [gslbd(tmp), knot(tmp), pdns(tmp)]
    for s in servers:
        if not wait_answering(s.port, want=1, limit=30):
            sys.exit(f"{s.name} did not answer; see {tmp}/{s.name}.log")
        end = time.time() + 20
        while not signed_answer(s.port, f"www.{ORIGIN}") and time.time() < end:
            time.sleep(0.5)
        if not signed_answer(s.port, f"www.{ORIGIN}"):
            sys.exit(f"{s.name} does not sign; see {tmp}/{s.name}.log")
    results = {(s.name, k, d): [] for s in servers for k in qfiles for d in (False, True)}
    try:
        for _ in range(reps):
            for kind in qfiles:
                for s in servers:
                    for dnssec in (False, True):
                        results[(s.name, kind, dnssec)].append(
                            cpu_per_million(s, qfiles[kind], seconds, qps, dnssec))
    finally:
        for s in servers:
            s.stop()
    sc = scale(tmp, 1000 if args.quick else 10000)
    med = {k: statistics.median(v) for k, v in results.items()}
    lines = [
        "# DNSSEC: signed answers, signing at load, memory",
        "",
        f"`bench/run --dnssec{' --quick' if args.quick else ''}`, {time.strftime('%Y-%m-%d')}: "
        f"{reps} interleaved repetitions of {seconds} s at {qps} q/s offered (dnsperf, 4 "
        "clients; `-D` sets DO), CPU seconds of each server per million queries (median). "
        "gslbd signs at load (ECDSA P-256, weighted pool `www`), Knot signs its zone itself "
        "(ECDSA P-256, pre-signed), PowerDNS signs its LUA `www` record online (bind backend, "
        "its signature cache warm after the first second).",
        "",
        "| server | query | DO=0 CPU-s/M | DO=1 CPU-s/M | DO=1 / DO=0 |",
        "|---|---|---:|---:|---:|",
    ]
    for s in servers:
        for kind, label in [("www", "www A (answer)"), ("nx", "NXDOMAIN (proof)")]:
            a, b = med[(s.name, kind, False)], med[(s.name, kind, True)]
            lines.append(f"| {s.name} | {label} | {a:.2f} | {b:.2f} | {b / a:.2f}× |")
    g = med[("gslbd", "www", True)]
    lines += [
        "",
        f"gslbd's signed DO=1 `www A` against the peers' DO=1 `www A`: "
        + ", ".join(f"{s.name} {g / med[(s.name, 'www', True)]:.2f}×" for s in servers[1:]),
        "",
        f"## {1000 if args.quick else 10000} pools (2 regions each, `answers = 1`)",
        "",
        "| zone set | RRsets signed | signing at load | `gslbd check` wall time | RSS serving |",
        "|---|---:|---:|---:|---:|",
    ]
    for signed in (False, True):
        r = sc[signed]
        lines.append(
            f"| {'signed' if signed else 'unsigned'} | {r['sets'] or 0} | "
            f"{(str(r['sign_ms']) + ' ms') if r['sign_ms'] is not None else '-'} | "
            f"{r['check_s']:.2f} s | {r['rss_mib']:.1f} MiB |")
    lines.append("")
    lines.append(f"Signatures' memory: {sc[True]['rss_mib'] - sc[False]['rss_mib']:.1f} MiB for "
                 f"{sc[True]['sets'] or 0} signed RRsets.")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
