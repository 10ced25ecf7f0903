//! Accepting an invitation: the user, an active `invitation` membership with the invited role,
//! and the team memberships, in one transaction. Of several concurrent accepts of one token
//! exactly one succeeds (see `people.rs` on concurrency).

use super::Store;
use super::people::{Accepted, InvitationRow, PeopleError, event, minutes};
use chrono::{DateTime, Utc};

/// Why a token whose invitation is no longer pending cannot be used (never the token).
fn refusal(inv: &InvitationRow) -> PeopleError {
    PeopleError::TokenRefused(match inv.state.as_str() {
        "expired" => format!(
            "invitation #{} expired at {}; ask an admin for `orgsync invite resend {}`",
            inv.id,
            minutes(&inv.expires_at),
            inv.id
        ),
        "cancelled" => format!("invitation #{} was cancelled by an admin", inv.id),
        "accepted" => format!(
            "invitation #{} was already accepted{}; a token works once",
            inv.id,
            inv.accepted_at
                .map(|t| format!(" at {}", minutes(&t)))
                .unwrap_or_default()
        ),
        other => format!("invitation #{} is {other}", inv.id),
    })
}

impl Store {
    /// Accepts the invitation whose token hashes to `token_hash`: creates the user, an active
    /// `invitation` membership with the invited role, and the team memberships. Exactly one of
    /// several concurrent accepts of one token succeeds; the others are refused with the reason.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        name: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Accepted, PeopleError> {
        // Expiry commits on its own: an accept refused because the invitation just expired
        // still leaves it marked expired.
        self.expire_invitations(now).await?;
        in_tx!(self, |c, m| m::accept(c, token_hash, name, now, actor)
            .await)
    }
}

per_backend! {
    pub async fn accept(
        c: &mut Conn,
        token_hash: &str,
        name: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<Accepted, PeopleError> {
        db::invitations::expire_first(c, now).await?;
        let id: Option<i64> = sql! { scalar c, fetch_optional,
            "SELECT id FROM invitations WHERE token_hash = $1",
            token_hash };
        let Some(id) = id else {
            return Err(PeopleError::TokenRefused(
                "the token is not valid: it was mistyped, or replaced by a newer one \
                 (`invite resend`)"
                    .to_string(),
            ));
        };
        let inv = db::invitations::one(c, id).await?;
        if inv.state != "pending" {
            return Err(refusal(&inv));
        }
        // The claim: of concurrent accepts, only one finds the row still pending.
        let claimed = sql! { c, execute,
            "UPDATE invitations SET state = 'accepted', accepted_at = $1
             WHERE id = $2 AND state = 'pending'",
            now, id };
        if claimed.rows_affected() != 1 {
            let now_state = db::invitations::one(c, id).await?;
            return Err(refusal(&now_state));
        }
        let ws_id = db::invitations::workspace_of(c, id).await?;
        let user_id = db::users::insert(c, name, Some(&inv.email), "person", now).await?;
        db::memberships::insert(c, ws_id, user_id, &inv.role, "invitation", now).await?;
        let mut teams = Vec::new();
        let mut teams_missing = Vec::new();
        for slug in &inv.teams {
            match db::teams::id(c, ws_id, slug, false).await? {
                Some(team_id) => {
                    db::teams::add_member(c, team_id, user_id, "member", "invitation").await?;
                    teams.push(slug.clone());
                }
                None => teams_missing.push(slug.clone()),
            }
        }
        sql! { c, execute,
            "UPDATE invitations SET accepted_user_id = $1 WHERE id = $2",
            user_id, id };
        let detail = serde_json::json!({
            "invitation": id,
            "user_id": user_id,
            "role": inv.role,
            "teams": teams,
            "teams_missing": teams_missing,
        });
        let e = event(Some(ws_id), now, actor, "invitation_accept", &inv.email, &detail);
        db::audit::write(c, e).await?;
        // The application downstream hears of the new person and their teams as of a sync's.
        let ws = sql! { as crate::directory::WorkspaceKey, c, fetch_one,
            "SELECT id, name, provider, host FROM workspaces WHERE id = $1", ws_id };
        let data = serde_json::json!({ "name": name, "email": inv.email, "role": inv.role,
                                       "state": "active", "source": "invitation" });
        db::outbox::enqueue_admin(c, &ws, user_id, ("member.onboarded", None), data, now).await?;
        for slug in &teams {
            let data = serde_json::json!({ "team": slug, "team_role": "member" });
            let kind = ("team.member_added", Some(slug.as_str()));
            db::outbox::enqueue_admin(c, &ws, user_id, kind, data, now).await?;
        }
        Ok(Accepted {
            invitation: db::invitations::one(c, id).await?,
            user_id,
            teams,
            teams_missing,
        })
    }
}
