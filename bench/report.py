"""Renders the benchmark results as bench/RESULTS.md: every figure as min / median / max, the
gslbd/peer ratios of the medians, and the targets of issue #5 marked met or missed."""

import statistics
import time


def mmm(values, fmt="{:.0f}"):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    lo, med, hi = min(values), statistics.median(values), max(values)
    return f"{fmt.format(lo)} / **{fmt.format(med)}** / {fmt.format(hi)}"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def verdict(ok):
    return "met" if ok else "**missed**"


def render(r):
    a = r["args"]
    m = r["machine"]
    out = [
        "# gslbd benchmarks",
        "",
        f"Written by `bench/run` on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Settings: {a['reps']} interleaved repetitions, dnsperf runs of {a['seconds']} s"
        + (" (`--quick`)" if a["quick"] else "") + ".",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
    ]
    out += [f"| {k} | {v} |" for k, v in m.items()]
    out.append("")
    targets = []

    sat = r.get("saturation")
    if sat:
        out += ["## Saturation: `dnsperf -c 4`, queries per second", "",
                "Each server in turn with identical settings, the whole round repeated, so every "
                "ratio comes from one run. dnsperf (`-T 2`) shares the two cores with the server, "
                "so a server that needs less CPU per query also leaves dnsperf more.", "",
                "| server | www A (min / **median** / max) | 90 % www + 10 % NXDOMAIN | "
                "gslbd / server (www) | gslbd / server (mix) |", "|---|---|---|---|---|"]
        g_www, g_mix = med(sat["www"]["gslbd"]), med(sat["mix"]["gslbd"])
        for n in r["servers"]:
            out.append(f"| {n} | {mmm(sat['www'][n])} | {mmm(sat['mix'][n])} | "
                       f"{ratio(g_www, med(sat['www'][n]))} | {ratio(g_mix, med(sat['mix'][n]))} |")
        out.append("")
        for peer, want in [("gdnsd", 1.0), ("nsd", 1.0), ("pdns-yes", 20.0), ("pdns-shared", 3.0)]:
            if peer in sat["www"]:
                got = g_www / med(sat["www"][peer])
                targets.append((f"saturation QPS ≥ {want:g}× {peer}", f"{got:.2f}×", got >= want))
        if "gslbd-metrics" in sat["www"]:
            cost = 1 - med(sat["www"]["gslbd-metrics"]) / g_www
            out += [f"Metrics recording (`gslbd-metrics`: admin API and Prometheus recorder on, "
                    f"against `gslbd` with `--admin off`): {cost * 100:+.1f} % throughput "
                    f"(negative: faster with metrics, i.e. noise).", ""]
            targets.append(("metrics cost < 5 % throughput", f"{cost * 100:.1f} %", cost < 0.05))

    eff = r.get("efficiency")
    if eff:
        out += ["## Efficiency: CPU-seconds per million queries at 40k q/s offered", "",
                "utime + stime of the server process from `/proc/PID/stat` over the run, divided "
                "by the queries completed: the figure that stays comparable when dnsperf is the "
                "bottleneck. Lower is better.", "",
                "| server | CPU-s per million (min / **median** / max) | server / gslbd |",
                "|---|---|---|"]
        g = med(eff["gslbd"])
        for n in r["servers"]:
            out.append(f"| {n} | {mmm(eff[n], '{:.2f}')} | {ratio(med(eff[n]), g)} |")
        out.append("")
        if "gdnsd" in eff:
            got = g / med(eff["gdnsd"])
            targets.append(("CPU per query ≤ 1.0× gdnsd", f"{got:.2f}×", got <= 1.0))

    mem = r.get("memory")
    if mem:
        out += ["## Memory: peak RSS after the runs (VmHWM)", "", "| server | MiB |", "|---|---|"]
        out += [f"| {n} | {kib / 1024:.1f} |" for n, kib in mem.items()]
        out.append("")

    fo = r.get("failover")
    if fo:
        c = fo["computed"]
        out += ["## Failover: detection and recovery with equal settings", "",
                "Interval 2 s, fall 3, rise 2, timeout 1 s everywhere it can be set (PowerDNS "
                "has one global interval and flips on a single failed check). The weight-3 "
                "backend is killed; each server is polled with dig every 50 ms until "
                "192.0.2.1 leaves its answer (every healthy address is answered: gslbd "
                "`policy = \"all\"`, gdnsd `multifo`, PowerDNS `ifurlextup` with "
                "`selector='all'`), then it is restarted and the return is timed. Seconds.", "",
                f"gslbd's computed worst case: detection {c.get('detection')} s, recovery "
                f"{c.get('recovery')} s (includes the 30 s TTL; without it "
                f"{(c.get('recovery') or 0) - 30:g} s).", "",
                "| server | detection (min / **median** / max) | recovery | detection / gslbd |",
                "|---|---|---|---|"]
        gs = fo["servers"].get("gslbd", {})
        gd = med(gs.get("detection", []))
        for n, v in fo["servers"].items():
            out.append(f"| {n} | {mmm(v['detection'], '{:.2f}')} | "
                       f"{mmm(v['recovery'], '{:.2f}')} | {ratio(med(v['detection']), gd)} |")
        out.append("")
        worst = max([d for d in gs.get("detection", []) if d is not None], default=None)
        if worst is not None and c.get("detection"):
            targets.append(("detection never above the computed worst case",
                            f"max {worst:.2f} s ≤ {c['detection']} s", worst <= c["detection"]))
        if "gdnsd" in fo["servers"] and gd:
            got = med(fo["servers"]["gdnsd"]["detection"])
            targets.append(("median detection no worse than gdnsd",
                            f"{gd:.2f} s vs {got:.2f} s", got is not None and gd <= got))

    pr = r.get("probes")
    po = r.get("probes_ops") or {}
    pe = r.get("probes_edit") or {}
    if pr:
        cols = [pr] + ([po] if po else []) + ([pe] if pe else [])

        def row(label, fmt):
            return f"| {label} | " + " | ".join(fmt(c) for c in cols) + " |"

        out += ["## Probe scale: gslbd alone", "",
                f"{pr['targets']} HTTP targets at `interval = \"1s\"` against one local backend, "
                f"measured over {pr['seconds']} s after the first verdicts"
                + ("; the second column with `hold_down = \"10s\"` on every probe, "
                   "`slow_start = \"30s\"` on every pool and `POST /reload` every 10 s "
                   f"({po.get('reloads', 0)} reloads in the window), the files unchanged "
                   "(a reload from cron or a config manager: it finds every file as loaded and "
                   "keeps the serving set)" if po else "")
                + ("; the third the same with a comment line appended to the zone file before "
                   "every reload, so that each one parses and rebuilds the whole 10k-pool set"
                   if pe else "") + ".", "",
                "| figure | plain |" + (" hold-down, slow start, reloads |" if po else "")
                + (" … each after an edit |" if pe else ""),
                "|---|---|" + ("---|" if po else "") + ("---|" if pe else ""),
                row("probe CPU (cores)", lambda c: f"{c['cores']:.3f}"),
                row("probes per second", lambda c: f"{c['probes_per_s']:.0f}"),
                row("schedule lateness p50 (histogram bucket bound)",
                    lambda c: f"≤ {fmt_s(c['lateness_p50'])}"),
                row("schedule lateness p99", lambda c: f"≤ {fmt_s(c['lateness_p99'])}"),
                row("false down transitions", lambda c: f"{c['false_down']:.0f}"),
                row("failed probes", lambda c: f"{c['failed_probes']:.0f}"),
                row("RSS", lambda c: f"{c['rss_mib']:.1f} MiB"), ""]
        if pr["targets"] >= 10000:
            targets.append(("10,000 targets at 1 s: < 0.5 core", f"{pr['cores']:.3f}",
                            pr["cores"] < 0.5))
            targets.append(("p99 lateness < 50 ms", f"≤ {fmt_s(pr['lateness_p99'])}",
                            pr["lateness_p99"] is not None and pr["lateness_p99"] < 0.05))
            targets.append(("zero false transitions", f"{pr['false_down']:.0f}",
                            pr["false_down"] == 0))
        if po and po["targets"] >= 10000:
            targets.append(("… with hold-down, slow start, reloads every 10 s: < 0.35 core",
                            f"{po['cores']:.3f}", po["cores"] < 0.35))
            targets.append(("… and zero false transitions", f"{po['false_down']:.0f}",
                            po["false_down"] == 0))
        if pe and pe["targets"] >= 10000:
            targets.append(("… each reload after an edit (whole set parsed): < 0.35 core",
                            f"{pe['cores']:.3f}", pe["cores"] < 0.35))
            targets.append(("… and zero false transitions", f"{pe['false_down']:.0f}",
                            pe["false_down"] == 0))

    zs = r.get("zones")
    if zs:
        out += ["## Zone scale", "",
                f"{zs['pools']} pools + {zs['records']} static records in one zone file "
                f"({zs['file_mib']:.1f} MiB of TOML).", "",
                "| figure | value |", "|---|---|",
                f"| load (start to `ready`) | {zs['load_s']:.2f} s |",
                f"| RSS after load | {zs['rss_mib']:.1f} MiB |",
                f"| reload (`POST /reload`) | {zs['reload_s']:.2f} s |",
                f"| peak RSS (through the reload) | {zs['peak_rss_mib']:.1f} MiB |",
                f"| idle RSS on `zones/` | {zs['idle_rss_mib']:.1f} MiB |", ""]
        if zs["pools"] >= 10000:
            targets.append(("10k pools / 100k records: load < 2 s", f"{zs['load_s']:.2f} s",
                            zs["load_s"] < 2))
            mb = 1.048576  # MiB to MB
            targets.append(("RSS < 300 MB after load", f"{zs['rss_mib'] * mb:.0f} MB",
                            zs["rss_mib"] * mb < 300))
            targets.append(("… and at the peak of a reload (both zone sets and the new parse "
                            "tree alive)", f"{zs['peak_rss_mib'] * mb:.0f} MB",
                            zs["peak_rss_mib"] * mb < 300))
        targets.append(("idle RSS with zones/ < 20 MB", f"{zs['idle_rss_mib']:.1f} MiB",
                        zs["idle_rss_mib"] < 20))

    out += ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    out += [f"| {t} | {v} | {verdict(ok)} |" for t, v, ok in targets]
    out.append("")
    return "\n".join(out)


def fmt_s(v):
    if v is None:
        return "–"
    return f"{v * 1000:g} ms"
