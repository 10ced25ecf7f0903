//! The GitLab part of a scenario: users, a forest of groups with nested subgroups, projects,
//! memberships with access levels, expiry and approval state, groups shared with groups and
//! projects shared with groups, and tokens.
//!
//! Ids are GitLab's immutable numeric ids; paths are data. Every group and project lives in one
//! id space each, as on a GitLab instance.

use crate::SimError;
use orgsync_core::Visibility;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The GitLab instance: users exist once and may belong to several groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabScenario {
    /// Every account of the instance; memberships refer to them by [`GitlabUser::id`].
    #[serde(default)]
    pub users: Vec<GitlabUser>,
    /// Every group of the instance, top-level and nested (`parent` links them).
    #[serde(default)]
    pub groups: Vec<GitlabGroup>,
    /// Every project; [`GitlabProject::namespace`] names its group.
    #[serde(default)]
    pub projects: Vec<GitlabProject>,
    /// Tokens the server accepts. A scenario without tokens gets one admin token with every
    /// scope (`sim-gitlab-token`) when the server starts.
    #[serde(default)]
    pub tokens: Vec<GitlabToken>,
    /// The date the simulated instance believes it is (`YYYY-MM-DD`), against which
    /// `expires_at` is compared: GitLab removes expired memberships, so they are never listed.
    /// Defaults to 2026-11-24, so scenario files give the same answers every day.
    #[serde(default = "default_today")]
    pub today: String,
    /// The version `GET /version` reports (`16.11.2-ee`); `None`: a current GitLab
    /// ([`CURRENT_VERSION`]). Before 17.0, `members/all` lists the members of an invited group
    /// only to callers who may see that group (it is public, or they belong to it, or they are
    /// administrators); from 17.0 to every caller who may list the members.
    #[serde(default)]
    pub version: Option<String>,
}

/// What `GET /version` reports when a scenario names no version.
pub const CURRENT_VERSION: &str = "18.6.0";

fn default_today() -> String {
    "2026-11-24".to_string()
}

/// The state of a user account (`state` in member rows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    /// May sign in and use the API.
    #[default]
    Active,
    /// Blocked by an administrator: cannot sign in or use the API.
    Blocked,
    /// Deactivated (for example after long inactivity); reactivated by signing in again.
    Deactivated,
}

impl UserState {
    /// The state as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
            UserState::Deactivated => "deactivated",
        }
    }
}

/// A GitLab account. `id` is immutable; `username` may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabUser {
    /// Numeric id, unique in the scenario.
    pub id: u64,
    /// Login name, unique case-insensitively.
    pub username: String,
    /// Display name; the username is shown when `None`.
    #[serde(default)]
    pub name: Option<String>,
    /// Email address; shown only to administrators.
    #[serde(default)]
    pub email: Option<String>,
    /// Active unless set.
    #[serde(default)]
    pub state: UserState,
    /// A bot user created by a group or project access token.
    #[serde(default)]
    pub bot: bool,
    /// An instance administrator (sees every group and project).
    #[serde(default)]
    pub admin: bool,
    /// An external user: reads internal projects only where a membership gives at least
    /// Reporter, like private ones.
    #[serde(default)]
    pub external: bool,
}

/// Whether a membership has been approved (GitLab EE `membership_state`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipApproval {
    /// Approved: the membership grants its role.
    #[default]
    Active,
    /// Awaiting approval by an owner (user caps, promotion management): grants nothing yet.
    Awaiting,
}

impl MembershipApproval {
    /// The state as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipApproval::Active => "active",
            MembershipApproval::Awaiting => "awaiting",
        }
    }
}

