//! GitLab ground truth, by brute force from a scenario's raw memberships and shares.
//!
//! Shares no code with the simulated routes (`gitlab::access`) nor with any client: for each
//! member and each in-scope project it walks every grant that could give that user access.
//!
//! Rules (ARCHITECTURE.md section 1 and the GitLab provider's documented decisions):
//! * the workspace's members are everyone with a non-expired membership in the configured group,
//!   its ancestors, or a group invited into one of them (what `members/all` lists);
//! * blocked and deactivated accounts, memberships awaiting approval, bots (unless
//!   `include_bots`) and logins matching `exclude_members` are never admitted;
//! * a project is read at `min_access_level` (default 20, Reporter) or above, where a user's
//!   level on a project is the highest of: a direct project membership; a membership of the
//!   project's group or any ancestor; a group the project or one of those groups is shared with
//!   (capped at the share's level);
//! * owners (50) of the group read everything (as orgsync's admission treats owners);
//! * a custom role with `read_code` reads code like Reporter (20) does, whatever its base level
//!   (custom roles are not carried through shares);
//! * public projects are readable by every member, internal ones by every member who is not an
//!   external user (an external user reads an internal project only at the floor, like a
//!   private one);
//! * repositories in scope: the projects of the group and all its subgroups, plus projects
//!   shared into them from outside when `include_shared_projects`, filtered by the scope.

use super::super::scenario::{
    GitlabMember, GitlabProject, GitlabScenario, GroupShare, MembershipApproval, Scenario,
    UserState,
};
use crate::SimError;
use crate::truth::ExpectedTeam;
use orgsync_core::{AdmitRule, FetchPolicy, Permission, Repository, TeamRole, Visibility};
use std::collections::{BTreeMap, BTreeSet};

/// The floor a policy asks for (0 in a default-constructed policy means the default, 20).
pub fn floor(policy: &FetchPolicy) -> u8 {
    if policy.min_access_level == 0 {
        20
    } else {
        policy.min_access_level
    }
}

fn live(world: &GitlabScenario, m: &GitlabMember) -> bool {
    !world.expired(m.expires_at.as_deref())
}

/// Groups from `id` up to the top (loops cut).
fn chain(world: &GitlabScenario, id: u64) -> Vec<u64> {
    let mut out = Vec::new();
    let mut cur = Some(id);
    while let Some(c) = cur {
        if out.contains(&c) {
            break;
        }
        let Some(g) = world.groups.iter().find(|g| g.id == c) else {
            break;
        };
        out.push(c);
        cur = g.parent;
    }
    out
}

/// The user's level through direct memberships of `group` and its ancestors; `approved_only`
/// leaves out memberships awaiting approval.
fn level_in_group_direct(world: &GitlabScenario, group: u64, user: u64, approved_only: bool) -> u8 {
    level_in_chain(world, group, user, approved_only, false)
}

/// As [`level_in_group_direct`]; `roles`: a custom role with `read_code` counts as Reporter.
fn level_in_chain(
    world: &GitlabScenario,
    group: u64,
    user: u64,
    approved_only: bool,
    roles: bool,
) -> u8 {
    let mut best = 0;
    for g in chain(world, group) {
        let Some(grp) = world.groups.iter().find(|x| x.id == g) else {
            continue;
        };
        for m in &grp.members {
            if m.user == user
                && live(world, m)
                && (!approved_only || m.state == MembershipApproval::Active)
            {
                best = best.max(if roles { code_level(m) } else { m.access_level });
            }
        }
    }
    best
}

/// A membership's level for reading code: a custom role with `read_code` reads like Reporter.
fn code_level(m: &GitlabMember) -> u8 {
    if m.member_role.as_ref().is_some_and(|r| r.read_code) {
        m.access_level.max(20)
    } else {
        m.access_level
    }
}

fn level_via_shares(
    world: &GitlabScenario,
    shares: &[GroupShare],
    user: u64,
    approved_only: bool,
) -> u8 {
    let mut best = 0;
    for s in shares {
        if world.expired(s.expires_at.as_deref()) {
            continue;
        }
        let theirs = level_in_group_direct(world, s.group, user, approved_only);
        if theirs > 0 {
            best = best.max(theirs.min(s.access_level));
        }
    }
    best
}

/// The user's effective level in a group (direct, inherited, invited).
fn level_in_group(world: &GitlabScenario, group: u64, user: u64, approved_only: bool) -> u8 {
    let mut best = level_in_chain(world, group, user, approved_only, true);
    for g in chain(world, group) {
        if let Some(grp) = world.groups.iter().find(|x| x.id == g) {
            best = best.max(level_via_shares(
                world,
                &grp.shared_with,
                user,
                approved_only,
            ));
        }
    }
    best
}

/// The user's effective level on a project (approved memberships only: awaiting ones grant
/// nothing).
pub fn project_level(world: &GitlabScenario, project: &GitlabProject, user: u64) -> u8 {
    let mut best = level_in_group(world, project.namespace, user, true);
    for m in &project.members {
        if m.user == user && live(world, m) && m.state == MembershipApproval::Active {
            best = best.max(code_level(m));
        }
    }
    best.max(level_via_shares(world, &project.shared_with, user, true))
}

