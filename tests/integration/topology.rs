//! `policy = "topology"` through the real binary and `dig +subnet=`: clients in mapped
//! networks land on their local region, a local failure moves only that location's clients to
//! their next location (within the computed detection), the ECS scope is the matched prefix,
//! IPv6 clients, the default entry, and the same answers from two instances.

use std::time::{Duration, Instant};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

const MAP: &str = "default = [\"eu\"]\n\
    [locations.east]\nnetworks = [\"198.51.100.0/24\", \"2001:db8:1::/48\"]\nprefer = [\"east\", \"us-west\"]\n\
    [locations.west]\nnetworks = [\"203.0.113.0/24\"]\nprefer = [\"us-west\", \"east\"]\n";

/// Pool `www`: region east (192.0.2.1) probed at `east`, region west (192.0.2.2, location
/// us-west) probed at `west`, region eu (192.0.2.3) probed at `eu`.
fn zone(east: &Backend, west: &Backend, eu: &Backend) -> String {
    format!(
        "{}\n[pools.www]\ntype = \"A\"\nttl = 10\npolicy = \"topology\"\n\
         [pools.www.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.west]\naddresses = [\"192.0.2.2\"]\nlocation = \"us-west\"\ncheck = \"{}\"\n\
         [pools.www.regions.eu]\naddresses = [\"192.0.2.3\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        east.url("/"),
        west.url("/"),
        eu.url("/")
    )
}

/// `(addresses, ECS option as dig prints it)` for a client subnet.
fn ask(g: &Gslbd, subnet: &str) -> (Vec<String>, String) {
    let d = g.dig(&format!("www.gslb.example A +subnet={subnet}"));
    let ecs = d
        .raw
        .lines()
        .find_map(|l| l.split("CLIENT-SUBNET: ").nth(1))
        .unwrap_or("")
        .trim()
        .to_string();
    (d.answers("A"), ecs)
}

fn start() -> (Gslbd, Backend, [Backend; 2]) {
    let (east, west, eu) = (Backend::http(), Backend::http(), Backend::http());
    let g = Gslbd::start(&[("z.toml", &zone(&east, &west, &eu)), ("topology.toml", MAP)]);
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (ask(&g, "198.51.100.7/32").0 == ["192.0.2.1"]).then_some(())
    })
    .expect("east up");
    (g, east, [west, eu])
}

#[test]
fn clients_land_on_their_location_with_the_matched_prefix_as_scope() {
    let (g, _east, _others) = start();
    let a = |s: &str| vec![s.to_string()];
    assert_eq!(
        ask(&g, "198.51.100.7/32"),
        (a("192.0.2.1"), "198.51.100.7/32/24".into())
    );
    assert_eq!(
        ask(&g, "203.0.113.9/32"),
        (a("192.0.2.2"), "203.0.113.9/32/24".into())
    );
    // An IPv6 client in a mapped /48.
    assert_eq!(
        ask(&g, "2001:db8:1:5::/64"),
        (a("192.0.2.1"), "2001:db8:1:5::/64/48".into())
    );
    // The default entry: the widest unmapped prefix around the client (192.0.0.0/6 here;
    // a family with no mapped network at all answers with scope 0).
    assert_eq!(
        ask(&g, "192.0.2.77/32"),
        (a("192.0.2.3"), "192.0.2.77/32/6".into())
    );
    // Without ECS the source address (127.0.0.1, unmapped) decides.
    assert_eq!(g.dig("www.gslb.example A").answers("A"), a("192.0.2.3"));

    // A second instance with the same zones and map answers every client the same.
    let (east, west, eu) = (Backend::http(), Backend::http(), Backend::http());
    let other = Gslbd::start(&[("z.toml", &zone(&east, &west, &eu)), ("topology.toml", MAP)]);
    for subnet in [
        "198.51.100.7/32",
        "203.0.113.9/32",
        "2001:db8:1:5::/64",
        "192.0.2.77/32",
    ] {
        let same = poll(Duration::from_secs(10), Duration::from_millis(50), || {
            (ask(&other, subnet) == ask(&g, subnet)).then_some(())
        });
        assert!(
            same.is_some(),
            "{subnet}: {:?} vs {:?}",
            ask(&other, subnet),
            ask(&g, subnet)
        );
    }
}

