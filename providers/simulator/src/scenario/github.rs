//! The GitHub part of a scenario: users, organisations with members, teams, repositories and
//! every kind of grant, tokens and the GitHub App.

use crate::SimError;
use orgsync_core::{Permission, Visibility};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The GitHub world: users exist once and may belong to several organisations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubScenario {
    #[serde(default)]
    pub users: Vec<GithubUser>,
    #[serde(default)]
    pub orgs: Vec<GithubOrg>,
    /// Tokens the server accepts. A scenario without tokens gets one full-scope token
    /// (`sim-github-token`) when the server starts.
    #[serde(default)]
    pub tokens: Vec<TokenSpec>,
    /// The GitHub App whose installation tokens the server issues.
    #[serde(default)]
    pub app: Option<GithubApp>,
}

/// A GitHub account. `id` is immutable; `login` may be renamed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Suspended by a site admin (GitHub Enterprise Server) or by GitHub.
    #[serde(default)]
    pub suspended: bool,
    /// A `Bot` account (`type: "Bot"` in the API).
    #[serde(default)]
    pub bot: bool,
    #[serde(default)]
    pub site_admin: bool,
}

/// An organisation role. Owners are `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    Admin,
    Member,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }
}

/// Whether an organisation membership has been accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipState {
    #[default]
    Active,
    /// Invited and not accepted yet: listed under `/orgs/{org}/invitations`, not `/members`.
    Pending,
}

impl MembershipState {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipState::Active => "active",
            MembershipState::Pending => "pending",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgMember {
    /// [`GithubUser::id`].
    pub user: u64,
    pub role: OrgRole,
    #[serde(default)]
    pub state: MembershipState,
    /// A concealed (private) membership: listed only to callers who are members themselves.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub concealed: bool,
}

/// An invitation sent to an e-mail address that has no GitHub account yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailInvitation {
    pub id: u64,
    pub email: String,
    pub role: OrgRole,
}

/// A GitHub organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOrg {
    pub id: u64,
    pub login: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The base permission every member has on every repository. GitHub's default for a new
    /// organisation is `read`.
    #[serde(default = "default_base_permission")]
    pub default_repository_permission: Permission,
    #[serde(default)]
    pub members: Vec<OrgMember>,
    /// Users who are not members but are collaborators on some repository.
    #[serde(default)]
    pub outside_collaborators: Vec<u64>,
    #[serde(default)]
    pub invitations: Vec<EmailInvitation>,
    #[serde(default)]
    pub teams: Vec<GithubTeam>,
    #[serde(default)]
    pub repos: Vec<GithubRepo>,
}

