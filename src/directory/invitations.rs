//! Invitations for people without a Git account: create, list, resend, cancel, expire. Only
//! the token's hash is stored. Accepting one is in `accept.rs`.

use super::people::{InvitationRow, NewInvitation, PeopleError, event};
use super::{DirectoryError, Store};
use chrono::{DateTime, Utc};

fn teams_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl Store {
    /// Stores a new invitation (only the token's hash), refusing a second pending invitation for
    /// the same address, an address that is already a member, and teams the workspace lacks.
    pub async fn create_invitation(
        &self,
        new: &NewInvitation<'_>,
    ) -> Result<InvitationRow, PeopleError> {
        // Expiry commits on its own, so that a refused request does not roll it back.
        self.expire_invitations(new.now).await?;
        let result = in_tx!(self, |c, m| m::create(c, new).await);
        self.already_invited(result, &new.workspace.name, new.email, None)
            .await
    }

    /// Another admin invited the same address in the same instant (the partial unique index):
    /// reported like any pending invitation.
    async fn already_invited(
        &self,
        result: Result<InvitationRow, PeopleError>,
        workspace: &str,
        email: &str,
        except: Option<i64>,
    ) -> Result<InvitationRow, PeopleError> {
        let e = match result {
            Err(e) if e.is_unique_violation() => e,
            other => return other,
        };
        let pending = self
            .list_invitations(Some(workspace), Some("pending"))
            .await?
            .into_iter()
            .find(|i| i.email == email && Some(i.id) != except);
        Err(match pending {
            Some(p) => PeopleError::AlreadyInvited {
                email: p.email,
                workspace: p.workspace,
                id: p.id,
                expires_at: p.expires_at,
            },
            None => e,
        })
    }

    /// Invitations in id order, only those of `workspace` and in `state` when given.
    pub async fn list_invitations(
        &self,
        workspace: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<InvitationRow>, PeopleError> {
        in_tx!(self, |c, m| m::list(c, workspace, state, None).await)
    }

    /// The invitation with this id; `None` if there is none.
    pub async fn invitation(&self, id: i64) -> Result<Option<InvitationRow>, PeopleError> {
        let found: Vec<InvitationRow> =
            in_tx!(self, |c, m| m::list(c, None, None, Some(id)).await)?;
        Ok(found.into_iter().next())
    }

    /// Gives a pending or expired invitation a new token and expiry; the old token stops
    /// working because its hash is overwritten.
    pub async fn resend_invitation(
        &self,
        id: i64,
        token_hash: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<InvitationRow, PeopleError> {
        let token = Some((token_hash.as_str(), expires_at));
        let result = self.reissue_or_cancel(id, token, now, actor).await;
        if !matches!(&result, Err(e) if e.is_unique_violation()) {
            return result;
        }
        let Some(this) = self.invitation(id).await? else {
            return result;
        };
        self.already_invited(result, &this.workspace, &this.email, Some(id))
            .await
    }

    /// Cancels a pending or expired invitation (expiring overdue ones first), with an audit
    /// event, and returns it cancelled; an accepted or cancelled one is
    /// [`PeopleError::InvitationClosed`].
    pub async fn cancel_invitation(
        &self,
        id: i64,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<InvitationRow, PeopleError> {
        self.reissue_or_cancel(id, None, now, actor).await
    }

    /// Resends (`token`: the new hash and expiry) or cancels, after committing the expiry of
    /// overdue invitations on its own, so that a refusal does not roll it back.
    async fn reissue_or_cancel(
        &self,
        id: i64,
        token: Option<(&str, DateTime<Utc>)>,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<InvitationRow, PeopleError> {
        self.expire_invitations(now).await?;
        in_tx!(self, |c, m| m::reissue_or_cancel(c, id, token, now, actor)
            .await)
    }
}

forward! {
    /// Marks pending invitations whose expiry has passed as `expired`, with an audit event each.
    /// Every people command calls it first, and the daemon's runs call it, so `invite list` and
    /// `invite accept` never see an overdue invitation as pending. Returns how many expired.
    in_tx expire_invitations => expire(now: DateTime<Utc>) -> Result<u64, DirectoryError>;
}

per_backend! {
    /// The write that opens every people transaction (see `people.rs`).
    pub async fn expire(c: &mut Conn, now: DateTime<Utc>) -> Result<u64, DirectoryError> {
        let rows = sql! { c, fetch_all,
            "UPDATE invitations SET state = 'expired'
             WHERE state = 'pending' AND expires_at <= $1
             RETURNING id, workspace_id, email, expires_at",
            now };
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let expires_at: DateTime<Utc> = r.try_get("expires_at")?;
            let email: String = r.try_get("email")?;
            let detail = serde_json::json!({ "invitation": id, "expires_at": expires_at });
            let e = event(Some(r.try_get("workspace_id")?), now, "orgsync", "invitation_expire", &email, &detail);
            db::audit::write(c, e).await?;
        }
        Ok(rows.len() as u64)
    }

    pub async fn expire_first(c: &mut Conn, now: DateTime<Utc>) -> Result<(), PeopleError> {
        expire(c, now).await?;
        Ok(())
    }

    pub async fn list(
        c: &mut Conn,
        workspace: Option<&str>,
        state: Option<&str>,
        id: Option<i64>,
    ) -> Result<Vec<InvitationRow>, PeopleError> {
        let rows = sql! { c, fetch_all,
            "SELECT i.id, w.name AS workspace, i.email, i.role, i.teams, i.admin, i.state,
                    i.created_by, i.created_at, i.expires_at, i.accepted_at,
                    i.accepted_user_id
             FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
             WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR i.state = $2)
               AND ($3 IS NULL OR i.id = $3)
             ORDER BY i.id",
            workspace, state, id };
        rows.iter().map(row).collect()
    }

    fn row(r: &DbRow) -> Result<InvitationRow, PeopleError> {
        Ok(InvitationRow {
            id: r.try_get("id")?,
            workspace: r.try_get("workspace")?,
            email: r.try_get("email")?,
            role: r.try_get("role")?,
            teams: teams_of(&r.try_get::<String, _>("teams")?),
            admin: r.try_get("admin")?,
            state: r.try_get("state")?,
            created_by: r.try_get("created_by")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            accepted_at: r.try_get("accepted_at")?,
            accepted_user_id: r.try_get("accepted_user_id")?,
        })
    }

    pub async fn one(c: &mut Conn, id: i64) -> Result<InvitationRow, PeopleError> {
        list(c, None, None, Some(id))
            .await?
            .into_iter()
            .next()
            .ok_or(PeopleError::InvitationNotFound(id))
    }

    pub async fn workspace_of(c: &mut Conn, id: i64) -> Result<i64, PeopleError> {
        Ok(sql! { scalar c, fetch_one, "SELECT workspace_id FROM invitations WHERE id = $1", id })
    }

    pub async fn create(
        c: &mut Conn,
        new: &crate::directory::people::NewInvitation<'_>,
    ) -> Result<InvitationRow, PeopleError> {
        expire_first(c, new.now).await?;
        let ws = new.workspace;
        let pending = sql! { c, fetch_optional,
            "SELECT id, expires_at FROM invitations
             WHERE workspace_id = $1 AND email = $2 AND state = 'pending'",
            ws.id, new.email };
        if let Some(p) = pending {
            return Err(PeopleError::AlreadyInvited {
                email: new.email.to_string(),
                workspace: ws.name.clone(),
                id: p.try_get("id")?,
                expires_at: p.try_get("expires_at")?,
            });
        }
        let member: Option<i64> = sql! { scalar c, fetch_optional,
            "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
             WHERE m.workspace_id = $1 AND LOWER(u.email) = $2
               AND m.state IN ('active', 'suspended', 'invited')
             ORDER BY u.id LIMIT 1",
            ws.id, new.email };
        if let Some(user_id) = member {
            return Err(PeopleError::AlreadyMember {
                email: new.email.to_string(),
                workspace: ws.name.clone(),
                user_id,
            });
        }
        let known: Vec<String> =
            sql! { scalar c, fetch_all,
                "SELECT slug FROM teams WHERE workspace_id = $1 ORDER BY slug",
                ws.id };
        let unknown: Vec<&str> = new
            .teams
            .iter()
            .filter(|t| !known.contains(t))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(PeopleError::UnknownTeams {
                workspace: ws.name.clone(),
                unknown: unknown.join(", "),
                known: if known.is_empty() {
                    "none yet (run a sync first, or invite without --team)".to_string()
                } else {
                    known.join(", ")
                },
            });
        }
        let teams = serde_json::to_string(new.teams).unwrap_or_else(|_| "[]".to_string());
        let id: i64 = sql! { scalar c, fetch_one,
            "INSERT INTO invitations (workspace_id, email, role, teams, admin, token_hash,
                 state, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9)
             RETURNING id",
            ws.id, new.email, new.role, &teams, new.admin, &new.token_hash, new.actor, new.now, new.expires_at };
        let detail = serde_json::json!({
            "invitation": id,
            "role": new.role,
            "teams": new.teams,
            "admin": new.admin,
            "expires_at": new.expires_at,
        });
        let e = event(Some(ws.id), new.now, new.actor, "invitation_create", new.email, &detail);
        db::audit::write(c, e).await?;
        one(c, id).await
    }

    /// Resends (a new token hash and expiry in `token`) or cancels a pending or expired
    /// invitation.
    pub async fn reissue_or_cancel(
        c: &mut Conn,
        id: i64,
        token: Option<(&str, DateTime<Utc>)>,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<InvitationRow, PeopleError> {
        expire_first(c, now).await?;
        let before = one(c, id).await?;
        let (update, action, done) = match token {
            Some((hash, expires_at)) => (
                sqlx::query(
                    "UPDATE invitations SET token_hash = $2, expires_at = $3, state = 'pending'
                     WHERE id = $1 AND state IN ('pending', 'expired')",
                )
                .bind(id)
                .bind(hash)
                .bind(expires_at),
                "invitation_resend",
                "resent",
            ),
            None => (
                sqlx::query(
                    "UPDATE invitations SET state = 'cancelled'
                     WHERE id = $1 AND state IN ('pending', 'expired')",
                )
                .bind(id),
                "invitation_cancel",
                "cancelled",
            ),
        };
        if update.execute(&mut *c).await?.rows_affected() != 1 {
            return Err(PeopleError::InvitationClosed {
                id,
                state: before.state,
                action: done,
            });
        }
        let mut detail = serde_json::json!({ "invitation": id, "was": before.state });
        if let Some((_, expires_at)) = token {
            detail["expires_at"] = serde_json::json!(expires_at);
        }
        let ws_id = workspace_of(c, id).await?;
        db::audit::write(c, event(Some(ws_id), now, actor, action, &before.email, &detail)).await?;
        one(c, id).await
    }
}
