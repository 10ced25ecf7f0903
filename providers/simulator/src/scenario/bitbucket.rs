//! The Bitbucket Cloud part of a scenario: users (uuid, account id, nickname), workspaces with
//! their members and roles, projects, repositories (private or public, forks), project and
//! repository grants to users and groups, user groups, API tokens, access tokens and OAuth
//! consumers.
//!
//! People and objects are keyed on Bitbucket's immutable `{uuid}`s; nicknames, slugs and names
//! are data.

use crate::SimError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Bitbucket Cloud as one scenario sees it: users exist once and may join several workspaces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketScenario {
    /// Every Atlassian account in the world; workspaces refer to them by [`BitbucketUser::uuid`].
    #[serde(default)]
    pub users: Vec<BitbucketUser>,
    /// The workspaces, with their members, projects, repositories and groups.
    #[serde(default)]
    pub workspaces: Vec<BitbucketWorkspace>,
    /// Credentials the server accepts. A scenario without any gets one API token with every
    /// scope (`sim-bitbucket-token` for `admin@example.com`) when the server starts.
    #[serde(default)]
    pub tokens: Vec<BitbucketToken>,
    /// OAuth consumers that may use the client-credentials grant.
    #[serde(default)]
    pub oauth_consumers: Vec<BitbucketOauthConsumer>,
    /// How the deprecated `/1.0/groups/{workspace}` route answers.
    #[serde(default)]
    pub groups_api: GroupsApi,
}

/// The state of Bitbucket's 1.0 groups endpoint, kept "temporarily" since 2019 and whose
/// availability is unverified: tests switch it off to check that members still sync.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupsApi {
    /// Answers with the workspace's groups (the default).
    #[default]
    Available,
    /// `404` with Bitbucket's error body.
    NotFound,
    /// `410 Gone`, as the deprecated cross-workspace routes answer.
    Gone,
}

/// An Atlassian account. `uuid` and `account_id` never change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketUser {
    /// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, braces included, as the API spells it.
    pub uuid: String,
    /// Atlassian account id (`557058:…`).
    pub account_id: String,
    /// Display name; may change.
    pub display_name: String,
    /// Not unique and may change: never an identity.
    pub nickname: String,
    /// Shown only with `fields=+values.user.email` to workspace admins; orgsync does not ask.
    #[serde(default)]
    pub email: Option<String>,
}

/// A workspace role as `/2.0/workspaces/{w}/permissions` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    /// Administers the workspace.
    Owner,
    /// Has a grant on some repository without being a member.
    Collaborator,
    /// An ordinary member.
    Member,
}

impl WorkspaceRole {
    /// The role as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Owner => "owner",
            WorkspaceRole::Collaborator => "collaborator",
            WorkspaceRole::Member => "member",
        }
    }
}

/// A user's membership in a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketMember {
    /// [`BitbucketUser::uuid`].
    pub user: String,
    /// Owner, collaborator or member.
    pub role: WorkspaceRole,
}

/// A grant's permission. `create-repo` exists on projects only (write plus creating
/// repositories), so on a repository it counts as write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantPermission {
    /// Grants nothing; the strongest grant wins, so it takes nothing away either.
    None,
    /// May read and clone.
    Read,
    /// May push.
    Write,
    /// Write plus creating repositories in the project.
    CreateRepo,
    /// May administer.
    Admin,
}

impl GrantPermission {
    /// The permission as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantPermission::None => "none",
            GrantPermission::Read => "read",
            GrantPermission::Write => "write",
            GrantPermission::CreateRepo => "create-repo",
            GrantPermission::Admin => "admin",
        }
    }

    /// What the grant gives on a repository.
    pub fn on_repository(self) -> orgsync_core::Permission {
        use orgsync_core::Permission;
        match self {
            GrantPermission::None => Permission::None,
            GrantPermission::Read => Permission::Read,
            GrantPermission::Write | GrantPermission::CreateRepo => Permission::Write,
            GrantPermission::Admin => Permission::Admin,
        }
    }
}

/// A user's permission on a project or repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserGrant {
    /// [`BitbucketUser::uuid`].
    pub user: String,
    /// What the grant allows.
    pub permission: GrantPermission,
}

/// A group's permission on a project or repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupGrant {
    /// [`BitbucketGroup::slug`].
    pub group: String,
    /// What the grant allows.
    pub permission: GrantPermission,
}

