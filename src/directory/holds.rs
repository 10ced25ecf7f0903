//! Held plans (a plan a guard refused, kept for a human: `plans show`, `approve`) and the
//! evidence of the last fetch (`explain`).

use super::{DirectoryError, RunRecord, Store, WorkspaceKey};
use crate::sync::plan::Plan;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use serde::Serialize;
use std::io::Read;

/// A plan a guard refused, held for a human (`plans show`, `approve`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HoldRow {
    /// The held workspace's name.
    pub workspace: String,
    /// SHA-256 of the held plan's changes: a later run that plans the same is "still held".
    pub digest: String,
    /// The held plan, as JSON.
    pub plan: String,
    /// The guard trips that refused it, as JSON.
    pub trips: String,
    /// The run that first planned the held plan; `None` once that run's record is deleted.
    pub first_run_id: Option<i64>,
    /// The latest run that planned it again; `None` once that run's record is deleted.
    pub last_run_id: Option<i64>,
    /// Runs that planned this same held plan.
    pub runs: i64,
    /// When the first run that planned it ended: the hold of this plan began.
    pub created_at: DateTime<Utc>,
    /// When the latest run that planned it ended.
    pub updated_at: DateTime<Utc>,
}

/// What recording a refused run did to the workspace's hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldChange {
    /// The workspace was not held; now it is.
    Started,
    /// It was held for another plan; this one replaced it.
    Replaced,
    /// It was held for this same plan: noted, not stored again.
    Still,
}

forward! {
    /// Records a run a guard refused and holds its plan (once per distinct plan), in one
    /// transaction.
    in_tx record_held_run => record_held_run(
        ws: &WorkspaceKey, run: &RunRecord, plan: &Plan, detail: serde_json::Value, digest: &str,
        trips: &str
    ) -> Result<(i64, HoldChange), DirectoryError>;

    /// The held plans, of one workspace or of all.
    on_conn holds => holds(workspace: Option<&str>) -> Result<Vec<HoldRow>, DirectoryError>;

    /// Keeps what a fetch showed, the evidence `explain` reads: the snapshot's JSON, gzipped by
    /// [`compress_evidence`].
    on_conn keep_evidence => keep_evidence(
        ws: &WorkspaceKey, run_id: Option<i64>, at: DateTime<Utc>, snapshot_gz: &[u8]
    ) -> Result<(), DirectoryError>;

    /// The last evidence of a workspace: (run id, time, snapshot JSON), decompressed (or, for a
    /// row kept before evidence was compressed, its JSON text as stored).
    on_conn evidence => evidence(
        workspace: &str
    ) -> Result<Option<(Option<i64>, DateTime<Utc>, String)>, DirectoryError>;
}

