"""The servers under test: gslbd and its peers, each on its own loopback port with the same
logical zone (www.gslb.example weighted 3:2:1 over three regions, HTTP-checked against local
backends where the server can check, plus static records). Each start() returns a Popen."""

import os
import shutil
import subprocess
import textwrap

ORIGIN = "gslb.example"
REGIONS = [("us-east", "192.0.2.1", 3), ("us-west", "192.0.2.2", 2), ("eu-west", "192.0.2.3", 1)]

STATIC_BIND = """\
$ORIGIN gslb.example.
$TTL 300
@     IN SOA ns1 hostmaster 1 3600 600 604800 30
@     IN NS  ns1
@     IN NS  ns2
@     IN MX  10 mail
@     IN TXT "v=spf1 mx -all"
ns1   IN A   198.51.100.53
ns2   IN A   203.0.113.53
mail  IN A   198.51.100.25
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def spawn(cmd, log, **kw):
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)


def gslbd_zone(backends, interval="2s", fall=3, rise=2, timeout="1s", extra=""):
    regions = "".join(
        f'[pools.www.regions.{name}]\naddresses = ["{addr}"]\nweight = {w}\n'
        f'check = "http://127.0.0.1:{port}/health"\n'
        for (name, addr, w), port in zip(REGIONS, backends)
    )
    return textwrap.dedent(f"""\
        origin = "{ORIGIN}."
        ttl = 300
        [soa]
        mname = "ns1.{ORIGIN}."
        rname = "hostmaster.{ORIGIN}."
        minimum = 30
        [[records]]
        name = "@"
        type = "NS"
        data = ["ns1.{ORIGIN}.", "ns2.{ORIGIN}."]
        [[records]]
        name = "@"
        type = "MX"
        data = ["10 mail.{ORIGIN}."]
        [[records]]
        name = "@"
        type = "TXT"
        data = ["v=spf1 mx -all"]
        [[records]]
        name = "ns1"
        type = "A"
        data = ["198.51.100.53"]
        [[records]]
        name = "ns2"
        type = "A"
        data = ["203.0.113.53"]
        [[records]]
        name = "mail"
        type = "A"
        data = ["198.51.100.25"]
        [pools.www]
        type = "A"
        ttl = 30
        policy = "weighted"
        [pools.www.probe]
        interval = "{interval}"
        timeout = "{timeout}"
        fall = {fall}
        rise = {rise}
        """) + extra + regions


def gslbd(binary, workdir, port, backends, log, extra_args=(), **probe):
    write(f"{workdir}/zones/{ORIGIN}.toml", gslbd_zone(backends, **probe))
    return spawn([binary, "serve", "--zones", f"{workdir}/zones", "--listen", f"127.0.0.1:{port}",
                  "--log", "warn", *extra_args], log)


def gdnsd(workdir, port, backends, log, interval=2, fall=3, rise=2, timeout=1, multi=False,
          extra=""):
    cases = "\n".join(f"  {addr}) port={p} ;;" for (_, addr, _), p in zip(REGIONS, backends))
    write(f"{workdir}/check.sh", f"#!/bin/sh\ncase \"$1\" in\n{cases}\n  *) exit 1 ;;\nesac\n"
          f"exec curl -fs -o /dev/null --max-time {timeout} http://127.0.0.1:$port/health\n")
    os.chmod(f"{workdir}/check.sh", 0o755)
    # multi: every healthy address in each answer (multifo), as the failover workload needs.
    plugin = "multifo" if multi else "weighted"
    addrs = "\n".join(f"      {name} = {addr}" if multi else f"      {name} = [ {addr}, {w} ]"
                      for name, addr, w in REGIONS)
    write(f"{workdir}/etc/config", textwrap.dedent(f"""\
        options => {{
          listen => [ 127.0.0.1:{port} ]
          zones_default_ttl => 300
        }}
        service_types => {{
          web => {{
            plugin => extmon
            interval => {interval}
            timeout => {timeout}
            down_thresh => {fall}
            ok_thresh => {rise}
            up_thresh => {rise}
            cmd => [ "{workdir}/check.sh", "%%ITEM%%" ]
          }}
        }}
        plugins => {{
          extmon => {{ helper_path => "/usr/libexec/gdnsd/gdnsd_extmon_helper" }}
          {plugin} => {{
            service_types => web
            www => {{
        {addrs}
            }}
          }}
        }}
        """))
    write(f"{workdir}/etc/zones/{ORIGIN}", STATIC_BIND + extra + f"www 30 DYNA {plugin}!www\n")
    env = dict(os.environ, GDNSD_RUN_DIR=f"{workdir}/run", GDNSD_STATE_DIR=f"{workdir}/state")
    return spawn(["gdnsd", "-c", f"{workdir}/etc", "start"], log, env=env)


def pdns(workdir, port, backends, log, lua="shared", interval=2, weighted=True):
    weights = ", ".join(f"['{addr}']={w}" for _, addr, w in REGIONS)
    urls = ", ".join(f"['{addr}']='http://127.0.0.1:{p}/health'"
                     for (_, addr, _), p in zip(REGIONS, backends))
    # ifurlextup checks a URL other than the served address; pickwrandom applies the weights
    # over the addresses it found up.
    code = (f";local w={{{weights}}} local up=ifurlextup({{{{{urls}}}}}, {{selector='all'}}) "
            f"local t={{}} for _,a in ipairs(up) do table.insert(t, {{w[a], a}}) end "
            f"return pickwrandom(t)")
    if not weighted:
        code = f"ifurlextup({{{{{urls}}}}}, {{selector='all'}})"
    write(f"{workdir}/{ORIGIN}.zone", STATIC_BIND + f'www 30 IN LUA A "{code}"\n')
    write(f"{workdir}/named.conf",
          f'zone "{ORIGIN}" {{ type native; file "{workdir}/{ORIGIN}.zone"; }};\n')
    return spawn(["pdns_server", "--no-config", "--daemon=no", "--guardian=no", "--disable-syslog",
                  "--write-pid=no", f"--socket-dir={workdir}", "--local-address=127.0.0.1",
                  f"--local-port={port}", "--launch=bind", f"--bind-config={workdir}/named.conf",
                  f"--enable-lua-records={lua}", f"--lua-health-checks-interval={interval}",
                  "--loglevel=3"], log)


def static_zone():
    return STATIC_BIND + "".join(f"www 30 IN A {addr}\n" for _, addr, _ in REGIONS)


def knot(workdir, port, log, extra=""):
    write(f"{workdir}/{ORIGIN}.zone", static_zone() + extra)
    write(f"{workdir}/knot.conf", textwrap.dedent(f"""\
        server:
            listen: 127.0.0.1@{port}
            rundir: {workdir}
            user: root:root
        database:
            storage: {workdir}/db
        log:
          - target: stderr
            any: warning
        zone:
          - domain: {ORIGIN}
            storage: {workdir}
            file: {ORIGIN}.zone
        """))
    return spawn(["knotd", "-c", f"{workdir}/knot.conf"], log)


def nsd(workdir, port, log, threads, extra=""):
    write(f"{workdir}/{ORIGIN}.zone", static_zone() + extra)
    write(f"{workdir}/nsd.conf", textwrap.dedent(f"""\
        server:
            ip-address: 127.0.0.1
            port: {port}
            username: ""
            zonesdir: "{workdir}"
            pidfile: "{workdir}/nsd.pid"
            database: ""
            zonelistfile: "{workdir}/zone.list"
            xfrdfile: "{workdir}/xfrd.state"
            xfrdir: "{workdir}"
            server-count: {threads}
            rrl-ratelimit: 0
            verbosity: 0
        remote-control:
            control-enable: no
        zone:
            name: {ORIGIN}
            zonefile: {ORIGIN}.zone
        """))
    return spawn(["nsd", "-d", "-c", f"{workdir}/nsd.conf"], log)


def available():
    """Which peer daemons are installed."""
    return {name: shutil.which(b) is not None
            for name, b in [("gdnsd", "gdnsd"), ("pdns", "pdns_server"), ("knot", "knotd"),
                            ("nsd", "nsd")]}
