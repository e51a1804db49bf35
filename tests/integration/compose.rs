//! No Docker engine runs here, so `docker/compose.yaml` is checked by reading it: every mounted
//! path exists, each gslbd instance's files pass `gslbd check`, the cluster peers are each
//! other's addresses and admin ports with one shared token, the transfer secondary is Knot's
//! address, and Knot's primaries, ACL and key are the instances' addresses, DNS ports and key.

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

use crate::harness::run;

fn docker() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docker")
}

fn compose() -> Yaml {
    let text = std::fs::read_to_string(docker().join("compose.yaml")).expect("compose.yaml");
    YamlLoader::load_from_str(&text)
        .expect("valid YAML")
        .pop()
        .expect("a document")
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The value after `flag` in a command.
fn arg<'a>(cmd: &'a [String], flag: &str) -> &'a str {
    cmd.iter()
        .position(|a| a == flag)
        .and_then(|i| cmd.get(i + 1))
        .map_or("", String::as_str)
}

/// A container path's host path under `service`'s volumes.
fn host_path(service: &Yaml, container: &str) -> PathBuf {
    strings(&service["volumes"])
        .iter()
        .find_map(|v| {
            let mut parts = v.split(':');
            let (host, inside) = (parts.next()?, parts.next()?);
            let rest = container.strip_prefix(inside)?.trim_start_matches('/');
            let path = docker().join(host);
            Some(if rest.is_empty() {
                path
            } else {
                path.join(rest)
            })
        })
        .unwrap_or_else(|| panic!("{container} is not mounted"))
}

fn address(service: &Yaml) -> String {
    service["networks"]["gslb"]["ipv4_address"]
        .as_str()
        .expect("a fixed address")
        .to_string()
}

#[test]
fn the_compose_files_are_consistent_with_each_other_and_with_gslbd() {
    let doc = compose();
    let services = &doc["services"];
    let gslbd: Vec<(&str, &Yaml)> = ["ns1", "ns2"].iter().map(|n| (*n, &services[*n])).collect();
    let knot = &services["knot"];
    let knot_conf_path = host_path(knot, "/config/knot.conf");
    let knot_conf = std::fs::read_to_string(&knot_conf_path).expect("knot.conf");
    let mut tokens = Vec::new();
    for (name, s) in &gslbd {
        assert_eq!(s["image"].as_str(), Some("gslbd"));
        let cmd = strings(&s["command"]);
        assert_eq!(cmd.first().map(String::as_str), Some("serve"));
        let zones = host_path(s, arg(&cmd, "--zones"));
        let config = host_path(s, arg(&cmd, "--config"));
        assert!(
            zones.join("gslb.example.toml").exists(),
            "{}",
            zones.display()
        );
        assert!(host_path(s, arg(&cmd, "--admin-token-file")).exists());
        // The instance file and the zones pass check (tokens and key files included).
        let out = run(
            &[
                "check",
                "--config",
                config.to_str().expect("utf8"),
                "--zones",
                zones.to_str().expect("utf8"),
            ],
            Path::new(env!("CARGO_MANIFEST_DIR")),
        );
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("via secondaries"), "{stdout}");
        assert!(stdout.contains("cluster: detection"), "{stdout}");
        let toml: toml::Table = std::fs::read_to_string(&config)
            .expect("gslbd.toml")
            .parse()
            .expect("toml");
        let cluster = &toml["cluster"];
        assert_eq!(cluster["name"].as_str(), Some(*name));
        // Its peers are the other instances, at their admin ports.
        let others: Vec<String> = gslbd
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(_, o)| {
                let port = arg(&strings(&o["command"]), "--admin")
                    .rsplit(':')
                    .next()
                    .unwrap_or("")
                    .to_string();
                format!("http://{}:{port}", address(o))
            })
            .collect();
        let peers: Vec<String> = cluster["peers"]
            .as_array()
            .expect("peers")
            .iter()
            .filter_map(|p| p.as_str().map(String::from))
            .collect();
        assert_eq!(peers, others, "{name}'s peers");
        let dir = config.parent().expect("dir");
        let token_file = cluster["token_file"].as_str().expect("token_file");
        tokens.push(std::fs::read_to_string(dir.join(token_file)).expect("token"));
        // It transfers to Knot, with the key Knot has.
        let transfer = &toml["transfer"];
        let secondaries: Vec<&str> = transfer["secondaries"]
            .as_array()
            .expect("secondaries")
            .iter()
            .filter_map(|s| s.as_str())
            .collect();
        assert_eq!(secondaries, [address(knot)]);
        let key = std::fs::read_to_string(dir.join(transfer["key_file"].as_str().expect("key")))
            .expect("key file");
        let secret = key.trim().rsplit(':').next().expect("secret");
        assert!(
            knot_conf.contains(&format!("secret: {secret}")),
            "Knot has the key"
        );
        // Knot pulls from it and accepts its NOTIFY.
        let dns_port = arg(&cmd, "--listen").rsplit(':').next().unwrap_or("");
        assert!(
            knot_conf.contains(&format!("address: {}@{dns_port}", address(s))),
            "Knot's primary {name}"
        );
        assert!(knot_conf.contains(&address(s)), "Knot's ACL has {name}");
    }
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "one cluster token");
    // Each backend sits in its instance's network namespace, where the example zone checks.
    for (backend, of) in [("backend1", "ns1"), ("backend2", "ns2")] {
        assert_eq!(
            services[backend]["network_mode"].as_str(),
            Some(format!("service:{of}").as_str())
        );
    }
}
