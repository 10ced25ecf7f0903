//! Workspaces: the row that ties a configured workspace to its provider account, and what
//! `status` notes about it.

use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};

/// The workspace row that ties a configured workspace to its provider account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkspaceKey {
    /// The workspace row's id (`workspaces.id`), which memberships, teams and runs refer to.
    pub id: i64,
    /// The workspace's name in the configuration.
    pub name: String,
    /// The provider its members' identities are at (`github`, `gitlab`, `bitbucket`).
    pub provider: String,
    /// The host of the workspace's API URL (`api.github.com`, `gitlab.com`, …): with the
    /// provider, what its identities are keyed by.
    pub host: String,
}

impl WorkspaceKey {
    fn mismatch(self, name: &str, provider: &str, host: &str) -> DirectoryError {
        DirectoryError::WorkspaceMismatch {
            name: name.to_string(),
            stored_provider: self.provider,
            stored_host: self.host,
            provider: provider.to_string(),
            host: host.to_string(),
        }
    }
}

impl Store {
    /// Records teams as unavailable (or available again) for `status`.
    pub async fn set_teams_status(
        &self,
        ws: &WorkspaceKey,
        status: Option<&str>,
    ) -> Result<(), DirectoryError> {
        on_conn!(self, |c, m| m::set_teams_status(c, ws.id, status).await)
    }
}

forward! {
    /// Finds or creates the workspace row.
    on_conn ensure_workspace => ensure(
        name: &str, provider: &str, host: &str, account: &str, now: DateTime<Utc>
    ) -> Result<WorkspaceKey, DirectoryError>;

    /// Points a stored workspace at another host name of the same provider instance, with its
    /// members' identities, in one transaction. Returns how many identities moved.
    in_tx rekey_workspace => rekey(
        name: &str, provider: &str, host: &str
    ) -> Result<u64, DirectoryError>;

    /// The workspace row by name, if it was ever synced.
    on_conn workspace => workspace(name: &str) -> Result<Option<WorkspaceKey>, DirectoryError>;

    /// Records the last webhook event of a workspace, for `status`.
    on_conn set_last_event => set_last_event(
        workspace: &str, text: &str
    ) -> Result<(), DirectoryError>;

    /// Why teams are unavailable (if they are) and the last webhook event of a workspace.
    on_conn workspace_notes => notes(
        workspace: &str
    ) -> Result<(Option<String>, Option<String>), DirectoryError>;

    /// The ids of the named workspaces the directory knows.
    on_conn workspace_ids => ids(names: &[String]) -> Result<Vec<i64>, DirectoryError>;

    /// Checks that the directory answers, for `/readyz`.
    on_conn ping => ping() -> Result<(), DirectoryError>;
}

per_backend! {
    pub async fn ensure(
        c: &mut Conn,
        name: &str,
        provider: &str,
        host: &str,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<WorkspaceKey, DirectoryError> {
        sql! { c, execute,
            "INSERT INTO workspaces (name, provider, host, account, created_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (name) DO NOTHING",
            name, provider, host, account, now };
        let key = workspace(c, name)
            .await?
            .ok_or_else(|| DirectoryError::Conflict(format!("workspace {name} vanished")))?;
        // Host names compare case-insensitively; the stored spelling stays the key.
        if key.provider != provider || !key.host.eq_ignore_ascii_case(host) {
            return Err(key.mismatch(name, provider, host));
        }
        // An account renamed at the provider (same provider and host) is followed.
        sql! { c, execute,
            "UPDATE workspaces SET account = $1 WHERE id = $2 AND account <> $1",
            account, key.id };
        Ok(key)
    }

    /// Points a stored workspace at another host of the same provider (the same instance
    /// under another name), with the identities of its members.
    pub async fn rekey(
        c: &mut Conn,
        name: &str,
        provider: &str,
        host: &str,
    ) -> Result<u64, DirectoryError> {
        let key = workspace(c, name).await?.ok_or_else(|| {
            DirectoryError::Conflict(format!("no workspace named {name} in the directory"))
        })?;
        if key.provider != provider {
            return Err(key.mismatch(name, provider, host));
        }
        let moved = db::identity_rows::rehost(c, &key, host).await?;
        sql! { c, execute, "UPDATE workspaces SET host = $1 WHERE id = $2", host, key.id };
        Ok(moved)
    }

    pub async fn workspace(
        c: &mut Conn,
        name: &str,
    ) -> Result<Option<WorkspaceKey>, DirectoryError> {
        Ok(sql! { as WorkspaceKey, c, fetch_optional,
            "SELECT id, name, provider, host FROM workspaces WHERE name = $1",
            name })
    }

    pub async fn set_teams_status(
        c: &mut Conn,
        ws: i64,
        status: Option<&str>,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute, "UPDATE workspaces SET teams_status = $1 WHERE id = $2", status, ws };
        Ok(())
    }

    pub async fn set_last_event(
        c: &mut Conn,
        workspace: &str,
        text: &str,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "UPDATE workspaces SET last_event = $1 WHERE name = $2",
            text, workspace };
        Ok(())
    }

    pub async fn notes(
        c: &mut Conn,
        workspace: &str,
    ) -> Result<(Option<String>, Option<String>), DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT teams_status, last_event FROM workspaces WHERE name = $1",
            workspace };
        Ok(match row {
            Some(r) => (r.try_get("teams_status")?, r.try_get("last_event")?),
            None => (None, None),
        })
    }

    pub async fn ids(c: &mut Conn, names: &[String]) -> Result<Vec<i64>, DirectoryError> {
        let rows = sql! { c, fetch_all, "SELECT id, name FROM workspaces" };
        let mut ids = Vec::new();
        for r in rows {
            let name: String = r.try_get("name")?;
            if names.contains(&name) {
                ids.push(r.try_get("id")?);
            }
        }
        Ok(ids)
    }

    pub async fn ping(c: &mut Conn) -> Result<(), DirectoryError> {
        sql! { c, execute, "SELECT 1" };
        Ok(())
    }
}