fn default_base_permission() -> Permission {
    Permission::Read
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamPrivacy {
    #[default]
    Closed,
    Secret,
}

impl TeamPrivacy {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamPrivacy::Closed => "closed",
            TeamPrivacy::Secret => "secret",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamMembership {
    /// [`GithubUser::id`].
    pub user: u64,
    #[serde(default = "default_team_role")]
    pub role: orgsync_core::TeamRole,
}

fn default_team_role() -> orgsync_core::TeamRole {
    orgsync_core::TeamRole::Member
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamGrant {
    /// [`GithubRepo::name`].
    pub repo: String,
    pub permission: Permission,
}

/// A team. Child teams inherit the parent's repository grants; a child's members are listed as
/// members of the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubTeam {
    pub id: u64,
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub privacy: TeamPrivacy,
    /// The parent team's slug.
    #[serde(default)]
    pub parent: Option<String>,
    /// Direct members only; the server adds child-team members where GitHub does.
    #[serde(default)]
    pub members: Vec<TeamMembership>,
    #[serde(default)]
    pub repos: Vec<TeamGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoCollaborator {
    /// [`GithubUser::id`]: an organisation member or an outside collaborator.
    pub user: u64,
    pub permission: Permission,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubRepo {
    pub id: u64,
    pub name: String,
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub fork: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Direct collaborators (members or outside collaborators) with their repository role.
    #[serde(default)]
    pub collaborators: Vec<RepoCollaborator>,
}

fn default_visibility() -> Visibility {
    Visibility::Private
}

/// A token the server accepts. Its `Debug` output hides the token text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub token: String,
    /// Classic OAuth scopes the token has; `None` means every scope. A route that needs a scope
    /// the token lacks answers 403 (for `check-config --online` tests).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// This token's rate-limit budget per window; the server's default when `None`.
    #[serde(default)]
    pub rate_limit: Option<u64>,
    /// The login of the token's user: the server shows it what GitHub shows that user (an
    /// owner everything; a member the public, internal and readable private repositories, no
    /// owner-only fields, only the secret teams it is in; a non-member public members and
    /// repositories only). `None`: a user who owns every organisation of the scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A fine-grained token limited to these repositories (by name); public ones stay visible.
    /// `None`: every repository the user can see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
}

impl std::fmt::Debug for TokenSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSpec")
            .field("token", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("rate_limit", &self.rate_limit)
            .field("user", &self.user)
            .field("repositories", &self.repositories)
            .finish()
    }
}

impl TokenSpec {
    /// A token with every scope and the default budget.
    pub fn full(token: impl Into<String>) -> TokenSpec {
        TokenSpec {
            token: token.into(),
            scopes: None,
            rate_limit: None,
            user: None,
            repositories: None,
        }
    }
}

/// A GitHub App installed on an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubApp {
    pub app_id: u64,
    #[serde(default = "default_app_slug")]
    pub slug: String,
    pub installation_id: u64,
    /// The organisation login the app is installed on.
    pub org: String,
    /// The app's RSA public key (PEM, `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`), used to
    /// verify the RS256 JWTs that ask for installation tokens.
    pub public_key_pem: String,
    /// How long an installation token lives, in seconds (GitHub: one hour).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// Installed on these repositories only (`repository_selection: "selected"`); `None`: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
    /// The installation's permissions; `None`: `members`, `metadata` and
    /// `organization_administration` read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<BTreeMap<String, String>>,
}

impl GithubApp {
    /// `all` or `selected`, as GitHub reports it.
    pub fn repository_selection(&self) -> &'static str {
        if self.repositories.is_some() {
            "selected"
        } else {
            "all"
        }
    }

    pub fn permissions(&self) -> BTreeMap<String, String> {
        self.permissions.clone().unwrap_or_else(|| {
            [
                ("members", "read"),
                ("metadata", "read"),
                ("organization_administration", "read"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
        })
    }
}

fn default_app_slug() -> String {
    "orgsync-sim".to_string()
}

fn default_token_lifetime() -> u64 {
    3600
}

/// The test key pair shipped with the crate for the synthetic scenarios' GitHub App. It protects
/// nothing: it only lets tests sign app JWTs that the simulator accepts.
pub const TEST_APP_PUBLIC_KEY_PEM: &str = include_str!("../../keys/test-app-public-key.pem");
/// The private half of [`TEST_APP_PUBLIC_KEY_PEM`] (PKCS#1, as GitHub hands out app keys).
pub const TEST_APP_PRIVATE_KEY_PEM: &str = include_str!("../../keys/test-app-private-key.pem");

impl GithubScenario {
    pub fn user(&self, id: u64) -> Option<&GithubUser> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_login(&self, login: &str) -> Option<&GithubUser> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }

    pub fn org(&self, login: &str) -> Option<&GithubOrg> {
        self.orgs
            .iter()
            .find(|o| o.login.eq_ignore_ascii_case(login))
    }

    pub fn org_mut(&mut self, login: &str) -> Option<&mut GithubOrg> {
        self.orgs
            .iter_mut()
            .find(|o| o.login.eq_ignore_ascii_case(login))
    }

    /// Checks uniqueness of ids, logins and slugs and that every reference resolves.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::InvalidScenario(m));
        let mut ids = BTreeSet::new();
        let mut logins = BTreeSet::new();
        for u in &self.users {
            if !ids.insert(u.id) {
                return bad(format!("user id {} appears twice", u.id));
            }
            if !logins.insert(u.login.to_ascii_lowercase()) {
                return bad(format!("user login {} appears twice", u.login));
            }
        }
        let mut org_logins = BTreeSet::new();
        for org in &self.orgs {
            if !org_logins.insert(org.login.to_ascii_lowercase()) {
                return bad(format!("organisation {} appears twice", org.login));
            }
            let mut members = BTreeSet::new();
            for m in &org.members {
                if !ids.contains(&m.user) {
                    return bad(format!("{}: member {} is not a user", org.login, m.user));
                }
                if !members.insert(m.user) {
                    return bad(format!("{}: member {} appears twice", org.login, m.user));
                }
            }
            for oc in &org.outside_collaborators {
                if !ids.contains(oc) {
                    return bad(format!(
                        "{}: outside collaborator {oc} is not a user",
                        org.login
                    ));
                }
                if members.contains(oc) {
                    return bad(format!(
                        "{}: user {oc} is both a member and an outside collaborator",
                        org.login
                    ));
                }
            }
            let mut repos = BTreeSet::new();
            for r in &org.repos {
                if !repos.insert(r.name.to_ascii_lowercase()) {
                    return bad(format!(
                        "{}: repository {} appears twice",
                        org.login, r.name
                    ));
                }
                for c in &r.collaborators {
                    if !members.contains(&c.user) && !org.outside_collaborators.contains(&c.user) {
                        return bad(format!(
                            "{}/{}: collaborator {} is neither a member nor an outside collaborator",
                            org.login, r.name, c.user
                        ));
                    }
                }
            }
            let slugs: BTreeMap<&str, Option<&str>> = org
                .teams
                .iter()
                .map(|t| (t.slug.as_str(), t.parent.as_deref()))
                .collect();
            if slugs.len() != org.teams.len() {
                return bad(format!("{}: a team slug appears twice", org.login));
            }
            for t in &org.teams {
                if let Some(parent) = &t.parent
                    && !slugs.contains_key(parent.as_str())
                {
                    return bad(format!(
                        "{}: team {} has unknown parent {parent}",
                        org.login, t.slug
                    ));
                }
                // Walk up the chain: a cycle would make inheritance loop forever.
                let mut seen = BTreeSet::new();
                let mut cursor = Some(t.slug.as_str());
                while let Some(slug) = cursor {
                    if !seen.insert(slug) {
                        return bad(format!(
                            "{}: team {} is in a parent cycle",
                            org.login, t.slug
                        ));
                    }
                    cursor = slugs.get(slug).copied().flatten();
                }
                for m in &t.members {
                    if !members.contains(&m.user) {
                        return bad(format!(
                            "{}: team {} member {} is not an organisation member",
                            org.login, t.slug, m.user
                        ));
                    }
                }
                for g in &t.repos {
                    if !repos.contains(&g.repo.to_ascii_lowercase()) {
                        return bad(format!(
                            "{}: team {} grants unknown repository {}",
                            org.login, t.slug, g.repo
                        ));
                    }
                }
            }
        }
        if let Some(app) = &self.app
            && !org_logins.contains(&app.org.to_ascii_lowercase())
        {
            return bad(format!(
                "the GitHub App is installed on unknown organisation {}",
                app.org
            ));
        }
        Ok(())
    }
}

impl GithubOrg {
    pub fn member(&self, user: u64) -> Option<&OrgMember> {
        self.members.iter().find(|m| m.user == user)
    }

    pub fn team(&self, slug: &str) -> Option<&GithubTeam> {
        self.teams
            .iter()
            .find(|t| t.slug.eq_ignore_ascii_case(slug))
    }

    pub fn repo(&self, name: &str) -> Option<&GithubRepo> {
        self.repos
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_hides_the_token() {
        let t = TokenSpec::full("ghp_very_secret");
        assert!(!format!("{t:?}").contains("ghp_very_secret"));
    }
}
