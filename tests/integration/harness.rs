//! Runs the real `gslbd` binary on an ephemeral loopback port and queries it with `dig`.
//!
//! [`Gslbd::start`] writes zone files into a temp dir, spawns `gslbd serve --listen
//! 127.0.0.1:0`, reads the bound port from its `listening on udp` log line and waits for
//! `ready` (60 s at most, failing fast if the child exits). The child is killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_gslbd");
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Gslbd {
    child: Child,
    pub port: u16,
    /// The admin API address.
    pub admin: Option<String>,
    pub dir: tempfile::TempDir,
    log: Arc<Mutex<Vec<String>>>,
}

/// A zone file head for `origin` with SOA and apex NS; tests append records and pools.
pub fn zone_head(origin: &str) -> String {
    format!(
        "origin = \"{origin}\"\nttl = 300\n[soa]\nmname = \"ns1.{origin}\"\nrname = \"hostmaster.{origin}\"\nminimum = 30\n\
         [[records]]\nname = \"@\"\ntype = \"NS\"\ndata = [\"ns1.{origin}\", \"ns2.{origin}\"]\n\
         [[records]]\nname = \"ns1\"\ntype = \"A\"\ndata = [\"198.51.100.53\"]\n\
         [[records]]\nname = \"ns2\"\ntype = \"A\"\ndata = [\"198.51.100.54\"]\n"
    )
}

impl Gslbd {
    /// Starts gslbd on the given `(file name, text)` zones.
    pub fn start(zones: &[(&str, &str)]) -> Gslbd {
        let dir = tempfile::tempdir().expect("tempdir");
        let zdir = dir.path().join("zones");
        std::fs::create_dir(&zdir).expect("zones dir");
        for (name, text) in zones {
            std::fs::write(zdir.join(name), text).expect("write zone");
        }
        Self::start_in(dir, &[])
    }

    /// Starts gslbd on the given zones with extra arguments and its open-files limit set to
    /// `(soft, hard)`.
    pub fn start_limited(zones: &[(&str, &str)], extra: &[&str], files: (u64, u64)) -> Gslbd {
        let dir = tempfile::tempdir().expect("tempdir");
        let zdir = dir.path().join("zones");
        std::fs::create_dir(&zdir).expect("zones dir");
        for (name, text) in zones {
            std::fs::write(zdir.join(name), text).expect("write zone");
        }
        Self::start_with(dir, extra, Some(files))
    }

