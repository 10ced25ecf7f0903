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
    /// Every account in the world; organisations refer to them by [`GithubUser::id`].
    #[serde(default)]
    pub users: Vec<GithubUser>,
    /// The organisations, with their members, teams and repositories.
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
    /// Numeric id, unique in the scenario; never changes.
    pub id: u64,
    /// Login, unique case-insensitively; may change on rename.
    pub login: String,
    /// Profile display name; `None` when unset.
    #[serde(default)]
    pub name: Option<String>,
    /// Public email address; `None` when hidden or unset.
    #[serde(default)]
    pub email: Option<String>,
    /// Suspended by a site admin (GitHub Enterprise Server) or by GitHub.
    #[serde(default)]
    pub suspended: bool,
    /// A `Bot` account (`type: "Bot"` in the API).
    #[serde(default)]
    pub bot: bool,
    /// An Enterprise Server site administrator (`site_admin: true` in the API).
    #[serde(default)]
    pub site_admin: bool,
}

/// An organisation role. Owners are `admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// An organisation owner.
    Admin,
    /// An ordinary member.
    Member,
}

impl OrgRole {
    /// The role as the API spells it.
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
    /// An accepted membership.
    #[default]
    Active,
    /// Invited and not accepted yet: listed under `/orgs/{org}/invitations`, not `/members`.
    Pending,
}

impl MembershipState {
    /// The state as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipState::Active => "active",
            MembershipState::Pending => "pending",
        }
    }
}

/// A user's membership in an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgMember {
    /// [`GithubUser::id`].
    pub user: u64,
    /// Owner or member.
    pub role: OrgRole,
    /// Active, or pending while invited; active when omitted.
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
    /// Invitation id, as in `/orgs/{org}/invitations`.
    pub id: u64,
    /// Invited address.
    pub email: String,
    /// The role the invitee will get on accepting.
    pub role: OrgRole,
}

/// A GitHub organisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubOrg {
    /// Numeric id, unique in the scenario; never changes.
    pub id: u64,
    /// Login, unique case-insensitively.
    pub login: String,
    /// Display name; `None` when unset.
    #[serde(default)]
    pub name: Option<String>,
    /// The base permission every member has on every repository. GitHub's default for a new
    /// organisation is `read`.
    #[serde(default = "default_base_permission")]
    pub default_repository_permission: Permission,
    /// Members, pending invitations of existing users included.
    #[serde(default)]
    pub members: Vec<OrgMember>,
    /// Users who are not members but are collaborators on some repository.
    #[serde(default)]
    pub outside_collaborators: Vec<u64>,
    /// Open invitations to email addresses without an account.
    #[serde(default)]
    pub invitations: Vec<EmailInvitation>,
    /// Teams, parents and children alike.
    #[serde(default)]
    pub teams: Vec<GithubTeam>,
    /// Repositories the organisation owns.
    #[serde(default)]
    pub repos: Vec<GithubRepo>,
    /// Organisation roles assigned to members or teams (`GET /orgs/{org}/organization-roles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization_roles: Vec<OrganizationRole>,
}

/// An organisation role: the predefined `all_repo_read` … `all_repo_admin` grant their base
/// role on every repository, `security_manager` grants read on every repository; custom roles
/// may set a base role too. Assigned to users (ids) and teams (slugs; child teams' members
/// included, as with repository grants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationRole {
    /// Role id.
    pub id: u64,
    /// Role name; `security_manager` and `all_repo_*` are GitHub's predefined ones.
    pub name: String,
    /// The repository role it grants on every repository; `None` for roles that grant none
    /// (security managers grant read whatever this says).
    #[serde(default)]
    pub base_role: Option<Permission>,
    /// Users ([`GithubUser::id`]) assigned the role directly.
    #[serde(default)]
    pub users: Vec<u64>,
    /// Teams (slugs) assigned the role.
    #[serde(default)]
    pub teams: Vec<String>,
}

impl OrganizationRole {
    /// What it grants on every repository.
    pub fn base_role(&self) -> Permission {
        let base = self.base_role.unwrap_or(Permission::None);
        if self.name == "security_manager" {
            base.max(Permission::Read)
        } else {
            base
        }
    }
}

