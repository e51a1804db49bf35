//! Real secondaries of gslbd for the transfer tests: Knot, NSD and BIND 9 (Debian packages),
//! each started on a loopback port with its own directory, pulling `gslb.example` with the TSIG
//! key [`KEY`], and killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{Dig, dig};

pub const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";
pub const KEY: &str = "hmac-sha256:xfr-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";

/// A daemon from /usr/sbin (which may not be on PATH), else by name.
pub fn sbin(name: &str) -> String {
    let path = format!("/usr/sbin/{name}");
    if Path::new(&path).exists() {
        path
    } else {
        name.to_string()
    }
}

/// Where a secondary finds its primary and whom it takes NOTIFY from.
#[derive(Clone, Copy)]
pub struct Primary<'a> {
    /// The primary's address (transfers and SOA queries go there).
    pub ip: &'a str,
    pub port: u16,
    /// The address NOTIFY is accepted from (with the key).
    pub notify_from: &'a str,
}

impl Primary<'_> {
    /// gslbd on 127.0.0.1:`port`.
    pub fn local(port: u16) -> Primary<'static> {
        Primary {
            ip: "127.0.0.1",
            port,
            notify_from: "127.0.0.1",
        }
    }
}

/// A secondary server process, killed on drop.
pub struct Secondary {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
    log: &'static str,
}

impl Drop for Secondary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Secondary {
    /// Knot as a secondary of gslbd on `primary`, keeping its data in `dir` (a restart
    /// passes the old one); it allows AXFR out to loopback with the key, for comparisons.
    pub fn knot(primary: u16, port: u16, dir: Option<tempfile::TempDir>) -> Secondary {
        Self::knot_of(Primary::local(primary), port, dir)
    }

    pub fn knot_of(p: Primary, port: u16, dir: Option<tempfile::TempDir>) -> Secondary {
        let dir = dir.unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
        let d = dir.path().display();
        let (ip, pport, from) = (p.ip, p.port, p.notify_from);
        let conf = format!(
            "server:\n  listen: 127.0.0.1@{port}\n  rundir: {d}\n  user: root:root\n\
             log:\n  - target: {d}/knot.log\n    any: info\n\
             database:\n  storage: {d}/db\n\
             key:\n  - id: xfr-key\n    algorithm: hmac-sha256\n    secret: {SECRET}\n\
             remote:\n  - id: primary\n    address: {ip}@{pport}\n    key: xfr-key\n\
             acl:\n  - id: from_primary\n    address: {from}\n    key: xfr-key\n    action: notify\n\
             \x20 - id: out\n    address: 127.0.0.1\n    key: xfr-key\n    action: transfer\n\
             zone:\n  - domain: gslb.example\n    storage: {d}\n    master: primary\n    acl: [from_primary, out]\n    \
             zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n"
        );
        std::fs::create_dir_all(dir.path().join("db")).expect("db dir");
        let child = knotd(dir.path(), &conf);
        Secondary {
            child,
            port,
            dir,
            log: "knot.log",
        }
    }

    /// NSD as a secondary of gslbd on `primary`.
    pub fn nsd(primary: u16, port: u16) -> Secondary {
        Self::nsd_of(Primary::local(primary), port)
    }

    /// NSD asking for IXFR over UDP first (`request-xfr: UDP`).
    pub fn nsd_udp(primary: u16, port: u16) -> Secondary {
        Self::nsd_with(Primary::local(primary), port, "UDP ")
    }

    pub fn nsd_of(p: Primary, port: u16) -> Secondary {
        Self::nsd_with(p, port, "")
    }

    fn nsd_with(p: Primary, port: u16, transport: &str) -> Secondary {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let (ip, pport, from) = (p.ip, p.port, p.notify_from);
        let conf = format!(
            "server:\n  ip-address: 127.0.0.1@{port}\n  zonesdir: {d}\n  database: \"\"\n\
             pidfile: {d}/nsd.pid\n  username: \"\"\n  xfrdfile: {d}/xfrd.state\n\
             zonelistfile: {d}/zone.list\n  logfile: {d}/nsd.log\n  verbosity: 2\n  rrl-ratelimit: 0\n\
             remote-control:\n  control-enable: no\n\
             key:\n  name: xfr-key\n  algorithm: hmac-sha256\n  secret: \"{SECRET}\"\n\
             zone:\n  name: gslb.example\n  zonefile: gslb.example.zone\n\
             request-xfr: {transport}{ip}@{pport} xfr-key\n  allow-notify: {from} xfr-key\n\
             provide-xfr: 127.0.0.1 xfr-key\n"
        );
        std::fs::write(dir.path().join("nsd.conf"), conf).expect("conf");
        let child = Command::new(sbin("nsd"))
            .args(["-d", "-c"])
            .arg(dir.path().join("nsd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nsd (apt-get install nsd)");
        Secondary {
            child,
            port,
            dir,
            log: "nsd.log",
        }
    }

    /// BIND 9 (`named`) as a secondary of gslbd on `primary`.
    pub fn bind(primary: u16, port: u16) -> Secondary {
        Self::bind_of(Primary::local(primary), port)
    }

    pub fn bind_of(p: Primary, port: u16) -> Secondary {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().display();
        let (ip, pport, from) = (p.ip, p.port, p.notify_from);
        let conf = format!(
            "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n\
             session-keyfile \"{d}/session.key\";\n  managed-keys-directory \"{d}\";\n\
             listen-on port {port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n\
             recursion no;\n  notify no;\n  dnssec-validation no;\n\
             allow-transfer {{ key xfr-key; }};\n}};\n\
             controls {{ }};\n\
             key \"xfr-key\" {{ algorithm hmac-sha256; secret \"{SECRET}\"; }};\n\
             logging {{\n  channel f {{ file \"{d}/named.log\"; severity info; print-time yes; }};\n\
             category default {{ f; }};\n  category xfer-in {{ f; }};\n  category notify {{ f; }};\n\
             category general {{ f; }};\n}};\n\
             zone \"gslb.example\" {{\n  type secondary;\n\
             primaries {{ {ip} port {pport} key \"xfr-key\"; }};\n\
             file \"{d}/gslb.example.db\";\n  allow-notify {{ {from}; }};\n}};\n"
        );
        std::fs::write(dir.path().join("named.conf"), conf).expect("conf");
        let child = Command::new(sbin("named"))
            .args(["-f", "-c"])
            .arg(dir.path().join("named.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("named (apt-get install bind9)");
        Secondary {
            child,
            port,
            dir,
            log: "named.log",
        }
    }

    pub fn dig(&self, args: &str) -> Dig {
        dig(self.port, args)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join(self.log)).unwrap_or_default()
    }

    /// Stops it and hands back its data directory.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }
}

/// Writes `conf` as `dir/knot.conf` and starts knotd on it (output to its log target).
pub fn knotd(dir: &std::path::Path, conf: &str) -> std::process::Child {
    std::fs::write(dir.join("knot.conf"), conf).expect("conf");
    Command::new(sbin("knotd"))
        .arg("-c")
        .arg(dir.join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("knotd (apt-get install knot)")
}
