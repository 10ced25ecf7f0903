//! Listings: people, teams, the audit trail and runs, as the CLI, `status` and the metrics
//! read them.

use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

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

forward! {
    on_conn list_users => list_users(
        workspace: Option<&str>, state: Option<&str>
    ) -> Result<Vec<UserRow>, DirectoryError>;

    on_conn list_teams => list_teams(
        workspace: Option<&str>
    ) -> Result<Vec<TeamRow>, DirectoryError>;

    on_conn audit => audit(
        workspace: Option<&str>, since: Option<DateTime<Utc>>, run: Option<i64>
    ) -> Result<Vec<AuditRow>, DirectoryError>;

    /// The newest `limit` events of the same selection, newest first (`audit --limit`): the
    /// database stops at the limit, so a long trail is not loaded to show its end.
    on_conn audit_newest => audit_newest(
        workspace: Option<&str>, since: Option<DateTime<Utc>>, run: Option<i64>, limit: i64
    ) -> Result<Vec<AuditRow>, DirectoryError>;

    /// The latest runs, newest first, at most `limit` per workspace.
    on_conn recent_runs => recent_runs(
        workspace: Option<&str>, limit: i64
    ) -> Result<Vec<RunRow>, DirectoryError>;

    /// Memberships per state of a workspace, for the `members` gauge.
    on_conn member_counts => member_counts(
        workspace: &str
    ) -> Result<Vec<(String, i64)>, DirectoryError>;

    /// The last successful run's end per workspace name.
    on_conn last_success => last_success(
        workspace: &str
    ) -> Result<Option<DateTime<Utc>>, DirectoryError>;
}

per_backend! {
    pub async fn list_users(
        c: &mut Conn,
        workspace: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<UserRow>, DirectoryError> {
        let mut rows: Vec<UserRow> = sql! { as _, c, fetch_all,
            "SELECT w.name AS workspace, u.id AS user_id, w.provider,
                    i.provider_user_id, i.login, u.name, u.email, m.role, m.role_pinned,
                    m.state, m.source, m.reason
             FROM memberships m
             JOIN workspaces w ON w.id = m.workspace_id
             JOIN users u ON u.id = m.user_id
             LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host
             WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR m.state = $2)
             ORDER BY w.name, COALESCE(i.login, u.email, ''), u.id",
            workspace, state };
        let teams = sql! { c, fetch_all,
            "SELECT w.name AS workspace, tm.user_id, t.slug
             FROM team_members tm JOIN teams t ON t.id = tm.team_id
             JOIN workspaces w ON w.id = t.workspace_id
             WHERE ($1 IS NULL OR w.name = $1)
             ORDER BY t.slug",
            workspace };
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
        let rows = sql! { c, fetch_all,
            "SELECT t.id, w.name AS workspace, t.slug, t.name, t.parent_slug, t.source
             FROM teams t JOIN workspaces w ON w.id = t.workspace_id
             WHERE ($1 IS NULL OR w.name = $1)
             ORDER BY w.name, t.slug",
            workspace };
        let mut members: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
        for m in sql! { c, fetch_all,
            "SELECT tm.team_id, COALESCE(i.login, u.email, CAST(u.id AS TEXT)) AS who, tm.role
             FROM team_members tm JOIN users u ON u.id = tm.user_id
             JOIN teams t ON t.id = tm.team_id
             JOIN workspaces w ON w.id = t.workspace_id
             LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host
             WHERE ($1 IS NULL OR w.name = $1) ORDER BY tm.team_id, who",
            workspace }
        {
            members
                .entry(m.try_get("team_id")?)
                .or_default()
                .push((m.try_get("who")?, m.try_get("role")?));
        }
        let mut repositories: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
        for m in sql! { c, fetch_all,
            "SELECT tr.team_id, r.name, tr.permission FROM team_repositories tr
             JOIN repositories r ON r.id = tr.repository_id
             JOIN teams t ON t.id = tr.team_id
             JOIN workspaces w ON w.id = t.workspace_id
             WHERE ($1 IS NULL OR w.name = $1) ORDER BY tr.team_id, r.name",
            workspace }
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
        let mut rows = audit_newest(c, workspace, since, run, i64::MAX).await?;
        rows.reverse();
        Ok(rows)
    }

    pub async fn audit_newest(
        c: &mut Conn,
        workspace: Option<&str>,
        since: Option<DateTime<Utc>>,
        run: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditRow>, DirectoryError> {
        Ok(sql! { as _, c, fetch_all,
            "SELECT a.id, a.run_id, w.name AS workspace, a.at, a.actor, a.action, a.subject, a.detail
             FROM audit_events a LEFT JOIN workspaces w ON w.id = a.workspace_id
             WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR a.at >= $2)
               AND ($3 IS NULL OR a.run_id = $3)
             ORDER BY a.id DESC LIMIT $4",
            workspace, since, run, limit })
    }

    pub async fn recent_runs(
        c: &mut Conn,
        workspace: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunRow>, DirectoryError> {
        Ok(sql! { as _, c, fetch_all,
            "SELECT r.id, w.name AS workspace, r.trigger, r.started_at, r.finished_at, r.outcome,
                    r.onboarded, r.offboarded, r.reactivated, r.changes, r.requests,
                    r.requests_not_modified, r.error
             FROM sync_runs r JOIN workspaces w ON w.id = r.workspace_id
             WHERE ($1 IS NULL OR w.name = $1) AND r.outcome <> 'running'
               AND (SELECT COUNT(*) FROM sync_runs r2
                    WHERE r2.workspace_id = r.workspace_id AND r2.id > r.id
                      AND r2.outcome <> 'running') < $2
             ORDER BY w.name, r.id DESC",
            workspace, limit })
    }

    pub async fn member_counts(
        c: &mut Conn,
        workspace: &str,
    ) -> Result<Vec<(String, i64)>, DirectoryError> {
        let rows = sql! { c, fetch_all,
            "SELECT m.state, COUNT(*) AS n FROM memberships m
             JOIN workspaces w ON w.id = m.workspace_id
             WHERE w.name = $1 GROUP BY m.state",
            workspace };
        rows.into_iter()
            .map(|r| Ok((r.try_get("state")?, r.try_get("n")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(DirectoryError::from)
    }

    pub async fn last_success(
        c: &mut Conn,
        workspace: &str,
    ) -> Result<Option<DateTime<Utc>>, DirectoryError> {
        Ok(sql! { scalar c, fetch_one,
            "SELECT MAX(r.finished_at) FROM sync_runs r JOIN workspaces w ON w.id = r.workspace_id
             WHERE w.name = $1 AND r.outcome = 'ok'",
            workspace })
    }

}
