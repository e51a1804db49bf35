//! Integration tests: the real `gslbd` binary, queried with `dig`, probing real loopback
//! backends. One test binary; each file is one area.

mod admin;
mod adminsafety;
mod apierrors;
mod backend;
mod cli;
mod cluster;
mod cookies;
mod csrf;
mod dashboards;
mod deploy;
mod dns;
mod docker;
mod drills;
mod failover;
mod harness;
mod metrics;
mod netns;
mod ops;
mod overrides;
mod page;
mod policies;
mod readme;
mod redact;
mod reload;
mod resolver;
mod rfc;
mod rrl;
mod schedule;
mod signals;
mod statefile;
mod supervise;
mod systemd;
mod tcp;
mod topology;
mod viaresolver;
