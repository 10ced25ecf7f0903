//! GitHub's REST JSON shapes, as serde types named after the OpenAPI schemas
//! (`simple-user`, `team`, `minimal-repository`, …). The server serialises them; tests check that
//! the official example payloads deserialize into them and that what the server sends validates
//! against the official schemas.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `simple-user`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleUser {
    pub login: String,
    pub id: u64,
    pub node_id: String,
    pub avatar_url: String,
    pub gravatar_id: Option<String>,
    pub url: String,
    pub html_url: String,
    pub followers_url: String,
    pub following_url: String,
    pub gists_url: String,
    pub starred_url: String,
    pub subscriptions_url: String,
    pub organizations_url: String,
    pub repos_url: String,
    pub events_url: String,
    pub received_events_url: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub site_admin: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `public-user` (`GET /users/{username}`), plus `suspended_at`, which Enterprise Server shows
/// for suspended accounts and the published schema does not list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUser {
    #[serde(flatten)]
    pub user: SimpleUser,
    pub bio: Option<String>,
    pub blog: Option<String>,
    pub company: Option<String>,
    pub location: Option<String>,
    pub hireable: Option<bool>,
    pub followers: u64,
    pub following: u64,
    pub public_gists: u64,
    pub public_repos: u64,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
}

/// `team-member`: a simple user plus the newer per-member `role` and `inherited` (true when the
/// user is listed only through a child team).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    #[serde(flatten)]
    pub user: SimpleUser,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherited: Option<bool>,
}

/// The `permissions` object of collaborators, teams and repositories.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub admin: bool,
    #[serde(default)]
    pub maintain: bool,
    pub push: bool,
    #[serde(default)]
    pub triage: bool,
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
    #[serde(flatten)]
    pub user: SimpleUser,
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
    pub role_name: String,
    pub user: Option<Collaborator>,
}

/// The `parent` of a team (`team-simple`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamSimple {
    pub id: u64,
    pub node_id: String,
    pub url: String,
    pub members_url: String,
    pub name: String,
    pub description: Option<String>,
    pub permission: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<String>,
    pub html_url: String,
    pub repositories_url: String,
    pub slug: String,
    #[serde(rename = "type", default = "organization_type")]
    pub kind: String,
}

fn organization_type() -> String {
    "organization".to_string()
}

/// `team`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    pub id: u64,
    pub node_id: String,
    pub url: String,
    pub html_url: String,
    pub name: String,
    pub slug: String,
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_setting: Option<String>,
    pub permission: String,
    /// On `/repos/{owner}/{repo}/teams`: what the team may do on that repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    pub members_url: String,
    pub repositories_url: String,
    pub parent: Option<TeamSimple>,
    /// The example payloads predate this required field, hence the default.
    #[serde(rename = "type", default = "organization_type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<u64>,
}

/// `team-full`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TeamFull {
    #[serde(flatten)]
    pub team: Team,
    pub members_count: u64,
    pub repos_count: u64,
    pub created_at: String,
    pub updated_at: String,
    pub organization: serde_json::Value,
}

/// `organization-simple`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSimple {
    pub login: String,
    pub id: u64,
    pub node_id: String,
    pub url: String,
    pub repos_url: String,
    pub events_url: String,
    pub hooks_url: String,
    pub issues_url: String,
    pub members_url: String,
    pub public_members_url: String,
    pub avatar_url: String,
    pub description: Option<String>,
}

/// `organization-full` (the fields orgsync reads, plus everything the schema requires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationFull {
    #[serde(flatten)]
    pub simple: OrganizationSimple,
    pub name: Option<String>,
    pub html_url: String,
    pub has_organization_projects: bool,
    pub has_repository_projects: bool,
    pub public_repos: u64,
    pub public_gists: u64,
    pub followers: u64,
    pub following: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub updated_at: String,
    /// Missing in the official example, required (nullable) by the schema.
    #[serde(default)]
    pub archived_at: Option<String>,
    /// `read`, `write`, `admin` or `none`; like the counts below, only shown to owners (the
    /// keys are absent for anyone else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_repository_permission: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_private_repos: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_private_repos: Option<u64>,
}

/// `org-membership`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgMembership {
    pub url: String,
    pub state: String,
    pub role: String,
    pub organization_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_membership: Option<bool>,
    pub organization: OrganizationSimple,
    pub user: Option<SimpleUser>,
}

/// `team-membership`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMembership {
    pub url: String,
    pub role: String,
    pub state: String,
}

/// `organization-invitation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationInvitation {
    pub id: u64,
    pub login: Option<String>,
    pub node_id: String,
    pub email: Option<String>,
    pub role: String,
    pub created_at: String,
    #[serde(default)]
    pub failed_at: Option<String>,
    #[serde(default)]
    pub failed_reason: Option<String>,
    pub inviter: SimpleUser,
    pub team_count: u64,
    pub invitation_teams_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invitation_source: Option<String>,
}

/// `minimal-repository` (the schema's required fields and the ones orgsync reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinimalRepository {
    pub id: u64,
    pub node_id: String,
    pub name: String,
    pub full_name: String,
    pub owner: SimpleUser,
    pub private: bool,
    pub html_url: String,
    pub description: Option<String>,
    pub fork: bool,
    pub url: String,
    pub archive_url: String,
    pub assignees_url: String,
    pub blobs_url: String,
    pub branches_url: String,
    pub collaborators_url: String,
    pub comments_url: String,
    pub commits_url: String,
    pub compare_url: String,
    pub contents_url: String,
    pub contributors_url: String,
    pub deployments_url: String,
    pub downloads_url: String,
    pub events_url: String,
    pub forks_url: String,
    pub git_commits_url: String,
    pub git_refs_url: String,
    pub git_tags_url: String,
    pub issue_comment_url: String,
    pub issue_events_url: String,
    pub issues_url: String,
    pub keys_url: String,
    pub labels_url: String,
    pub languages_url: String,
    pub merges_url: String,
    pub milestones_url: String,
    pub notifications_url: String,
    pub pulls_url: String,
    pub releases_url: String,
    pub stargazers_url: String,
    pub statuses_url: String,
    pub subscribers_url: String,
    pub subscription_url: String,
    pub tags_url: String,
    pub teams_url: String,
    pub trees_url: String,
    pub hooks_url: String,
    #[serde(default)]
    pub archived: Option<bool>,
    #[serde(default)]
    pub disabled: Option<bool>,
    /// `public`, `private` or `internal`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// The caller's permissions (or, on team routes, the team's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_name: Option<String>,
}

/// `installation-token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallationToken {
    pub token: String,
    pub expires_at: String,
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    #[serde(default)]
    pub repository_selection: Option<String>,
}

/// One `rate-limit` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub limit: u64,
    pub remaining: u64,
    pub reset: u64,
    pub used: u64,
}

/// `rate-limit-overview`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitOverview {
    pub resources: BTreeMap<String, RateLimit>,
    pub rate: RateLimit,
}

/// `basic-error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicError {
    pub message: String,
    pub documentation_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}
