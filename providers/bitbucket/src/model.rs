//! Serde types for the parts of Bitbucket's answers orgsync reads, named after the swagger's
//! definitions. Every field orgsync does not need is left out, and every field the swagger does
//! not mark as always present is optional, so the official examples (which omit most fields)
//! parse.

use serde::Deserialize;

/// `user` (and `account`): the uuid is the identity; `nickname` is not unique and may change.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub uuid: String,
    #[serde(default)]
    pub account_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub nickname: Option<String>,
}

impl User {
    /// The login orgsync records and matches `exclude_members` against: the nickname, else
    /// the account id, else the uuid.
    pub fn login(&self) -> String {
        self.nickname
            .clone()
            .or_else(|| self.account_id.clone())
            .unwrap_or_else(|| self.uuid.clone())
    }
}

/// `workspace`.
#[derive(Debug, Clone, Deserialize)]
pub struct Workspace {
    pub uuid: String,
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `workspace_membership`; `permission` (owner, collaborator, member) is present on
/// `/workspaces/{w}/permissions` only.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMembership {
    pub user: User,
    #[serde(default)]
    pub permission: Option<String>,
}

/// A repository as embedded in other objects (`parent`, permission rows).
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryRef {
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

impl RepositoryRef {
    /// The slug: the part of `full_name` after the workspace (`acme/api` -> `api`).
    pub fn slug(&self) -> Option<&str> {
        self.full_name
            .as_deref()
            .map(|f| f.split_once('/').map_or(f, |(_, s)| s))
    }
}

/// `project` as embedded in a repository.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectRef {
    #[serde(default)]
    pub key: Option<String>,
}

/// `repository`.
#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub uuid: String,
    pub full_name: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_private: Option<bool>,
    #[serde(default)]
    pub parent: Option<RepositoryRef>,
    #[serde(default)]
    pub project: Option<ProjectRef>,
}

impl Repository {
    /// The slug, from `full_name` (`acme/api` -> `api`).
    pub fn slug(&self) -> &str {
        self.full_name
            .split_once('/')
            .map_or(self.full_name.as_str(), |(_, s)| s)
    }
}

/// `repository_permission`: a user's effective (highest) permission on a repository.
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryPermission {
    pub permission: String,
    pub user: User,
    pub repository: RepositoryRef,
}

/// The first page of a paginated list, read directly to see `size` (the total, which Bitbucket
/// sends on some lists) before deciding how to read the rest.
#[derive(Debug, Clone, Deserialize)]
pub struct FirstPage<T> {
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub next: Option<String>,
    pub values: Vec<T>,
}

/// `group` as embedded in permission-config rows.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupRef {
    pub slug: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// `repository_group_permission` and `project_group_permission`: an explicit grant to a group
/// (`read`, `write`, `create-repo` on projects, `admin`, `none`).
#[derive(Debug, Clone, Deserialize)]
pub struct GroupPermission {
    pub permission: String,
    pub group: GroupRef,
}

/// `repository_user_permission` and `project_user_permission`: an explicit grant to a user.
#[derive(Debug, Clone, Deserialize)]
pub struct UserPermission {
    pub permission: String,
    pub user: User,
}

/// A group of the 1.0 `GET /1.0/groups/{workspace}` answer (an array, not paginated), members
/// included.
#[derive(Debug, Clone, Deserialize)]
pub struct V1Group {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub members: Vec<V1Member>,
}

/// A member of a 1.0 group.
#[derive(Debug, Clone, Deserialize)]
pub struct V1Member {
    #[serde(default)]
    pub uuid: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
}

/// The answer of `POST /site/oauth2/access_token`.
#[derive(Deserialize)]
pub struct OauthToken {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

impl std::fmt::Debug for OauthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OauthToken")
            .field("access_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A permission name on a repository (`create-repo`, a project permission, counts as write).
pub fn repository_permission(name: &str) -> orgsync_core::Permission {
    use orgsync_core::Permission;
    match name {
        "read" => Permission::Read,
        "write" | "create-repo" => Permission::Write,
        "admin" => Permission::Admin,
        _ => Permission::None,
    }
}
