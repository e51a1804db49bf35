//! Health consensus between real gslbd processes on loopback (`[cluster]` in gslbd.toml): a
//! failure one vantage sees stays in the answers everywhere, a real failure leaves every
//! instance within the extended bound, dead and lying peers are outvoted, an isolated instance
//! falls back to its own view (clusterpeers.rs: and keeps a pool it would empty at its last
//! agreed regions), equal
//! health answers byte for byte the same, overrides fan out, and `check` adds the poll delay.
//!
//! One vantage's path to a backend is broken by the backend dropping the requests whose
//! User-Agent names that instance (gslbd sends `… health-check (NAME)` in a cluster).

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, free_port, http, poll, run, zone_head};

pub const TOKEN: &str = "cluster-secret-1";
/// fall × interval + timeout of [`zone`]'s probes.
pub const DETECTION: f64 = 2.0 * 0.4 + 0.2;
/// poll_interval + poll_timeout of [`instance_file`].
pub const CONSENSUS: f64 = 0.3 + 0.3;

/// Pool `www` (policy all): east (192.0.2.1) probed at `east`, west (192.0.2.2) at `west`.
pub fn zone(east: &Backend, west: &Backend) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 5\npolicy = \"all\"\non_all_down = \"none\"\n\
         [pools.www.probe]\ninterval = \"400ms\"\ntimeout = \"200ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        east.url("/"),
        west.url("/")
    )
}

pub fn instance_file(name: &str, peers: &[u16]) -> String {
    let peers: Vec<String> = peers
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    instance_file_urls(name, &peers)
}

/// The instance file of `name` with these peer URLs.
pub fn instance_file_urls(name: &str, peers: &[String]) -> String {
    let peers: Vec<String> = peers.iter().map(|p| format!("\"{p}\"")).collect();
    format!(
        "[cluster]\nname = \"{name}\"\npeers = [{}]\ntoken_file = \"cluster.token\"\n\
         poll_interval = \"300ms\"\npoll_timeout = \"300ms\"\nstale_after = \"1500ms\"\n",
        peers.join(", ")
    )
}

/// Starts one instance named `name` on admin port `admin`, with `peers`' admin ports.
pub fn instance(name: &str, admin: u16, peers: &[u16], zones: &[(&str, &str)]) -> Gslbd {
    let peers: Vec<String> = peers
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    instance_urls(name, admin, &peers, zones)
}

/// Starts one instance named `name` on admin port `admin`, with these peer URLs.
pub fn instance_urls(name: &str, admin: u16, peers: &[String], zones: &[(&str, &str)]) -> Gslbd {
    let dir = tempfile::tempdir().expect("tempdir");
    let zdir = dir.path().join("zones");
    std::fs::create_dir(&zdir).expect("mkdir");
    for (file, text) in zones {
        std::fs::write(zdir.join(file), text).expect("zone");
    }
    std::fs::write(dir.path().join("cluster.token"), format!("{TOKEN}\n")).expect("token");
    std::fs::write(
        dir.path().join("gslbd.toml"),
        instance_file_urls(name, peers),
    )
    .expect("toml");
    Gslbd::start_in(dir, &["--admin", &format!("127.0.0.1:{admin}")])
}

/// Instances named a, b, c… that all know each other.
pub fn cluster(n: usize, zones: &[(&str, &str)]) -> Vec<Gslbd> {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let names = ["a", "b", "c", "d", "e"];
    (0..n)
        .map(|i| {
            let peers: Vec<u16> = ports.iter().copied().filter(|p| *p != ports[i]).collect();
            instance(names[i], ports[i], &peers, zones)
        })
        .collect()
}

/// A directory with `zones/z.toml` (pool www over `east` and `west`) and the cluster token
/// beside it, for an instance file to be added; and the zones directory.
pub fn instance_dir(east: &Backend, west: &Backend) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let zones = dir.path().join("zones");
    std::fs::create_dir(&zones).expect("mkdir");
    std::fs::write(zones.join("z.toml"), zone(east, west)).expect("zone");
    std::fs::write(dir.path().join("cluster.token"), TOKEN).expect("token");
    (dir, zones)
}

