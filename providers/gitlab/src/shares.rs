//! Members reached through invited (shared) groups, resolved by orgsync itself where GitLab's
//! `members/all` cannot be trusted to list them.
//!
//! GitLab's members API: before 17.0, `members/all` returns the members of an invited group
//! only if the invited group is public or the requester is also a member of it (16.10 added
//! "or a member of the shared group" behind the `webui_members_inherited_users` flag, which
//! 17.0 turned on and 17.4 removed). A token of a Reporter of the group who is not in a private
//! invited group is shown neither that group's members nor, on a project, what they read
//! through it, with a `200`: they would be missing from the workspace ("left the account") or
//! found unable to read what they read. So on an instance older than 17.0, or whose version
//! cannot be read, every share that matters is read from the group's `shared_with_groups`
//! (`GET /groups/:id`: `group_id`, `group_full_path`, `group_access_level`, `expires_at`) and
//! the invited group's members are read directly (`GET /groups/:path/members` for the invited
//! group and each of its ancestors: sharing is not transitive, so the invited group's own
//! shares do not count), each capped at `min(their level, group_access_level)`. Expired shares
//! are ignored. A token that cannot read an invited group fails the fetch: nothing is decided
//! on members it cannot see.

use crate::api;
use crate::model::{Group, MemberRow, SharedWithGroup};
use gitlab::api::common::NameOrId;
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{ProviderError, ProviderKind};
use std::collections::BTreeMap;

/// Invited groups, read once per fetch (or confirmation) and cached.
pub(crate) struct Shares<'c> {
    client: &'c WorkspaceClient,
    /// `YYYY-MM-DD`, UTC: a share that expires on it or before is gone.
    today: String,
    /// The version the instance reported, for messages.
    version: String,
    /// Live shares of a group, by lower-cased full path.
    groups: BTreeMap<String, Vec<SharedWithGroup>>,
    /// An invited group's members (its own and its ancestors' direct members), best row per
    /// user, uncapped.
    members: BTreeMap<u64, BTreeMap<u64, MemberRow>>,
}

/// The better of two rows for the same user: an approved membership beats one awaiting
/// approval, then the level that reads more.
pub(crate) fn better(current: &MemberRow, candidate: &MemberRow) -> bool {
    let rank = |r: &MemberRow| (!r.awaiting(), r.code_level(), r.access_level);
    rank(candidate) > rank(current)
}

/// Adds `extra` rows to `rows`, keeping one row per user, the better one.
pub(crate) fn merge(rows: &mut Vec<MemberRow>, extra: Vec<MemberRow>) {
    for row in extra {
        match rows.iter_mut().find(|r| r.id == row.id) {
            Some(current) if better(current, &row) => *current = row,
            Some(_) => {}
            None => rows.push(row),
        }
    }
}

/// The group itself and every ancestor (`a/b/c` → `a/b/c`, `a/b`, `a`).
pub(crate) fn chain(full_path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = full_path;
    loop {
        out.push(path.to_string());
        match path.rsplit_once('/') {
            Some((parent, _)) => path = parent,
            None => return out,
        }
    }
}

/// Today's date in UTC as `YYYY-MM-DD` (civil-from-days, no calendar dependency).
pub(crate) fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

impl<'c> Shares<'c> {
    pub(crate) fn new(client: &'c WorkspaceClient, version: Option<&str>) -> Self {
        Shares {
            client,
            today: today(),
            version: version.unwrap_or("unknown").to_string(),
            groups: BTreeMap::new(),
            members: BTreeMap::new(),
        }
    }

    fn live(&self, share: &SharedWithGroup) -> bool {
        share
            .expires_at
            .as_deref()
            .is_none_or(|d| d.get(..10).unwrap_or(d) > self.today.as_str())
    }

    /// Records the shares of a group already read (the configured group's own).
    pub(crate) fn seed(&mut self, full_path: &str, shares: &[SharedWithGroup]) {
        let live = shares.iter().filter(|s| self.live(s)).cloned().collect();
        self.groups.insert(full_path.to_ascii_lowercase(), live);
    }

