//! The shipped Prometheus alerting rules and Grafana dashboard (`dist/`), checked with the real
//! tools: `promtool check rules` and `promtool test rules` (Debian's `prometheus`, installed by
//! `tests/run`), and a real Prometheus scraping a real gslbd, which must run every dashboard
//! query, evaluate every rule without error and put a dead region's alert in pending.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gslbd::telemetry;
use serde_json::Value;

use crate::backend::{Backend, Mode};
use crate::harness::{Gslbd, poll, zone_head};

fn dist(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("dist")
        .join(path)
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool is installed (tests/run installs Debian's prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_alerting_rules_pass_promtool_check_and_their_unit_tests() {
    let rules = dist("prometheus/gslbd-alerts.yml");
    let text = promtool(&["check", "rules", rules.to_str().expect("utf8")]);
    assert!(text.contains("SUCCESS: 11 rules found"), "{text}");
    // The unit tests name each alert firing (and not firing) on synthetic series.
    let tests = dist("prometheus/gslbd-alerts.test.yml");
    let text = promtool(&["test", "rules", tests.to_str().expect("utf8")]);
    assert!(text.contains("SUCCESS"), "{text}");
    for alert in [
        "GslbdRegionDown",
        "GslbdPoolAllDown",
        "GslbdFallbackShareHigh",
        "GslbdProbesStale",
        "GslbdReloadFailed",
        "GslbdOverrideLeftInPlace",
        "GslbdClusterPeerStale",
        "GslbdClusterIsolated",
        "GslbdClusterDisagreement",
        "GslbdSignaturesExpiring",
        "GslbdSigningFailed",
    ] {
        let tested = std::fs::read_to_string(&tests).expect("tests");
        assert!(
            tested.contains(&format!("alertname: {alert}")),
            "{alert} has a unit test"
        );
    }
}

fn dashboard() -> Value {
    let text = std::fs::read_to_string(dist("grafana/gslbd-dashboard.json")).expect("dashboard");
    serde_json::from_str(&text).expect("the dashboard is JSON")
}

/// Sets the dashboard's variables to match everything.
fn unvariable(expr: &str) -> String {
    ["$instance", "$zone", "$pool"]
        .iter()
        .fold(expr.to_string(), |e, v| e.replace(v, ".*"))
        .replace("$__rate_interval", "1m")
}

/// The template variables' `label_values(SELECTOR, LABEL)` queries as (selector, label).
fn variable_queries() -> Vec<(String, String)> {
    dashboard()["templating"]["list"]
        .as_array()
        .expect("variables")
        .iter()
        .filter_map(|v| v["definition"].as_str())
        .map(|q| {
            let inner = q
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
                .unwrap_or_else(|| panic!("label_values query: {q}"));
            let (selector, label) = inner.rsplit_once(',').expect("selector, label");
            (unvariable(selector.trim()), label.trim().to_string())
        })
        .collect()
}

/// Every `expr` of the dashboard with its variables set to match everything.
fn dashboard_queries() -> Vec<(String, String)> {
    dashboard()["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_string();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |t| {
                    let expr = t["expr"].as_str().expect("expr").to_string();
                    (title.clone(), expr)
                })
        })
        .map(|(title, expr)| (title, unvariable(&expr)))
        .collect()
}

/// The gslbd metric names a query uses (histogram suffixes removed).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(i) = rest.find("gslbd_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        names.push(base.to_string());
        rest = &tail[end..];
    }
    names
}