pub fn answers(g: &Gslbd) -> Vec<String> {
    // A query lost on a loaded machine (no status: dig timed out) is asked again, so that it
    // is never taken for an empty answer.
    let mut d = g.dig("www.gslb.example A");
    for _ in 0..3 {
        if !d.status.is_empty() {
            break;
        }
        d = g.dig("www.gslb.example A");
    }
    let mut a = d.answers("A");
    a.sort();
    a
}

pub fn status(g: &Gslbd) -> serde_json::Value {
    g.api("GET", "/status", None).1
}

pub fn region<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["zones"][0]["pools"][0]["regions"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["region"] == name))
        .expect("region")
}

/// Waits until every instance has heard from every peer and seen both regions up (`rise`
/// successes, not just a first probe).
pub fn settled(nodes: &[&Gslbd]) {
    for g in nodes {
        poll(Duration::from_secs(20), Duration::from_millis(100), || {
            let s = status(g);
            let peers = s["cluster"]["peers"].as_array()?.clone();
            let fresh = peers.iter().all(|p| p["fresh"] == true);
            let up = ["east", "west"]
                .iter()
                .all(|r| region(&s, r)["state"] == "up");
            (fresh && up).then_some(())
        })
        .expect("every peer heard from");
    }
}

pub const BOTH: [&str; 2] = ["192.0.2.1", "192.0.2.2"];

#[test]
fn a_failure_seen_from_one_vantage_stays_in_the_answers_everywhere() {
    let (east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let nodes = cluster(3, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    // b's path to east breaks; a's and c's do not.
    east.block_agents(&["(b)"]);
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (region(&status(&nodes[1]), "east")["state"] == "down").then_some(())
    })
    .expect("b sees east down");
    // Well past detection + consensus, every instance still answers east.
    let until = Instant::now() + Duration::from_secs_f64(3.0 * (DETECTION + CONSENSUS));
    while Instant::now() < until {
        for g in &nodes {
            assert_eq!(answers(g), BOTH, "an instance dropped east");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = status(&nodes[1]);
    let east_b = region(&s, "east");
    assert_eq!(east_b["serving"], true);
    assert_eq!(east_b["votes"]["down"], serde_json::json!(["b"]));
    assert_eq!(east_b["votes"]["up"].as_array().map(Vec::len), Some(2));
    assert_eq!(east_b["votes"]["how"], "quorum");
    // The disagreement is visible on the metrics and in `gslbd status`.
    let metrics = nodes[1].metrics();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gslbd_cluster_region_disagreement{")
                && l.contains("region=\"east\"")
                && l.ends_with(" 1")),
        "{metrics}"
    );
    let admin = nodes[1].admin.clone().expect("admin");
    let (_, page) = http(&admin, "GET", "/", None);
    assert!(
        page.contains("2 up, 1 down (quorum)"),
        "the page shows the votes"
    );
    assert!(page.contains("cluster b"), "the page shows the cluster");
    let out = run(&["status", "--admin", &admin], Path::new("."));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("cluster b: rule majority, quorum 2 of 3"),
        "{table}"
    );
    assert!(
        table.contains("1 up, 2 down") || table.contains("2 up, 1 down (quorum)"),
        "{table}"
    );
}

/// Seconds until `g` stops (or starts, with `present`) answering 192.0.2.1, polled every 50 ms.
pub fn until_east(g: &Gslbd, present: bool, limit: Duration) -> Option<f64> {
    let t0 = Instant::now();
    poll(limit, Duration::from_millis(50), || {
        (answers(g).contains(&"192.0.2.1".to_string()) == present)
            .then(|| t0.elapsed().as_secs_f64())
    })
}

