//! The writer of `teams`, `team_members`, `team_repositories` and `repositories` (new synced
//! team memberships and grants are batched, `batch.rs`).

use crate::directory::DirectoryError;
use chrono::{DateTime, Utc};

per_backend! {
    /// A synced team's name and parent; returns how many rows changed.
    pub async fn update(
        c: &mut Conn,
        workspace_id: i64,
        slug: &str,
        name: &str,
        parent: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, DirectoryError> {
        Ok((sql! { c, execute,
            "UPDATE teams SET name = $1, parent_slug = $2, updated_at = $3
             WHERE workspace_id = $4 AND slug = $5 AND source = 'sync'",
            name, parent, now, workspace_id, slug })
        .rows_affected())
    }

    /// Deletes a synced team (its memberships and grants go with it).
    pub async fn delete(c: &mut Conn, workspace_id: i64, slug: &str) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "DELETE FROM teams WHERE workspace_id = $1 AND slug = $2 AND source = 'sync'",
            workspace_id, slug };
        Ok(())
    }

    /// The id of a team of the workspace (only a synced one if `synced`).
    pub async fn id(
        c: &mut Conn,
        workspace_id: i64,
        slug: &str,
        synced: bool,
    ) -> Result<Option<i64>, DirectoryError> {
        Ok(sql! { scalar c, fetch_optional,
            "SELECT id FROM teams WHERE workspace_id = $1 AND slug = $2
               AND (source = 'sync' OR NOT $3)",
            workspace_id, slug, synced })
    }

    /// Adds a member of `source` unless the user is in the team already.
    pub async fn add_member(
        c: &mut Conn,
        team_id: i64,
        user_id: i64,
        role: &str,
        source: &str,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "INSERT INTO team_members (team_id, user_id, role, source) VALUES ($1, $2, $3, $4)
             ON CONFLICT (team_id, user_id) DO NOTHING",
            team_id, user_id, role, source };
        Ok(())
    }

    /// A synced team member's role, or (`None`) the synced membership removed.
    pub async fn set_synced_member(
        c: &mut Conn,
        team_id: i64,
        user_id: i64,
        role: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let q = match role {
            Some(role) => sqlx::query(
                "UPDATE team_members SET role = $3
                 WHERE team_id = $1 AND user_id = $2 AND source = 'sync'",
            )
            .bind(team_id)
            .bind(user_id)
            .bind(role),
            None => sqlx::query(
                "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2 AND source = 'sync'",
            )
            .bind(team_id)
            .bind(user_id),
        };
        q.execute(&mut *c).await?;
        Ok(())
    }

    /// Removes an offboarded user from the workspace's synced teams.
    pub async fn leave_synced(c: &mut Conn, workspace_id: i64, user_id: i64) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "DELETE FROM team_members WHERE user_id = $1 AND source = 'sync'
               AND team_id IN (SELECT id FROM teams WHERE workspace_id = $2)",
            user_id, workspace_id };
        Ok(())
    }

    /// Revokes a team's access to a repository of the workspace.
    pub async fn revoke(
        c: &mut Conn,
        workspace_id: i64,
        team_id: i64,
        repository: &str,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "DELETE FROM team_repositories WHERE team_id = $1 AND repository_id IN
               (SELECT id FROM repositories WHERE workspace_id = $2 AND name = $3)",
            team_id, workspace_id, repository };
        Ok(())
    }

    /// A repository's id, or (`delete`) the repository removed.
    pub async fn repository(
        c: &mut Conn,
        workspace_id: i64,
        name: &str,
        delete: bool,
    ) -> Result<Option<i64>, DirectoryError> {
        let sql = if delete {
            "DELETE FROM repositories WHERE workspace_id = $1 AND name = $2 RETURNING id"
        } else {
            "SELECT id FROM repositories WHERE workspace_id = $1 AND name = $2"
        };
        Ok(sql! { scalar c, fetch_optional, sql, workspace_id, name })
    }
}