/// A project: a container of repositories whose grants apply to all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketProject {
    /// `{…}` uuid, braces included.
    pub uuid: String,
    /// Short upper-case key, unique within the workspace, as in `/projects/{project_key}`.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Private unless set to false.
    #[serde(default = "yes")]
    pub is_private: bool,
    /// Grants that apply to every repository of the project.
    #[serde(default)]
    pub users: Vec<UserGrant>,
    /// Group grants that apply to every repository of the project.
    #[serde(default)]
    pub groups: Vec<GroupGrant>,
}

fn yes() -> bool {
    true
}

/// A repository of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketRepo {
    /// `{…}` uuid, braces included.
    pub uuid: String,
    /// URL name, unique case-insensitively within the workspace.
    pub slug: String,
    /// Defaults to the slug.
    #[serde(default)]
    pub name: Option<String>,
    /// A public repository is readable by everyone; only grants make a private one readable.
    #[serde(default = "yes")]
    pub is_private: bool,
    /// [`BitbucketProject::key`]: every repository of a workspace lives in a project.
    pub project: String,
    /// `workspace/slug` of the repository this one was forked from.
    #[serde(default)]
    pub parent: Option<String>,
    /// Direct user grants on the repository.
    #[serde(default)]
    pub users: Vec<UserGrant>,
    /// Direct group grants on the repository.
    #[serde(default)]
    pub groups: Vec<GroupGrant>,
}

impl BitbucketRepo {
    /// The name, or the slug when no name is set.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.slug)
    }
}

/// A workspace group (user group), listed by the 1.0 groups endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketGroup {
    /// URL name, unique case-insensitively within the workspace.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// [`BitbucketUser::uuid`]s.
    #[serde(default)]
    pub members: Vec<String>,
}

/// A workspace with its members, projects, repositories and groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketWorkspace {
    /// `{…}` uuid, braces included.
    pub uuid: String,
    /// URL name, unique case-insensitively.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Private unless set to false.
    #[serde(default = "yes")]
    pub is_private: bool,
    /// Members and their workspace roles.
    #[serde(default)]
    pub members: Vec<BitbucketMember>,
    /// Projects; every repository belongs to one.
    #[serde(default)]
    pub projects: Vec<BitbucketProject>,
    /// Repositories.
    #[serde(default)]
    pub repositories: Vec<BitbucketRepo>,
    /// User groups.
    #[serde(default)]
    pub groups: Vec<BitbucketGroup>,
}

impl BitbucketWorkspace {
    /// The membership of the user with this uuid.
    pub fn member(&self, uuid: &str) -> Option<&BitbucketMember> {
        self.members.iter().find(|m| m.user == uuid)
    }

    /// The repository with this slug, compared case-insensitively.
    pub fn repo(&self, slug: &str) -> Option<&BitbucketRepo> {
        self.repositories
            .iter()
            .find(|r| r.slug.eq_ignore_ascii_case(slug))
    }

    /// The project with this key, compared case-insensitively.
    pub fn project(&self, key: &str) -> Option<&BitbucketProject> {
        self.projects
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case(key))
    }

    /// The group with this slug, compared case-insensitively.
    pub fn group(&self, slug: &str) -> Option<&BitbucketGroup> {
        self.groups
            .iter()
            .find(|g| g.slug.eq_ignore_ascii_case(slug))
    }
}

/// An API token (Basic `email:token`) when `email` is set, else an access token (Bearer).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketToken {
    /// The token text; a secret, hidden from `Debug`.
    pub token: String,
    /// The Atlassian account email of an API token; `None` for an access token.
    #[serde(default)]
    pub email: Option<String>,
    /// OAuth scopes as the swagger names them (`account`, `repository`, `repository:admin`,
    /// `project:admin`, `team`); `None` means every scope.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// This token's hourly budget for requests outside the scaled ones; the server's default when
    /// `None`.
    #[serde(default)]
    pub rate_limit: Option<u64>,
    /// An access token's scaled limit on `/2.0/repositories/*` (Standard and Premium plans:
    /// 1,000 per hour plus 10 per paid seat above 100, at most 10,000; see
    /// [`scaled_rate_limit`]), counted apart from its other requests and reported in
    /// `X-RateLimit-*` headers. Ignored for API tokens (with an `email`), which have none.
    #[serde(default)]
    pub scaled_rate_limit: Option<u64>,
    /// Whose account `GET /2.0/user` shows; the first owner of the first workspace when `None`.
    #[serde(default)]
    pub user: Option<String>,
}

impl std::fmt::Debug for BitbucketToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitbucketToken")
            .field("token", &"<redacted>")
            .field("email", &self.email)
            .field("scopes", &self.scopes)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// Bitbucket's scaled hourly limit for access tokens of a Standard or Premium workspace with
