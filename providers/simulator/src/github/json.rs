//! GitHub's REST JSON shapes, as serde types named after the OpenAPI schemas
//! (`simple-user`, `team`, `minimal-repository`, …). The server serialises them; tests check that
//! the official example payloads deserialize into them and that what the server sends validates
//! against the official schemas.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `simple-user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleUser {
    /// The account's login name, as in `/users/{username}`.
    pub login: String,
    /// Numeric id, stable across renames.
    pub id: u64,
    /// Opaque GraphQL global id.
    pub node_id: String,
    /// Avatar image URL.
    pub avatar_url: String,
    /// Legacy Gravatar hash; the simulator sends an empty string.
    pub gravatar_id: Option<String>,
    /// API URL of the account (`/users/{login}`).
    pub url: String,
    /// Web page of the account.
    pub html_url: String,
    /// API URL listing the account's followers.
    pub followers_url: String,
    /// RFC 6570 template `{url}/following{/other_user}`.
    pub following_url: String,
    /// RFC 6570 template `{url}/gists{/gist_id}`.
    pub gists_url: String,
    /// RFC 6570 template `{url}/starred{/owner}{/repo}`.
    pub starred_url: String,
    /// API URL listing the repositories the account watches.
    pub subscriptions_url: String,
    /// API URL listing the account's public organization memberships.
    pub organizations_url: String,
    /// API URL listing the account's repositories.
    pub repos_url: String,
    /// RFC 6570 template `{url}/events{/privacy}`.
    pub events_url: String,
    /// API URL of the events the account receives.
    pub received_events_url: String,
    /// `User`, `Organization` or `Bot` (JSON `type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the account administers the (Enterprise) instance.
    pub site_admin: bool,
    /// Display name; absent from `simple-user` unless the caller asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Public email address; absent when hidden or not requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `public-user` (`GET /users/{username}`), plus `suspended_at`, which Enterprise Server shows
/// for suspended accounts and the published schema does not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUser {
    /// The `simple-user` fields, flattened.
    #[serde(flatten)]
    pub user: SimpleUser,
    /// Profile biography; `None` when unset.
    pub bio: Option<String>,
    /// Profile website; `None` when unset.
    pub blog: Option<String>,
    /// Profile company; `None` when unset.
    pub company: Option<String>,
    /// Profile location; `None` when unset.
    pub location: Option<String>,
    /// Profile "available for hire" flag; `None` when unset.
    pub hireable: Option<bool>,
    /// Number of followers.
    pub followers: u64,
    /// Number of accounts followed.
    pub following: u64,
    /// Number of public gists.
    pub public_gists: u64,
    /// Number of public repositories owned.
    pub public_repos: u64,
    /// Account creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Last profile change, RFC 3339 UTC.
    pub updated_at: String,
    /// When the account was suspended, RFC 3339 UTC; absent for active accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
}

/// `team-member`: a simple user plus the newer per-member `role` and `inherited` (true when the
/// user is listed only through a child team).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    /// The `simple-user` fields, flattened.
    #[serde(flatten)]
    pub user: SimpleUser,
    /// `member` or `maintainer` within the team; absent in older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// True when the user is a member only through a child team; absent in older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited: Option<bool>,
}

/// The `permissions` object of collaborators, teams and repositories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    /// May change settings, access and delete the repository.
    pub admin: bool,
    /// May manage the repository without destructive or sensitive settings; false in old payloads
    /// that lack it.
    #[serde(default)]
    pub maintain: bool,
    /// May push (write role or above).
    pub push: bool,
    /// May manage issues and pull requests without writing; false in old payloads that lack it.
    #[serde(default)]
    pub triage: bool,
    /// May read and clone (read role or above).
    pub pull: bool,
}

impl Permissions {
    /// GitHub's booleans for a role: each role implies the ones below it.
    pub fn from_permission(p: orgsync_core::Permission) -> Permissions {
        use orgsync_core::Permission as P;
        Permissions {
            admin: p >= P::Admin,
            maintain: p >= P::Maintain,
            push: p >= P::Write,
            triage: p >= P::Triage,
            pull: p >= P::Read,
        }
    }
}

/// `collaborator`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collaborator {
    /// The `simple-user` fields, flattened.
    #[serde(flatten)]
    pub user: SimpleUser,
    /// What the collaborator may do on the repository; absent when not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// Required by the schema; the older permission-level example lacks it, hence the default.
    #[serde(default)]
    pub role_name: String,
}