per_backend! {
    /// Records a run that a guard refused and holds its plan: stored once per distinct plan
    /// (by digest), in the same transaction as the run row and its audit event.
    pub async fn record_held_run(
        c: &mut Conn,
        ws: &WorkspaceKey,
        run: &RunRecord,
        plan: &Plan,
        detail: serde_json::Value,
        digest: &str,
        trips: &str,
    ) -> Result<(i64, HoldChange), DirectoryError> {
        let id = db::runs::insert(c, ws, run, Some(plan)).await?;
        let held: Option<String> =
            sql! { scalar c, fetch_optional,
                "SELECT digest FROM holds WHERE workspace_id = $1",
                ws.id };
        let change = match held.as_deref() {
            Some(d) if d == digest => HoldChange::Still,
            Some(_) => HoldChange::Replaced,
            None => HoldChange::Started,
        };
        let mut detail = detail;
        if let Some(obj) = detail.as_object_mut() {
            obj.insert("hold".to_string(), serde_json::json!(change));
            obj.insert("digest".to_string(), serde_json::json!(digest));
            // The plan itself is kept once per distinct plan, not on every run.
            if change != HoldChange::Still {
                obj.insert(
                    "plan".to_string(),
                    serde_json::to_value(plan).unwrap_or(serde_json::Value::Null),
                );
            }
        }
        if change == HoldChange::Still {
            sql! { c, execute,
                "UPDATE holds SET runs = runs + 1, last_run_id = $1, updated_at = $2
                 WHERE workspace_id = $3",
                id, run.finished_at, ws.id };
        } else {
            let plan_json = serde_json::to_string(plan).map_err(|e| {
                DirectoryError::Conflict(format!("cannot serialise the plan: {e}"))
            })?;
            sql! { c, execute,
                "INSERT INTO holds (workspace_id, digest, plan, trips, first_run_id,
                     last_run_id, runs, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $6)
                 ON CONFLICT (workspace_id) DO UPDATE SET digest = excluded.digest,
                     plan = excluded.plan, trips = excluded.trips,
                     first_run_id = excluded.first_run_id,
                     last_run_id = excluded.last_run_id, runs = 1,
                     created_at = excluded.created_at, updated_at = excluded.updated_at",
                ws.id, digest, plan_json, trips, id, run.finished_at };
        }
        db::audit::write(c, run.event(ws, id, "run_aborted", &detail)).await?;
        Ok((id, change))
    }

    /// Ends any hold of the workspace (an applied plan); returns whether there was one.
    pub async fn release(c: &mut Conn, workspace_id: i64) -> Result<bool, DirectoryError> {
        let released = (sql! { c, execute,
            "DELETE FROM holds WHERE workspace_id = $1",
            workspace_id })
            .rows_affected();
        Ok(released > 0)
    }

    pub async fn holds(
        c: &mut Conn,
        workspace: Option<&str>,
    ) -> Result<Vec<HoldRow>, DirectoryError> {
        Ok(sql! { as HoldRow, c, fetch_all,
            "SELECT w.name AS workspace, h.digest, h.plan, h.trips, h.first_run_id,
                 h.last_run_id, h.runs, h.created_at, h.updated_at
             FROM holds h JOIN workspaces w ON w.id = h.workspace_id
             WHERE $1 IS NULL OR w.name = $1 ORDER BY w.name",
            workspace })
    }

    /// Keeps what a fetch showed, replacing the workspace's previous evidence.
    pub async fn keep_evidence(
        c: &mut Conn,
        ws: &WorkspaceKey,
        run_id: Option<i64>,
        at: DateTime<Utc>,
        snapshot_gz: &[u8],
    ) -> Result<(), DirectoryError> {
        // `snapshot` (the JSON text of rows kept before 0009) stays NOT NULL on SQLite: empty.
        sql! { c, execute,
            "INSERT INTO evidence (workspace_id, run_id, at, snapshot, snapshot_gz)
             VALUES ($1, $2, $3, '', $4)
             ON CONFLICT (workspace_id) DO UPDATE SET run_id = excluded.run_id,
                 at = excluded.at, snapshot = excluded.snapshot,
                 snapshot_gz = excluded.snapshot_gz",
            ws.id, run_id, at, snapshot_gz };
        Ok(())
    }

    pub async fn evidence(
        c: &mut Conn,
        workspace: &str,
    ) -> Result<Option<(Option<i64>, DateTime<Utc>, String)>, DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT e.run_id, e.at, e.snapshot, e.snapshot_gz FROM evidence e
             JOIN workspaces w ON w.id = e.workspace_id WHERE w.name = $1",
            workspace };
        let Some(r) = row else { return Ok(None) };
        let gz: Option<Vec<u8>> = r.try_get("snapshot_gz")?;
        let json = match gz {
            Some(gz) => decompress_evidence(&gz)?,
            None => r.try_get("snapshot")?,
        };
        Ok(Some((r.try_get("run_id")?, r.try_get("at")?, json)))
    }
}

/// The evidence as stored: the JSON of `value` written straight into a gzip stream, so the JSON
/// text as a whole never exists in memory (at 625,000 team memberships it is tens of MB; the
/// compressed bytes are a small fraction of that).
pub fn compress_evidence<T: Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    serde_json::to_writer(&mut gz, value)?;
    gz.finish()
}

/// The JSON text of evidence kept by [`compress_evidence`].
fn decompress_evidence(gz: &[u8]) -> Result<String, DirectoryError> {
    let mut json = String::new();
    GzDecoder::new(gz)
        .read_to_string(&mut json)
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: "evidence.snapshot_gz".to_string(),
            source: Box::new(e),
        })?;
    Ok(json)
}
