//! The shipped monitoring: the alert rules pass promtool's checks and their unit tests, and the
//! rules and the Grafana dashboard name only metrics that orgsync exports.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

use orgsync::metrics::Metrics;
use std::collections::BTreeSet;
use std::process::Command;

const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/prometheus/orgsync-rules.yml"
);
const RULE_TESTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/prometheus/orgsync-rules.test.yml"
);
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/contrib/grafana/orgsync-dashboard.json"
);

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is missing ({e}): apt-get install prometheus (.ci/run installs it)")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

#[test]
fn alert_rules_pass_promtool_check_and_their_unit_tests() {
    let checked = promtool(&["check", "rules", RULES]);
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", RULE_TESTS]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// The metric families a running daemon exports, every series touched once.
fn exported() -> BTreeSet<String> {
    let m = Metrics::new();
    m.declare_workspace("acme", Some(3600.0));
    m.declare_webhooks("github");
    m.sync_duration.with_label_values(&["acme"]).observe(1.0);
    m.webhook_latency
        .with_label_values(&["github"])
        .observe(1.0);
    m.last_success.with_label_values(&["acme"]).set(1.0);
    m.members.with_label_values(&["acme", "active"]).set(1);
    m.provider_requests
        .with_label_values(&["github", "acme", "200"])
        .inc();
    m.rate_limit_remaining.with_label_values(&["acme"]).set(1);
    let mut names = BTreeSet::new();
    for line in m.render().lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            names.insert(name.to_string());
            // Histograms are queried by their series.
            if rest.ends_with(" histogram") {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    names
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("orgsync_") {
        let start = i + at;
        let preceded_by_word =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = text[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(text.len(), |n| start + n);
        if !preceded_by_word {
            names.insert(text[start..end].to_string());
        }
        i = end;
    }
    names
}

#[test]
fn rules_and_dashboard_query_only_exported_metrics() {
    let exported = exported();
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(DASHBOARD).expect("dashboard"))
            .expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("an expr").to_string());
        }
    }
    exprs.push(
        dashboard["templating"]["list"][1]["definition"]
            .as_str()
            .expect("the workspace variable")
            .to_string(),
    );
    assert!(exprs.len() >= 10, "{exprs:?}");
    let rules = std::fs::read_to_string(RULES).expect("rules");
    let mut used = metric_names(&rules);
    for e in &exprs {
        used.extend(metric_names(e));
    }
    assert!(used.len() >= 10, "{used:?}");
    let unknown: Vec<&String> = used.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "queried but not exported: {unknown:?}; exported: {exported:?}"
    );
}

#[test]
fn every_series_of_a_configured_workspace_exists_at_zero_before_anything_happened() {
    let m = Metrics::new();
    m.declare_workspace("acme", Some(86_400.0));
    m.declare_webhooks("gitlab");
    let text = m.render();
    for line in [
        "orgsync_sync_runs_total{outcome=\"failed\",trigger=\"schedule\",workspace=\"acme\"} 0",
        "orgsync_sync_runs_total{outcome=\"aborted\",trigger=\"start\",workspace=\"acme\"} 0",
        "orgsync_guard_trips_total{guard=\"offboard_threshold\",workspace=\"acme\"} 0",
        "orgsync_changes_total{kind=\"offboard\",workspace=\"acme\"} 0",
        "orgsync_verdict_confirmations_total{answer=\"contradicted\",workspace=\"acme\"} 0",
        "orgsync_webhooks_received_total{outcome=\"bad_signature\",provider=\"gitlab\"} 0",
        "orgsync_schedule_period_seconds{workspace=\"acme\"} 86400",
        "orgsync_workspace_held{workspace=\"acme\"} 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
}