/// `repository-collaborator-permission`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollaboratorPermission {
    /// `admin`, `write`, `read` or `none` (maintain shows as write, triage as read).
    pub permission: String,
    /// The full role name (`admin`, `maintain`, `write`, `triage`, `read` or a custom role).
    pub role_name: String,
    /// The collaborator; `None` when the account no longer exists.
    pub user: Option<Collaborator>,
}

/// The `parent` of a team (`team-simple`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSimple {
    /// Numeric team id.
    pub id: u64,
    /// Opaque GraphQL global id.
    pub node_id: String,
    /// API URL of the team (`/organizations/{org_id}/team/{team_id}`).
    pub url: String,
    /// RFC 6570 template `{url}/members{/member}`.
    pub members_url: String,
    /// Display name; unique within the organization.
    pub name: String,
    /// Free-text description; `None` when unset.
    pub description: Option<String>,
    /// Legacy default repository permission (`pull`, `push`, `admin`, …) for repositories added to
    /// the team.
    pub permission: String,
    /// `closed` (visible to all members) or `secret` (visible to its members and owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
    /// `notifications_enabled` or `notifications_disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<String>,
    /// Web page of the team.
    pub html_url: String,
    /// API URL listing the team's repositories.
    pub repositories_url: String,
    /// URL-safe name used in `/orgs/{org}/teams/{team_slug}` routes.
    pub slug: String,
    /// Owner kind (JSON `type`): `organization` (or `enterprise` for enterprise teams).
    #[serde(rename = "type", default = "organization_type")]
    pub kind: String,
}

fn organization_type() -> String {
    "organization".to_string()
}

/// `team`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// Numeric team id.
    pub id: u64,
    /// Opaque GraphQL global id.
    pub node_id: String,
    /// API URL of the team (`/organizations/{org_id}/team/{team_id}`).
    pub url: String,
    /// Web page of the team.
    pub html_url: String,
    /// Display name; unique within the organization.
    pub name: String,
    /// URL-safe name used in `/orgs/{org}/teams/{team_slug}` routes.
    pub slug: String,
    /// Free-text description; `None` when unset.
    pub description: Option<String>,
    /// `closed` (visible to all members) or `secret` (visible to its members and owners).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
    /// `notifications_enabled` or `notifications_disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<String>,
    /// Legacy default repository permission (`pull`, `push`, `admin`, …) for repositories added to
    /// the team.
    pub permission: String,
    /// On `/repos/{owner}/{repo}/teams`: what the team may do on that repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// RFC 6570 template `{url}/members{/member}`.
    pub members_url: String,
    /// API URL listing the team's repositories.
    pub repositories_url: String,
    /// The parent team; `None` for a top-level team.
    pub parent: Option<TeamSimple>,
    /// The example payloads predate this required field, hence the default.
    #[serde(rename = "type", default = "organization_type")]
    pub kind: String,
    /// Numeric id of the owning organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<u64>,
}

/// `team-full`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamFull {
    /// The `team` fields, flattened.
    #[serde(flatten)]
    pub team: Team,
    /// Number of direct members.
    pub members_count: u64,
    /// Number of repositories the team has access to.
    pub repos_count: u64,
    /// Team creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Last change to the team, RFC 3339 UTC.
    pub updated_at: String,
    /// The owning organization as `team-organization`, kept as raw JSON.
    pub organization: serde_json::Value,
}

/// `organization-simple`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSimple {
    /// Organization login, as in `/orgs/{org}`.
    pub login: String,
    /// Numeric organization id, stable across renames.
    pub id: u64,
    /// Opaque GraphQL global id.
    pub node_id: String,
    /// API URL of the organization (`/orgs/{org}`).
    pub url: String,
    /// API URL listing the organization's repositories.
    pub repos_url: String,
    /// API URL of the organization's public events.
    pub events_url: String,
    /// API URL of the organization's webhooks.
    pub hooks_url: String,
    /// API URL of the organization's issues.
    pub issues_url: String,
    /// RFC 6570 template `{url}/members{/member}`.
    pub members_url: String,
    /// RFC 6570 template `{url}/public_members{/member}`.
    pub public_members_url: String,
    /// Avatar image URL.
    pub avatar_url: String,
    /// Free-text description; `None` when unset.
    pub description: Option<String>,
}

