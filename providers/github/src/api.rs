//! The parts of GitHub's REST answers the provider reads, as small serde types.
//!
//! Only the fields a decision needs are declared; serde ignores the rest, so GitHub adding fields
//! never breaks a fetch. Types are named after the OpenAPI schemas they read.

use orgsync_core::Permission;
use serde::Deserialize;

/// `organization-full` (`GET /orgs/{org}`).
#[derive(Debug, Deserialize)]
pub(crate) struct Organization {
    pub id: u64,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `read`, `write`, `admin` or `none`; absent (or null) for callers who are not owners, in
    /// which case the provider assumes `none` and lets the collaborator lists decide.
    #[serde(default)]
    pub default_repository_permission: Option<String>,
    /// Owner-only, like the base permission: how many private (and internal) repositories the
    /// organisation has. The fetch checks the repository list against it.
    #[serde(default)]
    pub total_private_repos: Option<u64>,
    #[serde(default)]
    pub owned_private_repos: Option<u64>,
    /// Shown to every caller: how many public repositories the organisation has.
    #[serde(default)]
    pub public_repos: Option<u64>,
}

/// `simple-user` (organisation members).
#[derive(Debug, Deserialize)]
pub(crate) struct SimpleUser {
    pub id: u64,
    pub login: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// `public-user` (`GET /users/{username}`): Enterprise Server shows `suspended_at` for accounts a
/// site admin suspended, which otherwise stay in member lists.
#[derive(Debug, Deserialize)]
pub(crate) struct PublicUser {
    pub id: u64,
    /// The current login (`GET /user/{account_id}` reads by id, whatever the login is now).
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub suspended_at: Option<String>,
}

/// `team-simple` (a team's `parent`).
#[derive(Debug, Deserialize)]
pub(crate) struct TeamSimple {
    pub slug: String,
}

/// `team` (`GET /orgs/{org}/teams`).
#[derive(Debug, Deserialize)]
pub(crate) struct Team {
    pub id: u64,
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<TeamSimple>,
}

/// `team-member`: a simple user plus `role` and `inherited`, which GitHub sends only where the
/// feature is enabled; without them the provider asks `?role=maintainer` separately.
#[derive(Debug, Deserialize)]
pub(crate) struct TeamMember {
    pub id: u64,
    #[serde(default)]
    pub role: Option<String>,
}

/// The `permissions` object of repositories and collaborators.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub(crate) struct Permissions {
    #[serde(default)]
    pub admin: bool,
    #[serde(default)]
    pub maintain: bool,
    #[serde(default)]
    pub push: bool,
    #[serde(default)]
    pub triage: bool,
    #[serde(default)]
    pub pull: bool,
}

impl Permissions {
    /// The highest role the booleans grant.
    pub fn highest(self) -> Permission {
        if self.admin {
            Permission::Admin
        } else if self.maintain {
            Permission::Maintain
        } else if self.push {
            Permission::Write
        } else if self.triage {
            Permission::Triage
        } else if self.pull {
            Permission::Read
        } else {
            Permission::None
        }
    }
}

/// `minimal-repository` (`GET /orgs/{org}/repos`, `GET /orgs/{org}/teams/{slug}/repos`).
#[derive(Debug, Deserialize)]
pub(crate) struct Repository {
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub private: bool,
    /// `public`, `private` or `internal`; older Enterprise Servers omit it, then `private`
    /// decides.
    #[serde(default)]
    pub visibility: Option<String>,
    /// On team repository lists: the team's permission.
    #[serde(default)]
    pub permissions: Option<Permissions>,
    /// On team repository lists: the team's role, custom roles included.
    #[serde(default)]
    pub role_name: Option<String>,
}

/// `collaborator` (`GET /repos/{owner}/{repo}/collaborators`).
#[derive(Debug, Deserialize)]
pub(crate) struct Collaborator {
    pub id: u64,
    #[serde(default)]
    pub permissions: Option<Permissions>,
}

/// `installation-token` (`POST /app/installations/{id}/access_tokens`).
#[derive(Debug, Deserialize)]
pub(crate) struct InstallationToken {
    pub token: String,
    pub expires_at: String,
    /// `all` or `selected`.
    #[serde(default)]
    pub repository_selection: Option<String>,
    #[serde(default)]
    pub permissions: std::collections::BTreeMap<String, String>,
}