/// The repository name orgsync uses: the path relative to the configured group, or the full
/// path for projects shared in from outside.
pub fn repository_name(world: &GitlabScenario, root: u64, project: &GitlabProject) -> String {
    let full = world.project_full_path(project);
    let prefix = format!("{}/", world.group_full_path(root));
    full.strip_prefix(&prefix)
        .map_or(full.clone(), str::to_string)
}

fn in_tree(world: &GitlabScenario, root: u64, group: u64) -> bool {
    chain(world, group).contains(&root)
}

/// Every repository of the workspace (in scope or not), with its core view.
pub fn repositories(
    world: &GitlabScenario,
    root: u64,
    include_shared: bool,
) -> Vec<(Repository, &GitlabProject)> {
    world
        .projects
        .iter()
        .filter(|p| {
            in_tree(world, root, p.namespace)
                || (include_shared
                    && p.shared_with.iter().any(|s| {
                        !world.expired(s.expires_at.as_deref()) && in_tree(world, root, s.group)
                    }))
        })
        .map(|p| {
            (
                Repository {
                    id: p.id.to_string(),
                    name: repository_name(world, root, p),
                    archived: p.archived,
                    fork: p.fork,
                    visibility: p.visibility,
                },
                p,
            )
        })
        .collect()
}

/// Users with any (live) membership row in the group's `members/all`, and whether one of those
/// memberships is approved.
fn workspace_members(world: &GitlabScenario, root: u64) -> BTreeMap<u64, bool> {
    let mut out = BTreeMap::new();
    for u in &world.users {
        if level_in_group(world, root, u.id, false) > 0 {
            out.insert(u.id, level_in_group(world, root, u.id, true) > 0);
        }
    }
    out
}

impl Scenario {
    fn gitlab_root(&self, group: &str) -> Result<(&GitlabScenario, u64), SimError> {
        let gitlab = self.gitlab.as_ref().ok_or(SimError::NoGitlabGroup)?;
        let root = gitlab.group_by_ref(group).ok_or(SimError::NoGitlabGroup)?;
        Ok((gitlab, root.id))
    }

    /// The user ids (as strings) a correct sync of GitLab group `group` (full path or id) admits.
    pub fn gitlab_expected_admitted(
        &self,
        group: &str,
        policy: &FetchPolicy,
    ) -> Result<BTreeSet<String>, SimError> {
        let (world, root) = self.gitlab_root(group)?;
        let floor = floor(policy);
        let repos = repositories(world, root, policy.include_shared_projects);
        let in_scope: Vec<&GitlabProject> = repos
            .iter()
            .filter(|(r, _)| policy.scope.includes(r))
            .map(|(_, p)| *p)
            .collect();
        let mut admitted = BTreeSet::new();
        for (user, approved) in workspace_members(world, root) {
            let Some(u) = world.user(user) else { continue };
            if !approved
                || u.state != UserState::Active
                || (u.bot && !policy.include_bots)
                || policy.exclude_members.matching(&u.username).is_some()
            {
                continue;
            }
            // Owners of the group read everything of the account (ARCHITECTURE.md 1), as
            // orgsync's admission treats them.
            let owner = level_in_group(world, root, user, true) >= 50;
            let admit = match policy.admit {
                AdmitRule::AllMembers => true,
                AdmitRule::AllRepositories if owner => true,
                AdmitRule::AllRepositories => in_scope.iter().all(|p| match p.visibility {
                    Visibility::Public => true,
                    Visibility::Internal if !u.external => true,
                    _ => project_level(world, p, user) >= floor,
                }),
            };
            if admit {
                admitted.insert(user.to_string());
            }
        }
        Ok(admitted)
    }

    /// The subgroups of `group` as teams, keyed by slug (path relative to `group`): direct,
    /// approved, live members who are active workspace members (maintainer from level 40), and
    /// the projects of the subgroup and everything below it, at `read`.
    pub fn gitlab_expected_teams(
        &self,
        group: &str,
    ) -> Result<BTreeMap<String, ExpectedTeam>, SimError> {
        let (world, root) = self.gitlab_root(group)?;
        let members = workspace_members(world, root);
        let root_path = world.group_full_path(root);
        let rel = |id: u64| {
            let full = world.group_full_path(id);
            full.strip_prefix(&format!("{root_path}/"))
                .map_or(full.clone(), str::to_string)
        };
        let mut out = BTreeMap::new();
        for g in &world.groups {
            if g.id == root || !in_tree(world, root, g.id) {
                continue;
            }
            let mut team_members = BTreeMap::new();
            for m in &g.members {
                let counts = live(world, m)
                    && m.state == MembershipApproval::Active
                    && members.get(&m.user).copied().unwrap_or(false)
                    && world
                        .user(m.user)
                        .is_some_and(|u| u.state == UserState::Active);
                if counts {
                    let role = if m.access_level >= 40 {
                        TeamRole::Maintainer
                    } else {
                        TeamRole::Member
                    };
                    team_members.insert(m.user.to_string(), role);
                }
            }
            let repositories = world
                .projects
                .iter()
                .filter(|p| chain(world, p.namespace).contains(&g.id))
                .map(|p| (repository_name(world, root, p), Permission::Read))
                .collect();
            out.insert(
                rel(g.id),
                ExpectedTeam {
                    id: g.id.to_string(),
                    name: g.name.clone(),
                    parent: g.parent.filter(|p| *p != root).map(rel),
                    members: team_members,
                    repositories,
                },
            );
        }
        Ok(out)
    }
}
