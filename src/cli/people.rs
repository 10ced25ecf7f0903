//! `orgsync invite …`, `orgsync identities …` and the admin overrides of `orgsync users …`
//! (service accounts, suspend/unsuspend, pinned roles).
//!
//! Each command checks its input against the configuration (workspace, roles), applies overdue
//! expiries, makes one change in one transaction with its audit event (actor `cli:<unix user>`),
//! and says what it did. Tokens are printed at most once, by `invite create` and `invite resend`
//! when no `[smtp]` relay is configured, and never logged.
// The doc comments of the arguments are the command's help text, where `[smtp]` is the
// configuration's TOML table, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use super::{EXIT_OK, Failure, invoking_user, load_config, open_store};
use crate::config::{Config, WorkspaceConfig};
use crate::directory::people::{
    IdentityKey, IdentityRow, InvitationRow, NewInvitation, PeopleError, RoleOverride,
};
use crate::directory::{Store, WorkspaceKey};
use crate::people::mail::{self, InvitationNotice};
use crate::people::{InviteToken, normalize_email, parse_lifetime};
use crate::term::table;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

/// `orgsync invite …`: invitations for people without a Git account.
#[derive(Debug, Subcommand)]
pub enum InviteCommand {
    /// Invite a person without a Git account; prints (or mails) a single-use accept token.
    Create {
        /// The workspace to invite into, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// The invitee's e-mail address (where the token goes when [smtp] is configured).
        #[arg(long)]
        email: String,
        /// A directory role of the workspace (a value of its [workspace.roles], or its
        /// default_role or admin_role). Defaults to the admin_role with --admin, else required.
        #[arg(long)]
        role: Option<String>,
        /// A team of the workspace to join on acceptance (repeatable).
        #[arg(long = "team")]
        teams: Vec<String>,
        /// Invite as the workspace's admin_role.
        #[arg(long)]
        admin: bool,
        /// How long the token stays valid: 90m, 36h, 7d, 2w (at most 90 days).
        #[arg(long, default_value = "7d")]
        expires_in: String,
    },
    /// Invitations and their states.
    List {
        /// Only this workspace's invitations.
        #[arg(long)]
        workspace: Option<String>,
        /// Only invitations in this state.
        #[arg(long, value_enum)]
        state: Option<InvitationState>,
        /// Print the invitations as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Issue a new token and expiry for a pending or expired invitation; the old token stops working.
    Resend {
        /// The invitation's number (`orgsync invite list`).
        id: i64,
        /// How long the new token stays valid: 90m, 36h, 7d, 2w (at most 90 days).
        #[arg(long, default_value = "7d")]
        expires_in: String,
    },
    /// Cancel a pending or expired invitation.
    Cancel {
        /// The invitation's number (`orgsync invite list`).
        id: i64,
    },
    /// Accept an invitation: creates the person and their membership. Pass `-` as TOKEN to read
    /// it from standard input (keeps it out of the shell history).
    Accept {
        /// The accept token, or `-` to read it from standard input.
        token: String,
        /// The person's name.
        #[arg(long)]
        name: String,
    },
}

/// `orgsync identities …`: which provider identities and commit e-mails map to which user.
#[derive(Debug, Subcommand)]
pub enum IdentitiesCommand {
    /// Provider identities and commit e-mails, and the users they map to.
    List {
        /// Only this person's: a directory user id, or a login the directory knows.
        #[arg(long)]
        user: Option<String>,
        /// Print the identities as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Map a provider identity or a commit e-mail to a directory user.
    Link(IdentityArgs),
    /// Remove a mapping.
    Unlink(IdentityArgs),
}

/// `--user ID` and either `--provider P [--host H] (--id X | --login L)` or `--email E`.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// The directory user: a user id, or a login the directory knows (in any workspace; an
    /// ambiguous login is refused).
    #[arg(long)]
    pub user: String,
    /// The identity's provider.
    #[arg(long, value_enum, conflicts_with = "email")]
    pub provider: Option<ProviderArg>,
    /// The host of the workspace's api_url (api.github.com, gitlab.com, api.bitbucket.org,
    /// or your GHES / GitLab host). Defaults to the provider's public host.
    #[arg(long, requires = "provider")]
    pub host: Option<String>,
    /// The provider's immutable user id (GitHub numeric id, GitLab user id, Bitbucket uuid).
    #[arg(long, requires = "provider", conflicts_with = "login")]
    pub id: Option<String>,
    /// A login the directory already knows at that provider (identities are keyed by id).
    #[arg(long, requires = "provider")]
    pub login: Option<String>,
    /// A commit e-mail address.
    #[arg(long)]
    pub email: Option<String>,
}

/// The admin overrides under `orgsync users`.
#[derive(Debug, Subcommand)]
pub enum UsersPeopleCommand {
    /// Create a service (robot) account with a manual membership that syncs never touch.
    AddServiceAccount {
        /// The account's name.
        name: String,
        /// The workspace, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// Defaults to the workspace's default_role.
        #[arg(long)]
        role: Option<String>,
    },
    /// Suspend a membership: it stays suspended whatever the provider says.
    Suspend {
        /// The workspace, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// The person: a directory user id, or their login in this workspace.
        #[arg(long)]
        user: String,
        /// Why, for the audit trail and `users list`.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a suspension (the next sync decides about a synced membership again).
    Unsuspend {
        /// The workspace, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// The person: a directory user id, or their login in this workspace.
        #[arg(long)]
        user: String,
    },
    /// Pin a role by hand (`--role R --pin`), or release a pin (`--release`).
    SetRole {
        /// The workspace, as named in the configuration.
        #[arg(long)]
        workspace: String,
        /// The person: a directory user id, or their login in this workspace.
        #[arg(long)]
        user: String,
        /// The directory role to pin (a role of the workspace).
        #[arg(long, required_unless_present = "release", conflicts_with = "release")]
        role: Option<String>,
        /// Keep this role whatever later syncs say.
        #[arg(long, required_unless_present = "release")]
        pin: bool,
        /// Un-pin: the next sync may change the role.
        #[arg(long, conflicts_with = "pin")]
        release: bool,
    },
}

/// `invite list --state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InvitationState {
    /// Sent, not yet accepted, not expired.
    Pending,
    /// Accepted: the person is in the directory.
    Accepted,
    /// Past its expiry without being accepted.
    Expired,
    /// Cancelled by an admin.
    Cancelled,
}

impl InvitationState {
    /// The directory's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Accepted => "accepted",
            InvitationState::Expired => "expired",
            InvitationState::Cancelled => "cancelled",
        }
    }
}