#[test]
fn a_local_failure_moves_only_that_locations_clients_within_the_detection() {
    let (g, mut east, _others) = start();
    // The drill on paper says where each location goes ...
    let (code, sim) = g.api("POST", "/simulate?fail=www/east", None);
    assert_eq!(code, 200, "{sim}");
    let where_ = |location: &str| {
        sim["pools"][0]["locations"]
            .as_array()
            .and_then(|l| l.iter().find(|l| l["location"] == location))
            .map(|l| l["answered_from"].clone())
            .expect("location in the simulation")
    };
    assert_eq!(where_("east"), serde_json::json!(["west"]));
    assert_eq!(where_("west"), serde_json::json!(["west"]));
    assert_eq!(where_("default"), serde_json::json!(["eu"]));
    // ... and the real failure does just that.
    let t0 = Instant::now();
    east.set(Mode::Status(503));
    // Detection: 2 × 200 ms + 100 ms.
    let moved = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        (ask(&g, "198.51.100.7/32").0 == ["192.0.2.2"]).then(|| t0.elapsed())
    })
    .expect("east's clients moved to their next location");
    assert!(
        moved <= Duration::from_millis(500 + 250),
        "moved after {moved:?}"
    );
    let why = |g: &Gslbd| {
        g.api(
            "GET",
            "/explain?name=www.gslb.example&type=A&client=198.51.100.7/32",
            None,
        )
        .1["topology"]
            .clone()
    };
    let t = why(&g);
    assert_eq!(t["matched_prefix"], "198.51.100.0/24", "{t}");
    assert_eq!(t["location"], "east");
    assert_eq!(
        (t["step"].as_u64(), t["answered_from"].as_str()),
        (Some(1), Some("us-west"))
    );
    // /status and the metrics say where each location is answered from.
    let (_, status) = g.api("GET", "/status", None);
    let pool = &status["zones"][0]["pools"][0];
    assert_eq!(
        pool["answering"]["summary"],
        "answering 3 client locations, 1 off their first choice"
    );
    let east_now = pool["locations"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["location"] == "east"))
        .expect("east in /status");
    assert_eq!(east_now["answered_from"][0], "west", "{east_now}");
    assert_eq!(east_now["off_first_choice"], true);
    let (_, metrics) =
        crate::harness::http(g.admin.as_deref().expect("admin"), "GET", "/metrics", None);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gslbd_dns_topology_answers_total{")
                && l.contains("location=\"east\"")
                && l.contains("from=\"us-west\"")),
        "{metrics}"
    );
    let dom = crate::page::chromium(&[
        "--dump-dom",
        &format!("http://{}/", g.admin.as_deref().expect("admin")),
    ]);
    let row = dom
        .split("<tr")
        .find(|r| r.contains("data-location=\"east\""))
        .expect("east's row on the page");
    assert!(
        row.contains("data-off=\"true\"") && row.contains(">west<"),
        "{row}"
    );
    // Nobody else moved.
    assert_eq!(ask(&g, "203.0.113.9/32").0, ["192.0.2.2"]);
    assert_eq!(ask(&g, "192.0.2.77/32").0, ["192.0.2.3"]);
    // East comes back: its clients return.
    east.set(Mode::Healthy);
    let back = poll(Duration::from_secs(5), Duration::from_millis(20), || {
        (ask(&g, "198.51.100.7/32").0 == ["192.0.2.1"]).then_some(())
    });
    assert!(back.is_some(), "east's clients returned");
}