#[test]
fn a_real_failure_leaves_every_instance_within_the_extended_bound_and_comes_back() {
    let (mut east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let nodes = cluster(3, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    // The figures include the consensus delay.
    let s = status(&nodes[0]);
    let figures = &s["zones"][0]["pools"][0]["cutover"];
    let detection = figures["detection"].as_f64().expect("detection");
    assert!(
        (detection - (DETECTION + CONSENSUS)).abs() < 1e-9,
        "{figures}"
    );
    let readmission = figures["readmission"].as_f64().expect("readmission");

    let t0 = Instant::now();
    east.set(Mode::Status(503));
    let margin = 0.5;
    for g in &nodes {
        let left = until_east(g, false, Duration::from_secs(15)).expect("east leaves");
        let elapsed = t0.elapsed().as_secs_f64();
        assert!(
            elapsed <= detection + margin,
            "left after {elapsed:.2}s (bound {detection}s + {margin}s), {left:.2}s in this poll"
        );
    }
    let t1 = Instant::now();
    east.set(Mode::Healthy);
    for g in &nodes {
        until_east(g, true, Duration::from_secs(15)).expect("east returns");
        let elapsed = t1.elapsed().as_secs_f64();
        assert!(
            elapsed <= readmission + margin,
            "back after {elapsed:.2}s (bound {readmission}s + {margin}s)"
        );
    }
    // Each instance logged the consensus transitions with zone, pool, region and votes.
    let logs = nodes[2].logs().join("\n");
    assert!(logs.contains("consensus: region down"), "{logs}");
    assert!(
        logs.contains("region=\"east\"") || logs.contains("region=east"),
        "{logs}"
    );
}

/// A peer that publishes every verdict of `source` flipped to down, under the name "c".
fn liar(listener: TcpListener, source: String) -> std::thread::JoinHandle<()> {
    fake_peer(listener, source, "c", true)
}

/// A loopback listener on a free port, bound before the instances that name it start (so no
/// other socket can take the port in between), and its port.
pub fn held_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a fake peer");
    let port = listener.local_addr().expect("local addr").port();
    (listener, port)
}

/// A peer on `listener` that publishes `source`'s verdicts under `name` (all flipped to down
/// with `down`), until `GET /stop` or 60 s.
pub fn fake_peer(
    listener: TcpListener,
    source: String,
    name: &str,
    down: bool,
) -> std::thread::JoinHandle<()> {
    let name = name.to_string();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let stop = Instant::now() + Duration::from_secs(60);
        while Instant::now() < stop {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut s, &mut buf);
            if buf.starts_with(b"GET /stop") {
                return;
            }
            let (_, body) = http(&source, "GET", "/cluster/verdicts", Some(TOKEN));
            let mut doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            doc["instance"] = name.as_str().into();
            if down && let Some(regions) = doc["regions"].as_array_mut() {
                for r in regions {
                    r["state"] = "down".into();
                }
            }
            let body = doc.to_string();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = std::io::Write::write_all(&mut s, resp.as_bytes());
        }
    })
}

#[test]
fn a_lying_peer_and_a_dead_peer_are_outvoted() {
    let (mut east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let (held, pc) = held_port();
    let (pa, pb) = (free_port(), free_port());
    let a = instance("a", pa, &[pb, pc], &[("z.toml", &z)]);
    let b = instance("b", pb, &[pa, pc], &[("z.toml", &z)]);
    let lie = liar(held, format!("127.0.0.1:{pa}"));
    settled(&[&a, &b]);
    // c says everything is down; a and b outvote it.
    for _ in 0..20 {
        assert_eq!(answers(&a), BOTH);
        assert_eq!(answers(&b), BOTH);
        std::thread::sleep(Duration::from_millis(100));
    }
    let s = status(&a);
    assert_eq!(
        region(&s, "east")["votes"]["down"],
        serde_json::json!(["c"])
    );
    // c dies: it abstains (stale); a and b still make a quorum and still see a real failure.
    let _ = http(&format!("127.0.0.1:{pc}"), "GET", "/stop", None);
    let _ = lie.join();
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        let s = status(&a);
        let abstain = region(&s, "east")["votes"]["abstain"].clone();
        (abstain == serde_json::json!([["c", "stale"]])).then_some(())
    })
    .expect("c abstains as stale");
    assert_eq!(status(&a)["cluster"]["isolated"], false);
    assert_eq!(answers(&a), BOTH);
    east.set(Mode::Status(503));
    for g in [&a, &b] {
        until_east(g, false, Duration::from_secs(10)).expect("a real failure still leaves");
    }
}

