//! The directory's SQL, written once and instantiated per backend by [`backend_ops!`].

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A person in a workspace, as `users list` shows them.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub workspace: String,
    pub user_id: i64,
    pub provider: String,
    pub provider_user_id: Option<String>,
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub role: String,
    pub role_pinned: bool,
    pub state: String,
    pub source: String,
    pub reason: Option<String>,
    #[sqlx(skip)]
    pub teams: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TeamRow {
    pub workspace: String,
    pub slug: String,
    pub name: String,
    pub parent: Option<String>,
    pub source: String,
    /// (login or user id, role)
    pub members: Vec<(String, String)>,
    /// (repository, permission)
    pub repositories: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub run_id: Option<i64>,
    pub workspace: Option<String>,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub workspace: String,
    pub trigger: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: String,
    pub onboarded: i64,
    pub offboarded: i64,
    pub reactivated: i64,
    pub changes: i64,
    pub requests: i64,
    pub requests_not_modified: i64,
    pub error: Option<String>,
}

/// A plan a guard refused, held for a human (`plans show`, `approve`).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct HoldRow {
    pub workspace: String,
    /// SHA-256 of the held plan's changes: a later run that plans the same is "still held".
    pub digest: String,
    /// The held plan, as JSON.
    pub plan: String,
    /// The guard trips that refused it, as JSON.
    pub trips: String,
    pub first_run_id: Option<i64>,
    pub last_run_id: Option<i64>,
    /// Runs that planned this same held plan.
    pub runs: i64,
    pub created_at: DateTime<Utc>,
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

/// Row ids an apply already knows, so a plan of 100,000 changes does not look the same team or
/// user up again for every membership.
#[derive(Default)]
struct Ids {
    teams: std::collections::HashMap<String, i64>,
    users: std::collections::HashMap<String, i64>,
    repositories: std::collections::HashMap<String, i64>,
}

/// Audit rows gathered before they are written with the rows they describe; bounds the memory
/// an apply of 100,000 changes holds.
const AUDIT_FLUSH: usize = 20_000;

/// Changes written one statement each that never read what the batches still hold (a new
/// team, a team's name, a repository), so the batches need not be written before them.
fn independent_of_batches(change: &crate::sync::plan::Change) -> bool {
    use crate::sync::plan::Change;
    matches!(
        change,
        Change::Onboard { .. }
            | Change::TeamMemberAdd { .. }
            | Change::TeamRepositoryGrant { .. }
            | Change::TeamCreate { .. }
            | Change::TeamUpdate { .. }
            | Change::RepositoryUpsert { .. }
    )
}