/// `--provider` of an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderArg {
    /// GitHub (api.github.com or a GitHub Enterprise Server).
    Github,
    /// GitLab (gitlab.com or a self-managed instance).
    Gitlab,
    /// Bitbucket Cloud.
    Bitbucket,
}

impl ProviderArg {
    /// The provider's name as the directory stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderArg::Github => "github",
            ProviderArg::Gitlab => "gitlab",
            ProviderArg::Bitbucket => "bitbucket",
        }
    }

    /// The host of the provider's public service.
    fn default_host(self) -> &'static str {
        match self {
            ProviderArg::Github => "api.github.com",
            ProviderArg::Gitlab => "gitlab.com",
            ProviderArg::Bitbucket => "api.bitbucket.org",
        }
    }
}

/// `--user`: a directory user id as it is, or a login (any case) looked up among the
/// memberships of `workspace` (of every workspace without one). A login that names different
/// users is refused with their ids.
pub async fn resolve_user(
    store: &Store,
    workspace: Option<&str>,
    user: &str,
) -> Result<i64, Failure> {
    let user = user.trim();
    if let Ok(id) = user.parse::<i64>() {
        return Ok(id);
    }
    let mut found: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    for row in store.list_users(workspace, None).await? {
        if row
            .login
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(user))
        {
            found.entry(row.user_id).or_default().push(row.workspace);
        }
    }
    let place = workspace.map_or_else(|| "any workspace".to_string(), |w| format!("workspace {w}"));
    match found.len() {
        1 => Ok(found.into_keys().next().unwrap_or_default()),
        0 => Err(Failure::usage(format!(
            "no user with login `{user}` in {place}; `orgsync users list` shows logins and ids"
        ))),
        _ => Err(Failure::usage(format!(
            "login `{user}` is ambiguous in {place}: it names users {}; pass --user ID",
            found
                .iter()
                .map(|(id, ws)| format!("{id} (in {})", ws.join(", ")))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

impl From<PeopleError> for Failure {
    fn from(e: PeopleError) -> Self {
        match e {
            PeopleError::UnknownTeams { .. } => Failure::usage(e.to_string()),
            other => Failure::runtime(other.to_string()),
        }
    }
}

fn actor() -> String {
    format!("cli:{}", invoking_user())
}

/// The configured workspace, or a usage error that lists the configured ones.
fn workspace_config<'a>(config: &'a Config, name: &str) -> Result<&'a WorkspaceConfig, Failure> {
    config.workspace(name).ok_or_else(|| {
        Failure::usage(format!(
            "no workspace named `{name}` in {}; configured: {}",
            config.path.display(),
            config
                .workspaces
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The directory roles a workspace can hand out: what its role mapping produces, and its
/// default and admin roles.
pub fn workspace_roles(ws: &WorkspaceConfig) -> BTreeSet<String> {
    ws.roles
        .values()
        .cloned()
        .chain([ws.default_role.clone(), ws.admin_role.clone()])
        .collect()
}

fn check_role(ws: &WorkspaceConfig, role: &str) -> Result<(), Failure> {
    let roles = workspace_roles(ws);
    if roles.contains(role) {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "`{role}` is not a role of workspace {}; its roles are: {}",
            ws.name,
            roles.into_iter().collect::<Vec<_>>().join(", ")
        )))
    }
}

async fn workspace_key(store: &Store, ws: &WorkspaceConfig) -> Result<WorkspaceKey, Failure> {
    Ok(store
        .ensure_workspace(
            &ws.name,
            ws.provider.as_str(),
            &ws.host(),
            &ws.account,
            Utc::now(),
        )
        .await?)
}

/// Opens the directory and applies overdue invitation expiries, as every people command does.
async fn open(config: &Config) -> Result<Store, Failure> {
    let store = open_store(config).await?;
    store.expire_invitations(Utc::now()).await?;
    Ok(store)
}

pub(crate) async fn invite(config_path: &Path, command: InviteCommand) -> Result<u8, Failure> {
    let config = load_config(config_path)?;
    match command {
        InviteCommand::Create {
            workspace,
            email,
            role,
            teams,
            admin,
            expires_in,
        } => {
            let ws = workspace_config(&config, &workspace)?;
            let email = normalize_email(&email).map_err(Failure::usage)?;
            let role = match (role, admin) {
                (Some(r), true) if r != ws.admin_role => {
                    return Err(Failure::usage(format!(
                        "--admin invites as {}, which contradicts --role {r}; give one of them",
                        ws.admin_role
                    )));
                }
                (_, true) => ws.admin_role.clone(),
                (Some(r), false) => r,
                (None, false) => {
                    return Err(Failure::usage(
                        "give --role R (or --admin for the workspace's admin role)",
                    ));
                }
            };
            check_role(ws, &role)?;
            let lifetime = parse_lifetime(&expires_in).map_err(Failure::usage)?;
            let mut teams_seen = BTreeSet::new();
            let teams: Vec<String> = teams
                .into_iter()
                .map(|t| t.trim().to_string())
                .filter(|t| teams_seen.insert(t.clone()))
                .collect();
            let store = open(&config).await?;
            let key = workspace_key(&store, ws).await?;
            let token = InviteToken::generate().map_err(|e| Failure::runtime(e.to_string()))?;
            let now = Utc::now();
            let invitation = store
                .create_invitation(&NewInvitation {
                    workspace: &key,
                    email: &email,
                    role: &role,
                    teams: &teams,
                    admin,
                    token_hash: token.hash(),
                    now,
                    expires_at: now + lifetime,
                    actor: &actor(),
                })
                .await?;
            deliver(&config, &invitation, &token, "created").await
        }
        InviteCommand::List {
            workspace,
            state,
            json,
        } => {
            let store = open(&config).await?;
            let rows = store
                .list_invitations(workspace.as_deref(), state.map(InvitationState::as_str))
                .await?;
            print_invitations(&rows, json);
            Ok(EXIT_OK)
        }
        InviteCommand::Resend { id, expires_in } => {
            let lifetime = parse_lifetime(&expires_in).map_err(Failure::usage)?;
            let store = open(&config).await?;
            let token = InviteToken::generate().map_err(|e| Failure::runtime(e.to_string()))?;
            let now = Utc::now();
            let invitation = store
                .resend_invitation(id, token.hash(), now + lifetime, now, &actor())
                .await?;
            deliver(
                &config,
                &invitation,
                &token,
                "renewed (the previous token no longer works)",
            )
            .await
        }
        InviteCommand::Cancel { id } => {
            let store = open(&config).await?;
            let invitation = store.cancel_invitation(id, Utc::now(), &actor()).await?;
            outln!(
                "Invitation #{} for {} to {} cancelled; its token no longer works.",
                invitation.id,
                invitation.email,
                invitation.workspace
            );
            Ok(EXIT_OK)
        }
        InviteCommand::Accept { token, name } => {
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(Failure::usage("--name may not be empty"));
            }
            let token = if token == "-" {
                let mut input = String::new();
                std::io::stdin()
                    .read_to_string(&mut input)
                    .map_err(|e| Failure::runtime(format!("cannot read the token: {e}")))?;
                InviteToken::from_input(&input)
            } else {
                InviteToken::from_input(&token)
            };
            let store = open(&config).await?;
            let accepted = store
                .accept_invitation(&token.hash(), &name, Utc::now(), &actor())
                .await?;
            outln!(
                "Welcome, {name}: user {} is now {} in {}{}.",
                accepted.user_id,
                accepted.invitation.role,
                accepted.invitation.workspace,
                if accepted.teams.is_empty() {
                    String::new()
                } else {
                    format!(" (teams: {})", accepted.teams.join(", "))
                }
            );
            if !accepted.teams_missing.is_empty() {
                errln!(
                    "orgsync: note: team(s) {} were deleted after the invitation was made and were skipped",
                    accepted.teams_missing.join(", ")
                );
            }
            Ok(EXIT_OK)
        }
    }
}

/// Mails the token when `[smtp]` is configured, prints it once otherwise.
async fn deliver(
    config: &Config,
    invitation: &InvitationRow,
    token: &InviteToken,
    what: &str,
) -> Result<u8, Failure> {
    let notice = InvitationNotice {
        invitation_id: invitation.id,
        workspace: &invitation.workspace,
        email: &invitation.email,
        role: &invitation.role,
        teams: &invitation.teams,
        expires_at: invitation.expires_at,
        token,
    };
    let expires = invitation.expires_at.format("%Y-%m-%d %H:%M UTC");
    match &config.smtp {
        Some(smtp) => {
            mail::send(smtp, &notice).await.map_err(|e| {
                Failure::runtime(format!(
                    "invitation #{} was {what} but not delivered: {e}. Once mail works, run \
                     `orgsync invite resend {}` (or `orgsync invite cancel {}`)",
                    invitation.id, invitation.id, invitation.id
                ))
            })?;
            outln!(
                "Invitation #{} {what}: mailed to {} (role {}, expires {expires}).",
                invitation.id,
                invitation.email,
                invitation.role
            );
        }
        None => {
            outln!(
                "Invitation #{} {what} for {} to {} as {} (expires {expires}).",
                invitation.id,
                invitation.email,
                invitation.workspace,
                invitation.role
            );
            outln!(
                "No [smtp] relay is configured: send this to the invitee yourself. It is shown only once."
            );
            outln!();
            outln!("    {}", notice.accept_command());
        }
    }
    Ok(EXIT_OK)
}

fn print_invitations(rows: &[InvitationRow], as_json: bool) {
    if as_json {
        super::output::json(rows);
        return;
    }
    let fmt = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.workspace.clone(),
                r.email.clone(),
                r.role.clone(),
                if r.teams.is_empty() {
                    "-".to_string()
                } else {
                    r.teams.join(",")
                },
                r.state.clone(),
                fmt(&r.expires_at),
                r.accepted_user_id
                    .map_or_else(|| "-".to_string(), |u| u.to_string()),
                r.created_by.clone(),
            ]
        })
        .collect();
    super::term::block(&table(
        &[
            "ID",
            "WORKSPACE",
            "EMAIL",
            "ROLE",
            "TEAMS",
            "STATE",
            "EXPIRES (UTC)",
            "USER",
            "INVITED BY",
        ],
        &body,
    ));
}

