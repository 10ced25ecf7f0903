//! The fields orgsync reads from GitLab's answers. Unknown fields are ignored, so GitLab adding
//! fields never breaks a sync; a missing field that orgsync needs fails the page (and the fetch).

use serde::Deserialize;

/// `GET /groups/:id` and rows of `descendant_groups` / `invited_groups`.
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub id: u64,
    pub name: String,
    pub full_path: String,
    #[serde(default)]
    pub parent_id: Option<u64>,
}

/// A row of the members endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberRow {
    pub id: u64,
    pub username: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The user account's state (`active`, `blocked`, `deactivated`, `banned`, …).
    pub state: String,
    pub access_level: u8,
    #[serde(default)]
    pub email: Option<String>,
    /// EE only: `active` or `awaiting`; absent on CE, where every membership is active.
    #[serde(default)]
    pub membership_state: Option<String>,
}

impl MemberRow {
    pub fn awaiting(&self) -> bool {
        self.membership_state.as_deref() == Some("awaiting")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Namespace {
    pub id: u64,
    #[serde(default)]
    pub full_path: Option<String>,
}

/// A row of `GET /groups/:id/projects`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProjectRow {
    pub id: u64,
    pub path_with_namespace: String,
    pub archived: bool,
    pub visibility: String,
    pub namespace: Namespace,
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
    pub group_id: u64,
    #[serde(default)]
    pub group_full_path: Option<String>,
    pub group_access_level: u8,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// `GET /user`.
#[derive(Debug, Clone, Deserialize)]
pub struct CurrentUser {
    pub id: u64,
    pub username: String,
    #[serde(default)]
    pub is_admin: Option<bool>,
    #[serde(default)]
    pub bot: Option<bool>,
}

/// `GET /users/:id`: `external` is shown to administrators only.
#[derive(Debug, Clone, Deserialize)]
pub struct UserDetail {
    pub id: u64,
    pub username: String,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub external: Option<bool>,
}

/// `GET /personal_access_tokens/self`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenSelf {
    pub scopes: Vec<String>,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub expires_at: Option<String>,
}