/// `organization-full` (the fields orgsync reads, plus everything the schema requires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationFull {
    /// The `organization-simple` fields, flattened.
    #[serde(flatten)]
    pub simple: OrganizationSimple,
    /// Display name; `None` when unset.
    pub name: Option<String>,
    /// Web page of the organization.
    pub html_url: String,
    /// Whether organization-level projects are enabled.
    pub has_organization_projects: bool,
    /// Whether repository projects are enabled.
    pub has_repository_projects: bool,
    /// Number of public repositories.
    pub public_repos: u64,
    /// Number of public gists.
    pub public_gists: u64,
    /// Number of followers.
    pub followers: u64,
    /// Number of accounts followed.
    pub following: u64,
    /// Always `Organization` (JSON `type`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Organization creation time, RFC 3339 UTC.
    pub created_at: String,
    /// Last change to the organization, RFC 3339 UTC.
    pub updated_at: String,
    /// Missing in the official example, required (nullable) by the schema.
    #[serde(default)]
    pub archived_at: Option<String>,
    /// `read`, `write`, `admin` or `none`; like the counts below, only shown to owners (the
    /// keys are absent for anyone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_repository_permission: Option<String>,
    /// Number of private repositories, including ones the organization does not own; owners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_private_repos: Option<u64>,
    /// Number of private repositories the organization owns; owners only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_private_repos: Option<u64>,
}

/// `org-membership`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgMembership {
    /// API URL of this membership (`/orgs/{org}/memberships/{username}`).
    pub url: String,
    /// `active`, or `pending` while an invitation is open.
    pub state: String,
    /// `admin` (owner), `member` or `billing_manager`.
    pub role: String,
    /// API URL of the organization.
    pub organization_url: String,
    /// False when the user belongs only through an enterprise team; absent in older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_membership: Option<bool>,
    /// The organization.
    pub organization: OrganizationSimple,
    /// The member; `None` for an invitation by email without an account.
    pub user: Option<SimpleUser>,
}

/// `team-membership`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMembership {
    /// API URL of this membership.
    pub url: String,
    /// `member` or `maintainer`.
    pub role: String,
    /// `active`, or `pending` while the user's organization invitation is open.
    pub state: String,
}

/// `organization-invitation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationInvitation {
    /// Numeric invitation id.
    pub id: u64,
    /// Invitee's login; `None` when invited by email without an account.
    pub login: Option<String>,
    /// Opaque GraphQL global id.
    pub node_id: String,
    /// Invitee's email; `None` when invited by login.
    pub email: Option<String>,
    /// Offered role: `admin`, `direct_member`, `billing_manager` or `reinstate`.
    pub role: String,
    /// When the invitation was sent, RFC 3339 UTC.
    pub created_at: String,
    /// When the invitation failed (expired), RFC 3339 UTC; `None` while open.
    #[serde(default)]
    pub failed_at: Option<String>,
    /// Why the invitation failed; `None` while open.
    #[serde(default)]
    pub failed_reason: Option<String>,
    /// Who sent the invitation.
    pub inviter: SimpleUser,
    /// Number of teams the invitee will join on accepting.
    pub team_count: u64,
    /// API URL listing those teams.
    pub invitation_teams_url: String,
    /// `member`, `scim` or `unknown`; absent in older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_source: Option<String>,
}