    /// Starts `gslbd serve ARGS` (which must name its listeners) with `prefix` before the
    /// binary, e.g. `ip netns exec NAME`.
    pub fn start_prefixed(prefix: &[&str], zones: &[(&str, &str)], args: &[&str]) -> Gslbd {
        let dir = tempfile::tempdir().expect("tempdir");
        let zdir = dir.path().join("zones");
        std::fs::create_dir(&zdir).expect("zones dir");
        for (name, text) in zones {
            std::fs::write(zdir.join(name), text).expect("write zone");
        }
        let mut all: Vec<String> = ["serve", "--log", "info", "--zones"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        all.push(zdir.to_string_lossy().into_owned());
        all.extend(args.iter().map(|s| s.to_string()));
        Self::launch_with(prefix, &all, dir, None, &[])
    }

    /// Starts gslbd on the given zones with `env` added to its environment (e.g. libfaketime's
    /// `LD_PRELOAD`, so that the variables reach gslbd itself and not a wrapper that forks).
    pub fn start_env(zones: &[(&str, &str)], env: &[(&str, &str)]) -> Gslbd {
        let dir = tempfile::tempdir().expect("tempdir");
        let zdir = dir.path().join("zones");
        std::fs::create_dir(&zdir).expect("zones dir");
        for (name, text) in zones {
            std::fs::write(zdir.join(name), text).expect("write zone");
        }
        let zdir = zdir.to_string_lossy().into_owned();
        let args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "info",
            "--zones",
            &zdir,
            "--admin",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Self::launch_with(&[], &args, dir, None, env)
    }

    /// Starts gslbd on `dir/zones` with extra arguments.
    pub fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Gslbd {
        Self::start_with(dir, extra, None)
    }

    fn start_with(dir: tempfile::TempDir, extra: &[&str], files: Option<(u64, u64)>) -> Gslbd {
        let zdir = dir.path().join("zones").to_string_lossy().into_owned();
        let mut args: Vec<String> = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "info",
            "--zones",
            &zdir,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // An ephemeral admin port unless `extra` names one.
        if !extra.contains(&"--admin") {
            args.extend(["--admin".to_string(), "127.0.0.1:0".to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::launch_with(&[], &args, dir, files, &[])
    }

    /// Starts `gslbd serve ARGS` (the args must pick a loopback port 0 listener).
    pub fn start_args(args: &[String]) -> Gslbd {
        let mut all = vec!["serve".to_string()];
        all.extend(args.iter().cloned());
        if !args.iter().any(|a| a == "--admin") {
            all.extend(["--admin".to_string(), "127.0.0.1:0".to_string()]);
        }
        Self::launch(&all, tempfile::tempdir().expect("tempdir"))
    }

    fn launch(args: &[String], dir: tempfile::TempDir) -> Gslbd {
        Self::launch_with(&[], args, dir, None, &[])
    }

    fn launch_with(
        prefix: &[&str],
        args: &[String],
        dir: tempfile::TempDir,
        files: Option<(u64, u64)>,
        env: &[(&str, &str)],
    ) -> Gslbd {
        let mut cmd = match prefix.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        cmd.args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // A group of its own, so that dropping the server kills what a prefix (faketime, which
        // forks) started too.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        if let Some((soft, hard)) = files {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn gslbd");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                if let Ok(mut l) = sink.lock() {
                    l.push(line);
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let mut port = None;
        let mut admin = None;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let lines = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!("gslbd exited early ({status}):\n{lines}");
            }
            assert!(
                Instant::now() < deadline,
                "gslbd did not become ready in {START_TIMEOUT:?}"
            );
            let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
                continue;
            };
            if let Some(rest) = line.split("listening on udp ").nth(1)
                && port.is_none()
            {
                port = rest
                    .trim()
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .map(|a| a.port());
            }
            if let Some(rest) = line.split("admin listening on http://").nth(1) {
                admin = Some(rest.trim().to_string());
            }
            if line.contains(" ready") {
                break;
            }
        }
        Gslbd {
            child,
            port: port.expect("no 'listening on udp' line before 'ready'"),
            admin,
            dir,
            log,
        }
    }

    /// Stops the server and starts a new one on a copy of its zones directory (zone files and
    /// state file), as a restart on the same machine would.
    pub fn restart(self) -> Gslbd {
        let tmp = tempfile::tempdir().expect("tempdir");
        let zones = tmp.path().join("zones");
        std::fs::create_dir(&zones).expect("mkdir");
        for entry in std::fs::read_dir(self.zones_dir())
            .expect("zones dir")
            .flatten()
        {
            let path = entry.path();
            if path.is_file() && !path.to_string_lossy().ends_with(".lock") {
                std::fs::copy(&path, zones.join(entry.file_name())).expect("copy");
            }
        }
        drop(self);
        Self::start_in(tmp, &[])
    }

    /// Starts `gslbd serve ARGS` in `dir` (the args name the listeners and the zones), with
    /// `prefix` before the binary (e.g. `faketime`).
    pub fn start_dir(dir: tempfile::TempDir, prefix: &[&str], args: &[String]) -> Gslbd {
        let mut all = vec!["serve".to_string()];
        all.extend(args.iter().cloned());
        Self::launch_with(prefix, &all, dir, None, &[])
    }

    /// Stops the server (SIGTERM) and starts `gslbd serve ARGS` again in the same directory
    /// (zones, gslbd.toml, state file), as a restart of the same service would.
    pub fn restart_in_place(mut self, prefix: &[&str], args: &[String]) -> Gslbd {
        self.terminate();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        drop(self);
        Self::start_dir(dir, prefix, args)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time (user + system) the server has used so far.
    pub fn cpu_time(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let field = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let ticks = field(11) + field(12);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / hz)
    }

    pub fn zones_dir(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    /// Runs `dig` against this server with `args` (space-separated).
    pub fn dig(&self, args: &str) -> Dig {
        dig(self.port, args)
    }

    /// Everything gslbd logged so far.
    pub fn logs(&self) -> Vec<String> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.terminate_within(Duration::from_secs(10))
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status.
    pub fn terminate_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(limit)
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

/// A child process killed (and reaped) on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Gslbd {
    fn drop(&mut self) {
        // The whole process group (see `launch_with`), then the child itself.
        if let Ok(pgid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) with a negative pid signals a process group; no memory is passed.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request to the admin API: `(status, body)`.
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    // Changes are sent as `curl --json` sends them (a web page cannot).
    let json = if method == "POST" {
        "Content-Type: application/json\r\n"
    } else {
        ""
    };
    raw_http(
        addr,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}{json}Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// Sends `request` as written; the status and the body of the response.
pub fn raw_http(addr: &str, request: &str) -> (u16, String) {
    try_raw_http(addr, request).expect("admin request")
}

/// [`raw_http`], with connection errors returned instead of panicking.
pub fn try_raw_http(addr: &str, request: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

impl Gslbd {
    /// An admin request; the body parsed as JSON.
    pub fn api(&self, method: &str, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let (code, body) = http(
            self.admin.as_deref().expect("admin API on"),
            method,
            path,
            token,
        );
        (
            code,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
        )
    }

    /// Sends a signal (e.g. "HUP") to the server.
    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        http(
            self.admin.as_deref().expect("admin"),
            "GET",
            "/metrics",
            None,
        )
        .1
    }

    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }
}

/// `gslbd serve --zones ZONES` on loopback port 0 (admin too) with `extra` arguments and `env`,
/// as a bare child: for tests of how the process starts and stops.
pub fn spawn_serve(zones: &Path, extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Child {
    Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--zones",
        ])
        .arg(zones)
        .args(extra)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn gslbd")
}

/// Waits up to `limit` for `child` to exit: its exit status, or `None` while it still runs.
pub fn exited_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    poll(limit, Duration::from_millis(20), || {
        child.try_wait().ok().flatten()
    })
}

/// Waits up to `limit` for `child` to exit (killing it if it does not): its exit status, if it
/// exited, and its stderr (when piped).
pub fn finish_within(
    mut child: Child,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String) {
    let exited = exited_within(&mut child, limit);
    if exited.is_none() {
        let _ = child.kill();
    }
    let err = child
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    (exited, err)
}

/// `gslbd serve --listen 127.0.0.1:0 --admin off --zones ZONES EXTRA…`, which must refuse to
/// start: its exit code (`None` when it was still serving after 10 s) and its stderr.
pub fn refused_start(zones: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin",
            "off",
            "--zones",
        ])
        .arg(zones)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn gslbd");
    let (status, err) = finish_within(child, Duration::from_secs(10));
    (status.and_then(|s| s.code()), err)
}

