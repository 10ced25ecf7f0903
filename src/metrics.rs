//! The Prometheus metrics of the design, prefixed `orgsync_`, in base units, with no personal
//! data in labels. Served as Prometheus text format by the daemon's `/metrics`.

use orgsync_core::http::{HttpObserver, RateLimitEvent, RequestEvent};
use prometheus::{
    Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// Every trigger a daemon run can have (`cli` runs are not the daemon's).
pub const TRIGGERS: [&str; 4] = ["schedule", "signal", "start", "webhook"];
/// Every run outcome.
pub const OUTCOMES: [&str; 5] = ["ok", "dry_run", "aborted", "failed", "continuing"];
/// Every answer of a verdict confirmation.
pub const VERDICT_ANSWERS: [&str; 2] = ["confirmed", "contradicted"];
/// Every outcome of a webhook delivery.
pub const WEBHOOK_OUTCOMES: [&str; 10] = [
    "accepted",
    "duplicate",
    "bad_signature",
    "too_large",
    "unknown_workspace",
    "ignored",
    "ping",
    "no_secret",
    "bad_payload",
    "bad_request",
];

/// Every metric orgsync exports, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `orgsync_sync_runs_total{workspace, trigger, outcome}`: runs, by [`TRIGGERS`] and
    /// [`OUTCOMES`].
    pub sync_runs: IntCounterVec,
    /// `orgsync_sync_duration_seconds{workspace}`: how long runs take, in seconds.
    pub sync_duration: HistogramVec,
    /// `orgsync_last_success_timestamp_seconds{workspace}`: Unix time of the last successful run.
    pub last_success: GaugeVec,
    /// `orgsync_members{workspace, state}`: directory memberships per membership state.
    pub members: IntGaugeVec,
    /// `orgsync_changes_total{workspace, kind}`: applied changes per [`crate::sync::ChangeKind`].
    pub changes: IntCounterVec,
    /// `orgsync_guard_trips_total{workspace, guard}`: runs refused, per
    /// [`crate::sync::guard::GUARD_LABELS`].
    pub guard_trips: IntCounterVec,
    /// Destructive verdicts by answer of the provider's per-user read: `confirmed`, or
    /// `contradicted` (not applied; decided again next run).
    pub verdict_confirmations: IntCounterVec,
    /// `orgsync_provider_requests_total{provider, workspace, status}`: provider API requests by
    /// HTTP status: `304` for an answer served from the cache, `error` when none arrived.
    pub provider_requests: IntCounterVec,
    /// `orgsync_provider_rate_limit_remaining{workspace}`: requests left in the provider's
    /// rate-limit window, as its last answer said.
    pub rate_limit_remaining: IntGaugeVec,
    /// `orgsync_webhooks_received_total{provider, outcome}`: deliveries by
    /// [`WEBHOOK_OUTCOMES`].
    pub webhooks_received: IntCounterVec,
    /// `orgsync_webhook_to_apply_seconds{provider}`: from a webhook's arrival to the end of the
    /// run it triggered, in seconds.
    pub webhook_latency: HistogramVec,
    /// `orgsync_config_reload_failures_total`: SIGHUP reloads refused because the file was invalid.
    pub config_reload_failures: IntCounter,
    /// `orgsync_teams_unavailable{workspace}`: 1 when the last run could not read the provider's
    /// teams (synced teams were kept as they were).
    pub teams_unavailable: IntGaugeVec,
    /// `orgsync_workspace_paused{workspace}`: 1 while a GitHub App installation event keeps the
    /// workspace paused.
    pub workspace_paused: IntGaugeVec,
    /// `orgsync_build_info{version}`: always 1; the label is the running orgsync's version.
    pub build_info: IntGaugeVec,
    /// Downstream deliveries by target and outcome (`delivered`, `failed`, `dead_lettered`).
    pub downstream_deliveries: IntCounterVec,
    /// Downstream events by target and state (`queued`, `dead`).
    pub downstream_events: IntGaugeVec,
    /// 1 while a workspace is held (a guard refused its plan; waiting for `orgsync approve`).
    pub workspace_held: IntGaugeVec,
    /// When this process started (counters restart from 0 then).
    pub start_time: Gauge,
    /// The period of each workspace's schedule: "no success for longer than this" alerts.
    pub schedule_period: GaugeVec,
}

fn must<T>(r: Result<T, prometheus::Error>) -> T {
    // Metric definitions are constants of this file; a failure is a programming error that the
    // unit test below catches.
    r.expect("metric definitions are valid")
}

