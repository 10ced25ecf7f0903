//! Admin-owned people and overrides: invitations for people without a Git account, Git identity
//! mapping, service accounts, suspension and pinned roles.
//!
//! Everything here creates exactly the states that a sync leaves alone (see `sync/plan.rs`):
//! `invitation` and `manual` memberships, `suspended` memberships and pinned roles. Every change
//! writes an audit event in the same transaction, and the SQL is written once for both backends,
//! like `ops.rs`.
//!
//! Concurrency: a transaction that may write starts with a write (expiring overdue
//! invitations), so SQLite takes its write lock before reading and two accepts of one token are
//! serialised instead of failing with "busy"; on PostgreSQL the conditional
//! `UPDATE … WHERE state = 'pending'` blocks on the row and the loser sees no row to update.

use super::{Backend, DirectoryError, Store, WorkspaceKey};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why an invitation, identity or override change was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeopleError {
    #[error(
        "{email} already has a pending invitation to {workspace} (#{id}, expires {}); \
         use `orgsync invite resend {id}` for a new token, or `orgsync invite cancel {id}`",
        minutes(.expires_at)
    )]
    AlreadyInvited {
        email: String,
        workspace: String,
        id: i64,
        expires_at: DateTime<Utc>,
    },
    #[error(
        "{email} is already a member of {workspace} (user {user_id}); see `orgsync users list`"
    )]
    AlreadyMember {
        email: String,
        workspace: String,
        user_id: i64,
    },
    #[error("{workspace} has no team {unknown}; its teams are: {known}")]
    UnknownTeams {
        workspace: String,
        unknown: String,
        known: String,
    },
    #[error("there is no invitation #{0}; see `orgsync invite list`")]
    InvitationNotFound(i64),
    #[error("invitation #{id} is {state}; only pending or expired invitations can be {action}")]
    InvitationClosed {
        id: i64,
        state: String,
        action: &'static str,
    },
    /// The token cannot be used; the message says why and never contains the token.
    #[error("the invitation cannot be accepted: {0}")]
    TokenRefused(String),
    #[error("there is no user {0}; see `orgsync users list` or `orgsync identities list`")]
    UserNotFound(i64),
    #[error("{identity} is already mapped to user {user_id} ({user}); unlink it there first")]
    IdentityTaken {
        identity: String,
        user_id: i64,
        user: String,
    },
    #[error(
        "user {user_id} has no identity {identity}; see `orgsync identities list --user {user_id}`"
    )]
    IdentityNotFound { identity: String, user_id: i64 },
    #[error(
        "{identity} is how the sync of {workspace} recognises user {user_id}; unlinking it would \
         make the next sync onboard that account as a new person. Offboard or suspend first"
    )]
    IdentityInUse {
        identity: String,
        user_id: i64,
        workspace: String,
    },
    #[error("{workspace} already has a service account named {name} (user {user_id})")]
    ServiceAccountExists {
        workspace: String,
        name: String,
        user_id: i64,
    },
    #[error(
        "user {user_id} is not a member of {workspace}; see `orgsync users list --workspace {workspace}`"
    )]
    NotAMember { workspace: String, user_id: i64 },
    #[error("user {user_id} in {workspace} is {state}; {what}")]
    WrongState {
        workspace: String,
        user_id: i64,
        state: String,
        what: &'static str,
    },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl From<sqlx::Error> for PeopleError {
    fn from(e: sqlx::Error) -> Self {
        PeopleError::Directory(DirectoryError::from(e))
    }
}

fn is_unique_violation(e: &PeopleError) -> bool {
    matches!(
        e,
        PeopleError::Directory(DirectoryError::Sql(sqlx::Error::Database(db)))
            if db.is_unique_violation()
    )
}

/// An invitation as `invite list` shows it. The token hash is deliberately not part of it.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationRow {
    pub id: i64,
    pub workspace: String,
    pub email: String,
    pub role: String,
    pub teams: Vec<String>,
    pub admin: bool,
    pub state: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub accepted_user_id: Option<i64>,
}

/// A new invitation; the caller made the token and passes only its hash.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub workspace: &'a WorkspaceKey,
    pub email: &'a str,
    pub role: &'a str,
    pub teams: &'a [String],
    pub admin: bool,
    pub token_hash: String,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub actor: &'a str,
}

