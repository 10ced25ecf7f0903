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
    Github,
    Gitlab,
    Bitbucket,
}

impl ProviderKind {
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
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl Permission {
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
    pub name: Option<String>,
    /// What every member may do on every repository (GitHub's `default_repository_permission`);
    /// [`Permission::None`] where the provider has no such setting.
    pub base_permission: Permission,
}

/// The provider-side state of a member's account or membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    Active,
    /// Invited, not yet accepted (GitHub pending membership).
    Pending,
    /// Membership awaiting approval (GitLab `membership_state = awaiting`).
    Awaiting,
    /// Account blocked by the provider or an instance admin.
    Blocked,
    Suspended,
    Deactivated,
}

impl MemberState {
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
    CannotRead { repository: String },
    /// Not evaluated, because the workspace admits all members or the member cannot be admitted
    /// anyway (not active, excluded).
    NotEvaluated,
}

/// One member of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The provider's immutable user id (GitHub numeric id, GitLab user id, Bitbucket uuid).
    pub id: String,
    pub login: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The provider role as the provider names it: GitHub `admin`/`member`; GitLab `owner`,
    /// `maintainer`, `developer`, `reporter`, `planner`, `guest`, `minimal_access`;
    /// Bitbucket `owner`/`collaborator`/`member`.
    pub role: String,
    /// True for the account's owners/admins, who read everything.
    pub is_owner: bool,
    pub state: MemberState,
    /// A bot or access-token user (GitLab project/group access tokens, GitHub `[bot]` accounts).
    pub bot: bool,
    pub access: AccessVerdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Internal,
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub id: String,
    /// The repository's name within the account (GitHub name, GitLab path with namespace
    /// relative to the group, Bitbucket slug). Scope globs match this.
    pub name: String,
    pub archived: bool,
    pub fork: bool,
    pub visibility: Visibility,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    Member,
    Maintainer,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Maintainer => "maintainer",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    /// [`Member::id`] of the member.
    pub member_id: String,
    pub role: TeamRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRepository {
    /// [`Repository::name`].
    pub repository: String,
    pub permission: Permission,
}

/// A GitHub team, GitLab subgroup or Bitbucket user group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub slug: String,
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
    pub provider: ProviderKind,
    /// The API host the identities belong to (`api.github.com`, `gitlab.example.com`, …).
    pub host: String,
    pub account: Account,
    pub members: Vec<Member>,
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
