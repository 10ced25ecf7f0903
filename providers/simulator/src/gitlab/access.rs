//! Effective memberships the way GitLab's `members/all` endpoints resolve them: direct
//! memberships of the group or project, inherited ones from every ancestor group, and those of
//! invited groups (capped at the share's level), one row per user at the highest level.

use crate::scenario::{CustomRole, GitlabMember, GitlabScenario, GroupShare, MembershipApproval};
use std::collections::BTreeMap;

/// One effective membership row: the membership that gives the highest level, with the level
/// after any share cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The member's user id.
    pub user: u64,
    /// The effective access level (see [`crate::scenario::GitlabMember::access_level`]).
    pub access_level: u8,
    /// `YYYY-MM-DD` the membership that gives the level ends; `None` for no expiry.
    pub expires_at: Option<String>,
    /// Whether that membership is approved.
    pub state: MembershipApproval,
    /// The group or project where the membership row lives (for `created_at` style details).
    pub source: u64,
    /// The custom role of a direct or inherited membership (not carried through a share).
    pub member_role: Option<CustomRole>,
}

/// Keeps the better of two rows: an active row beats an awaiting one, then the higher level.
fn better(current: &Effective, candidate: &Effective) -> bool {
    let rank = |e: &Effective| (e.state == MembershipApproval::Active, e.access_level);
    rank(candidate) > rank(current)
}

fn offer(out: &mut BTreeMap<u64, Effective>, row: Effective) {
    match out.get(&row.user) {
        Some(current) if !better(current, &row) => {}
        _ => {
            out.insert(row.user, row);
        }
    }
}

fn direct_rows(
    world: &GitlabScenario,
    members: &[GitlabMember],
    source: u64,
    cap: Option<u8>,
) -> Vec<Effective> {
    members
        .iter()
        .filter(|m| !world.expired(m.expires_at.as_deref()))
        .map(|m| Effective {
            user: m.user,
            access_level: cap.map_or(m.access_level, |c| c.min(m.access_level)),
            expires_at: m.expires_at.clone(),
            state: m.state,
            source,
            member_role: if cap.is_none() {
                m.member_role.clone()
            } else {
                None
            },
        })
        .collect()
}

/// Members of an invited group: its own and its ancestors' direct members (not its own shares:
/// sharing is not transitive), capped at the share's level.
fn invited_rows(world: &GitlabScenario, share: &GroupShare) -> Vec<Effective> {
    if world.expired(share.expires_at.as_deref()) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for g in world.ancestors(share.group) {
        if let Some(group) = world.group(g) {
            out.extend(direct_rows(
                world,
                &group.members,
                g,
                Some(share.access_level),
            ));
        }
    }
    out
}

/// `GET /groups/:id/members/all`: one row per user, sorted by user id.
pub fn group_members_all(world: &GitlabScenario, group: u64) -> Vec<Effective> {
    group_members_all_listed(world, group, &|_| true)
}

/// `GET /groups/:id/members/all` as shown to a caller: `listed` says whether the members of an
/// invited group are shown ([`Viewer::sees_invited`]).
pub fn group_members_all_listed(
    world: &GitlabScenario,
    group: u64,
    listed: &dyn Fn(&GroupShare) -> bool,
) -> Vec<Effective> {
    let mut out = BTreeMap::new();
    for g in world.ancestors(group) {
        let Some(grp) = world.group(g) else { continue };
        for row in direct_rows(world, &grp.members, g, None) {
            offer(&mut out, row);
        }
        for share in grp.shared_with.iter().filter(|s| listed(s)) {
            for row in invited_rows(world, share) {
                offer(&mut out, row);
            }
        }
    }
    out.into_values().collect()
}

/// `GET /groups/:id/members`: direct members only.
pub fn group_members(world: &GitlabScenario, group: u64) -> Vec<Effective> {
    let mut out = BTreeMap::new();
    if let Some(grp) = world.group(group) {
        for row in direct_rows(world, &grp.members, group, None) {
            offer(&mut out, row);
        }
    }
    out.into_values().collect()
}

/// `GET /projects/:id/members/all`: direct, shared-with groups, and the namespace's effective
/// members.
pub fn project_members_all(world: &GitlabScenario, project: u64) -> Vec<Effective> {
    project_members_all_listed(world, project, &|_| true)
}

/// `GET /projects/:id/members/all` as shown to a caller (see [`group_members_all_listed`]).
pub fn project_members_all_listed(
    world: &GitlabScenario,
    project: u64,
    listed: &dyn Fn(&GroupShare) -> bool,
) -> Vec<Effective> {
    let mut out = BTreeMap::new();
    let Some(p) = world.project(project) else {
        return Vec::new();
    };
    for row in direct_rows(world, &p.members, project, None) {
        offer(&mut out, row);
    }
    for share in p.shared_with.iter().filter(|s| listed(s)) {
        for row in invited_rows(world, share) {
            offer(&mut out, row);
        }
    }
    for row in group_members_all_listed(world, p.namespace, listed) {
        offer(&mut out, row);
    }
    out.into_values().collect()
}

/// `GET /projects/:id/members`: direct members only.
pub fn project_members(world: &GitlabScenario, project: u64) -> Vec<Effective> {
    let mut out = BTreeMap::new();
    if let Some(p) = world.project(project) {
        for row in direct_rows(world, &p.members, project, None) {
            offer(&mut out, row);
        }
    }
    out.into_values().collect()
}

/// Who is calling: an administrator sees everything, a user sees public and internal things
/// and what they are a member of.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    /// The caller's user id; `None` for an administrator token that acts as no user.
    pub user: Option<u64>,
    /// Whether the caller is an instance administrator.
    pub admin: bool,
}

impl Viewer {
    fn level_in(rows: &[Effective], user: u64) -> Option<u8> {
        rows.iter()
            .find(|r| r.user == user && r.state == MembershipApproval::Active)
            .map(|r| r.access_level)
    }

    /// GitLab shows a private group to its members and to members of anything below it.
    pub fn sees_group(&self, world: &GitlabScenario, group: u64) -> bool {
        let Some(g) = world.group(group) else {
            return false;
        };
        if self.admin || g.visibility != orgsync_core::Visibility::Private {
            return true;
        }
        let Some(user) = self.user else { return false };
        std::iter::once(group)
            .chain(world.descendants(group))
            .any(|id| Self::level_in(&group_members_all(world, id), user).is_some())
    }

    /// Whether `members/all` shows this caller the members of the invited group `invited`.
    /// GitLab's members API: before 17.0 members of an invited group are returned only if the
    /// invited group is public or the requester is also a member of it (administrators see
    /// every group); 16.10 added "or the requester is a member of the shared group or project"
    /// behind a flag that 17.0 turned on, and 17.4 removed the flag.
    pub fn sees_invited(&self, world: &GitlabScenario, invited: u64) -> bool {
        if world.at_least(17, 0) || self.admin {
            return true;
        }
        let Some(g) = world.group(invited) else {
            return false;
        };
        if g.visibility == orgsync_core::Visibility::Public {
            return true;
        }
        self.user
            .is_some_and(|user| Self::level_in(&group_members_all(world, invited), user).is_some())
    }

    /// A private project is visible from Guest up (Minimal Access sees no projects).
    pub fn sees_project(&self, world: &GitlabScenario, project: u64) -> bool {
        let Some(p) = world.project(project) else {
            return false;
        };
        if self.admin || p.visibility != orgsync_core::Visibility::Private {
            return true;
        }
        let Some(user) = self.user else { return false };
        Self::level_in(&project_members_all(world, project), user).is_some_and(|l| l >= 10)
    }
}