fn default_base_permission() -> Permission {
    Permission::Read
}

/// Who may see a team.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamPrivacy {
    /// Visible to every organisation member (the default).
    #[default]
    Closed,
    /// Visible only to its members and organisation owners.
    Secret,
}

impl TeamPrivacy {
    /// The privacy as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            TeamPrivacy::Closed => "closed",
            TeamPrivacy::Secret => "secret",
        }
    }
}

/// A user's direct membership in a team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamMembership {
    /// [`GithubUser::id`].
    pub user: u64,
    /// Member or maintainer; member when omitted.
    #[serde(default = "default_team_role")]
    pub role: orgsync_core::TeamRole,
}

fn default_team_role() -> orgsync_core::TeamRole {
    orgsync_core::TeamRole::Member
}

/// A team's role on one repository of its organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamGrant {
    /// [`GithubRepo::name`].
    pub repo: String,
    /// The role the team has on the repository.
    pub permission: Permission,
}

/// A team. Child teams inherit the parent's repository grants; a child's members are listed as
/// members of the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubTeam {
    /// Numeric id, unique in the scenario.
    pub id: u64,
    /// URL name, unique case-insensitively within the organisation.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free-text description; `None` when unset.
    #[serde(default)]
    pub description: Option<String>,
    /// Closed unless set.
    #[serde(default)]
    pub privacy: TeamPrivacy,
    /// The parent team's slug.
    #[serde(default)]
    pub parent: Option<String>,
    /// Direct members only; the server adds child-team members where GitHub does.
    #[serde(default)]
    pub members: Vec<TeamMembership>,
    /// Repositories granted to the team directly (child teams inherit them).
    #[serde(default)]
    pub repos: Vec<TeamGrant>,
}

/// A user's direct role on one repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoCollaborator {
    /// [`GithubUser::id`]: an organisation member or an outside collaborator.
    pub user: u64,
    /// The collaborator's role on the repository.
    pub permission: Permission,
}

/// A repository owned by an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubRepo {
    /// Numeric id, unique in the scenario.
    pub id: u64,
    /// Name, unique case-insensitively within the organisation.
    pub name: String,
    /// Private unless set.
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    /// Archived (read-only).
    #[serde(default)]
    pub archived: bool,
    /// A fork of another repository.
    #[serde(default)]
    pub fork: bool,
    /// Free-text description; `None` when unset.
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
    /// The token text callers send; a secret, hidden from `Debug`.
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
    /// The app id, the `iss` of the JWTs it signs.
    pub app_id: u64,
    /// URL name of the app; `orgsync-sim` when omitted.
    #[serde(default = "default_app_slug")]
    pub slug: String,
    /// Id of the installation on [`GithubApp::org`], used in
    /// `/app/installations/{id}/access_tokens`.
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

    /// The installation's permissions, with the default described on the field when unset.
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
    /// The user with this id.
    pub fn user(&self, id: u64) -> Option<&GithubUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The user with this login, compared case-insensitively as GitHub does.
    pub fn user_by_login(&self, login: &str) -> Option<&GithubUser> {
        self.users
            .iter()
            .find(|u| u.login.eq_ignore_ascii_case(login))
    }

    /// The organisation with this login, compared case-insensitively.
    pub fn org(&self, login: &str) -> Option<&GithubOrg> {
        self.orgs
            .iter()
            .find(|o| o.login.eq_ignore_ascii_case(login))
    }

    /// The organisation with this login, for mutation routes and tests.
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
    /// The membership of this user, pending or active.
    pub fn member(&self, user: u64) -> Option<&OrgMember> {
        self.members.iter().find(|m| m.user == user)
    }

    /// The team with this slug, compared case-insensitively.
    pub fn team(&self, slug: &str) -> Option<&GithubTeam> {
        self.teams
            .iter()
            .find(|t| t.slug.eq_ignore_ascii_case(slug))
    }

    /// The repository with this name, compared case-insensitively.
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
