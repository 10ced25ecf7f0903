//! Serde types for the parts of Bitbucket's answers orgsync reads, named after the swagger's
//! definitions. Every field orgsync does not need is left out, and every field the swagger does
//! not mark as always present is optional, so the official examples (which omit most fields)
//! parse.

use serde::Deserialize;

/// `user` (and `account`): the uuid is the identity; `nickname` is not unique and may change.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The user's uuid (`{…}`): the immutable identity.
    pub uuid: String,
    /// The Atlassian account id, when shown.
    #[serde(default)]
    pub account_id: Option<String>,
    /// The display name, when shown.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The nickname: not unique, may change.
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
    /// The workspace's uuid.
    pub uuid: String,
    /// The workspace's slug (its URL name).
    pub slug: String,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `workspace_membership`; `permission` (owner, collaborator, member) is present on
/// `/workspaces/{w}/permissions` only.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkspaceMembership {
    /// The member.
    pub user: User,
    /// `owner`, `collaborator` or `member`, on the permissions list only.
    #[serde(default)]
    pub permission: Option<String>,
}

/// A repository as embedded in other objects (`parent`, permission rows).
#[derive(Debug, Clone, Deserialize)]
pub struct RepositoryRef {
    /// The repository's uuid, when embedded with it.
    #[serde(default)]
    pub uuid: Option<String>,
    /// `workspace/slug`.
    #[serde(default)]
    pub full_name: Option<String>,
    /// The display name.
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
    /// The project key.
    #[serde(default)]
    pub key: Option<String>,
}

/// `repository`.
#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    /// The repository's uuid: its immutable id.
    pub uuid: String,
    /// `workspace/slug`.
    pub full_name: String,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Private (only those granted see it) or public.
    #[serde(default)]
    pub is_private: Option<bool>,
    /// The repository it was forked from, for a fork.
    #[serde(default)]
    pub parent: Option<RepositoryRef>,
    /// The project it belongs to.
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
    /// The user's effective permission (`read`, `write`, `admin`).
    pub permission: String,
    /// The user.
    pub user: User,
    /// The repository.
    pub repository: RepositoryRef,
}

/// The first page of a paginated list, read directly to see `size` (the total, which Bitbucket
/// sends on some lists) before deciding how to read the rest.
#[derive(Debug, Clone, Deserialize)]
pub struct FirstPage<T> {
    /// The number of items in the whole list, when Bitbucket sends it.
    #[serde(default)]
    pub size: Option<u64>,
    /// The next page's URL; `None` on the last page.
    #[serde(default)]
    pub next: Option<String>,
    /// This page's items.
    pub values: Vec<T>,
}

/// `group` as embedded in permission-config rows.
#[derive(Debug, Clone, Deserialize)]
pub struct GroupRef {
    /// The group's slug.
    pub slug: String,
    /// The group's display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// `repository_group_permission` and `project_group_permission`: an explicit grant to a group
/// (`read`, `write`, `create-repo` on projects, `admin`, `none`).
#[derive(Debug, Clone, Deserialize)]
pub struct GroupPermission {
    /// The granted permission.
    pub permission: String,
    /// The group granted.
    pub group: GroupRef,
}

/// `repository_user_permission` and `project_user_permission`: an explicit grant to a user.
#[derive(Debug, Clone, Deserialize)]
pub struct UserPermission {
    /// The granted permission.
    pub permission: String,
    /// The user granted.
    pub user: User,
}

/// A group of the 1.0 `GET /1.0/groups/{workspace}` answer (an array, not paginated), members
/// included.
#[derive(Debug, Clone, Deserialize)]
pub struct V1Group {
    /// The group's slug.
    pub slug: String,
    /// The group's display name.
    pub name: String,
    /// Its members.
    #[serde(default)]
    pub members: Vec<V1Member>,
}

/// A member of a 1.0 group.
#[derive(Debug, Clone, Deserialize)]
pub struct V1Member {
    /// The member's uuid, when shown.
    #[serde(default)]
    pub uuid: Option<String>,
    /// The member's Atlassian account id, when shown.
    #[serde(default)]
    pub account_id: Option<String>,
}

/// The answer of `POST /site/oauth2/access_token`.
#[derive(Deserialize)]
pub struct OauthToken {
    /// The access token (short-lived).
    pub access_token: String,
    /// Seconds until it expires, when said.
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
