//! The JSON shapes the simulated GitLab answers with, as serde types that also parse the
//! official example payloads in `api/gitlab/` (the fidelity tests check both directions).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `created_by` and other user summaries (`UserBasic`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserBasic {
    /// Numeric user id.
    pub id: u64,
    /// Login name, as in `/users?username=`.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Account state: `active`, `blocked`, `deactivated`, …
    pub state: String,
    /// Avatar image URL; `None` when there is none.
    pub avatar_url: Option<String>,
    /// Profile web page.
    pub web_url: String,
}

/// A row of `/groups/:id/members[/all]` and `/projects/:id/members[/all]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Numeric user id.
    pub id: u64,
    /// Login name, as in `/users?username=`.
    pub username: String,
    /// Display name.
    pub name: String,
    /// The user account's state: `active`, `blocked`, `deactivated`, …
    pub state: String,
    /// Avatar image URL; `None` when there is none.
    pub avatar_url: Option<String>,
    /// Profile web page.
    pub web_url: String,
    /// Role as GitLab's number: 10 guest, 15 planner, 20 reporter, 30 developer, 40
    /// maintainer, 50 owner (5 minimal access).
    pub access_level: u8,
    /// When the membership was created, ISO 8601.
    pub created_at: String,
    /// Who added the member; `None` when unknown.
    #[serde(default)]
    pub created_by: Option<UserBasic>,
    /// `YYYY-MM-DD`.
    pub expires_at: Option<String>,
    /// The member's SAML identity in the group, kept as raw JSON; `None` without SAML.
    #[serde(default)]
    pub group_saml_identity: Option<Value>,
    /// Only shown to administrators and enterprise-user owners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// EE: `active` or `awaiting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_state: Option<String>,
    /// Whether the account is locked after failed sign-ins; absent on older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    /// EE: the member's custom role, absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_role: Option<Value>,
}

/// `default_branch_protection_defaults` of a group: who may push and merge to a new project's
/// default branch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BranchProtectionDefaults {
    /// Access rules for pushing, as raw JSON objects such as `{"access_level": 40}`.
    pub allowed_to_push: Vec<Value>,
    /// Whether force pushes are allowed.
    pub allow_force_push: bool,
    /// Access rules for merging, as raw JSON objects such as `{"access_level": 40}`.
    pub allowed_to_merge: Vec<Value>,
    /// Whether developers may push the initial commit; absent on older servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_can_initial_push: Option<bool>,
}

/// A group in lists (`subgroups`, `descendant_groups`, `invited_groups`) and, with the extra
/// fields of [`GroupDetail`], `GET /groups/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Numeric group id.
    pub id: u64,
    /// Web page of the group.
    pub web_url: String,
    /// Display name of this group alone.
    pub name: String,
    /// URL segment of this group alone.
    pub path: String,
    /// Free-text description; `None` when unset (GitLab often sends `""`).
    pub description: Option<String>,
    /// `private`, `internal` or `public`.
    pub visibility: String,
    /// Whether projects may not be shared with other groups.
    #[serde(default)]
    pub share_with_group_lock: Option<bool>,
    /// Whether members must use two-factor authentication.
    #[serde(default)]
    pub require_two_factor_authentication: Option<bool>,
    /// Hours a member has to set up two-factor authentication.
    #[serde(default)]
    pub two_factor_grace_period: Option<u64>,
    /// Who may create projects: `noone`, `maintainer`, `developer` or `administrator`.
    #[serde(default)]
    pub project_creation_level: Option<String>,
    /// Auto DevOps default for the group's projects; `None` inherits.
    #[serde(default)]
    pub auto_devops_enabled: Option<bool>,
    /// Who may create subgroups: `owner` or `maintainer`.
    #[serde(default)]
    pub subgroup_creation_level: Option<String>,
    /// Deprecated inverse of `emails_enabled`.
    #[serde(default)]
    pub emails_disabled: Option<bool>,
    /// Whether GitLab sends notification emails for the group.
    #[serde(default)]
    pub emails_enabled: Option<bool>,
    /// Whether `@group` mentions are disabled.
    #[serde(default)]
    pub mentions_disabled: Option<bool>,
    /// Whether Git LFS is enabled for the group's projects.
    #[serde(default)]
    pub lfs_enabled: Option<bool>,
    /// Default branch name for new projects; `None` uses the instance default.
    #[serde(default)]
    pub default_branch: Option<String>,
    /// Deprecated numeric protection level (0 none … 4), superseded by
    /// `default_branch_protection_defaults`.
    #[serde(default)]
    pub default_branch_protection: Option<u8>,
    /// Branch protection applied to new projects' default branches.
    #[serde(default)]
    pub default_branch_protection_defaults: Option<BranchProtectionDefaults>,
    /// Avatar image URL; `None` when there is none.
    pub avatar_url: Option<String>,
    /// Whether users may request access to the group.
    pub request_access_enabled: bool,
    /// Storage shard name; shown to administrators only.
    #[serde(default)]
    pub repository_storage: Option<String>,
    /// Display names of the ancestors and this group, joined with ` / `.
    pub full_name: String,
    /// Paths of the ancestors and this group, joined with `/` (the namespace in URLs).
    pub full_path: String,
    /// Project holding the group's file templates (Premium); `None` when unset.
    #[serde(default)]
    pub file_template_project_id: Option<u64>,
    /// Parent group id; `None` for a top-level group.
    pub parent_id: Option<u64>,
    /// Creation time, ISO 8601.
    pub created_at: String,
}

