//! The Grafana dashboard and the Prometheus alert rules shipped in
//! `dashboards/` load, and name only metrics the gateway exports: a renamed
//! metric breaks this test, not a region's monitoring.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

/// Metric names a PromQL expression mentions (`esia_gate_*` and the
/// process's own `process_*`).
fn metrics_in(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_string = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_string = !in_string;
            word.clear();
            continue;
        }
        if !in_string && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if word.starts_with("esia_gate_") || word.starts_with("process_") {
            out.push(std::mem::take(&mut word));
        }
        word.clear();
    }
    out
}

fn exported(name: &str, declared: &[String]) -> bool {
    let family = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    declared.iter().any(|d| d == name || d == family)
}

fn panels(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = Vec::new();
    for p in v["panels"].as_array().into_iter().flatten() {
        out.push(p);
        out.extend(panels(p));
    }
    out
}

#[test]
fn the_dashboard_loads_and_every_query_names_an_exported_metric() {
    let path = dashboards().join("esia-gate.json");
    let text = std::fs::read_to_string(&path).expect("dashboards/esia-gate.json");
    let d: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|u| u.len() <= 40));
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 30));
    assert!(d["id"].is_null(), "an importable dashboard has no id");
    let vars = d["templating"]["list"].as_array().expect("variables");
    let ds = vars
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("the data source is a variable");
    assert_eq!(ds["query"], "prometheus");
    let ds_ref = format!("${{{}}}", ds["name"].as_str().expect("name"));

    let declared = esia_gate::telemetry::metrics::get().names();
    let mut ids = std::collections::HashSet::new();
    let mut queries = 0;
    let mut used = std::collections::BTreeSet::new();
    for p in panels(&d) {
        let id = p["id"].as_u64().expect("every panel has an id");
        assert!(ids.insert(id), "panel id {id} twice");
        assert!(p["gridPos"].is_object(), "panel {id} has a place");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], ds_ref,
            "panel {id} uses the data source variable"
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} queries something");
        for t in targets {
            let expr = t["expr"].as_str().expect("a PromQL expression");
            let names = metrics_in(expr);
            assert!(!names.is_empty(), "panel {id}: `{expr}` names no metric");
            for n in names {
                assert!(
                    exported(&n, &declared),
                    "panel {id}: `{n}` is not exported by the gateway"
                );
                used.insert(n);
            }
            queries += 1;
        }
    }
    assert!(queries >= 15, "{queries} queries");
    // What the issue asks the dashboard to show.
    for needed in [
        "esia_gate_adoption_accounts",
        "esia_gate_logins_total",
        "esia_gate_esia_errors_total",
        "esia_gate_request_duration_seconds_bucket",
        "esia_gate_upstream_response_duration_seconds_bucket",
        "esia_gate_policy_info",
        "esia_gate_policy_loaded_timestamp_seconds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
        "process_max_fds",
    ] {
        assert!(used.contains(needed), "the dashboard shows {needed}");
    }
}

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dashboards())
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is needed (apt-get install prometheus, or scripts/test): {e}")
        });
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_alert_rules_pass_promtool_and_fire_when_they_should() {
    let (ok, out) = promtool(&["check", "rules", "alerts.yml"]);
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(ok, "promtool test rules:\n{out}");
}

#[test]
fn the_alert_rules_name_only_exported_metrics() {
    let text = std::fs::read_to_string(dashboards().join("alerts.yml")).expect("alerts.yml");
    let declared = esia_gate::telemetry::metrics::get().names();
    let mut exprs = 0;
    for line in text.lines() {
        let Some(expr) = line.trim().strip_prefix("expr:") else {
            continue;
        };
        exprs += 1;
        for n in metrics_in(expr) {
            assert!(exported(&n, &declared), "`{n}` is not exported");
        }
    }
    assert!(exprs >= 8, "{exprs} alert expressions on one line each");
}

#[test]
fn metric_names_are_read_out_of_promql() {
    assert_eq!(
        metrics_in(
            "sum by (le) (rate(esia_gate_request_duration_seconds_bucket{route=\"esia_gate_x\"}[5m])) / up"
        ),
        vec!["esia_gate_request_duration_seconds_bucket"]
    );
    assert_eq!(
        metrics_in("max by (instance) (process_open_fds{job=~\"$job\"})"),
        vec!["process_open_fds"]
    );
    let declared = vec!["esia_gate_request_duration_seconds".to_string()];
    assert!(exported(
        "esia_gate_request_duration_seconds_bucket",
        &declared
    ));
    assert!(!exported("esia_gate_nothing", &declared));
}