/// Runs `gslbd` with arguments to completion (for `check` and failed starts).
pub fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run gslbd")
}

/// One resource record as dig prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rr {
    pub name: String,
    pub ttl: u32,
    pub rtype: String,
    pub data: String,
}

/// A parsed dig response.
#[derive(Debug, Clone, Default)]
pub struct Dig {
    pub status: String,
    pub flags: Vec<String>,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
    pub edns: Option<String>,
    pub raw: String,
}

impl Dig {
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// The data of answer records of one type.
    pub fn answers(&self, rtype: &str) -> Vec<String> {
        self.answer
            .iter()
            .filter(|r| r.rtype == rtype)
            .map(|r| r.data.clone())
            .collect()
    }
}

/// Runs dig against `port`: one-second tries, and a second try as a stub resolver would make,
/// so a datagram delayed on a loaded CI machine does not read as a wrong answer.
pub fn dig(port: u16, args: &str) -> Dig {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+tries=2", "+time=1"])
        .args(args.split_whitespace())
        .output()
        .expect("run dig (install dnsutils)");
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn parse(raw: &str) -> Dig {
    let mut d = Dig {
        raw: raw.to_string(),
        ..Default::default()
    };
    let mut section = "";
    for line in raw.lines() {
        if let Some(s) = line.split("status: ").nth(1) {
            d.status = s.split(',').next().unwrap_or("").to_string();
        }
        if let Some(f) = line.strip_prefix(";; flags: ") {
            d.flags = f
                .split(';')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect();
        }
        if let Some(e) = line.strip_prefix("; EDNS: ") {
            d.edns = Some(e.to_string());
        }
        if line.starts_with(";; ") && line.ends_with("SECTION:") {
            section = if line.contains("ANSWER") {
                "answer"
            } else if line.contains("AUTHORITY") {
                "authority"
            } else if line.contains("ADDITIONAL") {
                "additional"
            } else {
                ""
            };
            continue;
        }
        if line.trim().is_empty() {
            section = "";
            continue;
        }
        if line.starts_with(';') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() < 5 {
            continue;
        }
        let rr = Rr {
            name: parts[0].to_string(),
            ttl: parts[1].parse().unwrap_or(0),
            rtype: parts[3].to_string(),
            data: parts[4..].join(" "),
        };
        match section {
            "answer" => d.answer.push(rr),
            "authority" => d.authority.push(rr),
            "additional" => d.additional.push(rr),
            _ => {}
        }
    }
    d
}

/// Polls `f` every `every` until it returns `Some`, or gives up at `limit`.
pub fn poll<T>(limit: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// A loopback port free for UDP and TCP (for servers that must be told their port).
/// A UDP port on 127.0.0.1 that nothing else can take while the tests run, for a secondary
/// that is never started: gslbd's NOTIFYs to it land in a socket this process holds, never in
/// another test's `dig` that happened to bind the port.
pub fn sink_port() -> u16 {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind a sink");
    let port = sock.local_addr().map_or(0, |a| a.port());
    // Held until the test binary exits.
    std::mem::forget(sock);
    port
}

pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A pids cgroup (v1, as on the test machines) holding one process; removed when dropped.
pub struct PidsCgroup(std::path::PathBuf);

impl PidsCgroup {
    /// Moves `pid` into a new cgroup whose `pids.max` is what it runs now: no new thread.
    pub fn freeze_threads(pid: u32) -> PidsCgroup {
        let dir = std::path::PathBuf::from(format!("/sys/fs/cgroup/pids/gslbd-test-{pid}"));
        let _ = std::fs::remove_dir(&dir); // an empty one left by a test that was killed
        std::fs::create_dir(&dir).expect("a pids cgroup (needs /sys/fs/cgroup/pids)");
        let cg = PidsCgroup(dir);
        std::fs::write(cg.0.join("cgroup.procs"), pid.to_string()).expect("move into it");
        let current = std::fs::read_to_string(cg.0.join("pids.current")).expect("current");
        std::fs::write(cg.0.join("pids.max"), current.trim()).expect("pids.max");
        cg
    }
}

impl Drop for PidsCgroup {
    /// Moves whatever still runs in it back to the root cgroup, then removes it.
    fn drop(&mut self) {
        let root = std::path::Path::new("/sys/fs/cgroup/pids/cgroup.procs");
        for _ in 0..50 {
            let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap_or_default();
            for pid in procs.split_whitespace() {
                let _ = std::fs::write(root, pid);
            }
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}