/// `shared_with_groups` entries of groups and projects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SharedWithGroup {
    /// Id of the group the resource is shared with.
    pub group_id: u64,
    /// That group's display name.
    pub group_name: String,
    /// That group's full path.
    pub group_full_path: String,
    /// Highest role the share grants, as GitLab's access level number.
    pub group_access_level: u8,
    /// When the share ends, `YYYY-MM-DD`; `None` for no expiry.
    pub expires_at: Option<String>,
}

/// `GET /groups/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDetail {
    /// The list-entry fields, flattened.
    #[serde(flatten)]
    pub group: Group,
    /// Groups this group is shared with.
    pub shared_with_groups: Vec<SharedWithGroup>,
    /// Runner registration token; shown to owners only, so a secret.
    #[serde(default)]
    pub runners_token: Option<String>,
    /// `ssh`, `http` or `all`; absent on older servers.
    #[serde(default)]
    pub enabled_git_access_protocol: Option<String>,
    /// Whether members may only be invited from within the top-level group.
    #[serde(default)]
    pub prevent_sharing_groups_outside_hierarchy: Option<bool>,
    /// Comma-separated CIDR ranges allowed to reach the group (Premium).
    #[serde(default)]
    pub ip_restriction_ranges: Option<String>,
    /// Whether math rendering limits apply.
    #[serde(default)]
    pub math_rendering_limits_enabled: Option<bool>,
    /// Whether subgroups may not change the math rendering limits.
    #[serde(default)]
    pub lock_math_rendering_limits_enabled: Option<bool>,
    /// Deprecated but still sent unless `with_projects=false` (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<Project>>,
    /// Projects shared with this group; sent alongside `projects`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_projects: Option<Vec<Project>>,
}

/// The `namespace` a project lives in: a group or a user's personal namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    /// Namespace id (the group id for a group namespace).
    pub id: u64,
    /// Display name.
    pub name: String,
    /// URL segment of this namespace alone.
    pub path: String,
    /// `group` or `user`.
    pub kind: String,
    /// Full path including ancestors; absent on older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_path: Option<String>,
    /// Parent group id; `None` for top-level and user namespaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<u64>,
    /// Web page of the namespace; absent on older payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_url: Option<String>,
}

/// The `forked_from_project` summary of a fork's upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForkedFrom {
    /// Upstream project id.
    pub id: u64,
    /// Upstream project's full path.
    pub path_with_namespace: String,
}

/// A project in `/groups/:id/projects`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// Numeric project id.
    pub id: u64,
    /// Free-text description; `None` when unset.
    pub description: Option<String>,
    /// Default branch; `None` for an empty repository.
    pub default_branch: Option<String>,
    /// Deprecated alias of `topics`.
    pub tag_list: Vec<String>,
    /// Project topics.
    pub topics: Vec<String>,
    /// Whether the project is archived (read-only).
    pub archived: bool,
    /// `private`, `internal` or `public`.
    pub visibility: String,
    /// SSH clone URL.
    pub ssh_url_to_repo: String,
    /// HTTPS clone URL.
    pub http_url_to_repo: String,
    /// Web page of the project.
    pub web_url: String,
    /// Display name.
    pub name: String,
    /// Display names of the namespace chain and the project, joined with ` / `.
    pub name_with_namespace: String,
    /// URL segment of the project.
    pub path: String,
    /// Full path, `group/subgroup/project`.
    pub path_with_namespace: String,
    /// Whether issues are enabled.
    pub issues_enabled: bool,
    /// Whether merge requests are enabled.
    pub merge_requests_enabled: bool,
    /// Whether the wiki is enabled.
    pub wiki_enabled: bool,
    /// Whether CI/CD jobs are enabled.
    pub jobs_enabled: bool,
    /// Whether snippets are enabled.
    pub snippets_enabled: bool,
    /// Deprecated container registry flag; absent on newer servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_registry_enabled: Option<bool>,
    /// Creation time, ISO 8601.
    pub created_at: String,
    /// Last activity time, ISO 8601.
    pub last_activity_at: String,
    /// Whether instance runners may run the project's jobs.
    pub shared_runners_enabled: bool,
    /// Id of the user who created the project.
    pub creator_id: u64,
    /// The group or user namespace the project lives in.
    pub namespace: Namespace,
    /// Avatar image URL; `None` when there is none.
    pub avatar_url: Option<String>,
    /// Number of stars.
    pub star_count: u64,
    /// Number of forks.
    pub forks_count: u64,
    /// Number of open issues.
    pub open_issues_count: u64,
    /// Whether job logs are visible to non-members.
    pub public_jobs: bool,
    /// Groups the project is shared with.
    pub shared_with_groups: Vec<SharedWithGroup>,
    /// Whether users may request access; `None` on older payloads.
    #[serde(default)]
    pub request_access_enabled: Option<bool>,
    /// Upstream project of a fork; absent for non-forks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from_project: Option<ForkedFrom>,
}