#[test]
fn an_isolated_instance_uses_its_own_view() {
    let (mut east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    // Both peers are unreachable from the start.
    let a = instance(
        "a",
        free_port(),
        &[free_port(), free_port()],
        &[("z.toml", &z)],
    );
    poll(Duration::from_secs(10), Duration::from_millis(100), || {
        (answers(&a) == BOTH).then_some(())
    })
    .expect("serving");
    let s = status(&a);
    assert_eq!(s["cluster"]["isolated"], true, "{}", s["cluster"]);
    assert!(s["cluster"]["peers"][0]["error"].is_string());
    let (_, page) = http(a.admin.as_deref().expect("admin"), "GET", "/", None);
    assert!(page.contains("id=\"isolated\""), "the page says so");
    // Its own view decides: east leaves within the plain detection figure.
    let t0 = Instant::now();
    east.set(Mode::Status(503));
    until_east(&a, false, Duration::from_secs(10)).expect("east leaves");
    assert!(t0.elapsed().as_secs_f64() <= DETECTION + CONSENSUS + 0.5);
    assert_eq!(region(&status(&a), "east")["votes"]["how"], "isolated");
    let logs = a.logs().join("\n");
    assert!(logs.contains("cluster: isolated"), "{logs}");
}

/// The raw response to a query for `name` with an ECS option for `subnet`, ID 0x4242.
fn raw_answer(port: u16, name: &str, subnet: &str) -> Vec<u8> {
    use hickory_proto::op::{Edns, Message, Query};
    use hickory_proto::rr::rdata::opt::{ClientSubnet, EdnsOption};
    use hickory_proto::rr::{Name, RecordType};
    let mut m = Message::query();
    m.metadata.id = 0x4242;
    m.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    let mut edns = Edns::new();
    let subnet: ipnet::IpNet = subnet.parse().expect("subnet");
    edns.options_mut()
        .insert(EdnsOption::Subnet(ClientSubnet::new(
            subnet.addr(),
            subnet.prefix_len(),
            0,
        )));
    m.set_edns(edns);
    let q = m.to_vec().expect("encode");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    sock.send_to(&q, ("127.0.0.1", port)).expect("send");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("an answer");
    buf[..n].to_vec()
}

#[test]
fn with_equal_health_every_instance_answers_hashed_and_topology_byte_for_byte_the_same() {
    let backends: Vec<Backend> = (0..3).map(|_| Backend::http()).collect();
    let regions = |pool: &str| -> String {
        (0..3)
            .map(|i| {
                format!(
                    "[pools.{pool}.regions.r{i}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"{}\"\n",
                    10 + i,
                    backends[i].url("/")
                )
            })
            .collect()
    };
    let probe = "interval = \"400ms\"\ntimeout = \"200ms\"\nfall = 2\nrise = 2\n";
    let z = format!(
        "{}\n[pools.h]\ntype = \"A\"\npolicy = \"hashed\"\n[pools.h.probe]\n{probe}{}\
         [pools.t]\ntype = \"A\"\npolicy = \"topology\"\n[pools.t.probe]\n{probe}{}",
        zone_head("gslb.example."),
        regions("h"),
        regions("t")
    );
    let map = "[locations.r0]\nnetworks = [\"198.51.100.0/24\"]\n\
               [locations.r1]\nnetworks = [\"203.0.113.0/24\"]\n";
    let nodes = cluster(3, &[("z.toml", &z), ("topology.toml", map)]);
    for g in &nodes {
        poll(Duration::from_secs(10), Duration::from_millis(100), || {
            let s = status(g);
            let all = s["zones"][0]["pools"]
                .as_array()?
                .iter()
                .flat_map(|p| p["regions"].as_array().cloned().unwrap_or_default())
                .all(|r| r["state"] == "up");
            all.then_some(())
        })
        .expect("every region up");
    }
    let subnets: Vec<String> = (0..40)
        .map(|i| format!("{}.{}.{}.0/24", 10 + i % 200, i * 7 % 256, i * 13 % 256))
        .chain([
            "198.51.100.0/24".into(),
            "203.0.113.0/24".into(),
            "2001:db8::/48".into(),
        ])
        .collect();
    for name in ["h.gslb.example.", "t.gslb.example."] {
        for subnet in &subnets {
            let first = raw_answer(nodes[0].port, name, subnet);
            for g in &nodes[1..] {
                assert_eq!(
                    raw_answer(g.port, name, subnet),
                    first,
                    "{name} for {subnet} differs between instances"
                );
            }
        }
    }
}

#[test]
fn overrides_fan_out_to_the_peers_and_verdicts_need_the_cluster_token() {
    let (east, west) = (Backend::http(), Backend::http());
    let z = zone(&east, &west);
    let nodes = cluster(3, &[("z.toml", &z)]);
    settled(&nodes.iter().collect::<Vec<_>>());
    let admin = nodes[0].admin.clone().expect("admin");
    let (code, _) = http(&admin, "GET", "/cluster/verdicts", None);
    assert_eq!(code, 401);
    let (code, _) = http(&admin, "GET", "/cluster/verdicts", Some("wrong"));
    assert_eq!(code, 403);
    let (code, body) = http(&admin, "GET", "/cluster/verdicts", Some(TOKEN));
    assert_eq!(code, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["instance"], "a");
    assert_eq!(doc["regions"][0]["state"], "up");
    assert!(
        doc["regions"][0]["age_ms"]
            .as_u64()
            .is_some_and(|a| a < 5000)
    );
    assert_eq!(
        doc["regions"][0]["settings"].as_str().map(str::len),
        Some(32)
    );

    let (code, body) = http(
        &admin,
        "POST",
        "/regions/gslb.example/www/east/drain?peers=true",
        None,
    );
    assert_eq!(code, 200, "{body}");
    let reply: serde_json::Value = serde_json::from_str(&body).expect("json");
    let sent = reply["peers"].as_array().expect("peers");
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|p| p["status"] == 200), "{body}");
    for g in &nodes {
        assert_eq!(answers(g), ["192.0.2.2"]);
        assert_eq!(region(&status(g), "east")["override"], "drain");
    }
}

