//! Listings: people, teams, the audit trail and runs, as the CLI, `status` and the metrics
//! read them.

use super::reads::MEMBERSHIPS;
use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// A person in a workspace, as `users list` and the API's member list show them: the fields of
/// a [`super::reads::MemberView`] (read from the same join) but for `provider`, here the
/// workspace's even without an identity there, and with the admin's `role_pinned`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct UserRow {
    /// The workspace's name.
    pub workspace: String,
    /// The directory user's id.
    pub user_id: i64,
    /// The workspace's provider (`github`, `gitlab`, `bitbucket`).
    pub provider: String,
    /// The provider's immutable user id; `None` for a person with no identity at this provider and
    /// host (an invited person or a service account).
    pub provider_user_id: Option<String>,
    /// The login last seen at the provider; `None` without an identity there.
    pub login: Option<String>,
    /// The display name, if any.
    pub name: Option<String>,
    /// The e-mail address, if any.
    pub email: Option<String>,
    /// The directory role in the workspace.
    pub role: String,
    /// An admin pinned the role, so syncs keep it.
    pub role_pinned: bool,
    /// `active`, `offboarded`, `suspended` or `invited`.
    pub state: String,
    /// Who created the membership: `sync`, `invitation` or `manual`.
    pub source: String,
    /// Why the person was offboarded or suspended; `None` while active.
    pub reason: Option<String>,
    /// Slugs of the workspace's teams the person is in (any source), sorted.
    #[sqlx(skip)]
    pub teams: Vec<String>,
}

/// A team of a workspace, as `teams list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TeamRow {
    /// The workspace's name.
    pub workspace: String,
    /// The team's slug, unique in the workspace.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// The parent team's slug; `None` for a root team.
    pub parent: Option<String>,
    /// Who created the team: `sync` or `manual`.
    pub source: String,
    /// (login or user id, role)
    pub members: Vec<(String, String)>,
    /// (repository, permission)
    pub repositories: Vec<(String, String)>,
}

/// One event of the audit trail, as `audit` shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct AuditRow {
    /// The event's id, increasing in the order events were written.
    pub id: i64,
    /// The run the event belongs to; `None` for a CLI or API change outside a run.
    pub run_id: Option<i64>,
    /// The workspace's name; `None` for an event about no workspace.
    pub workspace: Option<String>,
    /// When the event happened.
    pub at: DateTime<Utc>,
    /// Who acted: `sync` for scheduled and webhook runs, `cli:<unix user>` for CLI commands.
    pub actor: String,
    /// What happened (`onboard`, `offboard`, `run_ok`, `invitation_accept`, …).
    pub action: String,
    /// What it happened to: a login, user id, e-mail, team slug or workspace name.
    pub subject: String,
    /// The event's details as a JSON object (text).
    pub detail: String,
}

/// One recorded run, as `status` and `runs` show it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct RunRow {
    /// The run's id.
    pub id: i64,
    /// The workspace's name.
    pub workspace: String,
    /// What started the run: `schedule`, `webhook`, `cli`, `signal`, `start`, `resume`, `demo`.
    pub trigger: String,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// When it ended; `None` only for a run still marked `running`.
    pub finished_at: Option<DateTime<Utc>>,
    /// `ok`, `dry_run`, `aborted` or `failed` (`running` markers are not listed).
    pub outcome: String,
    /// People onboarded by the run's plan (only planned, for a dry or aborted run).
    pub onboarded: i64,
    /// People offboarded by the run's plan (only planned, for a dry or aborted run).
    pub offboarded: i64,
    /// People reactivated by the run's plan (only planned, for a dry or aborted run).
    pub reactivated: i64,
    /// The plan's changes of every kind; 0 when the run failed before planning.
    pub changes: i64,
    /// HTTP requests the run made to the provider.
    pub requests: i64,
    /// Of those, the ones answered `304 Not Modified` from the cache's ETag.
    pub requests_not_modified: i64,
    /// Why the run aborted or failed; `None` when it succeeded.
    pub error: Option<String>,
}

forward! {
    /// The people of every workspace, or of `workspace`, in membership `state` when given; with
    /// their team slugs, ordered by workspace and login.
    on_conn list_users => list_users(
        workspace: Option<&str>, state: Option<&str>
    ) -> Result<Vec<UserRow>, DirectoryError>;

    /// The teams of every workspace, or of `workspace`, with their members and grants.
    on_conn list_teams => list_teams(
        workspace: Option<&str>
    ) -> Result<Vec<TeamRow>, DirectoryError>;

    /// The audit trail, oldest first: of `workspace`, at or after `since`, of `run` when given.
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
        let sql = format!(
            "SELECT w.name AS workspace, u.id AS user_id, w.provider,
                    i.provider_user_id, i.login, u.name, u.email, m.role, m.role_pinned,
                    m.state, m.source, m.reason
             FROM {MEMBERSHIPS}
             WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR m.state = $2)
             ORDER BY w.name, COALESCE(i.login, u.email, ''), u.id"
        );
        let mut rows: Vec<UserRow> =
            sql! { as _, c, fetch_all, sqlx::AssertSqlSafe(sql), workspace, state };
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
        let members = sql! { c, fetch_all,
            "SELECT tm.team_id, COALESCE(i.login, u.email, CAST(u.id AS TEXT)) AS who, tm.role
             FROM team_members tm JOIN users u ON u.id = tm.user_id
             JOIN teams t ON t.id = tm.team_id
             JOIN workspaces w ON w.id = t.workspace_id
             LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host
             WHERE ($1 IS NULL OR w.name = $1) ORDER BY tm.team_id, who",
            workspace };
        let mut members = by_team(members, "who", "role")?;
        let repositories = sql! { c, fetch_all,
            "SELECT tr.team_id, r.name, tr.permission FROM team_repositories tr
             JOIN repositories r ON r.id = tr.repository_id
             JOIN teams t ON t.id = tr.team_id
             JOIN workspaces w ON w.id = t.workspace_id
             WHERE ($1 IS NULL OR w.name = $1) ORDER BY tr.team_id, r.name",
            workspace };
        let mut repositories = by_team(repositories, "name", "permission")?;
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

    /// The text columns `a` and `b` of `rows`, paired and grouped by the rows' `team_id`.
    fn by_team(
        rows: Vec<DbRow>,
        a: &str,
        b: &str,
    ) -> Result<BTreeMap<i64, Vec<(String, String)>>, sqlx::Error> {
        let mut grouped: BTreeMap<i64, Vec<(String, String)>> = BTreeMap::new();
        for r in rows {
            grouped
                .entry(r.try_get("team_id")?)
                .or_default()
                .push((r.try_get(a)?, r.try_get(b)?));
        }
        Ok(grouped)
    }
}
