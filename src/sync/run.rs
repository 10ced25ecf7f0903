//! One reconciliation of one workspace: fetch -> admit -> load -> plan -> guard -> apply.
//! The provider and the directory are the edges; everything between is pure.

use super::{GuardTrip, Plan, admit, guard, plan};
use crate::config::{SafetyConfig, WorkspaceConfig};
use crate::directory::{DirectoryError, RunOutcome, RunRecord, Store, WorkspaceKey};
use chrono::Utc;
use orgsync_core::Provider;
use serde::Serialize;

/// How a run was asked for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// `cli`, `schedule`, `signal`, `webhook`, `start`.
    pub trigger: String,
    pub dry_run: bool,
    /// Apply even if a guard trips (a human has read the plan).
    pub force: bool,
    /// Recorded as the audit events' actor.
    pub actor: String,
    /// When the fetch must be over.
    pub deadline: Option<std::time::Instant>,
    /// Cancelled when the daemon stops.
    pub cancel: Option<orgsync_core::http::CancellationToken>,
}

impl RunOptions {
    pub fn new(trigger: &str) -> Self {
        RunOptions {
            trigger: trigger.to_string(),
            dry_run: false,
            force: false,
            actor: "sync".to_string(),
            deadline: None,
            cancel: None,
        }
    }
}

/// What a run did, for the CLI, the logs and the metrics.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub workspace: String,
    pub trigger: String,
    pub outcome: RunOutcome,
    pub run_id: Option<i64>,
    pub plan: Plan,
    pub guard_trips: Vec<GuardTrip>,
    pub forced: bool,
    pub error: Option<String>,
    pub requests: u64,
    pub requests_not_modified: u64,
    pub duration_seconds: f64,
    /// Active members after the run (or now, when nothing was applied).
    pub active_members: usize,
    pub teams_unavailable: Option<String>,
}

/// Runs one reconciliation. Never panics and never returns early without recording the run:
/// every outcome, failures included, lands in `sync_runs`.
pub async fn sync_workspace(
    store: &Store,
    ws: &WorkspaceConfig,
    safety: &SafetyConfig,
    provider: &dyn Provider,
    options: &RunOptions,
) -> Result<RunReport, DirectoryError> {
    let started = Utc::now();
    let clock = std::time::Instant::now();
    let key = store
        .ensure_workspace(
            &ws.name,
            ws.provider.as_str(),
            &ws.host(),
            &ws.account,
            started,
        )
        .await?;
    let mut report = RunReport {
        workspace: ws.name.clone(),
        trigger: options.trigger.clone(),
        outcome: RunOutcome::Failed,
        run_id: None,
        plan: Plan {
            workspace: ws.name.clone(),
            changes: Vec::new(),
        },
        guard_trips: Vec::new(),
        forced: false,
        error: None,
        requests: 0,
        requests_not_modified: 0,
        duration_seconds: 0.0,
        active_members: 0,
        teams_unavailable: None,
    };

    let mut policy = ws.fetch_policy();
    policy.deadline = options.deadline;
    policy.cancel = options.cancel.clone();
    let snapshot = match provider.fetch(&policy).await {
        Ok(s) => s,
        Err(e) => {
            // Could not read is never removed: record the failure, touch nothing.
            report.error = Some(e.to_string());
            let current = store.load_current(&key, &ws.admin_role).await?;
            report.active_members = current.active_synced();
            finish(store, &key, &mut report, options, started, clock, None).await?;
            return Ok(report);
        }
    };
    report.requests = snapshot.requests.total;
    report.requests_not_modified = snapshot.requests.not_modified;
    report.teams_unavailable = snapshot.teams_unavailable.clone();
    if !options.dry_run {
        store
            .set_teams_status(&key, snapshot.teams_unavailable.as_deref())
            .await?;
    }

    let desired = admit(&snapshot, ws);
    let current = store.load_current(&key, &ws.admin_role).await?;
    report.plan = plan(&ws.name, &current, &desired);
    report.guard_trips = guard(&report.plan, &current, &desired, safety, &ws.admin_role);
    report.active_members = current.active_synced();

    if options.dry_run {
        report.outcome = RunOutcome::DryRun;
    } else if !report.guard_trips.is_empty() && !options.force {
        report.outcome = RunOutcome::Aborted;
        report.error = Some(
            report
                .guard_trips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        );
    } else {
        report.forced = !report.guard_trips.is_empty();
        report.outcome = RunOutcome::Ok;
        let record = record_of(&report, options, started);
        match store.apply(&key, &report.plan, &record).await {
            Ok(id) => {
                report.run_id = Some(id);
                report.duration_seconds = clock.elapsed().as_secs_f64();
                report.active_members = desired_active(&current, &report.plan);
                return Ok(report);
            }
            Err(e) => {
                report.outcome = RunOutcome::Failed;
                report.error = Some(format!("apply failed and was rolled back: {e}"));
            }
        }
    }
    let plan = report.plan.clone();
    finish(
        store,
        &key,
        &mut report,
        options,
        started,
        clock,
        Some(&plan),
    )
    .await?;
    Ok(report)
}

fn desired_active(current: &super::Current, plan: &Plan) -> usize {
    let added = plan.count("onboard") + plan.count("reactivate");
    (current.active_synced() + added).saturating_sub(plan.count("offboard"))
}

fn record_of(
    report: &RunReport,
    options: &RunOptions,
    started: chrono::DateTime<Utc>,
) -> RunRecord {
    RunRecord {
        trigger: options.trigger.clone(),
        started_at: started,
        finished_at: Utc::now(),
        outcome: report.outcome,
        requests: report.requests,
        requests_not_modified: report.requests_not_modified,
        error: report.error.clone(),
        actor: options.actor.clone(),
    }
}

async fn finish(
    store: &Store,
    key: &WorkspaceKey,
    report: &mut RunReport,
    options: &RunOptions,
    started: chrono::DateTime<Utc>,
    clock: std::time::Instant,
    plan: Option<&Plan>,
) -> Result<(), DirectoryError> {
    let record = record_of(report, options, started);
    let detail = serde_json::json!({
        "error": report.error,
        "guard_trips": report.guard_trips,
    });
    report.run_id = Some(store.record_run(key, &record, plan, detail).await?);
    report.duration_seconds = clock.elapsed().as_secs_f64();
    Ok(())
}
