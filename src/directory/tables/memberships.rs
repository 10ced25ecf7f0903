//! The writer of `memberships`: a person's state and role in a workspace. Every change is a
//! [`Transition`] whose SQL repeats the rule it may be made under (only synced memberships for
//! the sync, never a pinned role, only from the states it leaves), so a stale plan or command
//! changes no row and the caller sees it.

use crate::directory::DirectoryError;
use chrono::{DateTime, Utc};

/// A change of one membership.
pub(crate) enum Transition<'a> {
    /// Sync: an offboarded synced membership is active again with `role`.
    Reactivate { role: &'a str },
    /// Sync: an active synced membership is offboarded for `reason`.
    Offboard { reason: &'a str },
    /// Sync: the role of a synced membership whose role is not pinned.
    SyncedRole { role: &'a str },
    /// Admin: suspend an active, invited or offboarded membership.
    Suspend { reason: &'a str },
    /// Admin: a suspended membership is active again.
    Unsuspend,
    /// Admin: pin a role that every sync keeps.
    Pin { role: &'a str },
    /// Admin: release the pin.
    Release,
}

impl Transition<'_> {
    /// The statement: `$1` workspace, `$2` user, `$3` now, `$4` the role or reason.
    fn sql(&self) -> &'static str {
        match self {
            Transition::Reactivate { .. } => {
                "UPDATE memberships SET state = 'active', role = $4, reason = NULL,
                     offboarded_at = NULL, updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2 AND source = 'sync' AND state = 'offboarded'"
            }
            Transition::Offboard { .. } => {
                "UPDATE memberships SET state = 'offboarded', reason = $4, offboarded_at = $3,
                     updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2 AND source = 'sync' AND state = 'active'"
            }
            Transition::SyncedRole { .. } => {
                "UPDATE memberships SET role = $4, updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2 AND source = 'sync' AND NOT role_pinned"
            }
            Transition::Suspend { .. } => {
                "UPDATE memberships SET state = 'suspended', reason = $4, updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2
                   AND state IN ('active', 'invited', 'offboarded')"
            }
            Transition::Unsuspend => {
                "UPDATE memberships SET state = 'active', reason = NULL, offboarded_at = NULL,
                     updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2 AND state = 'suspended'"
            }
            Transition::Pin { .. } => {
                "UPDATE memberships SET role = $4, role_pinned = TRUE, updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2"
            }
            Transition::Release => {
                "UPDATE memberships SET role_pinned = FALSE, updated_at = $3
                 WHERE workspace_id = $1 AND user_id = $2"
            }
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            Transition::Reactivate { role }
            | Transition::SyncedRole { role }
            | Transition::Pin { role } => Some(*role),
            Transition::Offboard { reason } | Transition::Suspend { reason } => Some(*reason),
            Transition::Unsuspend | Transition::Release => None,
        }
    }
}

per_backend! {
    /// A new active membership of `source` (`manual`, `invitation`); synced ones are batched.
    pub async fn insert(
        c: &mut Conn,
        workspace_id: i64,
        user_id: i64,
        role: &str,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        sql! { c, execute,
            "INSERT INTO memberships (workspace_id, user_id, role, role_pinned, state, source,
                 created_at, updated_at)
             VALUES ($1, $2, $3, FALSE, 'active', $4, $5, $5)",
            workspace_id, user_id, role, source, now };
        Ok(())
    }

    /// Makes `change`; returns how many rows it changed (0 when the rule refused it).
    pub async fn transition(
        c: &mut Conn,
        workspace_id: i64,
        user_id: i64,
        change: &Transition<'_>,
        now: DateTime<Utc>,
    ) -> Result<u64, DirectoryError> {
        let mut q = sqlx::query(change.sql()).bind(workspace_id).bind(user_id).bind(now);
        if let Some(text) = change.text() {
            q = q.bind(text);
        }
        Ok(q.execute(&mut *c).await?.rows_affected())
    }

    /// The membership's state, its role and whether the role is pinned.
    pub async fn get(
        c: &mut Conn,
        workspace_id: i64,
        user_id: i64,
    ) -> Result<Option<(String, String, bool)>, DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT state, role, role_pinned FROM memberships
             WHERE workspace_id = $1 AND user_id = $2",
            workspace_id, user_id };
        Ok(match row {
            Some(r) => Some((r.try_get("state")?, r.try_get("role")?, r.try_get("role_pinned")?)),
            None => None,
        })
    }
}