/// `paid_seats` seats: 1,000 plus 10 per seat above 100, at most 10,000.
pub fn scaled_rate_limit(paid_seats: u64) -> u64 {
    (1_000 + 10 * paid_seats.saturating_sub(100)).min(10_000)
}

impl BitbucketToken {
    /// An API token with every scope, sent as Basic `email:token`.
    pub fn api_token(email: impl Into<String>, token: impl Into<String>) -> BitbucketToken {
        BitbucketToken {
            token: token.into(),
            email: Some(email.into()),
            scopes: None,
            rate_limit: None,
            scaled_rate_limit: None,
            user: None,
        }
    }

    /// An access token with every scope, sent as Bearer.
    pub fn access_token(token: impl Into<String>) -> BitbucketToken {
        BitbucketToken {
            token: token.into(),
            email: None,
            scopes: None,
            rate_limit: None,
            scaled_rate_limit: None,
            user: None,
        }
    }

    /// The key the server's token table uses: `email:token` for API tokens, the token otherwise.
    pub fn key(&self) -> String {
        match &self.email {
            Some(email) => format!("{email}:{}", self.token),
            None => self.token.clone(),
        }
    }
}

/// An OAuth consumer (key and secret) allowed the client-credentials grant.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketOauthConsumer {
    /// Client id.
    pub key: String,
    /// Client secret; hidden from `Debug`.
    pub secret: String,
    /// Scopes of the tokens it is issued; `None` means every scope.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for BitbucketOauthConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitbucketOauthConsumer")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl BitbucketScenario {
    /// The workspace with this slug, compared case-insensitively.
    pub fn workspace(&self, slug: &str) -> Option<&BitbucketWorkspace> {
        self.workspaces
            .iter()
            .find(|w| w.slug.eq_ignore_ascii_case(slug))
    }

    /// The user with this uuid (braces included).
    pub fn user(&self, uuid: &str) -> Option<&BitbucketUser> {
        self.users.iter().find(|u| u.uuid == uuid)
    }

    /// Checks that every uuid, slug and key a workspace refers to exists, and that every user
    /// with a grant or a group membership is a workspace member (Bitbucket makes them one).
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::InvalidScenario(format!("bitbucket: {m}")));
        let mut uuids = BTreeSet::new();
        for u in &self.users {
            if !(u.uuid.starts_with('{') && u.uuid.ends_with('}')) {
                return bad(format!("user uuid {} must be written in braces", u.uuid));
            }
            if !uuids.insert(u.uuid.as_str()) {
                return bad(format!("user uuid {} appears twice", u.uuid));
            }
        }
        for w in &self.workspaces {
            let members: BTreeSet<&str> = w.members.iter().map(|m| m.user.as_str()).collect();
            if members.len() != w.members.len() {
                return bad(format!("workspace {} lists a member twice", w.slug));
            }
            for m in &members {
                if !uuids.contains(m) {
                    return bad(format!("workspace {}: unknown member {m}", w.slug));
                }
            }
            let member_of = |user: &str, what: &str| {
                if members.contains(user) {
                    Ok(())
                } else {
                    bad(format!(
                        "workspace {}: {what} refers to {user}, who is not a member",
                        w.slug
                    ))
                }
            };
            for g in &w.groups {
                for u in &g.members {
                    member_of(u, &format!("group {}", g.slug))?;
                }
            }
            let group_known = |grant: &GroupGrant, what: &str| {
                if w.group(&grant.group).is_some() {
                    Ok(())
                } else {
                    bad(format!(
                        "workspace {}: {what} grants to unknown group {}",
                        w.slug, grant.group
                    ))
                }
            };
            for p in &w.projects {
                for g in &p.users {
                    member_of(&g.user, &format!("project {}", p.key))?;
                }
                for g in &p.groups {
                    group_known(g, &format!("project {}", p.key))?;
                }
            }
            let mut slugs = BTreeSet::new();
            for r in &w.repositories {
                if !slugs.insert(r.slug.to_ascii_lowercase()) {
                    return bad(format!("workspace {}: repository {} twice", w.slug, r.slug));
                }
                if w.project(&r.project).is_none() {
                    return bad(format!(
                        "workspace {}: repository {} is in unknown project {}",
                        w.slug, r.slug, r.project
                    ));
                }
                for g in &r.users {
                    if g.permission == GrantPermission::CreateRepo {
                        return bad(format!(
                            "repository {}: create-repo is a project permission",
                            r.slug
                        ));
                    }
                    member_of(&g.user, &format!("repository {}", r.slug))?;
                }
                for g in &r.groups {
                    group_known(g, &format!("repository {}", r.slug))?;
                }
            }
        }
        Ok(())
    }
}