/// What accepting an invitation created.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub invitation: InvitationRow,
    pub user_id: i64,
    /// Teams joined (source `invitation`).
    pub teams: Vec<String>,
    /// Teams of the invitation that were deleted before it was accepted.
    pub teams_missing: Vec<String>,
}

/// One mapping of a provider identity (or a commit e-mail) to a directory user.
#[derive(Debug, Clone, Serialize)]
pub struct IdentityRow {
    pub id: i64,
    pub user_id: i64,
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub kind: String,
    pub provider: String,
    pub host: String,
    pub provider_user_id: String,
    pub login: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The identity to link or unlink. Commit e-mails use provider `email`, host `""` and the
/// lower-cased address as the id, so one table and one unique key serve both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKey {
    pub provider: String,
    pub host: String,
    pub provider_user_id: String,
    pub login: Option<String>,
}

impl IdentityKey {
    pub const EMAIL_PROVIDER: &'static str = "email";

    pub fn email(address: &str) -> IdentityKey {
        IdentityKey {
            provider: Self::EMAIL_PROVIDER.to_string(),
            host: String::new(),
            provider_user_id: address.trim().to_lowercase(),
            login: None,
        }
    }

    /// How messages name the identity.
    pub fn describe(&self) -> String {
        describe_identity(&self.provider, &self.host, &self.provider_user_id)
    }
}

fn describe_identity(provider: &str, host: &str, id: &str) -> String {
    if provider == IdentityKey::EMAIL_PROVIDER {
        format!("commit e-mail {id}")
    } else {
        format!("{provider} identity {id} at {host}")
    }
}

/// A hand-set role change: pin a role (kept by every sync) or release the pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleOverride {
    Pin(String),
    Release,
}

/// Runs `$body` in a transaction on either backend, with `$m` bound to that backend's SQL.
macro_rules! people_tx {
    ($self:expr, |$c:ident, $m:ident| $body:expr) => {
        match &$self.backend {
            Backend::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                let result = {
                    let $c = &mut *tx;
                    use sqlite as $m;
                    $body
                };
                match result {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let result = {
                    let $c = &mut *tx;
                    use postgres as $m;
                    $body
                };
                match result {
                    Ok(v) => {
                        tx.commit().await?;
                        Ok(v)
                    }
                    Err(e) => {
                        tx.rollback().await?;
                        Err(e)
                    }
                }
            }
        }
    };
}

impl Store {
    /// Marks pending invitations whose expiry has passed as `expired`, with an audit event each.
    /// Every people command calls it first, and the daemon's runs call it, so `invite list` and
    /// `invite accept` never see an overdue invitation as pending. Returns how many expired.
    pub async fn expire_invitations(&self, now: DateTime<Utc>) -> Result<u64, DirectoryError> {
        people_tx!(self, |c, m| m::expire(c, now).await)
    }