#[test]
fn check_prints_where_each_location_lands_and_flags_capacity() {
    let (east, west, eu) = (Backend::http(), Backend::http(), Backend::http());
    let dir = tempfile::tempdir().expect("tempdir");
    let zone = zone(&east, &west, &eu).replace(
        "[pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\n",
        "[pools.www.regions.east]\naddresses = [\"192.0.2.1\"]\ncapacity = 0.5\n",
    );
    std::fs::write(dir.path().join("z.toml"), zone).expect("zone");
    let map = MAP
        .replace(
            "prefer = [\"east\", \"us-west\"]\n",
            "prefer = [\"east\", \"us-west\"]\nshare = 0.4\n",
        )
        .replace(
            "prefer = [\"us-west\", \"east\"]\n",
            "prefer = [\"us-west\", \"east\"]\nshare = 0.4\n",
        );
    std::fs::write(dir.path().join("topology.toml"), map).expect("map");
    let out = crate::harness::run(
        &["check", "--zones", dir.path().to_str().expect("utf8")],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "  topology www: client location -> answered from; on its failure",
        "    east (40%) -> east; east down -> west; detection 0.5s, cutover 11.5s",
        "    west (40%) -> west; west down -> east; detection 0.5s, cutover 11.5s",
        "    default (20%) -> eu; eu down -> east, west; detection 0.5s, cutover 11.5s",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    // West failing sends its 40% to east, past east's capacity of 50%.
    assert!(
        text.lines()
            .any(|l| l.starts_with("    west down -> ") && l.ends_with("OVER CAPACITY: east")),
        "{text}"
    );
}

/// A small GeoLite2-style database the test builds: country and continent per network.
fn geo_database(path: &std::path::Path) {
    mmdb(
        path,
        &[
            ("192.0.2.0/24", "US", "NA"),
            ("203.0.113.0/24", "FR", "EU"),
            ("2001:db8:ab::/48", "DE", "EU"),
            ("198.18.0.0/15", "JP", "AS"),
        ],
    );
}

/// Writes a GeoLite2-Country-style database: `(network, country, continent)`.
pub fn mmdb(path: &std::path::Path, nets: &[(&str, &str, &str)]) {
    #[derive(serde::Serialize)]
    struct Code<'a> {
        iso_code: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Continent<'a> {
        code: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Record<'a> {
        country: Code<'a>,
        continent: Continent<'a>,
    }
    let mut w = mmdb_writer::Writer::new("GeoLite2-Country");
    for (net, country, continent) in nets {
        let net: ipnet::IpNet = net.parse().expect("net");
        let record = Record {
            country: Code { iso_code: country },
            continent: Continent { code: continent },
        };
        w.insert(net, &record).expect("insert");
    }
    std::fs::write(path, w.to_bytes().expect("mmdb")).expect("write mmdb");
}

#[test]
fn a_geo_database_maps_countries_and_continents_and_the_map_wins() {
    let (east, west, eu) = (Backend::http(), Backend::http(), Backend::http());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("zones")).expect("mkdir");
    geo_database(&dir.path().join("zones/geo.mmdb"));
    std::fs::write(dir.path().join("zones/z.toml"), zone(&east, &west, &eu)).expect("zone");
    // 203.0.113.0/25 is in the map (west); the rest of the database's FR /24 maps by continent.
    let map = "default = [\"east\"]\n\
        [locations.west]\nnetworks = [\"203.0.113.0/25\"]\nprefer = [\"us-west\"]\n\
        [geoip]\ndatabase = \"geo.mmdb\"\ncountries = { US = \"us-west\" }\ncontinents = { EU = \"eu\" }\n";
    std::fs::write(dir.path().join("zones/topology.toml"), map).expect("map");
    let g = Gslbd::start_in(dir, &[]);
    poll(Duration::from_secs(10), Duration::from_millis(50), || {
        (ask(&g, "192.0.2.9/32").0 == ["192.0.2.2"]).then_some(())
    })
    .expect("a US client lands on us-west by country");
    let a = |s: &str| vec![s.to_string()];
    assert_eq!(
        ask(&g, "192.0.2.9/32"),
        (a("192.0.2.2"), "192.0.2.9/32/24".into())
    );
    // The map wins over the database inside its networks.
    assert_eq!(
        ask(&g, "203.0.113.5/32"),
        (a("192.0.2.2"), "203.0.113.5/32/25".into())
    );
    // Elsewhere in the database's network: the continent.
    assert_eq!(
        ask(&g, "203.0.113.200/32"),
        (a("192.0.2.3"), "203.0.113.200/32/25".into())
    );
    assert_eq!(ask(&g, "2001:db8:ab:1::/64").0, a("192.0.2.3"));
    // A country and continent the map does not name, and an address the database lacks:
    // the default.
    assert_eq!(ask(&g, "198.18.0.1/32").0, a("192.0.2.1"));
    assert_eq!(ask(&g, "10.0.0.1/32").0, a("192.0.2.1"));
}