/// A direct membership of a user in a group or project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabMember {
    /// [`GitlabUser::id`].
    pub user: u64,
    /// 5 minimal access, 10 guest, 15 planner, 20 reporter, 30 developer, 40 maintainer, 50 owner.
    pub access_level: u8,
    /// `YYYY-MM-DD`; the membership is gone from that day on.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Active unless set.
    #[serde(default)]
    pub state: MembershipApproval,
    /// A custom role (Ultimate) on top of `access_level` (its base level), shown as the member
    /// row's `member_role`.
    #[serde(default)]
    pub member_role: Option<CustomRole>,
}

/// A custom role: a base level plus permissions; `read_code` lets a Guest read the code of
/// private projects (GitLab's member roles API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomRole {
    /// Member role id.
    pub id: u64,
    /// Role name, shown in the member row's `member_role`.
    pub name: String,
    /// Lets a Guest read the code of private projects.
    #[serde(default)]
    pub read_code: bool,
}

/// A group (or project) shared with another group: the invited group's members get
/// `min(access_level, their level in the invited group)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupShare {
    /// The invited group's id.
    pub group: u64,
    /// The most the share grants, as an access level number (see [`GitlabMember::access_level`]).
    pub access_level: u8,
    /// `YYYY-MM-DD`; the share is gone from that day on. `None` for no expiry.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// A group or subgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabGroup {
    /// Numeric id, unique among groups.
    pub id: u64,
    /// The last path segment; the full path is built from the parents.
    pub path: String,
    /// Display name.
    pub name: String,
    /// The parent group's id; `None` for a top-level group.
    #[serde(default)]
    pub parent: Option<u64>,
    /// Private unless set.
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    /// Direct members (inherited ones come from the ancestors).
    #[serde(default)]
    pub members: Vec<GitlabMember>,
    /// Groups invited into this group (`/groups/:id/invited_groups`).
    #[serde(default)]
    pub shared_with: Vec<GroupShare>,
}

/// A project in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabProject {
    /// Numeric id, unique among projects.
    pub id: u64,
    /// The last path segment, unique case-insensitively within its group.
    pub path: String,
    /// Display name.
    pub name: String,
    /// The id of the group the project lives in.
    pub namespace: u64,
    /// Private unless set.
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    /// Archived (read-only).
    #[serde(default)]
    pub archived: bool,
    /// Forked from another project (`forked_from_project`).
    #[serde(default)]
    pub fork: bool,
    /// Direct members (inherited ones come from the group and its ancestors).
    #[serde(default)]
    pub members: Vec<GitlabMember>,
    /// Groups this project is shared with.
    #[serde(default)]
    pub shared_with: Vec<GroupShare>,
}

fn default_visibility() -> Visibility {
    Visibility::Private
}

/// A token the server accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabToken {
    /// The token text callers send as `PRIVATE-TOKEN` or Bearer.
    pub token: String,
    /// The user the token acts as; `None`: an administrator who sees everything.
    #[serde(default)]
    pub user: Option<u64>,
    /// `api`, `read_api`, `read_user`, …; `None` means every scope.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    /// This token's budget per window; the server's default when `None`.
    #[serde(default)]
    pub rate_limit: Option<u64>,
    /// Token name, shown by `/personal_access_tokens/self`.
    #[serde(default)]
    pub name: Option<String>,
}

impl GitlabToken {
    /// An administrator token with every scope.
    pub fn admin(token: impl Into<String>) -> GitlabToken {
        GitlabToken {
            token: token.into(),
            user: None,
            scopes: None,
            rate_limit: None,
            name: None,
        }
    }
}

/// The role name GitLab's UI and orgsync use for an access level.
pub fn role_name(access_level: u8) -> &'static str {
    match access_level {
        50.. => "owner",
        40..=49 => "maintainer",
        30..=39 => "developer",
        20..=29 => "reporter",
        15..=19 => "planner",
        10..=14 => "guest",
        _ => "minimal_access",
    }
}

/// The capitalised role name of webhook payloads (`group_access: "Developer"`).
pub fn role_title(access_level: u8) -> &'static str {
    match access_level {
        50.. => "Owner",
        40..=49 => "Maintainer",
        30..=39 => "Developer",
        20..=29 => "Reporter",
        15..=19 => "Planner",
        10..=14 => "Guest",
        _ => "Minimal Access",
    }
}