/// Turns the command line into the identity it names.
async fn identity_key(
    config: &Config,
    store: &Store,
    args: &IdentityArgs,
    user: i64,
    unlinking: bool,
) -> Result<IdentityKey, Failure> {
    if let Some(email) = &args.email {
        let email = normalize_email(email).map_err(Failure::usage)?;
        return Ok(IdentityKey::email(&email));
    }
    let Some(provider) = &args.provider else {
        return Err(Failure::usage(
            "give --provider P (--id X | --login L), or --email E",
        ));
    };
    let host = match &args.host {
        Some(h) => h.trim().to_lowercase(),
        None => provider.default_host().to_string(),
    };
    let provider = provider.as_str().to_string();
    if !config
        .workspaces
        .iter()
        .any(|w| w.provider.as_str() == provider && w.host() == host)
    {
        errln!(
            "orgsync: note: no configured workspace uses {provider} at {host}; syncs will not match this identity"
        );
    }
    match (&args.id, &args.login) {
        (Some(id), _) => Ok(IdentityKey {
            provider,
            host,
            provider_user_id: id.trim().to_string(),
            login: args.login.clone(),
        }),
        (None, Some(login)) => {
            // Identities are keyed by the provider's immutable id, which a login does not give
            // without asking the provider: accept a login only when the directory already
            // knows it.
            match store.identity_by_login(&provider, &host, login).await? {
                Some(known) => {
                    if !unlinking && known.user_id != user {
                        return Err(PeopleError::IdentityTaken {
                            identity: format!("{provider} identity {login} at {host}"),
                            user_id: known.user_id,
                            user: known.user_name.or(known.user_email).unwrap_or_default(),
                        }
                        .into());
                    }
                    Ok(IdentityKey {
                        provider,
                        host,
                        provider_user_id: known.provider_user_id,
                        login: known.login,
                    })
                }
                None => Err(Failure::usage(format!(
                    "the directory does not know {provider} login {login} at {host}; identities are \
                     keyed by the provider's immutable user id, so pass --id (GitHub: \
                     `gh api users/{login} --jq .id`; GitLab: `/api/v4/users?username={login}`)"
                ))),
            }
        }
        (None, None) => Err(Failure::usage(
            "with --provider, give --id X (the provider's user id) or --login L",
        )),
    }
}

