//! The fields orgsync reads from GitLab's answers. Unknown fields are ignored, so GitLab adding
//! fields never breaks a sync; a missing field that orgsync needs fails the page (and the fetch).

use serde::Deserialize;

/// `GET /groups/:id` and rows of `descendant_groups` / `invited_groups`.
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    /// The group's id.
    pub id: u64,
    /// The display name.
    pub name: String,
    /// The full path (`platform/backend`).
    pub full_path: String,
    /// The parent group's id; `None` for a top-level group.
    #[serde(default)]
    pub parent_id: Option<u64>,
    /// Groups invited into this group (`GET /groups/:id` only; lists leave it out).
    #[serde(default)]
    pub shared_with_groups: Vec<SharedWithGroup>,
}

/// A row of the members endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberRow {
    /// The user's id: the immutable identity.
    pub id: u64,
    /// The username now (it can change).
    pub username: String,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The user account's state (`active`, `blocked`, `deactivated`, `banned`, …).
    pub state: String,
    /// The access level (10 Guest, 20 Reporter, 30 Developer, 40 Maintainer, 50 Owner).
    pub access_level: u8,
    /// The e-mail address, when GitLab shows it.
    #[serde(default)]
    pub email: Option<String>,
    /// EE only: `active` or `awaiting`; absent on CE, where every membership is active.
    #[serde(default)]
    pub membership_state: Option<String>,
    /// EE (Ultimate): the member's custom role; absent when there is none.
    #[serde(default)]
    pub member_role: Option<MemberRole>,
}

/// A custom role as member rows show it (EE's `MemberRole` entity): its base level and one
/// boolean per permission; only `read_code` matters here.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberRole {
    /// The custom role's id.
    #[serde(default)]
    pub id: Option<u64>,
    /// The custom role's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether it grants reading code.
    #[serde(default)]
    pub read_code: Option<bool>,
}

/// The level Reporter reads private code at (what a custom role's `read_code` grants).
const READS_CODE: u8 = 20;

impl MemberRow {
    /// True for an EE membership awaiting approval.
    pub fn awaiting(&self) -> bool {
        self.membership_state.as_deref() == Some("awaiting")
    }

    /// The level this membership reads code at: its access level, or Reporter's when a custom
    /// role grants `read_code` (a Guest with `read_code` reads the code of private projects).
    pub fn code_level(&self) -> u8 {
        if self
            .member_role
            .as_ref()
            .is_some_and(|r| r.read_code == Some(true))
        {
            self.access_level.max(READS_CODE)
        } else {
            self.access_level
        }
    }
}

/// The namespace a project lives in.
#[derive(Debug, Clone, Deserialize)]
pub struct Namespace {
    /// The namespace's id.
    pub id: u64,
    /// Its full path.
    #[serde(default)]
    pub full_path: Option<String>,
}

/// A row of `GET /groups/:id/projects`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectRow {
    /// The project's id.
    pub id: u64,
    /// `group/subgroup/project`.
    pub path_with_namespace: String,
    /// Archived (read-only).
    pub archived: bool,
    /// `public`, `internal` or `private`.
    pub visibility: String,
    /// Where it lives.
    pub namespace: Namespace,
    /// The project it was forked from, for a fork (only its presence is read).
    #[serde(default)]
    pub forked_from_project: Option<serde_json::Value>,
    /// Groups the project is shared with (a project from outside the tree is in scope through
    /// one of them).
    #[serde(default)]
    pub shared_with_groups: Vec<SharedWithGroup>,
}

/// A row of `shared_with_groups` (projects and groups).
#[derive(Debug, Clone, Deserialize)]
pub struct SharedWithGroup {
    /// The invited group's id.
    pub group_id: u64,
    /// The invited group's full path.
    #[serde(default)]
    pub group_full_path: Option<String>,
    /// The highest level the share grants.
    pub group_access_level: u8,
    /// When the share expires (`YYYY-MM-DD`), if it does.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `GET /user`.
#[derive(Debug, Clone, Deserialize)]
pub struct CurrentUser {
    /// The token owner's id.
    pub id: u64,
    /// The token owner's username.
    pub username: String,
    /// True for an instance administrator.
    #[serde(default)]
    pub is_admin: Option<bool>,
    /// True for a bot (access-token) user.
    #[serde(default)]
    pub bot: Option<bool>,
}

/// `GET /users/:id`: `external` is shown to administrators only.
#[derive(Debug, Clone, Deserialize)]
pub struct UserDetail {
    /// The user's id.
    pub id: u64,
    /// The username now.
    pub username: String,
    /// `active`, `blocked`, `deactivated`, …
    #[serde(default)]
    pub state: Option<String>,
    /// An external user (shown to administrators only).
    #[serde(default)]
    pub external: Option<bool>,
}

/// `GET /version`.
#[derive(Debug, Clone, Deserialize)]
pub struct Version {
    /// The version string (`16.11.2-ee`).
    pub version: String,
}

impl Version {
    /// `(major, minor)` of `16.11.2-ee`; `None` when it does not read as a version.
    pub fn major_minor(&self) -> Option<(u32, u32)> {
        let mut parts = self.version.trim().split(['.', '-', '+']);
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some((major, minor))
    }
}

/// `GET /personal_access_tokens/self`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSelf {
    /// The token's scopes (`read_api`, …).
    pub scopes: Vec<String>,
    /// Whether the token is active.
    #[serde(default)]
    pub active: Option<bool>,
    /// When it expires (`YYYY-MM-DD`), if it does.
    #[serde(default)]
    pub expires_at: Option<String>,
}