/// Decodes an enum column, or names the table, column and value it cannot read.
fn decode<T>(
    table: &'static str,
    column: &'static str,
    value: String,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, crate::directory::DirectoryError> {
    parse(&value).ok_or(crate::directory::DirectoryError::Corrupt {
        table,
        column,
        value,
    })
}

fn team_role(s: &str) -> Option<orgsync_core::TeamRole> {
    match s {
        "member" => Some(orgsync_core::TeamRole::Member),
        "maintainer" => Some(orgsync_core::TeamRole::Maintainer),
        _ => None,
    }
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

macro_rules! backend_ops {
    ($module:ident, $conn:ty, $batch:path) => {
        pub mod $module {
            use super::*;
            use crate::directory::batch::{Pending, Shared};
            use $batch as batch;
            use crate::directory::{DirectoryError, RunRecord, WorkspaceKey};
            use crate::sync::admit::RepositoryInfo;
            use crate::sync::plan::{
                Change, ChangeKind, Current, CurrentMember, CurrentTeam, MembershipSource,
                MembershipState, Plan,
            };
            use orgsync_core::Permission;
            use sqlx::Row;
            use std::collections::BTreeMap;

            type Conn = $conn;

            pub async fn ensure_workspace(
                c: &mut Conn,
                name: &str,
                provider: &str,
                host: &str,
                account: &str,
                now: DateTime<Utc>,
            ) -> Result<WorkspaceKey, DirectoryError> {
                sqlx::query(
                    "INSERT INTO workspaces (name, provider, host, account, created_at)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (name) DO NOTHING",
                )
                .bind(name)
                .bind(provider)
                .bind(host)
                .bind(account)
                .bind(now)
                .execute(&mut *c)
                .await?;
                let key = workspace(c, name)
                    .await?
                    .ok_or_else(|| DirectoryError::Conflict(format!("workspace {name} vanished")))?;
                // Host names compare case-insensitively; the stored spelling stays the key.
                if key.provider != provider || !key.host.eq_ignore_ascii_case(host) {
                    return Err(DirectoryError::WorkspaceMismatch {
                        name: name.to_string(),
                        stored_provider: key.provider,
                        stored_host: key.host,
                        provider: provider.to_string(),
                        host: host.to_string(),
                    });
                }
                // An account renamed at the provider (same provider and host) is followed.
                sqlx::query("UPDATE workspaces SET account = $1 WHERE id = $2 AND account <> $1")
                    .bind(account)
                    .bind(key.id)
                    .execute(&mut *c)
                    .await?;
                Ok(key)
            }

            /// Points a stored workspace at another host of the same provider (the same
            /// instance under another name), with the identities of its members.
            pub async fn rekey_workspace(
                c: &mut Conn,
                name: &str,
                provider: &str,
                host: &str,
            ) -> Result<u64, DirectoryError> {
                let key = workspace(c, name).await?.ok_or_else(|| {
                    DirectoryError::Conflict(format!("no workspace named {name} in the directory"))
                })?;
                if key.provider != provider {
                    return Err(DirectoryError::WorkspaceMismatch {
                        name: name.to_string(),
                        stored_provider: key.provider,
                        stored_host: key.host,
                        provider: provider.to_string(),
                        host: host.to_string(),
                    });
                }
                let moved = sqlx::query(
                    "UPDATE identities SET host = $1
                     WHERE provider = $2 AND host = $3 AND user_id IN
                         (SELECT user_id FROM memberships WHERE workspace_id = $4)",
                )
                .bind(host)
                .bind(provider)
                .bind(&key.host)
                .bind(key.id)
                .execute(&mut *c)
                .await?
                .rows_affected();
                sqlx::query("UPDATE workspaces SET host = $1 WHERE id = $2")
                    .bind(host)
                    .bind(key.id)
                    .execute(&mut *c)
                    .await?;
                Ok(moved)
            }

            pub async fn workspace(
                c: &mut Conn,
                name: &str,
            ) -> Result<Option<WorkspaceKey>, DirectoryError> {
                let row = sqlx::query("SELECT id, name, provider, host FROM workspaces WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *c)
                    .await?;
                Ok(match row {
                    Some(r) => Some(WorkspaceKey {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        provider: r.try_get("provider")?,
                        host: r.try_get("host")?,
                    }),
                    None => None,
                })
            }

            pub async fn set_teams_status(
                c: &mut Conn,
                ws: i64,
                status: Option<&str>,
            ) -> Result<(), DirectoryError> {
                sqlx::query("UPDATE workspaces SET teams_status = $1 WHERE id = $2")
                    .bind(status)
                    .bind(ws)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn load_current(
                c: &mut Conn,
                ws: &WorkspaceKey,
                admin_role: &str,
            ) -> Result<Current, DirectoryError> {
                let mut current = Current::default();
                let rows = sqlx::query(
                    "SELECT i.provider_user_id, i.login, u.id AS user_id, u.name, u.email,
                            m.role, m.role_pinned, m.state, m.source
                     FROM identities i
                     JOIN users u ON u.id = i.user_id
                     JOIN memberships m ON m.user_id = u.id AND m.workspace_id = $1
                     WHERE i.provider = $2 AND i.host = $3",
                )
                .bind(ws.id)
                .bind(&ws.provider)
                .bind(&ws.host)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    let state: String = r.try_get("state")?;
                    let source: String = r.try_get("source")?;
                    current.members.insert(
                        r.try_get("provider_user_id")?,
                        CurrentMember {
                            user_id: r.try_get("user_id")?,
                            login: r.try_get::<Option<String>, _>("login")?.unwrap_or_default(),
                            name: r.try_get("name")?,
                            email: r.try_get("email")?,
                            role: r.try_get("role")?,
                            role_pinned: r.try_get("role_pinned")?,
                            state: decode("memberships", "state", state, MembershipState::parse)?,
                            source: decode(
                                "memberships",
                                "source",
                                source,
                                MembershipSource::parse,
                            )?,
                        },
                    );
                }
                let rows = sqlx::query(
                    "SELECT i.provider_user_id, i.user_id FROM identities i
                     WHERE i.provider = $1 AND i.host = $2
                       AND NOT EXISTS (SELECT 1 FROM memberships m
                                       WHERE m.user_id = i.user_id AND m.workspace_id = $3)",
                )
                .bind(&ws.provider)
                .bind(&ws.host)
                .bind(ws.id)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    current
                        .identities
                        .insert(r.try_get("provider_user_id")?, r.try_get("user_id")?);
                }
                let rows = sqlx::query(
                    "SELECT user_id FROM memberships
                     WHERE workspace_id = $1 AND state = 'active' AND role = $2",
                )
                .bind(ws.id)
                .bind(admin_role)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    current.admins.insert(r.try_get("user_id")?);
                }
                let rows = sqlx::query(
                    "SELECT name, provider_repo_id, archived, fork, visibility
                     FROM repositories WHERE workspace_id = $1",
                )
                .bind(ws.id)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    current.repositories.insert(
                        r.try_get("name")?,
                        RepositoryInfo {
                            provider_repo_id: r.try_get("provider_repo_id")?,
                            archived: r.try_get("archived")?,
                            fork: r.try_get("fork")?,
                            visibility: r.try_get("visibility")?,
                        },
                    );
                }
                let rows = sqlx::query(
                    "SELECT slug, name, parent_slug, source FROM teams WHERE workspace_id = $1",
                )
                .bind(ws.id)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    let source: String = r.try_get("source")?;
                    current.teams.insert(
                        r.try_get("slug")?,
                        CurrentTeam {
                            name: r.try_get("name")?,
                            parent: r.try_get("parent_slug")?,
                            source: decode("teams", "source", source, MembershipSource::parse)?,
                            members: BTreeMap::new(),
                            repositories: BTreeMap::new(),
                        },
                    );
                }
                let rows = sqlx::query(
                    "SELECT t.slug, i.provider_user_id, tm.role
                     FROM team_members tm
                     JOIN teams t ON t.id = tm.team_id
                     JOIN identities i ON i.user_id = tm.user_id AND i.provider = $2 AND i.host = $3
                     WHERE t.workspace_id = $1 AND tm.source = 'sync'",
                )
                .bind(ws.id)
                .bind(&ws.provider)
                .bind(&ws.host)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    let slug: String = r.try_get("slug")?;
                    let role: String = r.try_get("role")?;
                    if let Some(t) = current.teams.get_mut(&slug) {
                        t.members.insert(
                            r.try_get("provider_user_id")?,
                            decode("team_members", "role", role, team_role)?,
                        );
                    }
                }
                let rows = sqlx::query(
                    "SELECT t.slug, r.name, tr.permission
                     FROM team_repositories tr
                     JOIN teams t ON t.id = tr.team_id
                     JOIN repositories r ON r.id = tr.repository_id
                     WHERE t.workspace_id = $1",
                )
                .bind(ws.id)
                .fetch_all(&mut *c)
                .await?;
                for r in rows {
                    let slug: String = r.try_get("slug")?;
                    let perm: String = r.try_get("permission")?;
                    if let Some(t) = current.teams.get_mut(&slug) {
                        t.repositories.insert(
                            r.try_get("name")?,
                            decode("team_repositories", "permission", perm, Permission::parse)?,
                        );
                    }
                }
                Ok(current)
            }

            async fn insert_run(
                c: &mut Conn,
                ws: &WorkspaceKey,
                run: &RunRecord,
                plan: Option<&Plan>,
            ) -> Result<i64, DirectoryError> {
                let tally = plan.map(Plan::tally).unwrap_or_default();
                let count = |k: ChangeKind| as_i64(tally[k] as u64);
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO sync_runs (workspace_id, trigger, started_at, finished_at, outcome,
                        onboarded, offboarded, reactivated, changes, requests,
                        requests_not_modified, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     RETURNING id",
                )
                .bind(ws.id)
                .bind(&run.trigger)
                .bind(run.started_at)
                .bind(run.finished_at)
                .bind(run.outcome.as_str())
                .bind(count(ChangeKind::Onboard))
                .bind(count(ChangeKind::Offboard))
                .bind(count(ChangeKind::Reactivate))
                .bind(plan.map_or(0, |p| p.changes.len() as i64))
                .bind(as_i64(run.requests))
                .bind(as_i64(run.requests_not_modified))
                .bind(&run.error)
                .fetch_one(&mut *c)
                .await?;
                Ok(id)
            }

            // One argument per column of the row it writes.
            #[allow(clippy::too_many_arguments)]
            async fn audit_event(
                c: &mut Conn,
                ws: i64,
                run_id: Option<i64>,
                at: DateTime<Utc>,
                actor: &str,
                action: &str,
                subject: &str,
                detail: &str,
            ) -> Result<(), DirectoryError> {
                sqlx::query(
                    "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(run_id)
                .bind(ws)
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(subject)
                .bind(detail)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            pub async fn record_run(
                c: &mut Conn,
                ws: &WorkspaceKey,
                run: &RunRecord,
                plan: Option<&Plan>,
                detail: serde_json::Value,
            ) -> Result<i64, DirectoryError> {
                let id = insert_run(c, ws, run, plan).await?;
                let mut detail = detail;
                if let (Some(p), Some(obj)) = (plan, detail.as_object_mut()) {
                    obj.insert(
                        "plan".to_string(),
                        serde_json::to_value(p).unwrap_or(serde_json::Value::Null),
                    );
                }
                audit_event(
                    c,
                    ws.id,
                    Some(id),
                    run.finished_at,
                    &run.actor,
                    &format!("run_{}", run.outcome.as_str()),
                    &ws.name,
                    &detail.to_string(),
                )
                .await?;
                Ok(id)
            }

            /// Records a run that a guard refused and holds its plan: stored once per distinct
            /// plan (by digest), in the same transaction as the run row and its audit event.
            pub async fn record_held_run(
                c: &mut Conn,
                ws: &WorkspaceKey,
                run: &RunRecord,
                plan: &Plan,
                detail: serde_json::Value,
                digest: &str,
                trips: &str,
            ) -> Result<(i64, HoldChange), DirectoryError> {
                let id = insert_run(c, ws, run, Some(plan)).await?;
                let held: Option<String> =
                    sqlx::query_scalar("SELECT digest FROM holds WHERE workspace_id = $1")
                        .bind(ws.id)
                        .fetch_optional(&mut *c)
                        .await?;
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
                    sqlx::query(
                        "UPDATE holds SET runs = runs + 1, last_run_id = $1, updated_at = $2
                         WHERE workspace_id = $3",
                    )
                    .bind(id)
                    .bind(run.finished_at)
                    .bind(ws.id)
                    .execute(&mut *c)
                    .await?;
                } else {
                    let plan_json = serde_json::to_string(plan).map_err(|e| {
                        DirectoryError::Conflict(format!("cannot serialise the plan: {e}"))
                    })?;
                    sqlx::query(
                        "INSERT INTO holds (workspace_id, digest, plan, trips, first_run_id,
                             last_run_id, runs, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $5, 1, $6, $6)
                         ON CONFLICT (workspace_id) DO UPDATE SET digest = excluded.digest,
                             plan = excluded.plan, trips = excluded.trips,
                             first_run_id = excluded.first_run_id,
                             last_run_id = excluded.last_run_id, runs = 1,
                             created_at = excluded.created_at, updated_at = excluded.updated_at",
                    )
                    .bind(ws.id)
                    .bind(digest)
                    .bind(plan_json)
                    .bind(trips)
                    .bind(id)
                    .bind(run.finished_at)
                    .execute(&mut *c)
                    .await?;
                }
                audit_event(
                    c,
                    ws.id,
                    Some(id),
                    run.finished_at,
                    &run.actor,
                    "run_aborted",
                    &ws.name,
                    &detail.to_string(),
                )
                .await?;
                Ok((id, change))
            }

            /// Keeps what a fetch showed, replacing the workspace's previous evidence.
            pub async fn keep_evidence(
                c: &mut Conn,
                ws: &WorkspaceKey,
                run_id: Option<i64>,
                at: DateTime<Utc>,
                snapshot: &str,
            ) -> Result<(), DirectoryError> {
                sqlx::query(
                    "INSERT INTO evidence (workspace_id, run_id, at, snapshot) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (workspace_id) DO UPDATE SET run_id = excluded.run_id,
                         at = excluded.at, snapshot = excluded.snapshot",
                )
                .bind(ws.id)
                .bind(run_id)
                .bind(at)
                .bind(snapshot)
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            /// The last evidence of a workspace: (run id, time, snapshot JSON).
            pub async fn evidence(
                c: &mut Conn,
                workspace: &str,
            ) -> Result<Option<(Option<i64>, DateTime<Utc>, String)>, DirectoryError> {
                let row = sqlx::query(
                    "SELECT e.run_id, e.at, e.snapshot FROM evidence e
                     JOIN workspaces w ON w.id = e.workspace_id WHERE w.name = $1",
                )
                .bind(workspace)
                .fetch_optional(&mut *c)
                .await?;
                Ok(match row {
                    Some(r) => Some((r.try_get("run_id")?, r.try_get("at")?, r.try_get("snapshot")?)),
                    None => None,
                })
            }

            /// The held plans, of one workspace or of all.
            pub async fn holds(
                c: &mut Conn,
                workspace: Option<&str>,
            ) -> Result<Vec<HoldRow>, DirectoryError> {
                Ok(sqlx::query_as::<_, HoldRow>(
                    "SELECT w.name AS workspace, h.digest, h.plan, h.trips, h.first_run_id,
                         h.last_run_id, h.runs, h.created_at, h.updated_at
                     FROM holds h JOIN workspaces w ON w.id = h.workspace_id
                     WHERE $1 IS NULL OR w.name = $1 ORDER BY w.name",
                )
                .bind(workspace)
                .fetch_all(&mut *c)
                .await?)
            }

            async fn user_of(
                c: &mut Conn,
                ws: &WorkspaceKey,
                pid: &str,
                ids: &mut Ids,
            ) -> Result<i64, DirectoryError> {
                if let Some(id) = ids.users.get(pid) {
                    return Ok(*id);
                }
                let id: i64 = sqlx::query_scalar(
                    "SELECT user_id FROM identities WHERE provider = $1 AND host = $2 AND provider_user_id = $3",
                )
                .bind(&ws.provider)
                .bind(&ws.host)
                .bind(pid)
                .fetch_optional(&mut *c)
                .await?
                .ok_or_else(|| DirectoryError::Conflict(format!("no user holds identity {pid}")))?;
                ids.users.insert(pid.to_string(), id);
                Ok(id)
            }

            async fn team_of(
                c: &mut Conn,
                ws: &WorkspaceKey,
                slug: &str,
                ids: &mut Ids,
            ) -> Result<i64, DirectoryError> {
                if let Some(id) = ids.teams.get(slug) {
                    return Ok(*id);
                }
                let id: i64 = sqlx::query_scalar(
                    "SELECT id FROM teams WHERE workspace_id = $1 AND slug = $2 AND source = 'sync'",
                )
                .bind(ws.id)
                .bind(slug)
                .fetch_optional(&mut *c)
                .await?
                .ok_or_else(|| DirectoryError::Conflict(format!("synced team {slug} is missing")))?;
                ids.teams.insert(slug.to_string(), id);
                Ok(id)
            }

            /// Writes what the batches hold, parents first.
            async fn flush(
                c: &mut Conn,
                pending: &mut Pending,
                shared: &Shared<'_>,
            ) -> Result<(), DirectoryError> {
                for rows in pending.take(shared) {
                    batch::insert(&mut *c, rows).await?;
                }
                Ok(())
            }

            fn expect_one(
                result: <<Conn as sqlx::Connection>::Database as sqlx::Database>::QueryResult,
                what: &str,
            ) -> Result<(), DirectoryError> {
                if result.rows_affected() == 1 {
                    Ok(())
                } else {
                    Err(DirectoryError::Conflict(what.to_string()))
                }
            }

            pub async fn apply(
                c: &mut Conn,
                ws: &WorkspaceKey,
                plan: &Plan,
                run: &RunRecord,
            ) -> Result<i64, DirectoryError> {
                let run_id = insert_run(c, ws, run, Some(plan)).await?;
                let shared = Shared {
                    workspace_id: ws.id,
                    provider: &ws.provider,
                    host: &ws.host,
                    run_id: Some(run_id),
                    actor: &run.actor,
                    now: run.finished_at,
                };
                let new_users = plan
                    .changes
                    .iter()
                    .filter(|c| matches!(c, Change::Onboard { existing_user_id: None, .. }))
                    .count();
                let mut new_ids = batch::reserve_ids(&mut *c, "users", new_users)
                    .await?
                    .into_iter();
                let mut ids = Ids::default();
                let mut pending = Pending::default();
                for change in &plan.changes {
                    let subject = match change {
                        Change::Onboard { login, .. }
                        | Change::Reactivate { login, .. }
                        | Change::Offboard { login, .. }
                        | Change::RoleChange { login, .. }
                        | Change::IdentityUpdate { login, .. }
                        | Change::TeamMemberAdd { login, .. }
                        | Change::TeamMemberUpdate { login, .. }
                        | Change::TeamMemberRemove { login, .. } => login.clone(),
                        Change::RepositoryUpsert { name, .. }
                        | Change::RepositoryRemove { name } => name.clone(),
                        Change::TeamCreate { slug, .. }
                        | Change::TeamUpdate { slug, .. }
                        | Change::TeamDelete { slug } => slug.clone(),
                        Change::TeamRepositoryGrant { team, .. }
                        | Change::TeamRepositoryRevoke { team, .. } => team.clone(),
                    };
                    if !independent_of_batches(change) && pending.holds_rows() {
                        flush(c, &mut pending, &shared).await?;
                    }
                    apply_change(c, ws, change, &shared, &mut ids, &mut pending, &mut new_ids)
                        .await?;
                    // Repository bookkeeping is not a change to people or access: keep the
                    // audit trail for what an auditor asks about.
                    if !matches!(
                        change,
                        Change::RepositoryUpsert { .. } | Change::RepositoryRemove { .. }
                    ) {
                        let detail = serde_json::to_string(change)
                            .unwrap_or_else(|_| "{}".to_string());
                        pending.audit.push((change.kind().as_str(), subject, detail));
                        if pending.audit.len() >= AUDIT_FLUSH {
                            flush(c, &mut pending, &shared).await?;
                        }
                    }
                }
                // An applied plan ends any hold: approved, forced, or no longer refused.
                let released = sqlx::query("DELETE FROM holds WHERE workspace_id = $1")
                    .bind(ws.id)
                    .execute(&mut *c)
                    .await?
                    .rows_affected();
                if released > 0 {
                    pending.audit.push(("hold_released", ws.name.clone(), "{}".to_string()));
                }
                // Verdicts the provider contradicted: nothing changes, the trail says why.
                for u in &plan.unconfirmed {
                    let detail = serde_json::to_string(u).unwrap_or_else(|_| "{}".to_string());
                    pending.audit.push(("unconfirmed", u.login.clone(), detail));
                }
                flush(c, &mut pending, &shared).await?;
                // The run's change events for downstream applications, in this transaction.
                crate::directory::outbox::$module::enqueue(c, ws, run_id, plan, shared.now).await?;
                Ok(run_id)
            }

            async fn apply_change(
                c: &mut Conn,
                ws: &WorkspaceKey,
                change: &Change,
                shared: &Shared<'_>,
                ids: &mut Ids,
                pending: &mut Pending,
                new_ids: &mut std::vec::IntoIter<i64>,
            ) -> Result<(), DirectoryError> {
                let now = shared.now;
                match change {
                    Change::Onboard {
                        provider_user_id,
                        existing_user_id,
                        login,
                        name,
                        email,
                        role,
                    } => {
                        let user_id = match existing_user_id {
                            Some(id) => *id,
                            None => {
                                let id = new_ids.next().ok_or_else(|| {
                                    DirectoryError::Conflict(
                                        "fewer user ids were reserved than the plan onboards"
                                            .to_string(),
                                    )
                                })?;
                                pending.users.push((id, name.clone(), email.clone()));
                                pending.identities.push((
                                    id,
                                    provider_user_id.clone(),
                                    login.clone(),
                                ));
                                id
                            }
                        };
                        ids.users.insert(provider_user_id.clone(), user_id);
                        pending.memberships.push((user_id, role.clone()));
                    }
                    Change::Reactivate { user_id, role, .. } => {
                        let r = sqlx::query(
                            "UPDATE memberships SET state = 'active', role = $1, reason = NULL,
                                 offboarded_at = NULL, updated_at = $2
                             WHERE workspace_id = $3 AND user_id = $4 AND source = 'sync' AND state = 'offboarded'",
                        )
                        .bind(role)
                        .bind(now)
                        .bind(ws.id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                        expect_one(r, "a membership to reactivate is no longer offboarded")?;
                    }
                    Change::Offboard {
                        user_id, reason, ..
                    } => {
                        let r = sqlx::query(
                            "UPDATE memberships SET state = 'offboarded', reason = $1,
                                 offboarded_at = $2, updated_at = $2
                             WHERE workspace_id = $3 AND user_id = $4 AND source = 'sync' AND state = 'active'",
                        )
                        .bind(reason.to_string())
                        .bind(now)
                        .bind(ws.id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                        expect_one(r, "a membership to offboard is no longer active")?;
                        sqlx::query(
                            "DELETE FROM team_members WHERE user_id = $1 AND source = 'sync'
                               AND team_id IN (SELECT id FROM teams WHERE workspace_id = $2)",
                        )
                        .bind(user_id)
                        .bind(ws.id)
                        .execute(&mut *c)
                        .await?;
                    }
                    Change::RoleChange { user_id, to, .. } => {
                        let r = sqlx::query(
                            "UPDATE memberships SET role = $1, updated_at = $2
                             WHERE workspace_id = $3 AND user_id = $4 AND source = 'sync' AND NOT role_pinned",
                        )
                        .bind(to)
                        .bind(now)
                        .bind(ws.id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                        expect_one(r, "a role was pinned while the run was planned")?;
                    }
                    Change::IdentityUpdate {
                        user_id,
                        provider_user_id,
                        login,
                        name,
                        email,
                        ..
                    } => {
                        sqlx::query(
                            "UPDATE identities SET login = $1
                             WHERE provider = $2 AND host = $3 AND provider_user_id = $4",
                        )
                        .bind(login)
                        .bind(&ws.provider)
                        .bind(&ws.host)
                        .bind(provider_user_id)
                        .execute(&mut *c)
                        .await?;
                        sqlx::query("UPDATE users SET name = $1, email = $2, updated_at = $3 WHERE id = $4")
                            .bind(name)
                            .bind(email)
                            .bind(now)
                            .bind(user_id)
                            .execute(&mut *c)
                            .await?;
                    }
                    Change::RepositoryUpsert { name, info } => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO repositories (workspace_id, name, provider_repo_id, archived, fork, visibility)
                             VALUES ($1, $2, $3, $4, $5, $6)
                             ON CONFLICT (workspace_id, name) DO UPDATE SET
                                 provider_repo_id = excluded.provider_repo_id, archived = excluded.archived,
                                 fork = excluded.fork, visibility = excluded.visibility
                             RETURNING id",
                        )
                        .bind(ws.id)
                        .bind(name)
                        .bind(&info.provider_repo_id)
                        .bind(info.archived)
                        .bind(info.fork)
                        .bind(&info.visibility)
                        .fetch_one(&mut *c)
                        .await?;
                        ids.repositories.insert(name.clone(), id);
                    }
                    Change::RepositoryRemove { name } => {
                        ids.repositories.remove(name);
                        sqlx::query("DELETE FROM repositories WHERE workspace_id = $1 AND name = $2")
                            .bind(ws.id)
                            .bind(name)
                            .execute(&mut *c)
                            .await?;
                    }
                    Change::TeamCreate {
                        slug,
                        name,
                        parent,
                        provider_team_id,
                    } => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO teams (workspace_id, slug, name, parent_slug, provider_team_id, source, created_at, updated_at)
                             VALUES ($1, $2, $3, $4, $5, 'sync', $6, $6) RETURNING id",
                        )
                        .bind(ws.id)
                        .bind(slug)
                        .bind(name)
                        .bind(parent)
                        .bind(provider_team_id)
                        .bind(now)
                        .fetch_one(&mut *c)
                        .await?;
                        ids.teams.insert(slug.clone(), id);
                    }
                    Change::TeamUpdate { slug, name, parent } => {
                        let r = sqlx::query(
                            "UPDATE teams SET name = $1, parent_slug = $2, updated_at = $3
                             WHERE workspace_id = $4 AND slug = $5 AND source = 'sync'",
                        )
                        .bind(name)
                        .bind(parent)
                        .bind(now)
                        .bind(ws.id)
                        .bind(slug)
                        .execute(&mut *c)
                        .await?;
                        expect_one(r, "a synced team to update is missing")?;
                    }
                    Change::TeamDelete { slug } => {
                        ids.teams.remove(slug);
                        sqlx::query("DELETE FROM teams WHERE workspace_id = $1 AND slug = $2 AND source = 'sync'")
                            .bind(ws.id)
                            .bind(slug)
                            .execute(&mut *c)
                            .await?;
                    }
                    Change::TeamMemberAdd {
                        team,
                        provider_user_id,
                        role,
                        ..
                    } => {
                        let team_id = team_of(c, ws, team, ids).await?;
                        let user_id = user_of(c, ws, provider_user_id, ids).await?;
                        pending.team_members.push((team_id, user_id, role.as_str()));
                    }
                    Change::TeamMemberUpdate {
                        team,
                        provider_user_id,
                        role,
                        ..
                    } => {
                        let team_id = team_of(c, ws, team, ids).await?;
                        let user_id = user_of(c, ws, provider_user_id, ids).await?;
                        sqlx::query(
                            "UPDATE team_members SET role = $1 WHERE team_id = $2 AND user_id = $3 AND source = 'sync'",
                        )
                        .bind(role.as_str())
                        .bind(team_id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                    }
                    Change::TeamMemberRemove {
                        team,
                        provider_user_id,
                        ..
                    } => {
                        let team_id = team_of(c, ws, team, ids).await?;
                        let user_id = user_of(c, ws, provider_user_id, ids).await?;
                        sqlx::query(
                            "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 AND source = 'sync'",
                        )
                        .bind(team_id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                    }
                    Change::TeamRepositoryGrant {
                        team,
                        repository,
                        permission,
                    } => {
                        let team_id = team_of(c, ws, team, ids).await?;
                        let repo_id: i64 = match ids.repositories.get(repository) {
                            Some(id) => *id,
                            None => {
                                let id: i64 = sqlx::query_scalar(
                                    "SELECT id FROM repositories WHERE workspace_id = $1 AND name = $2",
                                )
                                .bind(ws.id)
                                .bind(repository)
                                .fetch_optional(&mut *c)
                                .await?
                                .ok_or_else(|| {
                                    DirectoryError::Conflict(format!(
                                        "repository {repository} is missing"
                                    ))
                                })?;
                                ids.repositories.insert(repository.clone(), id);
                                id
                            }
                        };
                        pending
                            .team_repositories
                            .push((team_id, repo_id, permission.as_str()));
                    }
                    Change::TeamRepositoryRevoke { team, repository } => {
                        let team_id = team_of(c, ws, team, ids).await?;
                        sqlx::query(
                            "DELETE FROM team_repositories WHERE team_id = $1 AND repository_id IN
                               (SELECT id FROM repositories WHERE workspace_id = $2 AND name = $3)",
                        )
                        .bind(team_id)
                        .bind(ws.id)
                        .bind(repository)
                        .execute(&mut *c)
                        .await?;
                    }
                }
                Ok(())
            }

            pub async fn list_users(
                c: &mut Conn,
                workspace: Option<&str>,
                state: Option<&str>,
            ) -> Result<Vec<UserRow>, DirectoryError> {
                let mut rows: Vec<UserRow> = sqlx::query_as(
                    "SELECT w.name AS workspace, u.id AS user_id, w.provider,
                            i.provider_user_id, i.login, u.name, u.email, m.role, m.role_pinned,
                            m.state, m.source, m.reason
                     FROM memberships m
                     JOIN workspaces w ON w.id = m.workspace_id
                     JOIN users u ON u.id = m.user_id
                     LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host
                     WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR m.state = $2)
                     ORDER BY w.name, COALESCE(i.login, u.email, ''), u.id",
                )
                .bind(workspace)
                .bind(state)
                .fetch_all(&mut *c)
                .await?;
                let teams = sqlx::query(
                    "SELECT w.name AS workspace, tm.user_id, t.slug
                     FROM team_members tm JOIN teams t ON t.id = tm.team_id
                     JOIN workspaces w ON w.id = t.workspace_id
                     WHERE ($1 IS NULL OR w.name = $1)
                     ORDER BY t.slug",
                )
                .bind(workspace)
                .fetch_all(&mut *c)
                .await?;
                let mut by_user: BTreeMap<(String, i64), Vec<String>> = BTreeMap::new();
                for r in teams {
                    by_user
                        .entry((r.try_get("workspace")?, r.try_get("user_id")?))
                        .or_default()
                        .push(r.try_get("slug")?);
                }
                for row in &mut rows {
                    if let Some(t) = by_user.remove(&(row.workspace.clone(), row.user_id)) {
                        row.teams = t;
                    }
                }
                Ok(rows)
            }

            /// Teams with their members and repositories: three queries, whatever the number
            /// of teams.
            pub async fn list_teams(
                c: &mut Conn,
                workspace: Option<&str>,
            ) -> Result<Vec<TeamRow>, DirectoryError> {
                let rows = sqlx::query(
                    "SELECT t.id, w.name AS workspace, t.slug, t.name, t.parent_slug, t.source
                     FROM teams t JOIN workspaces w ON w.id = t.workspace_id
                     WHERE ($1 IS NULL OR w.name = $1)
                     ORDER BY w.name, t.slug",
                )
                .bind(workspace)
                .fetch_all(&mut *c)
                .await?;
                let mut members: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
                for m in sqlx::query(
                    "SELECT tm.team_id, COALESCE(i.login, u.email, CAST(u.id AS TEXT)) AS who, tm.role
                     FROM team_members tm JOIN users u ON u.id = tm.user_id
                     JOIN teams t ON t.id = tm.team_id
                     JOIN workspaces w ON w.id = t.workspace_id
                     LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host
                     WHERE ($1 IS NULL OR w.name = $1) ORDER BY tm.team_id, who",
                )
                .bind(workspace)
                .fetch_all(&mut *c)
                .await?
                {
                    members
                        .entry(m.try_get("team_id")?)
                        .or_default()
                        .push((m.try_get("who")?, m.try_get("role")?));
                }
                let mut repositories: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
                for m in sqlx::query(
                    "SELECT tr.team_id, r.name, tr.permission FROM team_repositories tr
                     JOIN repositories r ON r.id = tr.repository_id
                     JOIN teams t ON t.id = tr.team_id
                     JOIN workspaces w ON w.id = t.workspace_id
                     WHERE ($1 IS NULL OR w.name = $1) ORDER BY tr.team_id, r.name",
                )
                .bind(workspace)
                .fetch_all(&mut *c)
                .await?
                {
                    repositories
                        .entry(m.try_get("team_id")?)
                        .or_default()
                        .push((m.try_get("name")?, m.try_get("permission")?));
                }
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let id: i64 = r.try_get("id")?;
                    out.push(TeamRow {
                        workspace: r.try_get("workspace")?,
                        slug: r.try_get("slug")?,
                        name: r.try_get("name")?,
                        parent: r.try_get("parent_slug")?,
                        source: r.try_get("source")?,
                        members: members.remove(&id).unwrap_or_default(),
                        repositories: repositories.remove(&id).unwrap_or_default(),
                    });
                }
                Ok(out)
            }

            pub async fn audit(
                c: &mut Conn,
                workspace: Option<&str>,
                since: Option<DateTime<Utc>>,
                run: Option<i64>,
            ) -> Result<Vec<AuditRow>, DirectoryError> {
                Ok(sqlx::query_as(
                    "SELECT a.id, a.run_id, w.name AS workspace, a.at, a.actor, a.action, a.subject, a.detail
                     FROM audit_events a LEFT JOIN workspaces w ON w.id = a.workspace_id
                     WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR a.at >= $2)
                       AND ($3 IS NULL OR a.run_id = $3)
                     ORDER BY a.id",
                )
                .bind(workspace)
                .bind(since)
                .bind(run)
                .fetch_all(&mut *c)
                .await?)
            }

            pub async fn recent_runs(
                c: &mut Conn,
                workspace: Option<&str>,
                limit: i64,
            ) -> Result<Vec<RunRow>, DirectoryError> {
                Ok(sqlx::query_as(
                    "SELECT r.id, w.name AS workspace, r.trigger, r.started_at, r.finished_at, r.outcome,
                            r.onboarded, r.offboarded, r.reactivated, r.changes, r.requests,
                            r.requests_not_modified, r.error
                     FROM sync_runs r JOIN workspaces w ON w.id = r.workspace_id
                     WHERE ($1 IS NULL OR w.name = $1) AND r.outcome <> 'running'
                       AND (SELECT COUNT(*) FROM sync_runs r2
                            WHERE r2.workspace_id = r.workspace_id AND r2.id > r.id
                              AND r2.outcome <> 'running') < $2
                     ORDER BY w.name, r.id DESC",
                )
                .bind(workspace)
                .bind(limit)
                .fetch_all(&mut *c)
                .await?)
            }

            pub async fn member_counts(
                c: &mut Conn,
                workspace: &str,
            ) -> Result<Vec<(String, i64)>, DirectoryError> {
                let rows = sqlx::query(
                    "SELECT m.state, COUNT(*) AS n FROM memberships m
                     JOIN workspaces w ON w.id = m.workspace_id
                     WHERE w.name = $1 GROUP BY m.state",
                )
                .bind(workspace)
                .fetch_all(&mut *c)
                .await?;
                rows.into_iter()
                    .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
                    .collect::<Result<_, sqlx::Error>>()
                    .map_err(DirectoryError::from)
            }

            pub async fn set_last_event(
                c: &mut Conn,
                workspace: &str,
                text: &str,
            ) -> Result<(), DirectoryError> {
                sqlx::query("UPDATE workspaces SET last_event = $1 WHERE name = $2")
                    .bind(text)
                    .bind(workspace)
                    .execute(&mut *c)
                    .await?;
                Ok(())
            }

            pub async fn workspace_notes(
                c: &mut Conn,
                workspace: &str,
            ) -> Result<(Option<String>, Option<String>), DirectoryError> {
                let row = sqlx::query("SELECT teams_status, last_event FROM workspaces WHERE name = $1")
                    .bind(workspace)
                    .fetch_optional(&mut *c)
                    .await?;
                Ok(match row {
                    Some(r) => (r.try_get("teams_status")?, r.try_get("last_event")?),
                    None => (None, None),
                })
            }

            pub async fn ping(c: &mut Conn) -> Result<(), DirectoryError> {
                sqlx::query("SELECT 1").execute(&mut *c).await?;
                Ok(())
            }

            pub async fn last_success(
                c: &mut Conn,
                workspace: &str,
            ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
                Ok(sqlx::query_scalar(
                    "SELECT MAX(r.finished_at) FROM sync_runs r JOIN workspaces w ON w.id = r.workspace_id
                     WHERE w.name = $1 AND r.outcome = 'ok'",
                )
                .bind(workspace)
                .fetch_one(&mut *c)
                .await?)
            }

            pub async fn cache_load(
                c: &mut Conn,
                key: &str,
            ) -> Result<Option<orgsync_core::cache::CachedResponse>, DirectoryError> {
                let row = sqlx::query(
                    "SELECT etag, last_modified, headers, body FROM http_cache WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(&mut *c)
                .await?;
                Ok(match row {
                    None => None,
                    Some(r) => {
                        let headers: String = r.try_get("headers")?;
                        Some(orgsync_core::cache::CachedResponse {
                            etag: r.try_get("etag")?,
                            last_modified: r.try_get("last_modified")?,
                            headers: serde_json::from_str(&headers).unwrap_or_default(),
                            body: r.try_get("body")?,
                        })
                    }
                })
            }

            pub async fn cache_store(
                c: &mut Conn,
                key: &str,
                response: &orgsync_core::cache::CachedResponse,
                now: DateTime<Utc>,
            ) -> Result<(), DirectoryError> {
                let headers =
                    serde_json::to_string(&response.headers).unwrap_or_else(|_| "[]".to_string());
                sqlx::query(
                    "INSERT INTO http_cache (key, etag, last_modified, headers, body, stored_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (key) DO UPDATE SET etag = excluded.etag,
                         last_modified = excluded.last_modified, headers = excluded.headers,
                         body = excluded.body, stored_at = excluded.stored_at",
                )
                .bind(key)
                .bind(&response.etag)
                .bind(&response.last_modified)
                .bind(headers)
                .bind(&response.body)
                .bind(now)
                .execute(&mut *c)
                .await?;
                Ok(())
            }
        }
    };
}

backend_ops!(
    sqlite,
    sqlx::SqliteConnection,
    crate::directory::batch::sqlite
);
backend_ops!(
    postgres,
    sqlx::PgConnection,
    crate::directory::batch::postgres
);