    /// Stores a new invitation (only the token's hash), refusing a second pending invitation for
    /// the same address, an address that is already a member, and teams the workspace lacks.
    pub async fn create_invitation(
        &self,
        new: &NewInvitation<'_>,
    ) -> Result<InvitationRow, PeopleError> {
        // Expiry commits on its own, so that a refused request does not roll it back.
        self.expire_invitations(new.now).await?;
        let result = people_tx!(self, |c, m| m::create_invitation(c, new).await);
        match result {
            // Another admin invited the same address in the same instant (the partial unique
            // index): report it like any pending invitation.
            Err(e) if is_unique_violation(&e) => {
                let pending = self
                    .list_invitations(Some(&new.workspace.name), Some("pending"))
                    .await?
                    .into_iter()
                    .find(|i| i.email == new.email);
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
            other => other,
        }
    }

    pub async fn list_invitations(
        &self,
        workspace: Option<&str>,
        state: Option<&str>,
    ) -> Result<Vec<InvitationRow>, PeopleError> {
        people_tx!(self, |c, m| m::list_invitations(c, workspace, state, None)
            .await)
    }

    pub async fn invitation(&self, id: i64) -> Result<Option<InvitationRow>, PeopleError> {
        Ok(
            people_tx!(self, |c, m| m::list_invitations(c, None, None, Some(id))
                .await)?
            .into_iter()
            .next(),
        )
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
        self.expire_invitations(now).await?;
        let result = people_tx!(self, |c, m| m::resend_invitation(
            c,
            id,
            &token_hash,
            expires_at,
            now,
            actor
        )
        .await);
        match result {
            Err(e) if is_unique_violation(&e) => {
                let Some(this) = self.invitation(id).await? else {
                    return Err(e);
                };
                let pending = self
                    .list_invitations(Some(&this.workspace), Some("pending"))
                    .await?
                    .into_iter()
                    .find(|i| i.email == this.email && i.id != id);
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
            other => other,
        }
    }

    pub async fn cancel_invitation(
        &self,
        id: i64,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<InvitationRow, PeopleError> {
        self.expire_invitations(now).await?;
        people_tx!(self, |c, m| m::cancel_invitation(c, id, now, actor).await)
    }

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
        people_tx!(self, |c, m| m::accept_invitation(
            c, token_hash, name, now, actor
        )
        .await)
    }

    pub async fn list_identities(
        &self,
        user: Option<i64>,
    ) -> Result<Vec<IdentityRow>, PeopleError> {
        people_tx!(self, |c, m| m::list_identities(c, user, None).await)
    }

    /// The identity with this login at a provider and host, if the directory knows it.
    pub async fn identity_by_login(
        &self,
        provider: &str,
        host: &str,
        login: &str,
    ) -> Result<Option<IdentityRow>, PeopleError> {
        let key = (provider, host, login);
        Ok(
            people_tx!(self, |c, m| m::list_identities(c, None, Some(key)).await)?
                .into_iter()
                .next(),
        )
    }

    /// Maps an identity to a user; a second mapping of the same identity is refused, naming
    /// the user that holds it.
    pub async fn link_identity(
        &self,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<IdentityRow, PeopleError> {
        let result = people_tx!(self, |c, m| m::link_identity(c, user_id, key, now, actor)
            .await);
        match result {
            Err(e) if is_unique_violation(&e) => {
                let holder = self.list_identities(None).await?.into_iter().find(|i| {
                    i.provider == key.provider
                        && i.host == key.host
                        && i.provider_user_id == key.provider_user_id
                });
                Err(match holder {
                    Some(h) => PeopleError::IdentityTaken {
                        identity: key.describe(),
                        user_id: h.user_id,
                        user: h.user_name.or(h.user_email).unwrap_or_default(),
                    },
                    None => e,
                })
            }
            other => other,
        }
    }

    pub async fn unlink_identity(
        &self,
        user_id: i64,
        key: &IdentityKey,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<IdentityRow, PeopleError> {
        people_tx!(self, |c, m| m::unlink_identity(c, user_id, key, now, actor)
            .await)
    }

    /// Creates a service (robot) account with an active `manual` membership. Returns its user id.
    pub async fn add_service_account(
        &self,
        ws: &WorkspaceKey,
        name: &str,
        role: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<i64, PeopleError> {
        people_tx!(self, |c, m| m::add_service_account(
            c, ws, name, role, now, actor
        )
        .await)
    }

    /// Suspends a membership (active, invited or offboarded): every later sync leaves it alone.
    pub async fn suspend(
        &self,
        ws: &WorkspaceKey,
        user_id: i64,
        reason: &str,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), PeopleError> {
        people_tx!(self, |c, m| m::suspend(c, ws, user_id, reason, now, actor)
            .await)
    }

    /// Makes a suspended membership active again; the next sync decides about a synced one.
    pub async fn unsuspend(
        &self,
        ws: &WorkspaceKey,
        user_id: i64,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(), PeopleError> {
        people_tx!(self, |c, m| m::unsuspend(c, ws, user_id, now, actor).await)
    }

    /// Pins a role (syncs keep it) or releases the pin (the next sync may change the role).
    /// Returns the role before and after.
    pub async fn set_role(
        &self,
        ws: &WorkspaceKey,
        user_id: i64,
        change: &RoleOverride,
        now: DateTime<Utc>,
        actor: &str,
    ) -> Result<(String, String), PeopleError> {
        people_tx!(self, |c, m| m::set_role(c, ws, user_id, change, now, actor)
            .await)
    }
}

/// Times in messages: to the minute, in UTC, as people read them.
fn minutes(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn teams_of(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

macro_rules! people_ops {
    ($module:ident, $conn:ty) => {
        mod $module {
            use super::*;
            use sqlx::Row;

            type Conn = $conn;

            // One argument per column of the row it writes.
            #[allow(clippy::too_many_arguments)]
            async fn audit(
                c: &mut Conn,
                ws: Option<i64>,
                at: DateTime<Utc>,
                actor: &str,
                action: &str,
                subject: &str,
                detail: serde_json::Value,
            ) -> Result<(), PeopleError> {
                sqlx::query(
                    "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
                     VALUES (NULL, $1, $2, $3, $4, $5, $6)",
                )
                .bind(ws)
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(subject)
                .bind(detail.to_string())
                .execute(&mut *c)
                .await?;
                Ok(())
            }

            /// The write that opens every people transaction (see the module comment).
            pub async fn expire(c: &mut Conn, now: DateTime<Utc>) -> Result<u64, DirectoryError> {
                let rows = sqlx::query(
                    "UPDATE invitations SET state = 'expired'
                     WHERE state = 'pending' AND expires_at <= $1
                     RETURNING id, workspace_id, email, expires_at",
                )
                .bind(now)
                .fetch_all(&mut *c)
                .await?;
                for r in &rows {
                    let id: i64 = r.try_get("id")?;
                    let expires_at: DateTime<Utc> = r.try_get("expires_at")?;
                    sqlx::query(
                        "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
                         VALUES (NULL, $1, $2, 'orgsync', 'invitation_expire', $3, $4)",
                    )
                    .bind(r.try_get::<i64, _>("workspace_id")?)
                    .bind(now)
                    .bind(r.try_get::<String, _>("email")?)
                    .bind(
                        serde_json::json!({ "invitation": id, "expires_at": expires_at })
                            .to_string(),
                    )
                    .execute(&mut *c)
                    .await?;
                }
                Ok(rows.len() as u64)
            }

            async fn expire_first(c: &mut Conn, now: DateTime<Utc>) -> Result<(), PeopleError> {
                expire(c, now).await?;
                Ok(())
            }

            pub async fn list_invitations(
                c: &mut Conn,
                workspace: Option<&str>,
                state: Option<&str>,
                id: Option<i64>,
            ) -> Result<Vec<InvitationRow>, PeopleError> {
                let rows = sqlx::query(
                    "SELECT i.id, w.name AS workspace, i.email, i.role, i.teams, i.admin, i.state,
                            i.created_by, i.created_at, i.expires_at, i.accepted_at,
                            i.accepted_user_id
                     FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
                     WHERE ($1 IS NULL OR w.name = $1) AND ($2 IS NULL OR i.state = $2)
                       AND ($3 IS NULL OR i.id = $3)
                     ORDER BY i.id",
                )
                .bind(workspace)
                .bind(state)
                .bind(id)
                .fetch_all(&mut *c)
                .await?;
                rows.iter().map(invitation_row).collect()
            }

            fn invitation_row(
                r: &<<Conn as sqlx::Connection>::Database as sqlx::Database>::Row,
            ) -> Result<InvitationRow, PeopleError> {
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

            async fn one_invitation(c: &mut Conn, id: i64) -> Result<InvitationRow, PeopleError> {
                list_invitations(c, None, None, Some(id))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(PeopleError::InvitationNotFound(id))
            }

            pub async fn create_invitation(
                c: &mut Conn,
                new: &NewInvitation<'_>,
            ) -> Result<InvitationRow, PeopleError> {
                expire_first(c, new.now).await?;
                let ws = new.workspace;
                let pending = sqlx::query(
                    "SELECT id, expires_at FROM invitations
                     WHERE workspace_id = $1 AND email = $2 AND state = 'pending'",
                )
                .bind(ws.id)
                .bind(new.email)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(p) = pending {
                    return Err(PeopleError::AlreadyInvited {
                        email: new.email.to_string(),
                        workspace: ws.name.clone(),
                        id: p.try_get("id")?,
                        expires_at: p.try_get("expires_at")?,
                    });
                }
                let member: Option<i64> = sqlx::query_scalar(
                    "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
                     WHERE m.workspace_id = $1 AND LOWER(u.email) = $2
                       AND m.state IN ('active', 'suspended', 'invited')
                     ORDER BY u.id LIMIT 1",
                )
                .bind(ws.id)
                .bind(new.email)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(user_id) = member {
                    return Err(PeopleError::AlreadyMember {
                        email: new.email.to_string(),
                        workspace: ws.name.clone(),
                        user_id,
                    });
                }
                let known: Vec<String> = sqlx::query_scalar(
                    "SELECT slug FROM teams WHERE workspace_id = $1 ORDER BY slug",
                )
                .bind(ws.id)
                .fetch_all(&mut *c)
                .await?;
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
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO invitations (workspace_id, email, role, teams, admin, token_hash,
                         state, created_by, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9)
                     RETURNING id",
                )
                .bind(ws.id)
                .bind(new.email)
                .bind(new.role)
                .bind(&teams)
                .bind(new.admin)
                .bind(&new.token_hash)
                .bind(new.actor)
                .bind(new.now)
                .bind(new.expires_at)
                .fetch_one(&mut *c)
                .await?;
                audit(
                    c,
                    Some(ws.id),
                    new.now,
                    new.actor,
                    "invitation_create",
                    new.email,
                    serde_json::json!({
                        "invitation": id,
                        "role": new.role,
                        "teams": new.teams,
                        "admin": new.admin,
                        "expires_at": new.expires_at,
                    }),
                )
                .await?;
                one_invitation(c, id).await
            }

            pub async fn resend_invitation(
                c: &mut Conn,
                id: i64,
                token_hash: &str,
                expires_at: DateTime<Utc>,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<InvitationRow, PeopleError> {
                expire_first(c, now).await?;
                let before = one_invitation(c, id).await?;
                let r = sqlx::query(
                    "UPDATE invitations SET token_hash = $1, expires_at = $2, state = 'pending'
                     WHERE id = $3 AND state IN ('pending', 'expired')",
                )
                .bind(token_hash)
                .bind(expires_at)
                .bind(id)
                .execute(&mut *c)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(PeopleError::InvitationClosed {
                        id,
                        state: before.state,
                        action: "resent",
                    });
                }
                let ws_id: i64 =
                    sqlx::query_scalar("SELECT workspace_id FROM invitations WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *c)
                        .await?;
                audit(
                    c,
                    Some(ws_id),
                    now,
                    actor,
                    "invitation_resend",
                    &before.email,
                    serde_json::json!({
                        "invitation": id,
                        "was": before.state,
                        "expires_at": expires_at,
                    }),
                )
                .await?;
                one_invitation(c, id).await
            }

            pub async fn cancel_invitation(
                c: &mut Conn,
                id: i64,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<InvitationRow, PeopleError> {
                expire_first(c, now).await?;
                let before = one_invitation(c, id).await?;
                let r = sqlx::query(
                    "UPDATE invitations SET state = 'cancelled'
                     WHERE id = $1 AND state IN ('pending', 'expired')",
                )
                .bind(id)
                .execute(&mut *c)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(PeopleError::InvitationClosed {
                        id,
                        state: before.state,
                        action: "cancelled",
                    });
                }
                let ws_id: i64 =
                    sqlx::query_scalar("SELECT workspace_id FROM invitations WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *c)
                        .await?;
                audit(
                    c,
                    Some(ws_id),
                    now,
                    actor,
                    "invitation_cancel",
                    &before.email,
                    serde_json::json!({ "invitation": id, "was": before.state }),
                )
                .await?;
                one_invitation(c, id).await
            }

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

            pub async fn accept_invitation(
                c: &mut Conn,
                token_hash: &str,
                name: &str,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<Accepted, PeopleError> {
                expire_first(c, now).await?;
                let id: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM invitations WHERE token_hash = $1")
                        .bind(token_hash)
                        .fetch_optional(&mut *c)
                        .await?;
                let Some(id) = id else {
                    return Err(PeopleError::TokenRefused(
                        "the token is not valid: it was mistyped, or replaced by a newer one \
                         (`invite resend`)"
                            .to_string(),
                    ));
                };
                let inv = one_invitation(c, id).await?;
                if inv.state != "pending" {
                    return Err(refusal(&inv));
                }
                // The claim: of concurrent accepts, only one finds the row still pending.
                let claimed = sqlx::query(
                    "UPDATE invitations SET state = 'accepted', accepted_at = $1
                     WHERE id = $2 AND state = 'pending'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *c)
                .await?;
                if claimed.rows_affected() != 1 {
                    let now_state = one_invitation(c, id).await?;
                    return Err(refusal(&now_state));
                }
                let ws_id: i64 =
                    sqlx::query_scalar("SELECT workspace_id FROM invitations WHERE id = $1")
                        .bind(id)
                        .fetch_one(&mut *c)
                        .await?;
                let user_id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (name, email, kind, created_at, updated_at)
                     VALUES ($1, $2, 'person', $3, $3) RETURNING id",
                )
                .bind(name)
                .bind(&inv.email)
                .bind(now)
                .fetch_one(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO memberships (workspace_id, user_id, role, role_pinned, state, source,
                         created_at, updated_at)
                     VALUES ($1, $2, $3, FALSE, 'active', 'invitation', $4, $4)",
                )
                .bind(ws_id)
                .bind(user_id)
                .bind(&inv.role)
                .bind(now)
                .execute(&mut *c)
                .await?;
                let mut teams = Vec::new();
                let mut teams_missing = Vec::new();
                for slug in &inv.teams {
                    let team: Option<i64> = sqlx::query_scalar(
                        "SELECT id FROM teams WHERE workspace_id = $1 AND slug = $2",
                    )
                    .bind(ws_id)
                    .bind(slug)
                    .fetch_optional(&mut *c)
                    .await?;
                    match team {
                        Some(team_id) => {
                            sqlx::query(
                                "INSERT INTO team_members (team_id, user_id, role, source)
                                 VALUES ($1, $2, 'member', 'invitation')
                                 ON CONFLICT (team_id, user_id) DO NOTHING",
                            )
                            .bind(team_id)
                            .bind(user_id)
                            .execute(&mut *c)
                            .await?;
                            teams.push(slug.clone());
                        }
                        None => teams_missing.push(slug.clone()),
                    }
                }
                sqlx::query("UPDATE invitations SET accepted_user_id = $1 WHERE id = $2")
                    .bind(user_id)
                    .bind(id)
                    .execute(&mut *c)
                    .await?;
                audit(
                    c,
                    Some(ws_id),
                    now,
                    actor,
                    "invitation_accept",
                    &inv.email,
                    serde_json::json!({
                        "invitation": id,
                        "user_id": user_id,
                        "role": inv.role,
                        "teams": teams,
                        "teams_missing": teams_missing,
                    }),
                )
                .await?;
                Ok(Accepted {
                    invitation: one_invitation(c, id).await?,
                    user_id,
                    teams,
                    teams_missing,
                })
            }

            pub async fn list_identities(
                c: &mut Conn,
                user: Option<i64>,
                by_login: Option<(&str, &str, &str)>,
            ) -> Result<Vec<IdentityRow>, PeopleError> {
                let (provider, host, login) = match by_login {
                    Some((p, h, l)) => (Some(p), Some(h), Some(l)),
                    None => (None, None, None),
                };
                let rows = sqlx::query(
                    "SELECT i.id, i.user_id, u.name AS user_name, u.email AS user_email, u.kind,
                            i.provider, i.host, i.provider_user_id, i.login, i.created_at
                     FROM identities i JOIN users u ON u.id = i.user_id
                     WHERE ($1 IS NULL OR i.user_id = $1)
                       AND ($2 IS NULL OR i.provider = $2) AND ($3 IS NULL OR i.host = $3)
                       AND ($4 IS NULL OR LOWER(i.login) = LOWER($4))
                     ORDER BY i.user_id, i.provider, i.host, i.provider_user_id",
                )
                .bind(user)
                .bind(provider)
                .bind(host)
                .bind(login)
                .fetch_all(&mut *c)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(IdentityRow {
                            id: r.try_get("id")?,
                            user_id: r.try_get("user_id")?,
                            user_name: r.try_get("user_name")?,
                            user_email: r.try_get("user_email")?,
                            kind: r.try_get("kind")?,
                            provider: r.try_get("provider")?,
                            host: r.try_get("host")?,
                            provider_user_id: r.try_get("provider_user_id")?,
                            login: r.try_get("login")?,
                            created_at: r.try_get("created_at")?,
                        })
                    })
                    .collect()
            }

            async fn require_user(c: &mut Conn, user_id: i64) -> Result<(), PeopleError> {
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *c)
                    .await?;
                found.map(|_| ()).ok_or(PeopleError::UserNotFound(user_id))
            }

            pub async fn link_identity(
                c: &mut Conn,
                user_id: i64,
                key: &IdentityKey,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<IdentityRow, PeopleError> {
                expire_first(c, now).await?;
                require_user(c, user_id).await?;
                let holder = sqlx::query(
                    "SELECT i.user_id, COALESCE(u.name, u.email, '') AS who
                     FROM identities i JOIN users u ON u.id = i.user_id
                     WHERE i.provider = $1 AND i.host = $2 AND i.provider_user_id = $3",
                )
                .bind(&key.provider)
                .bind(&key.host)
                .bind(&key.provider_user_id)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(h) = holder {
                    return Err(PeopleError::IdentityTaken {
                        identity: key.describe(),
                        user_id: h.try_get("user_id")?,
                        user: h.try_get("who")?,
                    });
                }
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO identities (user_id, provider, host, provider_user_id, login, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(user_id)
                .bind(&key.provider)
                .bind(&key.host)
                .bind(&key.provider_user_id)
                .bind(&key.login)
                .bind(now)
                .fetch_one(&mut *c)
                .await?;
                audit(
                    c,
                    None,
                    now,
                    actor,
                    "identity_link",
                    &key.describe(),
                    serde_json::json!({
                        "user_id": user_id,
                        "provider": key.provider,
                        "host": key.host,
                        "provider_user_id": key.provider_user_id,
                        "login": key.login,
                    }),
                )
                .await?;
                list_identities(c, Some(user_id), None)
                    .await?
                    .into_iter()
                    .find(|i| i.id == id)
                    .ok_or(PeopleError::UserNotFound(user_id))
            }

            pub async fn unlink_identity(
                c: &mut Conn,
                user_id: i64,
                key: &IdentityKey,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<IdentityRow, PeopleError> {
                expire_first(c, now).await?;
                require_user(c, user_id).await?;
                let row = list_identities(c, Some(user_id), None)
                    .await?
                    .into_iter()
                    .find(|i| {
                        i.provider == key.provider
                            && i.host == key.host
                            && i.provider_user_id == key.provider_user_id
                    })
                    .ok_or_else(|| PeopleError::IdentityNotFound {
                        identity: key.describe(),
                        user_id,
                    })?;
                let synced: Option<String> = sqlx::query_scalar(
                    "SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
                     WHERE m.user_id = $1 AND m.source = 'sync'
                       AND m.state IN ('active', 'suspended')
                       AND w.provider = $2 AND w.host = $3
                     ORDER BY w.name LIMIT 1",
                )
                .bind(user_id)
                .bind(&key.provider)
                .bind(&key.host)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(workspace) = synced {
                    return Err(PeopleError::IdentityInUse {
                        identity: key.describe(),
                        user_id,
                        workspace,
                    });
                }
                sqlx::query("DELETE FROM identities WHERE id = $1")
                    .bind(row.id)
                    .execute(&mut *c)
                    .await?;
                audit(
                    c,
                    None,
                    now,
                    actor,
                    "identity_unlink",
                    &key.describe(),
                    serde_json::json!({
                        "user_id": user_id,
                        "provider": row.provider,
                        "host": row.host,
                        "provider_user_id": row.provider_user_id,
                        "login": row.login,
                    }),
                )
                .await?;
                Ok(row)
            }

            pub async fn add_service_account(
                c: &mut Conn,
                ws: &WorkspaceKey,
                name: &str,
                role: &str,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<i64, PeopleError> {
                expire_first(c, now).await?;
                let existing: Option<i64> = sqlx::query_scalar(
                    "SELECT u.id FROM users u JOIN memberships m ON m.user_id = u.id
                     WHERE m.workspace_id = $1 AND u.kind = 'service' AND u.name = $2",
                )
                .bind(ws.id)
                .bind(name)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(user_id) = existing {
                    return Err(PeopleError::ServiceAccountExists {
                        workspace: ws.name.clone(),
                        name: name.to_string(),
                        user_id,
                    });
                }
                let user_id: i64 = sqlx::query_scalar(
                    "INSERT INTO users (name, email, kind, created_at, updated_at)
                     VALUES ($1, NULL, 'service', $2, $2) RETURNING id",
                )
                .bind(name)
                .bind(now)
                .fetch_one(&mut *c)
                .await?;
                sqlx::query(
                    "INSERT INTO memberships (workspace_id, user_id, role, role_pinned, state, source,
                         created_at, updated_at)
                     VALUES ($1, $2, $3, FALSE, 'active', 'manual', $4, $4)",
                )
                .bind(ws.id)
                .bind(user_id)
                .bind(role)
                .bind(now)
                .execute(&mut *c)
                .await?;
                audit(
                    c,
                    Some(ws.id),
                    now,
                    actor,
                    "service_account_add",
                    name,
                    serde_json::json!({ "user_id": user_id, "role": role }),
                )
                .await?;
                Ok(user_id)
            }

            async fn membership_state(
                c: &mut Conn,
                ws: &WorkspaceKey,
                user_id: i64,
            ) -> Result<String, PeopleError> {
                let state: Option<String> = sqlx::query_scalar(
                    "SELECT state FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                )
                .bind(ws.id)
                .bind(user_id)
                .fetch_optional(&mut *c)
                .await?;
                state.ok_or_else(|| PeopleError::NotAMember {
                    workspace: ws.name.clone(),
                    user_id,
                })
            }

            pub async fn suspend(
                c: &mut Conn,
                ws: &WorkspaceKey,
                user_id: i64,
                reason: &str,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<(), PeopleError> {
                expire_first(c, now).await?;
                let before = membership_state(c, ws, user_id).await?;
                let r = sqlx::query(
                    "UPDATE memberships SET state = 'suspended', reason = $1, updated_at = $2
                     WHERE workspace_id = $3 AND user_id = $4
                       AND state IN ('active', 'invited', 'offboarded')",
                )
                .bind(reason)
                .bind(now)
                .bind(ws.id)
                .bind(user_id)
                .execute(&mut *c)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(PeopleError::WrongState {
                        workspace: ws.name.clone(),
                        user_id,
                        state: before,
                        what: "nothing to suspend",
                    });
                }
                audit(
                    c,
                    Some(ws.id),
                    now,
                    actor,
                    "suspend",
                    &user_id.to_string(),
                    serde_json::json!({ "user_id": user_id, "was": before, "reason": reason }),
                )
                .await
            }

            pub async fn unsuspend(
                c: &mut Conn,
                ws: &WorkspaceKey,
                user_id: i64,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<(), PeopleError> {
                expire_first(c, now).await?;
                let before = membership_state(c, ws, user_id).await?;
                let r = sqlx::query(
                    "UPDATE memberships SET state = 'active', reason = NULL, offboarded_at = NULL,
                         updated_at = $1
                     WHERE workspace_id = $2 AND user_id = $3 AND state = 'suspended'",
                )
                .bind(now)
                .bind(ws.id)
                .bind(user_id)
                .execute(&mut *c)
                .await?;
                if r.rows_affected() != 1 {
                    return Err(PeopleError::WrongState {
                        workspace: ws.name.clone(),
                        user_id,
                        state: before,
                        what: "only a suspended membership can be unsuspended",
                    });
                }
                audit(
                    c,
                    Some(ws.id),
                    now,
                    actor,
                    "unsuspend",
                    &user_id.to_string(),
                    serde_json::json!({ "user_id": user_id }),
                )
                .await
            }

            pub async fn set_role(
                c: &mut Conn,
                ws: &WorkspaceKey,
                user_id: i64,
                change: &RoleOverride,
                now: DateTime<Utc>,
                actor: &str,
            ) -> Result<(String, String), PeopleError> {
                expire_first(c, now).await?;
                let row = sqlx::query(
                    "SELECT role, role_pinned, state FROM memberships
                     WHERE workspace_id = $1 AND user_id = $2",
                )
                .bind(ws.id)
                .bind(user_id)
                .fetch_optional(&mut *c)
                .await?
                .ok_or_else(|| PeopleError::NotAMember {
                    workspace: ws.name.clone(),
                    user_id,
                })?;
                let before: String = row.try_get("role")?;
                let pinned: bool = row.try_get("role_pinned")?;
                let (after, action) = match change {
                    RoleOverride::Pin(role) => {
                        sqlx::query(
                            "UPDATE memberships SET role = $1, role_pinned = TRUE, updated_at = $2
                             WHERE workspace_id = $3 AND user_id = $4",
                        )
                        .bind(role)
                        .bind(now)
                        .bind(ws.id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                        (role.clone(), "role_pin")
                    }
                    RoleOverride::Release => {
                        if !pinned {
                            return Err(PeopleError::WrongState {
                                workspace: ws.name.clone(),
                                user_id,
                                state: format!("{} with role {before}", row.try_get::<String, _>("state")?),
                                what: "its role is not pinned, so there is nothing to release",
                            });
                        }
                        sqlx::query(
                            "UPDATE memberships SET role_pinned = FALSE, updated_at = $1
                             WHERE workspace_id = $2 AND user_id = $3",
                        )
                        .bind(now)
                        .bind(ws.id)
                        .bind(user_id)
                        .execute(&mut *c)
                        .await?;
                        (before.clone(), "role_release")
                    }
                };
                audit(
                    c,
                    Some(ws.id),
                    now,
                    actor,
                    action,
                    &user_id.to_string(),
                    serde_json::json!({ "user_id": user_id, "from": before, "to": after }),
                )
                .await?;
                Ok((before, after))
            }
        }
    };
}

people_ops!(sqlite, sqlx::SqliteConnection);
people_ops!(postgres, sqlx::PgConnection);