#[test]
fn check_adds_the_poll_delay_and_a_bad_instance_file_is_named_at_its_line() {
    let (east, west) = (Backend::http(), Backend::http());
    let (dir, _) = instance_dir(&east, &west);
    let plain = run(&["check", "--json", "--zones", "zones"], dir.path());
    let plain: serde_json::Value = serde_json::from_slice(&plain.stdout).expect("json");
    std::fs::write(dir.path().join("gslbd.toml"), instance_file("a", &[1, 2])).expect("toml");
    let out = run(&["check", "--json", "--zones", "zones"], dir.path());
    let clustered: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let detection = |v: &serde_json::Value| v["zones"][0]["worst"]["detection"].as_f64();
    assert_eq!(detection(&plain), Some(DETECTION));
    assert_eq!(detection(&clustered), Some(DETECTION + CONSENSUS));
    assert_eq!(clustered["consensus_delay"], CONSENSUS);
    let out = run(&["check", "--zones", "zones"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("cluster: detection and readmission include 0.6s"),
        "{text}"
    );

    std::fs::write(
        dir.path().join("gslbd.toml"),
        "[cluster]\nname = \"a\"\ntoken_file = \"cluster.token\"\npeers = [\"http://127.0.0.1:1\"]\nstale_after = \"1s\"\n",
    )
    .expect("toml");
    let out = run(&["check", "--zones", "zones"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("gslbd.toml:5:15: stale_after (1s) must be longer"),
        "{err}"
    );
}

#[test]
fn a_cluster_member_without_an_admin_api_refuses_to_start() {
    let (east, west) = (Backend::http(), Backend::http());
    let (dir, zones) = instance_dir(&east, &west);
    std::fs::write(dir.path().join("gslbd.toml"), instance_file("a", &[1, 2])).expect("toml");
    let (code, err) = crate::harness::refused_start(&zones, &[]);
    assert_eq!(
        code,
        Some(1),
        "it started:
{err}"
    );
    assert!(err.contains("[cluster] needs the admin API"), "{err}");
}
