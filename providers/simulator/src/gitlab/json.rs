//! The JSON shapes the simulated GitLab answers with, as serde types that also parse the
//! official example payloads in `api/gitlab/` (the fidelity tests check both directions).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `created_by` and other user summaries (`UserBasic`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBasic {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub state: String,
    pub avatar_url: Option<String>,
    pub web_url: String,
}

/// A row of `/groups/:id/members[/all]` and `/projects/:id/members[/all]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    pub username: String,
    pub name: String,
    /// The user account's state: `active`, `blocked`, `deactivated`, …
    pub state: String,
    pub avatar_url: Option<String>,
    pub web_url: String,
    pub access_level: u8,
    pub created_at: String,
    #[serde(default)]
    pub created_by: Option<UserBasic>,
    /// `YYYY-MM-DD`.
    pub expires_at: Option<String>,
    #[serde(default)]
    pub group_saml_identity: Option<Value>,
    /// Only shown to administrators and enterprise-user owners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// EE: `active` or `awaiting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// EE: the member's custom role, absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_role: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchProtectionDefaults {
    pub allowed_to_push: Vec<Value>,
    pub allow_force_push: bool,
    pub allowed_to_merge: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_can_initial_push: Option<bool>,
}

/// A group in lists (`subgroups`, `descendant_groups`, `invited_groups`) and, with the extra
/// fields of [`GroupDetail`], `GET /groups/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub id: u64,
    pub web_url: String,
    pub name: String,
    pub path: String,
    pub description: Option<String>,
    pub visibility: String,
    #[serde(default)]
    pub share_with_group_lock: Option<bool>,
    #[serde(default)]
    pub require_two_factor_authentication: Option<bool>,
    #[serde(default)]
    pub two_factor_grace_period: Option<u64>,
    #[serde(default)]
    pub project_creation_level: Option<String>,
    #[serde(default)]
    pub auto_devops_enabled: Option<bool>,
    #[serde(default)]
    pub subgroup_creation_level: Option<String>,
    #[serde(default)]
    pub emails_disabled: Option<bool>,
    #[serde(default)]
    pub emails_enabled: Option<bool>,
    #[serde(default)]
    pub mentions_disabled: Option<bool>,
    #[serde(default)]
    pub lfs_enabled: Option<bool>,
    #[serde(default)]
    pub default_branch: Option<String>,
    #[serde(default)]
    pub default_branch_protection: Option<u8>,
    #[serde(default)]
    pub default_branch_protection_defaults: Option<BranchProtectionDefaults>,
    pub avatar_url: Option<String>,
    pub request_access_enabled: bool,
    #[serde(default)]
    pub repository_storage: Option<String>,
    pub full_name: String,
    pub full_path: String,
    #[serde(default)]
    pub file_template_project_id: Option<u64>,
    pub parent_id: Option<u64>,
    pub created_at: String,
}

/// `shared_with_groups` entries of groups and projects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedWithGroup {
    pub group_id: u64,
    pub group_name: String,
    pub group_full_path: String,
    pub group_access_level: u8,
    pub expires_at: Option<String>,
}

/// `GET /groups/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDetail {
    #[serde(flatten)]
    pub group: Group,
    pub shared_with_groups: Vec<SharedWithGroup>,
    #[serde(default)]
    pub runners_token: Option<String>,
    #[serde(default)]
    pub enabled_git_access_protocol: Option<String>,
    #[serde(default)]
    pub prevent_sharing_groups_outside_hierarchy: Option<bool>,
    #[serde(default)]
    pub ip_restriction_ranges: Option<String>,
    #[serde(default)]
    pub math_rendering_limits_enabled: Option<bool>,
    #[serde(default)]
    pub lock_math_rendering_limits_enabled: Option<bool>,
    /// Deprecated but still sent unless `with_projects=false` (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<Project>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_projects: Option<Vec<Project>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    pub id: u64,
    pub name: String,
    pub path: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkedFrom {
    pub id: u64,
    pub path_with_namespace: String,
}

/// A project in `/groups/:id/projects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: u64,
    pub description: Option<String>,
    pub default_branch: Option<String>,
    pub tag_list: Vec<String>,
    pub topics: Vec<String>,
    pub archived: bool,
    pub visibility: String,
    pub ssh_url_to_repo: String,
    pub http_url_to_repo: String,
    pub web_url: String,
    pub name: String,
    pub name_with_namespace: String,
    pub path: String,
    pub path_with_namespace: String,
    pub issues_enabled: bool,
    pub merge_requests_enabled: bool,
    pub wiki_enabled: bool,
    pub jobs_enabled: bool,
    pub snippets_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_registry_enabled: Option<bool>,
    pub created_at: String,
    pub last_activity_at: String,
    pub shared_runners_enabled: bool,
    pub creator_id: u64,
    pub namespace: Namespace,
    pub avatar_url: Option<String>,
    pub star_count: u64,
    pub forks_count: u64,
    pub open_issues_count: u64,
    pub public_jobs: bool,
    pub shared_with_groups: Vec<SharedWithGroup>,
    #[serde(default)]
    pub request_access_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from_project: Option<ForkedFrom>,
}

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: u64,
    pub username: String,
    pub name: String,
    pub state: String,
    pub avatar_url: Option<String>,
    pub web_url: String,
    pub is_admin: bool,
    pub bot: bool,
    pub email: Option<String>,
}

/// `GET /personal_access_tokens/self`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSelf {
    pub id: u64,
    pub name: String,
    pub revoked: bool,
    pub created_at: String,
    pub description: Option<String>,
    pub scopes: Vec<String>,
    pub user_id: u64,
    pub last_used_at: Option<String>,
    pub active: bool,
    pub expires_at: Option<String>,
}

/// Member Hook body (no `object_kind`; `group_access` is the capitalised role name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberHook {
    pub created_at: String,
    pub updated_at: String,
    pub group_name: String,
    pub group_path: String,
    pub group_id: u64,
    pub user_username: String,
    pub user_name: String,
    pub user_email: Option<String>,
    pub user_id: u64,
    pub group_access: String,
    pub group_plan: Option<String>,
    pub expires_at: Option<String>,
    pub event_name: String,
}

/// Subgroup Hook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupHook {
    pub created_at: String,
    pub updated_at: String,
    pub event_name: String,
    pub name: String,
    pub path: String,
    pub full_path: String,
    pub group_id: u64,
    pub parent_group_id: u64,
    pub parent_name: String,
    pub parent_path: String,
    pub parent_full_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookOwner {
    pub name: String,
    pub email: Option<String>,
}

/// Project Hook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectHook {
    pub event_name: String,
    pub created_at: String,
    pub updated_at: String,
    pub name: String,
    pub path: String,
    pub path_with_namespace: String,
    pub project_id: u64,
    pub project_namespace_id: u64,
    pub owners: Vec<HookOwner>,
    pub project_visibility: String,
}
