"""This host: free loopback ports, one dig, and a process's CPU time and memory from /proc."""

import os
import subprocess

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A loopback port free for both UDP and TCP right now."""
    import socket
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def dig(port, name="www.gslb.example", qtype="A"):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+short", "+tries=1", "+time=1",
                          name, qtype], capture_output=True, text=True)
    return [l for l in out.stdout.split() if l and not l.startswith(";")]


def proc_stat(pid):
    """The fields after the command name of /proc/PID/stat (PID may be "PID/task/TID")."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def family(pid):
    """The stat fields of a process and of its live descendants (NSD and gdnsd's helper run as
    children), by pid."""
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stats[int(entry)] = proc_stat(entry)
            except OSError:
                continue
    members, grew = {pid}, True
    while grew:
        grew = False
        for p, f in stats.items():
            if p not in members and int(f[1]) in members:
                members.add(p)
                grew = True
    return {p: stats[p] for p in members if p in stats}


def cpu_ticks(pid):
    """utime + stime (clock ticks) of a process, its threads and its live child processes."""
    return sum(int(f[11]) + int(f[12]) for f in family(pid).values())


def rss_kib(pid, key="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0
