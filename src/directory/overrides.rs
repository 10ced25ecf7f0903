//! Admin overrides a sync leaves alone: service accounts (`manual` memberships), suspension and
//! pinned roles. The state changes are `memberships` transitions whose SQL states the states
//! they leave, so a refused one changes nothing and is explained.

use super::people::{PeopleError, RoleOverride, event};
use super::tables::memberships::Transition;
use super::{Store, WorkspaceKey};
use chrono::{DateTime, Utc};

impl Store {
    /// Suspends a membership (active, invited or offboarded): every later sync leaves it alone.
    pub async fn suspend(
        &self,
        ws: &WorkspaceKey,
        user_id: i64,
        reason: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), PeopleError> {
        let change = Transition::Suspend { reason };
        self.override_state(ws, user_id, change, (now, actor)).await
    }

    /// Makes a suspended membership active again; the next sync decides about a synced one.
    pub async fn unsuspend(
        &self,
        ws: &WorkspaceKey,
        user_id: i64,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), PeopleError> {
        self.override_state(ws, user_id, Transition::Unsuspend, (now, actor))
            .await
    }

    async fn override_state(
        &self,
        ws: &WorkspaceKey,
        user_id: i64,
        change: Transition<'_>,
        (now, actor): (DateTime<Utc>, &str),
    ) -> Result<(), PeopleError> {
        in_tx!(self, |c, m| m::override_state(
            c, ws, user_id, &change, now, actor
        )
        .await)
    }
}

forward! {
    /// Creates a service (robot) account with an active `manual` membership. Returns its user id.
    in_tx add_service_account => add_service_account(
        ws: &WorkspaceKey, name: &str, role: &str, now: DateTime<Utc>, actor: &str
    ) -> Result<i64, PeopleError>;

    /// Pins a role (syncs keep it) or releases the pin (the next sync may change the role).
    /// Returns the role before and after.
    in_tx set_role => set_role(
        ws: &WorkspaceKey, user_id: i64, change: &RoleOverride, now: DateTime<Utc>, actor: &str
    ) -> Result<(String, String), PeopleError>;
}

per_backend! {
    pub async fn add_service_account(
        c: &mut Conn,
        ws: &WorkspaceKey,
        name: &str,
        role: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<i64, PeopleError> {
        db::invitations::expire_first(c, now).await?;
        let existing: Option<i64> = sql! { scalar c, fetch_optional,
            "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
             WHERE m.workspace_id = $1 AND u.kind = 'service' AND u.name = $2",
            ws.id, name };
        if let Some(user_id) = existing {
            return Err(PeopleError::ServiceAccountExists {
                workspace: ws.name.clone(),
                name: name.to_string(),
                user_id,
            });
        }
        let user_id = db::users::insert(c, name, None, "service", now).await?;
        db::memberships::insert(c, ws.id, user_id, role, "manual", now).await?;
        let detail = serde_json::json!({ "user_id": user_id, "role": role });
        db::audit::write(c, event(Some(ws.id), now, actor, "service_account_add", name, &detail))
            .await?;
        let data = serde_json::json!({ "name": name, "role": role, "kind": "service",
                                       "state": "active" });
        db::outbox::enqueue_admin(c, ws, user_id, ("member.onboarded", None), data, now).await?;
        Ok(user_id)
    }

    /// The membership's state, role and pin, or why there is none.
    async fn membership(
        c: &mut Conn,
        ws: &WorkspaceKey,
        user_id: i64,
    ) -> Result<(String, String, bool), PeopleError> {
        db::memberships::get(c, ws.id, user_id).await?.ok_or_else(|| PeopleError::NotAMember {
            workspace: ws.name.clone(),
            user_id,
        })
    }

    /// Suspends or unsuspends.
    pub async fn override_state(
        c: &mut Conn,
        ws: &WorkspaceKey,
        user_id: i64,
        change: &Transition<'_>,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), PeopleError> {
        db::invitations::expire_first(c, now).await?;
        let (before, _, _) = membership(c, ws, user_id).await?;
        let (action, what, detail) = match change {
            Transition::Suspend { reason } => (
                "suspend",
                "nothing to suspend",
                serde_json::json!({ "user_id": user_id, "was": before, "reason": reason }),
            ),
            _ => (
                "unsuspend",
                "only a suspended membership can be unsuspended",
                serde_json::json!({ "user_id": user_id }),
            ),
        };
        if db::memberships::transition(c, ws.id, user_id, change, now).await? != 1 {
            return Err(PeopleError::WrongState {
                workspace: ws.name.clone(),
                user_id,
                state: before,
                what,
            });
        }
        let subject = user_id.to_string();
        db::audit::write(c, event(Some(ws.id), now, actor, action, &subject, &detail)).await?;
        // The application downstream hears it like a sync's change: a suspended person may no
        // longer enter, an unsuspended one may again.
        let (kind, data) = match change {
            Transition::Suspend { reason } => (
                "member.offboarded",
                serde_json::json!({ "state": "suspended",
                                    "reason": format!("suspended by an admin: {reason}") }),
            ),
            _ => ("member.reactivated", serde_json::json!({ "state": "active" })),
        };
        db::outbox::enqueue_admin(c, ws, user_id, (kind, None), data, now).await?;
        Ok(())
    }

    pub async fn set_role(
        c: &mut Conn,
        ws: &WorkspaceKey,
        user_id: i64,
        change: &RoleOverride,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(String, String), PeopleError> {
        db::invitations::expire_first(c, now).await?;
        let (state, before, pinned) = membership(c, ws, user_id).await?;
        let (after, action, transition) = match change {
            RoleOverride::Pin(role) => (role.clone(), "role_pin", Transition::Pin { role }),
            RoleOverride::Release if !pinned => {
                return Err(PeopleError::WrongState {
                    workspace: ws.name.clone(),
                    user_id,
                    state: format!("{state} with role {before}"),
                    what: "its role is not pinned, so there is nothing to release",
                });
            }
            RoleOverride::Release => (before.clone(), "role_release", Transition::Release),
        };
        db::memberships::transition(c, ws.id, user_id, &transition, now).await?;
        let detail = serde_json::json!({ "user_id": user_id, "from": before, "to": after });
        let subject = user_id.to_string();
        db::audit::write(c, event(Some(ws.id), now, actor, action, &subject, &detail)).await?;
        if before != after {
            let data = serde_json::json!({ "from": before, "role": after });
            db::outbox::enqueue_admin(c, ws, user_id, ("member.role_changed", None), data, now).await?;
        }
        Ok((before, after))
    }
}