/// `minimal-repository` (the schema's required fields and the ones orgsync reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimalRepository {
    /// Numeric repository id, stable across renames and transfers.
    pub id: u64,
    /// Opaque GraphQL global id.
    pub node_id: String,
    /// Repository name without the owner.
    pub name: String,
    /// `owner/name`.
    pub full_name: String,
    /// The owning user or organization.
    pub owner: SimpleUser,
    /// True for private and internal repositories.
    pub private: bool,
    /// Web page of the repository.
    pub html_url: String,
    /// Free-text description; `None` when unset.
    pub description: Option<String>,
    /// Whether the repository is a fork.
    pub fork: bool,
    /// API URL of the repository (`/repos/{owner}/{repo}`).
    pub url: String,
    /// RFC 6570 template `{url}/{archive_format}{/ref}`, kept for schema conformance.
    pub archive_url: String,
    /// RFC 6570 template `{url}/assignees{/user}`, kept for schema conformance.
    pub assignees_url: String,
    /// RFC 6570 template `{url}/git/blobs{/sha}`, kept for schema conformance.
    pub blobs_url: String,
    /// RFC 6570 template `{url}/branches{/branch}`, kept for schema conformance.
    pub branches_url: String,
    /// RFC 6570 template `{url}/collaborators{/collaborator}`, kept for schema conformance.
    pub collaborators_url: String,
    /// RFC 6570 template `{url}/comments{/number}`, kept for schema conformance.
    pub comments_url: String,
    /// RFC 6570 template `{url}/commits{/sha}`, kept for schema conformance.
    pub commits_url: String,
    /// RFC 6570 template `{url}/compare/{base}...{head}`, kept for schema conformance.
    pub compare_url: String,
    /// RFC 6570 template `{url}/contents/{+path}`, kept for schema conformance.
    pub contents_url: String,
    /// API URL `{url}/contributors`, kept for schema conformance.
    pub contributors_url: String,
    /// API URL `{url}/deployments`, kept for schema conformance.
    pub deployments_url: String,
    /// API URL `{url}/downloads`, kept for schema conformance.
    pub downloads_url: String,
    /// API URL `{url}/events`, kept for schema conformance.
    pub events_url: String,
    /// API URL `{url}/forks`, kept for schema conformance.
    pub forks_url: String,
    /// RFC 6570 template `{url}/git/commits{/sha}`, kept for schema conformance.
    pub git_commits_url: String,
    /// RFC 6570 template `{url}/git/refs{/sha}`, kept for schema conformance.
    pub git_refs_url: String,
    /// RFC 6570 template `{url}/git/tags{/sha}`, kept for schema conformance.
    pub git_tags_url: String,
    /// RFC 6570 template `{url}/issues/comments{/number}`, kept for schema conformance.
    pub issue_comment_url: String,
    /// RFC 6570 template `{url}/issues/events{/number}`, kept for schema conformance.
    pub issue_events_url: String,
    /// RFC 6570 template `{url}/issues{/number}`, kept for schema conformance.
    pub issues_url: String,
    /// RFC 6570 template `{url}/keys{/key_id}`, kept for schema conformance.
    pub keys_url: String,
    /// RFC 6570 template `{url}/labels{/name}`, kept for schema conformance.
    pub labels_url: String,
    /// API URL `{url}/languages`, kept for schema conformance.
    pub languages_url: String,
    /// API URL `{url}/merges`, kept for schema conformance.
    pub merges_url: String,
    /// RFC 6570 template `{url}/milestones{/number}`, kept for schema conformance.
    pub milestones_url: String,
    /// RFC 6570 template `{url}/notifications{?since,all,participating}`, kept for schema
    /// conformance.
    pub notifications_url: String,
    /// RFC 6570 template `{url}/pulls{/number}`, kept for schema conformance.
    pub pulls_url: String,
    /// RFC 6570 template `{url}/releases{/id}`, kept for schema conformance.
    pub releases_url: String,
    /// API URL `{url}/stargazers`, kept for schema conformance.
    pub stargazers_url: String,
    /// RFC 6570 template `{url}/statuses/{sha}`, kept for schema conformance.
    pub statuses_url: String,
    /// API URL `{url}/subscribers`, kept for schema conformance.
    pub subscribers_url: String,
    /// API URL `{url}/subscription`, kept for schema conformance.
    pub subscription_url: String,
    /// API URL `{url}/tags`, kept for schema conformance.
    pub tags_url: String,
    /// API URL `{url}/teams`, kept for schema conformance.
    pub teams_url: String,
    /// RFC 6570 template `{url}/git/trees{/sha}`, kept for schema conformance.
    pub trees_url: String,
    /// API URL `{url}/hooks`, kept for schema conformance.
    pub hooks_url: String,
    /// Read-only (archived); optional in the schema.
    #[serde(default)]
    pub archived: Option<bool>,
    /// Disabled by GitHub (for example over billing); optional in the schema.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// `public`, `private` or `internal`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// The caller's permissions (or, on team routes, the team's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// The caller's (or team's) role by name: `admin`, `maintain`, `write`, `triage`, `read` or a
    /// custom role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
}

/// `installation-token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationToken {
    /// The `ghs_…` token; a secret, never logged.
    pub token: String,
    /// Expiry, RFC 3339 UTC (one hour after issue on GitHub).
    pub expires_at: String,
    /// Granted app permissions, for example `members` -> `read`.
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    /// `all` or `selected`; `None` when not stated.
    #[serde(default)]
    pub repository_selection: Option<String>,
}

/// One `rate-limit` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u64,
    /// Requests left in the current window.
    pub remaining: u64,
    /// When the window resets, in Unix seconds.
    pub reset: u64,
    /// Requests made in the current window.
    pub used: u64,
}

/// `rate-limit-overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitOverview {
    /// Budgets by resource (`core`, `search`, `graphql`, …).
    pub resources: BTreeMap<String, RateLimit>,
    /// The `core` budget again (deprecated duplicate kept by GitHub).
    pub rate: RateLimit,
}

/// `basic-error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicError {
    /// Human-readable error message.
    pub message: String,
    /// Link to the documentation of the failing endpoint.
    pub documentation_url: String,
    /// The HTTP status as a string (`"404"`); absent in older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}
