//! Runs: the writer of `sync_runs`, every run recorded (applied, dry, aborted, failed) with its
//! audit event, and the start markers that turn a killed run into a failed one.

use super::error::{as_i64, swallow};
use super::tables::audit::Event;
use super::{DirectoryError, Store, WorkspaceKey};
use crate::sync::plan::{ChangeKind, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The plan was applied (possibly with no changes).
    Ok,
    /// The plan was computed and recorded, not applied.
    DryRun,
    /// A guard refused the plan; nothing was applied.
    Aborted,
    /// The run failed (provider, directory or configuration error); nothing was applied.
    Failed,
}

impl RunOutcome {
    /// The text stored in `sync_runs.outcome` and used in the `run_<outcome>` audit action.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::DryRun => "dry_run",
            RunOutcome::Aborted => "aborted",
            RunOutcome::Failed => "failed",
        }
    }
}

/// What is recorded about a run in `sync_runs`.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// What started the run: `schedule`, `webhook`, `cli`, `signal`, `start`, `resume`, `demo`.
    pub trigger: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: RunOutcome,
    /// HTTP requests the run made to the provider.
    pub requests: u64,
    /// Of those, the ones answered `304 Not Modified` from the cache's ETag.
    pub requests_not_modified: u64,
    /// Why the run aborted or failed; `None` when it succeeded.
    pub error: Option<String>,
    /// Who or what acts: `sync` for runs, the Unix user for CLI changes.
    pub actor: String,
}

impl RunRecord {
    /// The run's audit event, about the workspace.
    pub(super) fn event<'a>(
        &'a self,
        ws: &'a WorkspaceKey,
        run_id: i64,
        action: &'a str,
        detail: &serde_json::Value,
    ) -> Event<'a> {
        Event {
            workspace_id: Some(ws.id),
            run_id: Some(run_id),
            at: self.finished_at,
            actor: &self.actor,
            action,
            subject: &ws.name,
            detail: detail.to_string(),
        }
    }
}

impl Store {
    /// Marks a run of `workspace` as started (outcome `running`, `error` naming the replica), so
    /// that a run whose process is killed still leaves a record: the next start turns it into a
    /// failed run ([`Store::fail_interrupted_runs`]). `None` for a workspace never synced yet.
    /// [`Store::recent_runs`] does not list these markers.
    pub async fn mark_run_started(
        &self,
        workspace: &str,
        trigger: &str,
        replica: &str,
    ) -> Result<Option<i64>, DirectoryError> {
        let note = format!("running on {replica}");
        on_conn!(self, |c, m| m::mark_started(c, workspace, trigger, &note)
            .await)
    }

    /// Removes a run's start marker once the run recorded itself.
    pub async fn clear_run_marker(&self, id: i64) {
        let cleared: Result<(), DirectoryError> =
            async { in_tx!(self, |c, m| m::clear_marker(c, id).await) }.await;
        swallow(cleared, "cannot clear the run marker")
    }

    /// Turns start markers into failed runs with `reason`: those of `workspace` (or all), left
    /// by a replica whose name starts with `replica_prefix`, or started before `stale_before`.
    /// Returns how many.
    pub async fn fail_interrupted_runs(
        &self,
        workspace: Option<&str>,
        replica_prefix: &str,
        stale_before: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<u64, DirectoryError> {
        let prefix = format!("running on {replica_prefix}");
        on_conn!(self, |c, m| m::fail_interrupted(
            c,
            workspace,
            &prefix,
            stale_before,
            reason
        )
        .await)
    }
}

forward! {
    /// Records a run that applied nothing (dry run, aborted, failed), with an audit event that
    /// carries the plan (if any) so a human can read what was refused.
    in_tx record_run => record(
        ws: &WorkspaceKey, run: &RunRecord, plan: Option<&Plan>, detail: serde_json::Value
    ) -> Result<i64, DirectoryError>;
}

per_backend! {
    /// The run's row; returns its id.
    pub async fn insert(
        c: &mut Conn,
        ws: &WorkspaceKey,
        run: &RunRecord,
        plan: Option<&Plan>,
    ) -> Result<i64, DirectoryError> {
        let tally = plan.map(Plan::tally).unwrap_or_default();
        let count = |k: ChangeKind| as_i64(tally[k] as u64);
        Ok(sql! { scalar c, fetch_one,
            "INSERT INTO sync_runs (workspace_id, trigger, started_at, finished_at, outcome,
                onboarded, offboarded, reactivated, changes, requests,
                requests_not_modified, error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING id",
            ws.id, &run.trigger, run.started_at, run.finished_at, run.outcome.as_str(), count(ChangeKind::Onboard), count(ChangeKind::Offboard), count(ChangeKind::Reactivate), plan.map_or(0, |p| as_i64(p.changes.len() as u64)), as_i64(run.requests), as_i64(run.requests_not_modified), &run.error })
    }

    pub async fn record(
        c: &mut Conn,
        ws: &WorkspaceKey,
        run: &RunRecord,
        plan: Option<&Plan>,
        detail: serde_json::Value,
    ) -> Result<i64, DirectoryError> {
        let id = insert(c, ws, run, plan).await?;
        let mut detail = detail;
        if let (Some(p), Some(obj)) = (plan, detail.as_object_mut()) {
            obj.insert(
                "plan".to_string(),
                serde_json::to_value(p).unwrap_or(serde_json::Value::Null),
            );
        }
        let action = format!("run_{}", run.outcome.as_str());
        db::audit::write(c, run.event(ws, id, &action, &detail)).await?;
        Ok(id)
    }

    pub async fn mark_started(
        c: &mut Conn,
        workspace: &str,
        trigger: &str,
        note: &str,
    ) -> Result<Option<i64>, DirectoryError> {
        Ok(sql! { scalar c, fetch_optional,
            "INSERT INTO sync_runs (workspace_id, trigger, started_at, outcome, error)
             SELECT id, $2, $3, 'running', $4 FROM workspaces WHERE name = $1
             RETURNING id",
            workspace, trigger, Utc::now(), note })
    }

    /// Deletes the marker and, in the same transaction, the logs' references to it: they have
    /// no foreign key to null them (migration 0011), and a run id must not dangle.
    pub async fn clear_marker(c: &mut Conn, id: i64) -> Result<(), DirectoryError> {
        let deleted = sql! { c, execute, "DELETE FROM sync_runs WHERE id = $1 AND outcome = 'running'", id };
        if deleted.rows_affected() > 0 {
            sql! { c, execute, "UPDATE audit_events SET run_id = NULL WHERE run_id = $1", id };
            sql! { c, execute, "UPDATE outbox SET run_id = NULL WHERE run_id = $1", id };
        }
        Ok(())
    }

    pub async fn fail_interrupted(
        c: &mut Conn,
        workspace: Option<&str>,
        prefix: &str,
        stale_before: Option<DateTime<Utc>>,
        reason: &str,
    ) -> Result<u64, DirectoryError> {
        Ok((sql! { c, execute,
            "UPDATE sync_runs SET outcome = 'failed', finished_at = $1, error = $2
             WHERE outcome = 'running'
               AND ($3 IS NULL OR workspace_id IN (SELECT id FROM workspaces WHERE name = $3))
               AND (substr(error, 1, length($4)) = $4 OR ($5 IS NOT NULL AND started_at < $5))",
            Utc::now(), reason, workspace, prefix, stale_before })
        .rows_affected())
    }
}
