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
    /// The address already has a pending invitation to the workspace.
    AlreadyInvited {
        /// The invited address.
        email: String,
        /// The workspace's name.
        workspace: String,
        /// The pending invitation's id.
        id: i64,
        /// When the pending invitation expires.
        expires_at: DateTime<Utc>,
    },
    #[error(
        "{email} is already a member of {workspace} (user {user_id}); see `orgsync users list`"
    )]
    /// The address belongs to a user who is already active, suspended or invited in the workspace.
    AlreadyMember {
        /// The address.
        email: String,
        /// The workspace's name.
        workspace: String,
        /// The user who has it.
        user_id: i64,
    },
    /// Teams named for the invitation that the workspace does not hold.
    #[error("{workspace} has no team {unknown}; its teams are: {known}")]
    UnknownTeams {
        /// The workspace's name.
        workspace: String,
        /// The unknown team slugs, comma-separated.
        unknown: String,
        /// The workspace's team slugs, comma-separated, or a hint when it has none yet.
        known: String,
    },
    /// No invitation has this id.
    #[error("there is no invitation #{0}; see `orgsync invite list`")]
    InvitationNotFound(i64),
    /// The invitation is accepted or cancelled, so it cannot be resent or cancelled.
    #[error("invitation #{id} is {state}; only pending or expired invitations can be {action}")]
    InvitationClosed {
        /// The invitation's id.
        id: i64,
        /// Its state (`accepted` or `cancelled`).
        state: String,
        /// What was asked (`resent`, `cancelled`), for the message.
        action: &'static str,
    },
    /// The token cannot be used; the message says why and never contains the token.
    #[error("the invitation cannot be accepted: {0}")]
    TokenRefused(String),
    /// No directory user has this id.
    #[error("there is no user {0}; see `orgsync users list` or `orgsync identities list`")]
    UserNotFound(i64),
    /// The identity already belongs to another user.
    #[error("{identity} is already mapped to user {user_id} ({user}); unlink it there first")]
    IdentityTaken {
        /// How messages name the identity ([`IdentityKey::describe`]).
        identity: String,
        /// The user it is mapped to.
        user_id: i64,
        /// That user's name or e-mail, for the message.
        user: String,
    },
    #[error(
        "user {user_id} has no identity {identity}; see `orgsync identities list --user {user_id}`"
    )]
    /// The user has no such identity to unlink.
    IdentityNotFound {
        /// How messages name the identity.
        identity: String,
        /// The user asked about.
        user_id: i64,
    },
    #[error(
        "{identity} is how the sync of {workspace} recognises user {user_id}; unlinking it would \
         make the next sync onboard that account as a new person. Offboard or suspend first"
    )]
    /// Unlinking would remove the identity a sync of the workspace recognises the user by.
    IdentityInUse {
        /// How messages name the identity.
        identity: String,
        /// The user it belongs to.
        user_id: i64,
        /// The workspace whose sync uses it.
        workspace: String,
    },
    /// The workspace already has a service account of that name.
    #[error("{workspace} already has a service account named {name} (user {user_id})")]
    ServiceAccountExists {
        /// The workspace's name.
        workspace: String,
        /// The name asked for.
        name: String,
        /// The existing service account's user id.
        user_id: i64,
    },
    #[error(
        "user {user_id} is not a member of {workspace}; see `orgsync users list --workspace {workspace}`"
    )]
    /// The user has no membership in the workspace.
    NotAMember {
        /// The workspace's name.
        workspace: String,
        /// The user's id.
        user_id: i64,
    },
    /// The membership is in a state the command does not apply to.
    #[error("user {user_id} in {workspace} is {state}; {what}")]
    WrongState {
        /// The workspace's name.
        workspace: String,
        /// The user's id.
        user_id: i64,
        /// The membership's state now.
        state: String,
        /// What the command needs, for the message.
        what: &'static str,
    },
    /// A database error.
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
    /// The invitation's id, as `invite resend`/`cancel` take it.
    pub id: i64,
    /// The workspace's name.
    pub workspace: String,
    /// The invited address.
    pub email: String,
    /// The directory role the invitee gets on accepting.
    pub role: String,
    /// Teams (slugs) the invitee joins on accepting.
    pub teams: Vec<String>,
    /// Invited as the workspace's admin role (`--admin`).
    pub admin: bool,
    /// `pending`, `accepted`, `expired` or `cancelled`.
    pub state: String,
    /// Who invited: the actor of the command.
    pub created_by: String,
    /// When the invitation was made.
    pub created_at: DateTime<Utc>,
    /// When its token stops being accepted (renewed by a resend).
    pub expires_at: DateTime<Utc>,
    /// When it was accepted; `None` until then.
    pub accepted_at: Option<DateTime<Utc>>,
    /// The user the acceptance created; `None` until then.
    pub accepted_user_id: Option<i64>,
}

