//! The writer of `identities`: how a provider account (or a commit e-mail) maps to a user.

use crate::directory::people::IdentityKey;
use crate::directory::{DirectoryError, WorkspaceKey};
use chrono::{DateTime, Utc};

per_backend! {
    /// Maps `key` to `user_id`; returns the identity's id.
    pub async fn insert(
        c: &mut Conn,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
    ) -> Result<i64, DirectoryError> {
        Ok(sql! { scalar c, fetch_one,
            "INSERT INTO identities (user_id, provider, host, provider_user_id, login, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            user_id, &key.provider, &key.host, &key.provider_user_id, &key.login, now })
    }

    pub async fn delete(c: &mut Conn, id: i64) -> Result<(), DirectoryError> {
        sql! { c, execute, "DELETE FROM identities WHERE id = $1", id };
        Ok(())
    }

    /// The login a provider now shows for an account of the workspace's provider and host.
    pub async fn set_login(
        c: &mut Conn,
        ws: &WorkspaceKey,
        provider_user_id: &str,
        login: &str,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "UPDATE identities SET login = $1
             WHERE provider = $2 AND host = $3 AND provider_user_id = $4",
            login, &ws.provider, &ws.host, provider_user_id };
        Ok(())
    }

    /// Moves the identities of the workspace's members to another host name of the same
    /// provider instance; returns how many moved.
    pub async fn rehost(c: &mut Conn, ws: &WorkspaceKey, host: &str) -> Result<u64, DirectoryError> {
        Ok((sql! { c, execute,
            "UPDATE identities SET host = $1
             WHERE provider = $2 AND host = $3 AND user_id IN
                 (SELECT user_id FROM memberships WHERE workspace_id = $4)",
            host, &ws.provider, &ws.host, ws.id })
        .rows_affected())
    }

    /// The user that holds an account of the workspace's provider and host.
    pub async fn user_of(
        c: &mut Conn,
        ws: &WorkspaceKey,
        provider_user_id: &str,
    ) -> Result<Option<i64>, DirectoryError> {
        Ok(sql! { scalar c, fetch_optional,
            "SELECT user_id FROM identities
             WHERE provider = $1 AND host = $2 AND provider_user_id = $3",
            &ws.provider, &ws.host, provider_user_id })
    }
}