pub(crate) async fn identities(
    config_path: &Path,
    command: IdentitiesCommand,
) -> Result<u8, Failure> {
    let config = load_config(config_path)?;
    let store = open(&config).await?;
    match command {
        IdentitiesCommand::List { user, json } => {
            let user = match user {
                Some(u) => Some(resolve_user(&store, None, &u).await?),
                None => None,
            };
            let rows = store.list_identities(user).await?;
            print_identities(&rows, json);
        }
        IdentitiesCommand::Link(args) => {
            let user = resolve_user(&store, None, &args.user).await?;
            let key = identity_key(&config, &store, &args, user, false).await?;
            let row = store
                .link_identity(user, &key, Utc::now(), &actor())
                .await?;
            outln!(
                "{} now maps to user {}{}.",
                key.describe(),
                row.user_id,
                row.user_name.map(|n| format!(" ({n})")).unwrap_or_default()
            );
        }
        IdentitiesCommand::Unlink(args) => {
            let user = resolve_user(&store, None, &args.user).await?;
            let key = identity_key(&config, &store, &args, user, true).await?;
            let row = store
                .unlink_identity(user, &key, Utc::now(), &actor())
                .await?;
            outln!("{} no longer maps to user {}.", key.describe(), row.user_id);
        }
    }
    Ok(EXIT_OK)
}

