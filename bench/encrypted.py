"""DNS over TLS against port 53, side by side in one interleaved run (issue #15's figures).

gslbd serves the same zone (unprobed regions, so only the DNS path is measured) on UDP, TCP and
DoT (`--tls`, a self-signed certificate). For each transport, interleaved over the repetitions:
saturation (`dnsperf -c 4 -m MODE`, queries per second) and efficiency (CPU-seconds of the
gslbd process per million queries at a fixed offered load). dnsperf has no DoQ mode, and
Debian 12's Knot 3.2 serves neither DoT nor (with dnsperf) a measurable DoQ, so DoT is measured
against gslbd's own port 53, not against a peer. DoQ is timed per query with kdig.

With ``--before BIN``, a second gslbd (an earlier build) serves DoT and DoQ beside it, and its
rows are measured in the same interleaved run.

Writes bench/ENCRYPTED.md. Started by ``bench/run --encrypted`` after it built gslbd."""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import peers
from bench import BIN, Server, dnsperf, wait_answering
from host import CLK_TCK, cpu_ticks, free_port

HERE = os.path.dirname(os.path.abspath(__file__))


def start(tmp, binary=BIN, name="gslbd"):
    udp, tls, quic = free_port(), free_port(), free_port()
    tmp = os.path.join(tmp, name)
    os.makedirs(tmp, exist_ok=True)
    work = os.path.join(tmp, "gslbd")
    os.makedirs(os.path.join(work, "zones"), exist_ok=True)
    zone = peers.gslbd_zone([0, 0, 0]).replace('check = "http://127.0.0.1:0/health"\n', "")
    with open(os.path.join(work, "zones", "gslb.example.toml"), "w") as f:
        f.write(zone)
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True)
    log = open(os.path.join(tmp, "gslbd.log"), "w")
    proc = peers.spawn([binary, "serve", "--zones", os.path.join(work, "zones"),
                        "--listen", f"127.0.0.1:{udp}", "--admin", "off", "--log", "warn",
                        "--tls", f"127.0.0.1:{tls}", "--quic", f"127.0.0.1:{quic}",
                        "--tls-cert", cert, "--tls-key", key], log)
    s = Server(name, proc, udp, False)
    if not wait_answering(udp, want=1):
        raise RuntimeError(f"gslbd did not answer; see {tmp}/gslbd.log")
    return s, {"udp": udp, "tcp": udp, "dot": tls}, quic


MODES = {"udp": (), "tcp": ("-m", "tcp"), "dot": ("-m", "dot")}
BEFORE = "dot, before"


def doq_latency(port, n):
    """Milliseconds per DoQ query with kdig (a new QUIC connection each)."""
    start = time.monotonic()
    ok = 0
    for _ in range(n):
        r = subprocess.run(["kdig", "+quic", "@127.0.0.1", "-p", str(port), "www.gslb.example",
                            "A", "+short"], capture_output=True, text=True)
        ok += r.stdout.strip() != ""
    return (time.monotonic() - start) / n * 1000, ok


def summary(values):
    v = sorted(values)
    return f"{v[0]:.0f} / **{statistics.median(v):.0f}** / {v[-1]:.0f}"


def summary2(values):
    v = sorted(values)
    return f"{v[0]:.2f} / **{statistics.median(v):.2f}** / {v[-1]:.2f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--qps", type=int, default=10000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--before", help="an earlier gslbd binary, measured beside this one")
    ap.add_argument("--before-label", default="before")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds = 1, 4
    tmp = tempfile.mkdtemp(prefix="gslbd-encrypted-")
    qfile = os.path.join(tmp, "www.txt")
    with open(qfile, "w") as f:
        f.write("www.gslb.example A\n")
    server, ports, quic = start(tmp)
    # Each row: the server, its port and dnsperf's mode.
    rows = {m: (server, ports[m], MODES[m]) for m in MODES}
    servers = [server]
    before_quic = None
    if args.before:
        old, old_ports, before_quic = start(tmp, args.before, "before")
        servers.append(old)
        rows[BEFORE] = (old, old_ports["dot"], MODES["dot"])
    sat = {m: [] for m in rows}
    eff = {m: [] for m in rows}
    try:
        for rep in range(args.reps):
            order = list(rows) if rep % 2 == 0 else list(reversed(rows))
            for m in order:
                srv, port, mode = rows[m]
                sat[m].append(dnsperf(port, qfile, args.seconds, extra=mode)["qps"])
            for m in order:
                srv, port, mode = rows[m]
                before = cpu_ticks(srv.proc.pid)
                r = dnsperf(port, qfile, args.seconds, qps=args.qps, extra=mode)
                used = (cpu_ticks(srv.proc.pid) - before) / CLK_TCK
                eff[m].append(used / max(r["completed"], 1) * 1e6)
            print(f"rep {rep + 1}: " + ", ".join(f"{m} {sat[m][-1]:.0f} q/s" for m in rows),
                  file=sys.stderr)
        doq_ms, doq_ok = doq_latency(quic, 20)
        if before_quic:
            old_doq_ms, old_doq_ok = doq_latency(before_quic, 20)
    finally:
        for srv in servers:
            srv.stop()
    med = {m: statistics.median(eff[m]) for m in rows}
    sat_med = {m: statistics.median(sat[m]) for m in rows}
    label = {m: m for m in MODES}
    label[BEFORE] = f"dot, {args.before_label}"
    lines = [
        "# DNS over TLS and QUIC: gslbd's encrypted transports against its port 53",
        "",
        f"Written by `bench/run --encrypted` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Settings: {args.reps} interleaved repetitions, dnsperf runs of {args.seconds} s, "
        f"efficiency at {args.qps} q/s offered. One gslbd process serves all three transports"
        + (f"; the `{args.before_label}` row is a second process, the earlier build, measured in "
           "the same interleaved run." if args.before else "."),
        "",
        "## Saturation: `dnsperf -c 4 -m MODE`, queries per second",
        "",
        "| transport | www A (min / **median** / max) | port-53 UDP / transport |",
        "|---|---|---|",
    ]
    for m in rows:
        lines.append(f"| {label[m]} | {summary(sat[m])} | {sat_med['udp'] / sat_med[m]:.2f}× |")
    lines += [
        "",
        f"## Efficiency: CPU-seconds per million queries at {args.qps} q/s offered",
        "",
        "| transport | CPU-s per million (min / **median** / max) | transport / UDP |",
        "|---|---|---|",
    ]
    for m in rows:
        lines.append(f"| {label[m]} | {summary2(eff[m])} | {med[m] / med['udp']:.2f}× |")
    lines += [
        "",
        "## DoQ",
        "",
        f"kdig `+quic`, a new connection per query (handshake included): {doq_ms:.1f} ms per "
        f"query, {doq_ok} of 20 answered"
        + (f"; {args.before_label}: {old_doq_ms:.1f} ms, {old_doq_ok} of 20" if before_quic
           else "")
        + ". dnsperf has no DoQ mode, so no throughput figure.",
        "",
        "DoT keeps dnsperf's connections open (4 clients), so the handshake is paid once; it "
        "runs on gslbd's TCP transport, so the difference to TCP is the TLS record layer. "
        "Port 53 keeps gslbd's own transport and fast path: these runs measure it in the same "
        "process, next to DoT.",
        "",
    ]
    with open(os.path.join(HERE, "ENCRYPTED.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