/// A new invitation; the caller made the token and passes only its hash.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    /// The workspace invited to.
    pub workspace: &'a WorkspaceKey,
    /// The invited address.
    pub email: &'a str,
    /// The directory role the invitee gets on accepting.
    pub role: &'a str,
    /// Teams (slugs) the invitee joins; each must exist in the workspace.
    pub teams: &'a [String],
    /// Invited as the workspace's admin role.
    pub admin: bool,
    /// The SHA-256 hash of the token; the token itself is never stored.
    pub token_hash: String,
    /// The time of the invitation (also used to expire overdue ones first).
    pub now: DateTime<Utc>,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// Who invites, for the audit trail.
    pub actor: &'a str,
}

/// What accepting an invitation created.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    /// The invitation, now `accepted`.
    pub invitation: InvitationRow,
    /// The directory user the acceptance created (kind `person`, membership `invitation`).
    pub user_id: i64,
    /// Teams joined (source `invitation`).
    pub teams: Vec<String>,
    /// Teams of the invitation that were deleted before it was accepted.
    pub teams_missing: Vec<String>,
}

/// One mapping of a provider identity (or a commit e-mail) to a directory user.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct IdentityRow {
    /// The identity row's id.
    pub id: i64,
    /// The directory user it maps to.
    pub user_id: i64,
    /// That user's display name, if any.
    pub user_name: Option<String>,
    /// That user's e-mail address, if any.
    pub user_email: Option<String>,
    /// The user's kind: `person` or `service`.
    pub kind: String,
    /// The provider (`github`, `gitlab`, `bitbucket`), or `email` for a commit e-mail.
    pub provider: String,
    /// The host of the workspace's API URL (`api.github.com`, `gitlab.com`, …); empty for a
    /// commit e-mail.
    pub host: String,
    /// The provider's immutable user id, or the lower-cased commit e-mail address.
    pub provider_user_id: String,
    /// The login last seen at the provider; `None` for a commit e-mail or when not yet seen.
    pub login: Option<String>,
    /// When the mapping was made.
    pub created_at: DateTime<Utc>,
}

/// The identity to link or unlink. Commit e-mails use provider `email`, host `""` and the
/// lower-cased address as the id, so one table and one unique key serve both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityKey {
    /// The provider (`github`, `gitlab`, `bitbucket`), or `email` for a commit e-mail.
    pub provider: String,
    /// The host of the provider's API URL; empty for a commit e-mail.
    pub host: String,
    /// The provider's immutable user id, or the lower-cased commit e-mail address.
    pub provider_user_id: String,
    /// The login to record with a new link; `None` when unknown (and for e-mails).
    pub login: Option<String>,
}

impl IdentityKey {
    /// The provider name under which commit e-mails are stored.
    pub(crate) const EMAIL_PROVIDER: &'static str = "email";

    /// The key of a commit e-mail: trimmed and lower-cased, so spellings of one address match.
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
    /// Pin this directory role: syncs keep it until it is released.
    Pin(String),
    /// Remove the pin: the next sync sets the role the provider role maps to.
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