fn print_identities(rows: &[IdentityRow], as_json: bool) {
    if as_json {
        super::output::json(rows);
        return;
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.user_id.to_string(),
                dash(&r.user_name),
                r.kind.clone(),
                r.provider.clone(),
                if r.host.is_empty() {
                    "-".to_string()
                } else {
                    r.host.clone()
                },
                r.provider_user_id.clone(),
                dash(&r.login),
            ]
        })
        .collect();
    super::term::block(&table(
        &["USER", "NAME", "KIND", "PROVIDER", "HOST", "ID", "LOGIN"],
        &body,
    ));
}

pub(crate) async fn users(config_path: &Path, command: UsersPeopleCommand) -> Result<u8, Failure> {
    let config = load_config(config_path)?;
    match command {
        UsersPeopleCommand::AddServiceAccount {
            name,
            workspace,
            role,
        } => {
            let ws = workspace_config(&config, &workspace)?;
            let role = role.unwrap_or_else(|| ws.default_role.clone());
            check_role(ws, &role)?;
            let name = name.trim().to_string();
            if name.is_empty() {
                return Err(Failure::usage("a service account needs a name"));
            }
            let store = open(&config).await?;
            let key = workspace_key(&store, ws).await?;
            let user_id = store
                .add_service_account(&key, &name, &role, Utc::now(), &actor())
                .await?;
            outln!(
                "Service account {name} is user {user_id}, {role} in {workspace}. Link its Git identities with \
                 `orgsync identities link --user {user_id} …`."
            );
        }
        UsersPeopleCommand::Suspend {
            workspace,
            user,
            reason,
        } => {
            let ws = workspace_config(&config, &workspace)?;
            let store = open(&config).await?;
            let key = workspace_key(&store, ws).await?;
            let user = resolve_user(&store, Some(&workspace), &user).await?;
            let reason = reason.unwrap_or_else(|| "suspended by an admin".to_string());
            store
                .suspend(&key, user, &reason, Utc::now(), &actor())
                .await?;
            outln!(
                "User {user} is suspended in {workspace}; syncs leave them alone until `orgsync users unsuspend`."
            );
        }
        UsersPeopleCommand::Unsuspend { workspace, user } => {
            let ws = workspace_config(&config, &workspace)?;
            let store = open(&config).await?;
            let key = workspace_key(&store, ws).await?;
            let user = resolve_user(&store, Some(&workspace), &user).await?;
            store.unsuspend(&key, user, Utc::now(), &actor()).await?;
            outln!("User {user} is active again in {workspace}.");
        }
        UsersPeopleCommand::SetRole {
            workspace,
            user,
            role,
            pin: _,
            release,
        } => {
            let ws = workspace_config(&config, &workspace)?;
            let change = match (release, role) {
                (true, _) => RoleOverride::Release,
                (false, Some(role)) => {
                    check_role(ws, &role)?;
                    RoleOverride::Pin(role)
                }
                (false, None) => return Err(Failure::usage("give --role R --pin, or --release")),
            };
            let store = open(&config).await?;
            let key = workspace_key(&store, ws).await?;
            let user = resolve_user(&store, Some(&workspace), &user).await?;
            let (from, to) = store
                .set_role(&key, user, &change, Utc::now(), &actor())
                .await?;
            match change {
                RoleOverride::Pin(_) => outln!(
                    "User {user} in {workspace}: role {from} -> {to}, pinned (syncs keep it until `--release`)."
                ),
                RoleOverride::Release => outln!(
                    "User {user} in {workspace}: role {to} released; the next sync may change it."
                ),
            }
        }
    }
    Ok(EXIT_OK)
}