/// `GET /user`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentUser {
    /// Numeric user id.
    pub id: u64,
    /// Login name, as in `/users?username=`.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Account state: `active`, `blocked`, `deactivated`, …
    pub state: String,
    /// Avatar image URL; `None` when there is none.
    pub avatar_url: Option<String>,
    /// Profile web page.
    pub web_url: String,
    /// Whether the user is an instance administrator.
    pub is_admin: bool,
    /// Whether the account is a bot (project, group or service account).
    pub bot: bool,
    /// Primary email; `None` when not shown.
    pub email: Option<String>,
}

/// `GET /personal_access_tokens/self`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSelf {
    /// Token id.
    pub id: u64,
    /// Token name chosen by its owner.
    pub name: String,
    /// Whether the token was revoked.
    pub revoked: bool,
    /// Creation time, ISO 8601.
    pub created_at: String,
    /// Free-text description; `None` when unset.
    pub description: Option<String>,
    /// Granted scopes, such as `read_api`.
    pub scopes: Vec<String>,
    /// Id of the user the token acts as.
    pub user_id: u64,
    /// Last use, ISO 8601; `None` if never used.
    pub last_used_at: Option<String>,
    /// True while neither revoked nor expired.
    pub active: bool,
    /// Expiry date, `YYYY-MM-DD`; `None` for no expiry.
    pub expires_at: Option<String>,
}

/// Member Hook body (no `object_kind`; `group_access` is the capitalised role name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberHook {
    /// When the membership was created, as GitLab formats hook times.
    pub created_at: String,
    /// When the membership last changed.
    pub updated_at: String,
    /// Display name of the group.
    pub group_name: String,
    /// Path of the group.
    pub group_path: String,
    /// Id of the group.
    pub group_id: u64,
    /// Member's login name.
    pub user_username: String,
    /// Member's display name.
    pub user_name: String,
    /// Member's email; `None` when hidden.
    pub user_email: Option<String>,
    /// Member's user id.
    pub user_id: u64,
    /// Role name, capitalised: `Guest`, `Reporter`, `Developer`, `Maintainer`, `Owner`.
    pub group_access: String,
    /// Subscription plan of the group; `None` on instances without plans.
    pub group_plan: Option<String>,
    /// When the membership expires; `None` for no expiry.
    pub expires_at: Option<String>,
    /// `user_add_to_group`, `user_update_for_group` or `user_remove_from_group`.
    pub event_name: String,
}

/// Subgroup Hook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubgroupHook {
    /// When the subgroup was created.
    pub created_at: String,
    /// When the subgroup last changed.
    pub updated_at: String,
    /// `subgroup_create` or `subgroup_destroy`.
    pub event_name: String,
    /// Subgroup display name.
    pub name: String,
    /// Subgroup path segment.
    pub path: String,
    /// Subgroup full path.
    pub full_path: String,
    /// Subgroup id.
    pub group_id: u64,
    /// Parent group id.
    pub parent_group_id: u64,
    /// Parent group display name.
    pub parent_name: String,
    /// Parent group path segment.
    pub parent_path: String,
    /// Parent group full path.
    pub parent_full_path: String,
}

/// An entry of `owners` in a Project Hook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookOwner {
    /// Owner's display name.
    pub name: String,
    /// Owner's email; `None` when hidden.
    pub email: Option<String>,
}

/// Project Hook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectHook {
    /// `project_create`, `project_destroy`, `project_rename`, `project_transfer` or
    /// `project_update`.
    pub event_name: String,
    /// When the project was created.
    pub created_at: String,
    /// When the project last changed.
    pub updated_at: String,
    /// Project display name.
    pub name: String,
    /// Project path segment.
    pub path: String,
    /// Project full path.
    pub path_with_namespace: String,
    /// Project id.
    pub project_id: u64,
    /// Id of the namespace the project lives in.
    pub project_namespace_id: u64,
    /// The project's owners.
    pub owners: Vec<HookOwner>,
    /// `private`, `internal` or `public`.
    pub project_visibility: String,
}
