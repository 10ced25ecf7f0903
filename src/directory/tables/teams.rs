//! The writer of `teams`, `team_members`, `team_repositories` and `repositories` (new synced
//! team memberships and grants are batched, `batch.rs`).

use crate::directory::DirectoryError;
use crate::sync::admit::RepositoryInfo;
use chrono::{DateTime, Utc};

per_backend! {
    /// A new synced team; returns its id.
    pub async fn create(
        c: &mut Conn,
        workspace_id: i64,
        slug: &str,
        name: &str,
        parent: Option<&str>,
        provider_team_id: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, DirectoryError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO teams (workspace_id, slug, name, parent_slug, provider_team_id, source,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'sync', $6, $6) RETURNING id",
        )
        .bind(workspace_id)
        .bind(slug)
        .bind(name)
        .bind(parent)
        .bind(provider_team_id)
        .bind(now)
        .fetch_one(&mut *c)
        .await?)
    }

    /// A synced team's name and parent; returns how many rows changed.
    pub async fn update(
        c: &mut Conn,
        workspace_id: i64,
        slug: &str,
        name: &str,
        parent: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64, DirectoryError> {
        Ok(sqlx::query(
            "UPDATE teams SET name = $1, parent_slug = $2, updated_at = $3
             WHERE workspace_id = $4 AND slug = $5 AND source = 'sync'",
        )
        .bind(name)
        .bind(parent)
        .bind(now)
        .bind(workspace_id)
        .bind(slug)
        .execute(&mut *c)
        .await?
        .rows_affected())
    }

    /// Deletes a synced team (its memberships and grants go with it).
    pub async fn delete(c: &mut Conn, workspace_id: i64, slug: &str) -> Result<(), DirectoryError> {
        sqlx::query("DELETE FROM teams WHERE workspace_id = $1 AND slug = $2 AND source = 'sync'")
            .bind(workspace_id)
            .bind(slug)
            .execute(&mut *c)
            .await?;
        Ok(())
    }

    /// The id of a team of the workspace (only a synced one if `synced`).
    pub async fn id(
        c: &mut Conn,
        workspace_id: i64,
        slug: &str,
        synced: bool,
    ) -> Result<Option<i64>, DirectoryError> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM teams WHERE workspace_id = $1 AND slug = $2
               AND (source = 'sync' OR NOT $3)",
        )
        .bind(workspace_id)
        .bind(slug)
        .bind(synced)
        .fetch_optional(&mut *c)
        .await?)
    }

    /// Adds a member of `source` unless the user is in the team already.
    pub async fn add_member(
        c: &mut Conn,
        team_id: i64,
        user_id: i64,
        role: &str,
        source: &str,
    ) -> Result<(), DirectoryError> {
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id, role, source) VALUES ($1, $2, $3, $4)
             ON CONFLICT (team_id, user_id) DO NOTHING",
        )
        .bind(team_id)
        .bind(user_id)
        .bind(role)
        .bind(source)
        .execute(&mut *c)
        .await?;
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
        sqlx::query(
            "DELETE FROM team_members WHERE user_id = $1 AND source = 'sync'
               AND team_id IN (SELECT id FROM teams WHERE workspace_id = $2)",
        )
        .bind(user_id)
        .bind(workspace_id)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    /// Revokes a team's access to a repository of the workspace.
    pub async fn revoke(
        c: &mut Conn,
        workspace_id: i64,
        team_id: i64,
        repository: &str,
    ) -> Result<(), DirectoryError> {
        sqlx::query(
            "DELETE FROM team_repositories WHERE team_id = $1 AND repository_id IN
               (SELECT id FROM repositories WHERE workspace_id = $2 AND name = $3)",
        )
        .bind(team_id)
        .bind(workspace_id)
        .bind(repository)
        .execute(&mut *c)
        .await?;
        Ok(())
    }

    /// Inserts or refreshes a repository; returns its id.
    pub async fn upsert_repository(
        c: &mut Conn,
        workspace_id: i64,
        name: &str,
        info: &RepositoryInfo,
    ) -> Result<i64, DirectoryError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO repositories (workspace_id, name, provider_repo_id, archived, fork, visibility)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace_id, name) DO UPDATE SET
                 provider_repo_id = excluded.provider_repo_id, archived = excluded.archived,
                 fork = excluded.fork, visibility = excluded.visibility
             RETURNING id",
        )
        .bind(workspace_id)
        .bind(name)
        .bind(&info.provider_repo_id)
        .bind(info.archived)
        .bind(info.fork)
        .bind(&info.visibility)
        .fetch_one(&mut *c)
        .await?)
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
        Ok(sqlx::query_scalar(sql)
            .bind(workspace_id)
            .bind(name)
            .fetch_optional(&mut *c)
            .await?)
    }
}