    /// The live shares of the group at `full_path` (`GET /groups/:path`), cached.
    pub(crate) async fn of_group(
        &mut self,
        full_path: &str,
    ) -> Result<Vec<SharedWithGroup>, ProviderError> {
        let key = full_path.to_ascii_lowercase();
        if let Some(shares) = self.groups.get(&key) {
            return Ok(shares.clone());
        }
        let group: Group = api::get(
            self.client,
            &api::GroupDetails {
                group: NameOrId::Name(full_path.into()),
            },
        )
        .await?;
        self.seed(full_path, &group.shared_with_groups);
        Ok(self.groups.get(&key).cloned().unwrap_or_default())
    }

    /// The live shares of every group from `full_path` up to the top.
    pub(crate) async fn of_chain(
        &mut self,
        full_path: &str,
    ) -> Result<Vec<SharedWithGroup>, ProviderError> {
        let mut out = Vec::new();
        for path in chain(full_path) {
            out.extend(self.of_group(&path).await?);
        }
        Ok(out)
    }

    /// The members `share` gives: the invited group's own and its ancestors' direct members,
    /// each capped at the share's level (a custom role is not carried through a share).
    pub(crate) async fn capped(
        &mut self,
        share: &SharedWithGroup,
    ) -> Result<Vec<MemberRow>, ProviderError> {
        if !self.live(share) {
            return Ok(Vec::new());
        }
        if !self.members.contains_key(&share.group_id) {
            let rows = self.read_invited(share).await?;
            self.members.insert(share.group_id, rows);
        }
        Ok(self
            .members
            .get(&share.group_id)
            .map(|rows| {
                rows.values()
                    .map(|r| MemberRow {
                        access_level: r.access_level.min(share.group_access_level),
                        member_role: None,
                        ..r.clone()
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn read_invited(
        &self,
        share: &SharedWithGroup,
    ) -> Result<BTreeMap<u64, MemberRow>, ProviderError> {
        let full_path = match &share.group_full_path {
            Some(p) => p.clone(),
            None => {
                let group: Group = api::get(
                    self.client,
                    &api::GroupDetails {
                        group: NameOrId::Id(share.group_id),
                    },
                )
                .await
                .map_err(|e| self.unreadable(share, &share.group_id.to_string(), e))?;
                group.full_path
            }
        };
        let mut best: BTreeMap<u64, MemberRow> = BTreeMap::new();
        for path in chain(&full_path) {
            let route = Route::new(
                "/groups/:id/members",
                format!(
                    "/groups/{}/members",
                    gitlab::api::common::path_escaped(&path)
                ),
            )
            .query("per_page", api::PER_PAGE);
            let rows: Vec<MemberRow> = self
                .client
                .get_all(&route)
                .await
                .map_err(|e| self.unreadable(share, &full_path, e))?;
            for row in rows {
                match best.get(&row.id) {
                    Some(current) if !better(current, &row) => {}
                    _ => {
                        best.insert(row.id, row);
                    }
                }
            }
        }
        Ok(best)
    }

    /// A `404`/`403` on an invited group: the token cannot see who it brings in.
    fn unreadable(
        &self,
        share: &SharedWithGroup,
        path: &str,
        error: ProviderError,
    ) -> ProviderError {
        match error {
            ProviderError::NotFound { .. } | ProviderError::Forbidden { .. } => {
                ProviderError::Forbidden {
                    provider: ProviderKind::Gitlab,
                    credential: self.client.credential_reference().to_string(),
                    route: "/groups/:id/members".to_string(),
                    detail: format!(
                        "the group {path} (id {}) is invited into the group, and GitLab {} lists the members of an invited private group only to its own members (before 17.0), so they cannot be read from the group's member list either; nothing was decided",
                        share.group_id, self.version
                    ),
                    needed: format!(
                        "a user who is also a member of {path}, or an instance administrator's token (or GitLab 17.0 or later, which lists invited members to every member of the group)"
                    ),
                }
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_run_from_the_group_to_the_top() {
        assert_eq!(chain("a/b/c"), vec!["a/b/c", "a/b", "a"]);
        assert_eq!(chain("a"), vec!["a"]);
    }

    #[test]
    fn today_is_a_date() {
        let t = today();
        assert_eq!(t.len(), 10, "{t}");
        assert!(t.as_str() > "2024-01-01", "{t}");
    }
}