const LEVELS: [u8; 7] = [5, 10, 15, 20, 30, 40, 50];

impl GitlabScenario {
    /// The user with this id.
    pub fn user(&self, id: u64) -> Option<&GitlabUser> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The group with this id.
    pub fn group(&self, id: u64) -> Option<&GitlabGroup> {
        self.groups.iter().find(|g| g.id == id)
    }

    /// The project with this id.
    pub fn project(&self, id: u64) -> Option<&GitlabProject> {
        self.projects.iter().find(|p| p.id == id)
    }

    /// `a/b/c` for a group, from its ancestors' paths.
    pub fn group_full_path(&self, id: u64) -> String {
        self.ancestors(id)
            .iter()
            .rev()
            .filter_map(|g| self.group(*g))
            .map(|g| g.path.as_str())
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The group's full name (`A / B / C`).
    pub fn group_full_name(&self, id: u64) -> String {
        self.ancestors(id)
            .iter()
            .rev()
            .filter_map(|g| self.group(*g))
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(" / ")
    }

    /// The group by numeric id or full path (case-insensitive, as GitLab resolves paths).
    pub fn group_by_ref(&self, reference: &str) -> Option<&GitlabGroup> {
        if let Ok(id) = reference.parse::<u64>() {
            return self.group(id);
        }
        self.groups
            .iter()
            .find(|g| self.group_full_path(g.id).eq_ignore_ascii_case(reference))
    }

    /// `group/subgroup/project` for a project, from its group's full path.
    pub fn project_full_path(&self, project: &GitlabProject) -> String {
        format!(
            "{}/{}",
            self.group_full_path(project.namespace),
            project.path
        )
    }

    /// The project by numeric id or full path.
    pub fn project_by_ref(&self, reference: &str) -> Option<&GitlabProject> {
        if let Ok(id) = reference.parse::<u64>() {
            return self.project(id);
        }
        self.projects
            .iter()
            .find(|p| self.project_full_path(p).eq_ignore_ascii_case(reference))
    }

    /// The group itself, then its parent, up to the top-level group (loops cut).
    pub fn ancestors(&self, id: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cursor = Some(id);
        while let Some(current) = cursor {
            if out.contains(&current) || out.len() > self.groups.len() {
                break;
            }
            let Some(group) = self.group(current) else {
                break;
            };
            out.push(current);
            cursor = group.parent;
        }
        out
    }

    /// Every group strictly below `id`, parents before children.
    pub fn descendants(&self, id: u64) -> Vec<u64> {
        let mut out: Vec<u64> = Vec::new();
        let mut frontier = vec![id];
        while let Some(current) = frontier.pop() {
            let mut children: Vec<u64> = self
                .groups
                .iter()
                .filter(|g| g.parent == Some(current) && g.id != id && !out.contains(&g.id))
                .map(|g| g.id)
                .collect();
            children.sort_unstable();
            for c in children.iter().rev() {
                frontier.push(*c);
            }
            out.extend(children);
        }
        out
    }

    /// The version `GET /version` reports.
    pub fn version_string(&self) -> &str {
        self.version.as_deref().unwrap_or(CURRENT_VERSION)
    }

    /// Whether the instance is at least `major.minor` (an unreadable version counts as current).
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let mut parts = self
            .version_string()
            .split(|c: char| !c.is_ascii_digit())
            .map(|p| p.parse::<u32>().ok());
        match (parts.next().flatten(), parts.next().flatten()) {
            (Some(a), Some(b)) => (a, b) >= (major, minor),
            (Some(a), None) => a >= major,
            _ => true,
        }
    }

    /// True when `date` (`YYYY-MM-DD`) is today or earlier: the membership has expired.
    pub fn expired(&self, expires_at: Option<&str>) -> bool {
        expires_at.is_some_and(|d| d <= self.today.as_str())
    }