#[test]
fn the_map_reloads_with_the_zones_and_a_bad_map_keeps_the_old_one() {
    let (g, _east, _others) = start();
    let file = g.zones_dir().join("topology.toml");
    // 203.0.113.0/24 moves from west to east.
    let moved = MAP
        .replace(
            "networks = [\"198.51.100.0/24\", \"2001:db8:1::/48\"]",
            "networks = [\"198.51.100.0/24\", \"2001:db8:1::/48\", \"203.0.113.0/24\"]",
        )
        .replace("networks = [\"203.0.113.0/24\"]\n", "networks = []\n");
    std::fs::write(&file, &moved).expect("write map");
    assert_eq!(g.api("POST", "/reload", None).0, 200);
    assert_eq!(ask(&g, "203.0.113.9/32").0, ["192.0.2.1"]);
    // With no IPv6 network in the map, every IPv6 client is the default entry: scope 3
    // (2000::/3), the widest that leaves out the IPv4-mapped clients, who answer by the
    // IPv4 networks.
    let v4_only = moved.replace(", \"2001:db8:1::/48\"", "");
    std::fs::write(&file, &v4_only).expect("write map");
    assert_eq!(g.api("POST", "/reload", None).0, 200);
    assert_eq!(
        ask(&g, "2001:db8:1:5::/64"),
        (vec!["192.0.2.3".to_string()], "2001:db8:1:5::/64/3".into())
    );
    // A broken map is refused with its line and column; the loaded one keeps answering.
    std::fs::write(&file, v4_only.replace("203.0.113.0/24", "203.0.113.0/33")).expect("write");
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 422, "{body}");
    let errors = body["error"].as_str().unwrap_or("");
    assert!(
        errors.contains("topology.toml:") && errors.contains("is not a network"),
        "{errors}"
    );
    assert_eq!(ask(&g, "203.0.113.9/32").0, ["192.0.2.1"]);
}

/// `POST /reload`'s `changed` flag (the status must be 200).
fn reload_changed(g: &Gslbd) -> Option<bool> {
    let (code, body) = g.api("POST", "/reload", None);
    assert_eq!(code, 200, "{body}");
    body["changed"].as_bool()
}

#[test]
fn a_reload_sees_a_change_to_the_csv_alone_and_skips_nothing_else() {
    let (g, _east, _others) = start();
    let dir = g.zones_dir();
    std::fs::write(dir.join("nets.csv"), "192.0.2.128/25,west\n").expect("csv");
    let with_csv = MAP.replacen("default", "csv = [\"nets.csv\"]\ndefault", 1);
    std::fs::write(dir.join("topology.toml"), &with_csv).expect("map");
    assert_eq!(reload_changed(&g), Some(true));
    assert_eq!(
        ask(&g, "192.0.2.200/32").0,
        ["192.0.2.2"],
        "the CSV's network"
    );
    // Nothing touched: the serving set is kept.
    assert_eq!(reload_changed(&g), Some(false));
    // Only the CSV changes (the map and the zones are the same bytes): the reload sees it.
    std::fs::write(dir.join("nets.csv"), "192.0.2.128/25,east\n").expect("csv");
    assert_eq!(reload_changed(&g), Some(true));
    assert_eq!(
        ask(&g, "192.0.2.200/32").0,
        ["192.0.2.1"],
        "the new location"
    );
}

#[test]
fn check_on_a_file_reads_the_topology_map_beside_it() {
    let (east, west, eu) = (Backend::http(), Backend::http(), Backend::http());
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("z.toml"), zone(&east, &west, &eu)).expect("zone");
    std::fs::write(dir.path().join("topology.toml"), MAP).expect("map");
    let whole = crate::harness::run(&["check", "--zones", "."], dir.path());
    let file = crate::harness::run(&["check", "z.toml"], dir.path());
    let (whole, file) = (
        String::from_utf8_lossy(&whole.stdout),
        String::from_utf8_lossy(&file.stdout),
    );
    assert!(whole.contains("topology www"), "{whole}");
    assert_eq!(
        file.lines().skip(1).collect::<Vec<_>>(),
        whole.lines().skip(1).collect::<Vec<_>>(),
        "check FILE and check --zones DIR differ"
    );
    let err =
        String::from_utf8_lossy(&crate::harness::run(&["check", "z.toml"], dir.path()).stderr)
            .into_owned();
    assert!(
        err.contains("topology.toml"),
        "it says which map it read: {err}"
    );
}
