//! A real recursive resolver in front of gslbd: Debian's Unbound (installed by `tests/run`),
//! started by the test on a loopback port with stub zones pointing at the gslbd instances under
//! test (no root hints, nothing outside loopback), stopped by PID. Tests query it as a client
//! would, and flush its cache to time a fetch exactly.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{Dig, dig, free_port, poll};

/// A running Unbound.
pub struct Unbound {
    child: Child,
    pub port: u16,
    conf: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Debian tool that lives in /usr/sbin, which is not on every user's PATH.
fn sbin(tool: &str) -> PathBuf {
    let local = Path::new("/usr/sbin").join(tool);
    if local.exists() {
        local
    } else {
        PathBuf::from(tool)
    }
}

impl Unbound {
    /// Unbound resolving each `(zone, gslbd port)` through a stub zone to the given gslbd
    /// instances on 127.0.0.1, with `extra` lines added to its `server:` section.
    pub fn start(stubs: &[(&str, &[u16])], extra: &[&str]) -> Unbound {
        Self::launch(stubs, "iterator", extra)
    }

    /// A validating Unbound (`validator iterator`) with each of `anchors` (e.g. `"gslb.example.
    /// DS 12345 13 2 ABCD…"`) as a trust anchor, so a stub zone with its own anchor validates
    /// without the root. Validation failures are logged (`val-log-level: 2`) and their reason
    /// goes back to the client as Extended DNS Error text (`ede: yes`).
    pub fn validating(stubs: &[(&str, &[u16])], anchors: &[&str], extra: &[&str]) -> Unbound {
        let mut lines: Vec<String> = anchors
            .iter()
            .map(|a| format!("trust-anchor: \"{a}\""))
            .collect();
        lines.extend(
            ["val-log-level: 2", "ede: yes", "trust-anchor-signaling: no"]
                .iter()
                .chain(extra)
                .map(|l| l.to_string()),
        );
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        Self::launch(stubs, "validator iterator", &lines)
    }

    /// What Unbound logged so far (validation failures among it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    fn launch(stubs: &[(&str, &[u16])], modules: &str, extra: &[&str]) -> Unbound {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut conf = format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-daemonize: no\n  chroot: \"\"\n\
             \x20 username: \"\"\n  directory: \"{d}\"\n  pidfile: \"\"\n  logfile: \"{d}/unbound.log\"\n\
             \x20 use-syslog: no\n  verbosity: 0\n  do-ip6: no\n  num-threads: 1\n\
             \x20 so-reuseport: no\n  access-control: 127.0.0.0/8 allow\n\
             \x20 do-not-query-localhost: no\n  module-config: \"{modules}\"\n\
             \x20 qname-minimisation: no\n  prefetch: no\n",
            d = dir.path().display()
        );
        for line in extra {
            conf += &format!("  {line}\n");
        }
        conf += &format!(
            "remote-control:\n  control-enable: yes\n  control-interface: \"{}\"\n  control-use-cert: no\n",
            dir.path().join("control.sock").display()
        );
        for (zone, ports) in stubs {
            conf += &format!("stub-zone:\n  name: \"{zone}\"\n");
            for p in *ports {
                conf += &format!("  stub-addr: 127.0.0.1@{p}\n");
            }
        }
        let path = dir.path().join("unbound.conf");
        std::fs::write(&path, conf).expect("write unbound.conf");
        let child = Command::new(sbin("unbound"))
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("unbound is installed (tests/run installs Debian's unbound)");
        let u = Unbound {
            child,
            port,
            conf: path,
            dir,
        };
        let up = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            u.control(&["status"]).then_some(())
        });
        assert!(up.is_some(), "unbound started");
        u
    }

    /// Runs `unbound-control ARGS`; true when it succeeded.
    pub fn control(&self, args: &[&str]) -> bool {
        Command::new(sbin("unbound-control"))
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Forgets everything cached for `name` (answers and negative answers, every type).
    pub fn flush(&self, name: &str) {
        assert!(self.control(&["flush", name]), "unbound-control flush");
        assert!(
            self.control(&["flush_type", name, "A"]),
            "unbound-control flush_type"
        );
    }

    /// Forgets everything cached at or below `zone`, validated keys included.
    pub fn flush_zone(&self, zone: &str) {
        assert!(
            self.control(&["flush_zone", zone]),
            "unbound-control flush_zone"
        );
    }

    /// A query through the resolver, as a client sends it (recursion desired).
    pub fn dig(&self, args: &str) -> Dig {
        dig(self.port, &format!("+recurse {args}"))
    }
}