    /// Checks references, so a hand-written file fails at load time.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::InvalidScenario(m));
        let mut users = BTreeSet::new();
        let mut names = BTreeSet::new();
        for u in &self.users {
            if !users.insert(u.id) {
                return bad(format!("gitlab user id {} appears twice", u.id));
            }
            if !names.insert(u.username.to_ascii_lowercase()) {
                return bad(format!("gitlab username {} appears twice", u.username));
            }
            // Member rows carry no bot flag: clients recognise access-token bots by the
            // username GitLab gives them, so a scenario's bots must have one.
            let bot_name = ["group_", "project_"]
                .iter()
                .any(|p| u.username.starts_with(p) && u.username.contains("_bot"));
            if u.bot && !bot_name {
                return bad(format!(
                    "gitlab bot {} must be named like GitLab's access-token bots \
                     (group_<id>_bot_<hex> or project_<id>_bot_<hex>)",
                    u.username
                ));
            }
        }
        let group_ids: BTreeSet<u64> = self.groups.iter().map(|g| g.id).collect();
        if group_ids.len() != self.groups.len() {
            return bad("a gitlab group id appears twice".to_string());
        }
        let check_members = |what: String, members: &[GitlabMember]| -> Result<(), SimError> {
            let mut seen = BTreeSet::new();
            for m in members {
                if !users.contains(&m.user) {
                    return bad(format!("{what}: member {} is not a user", m.user));
                }
                if !seen.insert(m.user) {
                    return bad(format!("{what}: member {} appears twice", m.user));
                }
                if !LEVELS.contains(&m.access_level) {
                    return bad(format!(
                        "{what}: access_level {} is not one of 5, 10, 15, 20, 30, 40, 50",
                        m.access_level
                    ));
                }
            }
            Ok(())
        };
        let check_shares = |what: String, shares: &[GroupShare]| -> Result<(), SimError> {
            for s in shares {
                if !group_ids.contains(&s.group) {
                    return bad(format!("{what}: shared with unknown group {}", s.group));
                }
                if !LEVELS.contains(&s.access_level) {
                    return bad(format!("{what}: bad share level {}", s.access_level));
                }
            }
            Ok(())
        };
        let mut paths = BTreeSet::new();
        for g in &self.groups {
            if let Some(p) = g.parent
                && !group_ids.contains(&p)
            {
                return bad(format!("group {}: parent {p} does not exist", g.id));
            }
            let top = self.ancestors(g.id).last().and_then(|top| self.group(*top));
            if top.is_none_or(|t| t.parent.is_some()) {
                return bad(format!("group {}: its parents form a loop", g.id));
            }
            if !paths.insert(self.group_full_path(g.id).to_ascii_lowercase()) {
                return bad(format!(
                    "group path {} appears twice",
                    self.group_full_path(g.id)
                ));
            }
            check_members(format!("group {}", g.path), &g.members)?;
            check_shares(format!("group {}", g.path), &g.shared_with)?;
        }
        let mut project_ids = BTreeSet::new();
        for p in &self.projects {
            if !project_ids.insert(p.id) {
                return bad(format!("gitlab project id {} appears twice", p.id));
            }
            if !group_ids.contains(&p.namespace) {
                return bad(format!(
                    "project {}: namespace {} does not exist",
                    p.path, p.namespace
                ));
            }
            if !paths.insert(self.project_full_path(p).to_ascii_lowercase()) {
                return bad(format!("path {} appears twice", self.project_full_path(p)));
            }
            check_members(format!("project {}", p.path), &p.members)?;
            check_shares(format!("project {}", p.path), &p.shared_with)?;
        }
        for t in &self.tokens {
            if let Some(u) = t.user
                && !users.contains(&u)
            {
                return bad(format!("a gitlab token acts as unknown user {u}"));
            }
        }
        Ok(())
    }
}