impl Metrics {
    /// Registers every metric in a fresh registry and sets `build_info` and `start_time`.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("orgsync".to_string()), None)
            .expect("a valid registry prefix");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(c.clone())));
            c
        };
        let int_gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = must(IntGaugeVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(g.clone())));
            g
        };
        let histogram = |name: &str, help: &str, labels: &[&str], buckets: Vec<f64>| {
            let h = must(HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets),
                labels,
            ));
            must(registry.register(Box::new(h.clone())));
            h
        };
        let last_success = must(GaugeVec::new(
            Opts::new(
                "last_success_timestamp_seconds",
                "Unix time of the last successful sync of a workspace.",
            ),
            &["workspace"],
        ));
        must(registry.register(Box::new(last_success.clone())));
        let start_time = must(Gauge::new(
            "start_time_seconds",
            "Unix time at which this orgsync process started; counters restart from 0 then.",
        ));
        must(registry.register(Box::new(start_time.clone())));
        start_time.set(chrono::Utc::now().timestamp() as f64);
        let schedule_period = GaugeVec::new(
            Opts::new(
                "schedule_period_seconds",
                "Seconds between two scheduled runs of a workspace (for staleness alerts).",
            ),
            &["workspace"],
        );
        let schedule_period = must(schedule_period);
        must(registry.register(Box::new(schedule_period.clone())));
        let config_reload_failures = must(IntCounter::new(
            "config_reload_failures_total",
            "Configuration reloads (SIGHUP) refused because the file was invalid.",
        ));
        must(registry.register(Box::new(config_reload_failures.clone())));
        let metrics = Metrics {
            sync_runs: counter(
                "sync_runs_total",
                "Sync runs by workspace, trigger and outcome.",
                &["workspace", "trigger", "outcome"],
            ),
            sync_duration: histogram(
                "sync_duration_seconds",
                "Duration of sync runs.",
                &["workspace"],
                vec![0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0],
            ),
            last_success,
            members: int_gauge(
                "members",
                "Directory memberships by workspace and state.",
                &["workspace", "state"],
            ),
            changes: counter(
                "changes_total",
                "Applied changes by workspace and kind.",
                &["workspace", "kind"],
            ),
            guard_trips: counter(
                "guard_trips_total",
                "Runs refused by a guard.",
                &["workspace", "guard"],
            ),
            verdict_confirmations: counter(
                "verdict_confirmations_total",
                "Destructive verdicts (offboards, team-membership removals) put to the provider's per-user read, by answer.",
                &["workspace", "answer"],
            ),
            provider_requests: counter(
                "provider_requests_total",
                "Provider API requests by status; 304 (served from cache) counted apart.",
                &["provider", "workspace", "status"],
            ),
            rate_limit_remaining: int_gauge(
                "provider_rate_limit_remaining",
                "Requests left in the provider's rate-limit window.",
                &["workspace"],
            ),
            webhooks_received: counter(
                "webhooks_received_total",
                "Webhook deliveries by provider and outcome.",
                &["provider", "outcome"],
            ),
            webhook_latency: histogram(
                "webhook_to_apply_seconds",
                "Time from a webhook's arrival to the end of the run it triggered.",
                &["provider"],
                vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0],
            ),
            config_reload_failures,
            teams_unavailable: int_gauge(
                "teams_unavailable",
                "1 when the provider's teams could not be read in the last run (synced teams kept).",
                &["workspace"],
            ),
            workspace_paused: int_gauge(
                "workspace_paused",
                "1 while a GitHub App installation event keeps the workspace paused.",
                &["workspace"],
            ),
            build_info: int_gauge("build_info", "The running orgsync's version.", &["version"]),
            downstream_deliveries: counter(
                "downstream_deliveries_total",
                "Downstream delivery attempts by target and outcome.",
                &["target", "outcome"],
            ),
            downstream_events: int_gauge(
                "downstream_events",
                "Downstream events waiting (queued) or dead-lettered (dead) per target.",
                &["target", "state"],
            ),
            workspace_held: int_gauge(
                "workspace_held",
                "1 while a guard holds the workspace's plan for a human (orgsync plans show / approve).",
                &["workspace"],
            ),
            start_time,
            schedule_period,
            registry,
        };
        metrics
            .build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        metrics
    }

    /// Creates every series of a configured workspace at 0, so that `increase()` alerts see the
    /// first failure (a series born at 1 has no increase), and records its schedule's period.
    pub fn declare_workspace(&self, workspace: &str, schedule_period_seconds: Option<f64>) {
        for trigger in TRIGGERS {
            for outcome in OUTCOMES {
                self.sync_runs
                    .with_label_values(&[workspace, trigger, outcome]);
            }
        }
        for kind in crate::sync::ChangeKind::ALL {
            self.changes.with_label_values(&[workspace, kind.as_str()]);
        }
        for guard in crate::sync::guard::GUARD_LABELS {
            self.guard_trips.with_label_values(&[workspace, guard]);
        }
        for answer in VERDICT_ANSWERS {
            self.verdict_confirmations
                .with_label_values(&[workspace, answer]);
        }
        self.teams_unavailable.with_label_values(&[workspace]);
        self.workspace_held.with_label_values(&[workspace]);
        if let Some(period) = schedule_period_seconds {
            self.schedule_period
                .with_label_values(&[workspace])
                .set(period);
        }
    }

    /// Creates every webhook series of a provider at 0.
    pub fn declare_webhooks(&self, provider: &str) {
        for outcome in WEBHOOK_OUTCOMES {
            self.webhooks_received
                .with_label_values(&[provider, outcome]);
        }
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpObserver for Metrics {
    fn request_finished(&self, event: &RequestEvent<'_>) {
        let status = match (event.from_cache, event.status) {
            (true, _) => "304".to_string(),
            (false, Some(s)) => s.to_string(),
            (false, None) => "error".to_string(),
        };
        self.provider_requests
            .with_label_values(&[event.provider.as_str(), event.workspace, &status])
            .inc();
    }

    fn rate_limit_observed(&self, event: &RateLimitEvent<'_>) {
        self.rate_limit_remaining
            .with_label_values(&[event.workspace])
            .set(i64::try_from(event.remaining).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_family_with_the_prefix() {
        let m = Metrics::new();
        m.sync_runs
            .with_label_values(&["acme", "schedule", "ok"])
            .inc();
        m.provider_requests
            .with_label_values(&["github", "acme", "304"])
            .inc();
        let text = m.render();
        assert!(
            text.contains(
                "orgsync_sync_runs_total{outcome=\"ok\",trigger=\"schedule\",workspace=\"acme\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("orgsync_provider_requests_total{provider=\"github\",status=\"304\",workspace=\"acme\"} 1"));
        assert!(text.contains("orgsync_build_info{version="));
    }
}