/// A Prometheus server, stopped (by PID) when dropped.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Scrapes `admin` every second and evaluates the shipped rules every second.
    fn start(admin: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("port");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: gslbd\n    static_configs:\n      - targets: [\"{admin}\"]\n",
                dist("prometheus/gslbd-alerts.yml").display()
            ),
        )
        .expect("config");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (tests/run installs Debian's prometheus)");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// `GET /api/v1/PATH` with the query parameters; the parsed JSON (Null when unreachable).
    fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let mut cmd = Command::new("curl");
        cmd.args(["-sG", "--max-time", "10"]);
        for (k, v) in params {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = cmd
            .arg(format!("{}/api/v1/{path}", self.url))
            .output()
            .expect("curl");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// The result vector of an instant query; panics on a query Prometheus rejects.
    fn query(&self, expr: &str) -> Vec<Value> {
        let v = self.api("query", &[("query", expr)]);
        assert_eq!(v["status"], "success", "{expr}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

#[test]
fn every_dashboard_query_and_alert_rule_runs_against_a_real_gslbd() {
    let good = Backend::http();
    let mut dead = Backend::http();
    dead.set(Mode::Refuse);
    let zone = format!(
        "{}\n[pools.www]\ntype = \"A\"\npolicy = \"weighted\"\n\
         [pools.www.probe]\ninterval = \"200ms\"\ntimeout = \"100ms\"\nfall = 2\nrise = 2\n\
         [pools.www.regions.a]\naddresses = [\"192.0.2.1\"]\ncheck = \"{}\"\n\
         [pools.www.regions.b]\naddresses = [\"192.0.2.2\"]\ncheck = \"{}\"\n",
        zone_head("gslb.example."),
        good.url("/"),
        dead.url("/")
    );
    let g = Gslbd::start(&[("z.toml", &zone)]);
    let admin = g.admin.clone().expect("admin");
    let prom = Prometheus::start(&admin);
    // Enough scrapes for rate() over the dashboard's window, with queries in between.
    let scraped = poll(Duration::from_secs(30), Duration::from_millis(500), || {
        for _ in 0..5 {
            g.dig("www.gslb.example A");
        }
        let v = prom.api(
            "query",
            &[("query", "count_over_time(up{job=\"gslbd\"}[1m])")],
        );
        let n = v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<u32>().ok())
            .unwrap_or(0);
        (n >= 5).then_some(())
    });
    assert!(scraped.is_some(), "Prometheus scraped gslbd");

    let queries = dashboard_queries();
    assert!(queries.len() >= 15, "{queries:?}");
    // The cluster has its panels: peers' freshness, isolation, disagreement.
    for metric in [
        telemetry::cluster::CLUSTER_PEER_FRESH,
        telemetry::cluster::CLUSTER_ISOLATED,
        telemetry::cluster::CLUSTER_REGION_DISAGREEMENT,
    ] {
        assert!(
            queries
                .iter()
                .any(|(_, e)| metric_names(e).iter().any(|m| m == metric)),
            "no panel shows {metric}"
        );
    }
    let mut empty = Vec::new();
    for (title, expr) in &queries {
        for name in metric_names(expr) {
            assert!(
                telemetry::ALL.contains(&name.as_str()),
                "panel {title:?} uses {name}, which gslbd does not export"
            );
        }
        if prom.query(expr).is_empty() {
            empty.push(title.as_str());
        }
    }
    // The variables list this instance, zone and pool.
    let variables = variable_queries();
    assert_eq!(variables.len(), 3);
    for (selector, label) in variables {
        let found = prom.query(&selector);
        assert!(
            found
                .iter()
                .any(|s| s["metric"][label.as_str()].is_string()),
            "variable over {selector} finds a {label}"
        );
    }
    // Only panels of things that did not happen here may be empty.
    let may_be_empty = [
        "Transitions",
        "Overrides in place",
        "Answers with no region serving",
        "Rate-limited responses",
        "Reloads",
        // This gslbd has no [cluster] (clusterpeers.rs reads these series from a cluster).
        "Cluster peers heard from",
        "Cluster isolated",
        "Regions the instances disagree on",
    ];
    for title in &empty {
        assert!(
            may_be_empty.contains(title),
            "panel {title:?} showed nothing"
        );
    }

    // Every rule evaluates cleanly on the real series, and the dead region's alert is pending.
    let rules = prom.api("rules", &[]);
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(groups.len(), 1, "{rules}");
    let pending = poll(Duration::from_secs(20), Duration::from_millis(500), || {
        let rules = prom.api("rules", &[]);
        let all = rules["data"]["groups"][0]["rules"].as_array().cloned()?;
        for r in &all {
            assert_eq!(r["health"], "ok", "rule {}: {}", r["name"], r["lastError"]);
        }
        let alerts = prom.query("ALERTS{alertname=\"GslbdRegionDown\"}");
        alerts
            .iter()
            .find(|a| a["metric"]["region"] == "b" && a["metric"]["alertstate"] == "pending")
            .cloned()
    });
    assert!(pending.is_some(), "GslbdRegionDown is pending for region b");
    let others = prom.query("ALERTS{alertname=\"GslbdRegionDown\", region=\"a\"}");
    assert!(
        others.is_empty(),
        "the healthy region does not alert: {others:?}"
    );
}
