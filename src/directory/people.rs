//! Admin-owned people and overrides: invitations for people without a Git account, Git identity
//! mapping, service accounts, suspension and pinned roles.
//!
//! Everything here creates exactly the states that a sync leaves alone (see `sync/plan.rs`):
//! `invitation` and `manual` memberships, `suspended` memberships and pinned roles. Every change
//! writes an audit event in the same transaction. This file holds what the three kinds share:
//! the refusals, the rows; `invitations.rs`, `identities.rs` and `overrides.rs` hold the SQL.
//!
//! Concurrency: a transaction that may write starts with a write (expiring overdue
//! invitations), so SQLite takes its write lock before reading and two accepts of one token are
//! serialised instead of failing with "busy"; on PostgreSQL the conditional
//! `UPDATE … WHERE state = 'pending'` blocks on the row and the loser sees no row to update.

use super::tables::audit::Event;
use super::{DirectoryError, WorkspaceKey};
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

impl PeopleError {
    /// Two admins did the same at the same moment (see [`DirectoryError::is_unique_violation`]).
    pub(super) fn is_unique_violation(&self) -> bool {
        matches!(self, PeopleError::Directory(e) if e.is_unique_violation())
    }
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
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
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

pub(super) fn describe_identity(provider: &str, host: &str, id: &str) -> String {
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

/// Times in messages: to the minute, in UTC, as people read them.
pub(super) fn minutes(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The audit event of a people command (never part of a run).
pub(super) fn event<'a>(
    workspace_id: Option<i64>,
    at: DateTime<Utc>,
    actor: &'a str,
    action: &'a str,
    subject: &'a str,
    detail: &serde_json::Value,
) -> Event<'a> {
    Event {
        workspace_id,
        run_id: None,
        at,
        actor,
        action,
        subject,
        detail: detail.to_string(),
    }
}
