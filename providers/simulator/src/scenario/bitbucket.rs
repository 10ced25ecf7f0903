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
    #[serde(default)]
    pub users: Vec<BitbucketUser>,
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
    #[default]
    Available,
    /// `404` with Bitbucket's error body.
    NotFound,
    /// `410 Gone`, as the deprecated cross-workspace routes answer.
    Gone,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketUser {
    /// `{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}`, braces included, as the API spells it.
    pub uuid: String,
    /// Atlassian account id (`557058:…`).
    pub account_id: String,
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
    Owner,
    Collaborator,
    Member,
}

impl WorkspaceRole {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkspaceRole::Owner => "owner",
            WorkspaceRole::Collaborator => "collaborator",
            WorkspaceRole::Member => "member",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketMember {
    /// [`BitbucketUser::uuid`].
    pub user: String,
    pub role: WorkspaceRole,
}

/// A grant's permission. `create-repo` exists on projects only (write plus creating
/// repositories), so on a repository it counts as write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantPermission {
    None,
    Read,
    Write,
    CreateRepo,
    Admin,
}

impl GrantPermission {
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserGrant {
    /// [`BitbucketUser::uuid`].
    pub user: String,
    pub permission: GrantPermission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupGrant {
    /// [`BitbucketGroup::slug`].
    pub group: String,
    pub permission: GrantPermission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketProject {
    pub uuid: String,
    pub key: String,
    pub name: String,
    #[serde(default = "yes")]
    pub is_private: bool,
    /// Grants that apply to every repository of the project.
    #[serde(default)]
    pub users: Vec<UserGrant>,
    #[serde(default)]
    pub groups: Vec<GroupGrant>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketRepo {
    pub uuid: String,
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
    #[serde(default)]
    pub users: Vec<UserGrant>,
    #[serde(default)]
    pub groups: Vec<GroupGrant>,
}

impl BitbucketRepo {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.slug)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketGroup {
    pub slug: String,
    pub name: String,
    /// [`BitbucketUser::uuid`]s.
    #[serde(default)]
    pub members: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BitbucketWorkspace {
    pub uuid: String,
    pub slug: String,
    pub name: String,
    #[serde(default = "yes")]
    pub is_private: bool,
    #[serde(default)]
    pub members: Vec<BitbucketMember>,
    #[serde(default)]
    pub projects: Vec<BitbucketProject>,
    #[serde(default)]
    pub repositories: Vec<BitbucketRepo>,
    #[serde(default)]
    pub groups: Vec<BitbucketGroup>,
}

impl BitbucketWorkspace {
    pub fn member(&self, uuid: &str) -> Option<&BitbucketMember> {
        self.members.iter().find(|m| m.user == uuid)
    }

    pub fn repo(&self, slug: &str) -> Option<&BitbucketRepo> {
        self.repositories
            .iter()
            .find(|r| r.slug.eq_ignore_ascii_case(slug))
    }

    pub fn project(&self, key: &str) -> Option<&BitbucketProject> {
        self.projects
            .iter()
            .find(|p| p.key.eq_ignore_ascii_case(key))
    }

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
    pub token: String,
    #[serde(default)]
    pub email: Option<String>,
    /// OAuth scopes as the swagger names them (`account`, `repository`, `repository:admin`,
    /// `project:admin`, `team`); `None` means every scope.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
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
    pub key: String,
    pub secret: String,
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
    pub fn workspace(&self, slug: &str) -> Option<&BitbucketWorkspace> {
        self.workspaces
            .iter()
            .find(|w| w.slug.eq_ignore_ascii_case(slug))
    }

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
