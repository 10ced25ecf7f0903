//! The normalised [`Snapshot`] of one provider account.
//!
//! Every provider maps its own API onto these types. People are keyed by the provider's
//! immutable user id ([`Member::id`]), never by login or e-mail: logins change and are reused.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which Git provider an account lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// GitHub or GitHub Enterprise Server.
    Github,
    /// GitLab, SaaS or self-managed.
    Gitlab,
    /// Bitbucket Cloud.
    Bitbucket,
}

impl ProviderKind {
    /// The lower-case name used in the configuration, the directory and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Github => "github",
            ProviderKind::Gitlab => "gitlab",
            ProviderKind::Bitbucket => "bitbucket",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A repository permission, ordered from none to admin so that `>=` means "at least".
///
/// GitLab access levels map as: Guest/Planner below the floor → [`Permission::None`],
/// Reporter → Read, Developer → Write, Maintainer → Maintain, Owner → Admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// No access.
    None,
    /// Reads code.
    Read,
    /// Reads, and manages issues and pull requests (GitHub).
    Triage,
    /// Pushes.
    Write,
    /// Manages the repository without destructive settings.
    Maintain,
    /// Full control.
    Admin,
}

impl Permission {
    /// The lower-case name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::None => "none",
            Permission::Read => "read",
            Permission::Triage => "triage",
            Permission::Write => "write",
            Permission::Maintain => "maintain",
            Permission::Admin => "admin",
        }
    }

    /// Parses the permission names the providers use (GitHub's `pull`/`push` included).
    pub fn parse(name: &str) -> Option<Permission> {
        Some(match name {
            "none" => Permission::None,
            "read" | "pull" => Permission::Read,
            "triage" => Permission::Triage,
            "write" | "push" => Permission::Write,
            "maintain" => Permission::Maintain,
            "admin" => Permission::Admin,
            _ => return None,
        })
    }

    /// True for [`Permission::Read`] and above.
    pub fn can_read(self) -> bool {
        self >= Permission::Read
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The account a workspace mirrors: a GitHub organisation, a GitLab group or a Bitbucket workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// The provider's immutable id of the account.
    pub id: String,
    /// The account's login, path or slug.
    pub login: String,
    /// The account's display name, when it has one.
    pub name: Option<String>,
    /// What every member may do on every repository (GitHub's `default_repository_permission`);
    /// [`Permission::None`] where the provider has no such setting.
    pub base_permission: Permission,
}

/// The provider-side state of a member's account or membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    /// An active member.
    Active,
    /// Invited, not yet accepted (GitHub pending membership).
    Pending,
    /// Membership awaiting approval (GitLab `membership_state = awaiting`).
    Awaiting,
    /// Account blocked by the provider or an instance admin.
    Blocked,
    /// Account suspended (GitHub Enterprise, Bitbucket).
    Suspended,
    /// Account deactivated (GitLab).
    Deactivated,
}

impl MemberState {
    /// The lower-case name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Pending => "pending",
            MemberState::Awaiting => "awaiting",
            MemberState::Blocked => "blocked",
            MemberState::Suspended => "suspended",
            MemberState::Deactivated => "deactivated",
        }
    }
}

/// Whether a member reads every repository in scope, as decided by the provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AccessVerdict {
    /// Reads every in-scope repository.
    ReadsAll,
    /// Cannot read this repository (the first one found), according to an authoritative list.
    CannotRead {
        /// The repository's name ([`Repository::name`]).
        repository: String,
    },
    /// Not evaluated, because the workspace admits all members or the member cannot be admitted
    /// anyway (not active, excluded).
    NotEvaluated,
}

/// One member of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The provider's immutable user id (GitHub numeric id, GitLab user id, Bitbucket uuid).
    pub id: String,
    /// The login now; it can change and be reused.
    pub login: String,
    /// The display name, when public.
    pub name: Option<String>,
    /// The e-mail address, when the provider shows it.
    pub email: Option<String>,
    /// The provider role as the provider names it: GitHub `admin`/`member`; GitLab `owner`,
    /// `maintainer`, `developer`, `reporter`, `planner`, `guest`, `minimal_access`;
    /// Bitbucket `owner`/`collaborator`/`member`.
    pub role: String,
    /// True for the account's owners/admins, who read everything.
    pub is_owner: bool,
    /// The state of the account or membership.
    pub state: MemberState,
    /// A bot or access-token user (GitLab project/group access tokens, GitHub `[bot]` accounts).
    pub bot: bool,
    /// Whether the member reads every repository in scope.
    pub access: AccessVerdict,
}

/// Who can see a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone, signed in or not.
    Public,
    /// Every signed-in user of the instance (GitLab).
    Internal,
    /// Only those granted access.
    Private,
}

/// One repository of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// The provider's immutable repository id.
    pub id: String,
    /// The repository's name within the account (GitHub name, GitLab path with namespace
    /// relative to the group, Bitbucket slug). Scope globs match this.
    pub name: String,
    /// Archived (read-only).
    pub archived: bool,
    /// A fork of another repository.
    pub fork: bool,
    /// Who can see it.
    pub visibility: Visibility,
}

/// A member's role in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    /// A plain member.
    Member,
    /// A maintainer of the team.
    Maintainer,
}

impl TeamRole {
    /// The lower-case name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Maintainer => "maintainer",
        }
    }
}

/// A member of a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    /// [`Member::id`] of the member.
    pub member_id: String,
    /// Their role in the team.
    pub role: TeamRole,
}

/// A repository a team is granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRepository {
    /// [`Repository::name`].
    pub repository: String,
    /// The permission the team grants.
    pub permission: Permission,
}

/// A GitHub team, GitLab subgroup or Bitbucket user group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The provider's immutable team id.
    pub id: String,
    /// The URL-safe name, unique in the account; teams are keyed by it.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// The parent team's slug.
    pub parent: Option<String>,
    /// Members including those of child teams (a child team's members belong to the parent).
    pub members: Vec<TeamMember>,
    /// Empty when the teams mode is `without-repositories`.
    pub repositories: Vec<TeamRepository>,
}

/// Everything a sync decides on, fetched from one provider account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The provider the account lives on.
    pub provider: ProviderKind,
    /// The API host the identities belong to (`api.github.com`, `gitlab.example.com`, …).
    pub host: String,
    /// The account itself.
    pub account: Account,
    /// Its members, active or not.
    pub members: Vec<Member>,
    /// Its repositories, before the scope is applied.
    pub repositories: Vec<Repository>,
    /// `None` when teams were not fetched (teams mode `off`) or are unavailable; an unknown team
    /// list never removes synced teams.
    pub teams: Option<Vec<Team>>,
    /// Why teams are `None` although the mode asked for them (for example Bitbucket's 1.0 groups
    /// endpoint answering 410).
    pub teams_unavailable: Option<String>,
    /// Requests this fetch sent.
    pub requests: RequestCounts,
}

/// Requests one fetch made, for the run's record and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Every HTTP request sent, retries included.
    pub total: u64,
    /// Answers `304 Not Modified` served from the cache.
    pub not_modified: u64,
}
