//! `GET /metrics` through the real binary: the scrape parses as Prometheus text, and every series
//! gslbd documents moves with what dig and the backends did.

use std::time::Duration;

use gslbd::telemetry;
use prometheus_parse::{Sample, Scrape, Value};

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, http, poll, zone_head};

const POLL: Duration = Duration::from_millis(20);

fn scrape(g: &Gslbd) -> Scrape {
    let (code, body) = http(g.admin.as_deref().expect("admin"), "GET", "/metrics", None);
    assert_eq!(code, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format")
}

/// The samples of `name` whose labels include every `(key, value)` of `labels`.
fn samples<'a>(s: &'a Scrape, name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    s.samples
        .iter()
        .filter(|x| x.metric == name)
        .filter(|x| labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .collect()
}

/// The sum of the matching counter or gauge samples (0 when none).
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    samples(s, name, labels)
        .iter()
        .map(|x| match x.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// Failover pool `api`: `primary` (tier 1) probed at `check`, `backup` (tier 2) at `backup`.
fn zone(check: &str, backup: &str) -> String {
    format!(
        "{}\n[pools.api]\ntype = \"A\"\nttl = 5\npolicy = \"failover\"\n\
         [pools.api.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         [pools.api.regions.primary]\naddresses = [\"192.0.2.1\"]\npriority = 1\ncheck = \"{check}\"\n\
         [pools.api.regions.backup]\naddresses = [\"192.0.2.2\"]\npriority = 2\ncheck = \"{backup}\"\n",
        zone_head("gslb.example.")
    )
}

#[test]
fn scrape_follows_queries_answers_probes_and_transitions() {
    let mut backend = Backend::http();
    let check = backend.url("/health");
    let spare = Backend::http();
    let g = Gslbd::start(&[("z.toml", &zone(&check, &spare.url("/")))]);
    let z = ("zone", "gslb.example.");
    let labels = |region| [z, ("pool", "api"), ("region", region)];

    // The primary comes up: region_up and the live weight say so.
    let up = poll(Duration::from_secs(10), POLL, || {
        let s = scrape(&g);
        (value(&s, telemetry::HEALTH_REGION_UP, &labels("primary")) == 1.0
            && value(
                &s,
                telemetry::PROBE_RESULTS_TOTAL,
                &[("target", &check), ("outcome", "ok")],
            ) >= 2.0)
            .then_some(s)
    })
    .expect("primary up in /metrics");
    assert_eq!(
        value(&up, telemetry::HEALTH_REGION_WEIGHT, &labels("primary")),
        1.0
    );
    // The computed worst case is published per pool: 2 × 200 ms + 100 ms, plus the 5 s TTL and
    // the resolver's 1 s clock.
    let worst = |kind| {
        value(
            &up,
            telemetry::CUTOVER_WORST_CASE_SECONDS,
            &[z, ("pool", "api"), ("kind", kind)],
        )
    };
    assert!(
        (worst("detection") - 0.5).abs() < 1e-9,
        "{}",
        worst("detection")
    );
    assert!(
        (worst("cutover") - 6.5).abs() < 1e-9,
        "{}",
        worst("cutover")
    );

    // Ten answers from the first tier, three NXDOMAINs, one refusal outside every zone.
    for _ in 0..10 {
        assert_eq!(g.dig("api.gslb.example A").answers("A"), ["192.0.2.1"]);
    }
    for _ in 0..3 {
        assert_eq!(g.dig("nope.gslb.example A").status, "NXDOMAIN");
    }
    assert_eq!(g.dig("elsewhere.example AAAA").status, "REFUSED");
    let s = scrape(&g);
    let q = |qtype, rcode| {
        value(
            &s,
            telemetry::DNS_QUERIES_TOTAL,
            &[("qtype", qtype), ("rcode", rcode)],
        )
    };
    assert_eq!(q("A", "NOERROR"), 10.0);
    assert_eq!(q("A", "NXDOMAIN"), 3.0);
    assert_eq!(
        value(
            &s,
            telemetry::DNS_QUERIES_TOTAL,
            &[("zone", ""), ("qtype", "AAAA"), ("rcode", "REFUSED")]
        ),
        1.0
    );
    let tier = |s: &Scrape, tier| {
        value(
            s,
            telemetry::DNS_ANSWERS_TOTAL,
            &[z, ("pool", "api"), ("tier", tier)],
        )
    };
    assert_eq!(tier(&s, "1"), 10.0);
    assert_eq!(tier(&s, "2"), 0.0);
    let durations = samples(
        &s,
        &format!("{}_count", telemetry::PROBE_DURATION_SECONDS),
        &[],
    );
    let histograms = samples(&s, telemetry::PROBE_DURATION_SECONDS, &[("kind", "http")]);
    assert!(
        !durations.is_empty() || !histograms.is_empty(),
        "probe duration histogram exported"
    );

    // The primary fails: its gauge drops, a transition is counted, answers come from tier 2.
    backend.set(Mode::Status(503));
    let down = poll(Duration::from_secs(10), POLL, || {
        let s = scrape(&g);
        (value(&s, telemetry::HEALTH_REGION_UP, &labels("primary")) == 0.0).then_some(s)
    })
    .expect("primary down in /metrics");
    assert_eq!(
        value(&down, telemetry::HEALTH_REGION_WEIGHT, &labels("primary")),
        0.0
    );
    let kind_down = [z, ("pool", "api"), ("region", "primary"), ("kind", "down")];
    assert_eq!(
        value(&down, telemetry::HEALTH_TRANSITIONS_TOTAL, &kind_down),
        1.0
    );
    assert!(
        value(
            &down,
            telemetry::PROBE_RESULTS_TOTAL,
            &[("target", &check), ("outcome", "status")]
        ) >= 2.0
    );
    for _ in 0..5 {
        assert_eq!(g.dig("api.gslb.example A").answers("A"), ["192.0.2.2"]);
    }
    let s = scrape(&g);
    // The fallback share is one ratio: answers not from tier 1 over all answers.
    let all = value(&s, telemetry::DNS_ANSWERS_TOTAL, &[z, ("pool", "api")]);
    assert_eq!(tier(&s, "2"), 5.0);
    assert!(((all - tier(&s, "1")) / all - 5.0 / 15.0).abs() < 1e-9);
}

#[test]
fn every_documented_metric_is_in_the_readme() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    for name in telemetry::ALL {
        assert!(readme.contains(name), "README.md does not list {name}");
    }
}

#[test]
fn a_reload_is_counted_and_bumps_the_generation_when_a_file_changed() {
    let g = Gslbd::start(&[(
        "z.toml",
        &zone("http://127.0.0.1:9/", "http://127.0.0.1:9/"),
    )]);
    // A reload that says whether it `changed` anything: (reloads counted ok, generation).
    let reload = |changed: bool| {
        let (code, body) = g.api("POST", "/reload", None);
        assert_eq!(code, 200);
        assert_eq!(body["changed"], changed, "{body}");
        let s = scrape(&g);
        (
            value(&s, telemetry::CONFIG_RELOADS_TOTAL, &[("kind", "ok")]),
            value(&s, telemetry::CONFIG_GENERATION, &[]),
        )
    };
    // Nothing changed: counted, and the serving set (generation 0) is kept.
    assert_eq!(reload(false), (1.0, 0.0));
    assert!(
        g.logs().iter().any(|l| l.contains("no file changed")),
        "{:?}",
        g.logs()
    );
    // One byte more: a new generation.
    let text = zone("http://127.0.0.1:9/", "http://127.0.0.1:9/") + "\n";
    std::fs::write(g.dir.path().join("zones/z.toml"), text).expect("write");
    assert_eq!(reload(true), (2.0, 1.0));
}

/// The label values of `label` over the samples of `name`.
fn label_values(s: &Scrape, name: &str, label: &str) -> Vec<String> {
    let mut v: Vec<String> = samples(s, name, &[])
        .iter()
        .filter_map(|x| x.labels.get(label).map(str::to_string))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[test]
fn reloads_that_rename_regions_and_targets_leave_no_ghost_series() {
    let backend = Backend::http();
    let zone_named = |i: usize| {
        format!(
            "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n\
             [pools.www.probe]\ninterval = \"100ms\"\ntimeout = \"50ms\"\nfall = 2\nrise = 1\n\
             [pools.www.regions.r{i}]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n",
            zone_head("gslb.example."),
            backend.url(&format!("/r{i}"))
        )
    };
    let g = Gslbd::start(&[("z.toml", &zone_named(0))]);
    let file = g.zones_dir().join("z.toml");
    let last = 20;
    for i in 0..=last {
        if i > 0 {
            std::fs::write(&file, zone_named(i)).expect("write zone");
            assert_eq!(g.api("POST", "/reload", None).0, 200);
        }
        let region = format!("r{i}");
        // Every kind of per-region series: gauges, answers, probe results, a transition.
        poll(Duration::from_secs(10), POLL, || {
            let s = scrape(&g);
            let up = value(&s, telemetry::HEALTH_REGION_UP, &[("region", &region)]);
            (up == 1.0).then_some(())
        })
        .expect("the region is up");
        g.dig("www.gslb.example A");
        let drain = format!("/regions/gslb.example/www/{region}/drain");
        assert_eq!(g.api("POST", &drain, None).0, 200);
        let s = scrape(&g);
        let r = [("region", region.as_str())];
        assert_eq!(value(&s, telemetry::HEALTH_REGION_OVERRIDDEN, &r), 1.0);
        assert_eq!(value(&s, telemetry::HEALTH_REGION_UP, &r), 0.0);
        assert_eq!(
            g.api("POST", &drain.replace("drain", "undrain"), None).0,
            200
        );
        scrape(&g);
    }
    // A series untouched for a second is dropped at the next scrape; live ones never are,
    // even when nothing changed them.
    std::thread::sleep(Duration::from_millis(1200));
    scrape(&g);
    std::thread::sleep(Duration::from_millis(1200));
    let s = scrape(&g);
    let current = vec![format!("r{last}")];
    for name in [
        telemetry::HEALTH_REGION_UP,
        telemetry::HEALTH_REGION_WEIGHT,
        telemetry::HEALTH_REGION_OVERRIDDEN,
        telemetry::DNS_ANSWERS_TOTAL,
        telemetry::HEALTH_TRANSITIONS_TOTAL,
    ] {
        assert_eq!(label_values(&s, name, "region"), current, "{name}");
    }
    assert_eq!(
        label_values(&s, telemetry::PROBE_RESULTS_TOTAL, "target"),
        vec![backend.url(&format!("/r{last}"))]
    );
    let r = [("region", current[0].as_str())];
    assert_eq!(value(&s, telemetry::DNS_ANSWERS_TOTAL, &r), 1.0);
    assert_eq!(value(&s, telemetry::HEALTH_TRANSITIONS_TOTAL, &r), 3.0);
    assert_eq!(
        value(&s, telemetry::CONFIG_RELOADS_TOTAL, &[("kind", "ok")]),
        last as f64
    );
    assert_eq!(
        samples(&s, telemetry::CUTOVER_WORST_CASE_SECONDS, &[]).len(),
        4,
        "one pool's detection, cutover, readmission and recovery"
    );
}

/// `(probes, probes at most 250 ms late)` from the lateness histogram of a raw scrape.
fn lateness_within_250ms(text: &str) -> (f64, f64) {
    let find = |prefix: &str| {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    (
        find("gslbd_probe_lateness_seconds_count"),
        find("gslbd_probe_lateness_seconds_bucket{kind=\"http\",le=\"0.25\"}"),
    )
}

#[test]
fn a_large_scrape_does_not_hold_up_the_probes() {
    let b = Backend::http();
    let probed = format!(
        "{}[pools.w]\ntype = \"A\"\n[pools.w.probe]\ninterval = \"100ms\"\ntimeout = \"50ms\"\n\
         [pools.w.regions.r]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        b.url("/")
    );
    // 20,000 static pools: a scrape of their gauges is most of a second of CPU in a debug build.
    let mut big = zone_head("big.example.");
    for i in 0..20_000 {
        big += &format!(
            "[pools.p{i}]\ntype = \"A\"\n[pools.p{i}.regions.r]\naddresses = [\"192.0.2.1\"]\n"
        );
    }
    let g = Gslbd::start(&[("z.toml", &probed), ("big.toml", &big)]);
    let admin = g.admin.clone().expect("admin");
    let start = std::time::Instant::now();
    for _ in 0..4 {
        let (code, _) = http(&admin, "GET", "/metrics", None);
        assert_eq!(code, 200);
    }
    let (_, text) = http(&admin, "GET", "/metrics", None);
    let (probes, on_time) = lateness_within_250ms(&text);
    let expected = start.elapsed().as_secs_f64() / 0.1;
    assert!(
        probes >= expected * 0.7,
        "{probes} probes in {:?} at a 100 ms interval",
        start.elapsed()
    );
    assert_eq!(
        on_time, probes,
        "probes started over 250 ms late during scrapes"
    );
}

#[test]
fn counters_of_what_a_reload_keeps_survive_it() {
    let (backend, spare) = (Backend::http(), Backend::http());
    let text = zone(&backend.url("/"), &spare.url("/"));
    let g = Gslbd::start(&[("z.toml", &text)]);
    poll(Duration::from_secs(10), POLL, || {
        (g.dig("api.gslb.example A").answers("A") == ["192.0.2.1"]).then_some(())
    })
    .expect("the primary is up");
    for _ in 0..5 {
        g.dig("api.gslb.example A");
    }
    let z = ("zone", "gslb.example.");
    let counts = |s: &Scrape| {
        (
            value(s, telemetry::DNS_QUERIES_TOTAL, &[z, ("qtype", "A")]),
            value(s, telemetry::DNS_ANSWERS_TOTAL, &[z, ("region", "primary")]),
            value(s, telemetry::PROBE_RESULTS_TOTAL, &[("outcome", "ok")]),
        )
    };
    let before = counts(&scrape(&g));
    assert!(before.0 >= 5.0 && before.1 >= 5.0, "{before:?}");
    // A reload that changes the file but keeps the zone, the pool, its regions and targets.
    std::fs::write(g.zones_dir().join("z.toml"), format!("{text}\n# edited\n")).expect("write");
    assert_eq!(g.api("POST", "/reload", None).0, 200);
    // Past the exporter's idle time, with scrapes in between.
    for _ in 0..3 {
        scrape(&g);
        std::thread::sleep(Duration::from_millis(700));
    }
    g.dig("api.gslb.example A");
    let after = counts(&scrape(&g));
    assert!(
        after.0 > before.0 && after.1 > before.1 && after.2 >= before.2,
        "counters went back across the reload: {before:?} -> {after:?}"
    );
}

#[test]
fn a_removed_region_is_gone_from_the_first_scrape_a_second_after_the_reload() {
    let backend = Backend::http();
    let with = |regions: &[&str]| {
        let mut z = format!(
            "{}\n[pools.www]\ntype = \"A\"\npolicy = \"all\"\n",
            zone_head("gslb.example.")
        );
        for (i, r) in regions.iter().enumerate() {
            z += &format!(
                "[pools.www.regions.{r}]\naddresses = [\"192.0.2.{}\"]\ncheck = \"{}\"\n",
                i + 1,
                backend.url("/")
            );
        }
        z
    };
    let g = Gslbd::start(&[("z.toml", &with(&["a", "b"]))]);
    g.dig("www.gslb.example A");
    scrape(&g);
    // Answers after that scrape, then a reload that removes region a.
    g.dig("www.gslb.example A");
    std::fs::write(g.zones_dir().join("z.toml"), with(&["b"])).expect("write zone");
    assert_eq!(g.api("POST", "/reload", None).0, 200);
    std::thread::sleep(Duration::from_millis(1200));
    let s = scrape(&g);
    assert_eq!(
        label_values(&s, telemetry::DNS_ANSWERS_TOTAL, "region"),
        vec!["b".to_string()],
        "the first scrape a second after the reload"
    );
}
